"""Driving backup-gate against the peers: configs, one-shot checks, and the
observations the driver tests share (threads, descriptors, leaked secrets)."""

import json
import os
import pathlib
import re
import subprocess
import time

# Serve mode: a lost storage shows within interval + timeout.
FAST_CHECK = {"interval": "1s", "timeout": "1s", "retry": {"initial": "200ms", "max": "1s"}}

TLS_WORDS = re.compile(r"tls|ssl|certificate|handshake|verif", re.IGNORECASE)


def binary():
    # The harness's conftest owns the choice of binary ($BGATE_BINARY).
    from conftest import BINARY
    return BINARY


def _scalar(value):
    # JSON scalars are valid YAML flow scalars, quoting included.
    return json.dumps(value)


def _flow(value):
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return _scalar(value)


def config(*backends, check=None, extra=""):
    """A config text. Each backend is a dict: name, driver and its keys
    (None values are left out)."""
    lines = [f"check: {_flow(check or FAST_CHECK)}", extra, "backends:"]
    for backend in backends:
        items = [(k, v) for k, v in backend.items() if v is not None]
        first = True
        for key, value in items:
            lines.append(("  - " if first else "    ") + f"{key}: {_flow(value)}")
            first = False
    return "\n".join(lines) + "\n"


def one_shot(*backends, timeout="10s"):
    """A config for `check`: room for a busy machine, unless a fault needs a
    short deadline."""
    return config(*backends, check={"timeout": timeout})


def write_secret(path, value):
    """Writes a credential file the way a rotated Secret appears: whole, at
    once (write then rename), with a trailing newline."""
    path = pathlib.Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(value + "\n")
    tmp.chmod(0o600)
    os.replace(tmp, path)
    return str(path)


class CheckRun:
    def __init__(self, proc, elapsed):
        self.proc = proc
        self.elapsed = elapsed
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        try:
            self.report = json.loads(proc.stdout)
        except ValueError:
            self.report = None

    @property
    def ready(self):
        return bool(self.report and self.report.get("ready"))

    def backend(self, name=None):
        assert self.report is not None, f"no JSON report:\n{self.describe()}"
        rows = self.report["backends"]
        if name is None:
            assert len(rows) == 1, rows
            return rows[0]
        for row in rows:
            if row["name"] == name:
                return row
        raise AssertionError(f"no backend {name} in {rows}")

    def describe(self):
        return (f"exit {self.returncode} after {self.elapsed:.2f}s\nstdout: {self.stdout}\n"
                f"stderr: {self.stderr}")


def check(config_text, tmp_path, env=None, timeout=60, output="json"):
    """Runs `backup-gate check` once; returns a CheckRun."""
    path = pathlib.Path(tmp_path) / f"check-{time.monotonic_ns()}.yaml"
    path.write_text(config_text)
    full_env = dict(os.environ)
    full_env.update(env or {})
    start = time.monotonic()
    proc = subprocess.run([str(binary()), "check", "--config", str(path), "--output", output],
                          cwd=tmp_path, capture_output=True, text=True, timeout=timeout,
                          env=full_env)
    return CheckRun(proc, time.monotonic() - start)


def expect(run, result, reason=None):
    """Asserts a one-shot result, its exit code and its reason."""
    row = run.backend()
    assert row["result"] == result, f"{row}\n{run.describe()}"
    if result == "ready":
        assert run.returncode == 0 and run.ready, run.describe()
    else:
        assert row["reason"] == reason, f"{row}\n{run.describe()}"
        assert run.returncode == 1 and not run.ready, run.describe()
    return row


