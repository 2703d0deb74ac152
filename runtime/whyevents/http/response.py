"""HTTP/1.1 response bytes: pre-built static responses, 304s and error pages. No I/O.

Why pre-built bytes
-------------------
Knot and Haboob both answered from a cache of ready responses, and the paper's bandwidth curves
depend on the server doing little per request. A `StaticResponse` therefore keeps the whole
`200 OK` answer (status line, headers and body) as one `bytes` object, so a server sends it with
one `send` call and no copy; a partial send continues with a memoryview of the same object.
(gevent.pywsgi, by contrast, writes headers and body in two sends, and without TCP_NODELAY Nagle
plus delayed ACK stall every keep-alive request: docs/DESIGN.md, "Measuring on this kind of
machine"; `whyevents bench servers` measures pywsgi with and without TCP_NODELAY.)

The Date header, and why it costs one copy per second
------------------------------------------------------
RFC 9110 section 6.6.1 requires an origin server with a clock to send `Date`. A pre-built
response carries yesterday's Date unless something refreshes it, so `StaticResponse` rebuilds its
bytes at most once per second, on first use in a new second (`DateCache` formats the date once per
second for the whole process). The Date line has a fixed width (29 characters, IMF-fixdate), so
the header length never changes and the refresh is one `bytes.join` of the new head and a
memoryview of the old body: one memcpy of the body per entry per second that entry is used, and
none per request.

Only the keep-alive variant is kept: it is what a benchmark client that reuses connections
(SEDA's HttpLoad, wrk, ab -k) gets on every request. A response that closes the connection
(`Connection: close`) is assembled per request; it copies the body once, which is small next to
the TCP teardown that follows it. Keep-alive responses say `Connection: keep-alive` explicitly:
HTTP/1.0 clients need it (RFC 9112 section 9.3), HTTP/1.1 clients ignore it, and one variant
serves both (nginx does the same).

Validators: `ETag` is `"<mtime hex>-<size hex>"` (nginx's scheme: strong, cheap, no hashing of
the body); `Last-Modified` is the file's mtime. A conditional GET with a matching
`If-None-Match` (weak comparison, RFC 9110 section 13.1.2), or, when there is no
`If-None-Match`, an `If-Modified-Since` not older than the file, gets a 304 with no body.

Errors: 400, 404, 405 (with `Allow: GET, HEAD`), 408, 413, 414, 431, 500 and 505 have small
plain-text bodies. Parse errors must close the connection (the byte stream is no longer in
sync), so `error_response` says `Connection: close` unless the caller asks to keep it (a 404 on a
well-formed request leaves the connection usable).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from email.utils import formatdate, parsedate_to_datetime

__all__ = [
    "ALLOW",
    "DateCache",
    "REASONS",
    "SERVER",
    "StaticResponse",
    "content_type_for",
    "error_response",
    "http_date",
    "make_etag",
    "not_modified_matches",
]

SERVER = b"whyevents"
ALLOW = b"GET, HEAD"

REASONS: dict[int, bytes] = {
    200: b"OK",
    304: b"Not Modified",
    400: b"Bad Request",
    404: b"Not Found",
    405: b"Method Not Allowed",
    408: b"Request Timeout",
    413: b"Content Too Large",
    414: b"URI Too Long",
    431: b"Request Header Fields Too Large",
    500: b"Internal Server Error",
    505: b"HTTP Version Not Supported",
}

# Extension -> Content-Type. A fixed table, not `mimetypes`: that module reads /etc/mime.types,
# so the bytes we send (and so the benchmark) would differ between machines.
_CONTENT_TYPES: dict[str, bytes] = {
    ".html": b"text/html; charset=utf-8",
    ".htm": b"text/html; charset=utf-8",
    ".txt": b"text/plain; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".js": b"text/javascript; charset=utf-8",
    ".json": b"application/json",
    ".xml": b"application/xml",
    ".csv": b"text/csv; charset=utf-8",
    ".png": b"image/png",
    ".jpg": b"image/jpeg",
    ".jpeg": b"image/jpeg",
    ".gif": b"image/gif",
    ".svg": b"image/svg+xml",
    ".ico": b"image/vnd.microsoft.icon",
    ".webp": b"image/webp",
    ".pdf": b"application/pdf",
    ".zip": b"application/zip",
    ".gz": b"application/gzip",
    ".wasm": b"application/wasm",
}
_DEFAULT_TYPE = b"application/octet-stream"


def content_type_for(name: str) -> bytes:
    """Content-Type for a file name, by its extension; octet-stream when unknown.

    SPECweb99's files (`class1_4`) have no extension and are served as octet-stream, as the
    benchmark's own file set was.
    """
    slash = name.rfind("/")
    dot = name.rfind(".")
    if dot <= slash + 1:  # no dot in the last segment, or a dot-file such as ".profile"
        return _DEFAULT_TYPE
    return _CONTENT_TYPES.get(name[dot:].lower(), _DEFAULT_TYPE)


# ---------------------------------------------------------------------------------------------
# Dates
# ---------------------------------------------------------------------------------------------


def http_date(seconds: float) -> bytes:
    """IMF-fixdate (RFC 9110 section 5.6.7), e.g. b"Sun, 06 Nov 1994 08:49:37 GMT"."""
    return formatdate(seconds, usegmt=True).encode("ascii")


class DateCache:
    """The current `Date` value, formatted once per second and shared by every response.

    `current()` returns the *same* bytes object for the whole second, so a `StaticResponse` can
    tell with one identity test whether its pre-built bytes are stale. Safe to share between
    threads: a race formats the same string twice.
    """

    __slots__ = ("_second", "_value", "_clock")

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._second = -1
        self._value = b""

    def current(self) -> bytes:
        """Today's IMF-fixdate, 29 bytes."""
        second = int(self._clock())
        if second != self._second:
            self._value = http_date(second)
            self._second = second
        return self._value


