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
