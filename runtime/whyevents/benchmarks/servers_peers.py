"""The peer web servers of ``whyevents bench servers``: uvloop, asyncio, gevent, gevent.pywsgi.

Why this shape:

* **Comparable work per request.** The benchmark compares concurrency runtimes, not HTTP stacks,
  so the uvloop, asyncio and gevent StreamServer peers answer with *the same bytes* as Knot (the
  ``whyevents.http.StaticResponse`` of the file: status line, Date refreshed once a second,
  Server, Content-Type, Content-Length, Last-Modified, ETag, ``Connection: keep-alive``; one
  write per batch of requests) and parse requests with a minimal but correct HTTP/1.1 reader
  (``MiniHttp``): incremental (a head split over several reads), pipelining (every complete head
  in a read is answered, in order, with one write), keep-alive by the HTTP/1.0 and 1.1 rules,
  request bodies skipped by Content-Length, 404/405 for other paths and methods, 400/431/505
  with ``Connection: close`` for what it does not accept (a chunked request body included).
  Like Knot's request memo, it remembers the verdict on recently seen request heads (wrk
  repeats one), so neither side re-parses.
* **gevent.pywsgi is measured as its users run it**, a WSGI app behind pywsgi, with and without
  TCP_NODELAY on accepted sockets: pywsgi writes headers and body in two sends, so without
  NODELAY Nagle holds the body until the client's delayed ACK and a keep-alive connection
  does one request per delayed-ACK time-out (``whyevents bench servers --servers pywsgi``
  shows it). That is a real pitfall, kept visible on purpose.
* **Every server runs in a background OS thread** through ``whyevents.server_common.ServerHandle``,
  with ``ServerCounters`` (requests, connections, errors, and the process's CPU in
  ``snapshot()``), exactly as the whyevents servers do, so the server-process protocol
  (``whyevents.servers.process``, spec ``start="whyevents.benchmarks.servers_peers:start_peer"``)
  drives all of them the same way.

Frameworks are imported inside the functions: this module is imported only in the server
subprocess of the peer it runs.
"""

from __future__ import annotations

import os
import socket as _stdsocket
from collections.abc import Callable

from whyevents.http.response import StaticResponse, error_response
from whyevents.server_common import ServerCounters, ServerHandle, listen, somaxconn

__all__ = ["PEER_SERVERS", "MiniHttp", "FileAnswer", "start_peer", "MAX_HEAD_BYTES"]

#: Peer name -> one-line description (the benchmark's table and help use these).
PEER_SERVERS: dict[str, str] = {
    "uvloop": "uvloop protocol server (MiniHttp, pre-built response)",
    "asyncio": "asyncio (selector loop) protocol server (MiniHttp, pre-built response)",
    "gevent": "gevent StreamServer, a greenlet per connection (MiniHttp, pre-built response)",
    "pywsgi-nodelay": "gevent.pywsgi WSGI app, TCP_NODELAY set on accepted sockets",
    "pywsgi": "gevent.pywsgi WSGI app as shipped (no TCP_NODELAY: Nagle + delayed ACK)",
}

#: A request head larger than this without its blank line is refused (431, close).
MAX_HEAD_BYTES = 16 * 1024
_MEMO_MAX = 256
_RECV = 65536

# MiniHttp verdicts on one request head
_OK, _OK_HEAD, _NOT_FOUND, _NOT_ALLOWED = 0, 1, 2, 3


class FileAnswer:
    """The one file a peer serves: its path in URLs and its pre-built responses."""

    def __init__(self, root: str, name: str) -> None:
        path = os.path.join(root, name)
        with open(path, "rb") as f:
            body = f.read()
        self.name = name
        self.url_path = b"/" + name.encode()
        self.body = body
        self.static = StaticResponse(body, os.stat(path).st_mtime, name)

    def answer(self, verdict: int, keep_alive: bool) -> bytes:
        if verdict == _OK:
            return self.static.response(False, keep_alive)
        if verdict == _OK_HEAD:
            return self.static.response(True, keep_alive)
        if verdict == _NOT_FOUND:
            return error_response(404, keep_alive=keep_alive)
        return error_response(405, keep_alive=keep_alive)


class _Reject(Exception):
    def __init__(self, status: int) -> None:
        self.status = status


