"""One connection of the event server as a pure state machine: no sockets, no clocks, no I/O.

Two rules, after h11's ``_state.py``: all of a connection's transition logic lives in this file,
and this file never touches a socket. The loop (``loop.py``) does the system calls and then tells
the machine what happened, by naming an event; the machine answers with its next state from one
table, ``TRANSITIONS``, or raises ``ConnectionStateError`` if that event cannot happen in that
state (a bug in the loop, reported loudly rather than serving garbage).

Theory of operation
-------------------
A state is what the connection is waiting for. That is the event-system spelling of a thread's
blocking point (the paper's section 2.1): Knot's thread waiting in ``recv`` is a connection here
in READING; its thread blocked in ``sendall`` is WRITING; its thread blocked in a disk read is
DISK.

    READING  waiting for request bytes (nothing owed to the client)
    WRITING  a response is partly sent; the rest waits for the socket to become writable
    DISK     the next response owed is a page-cache miss being read by the disk pool
    LINGERING an error reply was sent and writing shut down; what the client still sends is
             read and discarded until it closes or a bound runs out (``server_common.Linger``)
    CLOSED   final

Events (what the loop observed), and where they lead::

    sent_all      every owed response was sent, keep the connection   -> READING
    send_blocked  the kernel took only part of a response (EAGAIN)     -> WRITING
    miss          the next owed response must first be read from disk  -> DISK
    finished      the last response was sent and the connection ends   -> CLOSED
                  (the request said "Connection: close")
    linger        the last response was an error reply (a parse error, -> LINGERING
                  or a 408): lingering close rather than a reset
    peer_closed   end of file from the client (READING, LINGERING)     -> CLOSED
    peer_vanished ECONNRESET / EPIPE: the client is gone               -> CLOSED
    timed_out     ``request_timeout`` without progress, or a lingering -> CLOSED
                  bound ran out
    shutdown      the server is stopping                               -> CLOSED

Only READING reads: a connection that owes responses (WRITING, DISK) does not parse more
requests, which is the back-pressure Knot gets for free from its thread being busy in
``sendall``. So ``peer_closed`` is legal only in READING, and ``timed_out`` never applies to DISK
(the server, not the client, is the slow party there).

What the machine also owns, because it is protocol and not I/O: the request parser and the queue
of owed responses, in request order (pipelining). ``receive(data)`` feeds the parser and queues
one item per request: the response bytes (page-cache hit, or a 4xx) or a ``PendingDisk``
placeholder the loop fills when the disk pool answers. Responses always leave in request order,
whatever order the disk reads finish in.
"""

from __future__ import annotations

from collections import deque

from ..http import Miss, RequestParser, error_response

__all__ = [
    "ConnState", "ConnEvent", "TRANSITIONS", "ConnectionStateError", "Connection",
    "PendingDisk", "transition_table",
]


class ConnState:
    """Names of the states (plain strings: cheap identity tests, readable reprs)."""

    READING = "READING"
    WRITING = "WRITING"
    DISK = "DISK"
    LINGERING = "LINGERING"
    CLOSED = "CLOSED"

    ALL = (READING, WRITING, DISK, LINGERING, CLOSED)


class ConnEvent:
    """Names of the events the loop reports to a connection."""

    SENT_ALL = "sent_all"
    SEND_BLOCKED = "send_blocked"
    MISS = "miss"
    FINISHED = "finished"
    LINGER = "linger"
    PEER_CLOSED = "peer_closed"
    PEER_VANISHED = "peer_vanished"
    TIMED_OUT = "timed_out"
    SHUTDOWN = "shutdown"


_S = ConnState
_E = ConnEvent
READING, WRITING, DISK, CLOSED = _S.READING, _S.WRITING, _S.DISK, _S.CLOSED
LINGERING = _S.LINGERING
_OPEN = (READING, WRITING, DISK)

#: event -> {state before: state after}. Indexed by event first, so ``fire`` costs two dict
#: lookups; a missing entry is an illegal transition.
TRANSITIONS: dict[str, dict[str, str]] = {
    _E.SENT_ALL: {s: READING for s in _OPEN},
    _E.SEND_BLOCKED: {s: WRITING for s in _OPEN},
    _E.MISS: {s: DISK for s in _OPEN},
    _E.FINISHED: {s: CLOSED for s in _OPEN},
    _E.LINGER: {s: LINGERING for s in _OPEN},
    _E.PEER_CLOSED: {READING: CLOSED, LINGERING: CLOSED},
    _E.PEER_VANISHED: {s: CLOSED for s in (*_OPEN, LINGERING)},
    _E.TIMED_OUT: {READING: CLOSED, WRITING: CLOSED, LINGERING: CLOSED},
    _E.SHUTDOWN: {s: CLOSED for s in (*_OPEN, LINGERING)},
}


def transition_table() -> list[tuple[str, str, str]]:
    """Every legal (state, event, next state), sorted: for docs, notebooks and diagram scripts."""
    return sorted((before, event, after) for event, row in TRANSITIONS.items()
                  for before, after in row.items())


