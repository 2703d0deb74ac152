"""Knot on compiler-transformed threads: the same server written with ``async def``.

The paper's section 4 answers the cost of threads with the compiler: transform each thread into
a continuation it can resume, and the thread keeps its straight-line code with no stack of its
own. CPython's compiler does exactly that to an ``async def``. So this is Knot (``knot``) once
more, each thread an ``async def`` frame run by ``threads.coro_io`` (the ``coro`` loop plus an
edge-triggered epoll set), beside Knot on green threads (``knot.server``) and the event twin
(``eventloop``):

    from whyevents.knot import coro as knot_async

    with knot_async.start("/srv/www", policy="C") as server:     # Knot-C on async def threads
        print(server.url, server.stats())

Everything but the waiting is Knot's, shared rather than copied: the HTTP module
(``whyevents.http``: parser, ``Handler``, page cache), ``connection``'s cold path (``load``) and
pipelined batch (``answer_batch``), its request memo and status counting, ``Knot``'s counters
and stats, the accept policies' EMFILE rule and ``server_common``'s listener, handle, bounds of
the lingering close and argument checks. ``serve_connection`` below is ``connection``'s loop
with ``await`` where the green one blocks; the differences are only those the syntax forces:

* the hot path calls the socket's synchronous halves and awaits only when they say it must:
  ``recv_nowait`` (None after a short read drained the socket, or on EAGAIN) then
  ``wait_readable``; ``send``, then ``send_rest`` only for what the kernel did not take. Per
  keep-alive request: one park, one ``recv``, one ``send``, the event loop's system calls.
* time-outs are deadlines handed to the wait, with ``connection``'s rules: an idle keep-alive
  connection closes silently after ``request_timeout``; a partial request must be whole within
  ``request_timeout`` of the first wait that saw it incomplete (else 408, then a lingering
  close); a response that takes longer than that to send is dropped (``send_timeouts``).
* the lingering close is ``server_common.Linger``'s event form (``drain`` on each readable edge,
  its ``deadline`` as the wait's): same bounds, same counters, a parked thread instead of a
  blocked one.
* page-cache misses are read on the loop (``http.cache.read_file``): a file not in the kernel's
  page cache blocks every connection while it is read (the green Knot and the twin try
  ``preadv(RWF_NOWAIT)`` first and hand a miss to OS threads; not done here).

Policies, as ``policies`` has them: Knot-C runs ``threads`` identical threads, each accept ->
serve to completion -> accept; Knot-A one acceptor spawning a thread per connection
(``knot_a_acceptor``). Every thread of either is one ``serve_connection`` frame over its wait:
Knot-C's threads accept in it too (``accept_connection``'s steps inline), Knot-A's get their
connection. A wake resumes each frame of the woken chain, so the thread adds no frame the wait
does not need; for the same reason the hot path calls methods on their objects (``conn``,
``sock``, ``parser``, ``handler``) rather than bound methods kept in the frame, each of which
would be one more object of the parked thread to bring back into cache per request (``whyevents
bench yardstick --server-conns 1024`` counts both). Errors meet ``accept_failed`` (EMFILE: a
timer sleep of ``ACCEPT_BACKOFF``, counted in ``accept_backoffs``).

Where it runs: ``ServerHandle`` starts one OS thread whose body runs an ``IOScheduler`` of its
own (several servers may run in one process). Stopping: ``stop()`` calls
``IOScheduler.call_threadsafe(shutdown)``; ``shutdown`` sets ``stopping``, closes the listener
(accepters wake with EBADF and end) and shuts down every open connection (its thread reads EOF,
or its send fails, and it closes the socket); the main thread waits up to ``STOP_TIMEOUT`` for
the threads to end, closes whatever is left and returns, which ends the loop.

``whyevents serve knot-c-async|knot-a-async`` runs it from the command line; the shared server
tests run it through the registry (``whyevents.servers``).
"""

from __future__ import annotations

import socket as _stdsocket
from socket import IPPROTO_TCP, TCP_NODELAY
from time import monotonic

from ..http import Miss, RequestParser, error_response
from ..http.cache import read_file as _blocking_read_file
from ..server_common import (
    ACCEPT_BACKOFF,
    ACCEPT_ERRNOS,
    ACCEPT_SKIP_ERRNOS,
    Linger,
    ServerHandle,
    listen,
    raise_fd_limit,
)
from ..threads import coro_io
from ..threads.coro_io import IOScheduler, Socket, wait
from . import connection as _connection
from .backends import Backend
from .connection import _NO_MEMO, _STATUS_3, MEMO_ENTRIES, RECV_BYTES, answer_batch, load
from .server import STOP_TIMEOUT, Knot, check_policy, check_threads_and_common

