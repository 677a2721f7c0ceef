"""Shared pieces of the observability tests: paths, the tools they need
(promtool, prometheus, helm) and small process helpers."""

import os
import pathlib
import shutil
import signal
import socket
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "backup-gate"
RULES_DIR = CHART / "rules"
RULES_FILE = RULES_DIR / "backup-gate.rules.yml"
RULE_TESTS = sorted((RULES_DIR / "tests").glob("*.test.yml"))
RULES_README = RULES_DIR / "README.md"
DASHBOARDS = sorted((CHART / "dashboards").glob("*.json"))
RENDER = ROOT / "scripts" / "render-rules.sh"
BINARY = pathlib.Path(os.environ.get("BGATE_BINARY", ROOT / "build" / "sidecar" / "backup-gate"))


def missing(what):
    """Skips on a developer machine without `what`; fails under CI, where
    scripts/deps.sh installs everything."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required")
    pytest.skip(f"{what} is not installed")


def tool(name):
    path = shutil.which(name)
    if path is None and name == "helm" and shutil.which("go"):
        # Where `go install` puts it (scripts/chart-deps.sh, scripts/render-rules.sh).
        env = subprocess.run(["go", "env", "GOBIN", "GOPATH"], capture_output=True, text=True).stdout.split("\n")
        gobin = env[0].strip() or str(pathlib.Path(env[1].strip(), "bin"))
        if (pathlib.Path(gobin) / "helm").is_file():
            path = str(pathlib.Path(gobin) / "helm")
    if path is None:
        missing(name)
    return path


def render_rules(out, *helm_args):
    """Renders the rules template into `out` with scripts/render-rules.sh."""
    helm = tool("helm")
    env = dict(os.environ, PATH=f"{pathlib.Path(helm).parent}:{os.environ.get('PATH', '')}")
    proc = subprocess.run(["bash", str(RENDER), str(out), *helm_args],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, f"render-rules.sh failed:\n{proc.stderr}"
    return pathlib.Path(out).read_text()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc, timeout=10):
    """Ends a process this test started (its own session) and reaps it."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout)
    return proc.returncode
