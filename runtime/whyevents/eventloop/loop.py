"""The event server: one OS thread, one readiness loop, a state machine per connection.

This is Knot's dual (the paper's section 2.1, Lauer and Needham): the same HTTP code
(``whyevents.http``), the same listener, counters and handle (``whyevents.server_common``), the same
per-request work (one ``recv``, ``RequestParser.feed``, ``Handler.respond``, one ``send``), but
where Knot writes a connection as a thread that blocks, this server writes it as a
``state.Connection`` whose waits are states, and the loop below calls a handler when the kernel
says the wait is over. ``duality.py`` maps each of Lauer and Needham's pairs to the functions
here and in Knot.

What the loop owns: the listener, the poller, every connection's socket, the timer heap and the
disk pool. What it leaves to others: HTTP (``whyevents.http``, called only through
``Connection.receive``, ``Handler.load`` and the ``_read_nowait`` cold path), protocol state
(``state.py``, which never sees a socket) and disk reads (``pool.py``).

The loop, one iteration (``_loop``)
-----------------------------------
1. *Compute the timeout*: until the earliest timer, or forever if there is none.
2. *Wait for readiness*: ``epoll_wait`` on the set built once (``poller="epoll"``), or ``poll``
   on a set rebuilt from every connection's state (``poller="poll"``, as the paper's poll()
   servers did: O(connections) per wait, by design).
3. *Dispatch*: readable -> ``_on_readable`` (READING only), writable -> ``_on_writable``
   (WRITING only), the listener -> ``_on_acceptable``, the eventfd -> ``_on_wake`` (disk
   completions and stop).
4. *Expire timers*: request timeouts and the accept back-off.

Facts and decisions
-------------------
* **Edge-triggered, registered once.** Each connection is added to epoll with
  ``EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET`` at accept and never modified; ``close`` removes it
  (no ``dup`` is ever made, so the kernel drops the registration with the descriptor). An edge
  seen while the connection cannot act on it (IN while WRITING or DISK) is remembered in
  ``readable`` and acted on when the connection is READING again.
* **A short read drains.** ``recv(RECV_BYTES)`` returning fewer bytes than asked means the
  receive queue was empty at that moment; bytes (or a FIN) arriving later raise a new edge
  (the kernel's wake-up callback queues the epoll item again on every arrival). So we stop
  without the extra ``recv`` that would only say EAGAIN, as nginx does when it uses
  EPOLLRDHUP. A full read may leave more: read again. The same holds for ``send``: a short
  send means the send buffer is full, and EPOLLOUT will come when a third of it is free.
  Except after a hang-up: a FIN (or an error) that arrives before the loop has taken the
  edge of the last data is reported in that same edge (IN|RDHUP), and no edge follows, so
  once an event said RDHUP/HUP/ERR (``conn.hup``) a short read no longer drains: the next
  ``recv`` reads the EOF (or the error). The threaded socket layer keeps the same flag.
* **Only READING reads.** A connection that owes responses does not parse more (back-pressure,
  and what Knot's thread does by being busy in ``sendall``); responses leave in request order
  (pipelining), several at a time with ``sendmsg`` (one ``writev``), as Knot joins them into one
  ``sendall``.
* **Stale events are harmless.** A descriptor closed while handling one event can be reused by
  an ``accept`` later in the same batch; a leftover event for the old socket then reaches the
  new connection, whose ``recv``/``send`` just says EAGAIN.
* **Cache misses** (``Handler.respond`` returned a ``Miss``): with ``nowait`` (default) the loop
  resolves the path and tries ``os.preadv(..., RWF_NOWAIT)``: a file in the kernel's page cache
  is served at once (a few system calls, like Knot's green ``fileio.pread``). If any of it is
  not cached, or ``nowait=False``, ``Handler.load`` runs in a ``DiskPool`` thread and the answer
  comes back through the eventfd; the connection waits in DISK meanwhile. ``open`` and ``fstat``
  of the fast path run on the loop (a dentry-cache miss blocks it), as they do on Knot's hub.
* **Timers** are one heap of ``(deadline, seq, fn, arg)``. A connection keeps one entry; activity
  only stores ``conn.active = now`` (no heap work per request) and an entry that pops early is
  pushed again for ``active + request_timeout`` (lazy re-arming). On expiry: a partial request
  gets 408 and is closed (also one still incomplete ``request_timeout`` after a timer first saw
  it so, however steadily it trickles in: slowloris is bounded by 2 x ``request_timeout``), an
  idle keep-alive connection is closed silently, a client that took no byte of a response for
  ``request_timeout`` is dropped; a connection waiting for the disk is never timed out. Times
  are the loop's clock, read once per iteration. A closed connection's entry stays until it
  pops; when such entries outnumber the open connections the heap is compacted (without that,
  a long soak's RSS grows by one entry and connection shell per connection of the last
  ``request_timeout`` seconds; ``ci/soak.py`` reports the RSS growth per 100k requests).
* **Accept policy**: each listener event accepts every pending connection before serving
  anything else, which favours accepting, like Knot-A and Haboob (the paper's section 5).
* **EMFILE on accept** stops accepting for ``ACCEPT_BACKOFF`` (a timer), while every open
  connection keeps being served; with edge triggering the backlog would otherwise stay undrained
  until the next client arrived.
* **Lingering close** after an error reply (a parse error, a 408): the connection moves to
  LINGERING, writing is shut down and what the client still sends is read and discarded on
  each IN edge until its FIN or a bound (``server_common.Linger``: its own timer), so the client
  reads the reply whole instead of a reset. It costs the loop a state, never a wait.
* **Clients vanishing** (ECONNRESET, EPIPE, any error from ``recv``/``send``) close that
  connection and count ``client_aborts``; nothing is printed. A bug (an exception out of a
  handler) is printed with its traceback, counted in ``internal_errors``, and closes only the
  connection it happened on.
* **Tracing** (``blocking_graph.record_event_loop``) sets ``_trace``; each traced point costs one
  ``is not None`` test when it is off.
"""