__all__ = ["start", "AsyncKnot", "serve_connection", "accept_connection",
           "knot_a_acceptor", "linger", "DEFAULT_THREADS", "POLICIES"]

#: Knot-C's thread count when ``threads`` is None (the green Knot's default).
DEFAULT_THREADS = 256
_POLLERS = ("epoll",)

#: What ``connection.load`` asks of a backend: only ``read_file`` (blocking, on the loop); the
#: policies below spawn and sleep on the scheduler, not through ``Thread``/``sleep``.
ASYNC = Backend("coro", coro_io, coro_io, None, None, _blocking_read_file)


# ---------------------------------------------------------------------------------------------
# One connection (connection.serve_connection, awaiting where it blocks)
# ---------------------------------------------------------------------------------------------

async def serve_connection(knot: AsyncKnot, listener: Socket | None,
                           conn: Socket | None = None) -> None:
    """One of Knot's threads: serve ``conn`` until the client is done (or gone), then close it.

    Knot-A's threads get their ``conn`` and end with it (``listener`` None). Knot-C's threads
    get the ``listener`` and no ``conn``: accept, serve to completion, accept again, all in this
    one frame, until the server stops. That is ``knot_c_worker`` awaiting a ``serve_connection``
    per connection, flattened: a parked thread is a chain of suspended frames, and each wake
    resumes every frame of it, so one frame less is one less to resume and keep in cache per
    request (``whyevents bench yardstick --server-conns`` counts it). The accept steps are
    ``accept_connection``'s, in the same order: register the socket in ``knot.conns``, close it
    if the server is stopping; errors through ``accept_failed``. Every thread ends by counting
    itself out of ``knot.running``. Never raises OSError.
    """
    counters = knot.counters
    handler = knot.handler
    memo_bytes = _connection.MEMO_REQUEST_BYTES
    memo = knot.request_memo if memo_bytes else _NO_MEMO
    sched = knot.sched
    timeout = knot.request_timeout
    conns = knot.conns
    if listener is not None:
        accept = listener.accept_nowait
        wait_acceptable = listener.wait_readable
    try:
        while True:
            if conn is None:                            # Knot-C: the next connection
                try:
                    while (conn := accept()) is None:
                        await wait_acceptable()
                except OSError as err:
                    if knot.stopping:
                        return
                    await accept_failed(knot, err)
                    continue
                conns[conn] = None
                if knot.stopping:
                    conns.pop(conn, None)
                    conn.close()
                    return
            parser = RequestParser(knot.limits)
            io = conn.io                                # the loop's record: readable, ...
            sock = conn.sock
            idle = True                                 # no partial request in the parser
            deadline = 0.0                              # for the partial request, if any
            counters.connections_total += 1
            counters.connections_open += 1
            try:
                sock.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1)
                while True:
                    data = conn.recv_nowait(RECV_BYTES) if io.readable else None
                    if data is None:                    # drained: park until input
                        if idle:
                            deadline = 0.0
                            until = sched.now + timeout
                        else:                           # a partial request: whole in time
                            if not deadline:
                                deadline = sched.now + timeout
                            until = deadline
                        try:
                            await conn.wait_readable(until)
                        except TimeoutError:
                            if idle:
                                knot.idle_closes += 1
                            else:
                                knot.timeouts_408 += 1
                                await _close_with_error(knot, conn, 408)
                            break
                        continue
                    if not data:
                        break                           # the client closed (or stop() did)
                    request = memo.get(data) if idle and memo_bytes else None
                    if request is None:                 # not a request seen before: parse it
                        was_idle = idle
                        requests = parser.feed(data)
                        idle = not parser.in_progress
                        if len(requests) != 1 or parser.error is not None:
                            if await _answer_all(knot, conn, requests, parser.error):
                                continue
                            break
                        request = requests[0]
                        if was_idle and idle and len(data) <= memo_bytes:
                            if len(memo) >= MEMO_ENTRIES:
                                memo.clear()
                            memo[data] = request
                    response = handler.respond(request)  # one request: the common case
                    if response.__class__ is Miss:
                        response = load(knot, response)
                    if response[9] > _STATUS_3:
                        counters.error(int(response[9:12]))
                    try:
                        sent = sock.send(response)
                    except BlockingIOError:
                        sent = 0
                    if sent < len(response):
                        await conn.send_rest(response, sent, sched.now + timeout)
                    counters.requests += 1
                    counters.bytes_sent += len(response)
                    if not request.keep_alive:
                        break
            except TimeoutError:                        # only a send can get here
                knot.send_timeouts += 1
            except OSError:
                if not knot.stopping:
                    knot.client_aborts += 1
            finally:
                counters.connections_open -= 1
                conns.pop(conn, None)                   # registered on accept
                conn.close()
            if listener is None:
                return
            conn = None
    finally:
        knot.running -= 1