_DATES = DateCache()


# ---------------------------------------------------------------------------------------------
# Validators
# ---------------------------------------------------------------------------------------------


def make_etag(size: int, mtime: float) -> bytes:
    """A strong entity tag from size and mtime, nginx-style: `"<mtime hex>-<size hex>"`."""
    return b'"%x-%x"' % (int(mtime), size)


def _etag_list_matches(header: bytes, etag: bytes) -> bool:
    """Weak comparison of `etag` with an If-None-Match list (RFC 9110 sections 8.8.3.2, 13.1.2)."""
    if header.strip() == b"*":
        return True
    opaque = etag[2:] if etag.startswith(b"W/") else etag
    for candidate in header.split(b","):
        candidate = candidate.strip()
        if candidate.startswith(b"W/"):
            candidate = candidate[2:]
        if candidate == opaque:
            return True
    return False


def not_modified_matches(
    if_none_match: bytes | None,
    if_modified_since: bytes | None,
    etag: bytes,
    mtime: float,
) -> bool:
    """True when a GET/HEAD with these headers should get 304 (RFC 9110 section 13.2.2).

    If-None-Match wins when present; If-Modified-Since is then ignored. An unparseable date is
    ignored, as the RFC requires, rather than treated as an error.
    """
    if if_none_match is not None:
        return _etag_list_matches(if_none_match, etag)
    if if_modified_since is not None:
        try:
            since = parsedate_to_datetime(if_modified_since.decode("latin-1")).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return False
        return int(mtime) <= since
    return False


# ---------------------------------------------------------------------------------------------
# Static responses (the page cache's values)
# ---------------------------------------------------------------------------------------------

_STATUS_200 = b"HTTP/1.1 200 OK\r\nDate: "
_STATUS_304 = b"HTTP/1.1 304 Not Modified\r\nDate: "
_KEEP_ALIVE = b"Connection: keep-alive\r\n\r\n"
_CLOSE = b"Connection: close\r\n\r\n"


