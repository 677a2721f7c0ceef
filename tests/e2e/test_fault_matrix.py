"""The fault matrix: every driver taken through every fault its storage can
have, from ready to failed and back, with the reason, the number of attempts,
the time to detect and to recover asserted for each cell; the whole matrix
is printed as a table at the end of the run (conftest's terminal summary).

One backup-gate process per driver, with one backend per fault, all faults
at once: healthy -> every fault injected -> held -> every fault cleared. So
the matrix also shows that faults stay in their backend: /readyz keeps
answering at once and the threads and memory of the process stay flat while
a dozen backends misbehave side by side.

How each fault is made (object-store drivers): every backend talks to the
real server (Swift all-in-one for s3 and swift, Azurite for azure_blob)
through its own FaultProxy (peers.netfaults), which passes bytes through
unchanged until told otherwise:
- down: the proxy's accept queue is kept full so new SYNs are dropped, as
  for a host that is gone, and established connections go silent;
- refused: nothing listens (established connections are reset);
- blackhole: connections accepted, requests read, nothing answered;
- slow under / over the timeout: every answer of the real server is
  delayed by 70% / 125% of the check timeout;
- DNS: the endpoint's host name is in a private /etc/hosts (a mount
  namespace of the gate's own, so root is needed) and removed from it; the
  resolver then answers as it does for any unknown name;
- wrong CA / expired certificate: the TLS front switches to a certificate
  of an unrelated CA / to one that expired in 2020;
- 404: the bucket or container is really deleted on the server (and
  created again to recover);
- 401/403, 500, 503 and flapping: the real servers cannot be made to answer
  these on demand, so the proxy answers instead of them, with the status,
  headers and error body the real service documents (S3 InvalidAccessKeyId,
  AccessDenied, InternalError, SlowDown; Swift 401/403/500/503; Azure
  AuthenticationFailed, AuthorizationPermissionMismatch, InternalError,
  ServerBusy). Wrong credentials and missing permissions against the real
  servers are in test_s3/test_swift/test_azure_blob.
posix runs as an unprivileged user in a mount namespace with small tmpfs
mounts, so a full disk and a read-only remount are real; exec runs a script
whose behaviour the test rewrites.

Thresholds are 2 failures / 2 successes, so every cell also proves the
count: a backend fails after exactly two failed attempts in a row and comes
back after exactly two passes; a flapping storage that fails every other
check never takes the pod out of rotation.
"""

import os
import pathlib
import re
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from peers import gatekit as gk
from peers import netfaults
from peers.netfaults import http_answer

SLOWDOWN = float(os.environ.get("BGATE_SLOWDOWN", "1"))
MEMORY_CHECKED = os.environ.get("BGATE_SANITIZED") != "1"
IS_ROOT = os.geteuid() == 0

INTERVAL, TIMEOUT, RETRY_MAX = 1.0, 2.0, 0.5
FAILURES, SUCCESSES = 2, 2
CHECK = {"interval": "1s", "timeout": "2s", "failure_threshold": FAILURES,
         "success_threshold": SUCCESSES, "retry": {"initial": "200ms", "max": "500ms"}}
UNDER, OVER = 0.7 * TIMEOUT, 1.25 * TIMEOUT
# Ready -> failed: an attempt that started just before the fault may still
# pass (<= timeout), the next starts within the interval and fails by its
# deadline, then each further failure within retry.max + timeout.
DETECT_BOUND = TIMEOUT + INTERVAL + TIMEOUT + (FAILURES - 1) * (RETRY_MAX + TIMEOUT)
# Failed -> ready: the attempt in flight may still fail (<= timeout), the
# next starts within retry.max, then each further pass within
# max(interval, retry.max) + timeout.
RECOVER_BOUND = TIMEOUT + RETRY_MAX + TIMEOUT + (SUCCESSES - 1) * (INTERVAL + TIMEOUT)
SLACK = 1.5 * SLOWDOWN
HOLD = DETECT_BOUND + SLACK  # how long every fault is held
FAULT_HOST = "fault-dns.backup-gate.test"