from __future__ import annotations

import _socket
import errno
import heapq
import math
import os
import select
import sys
import threading
import traceback
from itertools import count
from time import monotonic

from ..http import DEFAULT_LIMITS, Handler, HTTPError, Limits, PageCache, error_response
from ..http.handler import NOT_FOUND_ERRNOS
from ..server_common import (
    ACCEPT_BACKOFF,
    ACCEPT_ERRNOS,
    ACCEPT_SKIP_ERRNOS,
    Linger,
    ServerCounters,
    ServerHandle,
    check_common_args,
    listen,
    raise_fd_limit,
)
from ..threads.registry import POLLER_NAMES as POLLERS
from .pool import DEFAULT_DISK_THREADS, DiskPool
from .state import (
    CLOSED,
    DISK,
    LINGERING,
    READING,
    WRITING,
    Connection,
    ConnEvent,
    PendingDisk,
)

__all__ = ["start", "EventServer", "RECV_BYTES", "POLLERS", "NAME"]

NAME = "eventloop"
#: Bytes asked of each ``recv``: Knot's ``RECV_BYTES``, so both servers see the same reads.
RECV_BYTES = 8192
#: Most events taken from one ``epoll_wait``.
MAX_EVENTS = 4096
#: The timer heap is compacted when it holds this many more entries than twice the open
#: connections (closed connections' entries wait there until they pop: ``_compact_timers``).
_COMPACT_AT = 1024

_IN = select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLHUP | select.EPOLLERR
_OUT = select.EPOLLOUT | select.EPOLLHUP | select.EPOLLERR
_HUP = select.EPOLLRDHUP | select.EPOLLHUP | select.EPOLLERR
_CONN_MASK = select.EPOLLIN | select.EPOLLOUT | select.EPOLLRDHUP | select.EPOLLET
_POLL_READ = select.POLLIN | select.POLLRDHUP
# The poll variant hands its results to the same dispatch: the bits must mean the same.
assert (select.POLLIN, select.POLLOUT, select.POLLERR, select.POLLHUP, select.POLLRDHUP) == (
    select.EPOLLIN, select.EPOLLOUT, select.EPOLLERR, select.EPOLLHUP, select.EPOLLRDHUP)

_OPEN_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW
_RWF_NOWAIT = getattr(os, "RWF_NOWAIT", 0)
_NOWAIT_REFUSALS = frozenset({errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS})

_SENT_ALL = ConnEvent.SENT_ALL
_SEND_BLOCKED = ConnEvent.SEND_BLOCKED
_MISS = ConnEvent.MISS
_FINISHED = ConnEvent.FINISHED
_LINGER = ConnEvent.LINGER
_PEER_CLOSED = ConnEvent.PEER_CLOSED
_PEER_VANISHED = ConnEvent.PEER_VANISHED
_TIMED_OUT = ConnEvent.TIMED_OUT
_SHUTDOWN = ConnEvent.SHUTDOWN


