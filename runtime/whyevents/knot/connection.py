"""Serving one connection, start to finish, in the plain threaded style. Knot's hot path.

``serve_connection`` is what a Knot thread does with an accepted socket: read, parse, answer,
repeat while the client keeps the connection alive, then close. It is straight-line blocking
code; the thread package underneath (``backends``) decides what "blocking" costs, so the same
function runs on green threads and on kernel threads. Everything the connection needs lives in
this one frame (parser, socket, a few locals): the "live state" the paper (section 4) says a
thread keeps on its stack and an event handler would have to rip into a continuation.

Per request, on a warm page cache (the paper's Figure 3 workload): one ``recv``, the parser's
``feed`` (or a dict lookup, with the request memo below), ``Handler.respond`` (a dict lookup
returning the pre-built header+body ``bytes``), one ``sendall``. Requests that arrive together
(pipelining) are answered with one ``sendall`` of the joined responses. The rules, from
``whyevents.http``:

* answer the requests ``feed`` returned, in order; stop after one that does not keep the
  connection alive (HTTP/1.0 without keep-alive, ``Connection: close``);
* if the parser then has an error, send ``error_response(status)`` (it says ``Connection:
  close``) and close, lingering (``server_common.Linger``): the byte stream is no longer in sync;
* a page-cache miss (``Miss``) is read from disk by the backend (``read_file``), then
  ``Handler.finish`` builds, caches and answers it; a missing or unsafe path is a 404 that keeps
  the connection.

The request memo (off unless ``MEMO_REQUEST_BYTES`` > 0). Parsing is a pure function of the bytes
when the parser starts idle (no partial request buffered): the same bytes give the same
``Request``. Clients repeat themselves (a browser or load generator sends identical heads for the
same resource, byte for byte), so a read that holds exactly one complete request, parsed from
idle, is remembered by its bytes in a per-server dict (``Knot.request_memo``); the next identical
read on any idle connection skips the parser. It is bounded (``MEMO_ENTRIES`` entries of at most
``MEMO_REQUEST_BYTES``, cleared when full, like ``Handler``'s target memo), so a client sending
distinct requests only costs a failed dict lookup, far cheaper than the parse it saves (``timeit``
httptools' ``feed`` of a wrk-style GET against a dict lookup of the same bytes). The memo's
saving in server CPU per request is what ``whyevents bench servers --servers knot-c`` shows with
``MEMO_REQUEST_BYTES`` set against a run without it, interleaved: a part of the parse's cost,
noisy from run to run. The parser sees
everything else: partial heads, pipelined bursts, errors, anything new. It is off by default
because it is parser work, not concurrency: the event-loop and staged servers parse every request
through the same ``whyevents.http``, and a Knot-only memo would credit Knot's threads with a
parsing saving. Its place is ``http.RequestParser``, for every server.

Time-outs: the socket's timeout is ``request_timeout``, so a ``recv`` that waits that long raises
``TimeoutError``. A partial request must be whole within ``request_timeout`` of the read that
began it (so a client trickling a byte at a time, slowloris, is bounded too: the socket's timeout
is then what is left of that); if not, the client gets 408 and the connection is closed, as
nginx's ``client_header_timeout``. An idle keep-alive connection (nothing buffered) is closed
without a word, as nginx does with ``keepalive_timeout``. A ``sendall`` that takes that long in
all (a client that stopped reading, or reads too slowly: the timeout bounds the whole call, in
the stdlib and the green socket alike) just closes, counted in ``send_timeouts``.

A client that vanishes (ECONNRESET, EPIPE, a timed-out send, the socket shut down by ``stop``)
ends this connection only: counted in ``Knot.client_aborts``/``send_timeouts``, never a
traceback. Anything else escaping is a bug in Knot and is reported by the thread package.

Counting: the ``ServerCounters`` fields are plain ``+=``. Exact on green threads (one OS thread);
on kernel threads CPython's GIL does not switch between the load and the store of ``x.n += 1``
(no eval-breaker check inside it on 3.11/3.12), so they are exact there in practice too.
"""

from __future__ import annotations

from socket import IPPROTO_TCP, TCP_NODELAY
from time import monotonic

from ..http import HTTPError, Miss, RequestParser, error_response
from ..http.handler import NOT_FOUND_ERRNOS
from ..server_common import Linger

__all__ = ["serve_connection", "load", "answer_batch", "RECV_BYTES", "MEMO_ENTRIES",
           "MEMO_REQUEST_BYTES"]

#: Bytes asked of each ``recv``. A request head is ~100 bytes; a longer head or a pipelined burst
#: just takes several reads. ``recv`` into a fresh ``bytes`` costs about the same as
#: ``recv_into`` a reused buffer for a small request (timeit both on a socketpair to see), and
#: keeps no per-connection buffer alive while the thread waits.
RECV_BYTES = 8192
#: The request memo (see the module docstring), off by default: set ``MEMO_REQUEST_BYTES`` to
#: e.g. 1024 to remember requests of up to that many bytes, at most ``MEMO_ENTRIES`` of them
#: (then it is cleared), so at most 1 MiB of keys.
MEMO_ENTRIES = 1024
MEMO_REQUEST_BYTES = 0