# Rows of the printed table, filled by every driver's run.
MATRIX = []


class Cell:
    """One fault of one driver: its backend, how to make and clear the
    fault, and what the gate must show: ("failed", reason) or ("ready",
    None) for faults the thresholds must absorb."""

    def __init__(self, fault, label, backend, inject, clear, expect, reason=None, note="",
                 detail=None):
        self.fault, self.label, self.backend = fault, label, backend
        self.detail = detail  # a pattern the failure's detail must match
        self.name = backend["name"]
        self.inject, self.clear = inject, clear
        self.expect, self.reason, self.note = expect, reason, note
        self.detected = self.recovered = None
        self.seen_reason = None
        self.attempts_to_fail = self.attempts_to_recover = None


# -- observing the gate ------------------------------------------------------

VERBOSE_LINE = re.compile(r"^\[([+-])\](\S+) (?:ok|failed: (\w+))", re.MULTILINE)


def verbose_states(gate):
    """{name: (ok, reason)} from /readyz?verbose, and the request's latency."""
    start = time.monotonic()
    _, _, body = gate.get("/readyz?verbose")
    took = time.monotonic() - start
    return {m.group(2): (m.group(1) == "+", m.group(3)) for m in VERBOSE_LINE.finditer(body)}, took


def attempts_of(gate, name, since_attempt=0):
    """[(attempt number, ok, reason, seconds)] from the debug log, in order."""
    out = []
    for e in gate.events(event="attempt", backend=name):
        if e["attempt"] > since_attempt:
            out.append((e["attempt"], e["msg"] == "check passed", e.get("reason"),
                        e.get("duration", 0.0)))
    return out


def transitions_of(gate, name):
    return [(e["from"], e["to"], e["attempt"], e.get("reason"), e.get("detail", ""))
            for e in gate.events(event="transition", backend=name)]


