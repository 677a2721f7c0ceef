"""Harness for the end-to-end tests: starts the real backup-gate binary on a
free loopback port and talks to it over real sockets."""

import http.client
import json
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

import pytest

pytest_plugins = ["peers.fixtures"]
ROOT = pathlib.Path(__file__).resolve().parents[2]
BINARY = pathlib.Path(os.environ.get("BGATE_BINARY", ROOT / "build" / "sidecar" / "backup-gate"))


def http_get(port, path, method="GET", headers=None, timeout=5.0):
    """One request on a fresh connection; returns (status, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read().decode("utf-8", "replace")
        return resp.status, dict(resp.getheaders()), body
    finally:
        conn.close()


class Gate:
    """A running backup-gate process."""

    def __init__(self, args, cwd, env=None, wrapper=()):
        self.args = args
        # `wrapper` runs first and execs the binary (same pid), e.g. to put
        # it in a mount namespace of its own.
        self.proc = subprocess.Popen(
            list(wrapper) + [str(BINARY)] + args,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
        self.lines = []
        self.port = None
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._ready.wait(15):
            self.stop()
            raise AssertionError("backup-gate did not start listening:\n" + self.log_text())
        if self.port is None:
            raise AssertionError("backup-gate exited before listening:\n" + self.log_text())

    def _read(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.lines.append(line)
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("msg") == "listening":
                self.port = entry["port"]
                self._ready.set()
        self._ready.set()

    def log_text(self):
        return "\n".join(self.lines)

    def events(self, **match):
        out = []
        for line in list(self.lines):
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if all(entry.get(k) == v for k, v in match.items()):
                out.append(entry)
        return out

    def get(self, path, **kw):
        return http_get(self.port, path, **kw)

    def wait_status(self, path, status, limit=10.0):
        """Polls until `path` answers `status`; returns the seconds it took."""
        start = time.monotonic()
        last = None
        while time.monotonic() - start < limit:
            last = self.get(path)
            if last[0] == status:
                return time.monotonic() - start
            time.sleep(0.05)
        raise AssertionError(f"{path} still {last} after {limit}s\n" + self.log_text())

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        # Children of a killed gate (exec checks) must not outlive the test.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def gate(tmp_path):
    """Starts backup-gate with a config text; stops it after the test."""
    started = []

    def start(config_text=None, extra_args=(), cwd=None, env=None, wrapper=()):
        args = ["--address", "127.0.0.1:0"]
        if config_text is not None:
            path = tmp_path / f"gate-{len(started)}.yaml"
            path.write_text(config_text)
            args = ["--config", str(path)] + args
        g = Gate(args + list(extra_args), cwd=cwd or tmp_path, env=env, wrapper=wrapper)
        started.append(g)
        return g

    yield start
    for g in started:
        g.stop()


def pid_alive(pid):
    """True while the process exists and is no zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def run_cli(args, cwd, timeout=30):
    """Runs a one-shot subcommand; returns the CompletedProcess."""
    return subprocess.run([str(BINARY)] + args, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def pytest_terminal_summary(terminalreporter):
    """The fault matrix as a table (driver x fault -> state, reason, time to
    detect and to recover), whenever its tests ran."""
    module = sys.modules.get("test_fault_matrix")
    if module is not None and module.MATRIX:
        terminalreporter.write_sep("-", "fault matrix")
        terminalreporter.write_line(module.matrix_table())