class ConnectionStateError(RuntimeError):
    """The loop reported an event that cannot happen in the connection's current state."""

    def __init__(self, event: str, state: str, msg: str | None = None) -> None:
        row = TRANSITIONS.get(event)
        if msg is not None:
            pass
        elif row is None:
            msg = (f"unknown connection event {event!r} (in state {state}); "
                   f"known events: {sorted(TRANSITIONS)}")
        else:
            msg = (f"illegal transition: event {event!r} in state {state}; "
                   f"{event!r} is allowed only from {sorted(row)}")
        super().__init__(msg)
        self.event = event
        self.state = state


class PendingDisk:
    """A queued response that waits for the disk pool: the loop sets ``response`` when it has it."""

    __slots__ = ("conn", "miss", "response")

    def __init__(self, conn: Connection, miss: Miss) -> None:
        self.conn = conn
        self.miss = miss
        self.response: bytes | None = None

    def __repr__(self) -> str:
        done = "ready" if self.response is not None else "reading"
        return f"<PendingDisk {self.miss.key!r} {done}>"


_STATUS_3 = ord("3")     # byte 9 of "HTTP/1.1 NNN": above "3" is an error status worth counting


class Connection:
    """A connection's protocol state: the state, the parser, the owed responses.

    ``ctx`` is shared by every connection of a server and gives ``handler`` (a
    ``whyevents.http.Handler``), ``counters`` (``ServerCounters``) and ``limits``.
    ``out`` holds owed responses in request order (``bytes`` or ``PendingDisk``); ``offset`` is
    how much of ``out[0]`` is already sent; ``closing`` is true once no further request will be
    served (the connection ends when ``out`` drains). The loop's subclass adds the socket.
    """

    __slots__ = ("state", "ctx", "parser", "out", "offset", "closing")

    def __init__(self, ctx) -> None:
        self.state = READING
        self.ctx = ctx
        self.parser = RequestParser(ctx.limits)
        self.out: deque = deque()
        self.offset = 0
        self.closing = False

    def fire(self, event: str) -> str:
        """Take the transition named ``event``; returns the new state. Raises on illegal ones."""
        try:
            new = TRANSITIONS[event][self.state]
        except KeyError:
            raise ConnectionStateError(event, self.state) from None
        self.state = new
        return new

    def receive(self, data: bytes) -> list[PendingDisk] | None:
        """Parse ``data`` and queue a response per completed request; returns new disk misses.

        Called only in READING. After a request that ends the connection, or a parse error
        (whose error page is queued last), ``closing`` is set and later bytes are ignored.
        """
        if self.state is not READING:
            raise ConnectionStateError(
                "receive", self.state,
                f"receive() in state {self.state}: only a READING connection parses requests")
        if self.closing:
            return None
        parser = self.parser
        requests = parser.feed(data)
        misses = None
        if requests:
            ctx = self.ctx
            respond = ctx.handler.respond
            counters = ctx.counters
            out = self.out
            for request in requests:
                response = respond(request)
                if response.__class__ is Miss:
                    pending = PendingDisk(self, response)
                    out.append(pending)
                    if misses is None:
                        misses = [pending]
                    else:
                        misses.append(pending)
                else:
                    if response[9] > _STATUS_3:
                        counters.error(int(response[9:12]))
                    out.append(response)
            counters.requests += len(requests)
        if parser.closed:
            self.closing = True
            err = parser.error
            if err is not None:
                self.out.append(error_response(err.status))
                self.ctx.counters.error(err.status)
        return misses

    def loaded(self, pending: PendingDisk, response: bytes) -> None:
        """The disk pool answered ``pending`` (queued by this connection) with ``response``."""
        if pending.conn is not self:
            raise ValueError(f"{pending!r} belongs to another connection")
        if response[9] > _STATUS_3:
            self.ctx.counters.error(int(response[9:12]))
        pending.response = response

    def ready(self, limit: int = 64) -> list:
        """The owed bytes that can be sent now, in order: up to the first unread miss.

        The first item is the unsent rest of a partly sent response. Pure: call ``consumed``
        with what the kernel took.
        """
        out = self.out
        bufs = []
        for item in out:
            if item.__class__ is PendingDisk:
                item = item.response
                if item is None:
                    break
            if not bufs and self.offset:
                item = memoryview(item)[self.offset:]
            bufs.append(item)
            if len(bufs) >= limit:
                break
        return bufs

    def consumed(self, n: int) -> None:
        """The kernel accepted ``n`` bytes of what ``ready`` returned: drop what is fully sent."""
        out = self.out
        offset = self.offset + n
        while out:
            item = out[0]
            if item.__class__ is PendingDisk:
                item = item.response
                if item is None:
                    break
            size = len(item)
            if offset < size:
                break
            offset -= size
            out.popleft()
        self.offset = offset

    def blocked_on_disk(self) -> bool:
        """True when the next owed response is a miss the disk pool has not answered yet."""
        out = self.out
        return bool(out) and out[0].__class__ is PendingDisk and out[0].response is None

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self.state} owes={len(self.out)} "
                f"closing={self.closing}>")