class _Ctx:
    """What every connection of one server shares (``Connection.ctx``)."""

    __slots__ = ("handler", "counters", "limits")

    def __init__(self, handler: Handler, counters: ServerCounters, limits: Limits) -> None:
        self.handler = handler
        self.counters = counters
        self.limits = limits


class _Conn(Connection):
    """A connection plus its I/O side, which ``state.Connection`` must not know about."""

    __slots__ = ("sock", "fd", "readable", "hup", "active", "linger", "partial_since")

    def __init__(self, ctx: _Ctx, sock, fd: int, now: float) -> None:
        super().__init__(ctx)
        self.sock = sock
        self.fd = fd
        self.readable = False   # an IN edge not yet acted on
        self.hup = False        # an event said RDHUP/HUP/ERR: a short read no longer drains
        self.active = now       # last progress (loop clock), for request_timeout
        self.linger = None      # a server_common.Linger once LINGERING
        self.partial_since = 0.0  # when a timer first saw a request incomplete (0: not)


class EventServer:
    """One event-driven server; ``run(ready)`` is the body of its ``ServerHandle`` thread."""

    def __init__(self, root, *, host: str = "127.0.0.1", port: int = 0, poller: str = "epoll",
                 cache_bytes: int = 64 << 20, backlog: int | None = None,
                 request_timeout: float | None = 30.0, disk_threads: int = DEFAULT_DISK_THREADS,
                 nowait: bool = True, limits: Limits = DEFAULT_LIMITS) -> None:
        self.host = host
        self.port = port
        self.poller = poller
        self.backlog = backlog
        self.request_timeout = request_timeout
        self.disk_threads = disk_threads
        self.nowait = nowait and bool(_RWF_NOWAIT)
        self.handler = Handler(root, PageCache(cache_bytes))
        self.counters = ServerCounters(server=NAME, extra=self._extra)
        self.ctx = _Ctx(self.handler, self.counters, limits)
        self.conns: dict[int, _Conn] = {}
        self.now = monotonic()
        self._timers: list = []
        self._seq = count()
        self._accepting = True
        self._stop_requested = False
        self._stop_lock = threading.Lock()
        self._trace = None
        self._lsock = None
        self._lfd = -1
        self._efd = -1
        self._ep = None
        self._family = _socket.AF_INET
        self.pool: DiskPool | None = None
        # counters beyond ServerCounters (Knot reports the first four under the same names)
        self.client_aborts = 0
        self.send_timeouts = 0
        self.timeouts_408 = 0
        self.idle_closes = 0
        self.partial_writes = 0
        self.nowait_hits = 0
        self.internal_errors = 0
        self.iterations = 0
        self.events = 0
        self.timer_compactions = 0

    # -- lifecycle ------------------------------------------------------------------------------

    def run(self, ready) -> None:
        """Bind, tell ``ready`` where, serve until ``stop``; always releases what it opened."""
        try:
            lsock = self._lsock = listen(self.host, self.port, self.backlog)
            lsock.setblocking(False)
            self._lfd = lsock.fileno()
            self._family = lsock.family
            self._efd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            self.pool = DiskPool(self._efd, self.disk_threads)
            if self.poller == "epoll":
                ep = self._ep = select.epoll()
                ep.register(self._lfd, select.EPOLLIN | select.EPOLLET)
                ep.register(self._efd, select.EPOLLIN)
            ready(lsock.getsockname(), self.request_stop)
            self._loop()
        finally:
            self._shutdown()

    def request_stop(self) -> None:
        """From any OS thread: make ``run`` return soon (enqueue a flag, poke the eventfd)."""
        with self._stop_lock:
            self._stop_requested = True
            if self._efd >= 0:
                os.eventfd_write(self._efd, 1)

    def _shutdown(self) -> None:
        for conn in list(self.conns.values()):
            conn.fire(_SHUTDOWN)
            self._close(conn)
        if self._lsock is not None:
            self._lsock.close()
        if self.pool is not None:
            self.pool.close()
        if self._ep is not None:
            self._ep.close()
        with self._stop_lock:
            if self._efd >= 0:
                os.close(self._efd)
                self._efd = -1

    # -- the loop -------------------------------------------------------------------------------

    def _loop(self) -> None:
        conns = self.conns
        timers = self._timers
        lfd = self._lfd
        efd = self._efd
        wait = self._epoll_wait if self._ep is not None else self._poll_wait
        while not self._stop_requested:
            # How long may we sleep? Until the next timer; forever if there is none.
            if timers:
                timeout = timers[0][0] - monotonic()
                if timeout < 0:
                    timeout = 0.0
            else:
                timeout = -1.0
            # Wait for readiness.
            events = wait(timeout)
            self.now = now = monotonic()
            self.iterations += 1
            self.events += len(events)
            # Dispatch: one handler call per ready direction, only in the state that wants it.
            for fd, ev in events:
                conn = conns.get(fd)
                try:
                    if conn is None:
                        if fd == lfd:
                            self._on_acceptable()
                        elif fd == efd:
                            self._on_wake()
                        continue
                    if ev & _IN:
                        conn.readable = True
                        if ev & _HUP:
                            conn.hup = True     # EOF/error left to read: see "A short read"
                        if conn.state is READING:
                            self._on_readable(conn)
                        elif conn.state is LINGERING:
                            self._on_lingering(conn)
                    if ev & _OUT and conn.state is WRITING:
                        self._on_writable(conn)
                except Exception as exc:  # noqa: BLE001 - a bug: report it, keep serving
                    self._internal_error(conn, exc)
            # Expire timers: request timeouts, the accept back-off.
            if timers and timers[0][0] <= now:
                self._run_timers(now)
            if len(timers) > _COMPACT_AT + 2 * len(conns):
                self._compact_timers()

    def _epoll_wait(self, timeout: float) -> list:
        return self._ep.poll(timeout, MAX_EVENTS)

    def _poll_wait(self, timeout: float) -> list:
        """The poll() variant: a new set from every connection's state, each time."""
        p = select.poll()
        register = p.register
        if self._accepting:
            register(self._lfd, select.POLLIN)
        register(self._efd, select.POLLIN)
        for fd, conn in self.conns.items():
            state = conn.state
            if state is READING or state is LINGERING:
                register(fd, _POLL_READ)
            elif state is WRITING:
                register(fd, select.POLLOUT)
        return p.poll(None if timeout < 0 else math.ceil(timeout * 1000))

    def _internal_error(self, conn: _Conn | None, exc: Exception) -> None:
        self.internal_errors += 1
        print(f"{NAME}: internal error handling {conn!r}:", file=sys.stderr)
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
        if conn is not None and conn.state is not CLOSED:
            conn.state = CLOSED         # whatever the table says: this connection is done
            self._close(conn)

    # -- timers ---------------------------------------------------------------------------------

    def _compact_timers(self) -> None:
        """Drop the entries of closed connections (they would pop and do nothing), in place:
        the heap stays O(open connections), not O(connections per request_timeout)."""
        timers = self._timers
        timers[:] = [t for t in timers
                     if t[3].__class__ is not _Conn or t[3].state is not CLOSED]
        heapq.heapify(timers)
        self.timer_compactions += 1

    def _push(self, deadline: float, fn, arg) -> None:
        heapq.heappush(self._timers, (deadline, next(self._seq), fn, arg))

    def _run_timers(self, now: float) -> None:
        timers = self._timers
        pop = heapq.heappop
        while timers and timers[0][0] <= now:
            _, _, fn, arg = pop(timers)
            try:
                fn(arg, now)
            except Exception as exc:  # noqa: BLE001 - a bug: report it, keep serving
                self._internal_error(arg if isinstance(arg, _Conn) else None, exc)

    def _conn_timer(self, conn: _Conn, now: float) -> None:
        """A connection's timer popped: re-arm if it made progress since, else time it out."""
        state = conn.state
        if state is CLOSED or state is LINGERING:
            return              # (a lingering connection has its own timer)
        timeout = self.request_timeout
        if state is DISK:
            self._push(now + timeout, self._conn_timer, conn)
            return
        deadline = conn.active + timeout
        if state is READING and conn.parser.in_progress:
            # A request must also be whole in time, however steadily it trickles in
            # (slowloris): from the first timer that saw it incomplete, so within
            # 2 x request_timeout of its first byte, at no cost per read.
            if not conn.partial_since:
                conn.partial_since = now
            deadline = min(deadline, conn.partial_since + timeout)
        else:
            conn.partial_since = 0.0
        if deadline > now:
            self._push(deadline, self._conn_timer, conn)
            return
        if state is WRITING:
            self.send_timeouts += 1
        elif conn.parser.in_progress:
            self.timeouts_408 += 1
            if self._send_final_error(conn, 408):
                self._linger(conn)
                return
        else:
            self.idle_closes += 1
        conn.fire(_TIMED_OUT)
        self._close(conn)

    def _send_final_error(self, conn: _Conn, status: int) -> bool:
        """Best effort: one non-blocking send of an error page that closes; False: gone."""
        response = error_response(status)
        self.counters.error(status)
        try:
            n = conn.sock.send(response)
        except OSError:
            self.client_aborts += 1
            return False
        self.counters.bytes_sent += n
        return True

    # -- lingering close ------------------------------------------------------------------------

    def _linger(self, conn: _Conn) -> None:
        """The error reply is sent: shut down writing, discard input until FIN or a bound."""
        conn.fire(_LINGER)
        conn.out.clear()
        linger = conn.linger = Linger(conn.sock, self.counters, self.now)
        self._push(linger.deadline, self._linger_timer, conn)
        self._on_lingering(conn)    # input may have arrived while the reply was going out

    def _on_lingering(self, conn: _Conn) -> None:
        if conn.linger.drain(self.now):
            conn.fire(_PEER_CLOSED)
            self._close(conn)

    def _linger_timer(self, conn: _Conn, now: float) -> None:
        if conn.state is not LINGERING:
            return
        if conn.linger.expired(now):
            conn.fire(_TIMED_OUT)
            self._close(conn)
        else:
            self._push(conn.linger.deadline, self._linger_timer, conn)

    # -- accepting ------------------------------------------------------------------------------

    def _on_acceptable(self) -> None:
        """The listener is readable: accept until EAGAIN (or EMFILE: back off on a timer)."""
        if not self._accepting:
            return
        accept = self._lsock._accept
        conns = self.conns
        counters = self.counters
        ctx = self.ctx
        ep = self._ep
        family = self._family
        now = self.now
        timeout = self.request_timeout
        while True:
            try:
                fd, _ = accept()
            except BlockingIOError:
                return
            except OSError as err:
                if err.errno in ACCEPT_ERRNOS:
                    counters.accept_backoffs += 1
                    self._accepting = False
                    self._push(now + ACCEPT_BACKOFF, self._resume_accept, None)
                    return
                if err.errno in ACCEPT_SKIP_ERRNOS:
                    continue
                raise
            sock = _socket.socket(family, _socket.SOCK_STREAM, 0, fd)
            try:
                sock.setblocking(False)
                sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
            except OSError:
                sock.close()            # reset before we got to it
                self.client_aborts += 1
                continue
            conn = _Conn(ctx, sock, fd, now)
            conns[fd] = conn
            if ep is not None:
                ep.register(fd, _CONN_MASK)
            counters.connections_total += 1
            counters.connections_open += 1
            if timeout is not None:
                self._push(now + timeout, self._conn_timer, conn)
            if self._trace is not None:
                self._trace.visit(self._lsock, "accept")
                self._trace.born(conn, "accept")

    def _resume_accept(self, _arg, now: float) -> None:
        self._accepting = True
        self._on_acceptable()

    # -- reading --------------------------------------------------------------------------------

    def _on_readable(self, conn: _Conn) -> None:
        """READING and readable: recv, parse, answer; until drained or no longer READING."""
        recv = conn.sock.recv
        while True:
            try:
                data = recv(RECV_BYTES)
            except BlockingIOError:
                conn.readable = False
                return
            except OSError:
                self._vanish(conn)
                return
            if self._trace is not None:
                self._trace.visit(conn, "recv")
            if not data:
                conn.fire(_PEER_CLOSED)
                self._close(conn)
                return
            conn.active = self.now
            misses = conn.receive(data)
            if misses is not None:
                self._load(conn, misses)
            if conn.out or conn.closing:
                self._flush(conn)
                if conn.state is not READING:
                    return              # WRITING / DISK keep `readable` for later; or CLOSED
            if len(data) < RECV_BYTES and not conn.hup:
                conn.readable = False   # a short read drained the socket (module docstring)
                return

    # -- writing --------------------------------------------------------------------------------

    def _flush(self, conn: _Conn) -> None:
        """Send what is owed, in order, until done, the kernel is full, or a miss is unread."""
        out = conn.out
        sock = conn.sock
        counters = self.counters
        trace = self._trace
        while out:
            head = out[0]
            if head.__class__ is bytes and conn.offset == 0 and len(out) == 1:
                # The common case: one whole response.
                if trace is not None:
                    trace.visit(conn, "send")
                try:
                    n = sock.send(head)
                except BlockingIOError:
                    n = 0
                except OSError:
                    self._vanish(conn)
                    return
                counters.bytes_sent += n
                if n == len(head):
                    out.popleft()
                    break
                conn.offset = n
            else:
                bufs = conn.ready()
                if not bufs:
                    conn.fire(_MISS)
                    return
                if trace is not None and conn.offset == 0:
                    trace.visit(conn, "send")
                try:
                    n = sock.send(bufs[0]) if len(bufs) == 1 else sock.sendmsg(bufs)
                except BlockingIOError:
                    n = 0
                except OSError:
                    self._vanish(conn)
                    return
                counters.bytes_sent += n
                conn.consumed(n)
                if n == sum(map(len, bufs)):
                    if n:
                        conn.active = self.now
                    continue
            # The kernel took only part: the rest waits for EPOLLOUT.
            if n:
                conn.active = self.now
            self.partial_writes += 1
            conn.fire(_SEND_BLOCKED)
            return
        if not conn.closing:
            conn.fire(_SENT_ALL)
        elif conn.parser.error is not None:
            self._linger(conn)          # the last reply was the parser's error page
        else:
            conn.fire(_FINISHED)
            self._close(conn)

    def _on_writable(self, conn: _Conn) -> None:
        self._flush(conn)
        if conn.state is READING and conn.readable:
            self._on_readable(conn)

    # -- the disk -------------------------------------------------------------------------------

    def _load(self, conn: _Conn, misses: list[PendingDisk]) -> None:
        """Page-cache misses just queued by ``conn``: serve from the OS page cache, or the pool."""
        trace = self._trace
        for pending in misses:
            if trace is not None:
                trace.visit(conn, "load")
            if self.nowait:
                response = self._read_nowait(pending.miss)
                if response is not None:
                    self.nowait_hits += 1
                    conn.loaded(pending, response)
                    continue
            self.pool.submit(self.handler.load, pending.miss, pending)

    def _read_nowait(self, miss) -> bytes | None:
        """The response for ``miss`` if its file is wholly in the OS page cache, else None."""
        handler = self.handler
        try:
            path = handler.resolve(miss)
            fd = os.open(path, _OPEN_FLAGS)
        except HTTPError as err:
            return handler.fail(miss, err.status)
        except OSError as err:
            return handler.fail(miss, 404 if err.errno in NOT_FOUND_ERRNOS else 500)
        try:
            st = os.fstat(fd)
            size = st.st_size
            body = bytearray(size)
            if size:
                try:
                    got = os.preadv(fd, [body], 0, _RWF_NOWAIT)
                except BlockingIOError:
                    return None
                except OSError as err:
                    if err.errno in _NOWAIT_REFUSALS:
                        self.nowait = False     # this filesystem cannot: use the pool from now
                        return None
                    return handler.fail(miss, 500)
                if got != size:
                    return None                 # partly cached, or the file changed: the pool
        finally:
            os.close(fd)
        return handler.finish(miss, body, st)

    def _on_wake(self) -> None:
        """The eventfd: disk completions to deliver (and maybe a stop request)."""
        try:
            os.eventfd_read(self._efd)
        except BlockingIOError:
            pass
        pool = self.pool
        done = pool.done
        while done:
            pending, ok, value = done.popleft()
            pool.completed += 1
            conn = pending.conn
            if conn.state is CLOSED:
                continue
            if not ok:
                self.internal_errors += 1
                value = self.handler.fail(pending.miss, 500)
            conn.loaded(pending, value)
            if conn.state is DISK and not conn.blocked_on_disk():
                self._flush(conn)
                if conn.state is READING and conn.readable:
                    self._on_readable(conn)

    # -- closing --------------------------------------------------------------------------------

    def _vanish(self, conn: _Conn) -> None:
        self.client_aborts += 1
        conn.fire(_PEER_VANISHED)
        self._close(conn)

    def _close(self, conn: _Conn) -> None:
        """Forget and close a connection the machine has moved to CLOSED."""
        if self.conns.get(conn.fd) is conn:
            del self.conns[conn.fd]
        if self._trace is not None:
            self._trace.visit(conn, "close")
            self._trace.end(conn)
        if conn.sock is None:
            return              # already closed (an internal error after the close)
        conn.sock.close()
        conn.sock = None
        self.counters.connections_open -= 1
        conn.out.clear()
        conn.parser = None      # stale timer entries keep only the small shell alive
        conn.linger = None

    # -- observability --------------------------------------------------------------------------

    def _extra(self) -> dict:
        cache = self.handler.cache
        out = {
            "backend": "event", "poller": self.poller, "scheduler": None, "threads": 1,
            "client_aborts": self.client_aborts, "send_timeouts": self.send_timeouts,
            "timeouts_408": self.timeouts_408, "idle_closes": self.idle_closes,
            "cache_hits": cache.hits, "cache_misses": cache.misses,
            "partial_writes": self.partial_writes, "nowait_hits": self.nowait_hits,
            "internal_errors": self.internal_errors, "loop_iterations": self.iterations,
            "loop_events": self.events, "timers": len(self._timers),
            "timer_compactions": self.timer_compactions,
            "accepting": self._accepting,
        }
        if self.pool is not None:
            out.update(self.pool.stats())
        return out

    def __repr__(self) -> str:
        return (f"<EventServer {self.poller} conns={len(self.conns)} "
                f"timers={len(self._timers)} accepting={self._accepting}>")