def run_matrix(gate, driver, cells, config_text=None, config_path=None, wrapper=()):
    """Runs one driver's cells in one gate; asserts every cell and adds its
    rows to MATRIX."""
    args = ["--log-level", "debug"]
    if config_path is not None:
        args += ["--config", str(config_path)]
    g = gate(config_text, extra_args=args, wrapper=wrapper)
    names = [c.name for c in cells]
    end = time.monotonic() + 30 * SLOWDOWN
    states = {}
    while time.monotonic() < end:
        states, _ = verbose_states(g)
        if all(states.get(n, (False,))[0] for n in names):
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"not all ready before the faults: {states}\n{g.log_text()}")
    time.sleep(INTERVAL)  # one more round of checks with everything healthy
    pid = g.proc.pid
    threads_before, rss_before = gk.threads_of(pid), gk.rss_bytes(pid) / 2**20
    healthy_transitions = {n: len(transitions_of(g, n)) for n in names}
    healthy_end_attempt = {n: max([a[0] for a in attempts_of(g, n)] or [0]) for n in names}

    # Every fault at once.
    for cell in cells:
        cell.inject()
    injected = time.monotonic()
    latencies, threads, rss = [], [], []
    while time.monotonic() - injected < HOLD:
        states, took = verbose_states(g)
        latencies.append(took)
        threads.append(gk.threads_of(pid))
        rss.append(gk.rss_bytes(pid) / 2**20)
        now = time.monotonic() - injected
        for cell in cells:
            ok, reason = states.get(cell.name, (True, None))
            if not ok and cell.detected is None:
                cell.detected, cell.seen_reason = now, reason
        time.sleep(0.05)
    fault_end_attempt = {n: max([a[0] for a in attempts_of(g, n)] or [0]) for n in names}
    assert g.proc.poll() is None, "backup-gate died under the faults:\n" + g.log_text()
    assert g.get("/livez")[0] == 200

    # Every fault cleared.
    for cell in cells:
        cell.clear()
    cleared = time.monotonic()
    limit = RECOVER_BOUND + SLACK + 5
    while time.monotonic() - cleared < limit:
        states, took = verbose_states(g)
        latencies.append(took)
        now = time.monotonic() - cleared
        for cell in cells:
            if cell.recovered is None and cell.detected is not None \
                    and states.get(cell.name, (False,))[0]:
                cell.recovered = now
        if all(c.recovered is not None for c in cells if c.detected is not None):
            break
        time.sleep(0.05)
    time.sleep(INTERVAL)
    threads_after, rss_after = gk.threads_of(pid), gk.rss_bytes(pid) / 2**20
    assert g.get("/readyz")[0] == 200, g.get("/readyz?verbose")[2]

    # The counts, from the attempts the gate logged.
    failures = []
    for cell in cells:
        moves = transitions_of(g, cell.name)[healthy_transitions[cell.name]:]
        attempts = attempts_of(g, cell.name)
        by_number = {a: (ok, reason, took) for a, ok, reason, took in attempts}
        window = [by_number[a] for a in sorted(by_number)
                  if healthy_end_attempt[cell.name] + 1 < a <= fault_end_attempt[cell.name]]
        try:
            check_cell(cell, moves, by_number, window)
        except AssertionError as exc:
            failures.append(f"{driver}/{cell.fault}: {exc}")
        MATRIX.append(row(driver, cell, moves))

    p99 = sorted(latencies)[int(0.99 * (len(latencies) - 1))]
    MATRIX.append((driver, "(the process)", "", "", "", "", "", "",
                   f"/readyz?verbose max {max(latencies) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms; "
                   f"threads {threads_before} -> max {max(threads)} -> {threads_after}; "
                   f"RSS {rss_before:.1f} -> max {max(rss):.1f} -> {rss_after:.1f} MiB"))
    assert not failures, "\n".join(failures) + "\n" + g.log_text()[-20000:]
    # Faults stay in their backend: the probe answers at once, no thread
    # per attempt or connection, no memory that grows with the faults.
    assert max(latencies) < 0.5 * SLOWDOWN, sorted(latencies)[-5:]
    assert max(threads) <= threads_before + 2, (threads_before, threads)
    assert threads_after <= threads_before + 1, (threads_before, threads_after)
    if MEMORY_CHECKED:
        assert max(rss) - rss_before < 16, (rss_before, max(rss))
    return g


def check_cell(cell, moves, by_number, window):
    """`window`: the attempts that started under the fault, (ok, reason,
    seconds) in order."""
    if cell.expect == "ready":
        assert cell.detected is None and not moves, \
            f"expected to stay ready, saw {cell.seen_reason} and {moves}"
        assert len(window) >= 2, f"too few checks under the fault: {window}"
        failed = [r for ok, r, _ in window if not ok]
        if cell.fault == "flapping":
            # The fault was there (failed checks) and the threshold held.
            assert len(failed) >= 2 and set(failed) == {"error"}, \
                f"flapping should fail every other check with error: {window}"
            run = longest = 0
            for ok, _, _ in window:
                run = 0 if ok else run + 1
                longest = max(longest, run)
            assert longest < FAILURES, f"{longest} failures in a row: {window}"
        else:
            # Slow but in time: every check took the delay, and passed.
            assert not failed, f"failed checks under a fault it should absorb: {window}"
            assert min(took for _, _, took in window) >= 0.95 * UNDER, \
                f"checks faster than the delay: {window}"
        return
    assert cell.detected is not None, "never failed"
    assert cell.seen_reason == cell.reason, f"reason {cell.seen_reason}, expected {cell.reason}"
    assert cell.detected <= DETECT_BOUND + SLACK, \
        f"failed after {cell.detected:.2f}s, bound {DETECT_BOUND}s"
    assert cell.recovered is not None, "never recovered"
    assert cell.recovered <= RECOVER_BOUND + SLACK, \
        f"recovered after {cell.recovered:.2f}s, bound {RECOVER_BOUND}s"
    down = [m for m in moves if m[1] == "failed"]
    up = [m for m in moves if m[1] == "ready"]
    assert len(down) == 1 and len(up) == 1, f"transitions {moves}"
    assert down[0][0] == "ready" and down[0][3] == cell.reason, f"transitions {moves}"
    if cell.detail:
        assert re.search(cell.detail, down[0][4], re.IGNORECASE), f"detail {down[0][4]!r}"
    # Exactly FAILURES failed attempts in a row, after a pass.
    n = down[0][2]
    tail = [by_number.get(a) for a in range(n - FAILURES, n + 1)]
    assert tail[0] is not None and tail[0][0], f"attempt {n - FAILURES} before the run: {tail}"
    assert all(t is None or t[1] in (None, cell.reason) for t in tail), \
        f"other reasons on the way: {tail}"
    assert all(t is not None and not t[0] for t in tail[1:]), f"attempts up to {n}: {tail}"
    cell.attempts_to_fail = FAILURES
    m = up[0][2]
    tail = [by_number.get(a) for a in range(m - SUCCESSES, m + 1)]
    assert tail[0] is not None and not tail[0][0], f"attempt {m - SUCCESSES}: {tail}"
    assert all(t is not None and t[0] for t in tail[1:]), f"attempts up to {m}: {tail}"
    cell.attempts_to_recover = SUCCESSES


