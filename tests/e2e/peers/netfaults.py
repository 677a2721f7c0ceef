"""Network peers that misbehave on purpose, and a TLS front for plain ones."""

import select
import selectors
import socket
import ssl
import threading
import time


class Blackhole:
    """Accepts TCP connections on 127.0.0.1 and never sends a byte, so a
    client waits until its own deadline (for TLS: in the handshake). What
    the client sends is read and dropped; `connections` records, per
    connection, when it was accepted and when the client closed it (None
    while open), so a test can tell whether a client gives up in time."""

    def __init__(self):
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        self._sock.setblocking(False)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._records = []
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._sock, selectors.EVENT_READ)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="blackhole", daemon=True)
        self._thread.start()

    @property
    def accepted(self):
        with self._lock:
            return len(self._records)

    def connections(self, since=0.0):
        """[(accepted, closed or None)] in time.monotonic() seconds, for the
        connections accepted at or after `since`."""
        with self._lock:
            return [(r[0], r[1]) for r in self._records if r[0] >= since]

    def open_count(self):
        with self._lock:
            return sum(1 for r in self._records if r[1] is None)

    def _run(self):
        while not self._stopping.is_set():
            for key, _ in self._selector.select(0.2):
                if key.fileobj is self._sock:
                    self._accept()
                else:
                    self._drain(key.fileobj, key.data)

    def _accept(self):
        try:
            conn, _ = self._sock.accept()
        except OSError:
            return
        conn.setblocking(False)
        record = [time.monotonic(), None]
        with self._lock:
            self._records.append(record)
        self._selector.register(conn, selectors.EVENT_READ, record)

    def _drain(self, conn, record):
        try:
            data = conn.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            return
        with self._lock:
            record[1] = time.monotonic()
        self._selector.unregister(conn)
        conn.close()

    def stop(self):
        self._stopping.set()
        self._thread.join(5)
        for key in list(self._selector.get_map().values()):
            key.fileobj.close()
        self._selector.close()


class RefusedPort:
    """A port that refuses connections: bound (so nothing else takes it) but
    not listening, so the kernel answers every SYN with a reset."""

    def __init__(self):
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self):
        self._sock.close()


class TlsForwarder:
    """Terminates TLS on a free 127.0.0.1 port with `cert`/`key` and passes
    the bytes on, unchanged, to the plain peer on `target_port`. The Host
    header the client signed is the one the peer sees, so SigV4 and Shared
    Key signatures still verify. With `client_ca`, a client certificate
    signed by it is required."""

    def __init__(self, target_port, cert, key, client_ca=None):
        self.target_port = target_port
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(str(cert), str(key))
        if client_ca:
            self._context.verify_mode = ssl.CERT_REQUIRED
            self._context.load_verify_locations(str(client_ca))
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._open = set()
        self._workers = []
        self.handshake_failures = 0
        self._thread = threading.Thread(target=self._accept, name="tls-forwarder", daemon=True)
        self._thread.start()

    def _accept(self):
        while not self._stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            worker = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            with self._lock:
                self._open.add(conn)
                self._workers = [w for w in self._workers if w.is_alive()]
                self._workers.append(worker)
            worker.start()

    def _serve(self, raw):
        tls = upstream = None
        try:
            raw.settimeout(10)
            try:
                tls = self._context.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError):
                with self._lock:
                    self.handshake_failures += 1
                return
            with self._lock:
                self._open.add(tls)
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
            with self._lock:
                self._open.add(upstream)
            self._pump(tls, upstream)
        except OSError:
            pass
        finally:
            for s in (tls, upstream, raw):
                if s is not None:
                    with self._lock:
                        self._open.discard(s)
                    try:
                        s.close()
                    except OSError:
                        pass

    def _pump(self, tls, upstream):
        tls.setblocking(False)
        upstream.setblocking(False)
        pending = {tls: b"", upstream: b""}  # bytes waiting to be written to the key
        peer = {tls: upstream, upstream: tls}
        open_ends = {tls, upstream}
        while not self._stopping.is_set():
            readers = [s for s in open_ends if not pending[peer[s]]]
            # TLS may hold decrypted bytes that select() cannot see.
            ready = [tls] if tls in readers and tls.pending() else []
            writers = [s for s in (tls, upstream) if pending[s]]
            if not ready:
                if not readers and not writers:
                    return
                ready, writable, _ = select.select(readers, writers, [], 0.5)
            else:
                writable = []
            for s in writable:
                try:
                    sent = s.send(pending[s])
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                    continue
                pending[s] = pending[s][sent:]
            for s in ready:
                try:
                    data = s.recv(65536)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                    continue
                if not data:
                    open_ends.discard(s)
                    if not open_ends:
                        return
                    # A half-close of either side ends the exchange once
                    # what was read has been written.
                    self._flush(peer[s], pending)
                    return
                pending[peer[s]] += data

    @staticmethod
    def _flush(sock, pending):
        sock.setblocking(True)
        sock.settimeout(5)
        if pending[sock]:
            sock.sendall(pending[sock])
            pending[sock] = b""

    def stop(self):
        self._stopping.set()
        self._thread.join(5)
        self._sock.close()
        with self._lock:
            socks = list(self._open)
            workers = list(self._workers)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for w in workers:
            w.join(5)


