"""A minimal loopback HTTP server that records what a load generator does per connection.

For checking a client against SEDA's HttpLoad model rather than for serving: it answers every
``GET`` with a body of the SPECweb99 file's size (``fileset.file_size`` for ``/dirD/classC_K``
paths, else ``default_bytes``), from memory, and records

* requests per connection (a histogram over connections that ended),
* the requested paths (a ``Counter``),
* the think time: for each request after a connection's first, the gap between the end of the
  previous response's ``send`` and the arrival of this request,
* connections accepted (per listening and per source address) and ``Connection: close``
  requests seen.

One thread, ``selectors`` (epoll), non-blocking sockets; bound to 127.0.0.1 by default and to
any other loopback address asked for (``hosts``), so a client that spreads its destinations
over 127.0.0.x can be checked too. Not fast (a Python event loop, far slower than wrk), and
it does not need to be: the model's shape does not depend on the rate.

    with CountingServer() as srv:
        ... load 127.0.0.1:srv.port ...
    srv.per_connection  # Counter {requests on a connection: connections}
"""

from __future__ import annotations

import ipaddress
import re
import selectors
import socket
import threading
import time
from collections import Counter

from whyevents.http.fileset import file_size

__all__ = ["CountingServer"]

_PATH = re.compile(rb"^/dir\d+/class(\d)_(\d)$")


def _body_size(path: bytes, default: int) -> int:
    m = _PATH.match(path)
    if m:
        try:
            return file_size(int(m.group(1)), int(m.group(2)))
        except ValueError:
            return default
    return default


class _Conn:
    __slots__ = ("sock", "inbuf", "out", "requests", "last_sent", "close_after")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.inbuf = b""
        self.out = memoryview(b"")
        self.requests = 0
        self.last_sent = 0.0
        self.close_after = False


class CountingServer:
    """Serve on ``hosts`` (loopback addresses) at one port in a background thread."""

    def __init__(self, hosts: tuple[str, ...] = ("127.0.0.1",), port: int = 0,
                 default_bytes: int = 1024, max_gaps: int = 200_000) -> None:
        for h in hosts:
            if not ipaddress.ip_address(h).is_loopback:
                raise ValueError(f"{h!r} is not a loopback address")
        self.hosts = tuple(hosts)
        self.default_bytes = default_bytes
        self.max_gaps = max_gaps
        self.per_connection: Counter[int] = Counter()
        self.paths: Counter[str] = Counter()
        self.gaps: list[float] = []
        self.accepted = 0
        self.close_requests = 0
        self.requests = 0
        self.by_address: Counter[str] = Counter()     # connections per listening address
        self.sources: Counter[str] = Counter()        # connections per client source address
        self._lock = threading.Lock()
        self._listeners: list[socket.socket] = []
        for i, h in enumerate(self.hosts):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((h, port))
            if i == 0:
                port = s.getsockname()[1]
            s.listen(4096)
            s.setblocking(False)
            self._listeners.append(s)
        self.port = port
        self._sel = selectors.DefaultSelector()
        self._stop = False
        self._conns: set[_Conn] = set()
        self._thread = threading.Thread(target=self._run, name="conncount", daemon=True)

    def __enter__(self) -> CountingServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        for s in self._listeners:
            self._sel.register(s, selectors.EVENT_READ, None)
        self._thread.start()

    def stop(self) -> None:
        self._stop = True
        self._thread.join(10)

    def snapshot(self) -> dict:
        """Copies of the counters (safe while serving)."""
        with self._lock:
            return {"per_connection": Counter(self.per_connection), "paths": Counter(self.paths),
                    "gaps": list(self.gaps), "accepted": self.accepted,
                    "close_requests": self.close_requests, "requests": self.requests,
                    "by_address": Counter(self.by_address), "sources": Counter(self.sources)}

    # -- the loop ------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop:
                for key, mask in self._sel.select(0.05):
                    if key.data is None:
                        self._accept(key.fileobj)
                    else:
                        self._io(key.data, mask)
        finally:
            for c in list(self._conns):
                self._close(c, ended=False)
            for s in self._listeners:
                self._sel.unregister(s)
                s.close()
            self._sel.close()

    def _accept(self, lsock: socket.socket) -> None:
        for _ in range(256):
            try:
                sock, _addr = lsock.accept()
            except BlockingIOError:
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            c = _Conn(sock)
            self._conns.add(c)
            with self._lock:
                self.accepted += 1
                self.by_address[lsock.getsockname()[0]] += 1
                self.sources[_addr[0]] += 1
            self._sel.register(sock, selectors.EVENT_READ, c)

    def _close(self, c: _Conn, ended: bool = True) -> None:
        self._conns.discard(c)
        try:
            self._sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        c.sock.close()
        if ended:
            with self._lock:
                self.per_connection[c.requests] += 1

    def _io(self, c: _Conn, mask: int) -> None:
        if mask & selectors.EVENT_READ:
            try:
                data = c.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                data = None
            except OSError:
                self._close(c)
                return
            if data == b"":
                self._close(c)
                return
            if data:
                c.inbuf += data
                self._parse(c)
        if c.out:
            self._flush(c)

    def _parse(self, c: _Conn) -> None:
        while not c.close_after:
            end = c.inbuf.find(b"\r\n\r\n")
            if end < 0:
                return
            head, c.inbuf = c.inbuf[:end], c.inbuf[end + 4:]
            lines = head.split(b"\r\n")
            parts = lines[0].split()
            path = parts[1] if len(parts) >= 2 else b"/"
            close = any(ln.lower().replace(b" ", b"") == b"connection:close" for ln in lines[1:])
            now = time.monotonic()
            with self._lock:
                self.requests += 1
                self.paths[path.decode("latin-1")] += 1
                if close:
                    self.close_requests += 1
                if c.requests and len(self.gaps) < self.max_gaps:
                    self.gaps.append(now - c.last_sent)
            c.requests += 1
            n = _body_size(path, self.default_bytes)
            hdr = (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: text/plain\r\n"
                   b"Connection: %s\r\n\r\n" % (n, b"close" if close else b"keep-alive"))
            c.out = memoryview(bytes(c.out) + hdr + b"x" * n)
            c.close_after = close
            self._flush(c)
            if c not in self._conns:
                return

    def _flush(self, c: _Conn) -> None:
        try:
            while c.out:
                sent = c.sock.send(c.out)
                c.out = c.out[sent:]
        except (BlockingIOError, InterruptedError):
            self._sel.modify(c.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
            return
        except OSError:
            self._close(c)
            return
        c.last_sent = time.monotonic()
        if c.close_after:
            self._close(c)
            return
        self._sel.modify(c.sock, selectors.EVENT_READ, c)
        if c.inbuf:
            self._parse(c)