def row(driver, cell, moves):
    state = "failed" if cell.detected is not None else "ready"
    expect = cell.expect if cell.expect == "ready" else f"failed: {cell.reason}"
    return (driver, cell.label, expect, state, cell.seen_reason or "-",
            "-" if cell.detected is None else f"{cell.detected:.2f}",
            "-" if cell.recovered is None else f"{cell.recovered:.2f}",
            "-" if cell.attempts_to_fail is None else f"{cell.attempts_to_fail} / "
            f"{cell.attempts_to_recover}", cell.note)


def matrix_table():
    head = ("driver", "fault", "expected", "state", "reason", "detected (s)", "recovered (s)",
            "attempts fail/recover", "how")
    rows = [head] + [tuple(str(v) for v in r) for r in MATRIX]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = [f"fault matrix (interval {INTERVAL:g}s, timeout {TIMEOUT:g}s, retry.max "
             f"{RETRY_MAX:g}s, thresholds {FAILURES}/{SUCCESSES}; detection bound "
             f"{DETECT_BOUND:g}s, recovery bound {RECOVER_BOUND:g}s)"]
    for r in rows:
        lines.append("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())
    return "\n".join(lines)


# -- object-store drivers ----------------------------------------------------

def s3_errors():
    def xml(code, message):
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                f"<Message>{message}</Message><RequestId>fault-proxy</RequestId></Error>").encode()
    ct = ("Content-Type: application/xml",)
    return {
        "auth": http_answer(403, "Forbidden", xml(
            "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our "
            "records."), ct),
        "permission": http_answer(403, "Forbidden", xml("AccessDenied", "Access Denied"), ct),
        "500": http_answer(500, "Internal Server Error", xml(
            "InternalError", "We encountered an internal error. Please try again."), ct),
        "503": http_answer(503, "Slow Down", xml("SlowDown", "Please reduce your request rate."),
                           ct),
    }


def swift_errors():
    def html(title, text):
        return f"<html><h1>{title}</h1><p>{text}</p></html>".encode()
    ct = ("Content-Type: text/html; charset=UTF-8",)
    return {
        "auth": http_answer(401, "Unauthorized", html(
            "Unauthorized", "This server could not verify that you are authorized to access "
            "the document you requested."), ct + ("Www-Authenticate: Swift realm=\"AUTH_test\"",)),
        "permission": http_answer(403, "Forbidden", html(
            "Forbidden", "Access was denied to this resource."), ct),
        "500": http_answer(500, "Internal Error", html(
            "Internal Error", "The server has either erred or is incapable of performing the "
            "requested operation."), ct),
        "503": http_answer(503, "Service Unavailable", html(
            "Service Unavailable", "The server is currently unavailable. Please try again at a "
            "later time."), ct),
    }


