"""OpenStack Swift all-in-one on 127.0.0.1: one replica, one device, its own
memcached, and a proxy with tempauth and s3api, so the same server backs the
`swift` driver (tempauth v1) and the `s3` driver (SigV4). A second proxy on
the same rings speaks TLS."""

import http.client
import json
import os
import pwd
import pathlib
import secrets
import shutil
import ssl
import subprocess
import time
import urllib.parse

from . import procs, sigv4

COMMANDS = ["swift-ring-builder", "swift-proxy-server", "swift-account-server",
            "swift-container-server", "swift-object-server", "memcached"]
INSTALL_HINT = "bash scripts/peers-deps.sh"

PIPELINE = ("catch_errors gatekeeper healthcheck proxy-logging cache listing_formats "
            "s3api tempauth copy slo dlo proxy-logging proxy-server")

ACCOUNT = "test"


class SwiftError(RuntimeError):
    pass


class SwiftAllInOne:
    """Starts memcached, the account, container and object servers, a plain
    proxy and a TLS proxy, each on a free port.

    Credentials (fresh random keys every run, so a leak test can look for
    them without false positives):
    - `user`/`key`: `test:tester`, an admin of account AUTH_test;
    - `reader_user`/`reader_key`: `test:reader`, same account, no rights
      unless a container ACL grants some (the `permission` cases);
    - over S3 the access key is the user name and the secret its key.
    """

    def __init__(self, workdir, tls_cert=None, tls_key=None):
        self.dir = pathlib.Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.devices = self.dir / "devices"
        (self.devices / "d1").mkdir(parents=True, exist_ok=True)
        self.logs = self.dir / "logs"
        self.logs.mkdir(exist_ok=True)
        self.user = f"{ACCOUNT}:tester"
        self.key = "swk-" + secrets.token_hex(12)
        self.reader_user = f"{ACCOUNT}:reader"
        self.reader_key = "swr-" + secrets.token_hex(12)
        self.region = "us-east-1"
        self.tls_cert = tls_cert
        self.tls_key = tls_key
        self.memcached_port = procs.free_port()
        self.ports = {kind: procs.free_port() for kind in ("account", "container", "object")}
        self.proxy_port = procs.free_port()
        self.tls_proxy_port = procs.free_port() if tls_cert else None
        self._procs = {}
        self._token = None

    # -- addresses ---------------------------------------------------------

    @property
    def url(self):
        return f"http://127.0.0.1:{self.proxy_port}"

    @property
    def auth_url(self):
        """tempauth v1 endpoint of the plain proxy."""
        return f"{self.url}/auth/v1.0"

    @property
    def storage_url(self):
        return f"{self.url}/v1/AUTH_{ACCOUNT}"

    @property
    def s3_endpoint(self):
        return self.url

    @property
    def s3_access_key(self):
        return self.user

    @property
    def s3_secret_key(self):
        return self.key

    @property
    def tls_url(self):
        return f"https://127.0.0.1:{self.tls_proxy_port}"

    @property
    def tls_auth_url(self):
        return f"{self.tls_url}/auth/v1.0"

    @property
    def tls_s3_endpoint(self):
        return self.tls_url

    # -- life cycle --------------------------------------------------------

    def start(self):
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self):
        memcached = ["memcached", "-l", "127.0.0.1", "-p", str(self.memcached_port),
                     "-U", "0", "-m", "32"]
        if os.getuid() == 0:
            memcached += ["-u", "root"]  # it refuses to run as root otherwise
        self._spawn("memcached", memcached)
        self._build_rings()
        for kind in ("account", "container", "object"):
            conf = self._write_backend_conf(kind)
            self._spawn(kind, [f"swift-{kind}-server", str(conf), "-v"])
        self._write_proxy_conf("proxy", self.proxy_port, scheme="http")
        if self.tls_proxy_port:
            self._write_proxy_conf("tls-proxy", self.tls_proxy_port, scheme="https",
                                   cert=self.tls_cert, key=self.tls_key)
        self._spawn_proxy()
        if self.tls_proxy_port:
            self._spawn("tls-proxy", ["swift-proxy-server",
                                      str(self.dir / "tls-proxy-server.conf"), "-v"])
        self._wait_proxy()
        if self.tls_proxy_port:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            procs.wait_until(lambda: self._healthy(self.tls_url, context), 30,
                             "swift TLS proxy", diagnostics=lambda: self._diagnostics("tls-proxy"))
        for kind, port in [("memcached", self.memcached_port), *self.ports.items()]:
            procs.wait_until(lambda p=port: procs.port_accepts(p), 20, f"swift {kind}",
                             diagnostics=lambda k=kind: self._diagnostics(k))
        # The first requests after start can still get 503 while the backends
        # settle: prove the whole chain once with a container round trip.
        self.create_container("warmup")
        self.delete_container("warmup")

    def _spawn(self, name, argv):
        self._procs[name] = procs.ManagedProcess(argv, self.logs / f"{name}.log")
        return self._procs[name]

    def _build_rings(self):
        # One interpreter builds the three rings with Swift's own RingBuilder
        # (the one swift-ring-builder runs): three CLI calls per ring cost
        # seconds of start-up each on a busy machine.
        devices = {kind: {"region": 1, "zone": 1, "ip": "127.0.0.1", "port": port,
                          "device": "d1", "weight": 100}
                   for kind, port in self.ports.items()}
        script = (
            "import json, sys\n"
            "from swift.common.ring import RingBuilder\n"
            "for kind, dev in json.loads(sys.argv[1]).items():\n"
            "    b = RingBuilder(6, 1, 1)\n"
            "    b.add_dev(dev)\n"
            "    b.rebalance()\n"
            "    b.save(kind + '.builder')\n"
            "    b.get_ring().save(kind + '.ring.gz')\n")
        done = subprocess.run([_swift_python(), "-c", script, json.dumps(devices)],
                              cwd=self.dir, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise SwiftError(f"building the rings failed:\n{done.stdout}{done.stderr}")

    def _common_conf(self, port):
        return (f"[DEFAULT]\nbind_ip = 127.0.0.1\nbind_port = {port}\nworkers = 0\n"
                f"user = {_user()}\nswift_dir = {self.dir}\ndevices = {self.devices}\n"
                "mount_check = false\nlog_level = INFO\n")

    def _write_backend_conf(self, kind):
        conf = self.dir / f"{kind}-server.conf"
        conf.write_text(self._common_conf(self.ports[kind]) +
                        f"\n[pipeline:main]\npipeline = {kind}-server\n\n"
                        f"[app:{kind}-server]\nuse = egg:swift#{kind}\n")
        return conf

    def _write_proxy_conf(self, name, port, scheme, cert=None, key=None):
        tls = f"cert_file = {cert}\nkey_file = {key}\n" if cert else ""
        filters = "".join(
            f"\n[filter:{f}]\nuse = egg:swift#{f}\n"
            for f in ("catch_errors", "gatekeeper", "healthcheck", "listing_formats",
                      "copy", "slo", "dlo"))
        conf = self.dir / f"{name}-server.conf"
        conf.write_text(
            self._common_conf(port) + tls +
            f"\n[pipeline:main]\npipeline = {PIPELINE}\n"
            "\n[app:proxy-server]\nuse = egg:swift#proxy\naccount_autocreate = true\n"
            "\n[filter:tempauth]\nuse = egg:swift#tempauth\n"
            f"user_test_tester = {self.key} .admin\n"
            f"user_test_reader = {self.reader_key}\n"
            f"storage_url_scheme = {scheme}\n"
            f"\n[filter:s3api]\nuse = egg:swift#s3api\nlocation = {self.region}\n"
            f"\n[filter:cache]\nuse = egg:swift#memcache\n"
            f"memcache_servers = 127.0.0.1:{self.memcached_port}\n"
            "\n[filter:proxy-logging]\nuse = egg:swift#proxy_logging\n" + filters)
        return conf

    def _diagnostics(self, name):
        p = self._procs.get(name)
        if p is None:
            return ""
        state = "running" if p.alive() else f"exited {p.proc.returncode}"
        return f"--- {name} ({state}) log tail:\n{p.log_tail()}"

    def _healthy(self, base, context=None):
        parsed = urllib.parse.urlsplit(base)
        if parsed.scheme == "https":
            conn = http.client.HTTPSConnection(parsed.netloc, timeout=2, context=context)
        else:
            conn = http.client.HTTPConnection(parsed.netloc, timeout=2)
        try:
            conn.request("GET", "/healthcheck")
            return conn.getresponse().status == 200
        finally:
            conn.close()

    def start_proxy(self):
        """Starts the plain proxy (again) on its port and waits for it."""
        proxy = self._procs.get("proxy")
        if proxy is not None and proxy.alive():
            return
        self._spawn_proxy()
        self._wait_proxy()

    def _spawn_proxy(self):
        self._spawn("proxy", ["swift-proxy-server", str(self.dir / "proxy-server.conf"), "-v"])

    def _wait_proxy(self):
        procs.wait_until(lambda: self._healthy(self.url), 30, "swift proxy",
                         diagnostics=lambda: self._diagnostics("proxy"))

    def stop_proxy(self):
        """Stops the plain proxy: its port then refuses connections while the
        backends keep their data. `start_proxy()` brings it back."""
        proxy = self._procs.pop("proxy", None)
        if proxy is not None:
            proxy.stop()
        procs.wait_until(lambda: not procs.port_accepts(self.proxy_port), 10,
                         "swift proxy port closed")

    def restart_proxy(self):
        self.stop_proxy()
        self.start_proxy()

    def stop(self):
        for name in ("tls-proxy", "proxy", "object", "container", "account", "memcached"):
            p = self._procs.pop(name, None)
            if p is not None:
                p.stop()

    def log_tail(self):
        return "\n".join(self._diagnostics(n) for n in list(self._procs))

    # -- Swift API helpers (plain proxy) -----------------------------------

    def request(self, method, path, headers=None, body=b"", timeout=10):
        """A request to the plain proxy; returns (status, headers, body)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.proxy_port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def auth(self, user=None, key=None):
        """tempauth v1: returns (token, storage URL); raises on a refusal."""
        status, headers, body = self.request(
            "GET", "/auth/v1.0",
            headers={"X-Auth-User": user or self.user, "X-Auth-Key": key or self.key})
        if status != 200:
            raise SwiftError(f"tempauth answered {status}: {body[:200]!r}")
        return headers["x-auth-token"], headers["x-storage-url"]

    def _token_headers(self, extra=None):
        if self._token is None:
            self._token = self.auth()[0]
        return {"X-Auth-Token": self._token, **(extra or {})}

    def _authed(self, method, path, headers=None, body=b"", ok=(200, 201, 202, 204),
                retry_503=15.0):
        """A request with the admin token; retries 503 (the first writes after
        start) and refreshes the token once on 401."""
        end = time.monotonic() + retry_503
        refreshed = False
        while True:
            status, resp_headers, resp_body = self.request(
                method, path, headers=self._token_headers(headers), body=body)
            if status == 401 and not refreshed:
                self._token = None
                refreshed = True
                continue
            if status == 503 and time.monotonic() < end:
                time.sleep(0.2)
                continue
            if status not in ok:
                raise SwiftError(f"{method} {path} answered {status}: {resp_body[:300]!r}")
            return status, resp_headers, resp_body

    def _container_path(self, name, obj=None):
        path = f"/v1/AUTH_{ACCOUNT}/{urllib.parse.quote(name, safe='')}"
        if obj is not None:
            path += "/" + urllib.parse.quote(obj, safe="/")
        return path

    def create_container(self, name, read_acl=None, write_acl=None):
        """Creates (or updates) a container, which over S3 is a bucket."""
        headers = {}
        if read_acl is not None:
            headers["X-Container-Read"] = read_acl
        if write_acl is not None:
            headers["X-Container-Write"] = write_acl
        self._authed("PUT", self._container_path(name), headers=headers)

    create_bucket = create_container

    def list_objects(self, name):
        status, _, body = self._authed("GET", self._container_path(name) + "?format=json",
                                       ok=(200, 204))
        return [o["name"] for o in json.loads(body or b"[]")]

    def put_object(self, container, name, data=b""):
        self._authed("PUT", self._container_path(container, name), body=data)

    def delete_container(self, name):
        """Deletes a container and everything in it; a missing one is fine."""
        try:
            objects = self.list_objects(name)
        except SwiftError as exc:
            if " 404" in str(exc):
                return
            raise
        for obj in objects:
            self._authed("DELETE", self._container_path(name, obj), ok=(204, 404))
        self._authed("DELETE", self._container_path(name), ok=(204, 404))

    delete_bucket = delete_container

    def s3(self, access_key=None, secret_key=None, tls_ca=None):
        """A SigV4 client for the plain proxy, or the TLS one with `tls_ca`."""
        endpoint = self.tls_s3_endpoint if tls_ca else self.s3_endpoint
        return sigv4.S3Client(endpoint, access_key or self.s3_access_key,
                              secret_key or self.s3_secret_key, self.region, ca_file=tls_ca)


def _swift_python():
    """The interpreter Swift is installed for (the test runner's may be
    another one): the one named by swift-ring-builder's first line."""
    with open(shutil.which("swift-ring-builder"), "rb") as f:
        first = f.readline().decode("utf-8", "replace")
    if first.startswith("#!"):
        return first[2:].strip().split()[0]
    return "python3"


def _user():
    # Swift switches to `user` at start: the one running the tests.
    return pwd.getpwuid(os.getuid()).pw_name