class StaticResponse:
    """A file's ready-to-send answers: GET and HEAD, keep-alive or close, and its 304.

    Build one with `StaticResponse(body, mtime, name)` from bytes already read (the cache's
    `make_entry` does this); it never touches the disk. `nbytes` is what it costs a cache: the
    one kept GET response plus the HEAD response, which is what the page cache's byte bound
    counts.

    `response(head, keep_alive)` is the hot path: one identity test on the date, one branch.
    """

    __slots__ = (
        "size", "mtime", "etag", "last_modified", "content_type", "nbytes",
        "_fixed", "_date", "_get", "_head", "_head_len",
    )

    def __init__(self, body: bytes, mtime: float, name: str = "",
                 content_type: bytes | None = None) -> None:
        self.size = len(body)
        self.mtime = mtime
        self.etag = make_etag(self.size, mtime)
        self.last_modified = http_date(mtime)
        self.content_type = content_type if content_type is not None else content_type_for(name)
        # Everything between the Date line and the Connection line never changes.
        self._fixed = (
            b"\r\nServer: " + SERVER
            + b"\r\nContent-Type: " + self.content_type
            + b"\r\nContent-Length: %d" % self.size
            + b"\r\nLast-Modified: " + self.last_modified
            + b"\r\nETag: " + self.etag + b"\r\n"
        )
        date = _DATES.current()
        self._date = date
        self._head = _STATUS_200 + date + self._fixed + _KEEP_ALIVE
        self._head_len = len(self._head)
        self._get = self._head + body
        self.nbytes = len(self._get) + len(self._head)

    @property
    def body(self) -> memoryview:
        """The body, without a copy (a view into the GET response)."""
        return memoryview(self._get)[self._head_len:]

    def _refresh(self, date: bytes) -> None:
        # IMF-fixdate has a fixed width, so the head keeps its length (a race between two
        # threads refreshing at once builds identical bytes). One memcpy of the body.
        head = _STATUS_200 + date + self._fixed + _KEEP_ALIVE
        self._get = b"".join((head, memoryview(self._get)[self._head_len:]))
        self._head = head
        self._head_len = len(head)
        self._date = date

    def response(self, head: bool = False, keep_alive: bool = True) -> bytes:
        """The full 200 answer for GET (or HEAD: headers only), ready for one send."""
        date = _DATES.current()
        if date is not self._date:
            self._refresh(date)
        if keep_alive:
            return self._head if head else self._get
        closing = _STATUS_200 + date + self._fixed + _CLOSE
        if head:
            return closing
        return b"".join((closing, memoryview(self._get)[self._head_len:]))

    def not_modified(self, keep_alive: bool = True) -> bytes:
        """The 304 answer: validators, no body, no Content-Length (RFC 9110 section 15.4.5)."""
        return b"".join((
            _STATUS_304, _DATES.current(),
            b"\r\nServer: ", SERVER,
            b"\r\nLast-Modified: ", self.last_modified,
            b"\r\nETag: ", self.etag, b"\r\n",
            _KEEP_ALIVE if keep_alive else _CLOSE,
        ))

    def is_not_modified(self, if_none_match: bytes | None, if_modified_since: bytes | None) -> bool:
        """Whether these conditional headers make this entry's answer a 304."""
        return not_modified_matches(if_none_match, if_modified_since, self.etag, self.mtime)

    def __repr__(self) -> str:
        return f"<StaticResponse {self.size} B {self.content_type.decode()} {self.etag.decode()}>"


# ---------------------------------------------------------------------------------------------
# Error responses
# ---------------------------------------------------------------------------------------------


def error_response(status: int, *, head: bool = False, keep_alive: bool = False,
                   detail: str = "") -> bytes:
    """A small plain-text error page, e.g. `404 Not Found`; `Connection: close` by default.

    `head=True` drops the body but keeps its Content-Length (RFC 9110 section 9.3.2). 405 carries
    `Allow: GET, HEAD`. An unknown status is answered as 500 rather than inventing a reason.
    `detail` (ASCII, one line) is appended to the body for humans reading curl output.
    """
    reason = REASONS.get(status)
    if reason is None or status < 400:
        status, reason = 500, REASONS[500]
    body = b"%d %s\n" % (status, reason)
    if detail:
        safe = detail.encode("ascii", "replace").replace(b"\r", b" ").replace(b"\n", b" ")
        body += safe[:200] + b"\n"
    parts = [
        b"HTTP/1.1 %d %s\r\nDate: " % (status, reason), _DATES.current(),
        b"\r\nServer: ", SERVER,
        b"\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n" % len(body),
    ]
    if status == 405:
        parts.append(b"Allow: " + ALLOW + b"\r\n")
    parts.append(_KEEP_ALIVE if keep_alive else _CLOSE)
    if not head:
        parts.append(body)
    return b"".join(parts)