def azure_errors():
    def xml(code, message):
        return (f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code>'
                f"<Message>{message}\nRequestId:fault-proxy</Message></Error>").encode()

    def answer(status, reason, code, message):
        return http_answer(status, reason, xml(code, message),
                           ("Content-Type: application/xml", f"x-ms-error-code: {code}"))
    return {
        "auth": answer(403, "Server failed to authenticate the request.", "AuthenticationFailed",
                       "Server failed to authenticate the request. Make sure the value of "
                       "Authorization header is formed correctly including the signature."),
        "permission": answer(403, "This request is not authorized to perform this operation "
                             "using this permission.", "AuthorizationPermissionMismatch",
                             "This request is not authorized to perform this operation using "
                             "this permission."),
        "500": answer(500, "Internal Server Error", "InternalError",
                      "The server encountered an internal error. Please retry the request."),
        "503": answer(503, "Server Busy", "ServerBusy",
                      "The server is currently unable to receive requests. Please retry your "
                      "request."),
    }


class PrivateHosts:
    """An /etc/hosts for the gate's own mount namespace (bind-mounted over
    the real one by `wrapper`), where FAULT_HOST can be added and removed;
    the resolver reads it afresh on every lookup."""

    def __init__(self, directory):
        self.path = pathlib.Path(directory) / "hosts"
        self.base = pathlib.Path("/etc/hosts").read_text()
        self.add()
        self.wrapper = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                        'mount --bind "$0" /etc/hosts && exec "$@"', str(self.path)]

    def _write(self, text):
        # In place: the bind mount holds this inode.
        with open(self.path, "r+" if self.path.exists() else "w") as f:
            f.seek(0)
            f.truncate()
            f.write(text)

    def add(self):
        self._write(self.base.rstrip("\n") + f"\n127.0.0.1 {FAULT_HOST}\n")

    def remove(self):
        self._write(self.base)


def resolver_answers_fast():
    """The reason an unknown name gets depends on the resolver: an answer
    (NXDOMAIN, or no server reachable) is `unreachable`; a resolver that
    does not answer in time makes it `timeout`."""
    start = time.monotonic()
    try:
        socket.getaddrinfo(FAULT_HOST, 80)
    except socket.gaierror:
        pass
    return time.monotonic() - start < TIMEOUT / 2


