"""Incremental HTTP/1.x request parsing: bytes in, `Request` objects out, no I/O.

Every whyevents server (Knot on green or kernel threads, the staged Haboob-like server and the
epoll event twin) reads bytes its own way and hands them to one `RequestParser` per connection.
The experiments then compare concurrency architectures, not parsers (h11's lesson: the protocol
is a pure state machine and the server owns the socket).

Theory of operation
-------------------
`RequestParser.feed(data)` pushes bytes into llhttp (through `httptools`) and returns the
requests completed by them, in order: zero, one, or many when a client pipelines. A request may be
split across feeds at any byte. When the bytes are bad the parser stops: `feed` returns the
requests completed *before* the bad bytes and sets `parser.error` to an `HTTPError` carrying the
status to answer with (400, 405, 413, 414, 431, 505). The server answers the good requests, then
the error, then closes. It never raises for bad input: a server loop is

    for request in parser.feed(data):
        send(handler.respond(request))          # or queue it, or hand it to a stage
    if parser.error is not None:
        send(error_response(parser.error.status)); close()
    elif parser.closed:                          # last request said "close"
        close()

All state transitions live in `_TRANSITIONS` below (event -> {state: next state}); a transition
not in the table is a bug in this module and raises `KeyError` loudly rather than answering
with a wrong status.

    IDLE --begin--> HEAD --headers--> BODY --complete(keep-alive)--> IDLE
                                           --complete(close)-------> CLOSED
    any --error--> ERROR        CLOSED and ERROR are final: later bytes are ignored.

Keep-alive follows RFC 9112 section 9.3 as llhttp implements it: HTTP/1.1 persists unless
`Connection: close`; HTTP/1.0 persists only with `Connection: keep-alive`. A request asking to
`Upgrade` is served as plain HTTP and the connection is closed after it (RFC 9110 section 7.8 lets
a server ignore Upgrade). Bytes after a request that closes the connection are ignored, not
parsed: the server will close once it has answered.

Why httptools (llhttp)
----------------------
The design asks for a well-kept parser unless our own is measurably faster. llhttp is node.js's
parser: generated from a state-machine description, strict about request smuggling (duplicate
Content-Length, bad Transfer-Encoding, bare LF, obs-fold) and fuzzed upstream. We timed two
pure-Python parsers against this module on a 3-header GET (`GET /dir00012/class1_4 HTTP/1.1`
with Host, User-Agent, Accept; `timeit`, interleaved) when choosing it. Ranked by cost per
request, cheapest first:

    pure Python, find CRLFCRLF + split + partition, NO validation
    this module (llhttp, Python callbacks, limits, state table)
    pure Python, regex-validated tokens/version/Connection/limits,
      still without chunked bodies or split-body handling

The unvalidated parser is cheaper only because it accepts anything (it would serve request
smuggling and header injection); making it check what llhttp checks costs more Python bytecode
than llhttp's callbacks. So llhttp it is. What remains of our cost is the Python callbacks (one
per header), which is why `on_header` does as little as possible.

Limits, and their precedent
---------------------------
Every buffer is bounded, because a server with 10,000 connections holds 10,000 parsers.

* Request line: 8,190 bytes, Apache's `LimitRequestLine` default. A longer target gets 414.
  (nginx's `large_client_header_buffers` is 8 KiB; IIS's `MaxRequestBytes` 16 KiB.)
* Header block: 16 KiB total (node.js `--max-http-header-size` default since v13.13/v12.18,
  and h11's `max_incomplete_event_size`); Tomcat's `maxHttpHeaderSize` is 8 KiB. Over it: 431.
* Header count: 100, Apache's `LimitRequestFields` default. Over it: 431 (RFC 6585 section 5).
* Request body on GET/HEAD: 8 KiB, then 413. Bodies on GET have no meaning (RFC 9110 section
  9.3.1) and are read and dropped; a declared `Content-Length` over the limit is refused at once,
  before any body byte arrives. A chunked body is counted as it arrives.

httptools assembles each header name and value as Python bytes before calling us, so a single
endless header must be bounded too: once an incomplete head has spanned whole feeds worth more
than the header limit plus the request-line limit (24 KiB by default) the request gets 431, so a
parser never buffers more than that plus one read buffer.

Not supported on purpose: methods other than GET and HEAD (405 with `Allow: GET, HEAD` for any
method llhttp knows, such as POST or CONNECT; an unregistered token such as `FOO` is, to llhttp,
indistinguishable from garbage and gets 400), HTTP/0.9 and HTTP/2 and later (505), bare-LF line
endings (400: llhttp's strict mode, we do not enable its leniency flags).
"""

