#!/usr/bin/env python3
"""Probe-server benchmark: backup-gate's /readyz and /livez against the Go
peer a user would otherwise deploy (Debian's prometheus-blackbox-exporter,
/-/healthy), side by side in one run on this machine. The servers run on
CPU 0 and wrk on CPU 1; every figure is the median of several runs and is
printed with the peer's figure and the ratio. Writes bench/RESULTS.md.

Usage: bench/probe_bench.py [--binary PATH] [--duration SECONDS] [--runs N]
"""

import argparse
import datetime
import json
import os
import pathlib
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port, path, limit=15.0):
    start = time.monotonic()
    while time.monotonic() - start < limit:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return time.monotonic() - start
        except OSError:
            pass
        time.sleep(0.002)
    raise RuntimeError(f"127.0.0.1:{port}{path} did not answer 200")


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def threads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def parse_wrk(text):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    lat = {}
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        lat[pct] = float(m.group(1)) * UNITS[m.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = re.search(r"Socket errors:.*", text)
    return {"rps": rps, "p50_ms": lat["50"], "p99_ms": lat["99"],
            "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": errors.group(0) if errors else ""}


def wrk(port, path, connections, duration):
    cmd = ["taskset", "-c", "1", "wrk", "--latency", "-t1", f"-c{connections}",
           f"-d{duration}s", f"http://127.0.0.1:{port}{path}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return parse_wrk(out)


def median_of(runs, key):
    return statistics.median(r[key] for r in runs)


class Server:
    def __init__(self, name, argv, port, health, cwd):
        self.name, self.port, self.health = name, port, health
        started = time.monotonic()
        self.proc = subprocess.Popen(["taskset", "-c", "0"] + argv, cwd=cwd,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_http(port, health)
        self.first_answer_ms = (time.monotonic() - started) * 1000

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=str(ROOT / "build" / "sidecar" / "backup-gate"))
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--output", default=str(ROOT / "bench" / "RESULTS.md"))
    args = parser.parse_args()
    for tool in ("wrk", "taskset", "prometheus-blackbox-exporter"):
        if shutil.which(tool) is None:
            sys.exit(f"missing {tool}: apt-get install wrk util-linux prometheus-blackbox-exporter")

    work = pathlib.Path(tempfile.mkdtemp(prefix="bgate-bench-"))
    (work / "store").mkdir()
    gate_port, peer_port = free_port(), free_port()
    (work / "gate.yaml").write_text(f"""
server: {{address: "127.0.0.1:{gate_port}"}}
backends:
  - name: local
    driver: posix
    path: {work / 'store'}
""")
    (work / "blackbox.yml").write_text("modules:\n  http_2xx:\n    prober: http\n")
    gate = Server("backup-gate", [args.binary, "--config", str(work / "gate.yaml")], gate_port, "/readyz", work)
    peer = Server("blackbox-exporter", ["prometheus-blackbox-exporter", f"--config.file={work / 'blackbox.yml'}",
                                        f"--web.listen-address=127.0.0.1:{peer_port}"], peer_port, "/-/healthy", work)
    time.sleep(2)
    idle = {s.name: (rss_kib(s.proc.pid), threads(s.proc.pid)) for s in (gate, peer)}
    cpu0 = {s.name: cpu_seconds(s.proc.pid) for s in (gate, peer)}
    time.sleep(10)
    idle_cpu = {s.name: cpu_seconds(s.proc.pid) - cpu0[s.name] for s in (gate, peer)}

    rows = []
    for label, gpath, ppath in (("/readyz", "/readyz", "/-/healthy"), ("/livez", "/livez", "/-/healthy")):
        for conns in (1, 32):
            g_runs, p_runs = [], []
            for _ in range(args.runs):
                g_runs.append(wrk(gate_port, gpath, conns, args.duration))
                p_runs.append(wrk(peer_port, ppath, conns, args.duration))
            for r in g_runs + p_runs:
                if r["non2xx"] or r["socket_errors"]:
                    sys.exit(f"bad answers during the load: {r}")
            g = {k: median_of(g_runs, k) for k in ("rps", "p50_ms", "p99_ms")}
            p = {k: median_of(p_runs, k) for k in ("rps", "p50_ms", "p99_ms")}
            rows.append((f"{label} vs /-/healthy, {conns} conn", g, p))
    loaded = {s.name: (rss_kib(s.proc.pid), threads(s.proc.pid)) for s in (gate, peer)}
    gate.stop()
    peer.stop()
    shutil.rmtree(work, ignore_errors=True)

    def ratio(a, b):
        return f"{a / b:.2f}x" if b else "n/a"

    lines = ["# Probe benchmark", "",
             f"Written by `bench/probe_bench.py` on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC.",
             f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}. Servers pinned to CPU 0, "
             f"wrk to CPU 1; medians of {args.runs} runs of {args.duration} s.",
             "Peer: Debian's prometheus-blackbox-exporter (Go) serving `/-/healthy`.", "",
             "| load | backup-gate rps | peer rps | ratio | backup-gate p50 / p99 ms | peer p50 / p99 ms | p99 ratio (peer/ours) |",
             "|---|---|---|---|---|---|---|"]
    for name, g, p in rows:
        lines.append(f"| {name} | {g['rps']:.0f} | {p['rps']:.0f} | {ratio(g['rps'], p['rps'])} | "
                     f"{g['p50_ms']:.3f} / {g['p99_ms']:.3f} | {p['p50_ms']:.3f} / {p['p99_ms']:.3f} | "
                     f"{ratio(p['p99_ms'], g['p99_ms'])} |")
    g_idle, p_idle = idle["backup-gate"], idle["blackbox-exporter"]
    g_load, p_load = loaded["backup-gate"], loaded["blackbox-exporter"]
    lines += ["", "| process | backup-gate | peer | ratio (ours/peer) |", "|---|---|---|---|",
              f"| idle RSS (MiB) | {g_idle[0] / 1024:.1f} | {p_idle[0] / 1024:.1f} | {ratio(g_idle[0], p_idle[0])} |",
              f"| RSS after the load (MiB) | {g_load[0] / 1024:.1f} | {p_load[0] / 1024:.1f} | {ratio(g_load[0], p_load[0])} |",
              f"| threads idle / after load | {g_idle[1]} / {g_load[1]} | {p_idle[1]} / {p_load[1]} | |",
              f"| idle CPU over 10 s (s) | {idle_cpu['backup-gate']:.3f} | {idle_cpu['blackbox-exporter']:.3f} | |",
              f"| start to first 200 (ms) | {gate.first_answer_ms:.1f} | {peer.first_answer_ms:.1f} | {ratio(gate.first_answer_ms, peer.first_answer_ms)} |",
              ""]
    text = "\n".join(lines)
    pathlib.Path(args.output).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