def _parse_head(head: bytes, url_path: bytes) -> tuple[int, bool, int]:
    """(verdict, keep_alive, content_length) of one request head (no trailing blank line)."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3:
        raise _Reject(400)
    method, target, version = parts
    if version == b"HTTP/1.1":
        keep_alive = True
    elif version == b"HTTP/1.0":
        keep_alive = False
    else:
        raise _Reject(505 if version.startswith(b"HTTP/") else 400)
    length = 0
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise _Reject(400)
        lname = name.lower()
        if lname == b"connection":
            tokens = {t.strip().lower() for t in value.split(b",")}
            if b"close" in tokens:
                keep_alive = False
            elif b"keep-alive" in tokens:
                keep_alive = True
        elif lname == b"content-length":
            v = value.strip()
            if not v.isdigit():
                raise _Reject(400)
            length = int(v)
        elif lname == b"transfer-encoding":
            raise _Reject(400)         # chunked bodies: not supported, refused
    path = target.split(b"?", 1)[0]
    if method in (b"GET", b"HEAD"):
        if path == url_path:
            verdict = _OK if method == b"GET" else _OK_HEAD
        else:
            verdict = _NOT_FOUND
    else:
        verdict = _NOT_ALLOWED
    return verdict, keep_alive, length


class MiniHttp:
    """One connection's incremental HTTP/1.x reader: ``feed(data) -> (response bytes, close)``.

    Every complete request head in the buffered data is answered, in order; the answers are
    joined so the caller writes once. ``close`` is True once the connection must end (a request
    without keep-alive, or a request it rejects); nothing after that request is answered.
    """

    __slots__ = ("file", "counters", "memo", "buf", "skip", "closed")

    def __init__(self, file: FileAnswer, counters: ServerCounters, memo: dict) -> None:
        self.file = file
        self.counters = counters
        self.memo = memo
        self.buf = b""
        self.skip = 0            # request-body bytes still to discard
        self.closed = False

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        if self.closed:
            return b"", True
        if self.skip:
            if len(data) <= self.skip:
                self.skip -= len(data)
                return b"", False
            data = data[self.skip:]
            self.skip = 0
        buf = self.buf + data if self.buf else data
        out: list[bytes] = []
        pos = 0
        memo = self.memo
        counters = self.counters
        while True:
            end = buf.find(b"\r\n\r\n", pos)
            if end < 0:
                rest = buf[pos:]
                if len(rest) > MAX_HEAD_BYTES:
                    return self._reject(out, 431)
                self.buf = rest
                break
            head = buf[pos:end]
            hit = memo.get(head)
            if hit is None:
                try:
                    hit = _parse_head(head.lstrip(b"\r\n"), self.file.url_path)
                except _Reject as r:
                    return self._reject(out, r.status)
                if hit[2] == 0 and len(memo) < _MEMO_MAX:
                    memo[head] = hit
            verdict, keep_alive, length = hit
            out.append(self.file.answer(verdict, keep_alive))
            counters.requests += 1
            if verdict >= _NOT_FOUND:
                counters.error(404 if verdict == _NOT_FOUND else 405)
            pos = end + 4
            if not keep_alive:
                self.closed = True
                self.buf = b""
                break
            if length:
                avail = len(buf) - pos
                if avail < length:
                    self.skip = length - avail
                    self.buf = b""
                    break
                pos += length
        response = b"".join(out) if len(out) != 1 else out[0]
        counters.bytes_sent += len(response)
        return response, self.closed

    def _reject(self, out: list[bytes], status: int) -> tuple[bytes, bool]:
        self.counters.error(status)
        out.append(error_response(status))
        self.closed = True
        self.buf = b""
        response = b"".join(out)
        self.counters.bytes_sent += len(response)
        return response, True


# ---------------------------------------------------------------------------------------------
# asyncio / uvloop: a Protocol, one transport.write per data_received
# ---------------------------------------------------------------------------------------------

def _asyncio_body(loop_kind: str, file: FileAnswer, counters: ServerCounters, host: str,
                  port: int) -> Callable:
    import asyncio

    memo: dict = {}

    class HttpProtocol(asyncio.Protocol):
        __slots__ = ("transport", "http")

        def connection_made(self, transport) -> None:
            self.transport = transport
            self.http = MiniHttp(file, counters, memo)
            counters.connections_total += 1
            counters.connections_open += 1

        def data_received(self, data: bytes) -> None:
            out, close = self.http.feed(data)
            if out:
                self.transport.write(out)
            if close:
                self.transport.close()

        def eof_received(self) -> bool:
            return False                         # close our side too

        def pause_writing(self) -> None:         # the client stopped reading: stop reading it
            self.transport.pause_reading()

        def resume_writing(self) -> None:
            self.transport.resume_reading()

        def connection_lost(self, exc) -> None:
            counters.connections_open -= 1

    def body(ready) -> None:
        factory = None
        if loop_kind == "uvloop":
            import uvloop
            factory = uvloop.new_event_loop

        async def main() -> None:
            loop = asyncio.get_running_loop()
            sock = listen(host, port)
            server = await loop.create_server(HttpProtocol, sock=sock, backlog=somaxconn())
            stop = asyncio.Event()
            ready(sock.getsockname(), lambda: loop.call_soon_threadsafe(stop.set))
            async with server:
                await stop.wait()

        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(main())

    return body


# ---------------------------------------------------------------------------------------------
# gevent: StreamServer (a greenlet per connection, blocking-style loop) and pywsgi
# ---------------------------------------------------------------------------------------------

def _gevent_stream_body(file: FileAnswer, counters: ServerCounters, host: str,
                        port: int) -> Callable:
    memo: dict = {}

    def handle(sock, _address) -> None:
        counters.connections_total += 1
        counters.connections_open += 1
        http = MiniHttp(file, counters, memo)
        recv, sendall = sock.recv, sock.sendall
        try:
            sock.setsockopt(_stdsocket.IPPROTO_TCP, _stdsocket.TCP_NODELAY, 1)
            while True:
                data = recv(_RECV)
                if not data:
                    break
                out, close = http.feed(data)
                if out:
                    sendall(out)
                if close:
                    break
        except OSError:
            pass
        finally:
            counters.connections_open -= 1
            sock.close()

    def body(ready) -> None:
        import gevent
        from gevent.server import StreamServer

        server = StreamServer((host, port), handle, backlog=somaxconn())
        _run_gevent_server(server, ready, gevent)

    return body


def _run_gevent_server(server, ready, gevent) -> None:
    server.start()
    hub = gevent.get_hub()
    wake = hub.loop.async_()
    wake.start(lambda: gevent.spawn(server.stop, 1.0))
    try:
        ready(server.address, wake.send)
        server.serve_forever()                   # returns once stop() ran
    finally:
        wake.close()


def _pywsgi_body(file: FileAnswer, counters: ServerCounters, host: str, port: int,
                 nodelay: bool) -> Callable:
    static = file.static
    headers_200 = [("Content-Type", static.content_type.decode()),
                   ("Content-Length", str(len(file.body))),
                   ("Last-Modified", static.last_modified.decode()),
                   ("ETag", static.etag.decode())]
    not_found = b"404 Not Found\n"
    headers_404 = [("Content-Type", "text/plain; charset=utf-8"),
                   ("Content-Length", str(len(not_found)))]
    url_path = file.url_path.decode()
    body_bytes = file.body

    def app(environ, start_response):
        counters.requests += 1
        if environ["PATH_INFO"] == url_path and environ["REQUEST_METHOD"] in ("GET", "HEAD"):
            start_response("200 OK", headers_200)
            return [body_bytes]
        counters.error(404)
        start_response("404 Not Found", headers_404)
        return [not_found]

    def body(ready) -> None:
        import gevent
        from gevent.pywsgi import WSGIServer

        class Server(WSGIServer):
            def handle(self, sock, address):
                counters.connections_total += 1
                counters.connections_open += 1
                try:
                    if nodelay:
                        sock.setsockopt(_stdsocket.IPPROTO_TCP, _stdsocket.TCP_NODELAY, 1)
                    return super().handle(sock, address)
                finally:
                    counters.connections_open -= 1

        server = Server((host, port), app, log=None, error_log=None, backlog=somaxconn())
        _run_gevent_server(server, ready, gevent)

    return body


def start_peer(name: str, root: str, file_name: str, host: str = "127.0.0.1",
               port: int = 0) -> ServerHandle:
    """Start peer ``name`` (a key of ``PEER_SERVERS``) serving ``root/file_name``; returns its
    ``ServerHandle`` (``.address``, ``.stats()``, ``.stop()``) once it listens."""
    if name not in PEER_SERVERS:
        raise ValueError(f"name={name!r}: choose one of {', '.join(PEER_SERVERS)}")
    file = FileAnswer(root, file_name)
    counters = ServerCounters(server=name)
    if name in ("uvloop", "asyncio"):
        body = _asyncio_body(name, file, counters, host, port)
    elif name == "gevent":
        body = _gevent_stream_body(file, counters, host, port)
    else:
        body = _pywsgi_body(file, counters, host, port, nodelay=name == "pywsgi-nodelay")
    return ServerHandle(name, counters, body, start_timeout=30.0)