from __future__ import annotations

from dataclasses import dataclass

import httptools

__all__ = [
    "DEFAULT_LIMITS",
    "HTTPError",
    "Limits",
    "ParserState",
    "Request",
    "RequestParser",
]


# ---------------------------------------------------------------------------------------------
# Errors and requests
# ---------------------------------------------------------------------------------------------


class HTTPError(Exception):
    """The request cannot be served; answer with `status`, and for parse errors close.

    Raised by `paths` (and so by `Handler.resolve`), *stored* (never raised) by `RequestParser`,
    so a server has one type to map to a response: `response.error_response(err.status)`.
    """

    def __init__(self, status: int, reason: str = "") -> None:
        super().__init__(status, reason)
        self.status = status
        self.reason = reason

    def __repr__(self) -> str:
        return f"HTTPError({self.status}, {self.reason!r})"

    def __str__(self) -> str:
        return f"{self.status} {self.reason}".rstrip()


class Request:
    """One parsed request head: what a handler needs, nothing more.

    `method` is "GET" or "HEAD" (others never get this far), `target` the raw request target as
    sent (bytes, still percent-encoded: `paths.normalize_target` decodes it), `version` "1.0"
    or "1.1", `headers` a list of (lower-cased name, value) byte pairs in arrival order,
    `keep_alive` whether the connection may carry another request after this one, and
    `conditional` whether any `If-*` header is present (so the handler can skip the 304 check,
    the common case, without scanning headers).
    """

    __slots__ = ("method", "target", "version", "headers", "keep_alive", "conditional")

    def __init__(
        self,
        method: str,
        target: bytes,
        version: str = "1.1",
        headers: list[tuple[bytes, bytes]] | None = None,
        keep_alive: bool = True,
        conditional: bool = False,
    ) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers if headers is not None else []
        self.keep_alive = keep_alive
        self.conditional = conditional

    def header(self, name: bytes) -> bytes | None:
        """The first value of header `name` (lower-case bytes), or None. Linear: heads are short."""
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def _key(self) -> tuple[object, ...]:
        return (self.method, self.target, self.version, self.headers, self.keep_alive,
                self.conditional)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Request):
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value in tests

    def __repr__(self) -> str:
        return (f"Request({self.method} {self.target!r} HTTP/{self.version}, "
                f"{len(self.headers)} headers, keep_alive={self.keep_alive})")


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-connection bounds; the defaults and their precedent are in the module docstring."""

    max_request_line: int = 8190
    max_header_bytes: int = 16 * 1024
    max_headers: int = 100
    max_body_bytes: int = 8 * 1024


DEFAULT_LIMITS = Limits()


# ---------------------------------------------------------------------------------------------
# State table
# ---------------------------------------------------------------------------------------------


class ParserState:
    """Names of the parser's states (plain strings: cheap to compare, readable in reprs)."""

    IDLE = "IDLE"  # between requests; no byte of the next request seen
    HEAD = "HEAD"  # inside the request line or header block
    BODY = "BODY"  # head complete, reading (and discarding) a body
    CLOSED = "CLOSED"  # a request said the connection ends after it; final
    ERROR = "ERROR"  # bad bytes seen, `error` is set; final


