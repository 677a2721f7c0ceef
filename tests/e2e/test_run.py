"""End-to-end tests of `backup-gate run -- WORKER`: the real binary gates a
real worker process (tests/e2e/workers/worker.py) by the state of a posix
backend whose directory the tests take away and give back."""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import pid_alive, run_cli

WORKER = pathlib.Path(__file__).resolve().parent / "workers" / "worker.py"
PROMTOOL = shutil.which("promtool")


def config(store, **worker):
    lines = [f"  {k}: {v}" for k, v in worker.items()]
    return "\n".join([
        "server: {drain_delay: 0s}",
        "check: {interval: 200ms, timeout: 2s, retry: {initial: 200ms, max: 200ms}}",
        "worker:",
        "  stop_after: 2s",
        "  stop_timeout: 1s",
        "  restart_backoff: {initial: 200ms, max: 1s}",
        *lines,
        "backends:",
        f"  - {{name: store, driver: posix, path: {store}}}",
        "",
    ])


class Worker:
    """The log and heartbeat of the worker script."""

    def __init__(self, tmp_path):
        self.log = tmp_path / "worker.jsonl"
        self.heartbeat = tmp_path / "heartbeat"

    def args(self, *extra):
        return ["run", "--", sys.executable, str(WORKER), "--log", str(self.log),
                "--heartbeat", str(self.heartbeat), *extra]

    def entries(self, **match):
        if not self.log.exists():
            return []
        out = []
        for line in self.log.read_text().splitlines():
            entry = json.loads(line)
            if all(entry.get(k) == v for k, v in match.items()):
                out.append(entry)
        return out

    def alive(self):
        """True while the heartbeat is fresh."""
        try:
            return time.time() - float(self.heartbeat.read_text()) < 0.5
        except (OSError, ValueError):
            return False


def wait_for(predicate, limit=15.0, what="condition", gate=None):
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"no {what} after {limit}s\n" + (gate.log_text() if gate else ""))


def finish(g, limit):
    """Waits for backup-gate to exit and for its last log lines; returns the code."""
    code = g.proc.wait(limit)
    g._reader.join(5)
    return code


def zombies_of(parent):
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == parent:
            found.append(int(entry))
    return found