class ObjectStoreMatrix:
    """The cells of one object-store driver. `keys(url)` gives the driver's
    keys for a proxy URL (besides name, driver, the store and ca_file);
    `store_key` names the key of the bucket/container, made on the real
    server with `create_store(name)` and removed with `delete_store(name)`.
    `upstream` is the real server's plain port and `tls_upstream` the one
    the TLS cells front (with `upstream_tls`: the peer speaks TLS there)."""

    def __init__(self, driver, prefix, keys, store_key, create_store, delete_store, upstream,
                 errors, listing, tls_material, tmp, unique_name, tls_upstream=None,
                 upstream_tls=False):
        self.driver, self.prefix, self.keys = driver, prefix, keys
        self.store_key = store_key
        self.create_store, self.delete_store = create_store, delete_store
        self.upstream, self.errors, self.listing = upstream, errors, listing
        self.tls = tls_material
        self.tls_upstream = tls_upstream or upstream
        self.upstream_tls = upstream_tls
        self.unique_name = unique_name
        self.stores = []
        self.proxies = []
        self.hosts = PrivateHosts(tmp) if IS_ROOT else None

    def make_backend(self, fault, url, tls):
        store = self.unique_name("fm")
        self.create_store(store)
        self.stores.append(store)
        backend = {"name": f"{self.prefix}-{fault}", "driver": self.driver,
                   self.store_key: store, "prefix": "gate/", **self.keys(f"{self.prefix}-{fault}", url)}
        if tls:
            backend["ca_file"] = str(self.tls.ca_cert)
        return backend

    def run(self, gate):
        try:
            cells = self.cells()
            if self.hosts is None:
                print("fault matrix: the DNS cell needs root (a private /etc/hosts); left out")
            run_matrix(gate, self.driver, cells,
                       gk.config(*[c.backend for c in cells], check=CHECK),
                       wrapper=self.hosts.wrapper if self.hosts is not None else ())
        finally:
            for p in self.proxies:
                p.stop()
            for store in self.stores:
                self.delete_store(store)

    def proxy(self, tls=False):
        if tls:
            p = netfaults.FaultProxy(self.tls_upstream,
                                     tls=(self.tls.server_cert, self.tls.server_key),
                                     upstream_tls=self.upstream_tls)
        else:
            p = netfaults.FaultProxy(self.upstream)
        self.proxies.append(p)
        return p

    def cell(self, fault, label, mode, expect, reason=None, note="proxy", tls=False,
             detail=None, **params):
        p = self.proxy(tls=tls)
        backend = self.make_backend(fault, p.url, tls)
        return Cell(fault, label, backend, lambda: p.set(mode, **params),
                    lambda: p.set("forward"), expect, reason, note, detail)

    def cells(self):
        e = self.errors
        out = [
            self.cell("down", "server down (SYNs dropped)", "down", "failed", "timeout",
                      "accept queue full"),
            self.cell("refused", "connection refused", "refused", "failed", "unreachable",
                      "port not listening"),
            self.cell("blackhole", "blackhole", "blackhole", "failed", "timeout",
                      "accepts, never answers"),
            self.cell("slow-under", f"slow, {UNDER:g}s < timeout", "delay", "ready",
                      note="real answers delayed", seconds=UNDER),
            self.cell("slow-over", f"slow, {OVER:g}s > timeout", "delay", "failed", "timeout",
                      "real answers delayed", seconds=OVER),
            self.cell("wrong-ca", "TLS, wrong CA", "cert", "failed", "unreachable",
                      "certificate of another CA", tls=True, detail="certificate verify failed",
                      cert=self.tls.foreign_cert,
                      key=self.tls.foreign_key),
            self.cell("expired-cert", "TLS, expired certificate", "cert", "failed",
                      "unreachable", "certificate expired in 2020", tls=True,
                      detail="certificate has expired",
                      cert=self.tls.expired_cert, key=self.tls.expired_key),
            self.cell("auth", "401/403 credentials refused", "answer", "failed", "auth",
                      "injected: " + first_line(e["auth"]), response=e["auth"]),
            self.cell("forbidden", "403 permission", "answer", "failed", "permission",
                      "injected: " + first_line(e["permission"]), response=e["permission"]),
            self.cell("error-500", "500 from the server", "answer", "failed", "error",
                      "injected: " + first_line(e["500"]), response=e["500"]),
            self.cell("error-503", "503 from the server", "answer", "failed", "error",
                      "injected: " + first_line(e["503"]), response=e["503"]),
            self.cell("flapping", "flapping (every other check 503)", "flap", "ready",
                      note="injected, listing only", response=e["503"], match=self.listing),
        ]
        # 404: the bucket/container is deleted on the real server.
        p = self.proxy()
        missing = self.make_backend("not-found", p.url, False)
        store = missing[self.store_key]
        out.append(Cell("not-found", "404 bucket/container", missing,
                        lambda: self.delete_store(store), lambda: self.create_store(store),
                        "failed", "not_found", "deleted on the server"))
        if self.hosts is not None:
            p = self.proxy()
            fast = resolver_answers_fast()
            url = p.url.replace("127.0.0.1", FAULT_HOST)

            def unresolvable(p=p):
                # A pooled connection needs no lookup: drop it, as a server
                # that moved away would.
                self.hosts.remove()
                p.drop_connections()
            out.append(Cell("dns", "DNS name does not resolve", self.make_backend("dns", url, False),
                            unresolvable, self.hosts.add, "failed",
                            "unreachable" if fast else "timeout",
                            "removed from /etc/hosts" + ("" if fast else
                                                         "; this resolver does not answer"),
                            detail="cannot resolve host" if fast else None))
        return out