# ---------------------------------------------------------------------------------------------
# start()
# ---------------------------------------------------------------------------------------------

def _check(root, host, port, threads, poller, scheduler, backend, cache_bytes, backlog,
           request_timeout, disk_threads, nowait) -> None:
    """Validate ``start``'s arguments: ValueError naming the parameter and what it accepts."""
    if threads is not None and (isinstance(threads, bool) or threads != 1):
        raise ValueError(f"threads={threads!r}: the event server runs on one OS thread; "
                         f"pass None or 1")
    if poller not in POLLERS:
        raise ValueError(f"poller={poller!r}: choose 'epoll' or 'poll'")
    if scheduler is not None:
        raise ValueError(f"scheduler={scheduler!r}: the event server has no thread scheduler "
                         f"(its loop is the scheduler); pass None")
    if backend != "event":
        raise ValueError(f"backend={backend!r}: the event server has one backend, 'event'")
    check_common_args(root, host, port, cache_bytes, backlog, request_timeout)
    if isinstance(disk_threads, bool) or not isinstance(disk_threads, int) or disk_threads < 1:
        raise ValueError(f"disk_threads={disk_threads!r}: must be a positive integer")
    if not isinstance(nowait, bool):
        raise ValueError(f"nowait={nowait!r}: must be True or False")