async def _answer_all(knot: AsyncKnot, conn: Socket, requests: list, error) -> bool:
    """``connection._answer_all``: a partial head, a pipelined batch and/or a parse error.
    False: close the connection."""
    if requests:
        response, answered, keep_alive = answer_batch(knot, requests)
        await conn.sendall(response, knot.request_timeout)
        counters = knot.counters
        counters.requests += answered
        counters.bytes_sent += len(response)
        if not keep_alive:
            return False
    if error is not None:
        await _close_with_error(knot, conn, error.status)
        return False
    return True


async def _close_with_error(knot: AsyncKnot, conn: Socket, status: int) -> None:
    """``connection._close_with_error``: an error page that closes, then a lingering close."""
    response = error_response(status)
    knot.counters.error(status)
    try:
        await conn.sendall(response, knot.request_timeout)
    except OSError:
        knot.client_aborts += 1
        return
    knot.counters.bytes_sent += len(response)
    await linger(conn, knot.counters)


async def linger(conn: Socket, counters) -> None:
    """``server_common.Linger`` on a parked thread: shut down writing, discard input on each
    readable edge until the client's FIN or a bound (its ``deadline``); the caller closes."""
    sched = conn.sched
    lg = Linger(conn.sock, counters, sched.now)
    while not lg.drain(sched.now):
        conn.io.readable = False                        # drain read until EAGAIN
        try:
            await conn.wait_readable(lg.deadline)
        except TimeoutError:
            if lg.expired(sched.now):
                return
        except OSError:
            return


# ---------------------------------------------------------------------------------------------
# The policies (policies.py, awaiting where it blocks)
# ---------------------------------------------------------------------------------------------

async def accept_connection(knot: AsyncKnot, listener: Socket) -> Socket | None:
    """``policies.accept_connection``: the next socket, registered in ``knot.conns``; None
    once the server stops. EMFILE and friends: sleep ``ACCEPT_BACKOFF`` and retry."""
    while True:
        try:
            while (conn := listener.accept_nowait()) is None:
                await listener.wait_readable()
        except OSError as err:
            if knot.stopping:
                return None
            await accept_failed(knot, err)
            continue
        knot.conns[conn] = None
        if knot.stopping:
            knot.conns.pop(conn, None)
            conn.close()
            return None
        return conn


async def accept_failed(knot: AsyncKnot, err: OSError) -> None:
    """``accept`` raised ``err`` while the server runs (both policies' rule, kept in one
    place): EMFILE and friends sleep ``ACCEPT_BACKOFF`` (counted in ``accept_backoffs``), the
    skipped errnos return at once to accept again, anything else raises."""
    if err.errno in ACCEPT_ERRNOS:
        knot.counters.accept_backoffs += 1
        await knot.sched.sleep(ACCEPT_BACKOFF)
    elif err.errno not in ACCEPT_SKIP_ERRNOS:
        raise err


async def knot_a_acceptor(knot: AsyncKnot, listener: Socket) -> None:
    """Knot-A: accept as fast as clients arrive, one new thread per connection."""
    spawn = knot.sched.spawn
    try:
        while (conn := await accept_connection(knot, listener)) is not None:
            knot.running += 1
            spawn(serve_connection(knot, None, conn))
    finally:
        knot.running -= 1


#: Each policy's thread body, spawned with (knot, listener): Knot-C's ``threads`` threads are
#: ``serve_connection`` itself, accepting (see there); Knot-A's one thread is the acceptor.
POLICIES = {"C": serve_connection, "A": knot_a_acceptor}


# ---------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------