def first_line(response):
    """How an injected answer shows in the table: status and error code."""
    status = response.split(b"\r\n", 1)[0].split(b" ")[1].decode()
    code = re.search(rb"<Code>(\w+)</Code>", response)
    return f"{status} {code.group(1).decode()}" if code else f"{status} (Swift)"


def test_s3_fault_matrix(gate, swift, tls_material, tmp_path, unique_name):
    def keys(name, url):
        return {"endpoint": url, "region": swift.region, "path_style": True,
                "access_key_id_file": gk.write_secret(tmp_path / f"{name}-id",
                                                      swift.s3_access_key),
                "secret_access_key_file": gk.write_secret(tmp_path / f"{name}-secret",
                                                          swift.s3_secret_key)}
    ObjectStoreMatrix("s3", "s3", keys, "bucket", swift.create_bucket, swift.delete_bucket,
                      swift.proxy_port, s3_errors(), b"list-type=2", tls_material, tmp_path,
                      unique_name).run(gate)


def test_swift_fault_matrix(gate, swift, tls_material, tmp_path, unique_name):
    def keys(name, url):
        return {"auth_url": f"{url}/auth/v1.0", "auth_version": 1, "username": swift.user,
                "password_file": gk.write_secret(tmp_path / f"{name}-password", swift.key)}
    # The TLS cells front Swift's own TLS proxy, whose tempauth hands out
    # https storage URLs (for the proxy's address: the Host header).
    ObjectStoreMatrix("swift", "swift", keys, "container", swift.create_container,
                      swift.delete_container, swift.proxy_port, swift_errors(), b"format=json",
                      tls_material, tmp_path, unique_name, tls_upstream=swift.tls_proxy_port,
                      upstream_tls=True).run(gate)


def test_azure_blob_fault_matrix(gate, azurite, tls_material, tmp_path, unique_name):
    def keys(name, url):
        return {"account": azurite.account, "endpoint": azurite.endpoint_for(url),
                "account_key_file": gk.write_secret(tmp_path / f"{name}-key", azurite.key)}
    ObjectStoreMatrix("azure_blob", "azure", keys, "container", azurite.create_container,
                      azurite.delete_container, azurite.port, azure_errors(), b"comp=list",
                      tls_material, tmp_path, unique_name).run(gate)


# -- posix ---------------------------------------------------------------------

POSIX_USER = 65534  # as in a pod: not root, so permissions count


@pytest.mark.skipif(not IS_ROOT or shutil.which("unshare") is None
                    or shutil.which("nsenter") is None or shutil.which("setpriv") is None,
                    reason="the posix matrix mounts small tmpfs file systems in a mount "
                    "namespace of its own: needs root, unshare, nsenter and setpriv")