_NO_MEMO: dict = {}       # the memo when it is off: always empty, never written

_STATUS_3 = ord("3")      # byte 9 of "HTTP/1.1 NNN": above "3" is an error status worth counting


def load(knot, miss: Miss) -> bytes:
    """The cold path: read the file a ``Miss`` names with the backend's reader, then answer."""
    handler = knot.handler
    try:
        path = handler.resolve(miss)
        body, st = knot.backend.read_file(path)
    except HTTPError as err:
        return handler.fail(miss, err.status)
    except OSError as err:
        return handler.fail(miss, 404 if err.errno in NOT_FOUND_ERRNOS else 500)
    return handler.finish(miss, body, st)


def _answer(knot, request) -> bytes:
    response = knot.handler.respond(request)
    if response.__class__ is Miss:
        response = load(knot, response)
    if response[9] > _STATUS_3:
        knot.counters.error(int(response[9:12]))
    return response


def answer_batch(knot, requests: list) -> tuple[bytes, int, bool]:
    """The responses to a pipelined batch, joined for one send, up to the first request that
    does not keep the connection alive: (response, requests answered, keep the connection).
    Pure of I/O, so Knot on ``async def`` threads (``knot.coro``) shares it."""
    parts = []
    for request in requests:
        parts.append(_answer(knot, request))
        if not request.keep_alive:
            return b"".join(parts), len(parts), False
    return b"".join(parts), len(parts), True


def _answer_all(knot, conn, requests: list, error) -> bool:
    """Anything but exactly one well-formed request: none yet (a partial head), a pipelined
    batch (answered with one ``sendall``), and/or a parse error. False: close the connection."""
    if requests:
        response, answered, keep_alive = answer_batch(knot, requests)
        conn.sendall(response)
        counters = knot.counters
        counters.requests += answered
        counters.bytes_sent += len(response)
        if not keep_alive:
            return False
    if error is not None:
        _close_with_error(knot, conn, error.status)
        return False
    return True


def serve_connection(knot, conn) -> None:
    """Serve ``conn`` until the client is done (or gone), then close it. Never raises OSError."""
    counters = knot.counters
    handler = knot.handler
    use_memo = MEMO_REQUEST_BYTES > 0
    memo = knot.request_memo if use_memo else _NO_MEMO
    parser = RequestParser(knot.limits)
    idle = True                                         # no partial request in the parser
    timeout = knot.request_timeout
    deadline = 0.0                                      # for the partial request, if any
    counters.connections_total += 1
    counters.connections_open += 1
    try:
        conn.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1)
        conn.settimeout(timeout)
        while True:
            if not idle:                                # a partial request: whole in time
                if not deadline:
                    deadline = monotonic() + timeout
                conn.settimeout(max(deadline - monotonic(), 1e-6))
            elif deadline:
                deadline = 0.0
                conn.settimeout(timeout)
            try:
                data = conn.recv(RECV_BYTES)
            except TimeoutError:
                if idle:
                    knot.idle_closes += 1
                else:
                    knot.timeouts_408 += 1
                    _close_with_error(knot, conn, 408)
                return
            if not data:
                return                                  # the client closed (or stop() did)
            # with the memo off, no lookup: a lookup would hash the request's bytes for nothing
            request = memo.get(data) if idle and use_memo else None
            if request is None:                         # not a request seen before: parse it
                was_idle = idle
                requests = parser.feed(data)
                idle = not parser.in_progress
                if len(requests) != 1 or parser.error is not None:
                    if _answer_all(knot, conn, requests, parser.error):
                        continue
                    return
                request = requests[0]
                if was_idle and idle and len(data) <= MEMO_REQUEST_BYTES:
                    if len(memo) >= MEMO_ENTRIES:
                        memo.clear()
                    memo[data] = request
            response = handler.respond(request)         # one request: the common case
            if response.__class__ is Miss:
                response = load(knot, response)
            if response[9] > _STATUS_3:
                counters.error(int(response[9:12]))
            conn.sendall(response)
            counters.requests += 1
            counters.bytes_sent += len(response)
            if not request.keep_alive:
                return
    except TimeoutError:                                # only sendall can get here
        knot.send_timeouts += 1
    except OSError:
        if not knot.stopping:
            knot.client_aborts += 1
    finally:
        counters.connections_open -= 1
        knot.conns.pop(conn, None)                      # registered by accept_connection
        conn.close()


def _close_with_error(knot, conn, status: int) -> None:
    """Send an error page that closes the connection, then a lingering close
    (``server_common.Linger``: shut down writing, drain what the client still sends, bounded) so
    the client reads it whole;
    the caller closes. On Knot-C this holds a pool thread for at most ``LINGER_TIME``."""
    response = error_response(status)
    knot.counters.error(status)
    try:
        conn.sendall(response)
    except OSError:
        knot.client_aborts += 1
        return
    knot.counters.bytes_sent += len(response)
    Linger(conn, knot.counters).run()