class AsyncKnot(Knot):
    """``Knot``'s shared state and counters, run on one ``IOScheduler``.

    Beyond ``Knot``'s stats: ``loop_steps`` (thread resumptions), ``loop_polls``
    (``epoll_wait`` calls), ``loop_events`` and ``io_timeouts`` (timed waits that expired).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.name = self.counters.server = f"knot-{self.policy.lower()}-async"
        self.sched: IOScheduler | None = None
        self.running = 0                # Knot's threads not yet ended

    def _extra(self) -> dict:
        out = super()._extra()
        sched = self.sched
        if sched is not None:
            out.update(loop_steps=sched.steps, loop_polls=sched.polls,
                       loop_events=sched.events, io_timeouts=sched.io_timeouts)
        return out

    def run(self, ready) -> None:
        """The server's OS thread: one loop runs every thread."""
        sched = self.sched = IOScheduler()
        try:
            sched.run(self._main(ready))
        finally:
            sched.close()

    async def _main(self, ready) -> None:
        sched = self.sched
        listener = Socket(listen(self.host, self.port, self.backlog), sched)
        stopped: list = []                              # the main thread, parked until stop

        def shutdown() -> None:
            self.stopping = True
            listener.close()                            # accepters wake with EBADF
            for conn in list(self.conns):               # recv reads EOF, send fails
                try:
                    conn.sock.shutdown(_stdsocket.SHUT_RDWR)
                except OSError:
                    pass
            sched.ready.extend(stopped)
            stopped.clear()

        try:
            sched.expect_foreign()
            fn = POLICIES[self.policy]
            for _ in range(self.threads if self.policy == "C" else 1):
                self.running += 1
                sched.spawn(fn(self, listener))
            ready(listener.sock.getsockname(), lambda: sched.call_threadsafe(shutdown))
            if not self.stopping:
                await wait(stopped)
            until = monotonic() + STOP_TIMEOUT
            while self.running > 0 and monotonic() < until:
                await sched.sleep(0.005)
        finally:
            listener.close()
            for conn in list(self.conns):
                conn.close()                            # its thread, if any, wakes with EBADF
            self.conns.clear()
            await sched.sleep(0)                        # ... and closes it, counted

    def __repr__(self) -> str:
        return (f"<Knot-{self.policy} async def threads={self.threads} "
                f"conns={len(self.conns)}>")


def _check(root, policy, host, port, threads, poller, scheduler, backend, cache_bytes,
           backlog, request_timeout) -> tuple[str, int | None]:
    """Validate ``start``'s arguments (as ``knot.start`` does); returns (policy letter, thread
    count)."""
    policy = check_policy(policy)
    if backend != "coro":
        raise ValueError(f"backend={backend!r}: Knot on async def threads has one backend, "
                         f"'coro'")
    if poller not in _POLLERS:
        raise ValueError(f"poller={poller!r}: choose 'epoll'")
    if scheduler != "coro":
        raise ValueError(f"scheduler={scheduler!r}: the coro loop is the only scheduler; "
                         f"pass 'coro'")
    return policy, check_threads_and_common(policy, threads, DEFAULT_THREADS, root, host, port,
                                            cache_bytes, backlog, request_timeout)


def start(root, *, policy: str = "C", host: str = "127.0.0.1", port: int = 0,
          threads: int | None = None, poller: str = "epoll", scheduler: str = "coro",
          backend: str = "coro", cache_bytes: int = 64 << 20, backlog: int | None = None,
          request_timeout: float = 30.0) -> ServerHandle:
    """Start Knot on ``async def`` threads serving ``root``; its handle once it listens.

    ``knot.start``'s signature and meaning: ``policy`` "C" (``threads`` threads, default
    ``DEFAULT_THREADS``, each accept -> serve to completion) or "A" (one acceptor, a thread
    per connection; ``threads`` unused). ``poller`` must be "epoll", ``scheduler`` and
    ``backend`` "coro" (accepted so one call sweeps every server). Raises ``ValueError``
    naming any bad argument. ``handle.knot`` is the ``AsyncKnot``.
    """
    policy, threads = _check(root, policy, host, port, threads, poller, scheduler, backend,
                             cache_bytes, backlog, request_timeout)
    raise_fd_limit()
    knot = AsyncKnot(root, policy, host, port, threads, poller, scheduler, ASYNC, cache_bytes,
                     backlog, float(request_timeout))
    handle = ServerHandle(knot.name, knot.counters, knot.run)
    handle.knot = knot
    return handle