def test_posix_fault_matrix(gate):
    work = pathlib.Path(tempfile.mkdtemp(prefix="bgate-posix-matrix-"))
    try:
        work.chmod(0o755)
        full, readonly = work / "full", work / "readonly"
        plain = work / "plain"
        for d in (full, readonly, plain):
            d.mkdir()
        missing = plain / "missing"
        denied = plain / "denied"
        for d in (missing, denied):
            d.mkdir()
        os.chown(plain, POSIX_USER, POSIX_USER)
        for d in (missing, denied):
            os.chown(d, POSIX_USER, POSIX_USER)
        gone = plain / "missing.away"
        pid = {}

        def inside(path):
            # The gate's view of its mount namespace.
            return pathlib.Path(f"/proc/{pid['gate']}/root") / str(path).lstrip("/")

        def fill():
            with open(inside(full / "filler"), "wb") as f:
                try:
                    while True:
                        f.write(b"\0" * 65536)
                        f.flush()
                except OSError:
                    pass

        def nsenter(*argv):
            subprocess.run(["nsenter", "-t", str(pid["gate"]), "-m", *argv], check=True,
                           capture_output=True, timeout=10)

        def backend(name, path):
            return {"name": f"posix-{name}", "driver": "posix", "path": str(path),
                    "write_probe": True}

        cells = [
            Cell("missing", "path missing (volume gone)", backend("missing", missing),
                 lambda: missing.rename(gone), lambda: gone.rename(missing), "failed",
                 "not_found", "directory renamed away"),
            Cell("permission", "permission denied", backend("denied", denied),
                 lambda: denied.chmod(0o000), lambda: denied.chmod(0o755), "failed",
                 "permission", "chmod 000, gate not root"),
            Cell("disk-full", "disk full", backend("full", full), fill,
                 lambda: inside(full / "filler").unlink(), "failed", "no_space",
                 "1 MiB tmpfs filled"),
            Cell("read-only", "read-only file system", backend("readonly", readonly),
                 lambda: nsenter("mount", "-o", "remount,ro", str(readonly)),
                 lambda: nsenter("mount", "-o", "remount,rw", str(readonly)), "failed",
                 "permission", "tmpfs remounted ro (EROFS)"),
        ]
        config = work / "gate.yaml"
        config.write_text(gk.config(*[c.backend for c in cells], check=CHECK))
        config.chmod(0o644)
        wrapper = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                   'mount -t tmpfs -o size=1m,mode=0777 bgate-full "$0" && '
                   'mount -t tmpfs -o size=1m,mode=0777 bgate-readonly "$1" && shift && '
                   f'exec setpriv --reuid={POSIX_USER} --regid={POSIX_USER} --clear-groups "$@"',
                   str(full), str(readonly)]

        def started(config_text, extra_args, wrapper):
            g = gate(config_text, extra_args=extra_args, wrapper=wrapper, cwd=work)
            pid["gate"] = g.proc.pid
            return g

        run_matrix(started, "posix", cells, config_path=config, wrapper=wrapper)
    finally:
        subprocess.run(["chmod", "-R", "u+rwx", str(work)], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


# -- exec ----------------------------------------------------------------------

def test_exec_fault_matrix(gate, tmp_path):
    """exec runs whatever the user wrote; its faults are the command's:
    hanging, slow, failing, flapping. The script each check runs is
    rewritten by the test (write, then rename)."""

    def script(name, body):
        path = tmp_path / f"{name}.sh"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(body + "\n")
        os.replace(tmp, path)

    def cell(fault, label, body, expect, reason=None, note=""):
        name = f"exec-{fault}"
        script(name, "exit 0")
        backend = {"name": name, "driver": "exec", "command": ["/bin/sh", str(tmp_path / f"{name}.sh")]}
        return Cell(fault, label, backend, lambda: script(name, body),
                    lambda: script(name, "exit 0"), expect, reason, note)

    counter = tmp_path / "flap-count"
    counter.write_text("0")
    cells = [
        cell("hang", "command hangs", "exec sleep 3600", "failed", "timeout", "sleep 3600"),
        cell("slow-under", f"slow, {UNDER:g}s < timeout", f"sleep {UNDER}", "ready",
             note=f"sleep {UNDER}"),
        cell("slow-over", f"slow, {OVER:g}s > timeout", f"sleep {OVER}", "failed", "timeout",
             f"sleep {OVER}"),
        cell("fails", "command fails", "echo 'storage said no' >&2; exit 3", "failed", "error",
             "exit 3"),
        cell("flapping", "flapping (every other check fails)",
             f'n=$(cat {counter}); echo $((n + 1)) > {counter}; [ $((n % 2)) -eq 1 ]',
             "ready", note="exit 1 every other run"),
    ]
    run_matrix(gate, "exec", cells, gk.config(*[c.backend for c in cells], check=CHECK))