@pytest.fixture
def worker(tmp_path):
    w = Worker(tmp_path)
    yield w
    # The worker runs in a session of its own: a gate killed by the harness
    # would leave it behind.
    for entry in w.entries(event="start"):
        try:
            os.killpg(entry["pgid"], signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def test_run_without_worker_is_a_usage_error(tmp_path):
    r = run_cli(["run"], tmp_path)
    assert r.returncode == 2
    assert "no worker command" in r.stderr
    r = run_cli(["run", "--"], tmp_path)
    assert r.returncode == 2


def test_not_started_until_storage_appears_then_gated_by_it(gate, tmp_path, worker):
    store = tmp_path / "store"
    g = gate(config(store), extra_args=worker.args())
    time.sleep(1.5)
    assert worker.entries() == [], "started while storage was missing"
    g.wait_status("/readyz", 503)
    store.mkdir()
    # Within one retry (200ms) plus the check and the spawn.
    took = wait_for(lambda: worker.entries(event="start"), 5, "start", g)
    assert took < 2.0
    wait_for(worker.alive, 5, "heartbeat", g)
    started = g.events(event="worker_started")
    assert len(started) == 1 and started[0]["pid"] == worker.entries(event="start")[0]["pid"]
    # The worker's own output passes through; backup-gate's lines stay JSON.
    for line in g.lines:
        json.loads(line) if line.startswith("{") else None

    # A blip shorter than stop_after leaves it running.
    store.rmdir()
    g.wait_status("/readyz", 503)
    time.sleep(0.8)
    store.mkdir()
    g.wait_status("/readyz", 200)
    time.sleep(2.0)
    assert worker.entries(event="signal") == []
    assert worker.alive()

    # Stopped after stop_after of failure, not before.
    store.rmdir()
    g.wait_status("/readyz", 503)
    failed_at = time.monotonic()
    wait_for(lambda: worker.entries(event="signal"), 8, "stop signal", g)
    assert time.monotonic() - failed_at >= 1.7
    assert worker.entries(event="signal")[0]["signal"] == "SIGTERM"
    wait_for(lambda: g.events(event="worker_stopped"), 5, "stop event", g)
    stopped = g.events(event="worker_stopped")[0]
    assert stopped["reason"] == "storage" and stopped["exit_code"] == 0
    assert not worker.alive() or wait_for(lambda: not worker.alive(), 2)

    # Started again on recovery.
    store.mkdir()
    wait_for(lambda: len(worker.entries(event="start")) == 2, 5, "restart", g)
    status, _, body = g.get("/metrics")
    assert "backup_gate_worker_up 1" in body
    assert "backup_gate_worker_starts_total 2" in body
    assert 'backup_gate_worker_stops_total{reason="storage"} 1' in body
    assert 'backup_gate_worker_stops_total{reason="exited"} 0' in body
    assert 'backup_gate_worker_stops_total{reason="signal"} 0' in body
    if PROMTOOL:
        check = subprocess.run([PROMTOOL, "check", "metrics"], input=body,
                               capture_output=True, text=True)
        assert check.returncode == 0 and check.stdout.strip() == "" and check.stderr.strip() == "", check

    # SIGTERM to backup-gate is forwarded; it exits with the worker's status.
    g.signal(signal.SIGTERM)
    assert finish(g, 10) == 0
    second = worker.entries(event="start")[1]["pid"]
    assert [e["signal"] for e in worker.entries(event="signal", pid=second)] == ["SIGTERM"]
    assert g.events(event="worker_stopped")[-1]["reason"] == "signal"


def test_worker_ignoring_the_stop_signal_is_killed(gate, tmp_path, worker):
    store = tmp_path / "store"
    store.mkdir()
    g = gate(config(store), extra_args=worker.args("--ignore-term"))
    wait_for(worker.alive, 10, "heartbeat", g)
    store.rmdir()
    wait_for(lambda: worker.entries(event="signal"), 8, "stop signal", g)
    signalled = time.monotonic()
    wait_for(lambda: g.events(event="worker_stopped"), 5, "stop", g)
    assert time.monotonic() - signalled >= 0.8  # stop_timeout: 1s
    stopped = g.events(event="worker_stopped")[0]
    assert stopped["reason"] == "storage"
    assert stopped["signal"] == "SIGKILL" and stopped["exit_code"] == 137
    assert g.events(event="worker_signal", signal="SIGKILL")


def test_sigterm_forwarded_and_status_propagated(gate, tmp_path, worker):
    store = tmp_path / "store"
    store.mkdir()
    g = gate(config(store), extra_args=worker.args("--term-code", "3", "--say", "plain text"))
    wait_for(worker.alive, 10, "heartbeat", g)
    g.signal(signal.SIGTERM)
    # Readiness drops at once (the server answers until the worker is gone).
    assert finish(g, 10) == 3
    assert worker.entries(event="signal")[0]["signal"] == "SIGTERM"
    assert "plain text" in g.lines  # the worker's stderr, unchanged
    assert g.events(msg="stopped")[0]["exit_code"] == 3


def test_worker_killed_by_forwarded_signal_gives_128_plus_signal(gate, tmp_path, worker):
    store = tmp_path / "store"
    store.mkdir()
    g = gate(config(store), extra_args=worker.args("--default-term"))
    wait_for(worker.alive, 10, "heartbeat", g)
    g.signal(signal.SIGTERM)
    assert finish(g, 10) == 128 + signal.SIGTERM


def test_sigint_is_forwarded_as_sigint(gate, tmp_path, worker):
    store = tmp_path / "store"
    store.mkdir()
    g = gate(config(store), extra_args=worker.args("--term-code", "9"))
    wait_for(worker.alive, 10, "heartbeat", g)
    g.signal(signal.SIGINT)
    assert finish(g, 10) == 9
    assert [e["signal"] for e in worker.entries(event="signal")] == ["SIGINT"]


def test_forwarded_signal_ignored_is_followed_by_sigkill(gate, tmp_path, worker):
    store = tmp_path / "store"
    store.mkdir()
    g = gate(config(store), extra_args=worker.args("--ignore-term"))
    wait_for(worker.alive, 10, "heartbeat", g)
    assert g.get("/readyz")[0] == 200
    g.signal(signal.SIGTERM)
    # Out of rotation at once, while the worker still runs out its
    # stop_timeout and the probes keep answering.
    g.wait_status("/readyz", 503, limit=0.5)
    assert worker.alive() and g.get("/livez")[0] == 200
    assert finish(g, 10) == 137
    assert g.events(event="worker_signal", signal="SIGKILL")


@pytest.mark.parametrize("policy,code,expect_exit", [
    ("never", 5, 5),
    ("never", 0, 0),
    ("on-failure", 0, 0),
])
def test_policies_that_end_with_the_worker(gate, tmp_path, worker, policy, code, expect_exit):
    store = tmp_path / "store"
    store.mkdir()
    g = gate(config(store, restart=policy),
             extra_args=worker.args("--exit-after", "0.5", "--exit-code", str(code)))
    assert finish(g, 15) == expect_exit
    assert len(worker.entries(event="start")) == 1
    stopped = g.events(event="worker_stopped")
    assert stopped[0]["reason"] == "exited" and stopped[0]["exit_code"] == code


@pytest.mark.parametrize("policy,code", [("always", 0), ("always", 4), ("on-failure", 4)])
def test_policies_that_restart(gate, tmp_path, worker, policy, code):
    store = tmp_path / "store"
    store.mkdir()
    g = gate(config(store, restart=policy),
             extra_args=worker.args("--exit-after", "0.3", "--exit-code", str(code)))
    wait_for(lambda: len(worker.entries(event="start")) >= 3, 15, "restarts", g)
    stops = g.events(event="worker_stopped")
    assert all(s["reason"] == "exited" and s["exit_code"] == code for s in stops)
    # Backoff: 200ms, then 400ms, ...
    assert stops[1]["restart_in"] > stops[0]["restart_in"]
    assert g.proc.poll() is None
    body = g.get("/metrics")[2]
    assert f"backup_gate_worker_last_exit_code {code}" in body


def test_worker_that_cannot_start(gate, tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    g = gate(config(store, restart="never"), extra_args=["run", "--", "/nonexistent/worker"])
    assert finish(g, 10) == 127
    assert "cannot start" in g.events(event="worker_stopped")[0]["detail"]


def test_grandchildren_leave_no_orphans_or_zombies(gate, tmp_path, worker):
    store = tmp_path / "store"
    store.mkdir()
    # An exec backend runs beside the worker: its checks must keep working
    # while the reaper runs, and must not be reaped from under the driver.
    text = config(store) + "  - {name: probe, driver: exec, command: [/bin/sh, -c, 'echo ok; sleep 0.05']}\n"
    g = gate(text, extra_args=worker.args("--grandchildren"))
    wait_for(lambda: worker.entries(event="children"), 10, "children", g)
    children = worker.entries(event="children")[0]
    assert pid_alive(children["keeper"]) and pid_alive(children["orphan"])
    time.sleep(1.0)
    assert zombies_of(g.proc.pid) == []
    g.wait_status("/readyz/probe", 200)
    store.rmdir()
    wait_for(lambda: g.events(event="worker_stopped"), 10, "stop", g)
    # The orphan ignored SIGTERM: the stop's SIGKILL took the whole session.
    wait_for(lambda: not pid_alive(children["orphan"]) and not pid_alive(children["keeper"]),
             5, "grandchildren gone", g)
    wait_for(lambda: zombies_of(g.proc.pid) == [], 5, "no zombies", g)
    # Every exec check still passes: none had its status stolen.
    time.sleep(1.0)
    assert g.get("/readyz/probe")[0] == 200
    assert not [e for e in g.events(backend="probe") if e.get("event") == "transition" and e.get("to") == "failed"]
    g.signal(signal.SIGTERM)
    assert finish(g, 10) == 0
