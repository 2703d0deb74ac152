"""A tiny raw-socket HTTP/1.1 client for the server tests: the bytes on the wire are checked.

Every socket carries a timeout (``GUARD``, defined with ``wait_for`` in ``support``), so a broken
server fails a test instead of hanging the run. Addresses are a server handle (``.address``) or
a ``(host, port)`` pair; everything talks to 127.0.0.1 only.
"""

from __future__ import annotations

import socket
import struct

from support import GUARD

__all__ = [
    "GUARD", "Response", "address_of", "connect", "req", "read_response", "fetch", "at_eof",
    "reset", "read_to_eof", "fetch_all_at_once",
]


class Response:
    """One parsed response: ``status``, ``headers`` (lower-case names, str) and ``body``."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"<Response {self.status} {len(self.body)} B>"


def address_of(target) -> tuple:
    """``(host, port)`` of a server handle or of an address tuple."""
    address = getattr(target, "address", target)
    return tuple(address[:2])


def connect(target, timeout: float = GUARD) -> socket.socket:
    """A client socket to ``target`` (a handle or an address), TCP_NODELAY, with a timeout."""
    s = socket.create_connection(address_of(target), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def req(target: str = "/file8k", method: str = "GET", extra: str = "") -> bytes:
    """The bytes of one HTTP/1.1 request; ``extra`` is more header lines, each ending CRLF."""
    return f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode()


def read_response(f, head: bool = False) -> Response:
    """One response from the buffered reader ``f``; the body is framed by Content-Length.

    ``EOFError`` if the connection closed cleanly before a response began; an
    ``AssertionError`` if it closed inside one.
    """
    line = f.readline()
    if not line:
        raise EOFError("connection closed before a response")
    version, status, _ = line.decode("latin-1").split(" ", 2)
    assert version == "HTTP/1.1", line
    headers = {}
    while True:
        line = f.readline()
        assert line, "connection closed inside a response head"
        if line == b"\r\n":
            break
        name, value = line.decode("latin-1").split(":", 1)
        headers[name.strip().lower()] = value.strip()
    status = int(status)
    length = 0 if head or status == 304 else int(headers["content-length"])
    body = f.read(length)
    assert len(body) == length, "connection closed inside a body"
    return Response(status, headers, body)


def fetch(target, path: str = "/file8k", method: str = "GET", extra: str = "") -> Response:
    """One request on a new connection, its response."""
    with connect(target) as s, s.makefile("rb") as f:
        s.sendall(req(path, method, extra))
        return read_response(f, head=method == "HEAD")


def at_eof(s: socket.socket, timeout: float = GUARD) -> bool:
    """True if the peer closes (EOF or reset) within ``timeout`` without sending anything."""
    s.settimeout(timeout)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def reset(s: socket.socket) -> None:
    """Close ``s`` with a TCP reset (SO_LINGER 0) instead of a polite FIN."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def read_to_eof(s: socket.socket) -> bytes:
    """Every byte until the peer's FIN (a reset raises ``ConnectionResetError``)."""
    chunks = []
    while chunk := s.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def fetch_all_at_once(target, path: str, n: int, timeout: float = 20.0) -> list[Response]:
    """Open ``n`` connections, send a ``Connection: close`` request on each, then read every
    response in order (the server frees a descriptor with each connection it closes)."""
    socks = [connect(target, timeout=timeout) for _ in range(n)]
    try:
        for s in socks:
            s.sendall(req(path, extra="Connection: close\r\n"))
        out = []
        for s in socks:
            with s.makefile("rb") as f:
                out.append(read_response(f))
        return out
    finally:
        for s in socks:
            s.close()