_S = ParserState
_IDLE, _HEAD, _BODY, _CLOSED, _ERROR = _S.IDLE, _S.HEAD, _S.BODY, _S.CLOSED, _S.ERROR
# event -> {state before: state after}. Indexed by event first so each callback binds its own
# row once (`_ON_BEGIN[state]` costs half of a tuple-keyed lookup on the hot path).
_TRANSITIONS: dict[str, dict[str, str]] = {
    "begin": {_S.IDLE: _S.HEAD},
    "headers": {_S.HEAD: _S.BODY},
    "complete-keep-alive": {_S.BODY: _S.IDLE},
    "complete-close": {_S.BODY: _S.CLOSED},
    "error": {_S.IDLE: _S.ERROR, _S.HEAD: _S.ERROR, _S.BODY: _S.ERROR},
}
_ON_BEGIN = _TRANSITIONS["begin"]
_ON_HEADERS = _TRANSITIONS["headers"]
_ON_COMPLETE_KEEP_ALIVE = _TRANSITIONS["complete-keep-alive"]
_ON_COMPLETE_CLOSE = _TRANSITIONS["complete-close"]
_ON_ERROR = _TRANSITIONS["error"]

# llhttp reports the method as bytes; anything else is refused with 405 (if llhttp knows it).
_ALLOWED_METHODS = {b"GET": "GET", b"HEAD": "HEAD"}
_SUPPORTED_VERSIONS = frozenset(("1.0", "1.1"))
# Request line is METHOD SP target SP HTTP/x.y; the fixed part for GET is "GET  HTTP/1.1" (13).
_LINE_OVERHEAD = len("GET  HTTP/1.1")


