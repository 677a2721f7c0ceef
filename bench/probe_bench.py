#!/usr/bin/env python3
"""Probe benchmark: backup-gate against the Go peer a user would otherwise run
beside a backup worker (Debian's prometheus-blackbox-exporter), side by side in
one run on this machine. Prints every figure with the peer's and the ratio as
it is measured, and writes bench/RESULTS.md (figures, peer, ratios, machine,
targets and whether each is met).

Method
  * The binary (and its object-store module) is copied into a temporary
    directory first (after `--version` succeeds on the copy), so a rebuild
    during the run cannot mix two builds.
  * Servers (backup-gate, the exporter) run under `taskset -c 0`; wrk runs
    under `taskset -c 1` with one thread and --latency, and this script itself
    (its pollers and the blackhole listener) is pinned to CPU 1 as well.
  * Each load runs --runs times (default 3) for --duration seconds (default 5).
    Where a peer applies, runs alternate between backup-gate and the peer so
    both see the same background. rps, p50 and p99 are the medians over the
    runs, each taken from wrk's report. Ratios: rps ours/peer (higher is
    better), p99 peer/ours (higher is better), memory ours/peer (lower is
    better).
  * CPU use is utime+stime of the whole process from /proc/PID/stat; RSS and
    threads come from /proc/PID/status and /proc/PID/task.
  * Background: at every phase boundary the machine's busy time (/proc/stat)
    and the benchmark's own CPU time (this script, its reaped children, its
    live descendants) are sampled; the difference is what other processes
    used. The report gives it per phase and warns when it exceeds 10% of a
    CPU, since such figures are disturbed.
  * The script exits non-zero, naming the cause, when a server does not
    answer within 15 s or dies, when an answer is not 2xx where 2xx is
    expected (or not 503 where 503 is expected), on any wrk socket error, or
    when a storage condition could not be set up as described.

Phases, in order
  1. Start: fresh processes, --starts times each: exec to the first 200 of
     backup-gate's /readyz (one posix backend initialized) and of its /livez,
     and of the exporter's /-/healthy.
  2. Idle: three long-lived servers (backup-gate with 1 posix backend, with
     50 posix backends, the exporter). After 2 s: RSS and threads; then CPU
     seconds used over --idle seconds (default 60) of idleness.
  3. Probes: /readyz and /livez of the 1-backend gate against /-/healthy, at
     1 and 32 connections.
  4. /metrics: the 1-backend and the 50-backend gate against the exporter's
     own /metrics, at 1 and 32 connections; page sizes (uncompressed: wrk
     sends no Accept-Encoding). Then RSS and threads after all the load.
  5. Hanging storage: 8 s3 backends (path style, credentials from files,
     check timeout 1s, retry 200ms..1s) whose endpoint is a blackhole
     listener in this script that accepts, drains and never answers. Before
     and after the load, /readyz?verbose must show every backend failed with
     `timeout`; /readyz must answer 503 to every request. Without the s3
     driver (-DBGATE_OBJECT_STORES=OFF) the backends are `exec` running
     `sleep 3600`, and the results say so. No peer equivalent.
  6. Busy checks: 50 posix backends with write_probe, checked every 100 ms.
     The check rate and the gate's CPU over a quiet window, then /readyz at 1
     and 32 connections with the gate's CPU during the load; every check
     must succeed and /readyz must answer 200. No peer equivalent.
  7. Detection and recovery: one posix backend, interval 1s, timeout 1s,
     thresholds at their default (1), retry 200ms..1s. --detections times:
     after a random part of an interval, rename its directory away and poll
     /readyz every 10 ms until 503; keep it away 3 s (the backoff reaches
     retry.max); rename it back and poll until 200. Bounds from the README:
     detection within interval + timeout, recovery within retry.max + timeout.

Usage: bench/probe_bench.py [--quick] [--binary PATH] [--duration S] [--runs N]
                            [--idle S] [--starts N] [--detections N] [--output FILE]
--quick (runs of 1 s, idle 5 s, one repetition) is a smoke test of the script;
it writes its report to a temporary file, not to bench/RESULTS.md.
"""

import argparse
import datetime
import http.client
import os
import pathlib
import platform
import random
import re
import resource
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
SERVER_CPU, LOAD_CPU = 0, 1
GATE, PEER = "backup-gate", "blackbox-exporter"

# Targets of the issue, and the fixed settings of the storage phases.
TARGET_RPS_RATIO_32 = 1.5
TARGET_P99_1CONN_MS = 1.0
TARGET_IDLE_RSS_RATIO = 2 / 3
TARGET_HANG_P99_MS = 2.0
HANG_BACKENDS = 8
BUSY_BACKENDS = 50
METRICS_BACKENDS = 50
DETECT_INTERVAL_S, DETECT_TIMEOUT_S = 1.0, 1.0
RETRY_INITIAL_S, RETRY_MAX_S = 0.2, 1.0
DETECT_HOLD_S = 3.0
POLL_S = 0.010
BACKGROUND_NOISY = 10.0  # other processes' CPU use (% of one CPU) above which the report warns


class BenchError(Exception):
    pass


def log(msg=""):
    print(msg, flush=True)


# ---------------------------------------------------------------- helpers

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port, path, timeout=3.0):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def expect_status(port, path, status=200):
    got, body = http_get(port, path)
    if got != status:
        raise BenchError(f"GET 127.0.0.1:{port}{path} answered {got}, expected {status}: {body[:300]!r}")
    return body


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise BenchError(f"no VmRSS for pid {pid}")