def threads_of(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


def fds_of(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def wait_reason(gate, name, reason, limit=10.0):
    """Polls /readyz?verbose until `name` fails with `reason`."""
    marker = f"[-]{name} failed: {reason}"
    end = time.monotonic() + limit
    body = ""
    while time.monotonic() < end:
        _, _, body = gate.get("/readyz?verbose")
        if marker in body:
            return body
        time.sleep(0.05)
    raise AssertionError(f"{marker!r} not seen in {limit}s; last:\n{body}\n{gate.log_text()}")


def observe_bounded(gate, seconds):
    """Samples /readyz latency, threads and descriptors of a serving gate for
    `seconds`; returns (latencies, threads, fds)."""
    pid = gate.proc.pid
    latencies, threads, fds = [], [], []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        start = time.monotonic()
        status, _, _ = gate.get("/readyz")
        latencies.append(time.monotonic() - start)
        assert status == 503
        threads.append(threads_of(pid))
        fds.append(fds_of(pid))
        time.sleep(0.1)
    return latencies, threads, fds


def serve_texts(gate, names):
    """Everything a serving gate shows a person or a scraper."""
    texts = {"log": gate.log_text(), "metrics": gate.get("/metrics")[2],
             "readyz": gate.get("/readyz")[2], "verbose": gate.get("/readyz?verbose")[2]}
    for name in names:
        texts[f"readyz/{name}"] = gate.get(f"/readyz/{name}")[2]
    return texts


def assert_no_leak(texts, secrets=(), patterns=()):
    """No secret value (nor a pattern that marks one: a signature, a token
    header) in any of `texts` ({label: text})."""
    found = []
    for label, text in texts.items():
        for secret in secrets:
            if secret and secret in text:
                found.append(f"{label}: the secret {secret[:4]}...")
        for pattern in patterns:
            match = re.search(pattern, text, re.IGNORECASE)
            if match:
                start = max(0, match.start() - 60)
                found.append(f"{label}: /{pattern}/ in ...{text[start:match.end() + 60]}...")
    assert not found, "secrets leaked:\n" + "\n".join(found)


# What a signed request carries, whoever signs it.
SIGNATURE_PATTERNS = [
    r"authorization\s*[:=]", r"x-auth-token\s*[:=]", r"x-storage-token\s*[:=]",
    r"x-auth-key\s*[:=]", r"AWS4-HMAC-SHA256\s+Credential", r"Signature=[0-9a-f]{16}",
    r"X-Amz-Signature", r"[?&]sig=", r"\bsig=[A-Za-z0-9%+/]", r"SharedKey\s+\w+:",
    r"AUTH_tk[0-9a-f]{8}",
]


# -- scenarios every object-store driver goes through ------------------------

def outage_and_recovery(gate, config_text, name, stop, start):
    """Serve mode: ready; `stop()` the server -> /readyz 503 within
    interval + timeout (2 s, with margin), reason unreachable; `start()` it
    again -> 200 within retry.max + timeout (2 s, with margin), no restart."""
    g = gate(config_text)
    g.wait_status("/readyz", 200, limit=20.0)
    stop()
    stopped = time.monotonic()
    try:
        took = g.wait_status("/readyz", 503, limit=2.0 + 6.0)
        body = wait_reason(g, name, "unreachable", limit=5.0)
        assert g.get("/livez")[0] == 200
    finally:
        start()
    g.wait_status("/readyz", 200, limit=1.0 + 1.0 + 10.0)
    transitions = [(e["from"], e["to"]) for e in g.events(event="transition", backend=name)]
    assert ("ready", "failed") in transitions, g.log_text()
    assert ("failed", "ready") in transitions, g.log_text()
    failed = [e for e in g.events(event="transition", backend=name) if e["to"] == "failed"][0]
    assert failed["reason"] == "unreachable", failed
    return took, body, time.monotonic() - stopped


def blackhole_stays_bounded(gate, config_text, name, blackhole, timeout=1.0):
    """Serve mode against a peer that accepts and never answers: the
    backend fails with `timeout`, /readyz keeps answering at once, the
    driver hangs up each connection by its deadline (one at a time), and the
    threads and descriptors of the process do not grow with the attempts."""
    since = time.monotonic()
    g = gate(config_text)
    wait_reason(g, name, "timeout", limit=10.0)
    # Several attempts (timeout 1 s, retry up to 1 s) in the window.
    latencies, threads, fds = observe_bounded(g, 6.0)
    assert max(latencies) < 0.5, max(latencies)
    head, tail = threads[: len(threads) // 3], threads[-len(threads) // 3:]
    assert max(tail) <= max(head) + 1, threads
    assert max(threads) - min(threads) <= 3, threads
    assert max(fds) - min(fds) <= 6, fds
    assert "[-]" + name + " failed: timeout" in g.get("/readyz?verbose")[2]
    now = time.monotonic()
    conns = blackhole.connections(since)
    assert len(conns) >= 3, conns
    late = [(round(a - since, 2), round((c or now) - a, 2)) for a, c in conns
            if (c or now) - a > timeout + 0.5]
    assert not late, f"connections held past the {timeout}s deadline: {late}"
    return g, threads, fds


def rotation_without_restart(gate, config_text, name, rotate):
    """Serve mode: a wrong secret in the credential file -> auth and never
    ready; `rotate()` rewrites the file with the right one -> ready with no
    restart (setup runs again after an auth failure and re-reads it)."""
    g = gate(config_text)
    wait_reason(g, name, "auth", limit=10.0)
    time.sleep(2.5)  # a few more attempts: still never ready
    assert g.get("/readyz")[0] == 503
    assert not g.events(event="initialization_succeeded", backend=name), g.log_text()
    pid = g.proc.pid
    rotate()
    g.wait_status("/readyz", 200, limit=1.0 + 1.0 + 10.0)
    assert g.proc.pid == pid and g.proc.poll() is None
    return g


# One-shot cases every object-store driver goes through. `backend_at(url,
# **keys)` makes the driver's backend with its requests going to `url`.

UNREACHABLE_CASES = ["blackhole", "blackhole in the TLS handshake", "connection refused"]


def unreachable_case(case, backend_at, tmp_path, blackhole, refused_port, tls_material):
    """A peer that never answers (plain or in the TLS handshake) ->
    `timeout` by the deadline; a refused port -> `unreachable`."""
    if case == "connection refused":
        expect(check(one_shot(backend_at(refused_port.url)), tmp_path), "failed", "unreachable")
        return
    if case == "blackhole":
        backend = backend_at(blackhole.url)
    else:
        backend = backend_at(blackhole.url.replace("http:", "https:"),
                             ca_file=str(tls_material.ca_cert))
    run = check(one_shot(backend, timeout="2s"), tmp_path)
    expect(run, "failed", "timeout")
    assert run.elapsed < 2.0 + 3.0, run.describe()


TLS_CASES = ["right CA", "wrong CA", "insecure_skip_verify", "expired certificate"]


def tls_case(case, backend_at, tls_url, plain_port, tmp_path, tls_material, tls_forwarder):
    """TLS to the real server at `tls_url`: trusted through `ca_file` or
    with verification off -> ready; a CA that did not sign it, or a front
    on `plain_port` with an expired certificate -> `unreachable`, the detail
    naming TLS."""
    if case == "right CA":
        backend = backend_at(tls_url, ca_file=str(tls_material.ca_cert))
    elif case == "wrong CA":
        backend = backend_at(tls_url, ca_file=str(tls_material.other_ca_cert))
    elif case == "insecure_skip_verify":
        backend = backend_at(tls_url, insecure_skip_verify=True)
    else:
        front = tls_forwarder(plain_port, tls_material.expired_cert, tls_material.expired_key)
        backend = backend_at(front.url, ca_file=str(tls_material.ca_cert))
    run = check(one_shot(backend), tmp_path)
    if case in ("right CA", "insecure_skip_verify"):
        expect(run, "ready")
    else:
        row = expect(run, "failed", "unreachable")
        assert TLS_WORDS.search(row["detail"]), row
