"""The one file ``whyevents bench servers`` serves, and the correctness check every server must
pass before it is measured: two pipelined GETs and a third on the same connection, each 200 with
the exact bytes. Raw sockets, standard library only.
"""

from __future__ import annotations

import os
import re
import socket
import time

__all__ = ["FILE_NAME", "FILE_SIZE", "CheckFailed", "make_docroot", "get_request",
           "read_responses", "check_server"]

FILE_NAME = "file-8k.html"
FILE_SIZE = 8192
_CHECK_TIMEOUT = 10.0


class CheckFailed(Exception):
    """The server did not answer the correctness check before the measurement."""


def make_docroot(directory: str | os.PathLike) -> tuple[str, bytes]:
    """Write the benchmark's one file (``FILE_SIZE`` deterministic bytes of HTML-ish text) into
    ``directory``; returns (root, body)."""
    root = os.fspath(directory)
    os.makedirs(root, exist_ok=True)
    line = b"<p>whyevents bench servers: one 8 KiB file, served over keep-alive.</p>\n"
    body = (line * (FILE_SIZE // len(line) + 1))[:FILE_SIZE]
    with open(os.path.join(root, FILE_NAME), "wb") as f:
        f.write(body)
    return root, body


def get_request(path: str = "/" + FILE_NAME, host: str = "127.0.0.1") -> bytes:
    """The request wrk sends (HTTP/1.1, keep-alive by default)."""
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()


def read_responses(sock: socket.socket, count: int, timeout: float = _CHECK_TIMEOUT,
                   buf: bytearray | None = None) -> list[tuple[int, dict, bytes]]:
    """Read ``count`` HTTP responses (each with Content-Length) from a blocking socket:
    ``[(status, {lower-case header: value}, body)]``. ``buf`` keeps bytes read past the last one.
    Raises CheckFailed on a malformed response, EOF or timeout."""
    buf = bytearray() if buf is None else buf
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < count:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            head = bytes(buf[:end]).decode("latin-1")
            lines = head.split("\r\n")
            m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
            if not m:
                raise CheckFailed(f"bad status line {lines[0]!r}")
            headers = {}
            for ln in lines[1:]:
                k, _, v = ln.partition(":")
                headers[k.strip().lower()] = v.strip()
            if "content-length" not in headers:
                raise CheckFailed(f"response without Content-Length: {head!r}")
            n = int(headers["content-length"])
            if len(buf) >= end + 4 + n:
                out.append((int(m.group(1)), headers, bytes(buf[end + 4:end + 4 + n])))
                del buf[:end + 4 + n]
                continue
        left = deadline - time.monotonic()
        if left <= 0:
            raise CheckFailed(f"timed out after {timeout:.0f} s with {len(out)} of {count} "
                              "responses")
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        if not data:
            raise CheckFailed(f"connection closed after {len(out)} of {count} responses")
        buf += data
    return out


def check_server(address: tuple, body: bytes, timeout: float = _CHECK_TIMEOUT) -> None:
    """Two pipelined GETs, then a third on the same connection: each must be 200 with ``body``.
    Raises CheckFailed saying what was wrong."""
    host, port = address[:2]
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            req = get_request(host=host)
            buf = bytearray()
            s.sendall(req + req)
            got = read_responses(s, 2, timeout, buf)
            s.sendall(req)
            got += read_responses(s, 1, timeout, buf)
    except OSError as e:
        raise CheckFailed(f"{type(e).__name__}: {e}") from None
    for i, (status, _headers, data) in enumerate(got, 1):
        if status != 200:
            raise CheckFailed(f"request {i}: status {status}, expected 200")
        if data != body:
            raise CheckFailed(f"request {i}: body of {len(data)} bytes differs from the "
                              f"{len(body)}-byte file")