# -- a switchable front for fault matrices ----------------------------------

_METHODS = (b"GET ", b"HEAD ", b"PUT ", b"POST ", b"DELETE ", b"OPTIONS ", b"PATCH ")


def http_answer(status, reason, body=b"", headers=()):
    """The bytes of a whole HTTP/1.1 answer that closes its connection."""
    head = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}",
            "Connection: close", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class FaultProxy:
    """Stands between one client and a real peer on `target_port` and
    misbehaves on demand, so a test can take a working backend through a
    fault and back without restarting anything. `set(mode, ...)`:

    - "forward": passes bytes both ways unchanged (the Host header the
      client signed reaches the peer as it was signed);
    - "down": the host stops answering: new SYNs are dropped (the listener's
      accept queue is kept full, so connect() hangs like against a dead
      host) and established connections go silent;
    - "refused": nothing listens: established connections are reset and
      new ones refused;
    - "blackhole": connections are accepted and requests read, and nothing
      is ever answered (also on established connections);
    - "delay", seconds=D: every answer of the peer reaches the client D
      seconds late;
    - "answer", response=BYTES: every request gets BYTES (a whole HTTP answer,
      see http_answer) instead of reaching the peer, then the connection
      closes;
    - "flap", response=BYTES: requests alternate between BYTES and the peer,
      starting with BYTES;
    with match=B, "answer" and "flap" only take requests whose request line
    contains B (the others reach the peer);
    - "cert", cert=PEM, key=PEM (TLS fronts only): new handshakes present
      that certificate; established connections are closed, as by a server
      restarted with a new certificate.

    With `tls=(cert, key)` the front terminates TLS with that certificate
    ("forward" puts it back after "cert"); with `upstream_tls` it speaks TLS
    to the peer too (certificate not verified: the peer is ours)."""

    def __init__(self, target_port, tls=None, upstream_tls=False):
        self.target_port = target_port
        self._tls_default = tls
        self._context = self._server_context(*tls) if tls else None
        self._upstream_context = None
        if upstream_tls:
            self._upstream_context = ssl.create_default_context()
            self._upstream_context.check_hostname = False
            self._upstream_context.verify_mode = ssl.CERT_NONE
        self._lock = threading.Lock()
        self._mode, self._params = "forward", {}
        self._flap = 0
        self._conns = set()
        self._fillers = []
        self._full = self._reserve = None
        self._stopping = threading.Event()
        self._listener = self._listen(128)
        self.port = self._listener.getsockname()[1]
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._accept_loop, name="fault-proxy", daemon=True)
        self._thread.start()

    @staticmethod
    def _server_context(cert, key):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert), str(key))
        return context

    def _listen(self, backlog, port=0):
        return self._bound(port, backlog)

    @staticmethod
    def _bound(port, backlog=None):
        """A socket bound to `port` (listening with `backlog`). A listener
        just closed lives on while the accept loop's select() holds it
        (up to its 50 ms timeout): retry the bind meanwhile."""
        deadline = time.monotonic() + 2
        while True:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
                if backlog is not None:
                    sock.listen(backlog)
                return sock
            except OSError:
                sock.close()
                if port == 0 or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    @property
    def mode(self):
        with self._lock:
            return self._mode

    def set(self, mode, **params):
        with self._lock:
            previous = self._mode
            self._mode, self._params = mode, params
            self._flap = 0
            conns = list(self._conns)
        if previous in ("down", "refused") and mode not in ("down", "refused"):
            self._restore_listener()
        if mode == "down":
            self._fill_listener()
        elif mode == "refused":
            self._close_listener(reserve=True)
            for conn in conns:
                self._reset(conn)
        elif mode == "cert":
            self._context = self._server_context(params["cert"], params["key"])
            for conn in conns:
                self._close(conn)
        if previous == "cert" and mode != "cert" and self._tls_default:
            self._context = self._server_context(*self._tls_default)
            for conn in conns:
                self._close(conn)

    def drop_connections(self):
        """Closes the established connections (the listener stays), so the
        client's next request needs a new connection: what a server that
        moved, or a restart, does to a pooled connection."""
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            self._close(conn)

    def _close_listener(self, reserve):
        with self._lock:
            socks = [self._listener, self._full, self._reserve, *self._fillers]
            self._listener = self._full = self._reserve = None
            self._fillers = []
        for sock in socks:
            if sock is not None:
                sock.close()
        if reserve:
            # Bound but not listening: the kernel answers SYNs with a reset
            # and nothing else can take the port meanwhile.
            sock = self._bound(self.port)
            with self._lock:
                self._reserve = sock

    def _fill_listener(self):
        self._close_listener(reserve=False)
        full = self._listen(0, self.port)
        # With a backlog of 0 the accept queue holds one connection; while
        # it is full the kernel drops further SYNs, so a client's connect()
        # waits as it would for a host that is gone.
        fillers = []
        for _ in range(2):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", self.port))
            fillers.append(filler)
        with self._lock:
            self._full, self._fillers = full, fillers

    def _restore_listener(self):
        self._close_listener(reserve=False)
        listener = self._listen(128, self.port)
        with self._lock:
            self._listener = listener

    def _accept_loop(self):
        while not self._stopping.is_set():
            with self._lock:
                listener = self._listener
            if listener is None:
                time.sleep(0.02)
                continue
            try:
                ready, _, _ = select.select([listener], [], [], 0.05)
                if not ready:
                    continue
                conn, _ = listener.accept()
            except (OSError, ValueError):
                continue  # closed by set() meanwhile
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _track(self, sock, add=True):
        with self._lock:
            if add:
                self._conns.add(sock)
            else:
                self._conns.discard(sock)

    @staticmethod
    def _close(sock):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    @staticmethod
    def _reset(sock):
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _serve(self, raw):
        client = raw
        upstream = None
        self._track(raw)
        try:
            if self._context is not None:
                raw.settimeout(5)
                try:
                    client = self._context.wrap_socket(raw, server_side=True)
                except (ssl.SSLError, OSError):
                    return
                self._track(client)
            client.setblocking(False)
            ends = {"client": client, "upstream": None}
            try:
                self._pump(ends)
            except OSError:
                pass  # a side went away
            upstream = ends["upstream"]
        finally:
            for sock in (client, raw, upstream):
                if sock is not None:
                    self._track(sock, add=False)
                    try:
                        sock.close()
                    except OSError:
                        pass

    def _connect_upstream(self):
        sock = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
        if self._upstream_context is not None:
            sock = self._upstream_context.wrap_socket(sock)
        sock.setblocking(False)
        self._track(sock)
        return sock

    @staticmethod
    def _recv(sock):
        """Bytes read, b"" at EOF, None when nothing is there yet."""
        try:
            return sock.recv(65536)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            return None
        except OSError:
            return b""

    @staticmethod
    def _send(sock, data):
        sock.setblocking(True)
        sock.settimeout(5)
        try:
            sock.sendall(data)
        finally:
            sock.setblocking(False)

    def _pump(self, ends):
        client, upstream = ends["client"], None
        late = []  # (due, bytes) for the client, in "delay"
        while not self._stopping.is_set():
            with self._lock:
                mode, params = self._mode, self._params
            socks = [client] + ([upstream] if upstream is not None else [])
            ready = [s for s in socks if isinstance(s, ssl.SSLSocket) and s.pending()]
            if not ready:
                try:
                    ready, _, _ = select.select(socks, [], [], 0.05)
                except (OSError, ValueError):
                    return
            now = time.monotonic()
            while late and late[0][0] <= now:
                self._send(client, late.pop(0)[1])
            for sock in ready:
                data = self._recv(sock)
                if data is None:
                    continue
                if not data:
                    if sock is not client:
                        for due, rest in late:  # the peer closed: still late
                            time.sleep(max(0.0, due - time.monotonic()))
                            self._send(client, rest)
                    return
                if mode in ("down", "blackhole"):
                    continue  # read and dropped: nobody answers
                if sock is client:
                    first_line = data.split(b"\r\n", 1)[0]
                    match = params.get("match")
                    if data.startswith(_METHODS) and (match is None or match in first_line):
                        with self._lock:
                            flap = self._flap
                            self._flap += 1
                        if mode == "answer" or (mode == "flap" and flap % 2 == 0):
                            self._send(client, params["response"])
                            return
                    if upstream is None:
                        upstream = ends["upstream"] = self._connect_upstream()
                    self._send(upstream, data)
                elif mode == "delay":
                    late.append((now + params["seconds"], data))
                else:
                    self._send(client, data)

    def stop(self):
        self._stopping.set()
        self._thread.join(5)
        self._close_listener(reserve=False)
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            self._close(conn)
