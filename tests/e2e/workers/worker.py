#!/usr/bin/env python3
"""A stand-in for a queue-fed backup worker, for the tests of `backup-gate run`.

It writes a heartbeat file while it runs and appends one JSON line per thing
that happens to it (start, signal, exit, the pids of what it forked) to a log
file, so that a test can tell what backup-gate did to it."""

import argparse
import json
import os
import signal
import subprocess
import sys
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--log", required=True, help="JSON lines: start, signal, exit, children")
    parser.add_argument("--heartbeat", help="rewritten every 50ms while running")
    parser.add_argument("--ignore-term", action="store_true", help="log SIGTERM and keep running")
    parser.add_argument("--default-term", action="store_true",
                        help="no handler: SIGTERM kills the process")
    parser.add_argument("--term-code", type=int, default=0, help="exit code after SIGTERM/SIGINT")
    parser.add_argument("--exit-after", type=float, help="exit on its own after this many seconds")
    parser.add_argument("--exit-code", type=int, default=0, help="code for --exit-after")
    parser.add_argument("--grandchildren", action="store_true",
                        help="fork a child, an orphan and a zombie-to-be")
    parser.add_argument("--say", help="print this on stdout and stderr once started")
    args = parser.parse_args()

    def log(**entry):
        entry["pid"] = os.getpid()
        entry["time"] = time.time()
        with open(args.log, "a") as f:
            f.write(json.dumps(entry) + "\n")

    def on_signal(sig, _frame):
        log(event="signal", signal=signal.Signals(sig).name)
        if sig == signal.SIGTERM and args.ignore_term:
            return
        log(event="exit", code=args.term_code)
        os._exit(args.term_code)

    if not args.default_term:
        signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGUSR1, on_signal)
    log(event="start", ppid=os.getppid(), pgid=os.getpgid(0), sid=os.getsid(0))
    if args.say:
        print(args.say, flush=True)
        print(args.say, file=sys.stderr, flush=True)

    if args.grandchildren:
        # A child it keeps: it stays in the worker's group.
        keeper = subprocess.Popen(["sleep", "300"])
        # An orphan: its parent leaves at once, so it is reparented to
        # backup-gate (PID 1 or subreaper); it ignores SIGTERM like a careless helper.
        read_end, write_end = os.pipe()
        middle = os.fork()
        if middle == 0:
            orphan = os.fork()
            if orphan == 0:
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                os.close(read_end)
                os.close(write_end)
                time.sleep(300)
                os._exit(0)
            os.write(write_end, str(orphan).encode())
            os._exit(0)
        os.close(write_end)
        orphan = int(os.read(read_end, 32))
        os.waitpid(middle, 0)
        # A child that exits and is never waited for: a zombie until the
        # worker goes, then backup-gate's to reap.
        zombie = os.fork()
        if zombie == 0:
            os._exit(0)
        log(event="children", keeper=keeper.pid, orphan=orphan, zombie=zombie)

    started = time.monotonic()
    while True:
        if args.heartbeat:
            tmp = args.heartbeat + ".tmp"
            with open(tmp, "w") as f:
                f.write(str(time.time()))
            os.replace(tmp, args.heartbeat)
        if args.exit_after is not None and time.monotonic() - started >= args.exit_after:
            log(event="exit", code=args.exit_code)
            sys.exit(args.exit_code)
        time.sleep(0.05)


if __name__ == "__main__":
    main()