class _Reject(Exception):
    """Raised inside an llhttp callback to stop parsing with a status; never escapes `feed`."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(status, reason)
        self.status = status
        self.reason = reason


def _status_for_llhttp_error(exc: Exception) -> tuple[int, str]:
    """Map an llhttp error to the status a client should see. Syntax errors are 400."""
    reason = str(exc)
    if isinstance(exc, httptools.HttpParserInvalidMethodError):
        return 400, "unrecognized method"
    if isinstance(exc, httptools.HttpParserInvalidURLError):
        return 400, "invalid request target"
    if reason == "Invalid HTTP version":  # e.g. HTTP/1.2, HTTP/3.0
        return 505, "HTTP version not supported"
    if reason == "Pause on PRI/Upgrade":  # the HTTP/2 connection preface
        return 505, "HTTP/2 not supported"
    return 400, reason or "bad request"


# ---------------------------------------------------------------------------------------------
# The parser
# ---------------------------------------------------------------------------------------------


class RequestParser:
    """One connection's request stream. Not thread-safe: one reader per connection.

    `feed(data)` returns completed requests in order; `error` is None until bad bytes arrive,
    then an `HTTPError` and the parser is final. `closed` is true once no further request will
    be parsed (after a `Connection: close` request or an error). `in_progress` is true while part
    of a request is buffered: a server whose read times out then answers 408, while an idle
    keep-alive connection is just closed.
    """

    __slots__ = (
        "limits", "error", "_state", "_p", "_out", "_url", "_headers", "_head_bytes",
        "_conditional", "_body_bytes", "_began_now", "_partial", "_request", "_reject",
        "_max_target", "_max_headers", "_max_header_bytes", "_max_body_bytes",
    )

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self.error: HTTPError | None = None
        self._state = _S.IDLE
        self._out: list[Request] = []
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._head_bytes = 0
        self._conditional = False
        self._body_bytes = 0
        self._began_now = False
        self._partial = 0
        self._request: Request | None = None
        self._reject: _Reject | None = None
        # Limits copied into slots: one attribute load per check on the hot path.
        self._max_target = limits.max_request_line - _LINE_OVERHEAD
        self._max_headers = limits.max_headers
        self._max_header_bytes = limits.max_header_bytes
        self._max_body_bytes = limits.max_body_bytes
        # httptools looks the callbacks up once, here; it keeps the bound methods.
        self._p = httptools.HttpRequestParser(self)

    # -- public ---------------------------------------------------------------------------

    @property
    def state(self) -> str:
        """The current `ParserState` name."""
        return self._state

    @property
    def closed(self) -> bool:
        """True when no further request will come out of this parser."""
        return self._state is _CLOSED or self._state is _ERROR

    @property
    def in_progress(self) -> bool:
        """True while a partial request is buffered (so a timeout deserves a 408)."""
        return self._state is _HEAD or self._state is _BODY

    def feed(self, data: bytes | bytearray | memoryview) -> list[Request]:
        """Parse `data`; return the requests it completes. Never raises for bad input."""
        state = self._state
        if state is _CLOSED or state is _ERROR:
            return []
        out: list[Request] = []
        self._out = out
        self._began_now = False
        try:
            self._p.feed_data(data)
        except httptools.HttpParserUpgrade:
            # Only reachable after a completed Upgrade/CONNECT request, which we answer as
            # plain HTTP and then close (on_message_complete moved us to CLOSED).
            if self._state is not _CLOSED:
                self._fail(400, "unexpected upgrade")
        except httptools.HttpParserError as exc:
            if self._state is _CLOSED:
                pass  # llhttp refuses data after "Connection: close"; we ignore it
            elif self._reject is not None:
                self._fail(self._reject.status, self._reject.reason)
            elif isinstance(exc, httptools.HttpParserCallbackError):
                # A bug in our callbacks, not bad input: surface it, do not answer 400.
                bug = exc.__context__
                if bug is None:
                    raise
                raise bug from exc
            else:
                self._fail(*_status_for_llhttp_error(exc))
        else:
            if self._state is _HEAD and not self._began_now:
                # The head began in an earlier feed and is still incomplete: every byte of
                # this feed belongs to it. Bound what httptools buffers for a partial header.
                self._partial += len(data)
                if self._partial > self.limits.max_header_bytes + self.limits.max_request_line:
                    self._fail(431, "request header block too large")
        return out

    # -- llhttp callbacks (hot path: keep them short) --------------------------------------

    def on_message_begin(self) -> None:
        self._state = _ON_BEGIN[self._state]
        self._url = b""
        self._headers = []
        self._head_bytes = 0
        self._conditional = False
        self._body_bytes = 0
        self._partial = 0
        self._began_now = True

    def on_url(self, part: bytes) -> None:
        url = self._url + part if self._url else part
        if len(url) > self._max_target:
            raise self._raise(414, "request target too long")
        self._url = url

    def on_header(self, name: bytes, value: bytes) -> None:
        headers = self._headers
        if len(headers) >= self._max_headers:
            raise self._raise(431, "too many header fields")
        self._head_bytes += len(name) + len(value) + 4
        if self._head_bytes > self._max_header_bytes:
            raise self._raise(431, "request header block too large")
        name = name.lower()
        # llhttp drops leading whitespace but keeps trailing OWS, which is not part of the value
        # (RFC 9110 section 5.5); rstrip returns the same object when there is none (cheap).
        headers.append((name, value.rstrip(b" \t")))
        if name[:3] == b"if-":
            self._conditional = True
        elif name == b"content-length" and int(value) > self._max_body_bytes:
            # llhttp has validated the digits; refuse a large body before it arrives.
            raise self._raise(413, "request body too large")

    def on_headers_complete(self) -> None:
        self._state = _ON_HEADERS[self._state]
        p = self._p
        version = p.get_http_version()
        if version not in _SUPPORTED_VERSIONS:
            raise self._raise(505, f"HTTP/{version} not supported")
        method = _ALLOWED_METHODS.get(p.get_method())
        if method is None:
            raise self._raise(405, "method not allowed")
        self._request = Request(method, self._url, version, self._headers,
                                p.should_keep_alive() and not p.should_upgrade(),
                                self._conditional)

    def on_body(self, chunk: bytes) -> None:
        self._body_bytes += len(chunk)
        if self._body_bytes > self._max_body_bytes:
            raise self._raise(413, "request body too large")

    def on_message_complete(self) -> None:
        request: Request = self._request  # type: ignore[assignment]
        self._out.append(request)
        if request.keep_alive:
            self._state = _ON_COMPLETE_KEEP_ALIVE[self._state]
        else:
            self._state = _ON_COMPLETE_CLOSE[self._state]

    # -- internals ---------------------------------------------------------------------------

    def _raise(self, status: int, reason: str) -> _Reject:
        """Record why we stop; the caller raises the result so llhttp aborts the feed."""
        self._reject = _Reject(status, reason)
        return self._reject

    def _fail(self, status: int, reason: str) -> None:
        self._state = _ON_ERROR[self._state]
        self.error = HTTPError(status, reason)

    def __repr__(self) -> str:
        return f"<RequestParser {self._state} error={self.error!r}>"
