"""End-to-end behaviour of the sidecar: the real binary, real sockets, real
storage directories and processes."""

import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import BINARY, pid_alive, run_cli
from peers.gatekit import threads_of

# Set by the sanitizer runs (scripts/tsan.sh): how much slower the binary is.
SLOWDOWN = float(os.environ.get("BGATE_SLOWDOWN", "1"))

FAST = """
check:
  interval: 1s
  timeout: 1s
  retry: {initial: 200ms, max: 1s}
"""


def posix_config(path, name="primary", extra="", server=""):
    return f"""{server}
{FAST}
{extra}
backends:
  - name: {name}
    driver: posix
    path: {path}
    write_probe: true
"""


def test_ready_when_storage_works(gate, tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    g = gate(posix_config(store))
    g.wait_status("/readyz", 200)
    status, headers, body = g.get("/readyz")
    assert body == "ok\n"
    status, _, body = g.get("/readyz?verbose")
    assert status == 200
    assert "[+]primary ok" in body
    assert body.endswith("readyz check passed\n")
    assert g.get("/livez")[0] == 200
    # The write probe leaves nothing behind.
    assert list(store.iterdir()) == []
    assert g.events(event="initialization_succeeded", backend="primary")


def test_storage_removed_then_restored(gate, tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    g = gate(posix_config(store))
    g.wait_status("/readyz", 200)
    moved = tmp_path / "moved"
    store.rename(moved)
    # Detection within interval (1s) + timeout (1s), with a generous margin.
    took = g.wait_status("/readyz", 503, limit=2.0 + 5.0)
    assert took < 7.0
    _, _, body = g.get("/readyz?verbose")
    assert "[-]primary failed: not_found" in body, body
    # /livez never fails because storage is down.
    assert g.get("/livez")[0] == 200
    moved.rename(store)
    g.wait_status("/readyz", 200, limit=1.0 + 5.0)
    transitions = [(e["from"], e["to"]) for e in g.events(event="transition", backend="primary")]
    assert ("ready", "failed") in transitions
    assert ("failed", "ready") in transitions
    failed = g.events(event="transition", to="failed")[0]
    assert failed["reason"] == "not_found"
    assert failed["driver"] == "posix"
    for key in ("time", "level", "backend", "from", "to", "detail", "attempt"):
        assert key in failed, key


def descendants_of(pid):
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid=,pgid="], capture_output=True, text=True).stdout
    rows = [tuple(int(x) for x in line.split()) for line in out.splitlines() if line.strip()]
    children = {pid}
    changed = True
    while changed:
        changed = False
        for p, pp, _ in rows:
            if pp in children and p not in children:
                children.add(p)
                changed = True
    return children - {pid}


def test_hanging_exec_check_stays_bounded(gate, tmp_path):
    config = """
check:
  interval: 300ms
  timeout: 300ms
  retry: {initial: 100ms, max: 200ms}
backends:
  - name: hung
    driver: exec
    command: ["/bin/sh", "-c", "sleep 1000 & sleep 1000"]
"""
    g = gate(config)
    pid = g.proc.pid
    g.wait_status("/readyz", 503)
    threads, children, latencies = [], [], []
    end = time.monotonic() + 4.0
    while time.monotonic() < end:
        start = time.monotonic()
        status, _, body = g.get("/readyz?verbose")
        latencies.append(time.monotonic() - start)
        assert status == 503
        threads.append(threads_of(pid))
        children.append(len(descendants_of(pid)))
        time.sleep(0.05)
    _, _, body = g.get("/readyz?verbose")
    assert "[-]hung failed: timeout" in body, body
    # One worker per backend, the loop, the server and main: nothing piles up.
    assert max(threads) <= 6, threads
    assert max(threads) == min(threads), threads
    # At most one check (a shell and its two sleeps) alive at any moment.
    assert max(children) <= 3, children
    # A sanitizer build runs several times slower: the bound is functional
    # there (nothing waits on the hung check), not a latency promise.
    assert max(latencies) < 0.5 * SLOWDOWN, max(latencies)
    attempts = g.events(event="transition", backend="hung")
    assert attempts and attempts[-1]["to"] == "failed"


def two_backends(tmp_path, policy="all", required="[]"):
    good = tmp_path / "good"
    good.mkdir(exist_ok=True)
    return f"""
{FAST}
readiness: {{policy: {policy}, required: {required}}}
backends:
  - name: good
    driver: posix
    path: {good}
  - name: bad
    driver: posix
    path: {tmp_path / "missing"}
"""


def test_verbose_exclude_and_single_backend(gate, tmp_path):
    g = gate(two_backends(tmp_path))
    g.wait_status("/readyz/good", 200)
    g.wait_status("/readyz?verbose", 503)
    status, _, body = g.get("/readyz")
    assert status == 503
    assert "[+]good ok" in body
    assert "[-]bad failed: not_found" in body
    assert body.endswith("readyz check failed\n")
    assert g.get("/readyz?exclude=bad")[0] == 200
    status, _, body = g.get("/readyz?exclude=bad&exclude=ghost&verbose")
    assert status == 200
    assert "[+]bad excluded: ok" in body
    assert 'no matches for "ghost"' in body
    assert g.get("/readyz/good")[0] == 200
    status, _, body = g.get("/readyz/bad")
    assert status == 503 and "not_found" in body
    assert g.get("/readyz/nope")[0] == 404


def test_policy_any_and_required(gate, tmp_path):
    g = gate(two_backends(tmp_path, policy="any"))
    g.wait_status("/readyz", 200)
    g2 = gate(two_backends(tmp_path, policy="any", required="[bad]"))
    g2.wait_status("/readyz/good", 200)
    assert g2.get("/readyz")[0] == 503
    assert g2.get("/readyz?exclude=bad")[0] == 200


def test_methods_paths_and_head(gate, tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    g = gate(posix_config(store))
    g.wait_status("/readyz", 200)
    status, headers, _ = g.get("/readyz", method="POST")
    assert status == 405
    assert headers.get("Allow") == "GET, HEAD"
    assert g.get("/nothing")[0] == 404
    status, headers, body = g.get("/readyz", method="HEAD")
    assert status == 200 and body == ""
    assert headers["Content-Length"] == "3"


def test_bad_config_exits_2_naming_every_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("""
check: {timeout: 10q}
readiness: {required: [ghost]}
backends:
  - name: a
    driver: posix
  - name: b
    driver: posix
    path: /b
    check: {interval: soon}
""")
    for args in (["--config", str(bad)], ["check", "--config", str(bad)],
                 ["validate", "--config", str(bad)]):
        r = run_cli(args, tmp_path)
        assert r.returncode == 2, (args, r.stderr)
        assert f"invalid configuration (4 errors) in {bad}:" in r.stderr, r.stderr
        for field in ('check.timeout: "10q" is not a duration', "backends[0].path: is required",
                      'backends[1].check.interval: "soon" is not a duration',
                      'readiness.required[0]: "ghost" is not the name of a backend'):
            assert field in r.stderr, (field, r.stderr)
    broken = tmp_path / "broken.yaml"
    broken.write_text("backends:\n  - name: [unclosed\n")
    r = run_cli(["validate", "--config", str(broken)], tmp_path)
    assert r.returncode == 2 and f"in {broken}:" in r.stderr, r.stderr
    assert "invalid YAML at line 3, column 1" in r.stderr, r.stderr  # where yaml-cpp gave up
    empty = tmp_path / "empty.yaml"
    empty.write_text("server: {address: '127.0.0.1:0'}\n")
    r = run_cli(["validate", "--config", str(empty)], tmp_path)
    assert r.returncode == 2 and "at least one backend" in r.stderr
    r = run_cli(["--config", str(tmp_path)], tmp_path)
    assert r.returncode == 2 and "not a regular file" in r.stderr
    r = run_cli(["--no-such-flag"], tmp_path)
    assert r.returncode == 2


def test_sigterm_drains_then_exits_0(gate, tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    g = gate(posix_config(store, server="server: {drain_delay: 1500ms}"))
    g.wait_status("/readyz", 200)
    g.signal(signal.SIGTERM)
    sent = time.monotonic()
    # Out of the endpoints at once, while still answering.
    g.wait_status("/readyz", 503, limit=0.5)
    _, _, body = g.get("/readyz?verbose")
    assert "[-]shutdown failed: draining" in body
    assert g.get("/livez")[0] == 200
    assert g.proc.wait(10) == 0
    took = time.monotonic() - sent
    assert 1.3 <= took < 5, took
    assert g.events(msg="stopped")


def test_sigint_also_drains(gate, tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    g = gate(posix_config(store, server="server: {drain_delay: 100ms}"))
    g.wait_status("/readyz", 200)
    g.signal(signal.SIGINT)
    assert g.proc.wait(10) == 0


def test_check_commands_do_not_outlive_the_gate(gate, tmp_path):
    # A check that hangs well past the drain: the gate leaves after the
    # drain without waiting for it, and takes the command's whole group
    # (the shell and its background child) along.
    pids = tmp_path / "pids"
    g = gate(f"""
server: {{drain_delay: 100ms}}
check: {{timeout: 60s}}
backends:
  - name: slow
    driver: exec
    command: ["/bin/sh", "-c", "sleep 1000 & echo $$ $! > {pids}; wait"]
""")
    end = time.monotonic() + 10
    while time.monotonic() < end and not (pids.exists() and len(pids.read_text().split()) == 2):
        time.sleep(0.02)
    shell, child = (int(p) for p in pids.read_text().split())
    g.signal(signal.SIGTERM)
    assert g.proc.wait(10) == 0

    end = time.monotonic() + 5
    while time.monotonic() < end and (pid_alive(shell) or pid_alive(child)):
        time.sleep(0.05)
    assert not pid_alive(shell) and not pid_alive(child), (shell, child)


def test_oversized_header_and_garbage(gate, tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    g = gate(posix_config(store))
    g.wait_status("/readyz", 200)
    status, _, _ = g.get("/readyz", headers={"X-Big": "a" * 65536})
    assert status in (431, 400)
    with socket.create_connection(("127.0.0.1", g.port), timeout=5) as s:
        s.sendall(b"\x00\x01garbage\r\n\r\n")
        answer = s.recv(4096)
        assert answer.startswith(b"HTTP/1.1 400"), answer
    assert g.get("/readyz")[0] == 200


def test_hundreds_of_idle_connections_do_not_delay_a_probe(gate, tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    g = gate(posix_config(store))
    g.wait_status("/readyz", 200)
    idle = []
    try:
        for _ in range(400):
            idle.append(socket.create_connection(("127.0.0.1", g.port), timeout=5))
        # Half of them sent half a request (slowloris).
        for s in idle[::2]:
            s.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\n")
        start = time.monotonic()
        status, _, _ = g.get("/readyz")
        assert status == 200
        assert time.monotonic() - start < 1.0
    finally:
        for s in idle:
            s.close()
    assert g.get("/livez")[0] == 200


PROMTOOL = shutil.which("promtool")


@pytest.mark.skipif(PROMTOOL is None and not os.environ.get("CI"), reason="promtool not installed")
def test_metrics_pass_promtool_and_cover_every_series(gate, tmp_path):
    g = gate(two_backends(tmp_path))
    g.wait_status("/readyz/good", 200)
    g.wait_status("/readyz", 503)
    status, headers, body = g.get("/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    check = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True, text=True)
    assert check.returncode == 0 and check.stdout.strip() == "" and check.stderr.strip() == "", check
    for name in ("backup_gate_backend_up", "backup_gate_backend_state",
                 "backup_gate_backend_checks_total", "backup_gate_backend_check_duration_seconds_bucket",
                 "backup_gate_backend_consecutive_failures",
                 "backup_gate_backend_last_success_timestamp_seconds",
                 "backup_gate_backend_last_transition_timestamp_seconds",
                 "backup_gate_backend_transitions_total", "backup_gate_backend_check_timeout_seconds",
                 "backup_gate_backend_free_bytes", "backup_gate_ready", "backup_gate_build_info",
                 "process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds",
                 "process_start_time_seconds"):
        assert f"\n{name}" in body, name
    assert 'backup_gate_backend_up{backend="good",driver="posix"} 1' in body
    assert 'backup_gate_backend_up{backend="bad",driver="posix"} 0' in body
    assert 'backup_gate_ready 0' in body
    assert 'backup_gate_backend_state{backend="bad",driver="posix",state="failed"} 1' in body
    # Every result series exists from the start, so rate() works at once.
    for result in ("success", "timeout", "unreachable", "auth", "not_found", "permission",
                   "no_space", "misconfigured", "error"):
        assert f'backup_gate_backend_checks_total{{backend="good",driver="posix",result="{result}"}}' in body
    # Never older than a second.
    before = [l for l in body.splitlines() if l.startswith('backup_gate_backend_checks_total{backend="bad",driver="posix",result="not_found"}')]
    time.sleep(2.5)
    after = [l for l in g.get("/metrics")[2].splitlines() if l.startswith('backup_gate_backend_checks_total{backend="bad",driver="posix",result="not_found"}')]
    assert before != after


def test_check_subcommand(tmp_path):
    good = tmp_path / "good"
    good.mkdir()
    cfg = tmp_path / "gate.yaml"
    cfg.write_text(posix_config(good))
    r = run_cli(["check", "--config", str(cfg)], tmp_path)
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    assert lines[0].split()[:5] == ["NAME", "DRIVER", "RESULT", "REASON", "DURATION"]
    assert lines[1].split()[:3] == ["primary", "posix", "ready"]
    cfg.write_text(two_backends(tmp_path))
    r = run_cli(["check", "--config", str(cfg), "--output", "json"], tmp_path)
    assert r.returncode == 1, r
    report = json.loads(r.stdout)
    assert report["ready"] is False
    assert [b["result"] for b in report["backends"]] == ["ready", "failed"]
    assert report["backends"][1]["reason"] == "not_found"


def test_check_subcommand_times_out_a_hung_backend(tmp_path):
    cfg = tmp_path / "gate.yaml"
    cfg.write_text("""
backends:
  - name: hung
    driver: exec
    command: ["/bin/sleep", "1000"]
    check: {timeout: 500ms}
""")
    start = time.monotonic()
    r = run_cli(["check", "--config", str(cfg)], tmp_path)
    assert time.monotonic() - start < 5
    assert r.returncode == 1
    assert "timeout" in r.stdout


def test_validate_prints_effective_config_and_sources(tmp_path):
    cfg = tmp_path / "gate.yaml"
    cfg.write_text(posix_config(tmp_path))
    r = run_cli(["validate", "--config", str(cfg), "--address", "127.0.0.1:9999"], tmp_path)
    assert r.returncode == 0, r
    assert "configuration is valid" in r.stdout
    assert "127.0.0.1:9999" in r.stdout and "from flag --address" in r.stdout
    assert "failure_threshold: 1" in r.stdout


def test_default_config_runs_on_a_fresh_directory(gate, tmp_path):
    g = gate(None, cwd=tmp_path)
    assert (tmp_path / "backup-gate-data").is_dir()
    g.wait_status("/readyz", 200)
    _, _, body = g.get("/readyz?verbose")
    assert "[+]local ok" in body


def test_state_file_follows_transitions(gate, tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    state = tmp_path / "state.json"
    g = gate(posix_config(store, extra=f"state_file: {state}"))
    g.wait_status("/readyz", 200)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if state.exists() and json.loads(state.read_text())["ready"]:
            break
        time.sleep(0.05)
    assert json.loads(state.read_text())["ready"] is True
    store.rename(tmp_path / "gone")
    g.wait_status("/readyz", 503)
    time.sleep(0.2)
    data = json.loads(state.read_text())
    assert data["ready"] is False
    assert data["backends"][0]["reason"] == "not_found"


def test_version_and_help(tmp_path):
    r = run_cli(["--version"], tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("backup-gate ")
    r = run_cli(["--help"], tmp_path)
    assert r.returncode == 0 and "check" in r.stdout and "validate" in r.stdout


def test_bind_failure_is_reported(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        cfg = tmp_path / "gate.yaml"
        cfg.write_text(posix_config(tmp_path))
        r = subprocess.run([str(BINARY), "--config", str(cfg), "--address", f"127.0.0.1:{port}"],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 1
        assert "cannot listen" in r.stderr


def test_every_example_config_validates(tmp_path):
    examples = sorted((pathlib.Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))
    assert len(examples) >= 5
    for example in examples:
        r = run_cli(["validate", "--config", str(example)], tmp_path)
        assert r.returncode == 0, (example.name, r.stderr)