def threads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def median(values):
    return statistics.median(values)


def ratio(a, b):
    return f"{a / b:.2f}x" if b else "n/a"


def yesno(ok):
    return "met" if ok else "NOT met"


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def parse_wrk(text):
    def need(pattern, flags=0):
        m = re.search(pattern, text, flags)
        if not m:
            raise BenchError(f"cannot read wrk output ({pattern}):\n{text}")
        return m
    out = {"rps": float(need(r"Requests/sec:\s+([\d.]+)").group(1)),
           "requests": int(need(r"(\d+) requests in").group(1))}
    for pct in ("50", "99"):
        m = need(rf"^\s+{pct}(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", re.M)
        out[f"p{pct}_ms"] = float(m.group(1)) * UNITS[m.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = re.search(r"Socket errors:.*", text)
    out["non2xx"] = int(non2xx.group(1)) if non2xx else 0
    out["socket_errors"] = errors.group(0) if errors else ""
    return out


def wrk(port, path, connections, duration, expect=200):
    cmd = ["taskset", "-c", str(LOAD_CPU), "wrk", "--latency", "-t1", f"-c{connections}",
           f"-d{duration}s", f"http://127.0.0.1:{port}{path}"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
    r = parse_wrk(proc.stdout)
    where = f"{path} on port {port}, {connections} conn"
    if r["socket_errors"]:
        raise BenchError(f"{where}: {r['socket_errors']}")
    if r["requests"] == 0:
        raise BenchError(f"{where}: no request completed")
    if expect == 200 and r["non2xx"]:
        raise BenchError(f"{where}: {r['non2xx']} of {r['requests']} answers were not 2xx")
    if expect == 503 and r["non2xx"] != r["requests"]:
        raise BenchError(f"{where}: {r['requests'] - r['non2xx']} of {r['requests']} answers were 2xx, "
                         "expected 503 to all")
    return r


def summarize(runs):
    return {k: median(r[k] for r in runs) for k in ("rps", "p50_ms", "p99_ms")}


def fmt_load(r):
    return f"{r['rps']:.0f} rps, p50 {r['p50_ms']:.3f} ms, p99 {r['p99_ms']:.3f} ms"


# ---------------------------------------------------------------- servers

class Server:
    """A server pinned to SERVER_CPU, with its stderr in a log file."""

    def __init__(self, registry, name, argv, port, health, logdir):
        self.name, self.port, self.health = name, port, health
        self.log_path = pathlib.Path(logdir) / f"{name}-{port}.log"
        self._log = open(self.log_path, "wb")
        started = time.monotonic()
        self.proc = subprocess.Popen(["taskset", "-c", str(SERVER_CPU)] + argv, cwd=logdir,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        registry.append(self)
        self.first_answer_ms = self._wait(started) * 1000

    def _wait(self, started, limit=15.0):
        while time.monotonic() - started < limit:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.proc.returncode} before answering:\n{self.tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(f"GET {self.health} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
                    if s.recv(64).startswith(b"HTTP/1.1 200"):
                        return time.monotonic() - started
            except OSError:
                pass
            time.sleep(0.002)
        raise BenchError(f"{self.name}: 127.0.0.1:{self.port}{self.health} did not answer 200 "
                         f"within {limit:.0f} s:\n{self.tail()}")

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        if self.proc.poll() is not None:
            raise BenchError(f"{self.name} died with {self.proc.returncode}:\n{self.tail()}")

    def tail(self, n=20):
        self._log.flush()
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


class Blackhole:
    """A TCP listener that accepts connections, drains them, never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.bytes = 0
        self._stop = threading.Event()
        self._sel = selectors.DefaultSelector()
        self._sel.register(self.sock, selectors.EVENT_READ)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            for key, _ in self._sel.select(timeout=0.2):
                s = key.fileobj
                if s is self.sock:
                    try:
                        conn, _ = self.sock.accept()
                    except OSError:
                        continue
                    conn.setblocking(False)
                    self._sel.register(conn, selectors.EVENT_READ)
                    self.accepted += 1
                    continue
                try:
                    data = s.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if data:
                    self.bytes += len(data)
                else:
                    self._sel.unregister(s)
                    s.close()

    def close(self):
        self._stop.set()
        self._thread.join(5)
        for key in list(self._sel.get_map().values()):
            key.fileobj.close()
        self._sel.close()


def snapshot_binary(src, dest, wait=120.0):
    """Copies the binary once it exists and runs (it may be being rebuilt),
    with its object-store module: the binary finds the module at
    $ORIGIN/../lib/backup-gate, so DEST is DIR/bin/backup-gate."""
    deadline = time.monotonic() + wait
    module_dir = pathlib.Path(src).resolve().parent.parent / "lib" / "backup-gate"
    while True:
        try:
            pathlib.Path(dest).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)
            if module_dir.is_dir():
                shutil.copytree(module_dir, pathlib.Path(dest).parent.parent / "lib" / "backup-gate",
                                dirs_exist_ok=True)
            out = subprocess.run([str(dest), "--version"], capture_output=True, text=True, timeout=10)
            if out.returncode == 0:
                return out.stdout.strip()
            problem = f"--version exited {out.returncode}"
        except (OSError, subprocess.SubprocessError) as e:
            problem = str(e)
        if time.monotonic() > deadline:
            raise BenchError(f"no usable binary at {src}: {problem}")
        log(f"  waiting for {src} ({problem})")
        time.sleep(2)


def all_cpus_busy_s():
    """CPU seconds all processes of the machine have used since boot."""
    v = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def descendants(pid):
    out, todo = [], [pid]
    while todo:
        for c in children(todo.pop()):
            out.append(c)
            todo.append(c)
    return out


def our_cpu_s():
    """CPU seconds of this script, its reaped children and its live descendants."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        r = resource.getrusage(who)
        total += r.ru_utime + r.ru_stime
    for pid in descendants(os.getpid()):
        try:
            total += cpu_seconds(pid)
        except OSError:
            pass
    return total


def tool_version(argv):
    out = subprocess.run(argv, capture_output=True, text=True)
    text = (out.stdout + out.stderr).strip().splitlines()
    return text[0].strip() if text else "?"


def machine():
    model = "?"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem = 0
    for line in open("/proc/meminfo"):
        if line.startswith("MemTotal:"):
            mem = int(line.split()[1]) / 1024 / 1024
    distro = "?"
    try:
        for line in open("/etc/os-release"):
            if line.startswith("PRETTY_NAME="):
                distro = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return (f"{model}, {os.cpu_count()} CPUs, {mem:.1f} GiB RAM, {platform.machine()}, "
            f"Linux {platform.release()}, {distro}")


# ---------------------------------------------------------------- configs

def gate_config(port, backends, check=None):
    lines = [f'server: {{address: "127.0.0.1:{port}", drain_delay: 0s}}']
    if check:
        lines.append(f"check: {{{check}}}")
    lines.append("backends:")
    lines += backends
    return "\n".join(lines) + "\n"


def posix_backends(work, tag, count, write_probe=False):
    out = []
    for i in range(count):
        d = work / f"{tag}-store-{i}"
        d.mkdir()
        probe = ", write_probe: true" if write_probe else ""
        out.append(f"  - {{name: {tag}-{i}, driver: posix, path: \"{d}\"{probe}}}")
    return out


def metric_sum(page, name, result_filter):
    total = 0.0
    for line in page.decode().splitlines():
        if line.startswith(name + "{"):
            labels, value = line.rsplit(" ", 1)
            if result_filter(labels):
                total += float(value)
    return total


def children(pid):
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return None


def verbose_lines(port):
    status, body = http_get(port, "/readyz?verbose")
    return status, [l for l in body.decode().splitlines() if l.startswith("[")]


# ---------------------------------------------------------------- phases

class Bench:
    def __init__(self, args):
        self.args = args
        self.servers = []
        self.work = pathlib.Path(tempfile.mkdtemp(prefix="bgate-bench-"))
        self.r = {}
        self.others = []

    def gate(self, name, config_text, health="/readyz"):
        port = int(re.search(r"127\.0\.0\.1:(\d+)", config_text).group(1))
        cfg = self.work / f"{name}-{port}.yaml"
        cfg.write_text(config_text)
        return Server(self.servers, name, [str(self.binary), "--config", str(cfg)], port, health, self.work)

    def peer(self, name=PEER):
        port = free_port()
        cfg = self.work / "blackbox.yml"
        if not cfg.exists():
            cfg.write_text("modules:\n  http_2xx:\n    prober: http\n")
        return Server(self.servers, name, ["prometheus-blackbox-exporter", f"--config.file={cfg}",
                                           f"--web.listen-address=127.0.0.1:{port}"],
                      port, "/-/healthy", self.work)

    def stop(self, *servers):
        for s in servers:
            s.stop()
            if s in self.servers:
                self.servers.remove(s)

    def pair(self, label, gate, gpath, peer, ppath, conns):
        """Alternating runs against backup-gate and the peer; medians."""
        g_runs, p_runs = [], []
        for _ in range(self.args.runs):
            g_runs.append(wrk(gate.port, gpath, conns, self.args.duration))
            p_runs.append(wrk(peer.port, ppath, conns, self.args.duration))
        gate.alive()
        peer.alive()
        g, p = summarize(g_runs), summarize(p_runs)
        log(f"  {label}: {GATE} {fmt_load(g)} | peer {fmt_load(p)} | "
            f"rps {ratio(g['rps'], p['rps'])}, p99 peer/ours {ratio(p['p99_ms'], g['p99_ms'])}")
        return g, p

    # 1
    def phase_start(self):
        log(f"[start] {self.args.starts} fresh start(s) of each")
        times = {"readyz": [], "livez": [], "peer": []}
        for i in range(self.args.starts):
            for key, health in (("readyz", "/readyz"), ("livez", "/livez")):
                store = self.work / f"start-{key}-{i}"
                store.mkdir()
                port = free_port()
                g = self.gate(f"start-{key}", gate_config(port, [f"  - {{name: local, driver: posix, path: \"{store}\"}}"]),
                              health)
                times[key].append(g.first_answer_ms)
                self.stop(g)
            p = self.peer("start-peer")
            times["peer"].append(p.first_answer_ms)
            self.stop(p)
        self.r["start"] = {k: median(v) for k, v in times.items()}
        s = self.r["start"]
        log(f"  exec to first /readyz 200: {s['readyz']:.1f} ms | to first /livez 200: {s['livez']:.1f} ms | "
            f"peer to first /-/healthy 200: {s['peer']:.1f} ms | ratio (ours/peer) "
            f"{ratio(s['readyz'], s['peer'])}, {ratio(s['livez'], s['peer'])}")

    # 2
    def phase_idle(self):
        p1, p50 = free_port(), free_port()
        self.g1 = self.gate("gate-1", gate_config(p1, posix_backends(self.work, "one", 1)))
        self.g50 = self.gate("gate-50", gate_config(p50, posix_backends(self.work, "fifty", METRICS_BACKENDS)))
        self.pr = self.peer()
        procs = {"g1": self.g1, "g50": self.g50, "peer": self.pr}
        time.sleep(2)
        self.r["idle_rss"] = {k: rss_kib(s.pid) for k, s in procs.items()}
        self.r["idle_threads"] = {k: threads(s.pid) for k, s in procs.items()}
        log(f"[idle] CPU over {self.args.idle} s")
        cpu0 = {k: cpu_seconds(s.pid) for k, s in procs.items()}
        time.sleep(self.args.idle)
        self.r["idle_cpu"] = {k: cpu_seconds(s.pid) - cpu0[k] for k, s in procs.items()}
        for s in procs.values():
            s.alive()
        rss, cpu = self.r["idle_rss"], self.r["idle_cpu"]
        log(f"  idle RSS: {GATE} {rss['g1'] / 1024:.1f} MiB (50 backends: {rss['g50'] / 1024:.1f}) | "
            f"peer {rss['peer'] / 1024:.1f} MiB | ratio {ratio(rss['g1'], rss['peer'])}")
        log(f"  idle CPU: {GATE} {cpu['g1']:.3f} s (50 backends: {cpu['g50']:.3f}) | peer {cpu['peer']:.3f} s | "
            f"ratio {ratio(cpu['g1'], cpu['peer'])}")

    # 3
    def phase_probes(self):
        log("[probes] vs the exporter's /-/healthy")
        for path in ("/readyz", "/livez"):
            expect_status(self.g1.port, path)
        expect_status(self.pr.port, "/-/healthy")
        rows = []
        for path in ("/readyz", "/livez"):
            for conns in (1, 32):
                g, p = self.pair(f"{path} {conns} conn", self.g1, path, self.pr, "/-/healthy", conns)
                rows.append((path, conns, g, p))
        self.r["probes"] = rows

    # 4
    def phase_metrics(self):
        log("[metrics] vs the exporter's /metrics")
        self.r["page"] = {"g1": len(expect_status(self.g1.port, "/metrics")),
                          "g50": len(expect_status(self.g50.port, "/metrics")),
                          "peer": len(expect_status(self.pr.port, "/metrics"))}
        pg = self.r["page"]
        log(f"  page sizes: {GATE} 1 backend {pg['g1']} B, {METRICS_BACKENDS} backends {pg['g50']} B | "
            f"peer {pg['peer']} B")
        rows = []
        for conns in (1, 32):
            runs = {"g1": [], "g50": [], "peer": []}
            for _ in range(self.args.runs):
                runs["g1"].append(wrk(self.g1.port, "/metrics", conns, self.args.duration))
                runs["g50"].append(wrk(self.g50.port, "/metrics", conns, self.args.duration))
                runs["peer"].append(wrk(self.pr.port, "/metrics", conns, self.args.duration))
            med = {k: summarize(v) for k, v in runs.items()}
            for key, label in (("g1", "1 backend"), ("g50", f"{METRICS_BACKENDS} backends")):
                g, p = med[key], med["peer"]
                log(f"  /metrics {label}, {conns} conn: {GATE} {fmt_load(g)} | peer {fmt_load(p)} | "
                    f"rps {ratio(g['rps'], p['rps'])}, p99 peer/ours {ratio(p['p99_ms'], g['p99_ms'])}")
                rows.append((label, conns, g, p))
        for s in (self.g1, self.g50, self.pr):
            s.alive()
        self.r["metrics"] = rows
        procs = {"g1": self.g1, "g50": self.g50, "peer": self.pr}
        self.r["load_rss"] = {k: rss_kib(s.pid) for k, s in procs.items()}
        self.r["load_threads"] = {k: threads(s.pid) for k, s in procs.items()}
        rss = self.r["load_rss"]
        log(f"  RSS after the load: {GATE} {rss['g1'] / 1024:.1f} MiB (50 backends: {rss['g50'] / 1024:.1f}) | "
            f"peer {rss['peer'] / 1024:.1f} MiB | ratio {ratio(rss['g1'], rss['peer'])}")
        self.stop(self.g1, self.g50, self.pr)

    def has_s3(self):
        probe = self.work / "s3-probe.yaml"
        probe.write_text(gate_config(free_port(), [
            "  - {name: s3, driver: s3, endpoint: \"http://127.0.0.1:9\", bucket: bench-bucket, path_style: true}"]))
        out = subprocess.run([str(self.binary), "validate", "--config", str(probe)], capture_output=True, text=True)
        if out.returncode == 0:
            return True
        if 'unknown driver "s3"' in out.stderr + out.stdout:
            return False
        raise BenchError(f"validate of an s3 config failed unexpectedly:\n{out.stderr}")

    def confirm_all_timeout(self, gate, count, limit=15.0):
        deadline = time.monotonic() + limit
        while True:
            status, lines = verbose_lines(gate.port)
            bad = [l for l in lines if not re.match(r"\[-\]\S+ failed: timeout\b", l)]
            if status == 503 and len(lines) == count and not bad:
                return lines
            if time.monotonic() > deadline:
                raise BenchError(f"the hanging backends do not all fail with timeout (/readyz {status}):\n"
                                 + "\n".join(lines))
            time.sleep(0.1)

    # 5
    def phase_hang(self):
        s3 = self.has_s3()
        check = "timeout: 1s, retry: {initial: 200ms, max: 1s}"
        hole = None
        if s3:
            hole = Blackhole()
            (self.work / "access_key_id").write_text("AKIDBENCHEXAMPLE\n")
            (self.work / "secret_access_key").write_text("bench-secret-not-real\n")
            backends = [f"  - {{name: hang-{i}, driver: s3, endpoint: \"http://127.0.0.1:{hole.port}\", "
                        f"bucket: bench-bucket-{i}, path_style: true, "
                        f"access_key_id_file: \"{self.work / 'access_key_id'}\", "
                        f"secret_access_key_file: \"{self.work / 'secret_access_key'}\"}}"
                        for i in range(HANG_BACKENDS)]
            what = (f"{HANG_BACKENDS} s3 backends on a blackhole listener (accepts, never answers), "
                    "check timeout 1s, retry 200ms..1s")
        else:
            sleep = shutil.which("sleep") or "/bin/sleep"
            backends = [f"  - {{name: hang-{i}, driver: exec, command: [\"{sleep}\", \"3600\"]}}"
                        for i in range(HANG_BACKENDS)]
            what = (f"{HANG_BACKENDS} exec backends running `sleep 3600` (this binary has no s3 driver: "
                    "built with -DBGATE_OBJECT_STORES=OFF), check timeout 1s, retry 200ms..1s")
        log(f"[hang] {what}")
        port = free_port()
        g = self.gate("gate-hang", gate_config(port, backends, check), health="/livez")
        leftovers = []
        try:
            self.confirm_all_timeout(g, HANG_BACKENDS)
            log(f"  confirmed: all {HANG_BACKENDS} backends failed: timeout")
            # With s3 backends the object-store module and its libraries are
            # loaded and the HTTP client's pool runs: what such a gate costs.
            hang_rss = rss_kib(g.pid)
            log(f"  RSS with these backends: {hang_rss / 1024:.1f} MiB")
            rows = []
            for conns in (1, 32):
                runs = [wrk(port, "/readyz", conns, self.args.duration, expect=503) for _ in range(self.args.runs)]
                rows.append((conns, summarize(runs)))
                log(f"  /readyz (503) {conns} conn: {fmt_load(rows[-1][1])}")
            self.confirm_all_timeout(g, HANG_BACKENDS, limit=5)
            g.alive()
        finally:
            in_flight = {c: cmdline(c) for c in children(g.pid)} if not s3 else {}
            self.stop(g)
            # Check commands still running when the gate exits are ours to end.
            for pid, cmd in in_flight.items():
                if cmd and cmd == cmdline(pid) and "sleep 3600" in cmd:
                    os.kill(pid, 9)
                    leftovers.append(pid)
            if leftovers:
                log(f"  {len(leftovers)} exec check command(s) outlived the gate's exit; ended by the bench")
            if hole:
                log(f"  blackhole accepted {hole.accepted} connections, drained {hole.bytes} bytes")
                hole.close()
        self.r["hang"] = {"what": what, "s3": s3, "rows": rows, "leftovers": len(leftovers),
                          "rss": hang_rss,
                          "accepted": hole.accepted if hole else None}

    # 6
    def phase_busy(self):
        log(f"[busy] {BUSY_BACKENDS} posix backends, write_probe, checked every 100 ms")
        port = free_port()
        g = self.gate("gate-busy", gate_config(port, posix_backends(self.work, "busy", BUSY_BACKENDS, True),
                                               "interval: 100ms, timeout: 1s"))

        def counts():
            page = expect_status(port, "/metrics")
            ok = metric_sum(page, "backup_gate_backend_checks_total", lambda l: 'result="success"' in l)
            bad = metric_sum(page, "backup_gate_backend_checks_total", lambda l: 'result="success"' not in l)
            return ok, bad

        try:
            window = max(2.0, 2.0 * self.args.duration)
            time.sleep(1.2)  # /metrics is refreshed at least every second
            ok0, _ = counts()
            c0, t0 = cpu_seconds(g.pid), time.monotonic()
            time.sleep(window)
            c1, t1 = cpu_seconds(g.pid), time.monotonic()
            time.sleep(1.2)
            ok1, _ = counts()
            quiet = {"cpu_pct": 100 * (c1 - c0) / (t1 - t0), "checks_per_s": (ok1 - ok0) / (t1 - t0 + 1.2)}
            log(f"  quiet {window:.0f} s: {quiet['checks_per_s']:.0f} checks/s, gate CPU {quiet['cpu_pct']:.1f}% of a core")
            rows = []
            for conns in (1, 32):
                c0, t0 = cpu_seconds(g.pid), time.monotonic()
                runs = [wrk(port, "/readyz", conns, self.args.duration) for _ in range(self.args.runs)]
                cpu_pct = 100 * (cpu_seconds(g.pid) - c0) / (time.monotonic() - t0)
                rows.append((conns, summarize(runs), cpu_pct))
                log(f"  /readyz {conns} conn: {fmt_load(rows[-1][1])}, gate CPU {cpu_pct:.0f}% of a core")
            time.sleep(1.2)
            _, bad = counts()
            if bad:
                raise BenchError(f"{bad:.0f} checks failed while checking every 100 ms:\n{g.tail()}")
            g.alive()
        finally:
            self.stop(g)
        self.r["busy"] = {"quiet": quiet, "window": window, "rows": rows}

    # 7
    def phase_detect(self):
        bound_detect = DETECT_INTERVAL_S + DETECT_TIMEOUT_S
        bound_recover = RETRY_MAX_S + DETECT_TIMEOUT_S
        log(f"[detect] {self.args.detections} time(s): interval 1s, timeout 1s, retry 200ms..1s, thresholds 1")
        store = self.work / "detect-store"
        away = self.work / "detect-store.away"
        store.mkdir()
        port = free_port()
        g = self.gate("gate-detect", gate_config(port, [f"  - {{name: watched, driver: posix, path: \"{store}\"}}"],
                                                 "interval: 1s, timeout: 1s, retry: {initial: 200ms, max: 1s}"))
        conn = [None]

        def status():
            for _ in range(2):
                try:
                    if conn[0] is None:
                        conn[0] = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
                    conn[0].request("GET", "/readyz")
                    resp = conn[0].getresponse()
                    resp.read()
                    return resp.status
                except (OSError, http.client.HTTPException):
                    if conn[0]:
                        conn[0].close()
                    conn[0] = None
            raise BenchError(f"gate-detect stopped answering:\n{g.tail()}")

        def until(want, limit):
            start = time.monotonic()
            while True:
                got = status()
                now = time.monotonic()
                if got == want:
                    return now - start
                if got not in (200, 503):
                    raise BenchError(f"/readyz answered {got}")
                if now - start > limit:
                    raise BenchError(f"/readyz still not {want} after {limit:.0f} s:\n{g.tail()}")
                time.sleep(POLL_S)

        detect, recover = [], []
        try:
            rng = random.Random()
            for _ in range(self.args.detections):
                until(200, 10)
                time.sleep(rng.uniform(0, DETECT_INTERVAL_S))
                os.rename(store, away)
                detect.append(until(503, 10 * bound_detect))
                time.sleep(DETECT_HOLD_S)
                os.rename(away, store)
                recover.append(until(200, 10 * bound_recover))
                log(f"  detected in {detect[-1] * 1000:.0f} ms, recovered in {recover[-1] * 1000:.0f} ms")
            g.alive()
        finally:
            if conn[0]:
                conn[0].close()
            self.stop(g)
        self.r["detect"] = {"detect": detect, "recover": recover,
                            "bound_detect": bound_detect, "bound_recover": bound_recover}
        log(f"  detection median {median(detect) * 1000:.0f} ms, max {max(detect) * 1000:.0f} ms "
            f"(bound {bound_detect * 1000:.0f} ms: {yesno(max(detect) <= bound_detect)}); "
            f"recovery median {median(recover) * 1000:.0f} ms, max {max(recover) * 1000:.0f} ms "
            f"(bound {bound_recover * 1000:.0f} ms: {yesno(max(recover) <= bound_recover)})")

    def run(self):
        a = self.args
        self.started = time.monotonic()
        self.load_before = os.getloadavg()
        self.marks = []
        self.binary = self.work / "bin" / "backup-gate"
        self.version = snapshot_binary(a.binary, self.binary)
        self.peer_version = tool_version(["prometheus-blackbox-exporter", "--version"])
        self.wrk_version = tool_version(["wrk", "--version"])
        log(f"{self.version} vs {self.peer_version}; work dir {self.work}")
        for name, phase in (("start", self.phase_start), ("idle", self.phase_idle),
                            ("probes", self.phase_probes), ("metrics", self.phase_metrics),
                            ("hang", self.phase_hang), ("busy", self.phase_busy),
                            ("detect", self.phase_detect)):
            self.mark(name)
            phase()
        self.mark(None)
        self.load_after = os.getloadavg()
        self.elapsed = time.monotonic() - self.started

    def mark(self, name):
        """Phase boundary; logs what other processes used in the phase that ended."""
        now = (time.monotonic(), all_cpus_busy_s(), our_cpu_s())
        if self.marks:
            prev, t0, all0, ours0 = self.marks[-1]
            pct = 100.0 * max(0.0, (now[1] - all0) - (now[2] - ours0)) / max(1e-9, now[0] - t0)
            self.others.append((prev, pct))
            log(f"  (other processes used {pct:.0f}% of a CPU during this phase)")
        self.marks.append((name,) + now)

    def cleanup(self, keep):
        for s in list(self.servers):
            s.stop()
        self.servers.clear()
        if keep:
            print(f"probe_bench: logs and configs kept in {self.work}", file=sys.stderr)
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    # ------------------------------------------------------------ report

    def report(self):
        a, r = self.args, self.r
        now = datetime.datetime.now(datetime.timezone.utc)
        noisy = max(pct for _, pct in self.others) > BACKGROUND_NOISY
        L = ["# Probe benchmark", "",
             f"Written by `python3 bench/probe_bench.py{' --quick' if a.quick else ''}` on "
             f"{now:%Y-%m-%d %H:%M} UTC; the run took {self.elapsed / 60:.1f} min. "
             "Method: the script's docstring.", "",
             f"- Binary: {self.version}.",
             f"- Peer: {self.peer_version} (Debian's Go prometheus-blackbox-exporter), "
             "serving `/-/healthy` and its own `/metrics`.",
             f"- Machine: {machine()}.",
             "- Other processes' CPU use (all CPUs' busy time from /proc/stat minus the benchmark's own), "
             "average per phase in % of one CPU: "
             + ", ".join(f"{name} {pct:.0f}%" for name, pct in self.others) + "; "
             f"load average (1 min) {self.load_before[0]:.2f} at the start, {self.load_after[0]:.2f} at the end."
             + (" **The machine was busy with other work: latency tails and throughput are disturbed; "
                "re-run on a quiet machine before relying on them.**" if noisy else ""),
             f"- Servers pinned to CPU {SERVER_CPU}; {self.wrk_version.split(' Copyright')[0]} "
             f"(`-t1 --latency`) and the script to CPU {LOAD_CPU}. "
             f"Medians of {a.runs} run(s) of {a.duration} s; start times: medians of {a.starts} start(s); "
             f"idle window {a.idle} s.",
             "- Ratios: rps ours/peer and p99 peer/ours (higher is better for us); "
             "memory, CPU and start time ours/peer (lower is better for us).", ""]

        L += ["## Probes (storage healthy, 1 posix backend)", "",
              "| load | backup-gate rps | peer rps | rps ratio | backup-gate p50 / p99 ms | peer p50 / p99 ms | p99 ratio |",
              "|---|---|---|---|---|---|---|"]
        for path, conns, g, p in r["probes"]:
            L.append(f"| {path} vs /-/healthy, {conns} conn | {g['rps']:.0f} | {p['rps']:.0f} | "
                     f"{ratio(g['rps'], p['rps'])} | {g['p50_ms']:.3f} / {g['p99_ms']:.3f} | "
                     f"{p['p50_ms']:.3f} / {p['p99_ms']:.3f} | {ratio(p['p99_ms'], g['p99_ms'])} |")

        pg = r["page"]
        L += ["", "## /metrics vs the exporter's own /metrics", "",
              f"Page sizes (uncompressed): backup-gate {pg['g1']} B with 1 backend, {pg['g50']} B with "
              f"{METRICS_BACKENDS} backends; peer {pg['peer']} B. Both rows of a connection count compare "
              "with the same peer runs.", "",
              "| load | backup-gate rps | peer rps | rps ratio | backup-gate p50 / p99 ms | peer p50 / p99 ms | p99 ratio |",
              "|---|---|---|---|---|---|---|"]
        for label, conns, g, p in r["metrics"]:
            L.append(f"| /metrics, {label}, {conns} conn | {g['rps']:.0f} | {p['rps']:.0f} | "
                     f"{ratio(g['rps'], p['rps'])} | {g['p50_ms']:.3f} / {g['p99_ms']:.3f} | "
                     f"{p['p50_ms']:.3f} / {p['p99_ms']:.3f} | {ratio(p['p99_ms'], g['p99_ms'])} |")

        ir, lr, it, lt, ic, st = (r["idle_rss"], r["load_rss"], r["idle_threads"], r["load_threads"],
                                  r["idle_cpu"], r["start"])
        L += ["", "## Process", "",
              f"| | backup-gate, 1 backend | backup-gate, {METRICS_BACKENDS} backends | peer | ratio (1 backend/peer) |",
              "|---|---|---|---|---|",
              f"| idle RSS (MiB) | {ir['g1'] / 1024:.1f} | {ir['g50'] / 1024:.1f} | {ir['peer'] / 1024:.1f} | "
              f"{ratio(ir['g1'], ir['peer'])} |",
              f"| RSS after all the probe and /metrics load (MiB) | {lr['g1'] / 1024:.1f} | {lr['g50'] / 1024:.1f} | "
              f"{lr['peer'] / 1024:.1f} | {ratio(lr['g1'], lr['peer'])} |",
              f"| threads idle / after load | {it['g1']} / {lt['g1']} | {it['g50']} / {lt['g50']} | "
              f"{it['peer']} / {lt['peer']} | |",
              f"| idle CPU over {a.idle} s (s) | {ic['g1']:.3f} | {ic['g50']:.3f} | {ic['peer']:.3f} | "
              f"{ratio(ic['g1'], ic['peer'])} |",
              f"| exec to first /readyz 200 (ms) | {st['readyz']:.1f} | | {st['peer']:.1f} (/-/healthy) | "
              f"{ratio(st['readyz'], st['peer'])} |",
              f"| exec to first /livez 200 (ms) | {st['livez']:.1f} | | {st['peer']:.1f} (/-/healthy) | "
              f"{ratio(st['livez'], st['peer'])} |"]

        quiet = {conns: g for path, conns, g, _ in r["probes"] if path == "/readyz"}
        h, b = r["hang"], r["busy"]
        L += ["", "## /readyz while storage misbehaves (backup-gate only: the peer has no storage checks)", "",
              f"- Hanging: {h['what']}. `/readyz?verbose` showed every backend `failed: timeout` before and "
              "after the load; every answer was 503."
              + (f" The blackhole accepted {h['accepted']} connections." if h["accepted"] is not None else "")
              + f" RSS of this gate{' (object-store module loaded)' if h['s3'] else ''}: "
              f"{h['rss'] / 1024:.1f} MiB, against {r['idle_rss']['peer'] / 1024:.1f} MiB for the idle peer "
              f"({ratio(h['rss'], r['idle_rss']['peer'])})."
              + (f" {h['leftovers']} `sleep 3600` check command(s) were still running after backup-gate exited "
                 "(the bench ended them)." if h["leftovers"] else ""),
              f"- Busy: {BUSY_BACKENDS} posix backends with `write_probe: true`, `interval: 100ms`; "
              f"{b['quiet']['checks_per_s']:.0f} checks/s and {b['quiet']['cpu_pct']:.1f}% of a core "
              f"without load (over {b['window']:.0f} s); no check failed; every answer was 200.", "",
              "| condition | conn | rps | p50 / p99 ms | p99 healthy (same run) | gate CPU during the load |",
              "|---|---|---|---|---|---|"]
        for conns, g in h["rows"]:
            L.append(f"| every backend hanging | {conns} | {g['rps']:.0f} | {g['p50_ms']:.3f} / {g['p99_ms']:.3f} | "
                     f"{quiet[conns]['p99_ms']:.3f} | |")
        for conns, g, cpu in b["rows"]:
            L.append(f"| {BUSY_BACKENDS} backends checked every 100 ms | {conns} | {g['rps']:.0f} | "
                     f"{g['p50_ms']:.3f} / {g['p99_ms']:.3f} | {quiet[conns]['p99_ms']:.3f} | {cpu:.0f}% of a core |")

        d = r["detect"]
        ok_d = max(d["detect"]) <= d["bound_detect"]
        ok_r = max(d["recover"]) <= d["bound_recover"]
        L += ["", "## Detection and recovery", "",
              f"One posix backend, `interval: 1s`, `timeout: 1s`, `retry: {{initial: 200ms, max: 1s}}`, "
              f"failure and success thresholds at their default (1); its directory renamed away and back "
              f"{len(d['detect'])} time(s), /readyz polled every {POLL_S * 1000:.0f} ms, the directory kept away "
              f"{DETECT_HOLD_S:.0f} s each time so the backoff reaches `retry.max`.", "",
              "| | median (ms) | max (ms) | bound (ms) | bound met |", "|---|---|---|---|---|",
              f"| storage lost -> /readyz 503 | {median(d['detect']) * 1000:.0f} | {max(d['detect']) * 1000:.0f} | "
              f"{d['bound_detect'] * 1000:.0f} (interval + timeout) | {'yes' if ok_d else 'NO'} |",
              f"| storage back -> /readyz 200 | {median(d['recover']) * 1000:.0f} | {max(d['recover']) * 1000:.0f} | "
              f"{d['bound_recover'] * 1000:.0f} (retry.max + timeout) | {'yes' if ok_r else 'NO'} |"]

        probe = {(path, conns): (g, p) for path, conns, g, p in r["probes"]}
        g32, p32 = probe[("/readyz", 32)]
        g1 = probe[("/readyz", 1)][0]
        hang_p99 = max(g["p99_ms"] for _, g in h["rows"])
        targets = [
            (f"/readyz rps at 32 connections >= {TARGET_RPS_RATIO_32}x the peer's",
             f"{ratio(g32['rps'], p32['rps'])} ({g32['rps']:.0f} vs {p32['rps']:.0f})",
             g32["rps"] >= TARGET_RPS_RATIO_32 * p32["rps"]),
            (f"/readyz p99 < {TARGET_P99_1CONN_MS:g} ms at 1 connection", f"{g1['p99_ms']:.3f} ms",
             g1["p99_ms"] < TARGET_P99_1CONN_MS),
            ("idle RSS <= 2/3 of the peer's",
             f"{ratio(ir['g1'], ir['peer'])} ({ir['g1'] / 1024:.1f} vs {ir['peer'] / 1024:.1f} MiB)",
             ir["g1"] <= TARGET_IDLE_RSS_RATIO * ir["peer"]),
            (f"/readyz p99 < {TARGET_HANG_P99_MS:g} ms while all storage hangs (1 and 32 conn)",
             " / ".join(f"{g['p99_ms']:.3f}" for _, g in h["rows"]) + " ms",
             hang_p99 < TARGET_HANG_P99_MS),
            ("detection within interval + timeout (max of the repetitions)",
             f"{max(d['detect']) * 1000:.0f} ms", ok_d),
            ("recovery within retry.max + timeout (max of the repetitions)",
             f"{max(d['recover']) * 1000:.0f} ms", ok_r),
        ]
        L += ["", "## Targets", "", "| target | this run | |", "|---|---|---|"]
        for name, figure, ok in targets:
            L.append(f"| {name} | {figure} | {yesno(ok)} |")
        L.append("")
        return "\n".join(L)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=str(ROOT / "build" / "sidecar" / "backup-gate"))
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default 5)")
    parser.add_argument("--runs", type=int, default=3, help="wrk runs per figure, median taken (default 3)")
    parser.add_argument("--idle", type=int, default=60, help="idle CPU window in seconds (default 60)")
    parser.add_argument("--starts", type=int, default=5, help="fresh starts per start-time figure (default 5)")
    parser.add_argument("--detections", type=int, default=5, help="loss/recovery repetitions (default 5)")
    parser.add_argument("--output", help="report file (default bench/RESULTS.md; --quick: a temporary file)")
    parser.add_argument("--quick", action="store_true", help="smoke test: runs of 1 s, idle 5 s, 1 repetition")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.idle, args.runs, args.starts, args.detections = 1, 5, 1, 1, 1
    if args.output is None:
        args.output = (os.path.join(tempfile.gettempdir(), "probe_bench-quick.md") if args.quick
                       else str(ROOT / "bench" / "RESULTS.md"))
    if min(args.duration, args.runs, args.idle, args.starts, args.detections) < 1:
        sys.exit("probe_bench: --duration, --runs, --idle, --starts and --detections must be at least 1")
    for tool in ("wrk", "taskset", "prometheus-blackbox-exporter"):
        if shutil.which(tool) is None:
            sys.exit(f"probe_bench: missing {tool}: apt-get install wrk util-linux prometheus-blackbox-exporter")
    if os.cpu_count() < 2:
        sys.exit("probe_bench: needs at least 2 CPUs (servers on CPU 0, load on CPU 1)")
    os.sched_setaffinity(0, {LOAD_CPU})

    bench = Bench(args)
    failed = True
    try:
        bench.run()
        text = bench.report()
        failed = False
    except BenchError as e:
        print(f"probe_bench: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
    finally:
        bench.cleanup(keep=failed)
    pathlib.Path(args.output).write_text(text)
    log()
    log(text)
    log(f"written to {args.output}")


if __name__ == "__main__":
    main()