def start(root, *, host: str = "127.0.0.1", port: int = 0, threads: int | None = None,
          poller: str = "epoll", scheduler: str | None = None, backend: str = "event",
          cache_bytes: int = 64 << 20, backlog: int | None = None,
          request_timeout: float | None = 30.0, disk_threads: int = DEFAULT_DISK_THREADS,
          nowait: bool = True) -> ServerHandle:
    """Start the event server on ``root``; returns its ``ServerHandle`` once it listens.

    The signature is Knot's, so a benchmark can sweep servers with one call: ``threads`` (must
    be None or 1), ``scheduler`` (None) and ``backend`` ("event") are accepted only with the
    values that describe one event loop. ``poller`` "epoll" (edge-triggered, registered once)
    or "poll" (set rebuilt per wait). ``request_timeout`` seconds without progress: 408 for a
    partial request, close for an idle keep-alive connection or a client that stopped reading.
    ``disk_threads`` sizes the pool that reads page-cache misses; ``nowait`` tries
    ``preadv(RWF_NOWAIT)`` on the loop first. Raises ``ValueError`` naming any bad argument.

    ``handle.server`` is the ``EventServer`` (for ``blocking_graph.record_event_loop``).
    """
    _check(root, host, port, threads, poller, scheduler, backend, cache_bytes, backlog,
           request_timeout, disk_threads, nowait)
    raise_fd_limit()
    server = EventServer(root, host=host, port=port, poller=poller, cache_bytes=cache_bytes,
                         backlog=backlog,
                         request_timeout=None if request_timeout is None
                         else float(request_timeout),
                         disk_threads=disk_threads, nowait=nowait)
    handle = ServerHandle(NAME if poller == "epoll" else f"{NAME}-poll", server.counters,
                          server.run)
    handle.server = server
    return handle
