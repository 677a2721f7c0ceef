"""Processes, ports and waiting: the plumbing every peer shares."""

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest


_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    # Should the test runner itself be killed, its servers go too.
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, limit, what, interval=0.05, diagnostics=None):
    """Polls `predicate` until it returns a true value, which it returns.
    Raises with `what` (and the output of `diagnostics`) after `limit` s."""
    end = time.monotonic() + limit
    last_error = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - the peer may not be up yet
            last_error = exc
        if time.monotonic() >= end:
            extra = f" (last error: {last_error!r})" if last_error else ""
            text = diagnostics() if diagnostics else ""
            raise RuntimeError(f"{what} not ready after {limit}s{extra}\n{text}")
        time.sleep(interval)


def port_accepts(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def require_commands(peer, commands, install_hint):
    """Fails under CI (env CI set) and skips elsewhere when a command that
    `peer` needs is not installed."""
    missing = [c for c in commands if shutil.which(c) is None]
    if not missing:
        return
    message = (f"{peer} needs {', '.join(missing)} (not on PATH); "
               f"install it with: {install_hint}")
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


class ManagedProcess:
    """A child in its own session, its output in a log file; stop() ends
    the whole process group and reaps it."""

    def __init__(self, argv, log_path, env=None, cwd=None):
        self.argv = list(argv)
        self.log_path = log_path
        self._log = open(log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=self._log,
                stderr=subprocess.STDOUT, env=env, cwd=cwd,
                start_new_session=True, preexec_fn=_die_with_parent)
        except BaseException:
            self._log.close()
            raise

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def log_tail(self, limit=4000):
        try:
            with open(self.log_path, "rb") as f:
                data = f.read()
        except OSError:
            return ""
        return data[-limit:].decode("utf-8", "replace")

    def stop(self, grace=5.0):
        """SIGTERM to the group, SIGKILL after `grace` seconds; idempotent."""
        if self.proc.poll() is None:
            _signal_group(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        # Whatever the leader left behind in its group goes too.
        _signal_group(self.proc.pid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.wait(10)
        if not self._log.closed:
            self._log.close()


def _signal_group(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
