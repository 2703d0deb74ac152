"""A Haboob-like web server: SEDA stages on kernel threads, joined by explicit bounded queues.

The paper's section 5 sets Knot (one thread per connection) against Haboob, the web server of SEDA
(Welsh, Culler and Brewer, *SEDA: An Architecture for Well-Conditioned, Scalable Internet
Services*, SOSP 2001, section 5.1), and blames Haboob's lower peak on its structure: "Haboob's
thread-pool-per-handler model requires context switches whenever events pass from one handler to
another. This requirement causes Haboob to context switch 30,000 times per second when fully
loaded -- more than 6 times as frequently as Knot", plus "a large number of module crossings and
queuing operations". This module rebuilds that structure so the claim can be measured, on the
same HTTP code as Knot.

The stages, and what they model
-------------------------------
SEDA's Haboob is a set of stages over Sandstorm's asynchronous socket layer (*aSocket*), its HTTP
library (``httpServer``: accepts connections, parses packets into requests) and its asynchronous
file layer (*aFile*, a thread pool doing blocking reads). In Haboob's source: ``HttpRecv``
(requests in), the page cache stage (``PageCacheSized``; misses go to ``CacheMiss``/aFile and come
back to be inserted), ``HttpSend`` (responses out, connection management). Here::

    aSocket    one kernel thread: an epoll (or poll) loop over the listener and every
               connection. Accepts; reads bytes and hands each connection's "packets" to
               HttpParse; turns writability into events for HttpSend; closes sockets.
       |  packet events (a connection with bytes waiting)
    HttpParse  Sandstorm's httpServer parsing + Haboob's HttpRecv: one RequestParser per
               connection; emits request events; a parse error becomes a 4xx for HttpSend.
       |  request events
    PageCache  Handler.respond: a hit becomes a response event; a miss goes to CacheMiss.
       |  misses                       ^ filled misses (body, fstat) come back here to be
    CacheMiss  aFile: its own thread   | inserted into the cache (Handler.finish)
               pool doing blocking reads (Handler.resolve + read_file)
       |  response events
    HttpSend   writes responses in request order on non-blocking sockets; a partial write
               keeps the rest and asks aSocket to report writability; closes after
               "Connection: close", an error answer, or the client's EOF.

Every arrow is a ``Stage`` queue (``stage.py``): bounded, observable in ``stats()``
("visible queues", the paper's section 6), each stage a pool of ``threads`` kernel threads
taking batches of events. A full queue is admission control: the request is answered
``503 Service Unavailable`` and its connection closed, which is what SEDA's queue thresholds
were for.

What differs from Haboob, and why
---------------------------------
* Language and runtime: CPython kernel threads, not Java threads with a JIT and a garbage
  collector. Only one thread runs Python at a time (the GIL), and a thread waiting for it, or
  parked on an empty queue, is a kernel context switch away from running: the cost the paper
  names, visible in ``getrusage`` (the server's ``ctx_voluntary``/``ctx_involuntary``).
* Writes: Haboob's HttpSend enqueued responses on aSocket's write stage, whose thread did the
  write. Here HttpSend writes itself and falls back to aSocket only when the socket is full
  (``EAGAIN``). That saves a stage crossing per response, so it flatters this server: any
  context-switch ratio against Knot measured with it is, if anything, an underestimate.
* Packets are coalesced per connection: aSocket appends bytes to the connection's inbox and
  enqueues the connection once until HttpParse has taken them. With several HttpParse threads
  this keeps each connection's bytes in order (Haboob enqueued a packet event per read).
* Responses carry a per-connection sequence number and HttpSend writes them in that order, so
  pipelined requests are answered in order even when one misses the cache and the next hits.
* Fixed pool sizes and batch size; Sandstorm's controllers resized pools and tuned batching at
  run time (``threadPool.sizeController``, ``batchController``). Queues are bounded here (SEDA's
  default was unbounded, with optional thresholds).
* ``poller="poll"`` uses ``select.poll`` (the set passed to the kernel on every wait, as the
  paper's Haboob, ported from /dev/poll to poll(), did); ``"epoll"`` registers each fd once.
* Idle handling: a connection silent for ``request_timeout`` seconds with nothing in flight is
  answered ``408`` if a request is partly received, else just closed (keep-alive idle), checked
  by aSocket a few times per timeout; ``None`` disables it. A request still incomplete
  ``request_timeout`` after a check first saw it so gets 408 however steadily it trickles in
  (slowloris), and a client that took no byte of what it is owed for ``request_timeout`` is
  dropped (``send_timeouts``).
* Lingering close: a connection that an error reply closes (a parse error, 408, 503) is not
  released at once but handed to aSocket, which shuts down writing and reads and discards
  what the client still sends until its FIN or a bound (``server_common.Linger``), so a reset never
  overtakes the reply.
* Descriptors: aSocket stops accepting while only a reserve of descriptors is left (so that
  CacheMiss can still open files), and on EMFILE/ENFILE from accept() alike: it stops watching
  the listener for ``ACCEPT_BACKOFF`` seconds and keeps serving the connections it has. A file
  open that still hits EMFILE is answered 503, not 500: the condition is transient.

Cost
----
Measured, not written down here: ``whyevents bench servers`` (req/s and server CPU µs per request
under wrk) and the web sweep (``whyevents run web``: context switches per request and per second,
the columns of the paper's claim) report it per run, with provenance. What to expect: under
saturation batching amortizes the crossings (each stage takes several events per wake-up, as
``stats()["stages"]`` shows), so a thread parks far less than once per request, and with two
threads per stage a queue seldom runs dry at all. Switches per request therefore fall as load
rises, which is SEDA's argument for batching; what they cost against Knot is for the
benchmarks to compare.

Why one module of this size: the five stage handlers and aSocket's loop are methods of one
``Haboob`` object because they share one connection table and its locking rules (who may write,
who may close, in what order); split over modules, the rules would be in none of them.

Starting it (``server.py``: argument checks, ``start`` and the command line)::

    handle = start("/srv/www", port=8080, threads=2)    # a ServerHandle
    handle.stats()["stages"]["PageCache"]["queue_length"]
    handle.stop()                                       # final stats

or ``python -m whyevents.seda --root DIR --port N``.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import sys
import time
from collections import OrderedDict, deque
from types import SimpleNamespace

from ..http import (
    Handler,
    HTTPError,
    Miss,
    PageCache,
    RequestParser,
    error_response,
    http_date,
    read_file,
)
from ..http.handler import NOT_FOUND_ERRNOS
from ..server_common import (
    ACCEPT_BACKOFF,
    ACCEPT_ERRNOS,
    ACCEPT_SKIP_ERRNOS,
    Linger,
    ServerCounters,
    listen,
    raise_fd_limit,
)
from ..threads.originals import original
from ..threads.registry import POLLER_NAMES as POLLERS
from .stage import Stage, _allocate_lock, _get_ident

__all__ = ["Haboob", "DEFAULT_THREADS", "DEFAULT_FILE_THREADS",
           "DEFAULT_QUEUE_CAPACITY", "POLLERS", "STAGES"]

#: Threads per stage pool (HttpParse, PageCache, HttpSend). Sandstorm started every pool at one
#: thread and let a controller add more under load; one per stage is the fixed equivalent.
DEFAULT_THREADS = 1
#: Threads of the CacheMiss (file I/O) pool: blocking reads want a few in flight.
DEFAULT_FILE_THREADS = 4
#: Events each stage's queue holds before admission control rejects (per stage).
DEFAULT_QUEUE_CAPACITY = 65536
#: Stage names, in pipeline order (aSocket is the poller thread, reported beside them).
STAGES = ("aSocket", "HttpParse", "PageCache", "CacheMiss", "HttpSend")

_RECV_SIZE = 65536
_ACCEPT_BATCH = 256          # connections accepted per listener readiness, at most
_MAX_TICK = 1.0              # aSocket looks at idle connections at least this often

# poll and epoll share the bit values on Linux; one set of masks serves both pollers.
_IN = select.EPOLLIN
_OUT = select.EPOLLOUT
_ERRHUP = select.EPOLLERR | select.EPOLLHUP
assert (select.POLLIN, select.POLLOUT, select.POLLERR, select.POLLHUP) == (
    _IN, _OUT, select.EPOLLERR, select.EPOLLHUP)

# Kernel sockets and a kernel poll(), whatever monkey-patching did to the stdlib later or before.
_Socket = original("socket", "socket")
_select_poll = original("select", "poll")
_SOCKET_MODULE = SimpleNamespace(socket=_Socket)

_EOF = object()              # an inbox item: the client closed its sending side

# aSocket commands (from stage threads to the poller thread).
_CLOSE = "close"
_LINGER = "linger"
_WANT_WRITE = "want-write"
_STOP = "stop"


def _open_fds() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 16


def _os_threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return -1


def _busy_response() -> bytes:
    """503 for admission control (not in the shared HTTP module's table: only SEDA rejects)."""
    body = b"503 Service Unavailable\n"
    return b"".join((
        b"HTTP/1.1 503 Service Unavailable\r\nDate: ", http_date(time.time()),
        b"\r\nServer: whyevents\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Length: %d\r\nRetry-After: 1\r\nConnection: close\r\n\r\n" % len(body),
        body,
    ))


# ---------------------------------------------------------------------------------------------
# Pollers
# ---------------------------------------------------------------------------------------------


class _EpollPoller:
    """epoll, level-triggered: each fd registered once, its mask changed as interest changes."""

    name = "epoll"

    def __init__(self) -> None:
        self._ep = select.epoll()
        self.register = self._ep.register
        self.modify = self._ep.modify
        self.unregister = self._ep.unregister

    def wait(self, timeout: float | None) -> list[tuple[int, int]]:
        return self._ep.poll(-1 if timeout is None else timeout)

    def close(self) -> None:
        self._ep.close()


class _PollPoller:
    """poll(): the whole interest set goes to the kernel on every wait (O(connections))."""

    name = "poll"

    def __init__(self) -> None:
        self._p = _select_poll()
        self.register = self._p.register
        self.modify = self._p.modify
        self.unregister = self._p.unregister

    def wait(self, timeout: float | None) -> list[tuple[int, int]]:
        return self._p.poll(None if timeout is None else int(timeout * 1000.0 + 0.999))

    def close(self) -> None:
        pass


# ---------------------------------------------------------------------------------------------
# Connections
# ---------------------------------------------------------------------------------------------


class _Conn:
    """One client connection's state, shared by the stages under two small locks.

    Input side (``rlock``): ``inbox`` (bytes and ``_EOF`` waiting for HttpParse) and ``scheduled``
    (the connection is in HttpParse's queue or being parsed). Whoever sets ``scheduled`` owns the
    parser and ``issued`` (the next request sequence number) until it clears it, so one thread
    at a time parses a connection, in byte order.
    Output side (``wlock``): ``next_send`` (sequence number HttpSend writes next), ``ready``
    (answers that arrived early), ``outbuf`` (bytes the socket did not take), ``want_write``,
    ``closing`` (close once flushed), ``error_close`` (what closes it is an error reply: linger),
    ``read_closed`` (client EOF: close when nothing is left in
    flight), ``closed`` (no one touches the socket any more; aSocket closes it).
    aSocket alone: ``mask`` (poller interest), ``last_active``, ``released`` (socket closed),
    ``linger`` (a ``server_common.Linger`` while closed but draining: lingering close),
    ``sent_seen`` and ``partial_since`` (time-outs: write progress, a trickling request).
    """

    __slots__ = ("sock", "fd", "parser", "rlock", "inbox", "scheduled", "issued",
                 "wlock", "next_send", "ready", "outbuf", "want_write", "closing",
                 "error_close", "read_closed", "closed", "mask", "last_active", "released",
                 "linger", "sent", "sent_seen", "partial_since")

    def __init__(self, sock, fd: int, parser: RequestParser, now: float) -> None:
        self.sock = sock
        self.fd = fd
        self.parser = parser
        self.rlock = _allocate_lock()
        self.inbox: list = []
        self.scheduled = False
        self.issued = 0
        self.wlock = _allocate_lock()
        self.next_send = 0
        self.ready: dict[int, tuple[bytes, bool]] = {}
        self.outbuf: bytearray | None = None
        self.want_write = False
        self.closing = False
        self.error_close = False
        self.read_closed = False
        self.closed = False
        self.mask = 0
        self.last_active = now
        self.released = False
        self.linger: Linger | None = None
        self.sent = 0                   # bytes written (wlock), and as aSocket last saw it
        self.sent_seen = 0
        self.partial_since = 0.0        # when aSocket first saw a request incomplete (0: not)

    def __repr__(self) -> str:
        return (f"<_Conn fd={self.fd} issued={self.issued} next_send={self.next_send} "
                f"closed={self.closed}>")


# ---------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------


class Haboob:
    """The staged server; ``start()`` builds one and runs it behind a ``ServerHandle``."""

    def __init__(self, root, *, host: str, port: int, threads: int, file_threads: int,
                 poller: str, cache_bytes: int, backlog: int | None,
                 request_timeout: float | None, queue_capacity: int, batch_size: int) -> None:
        self.host = host
        self.port = port
        self.backlog = backlog
        self.poller_name = poller
        self.threads = threads
        self.file_threads = file_threads
        self.request_timeout = request_timeout
        self.handler = Handler(root, PageCache(cache_bytes))
        self.counters = ServerCounters(server="haboob")
        self.counters.extra = self._extra
        self._tally = _allocate_lock()
        # The stages (started by the body, once the listener exists).
        self.parse = Stage("HttpParse", self._on_packets, threads, queue_capacity, batch_size,
                           start=False)
        self.cache = Stage("PageCache", self._on_requests, threads, queue_capacity, batch_size,
                           start=False)
        self.miss = Stage("CacheMiss", self._on_misses, file_threads, queue_capacity,
                          batch_size, start=False)
        self.send = Stage("HttpSend", self._on_responses, threads, queue_capacity, batch_size,
                          start=False)
        self.stages = (self.parse, self.cache, self.miss, self.send)
        # aSocket state (its thread only, except the command deque and the wake flag).
        self._conns: dict[int, _Conn] = {}
        self._idle: OrderedDict[_Conn, None] = OrderedDict()   # least recently read first
        self._lingering: dict[_Conn, None] = {}                # closed, draining input
        self._cmds: deque = deque()
        self._wake_pending = False
        self._wakefd = -1
        self._wake_lock = _allocate_lock()  # a poke and the close of ``_wakefd`` exclude each other
        self._loop_ident = None
        self._stop_now = False
        self._poller = None
        self._lsock = None
        self._listening = False
        self._accept_resume = 0.0
        self._max_conns = 1 << 30
        self._tick = _MAX_TICK if request_timeout is None else max(
            0.01, min(_MAX_TICK, request_timeout / 4.0))
        self._next_tick = 0.0
        # Counters beyond ServerCounters' (aSocket's are exact: one thread; others under _tally).
        self.polls = 0
        self.poll_events = 0
        self.vanished = 0
        self.timeouts = 0
        self.send_timeouts = 0
        self.idle_closed = 0
        self.rejected = 0
        self.partial_writes = 0     # sends the socket took only part of (or none: EAGAIN)

    # -- the body: aSocket's thread ----------------------------------------------------------------

    def body(self, ready) -> None:
        """``ServerHandle`` body: listen, start the stages, run aSocket until stopped."""
        try:
            limit = raise_fd_limit()
            self._lsock = listen(self.host, self.port, self.backlog, sock_module=_SOCKET_MODULE)
            self._lsock.setblocking(False)
            self._poller = _EpollPoller() if self.poller_name == "epoll" else _PollPoller()
            self._wakefd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            self._poller.register(self._wakefd, _IN)
            self._poller.register(self._lsock.fileno(), _IN)
            self._listening = True
            # Keep descriptors in reserve for CacheMiss's opens (and the process's own use):
            # with every descriptor spent on connections no file could be read, and every
            # connection would wait for one.
            reserve = max(self.file_threads + 4, min(64, limit // 8))
            self._max_conns = max(1, limit - reserve - _open_fds())
            self._loop_ident = _get_ident()
            for stage in self.stages:
                stage.start()
            ready(self._lsock.getsockname(), self._request_stop)
            self._loop()
        finally:
            self._shutdown()

    def _request_stop(self) -> None:
        self._command(_STOP, None)

    def _command(self, kind: str, conn: _Conn | None) -> None:
        """Ask aSocket to do something with its poller or sockets (any thread)."""
        self._cmds.append((kind, conn))
        if not self._wake_pending:
            self._wake_pending = True
            with self._wake_lock:           # not a descriptor closed, or reused, since
                if self._wakefd >= 0:
                    os.eventfd_write(self._wakefd, 1)

    def _loop(self) -> None:
        wait = self._poller.wait
        conns = self._conns
        cmds = self._cmds
        lfd = self._lsock.fileno()
        wfd = self._wakefd
        monotonic = time.monotonic
        self._next_tick = monotonic() + self._tick
        while not self._stop_now:
            deadline = self._next_tick
            if not self._listening and self._accept_resume < deadline:
                deadline = self._accept_resume
            if self._lingering:
                deadline = min(deadline, self._expire_lingering(monotonic()))
            events = wait(max(0.0, deadline - monotonic()))
            now = monotonic()
            self.polls += 1
            self.poll_events += len(events)
            for fd, ev in events:
                conn = conns.get(fd)
                if conn is not None:
                    if ev & _OUT:
                        self._writable(conn)
                    if conn.mask & _IN and ev & (_IN | _ERRHUP):
                        self._readable(conn, now)
                    elif ev & _ERRHUP and not ev & _OUT and not conn.closed:
                        self._gone(conn)           # reset while we were not reading
                elif fd == lfd:
                    self._accept(now)
                elif fd == wfd:
                    # Read, then clear the flag (``_command``): a command added after the
                    # clear pokes the eventfd again, one added before it is in ``cmds``
                    # below. Cleared first, a poke landing between the clear and the read
                    # was consumed with the flag left set, and from then on no command woke
                    # the loop: each waited for the next socket event or tick (up to 1 s).
                    try:
                        os.eventfd_read(wfd)
                    except OSError:
                        pass
                    self._wake_pending = False
            while cmds:
                kind, conn = cmds.popleft()
                if kind is _CLOSE:
                    self._release(conn)
                elif kind is _LINGER:
                    self._linger(conn)
                elif kind is _WANT_WRITE:
                    if not conn.closed and not conn.released:
                        self._set_mask(conn, conn.mask | _OUT)
                else:
                    self._stop_now = True
            if not self._listening and now >= self._accept_resume:
                self._poller.register(lfd, _IN)
                self._listening = True
            if now >= self._next_tick:
                self._expire(now)

    def _shutdown(self) -> None:
        """Close the listener and every connection, stop the stages (aSocket's thread)."""
        if self._lsock is not None:
            self._lsock.close()
        for conn in list(self._conns.values()):
            with conn.wlock:
                conn.closed = True
            self._release(conn)
        for stage in self.stages:
            stage.stop(drain=False)
        if self._poller is not None:
            self._poller.close()
        with self._wake_lock:
            fd, self._wakefd = self._wakefd, -1
            if fd >= 0:
                os.close(fd)

    # -- aSocket: accept, read, writability, close -------------------------------------------------

    def _accept(self, now: float) -> None:
        lsock = self._lsock
        accept = lsock._accept          # the C accept: no blocking-mode dance, no patched class
        family, type_, proto = lsock.family, lsock.type, lsock.proto
        counters = self.counters
        for _ in range(_ACCEPT_BATCH):
            if counters.connections_open >= self._max_conns:
                self._back_off(now)          # only the reserve is left
                return
            try:
                fd, _addr = accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as err:
                if err.errno in ACCEPT_SKIP_ERRNOS:
                    continue
                if err.errno not in ACCEPT_ERRNOS:
                    print(f"haboob: accept failed: {err!r}; backing off", file=sys.stderr)
                self._back_off(now)
                return
            try:
                sock = _Socket(family, type_, proto, fileno=fd)
            except OSError:
                os.close(fd)
                continue
            try:
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:                  # reset before we got to it
                sock.close()
                continue
            conn = _Conn(sock, fd, RequestParser(), now)
            self._conns[fd] = conn
            self._idle[conn] = None
            self._set_mask(conn, _IN)
            counters.connections_total += 1
            counters.connections_open += 1

    def _back_off(self, now: float) -> None:
        """Out of descriptors (or worse): stop watching the listener for ``ACCEPT_BACKOFF``
        seconds and keep serving; a level-triggered poller would otherwise spin on it."""
        self.counters.accept_backoffs += 1
        self._poller.unregister(self._lsock.fileno())
        self._listening = False
        self._accept_resume = now + ACCEPT_BACKOFF

    def _readable(self, conn: _Conn, now: float) -> None:
        if conn.closed:
            if conn.linger is not None and conn.linger.drain(now):
                self._release(conn)
            return
        try:
            data = conn.sock.recv(_RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:                      # reset by the client
            self._gone(conn)
            return
        if data:
            conn.last_active = now
            self._idle.move_to_end(conn)
            self._push(conn, data)
        else:
            self._set_mask(conn, conn.mask & ~_IN)
            self._push(conn, _EOF)

    def _push(self, conn: _Conn, item: object) -> None:
        """Hand bytes (or EOF) to HttpParse: enqueue the connection unless already queued."""
        with conn.rlock:
            conn.inbox.append(item)
            if conn.scheduled:
                return
            conn.scheduled = True
        if not self.parse.enqueue(conn):
            # Admission control: we own the connection (scheduled), so we may answer on it.
            self._reject_owned(conn)

    def _writable(self, conn: _Conn) -> None:
        self._set_mask(conn, conn.mask & ~_OUT)
        if conn.closed:
            return
        if not self.send.enqueue((conn, None, None, False)):
            self._flush(conn)

    def _set_mask(self, conn: _Conn, mask: int) -> None:
        old = conn.mask
        if mask == old or conn.released:
            return
        if old == 0:
            self._poller.register(conn.fd, mask)
        elif mask == 0:
            self._poller.unregister(conn.fd)
        else:
            self._poller.modify(conn.fd, mask)
        conn.mask = mask

    def _release(self, conn: _Conn) -> None:
        """Unregister and close a connection's socket (aSocket's thread; after ``closed``)."""
        if conn.released:
            return
        if conn.mask:
            try:
                self._poller.unregister(conn.fd)
            except (OSError, KeyError, ValueError):
                pass
            conn.mask = 0
        conn.released = True
        conn.linger = None
        if self._conns.get(conn.fd) is conn:
            del self._conns[conn.fd]
        self._idle.pop(conn, None)
        self._lingering.pop(conn, None)
        try:
            conn.sock.close()
        except OSError:
            pass
        self.counters.connections_open -= 1

    def _linger(self, conn: _Conn) -> None:
        """Lingering close (``server_common.Linger``) of a connection closed after an error reply:
        shut down writing, keep reading (and discarding) until FIN or a bound, then release."""
        if conn.released:
            return
        now = time.monotonic()
        conn.linger = Linger(conn.sock, self.counters, now)
        self._idle.pop(conn, None)
        self._lingering[conn] = None
        self._set_mask(conn, _IN)
        if conn.linger.drain(now):
            self._release(conn)

    def _expire_lingering(self, now: float) -> float:
        """Release lingering connections whose bound ran out; the next deadline of the rest."""
        nearest = now + _MAX_TICK
        for conn in list(self._lingering):
            if conn.linger.expired(now):
                self._release(conn)
            else:
                nearest = min(nearest, conn.linger.deadline)
        return nearest

    def _gone(self, conn: _Conn) -> None:
        """The client reset or vanished: drop the connection, count it, say nothing."""
        with self._tally:
            self.vanished += 1
        self._close(conn)

    def _expire(self, now: float) -> None:
        """Answer 408 to partial requests idle for ``request_timeout``; close idle keep-alives."""
        self._next_tick = now + self._tick
        if self.request_timeout is None:
            return
        timeout = self.request_timeout
        limit = now - timeout
        expired = []
        for conn in self._idle:             # least recently read first
            if conn.last_active > limit:
                break
            expired.append(conn)
        # A request trickling in (slowloris) keeps its connection recently read: it must be
        # whole within request_timeout of the tick that first saw it incomplete. O(connections)
        # per tick, nothing per read.
        for conn in self._conns.values():
            if conn.closed or not conn.parser.in_progress:
                conn.partial_since = 0.0
            elif not conn.partial_since:
                conn.partial_since = now
            elif now - conn.partial_since >= timeout:
                expired.append(conn)
        for conn in expired:
            if conn.closed:
                continue
            if conn.outbuf:                 # owed bytes the socket would not take
                if conn.sent != conn.sent_seen:
                    conn.sent_seen = conn.sent
                    self._touch(conn, now)  # a slow reader, but reading
                else:
                    with self._tally:
                        self.send_timeouts += 1
                    self._close(conn)       # it stopped reading: drop it
                continue
            if conn.next_send != conn.issued or conn.want_write:
                self._touch(conn, now)      # busy answering: not idle
                continue
            with conn.rlock:
                owned = not conn.scheduled
                if owned:
                    conn.scheduled = True   # claim the parser for good: we close it now
            if not owned:
                self._touch(conn, now)      # HttpParse has it
                continue
            if conn.parser.in_progress:
                with self._tally:
                    self.timeouts += 1
                seq = conn.issued
                conn.issued += 1
                self._deliver(conn, seq, error_response(408), True)
            else:
                with self._tally:
                    self.idle_closed += 1
                self._close(conn)

    def _touch(self, conn: _Conn, now: float) -> None:
        conn.last_active = now
        self._idle.move_to_end(conn)

    # -- HttpParse ---------------------------------------------------------------------------------

    def _on_packets(self, conns: list[_Conn]) -> None:
        requests: list = []
        answers: list = []
        for conn in conns:
            parser = conn.parser
            while True:
                with conn.rlock:
                    chunks = conn.inbox
                    if not chunks:
                        conn.scheduled = False
                        break
                    conn.inbox = []
                if conn.closed:
                    continue
                for chunk in chunks:
                    if chunk is _EOF:
                        self._eof(conn)
                        continue
                    if parser.closed:
                        continue        # after "Connection: close" or an error: ignored
                    for request in parser.feed(chunk):
                        requests.append((conn, conn.issued, request))
                        conn.issued += 1
                    if parser.error is not None:
                        answers.append((conn, conn.issued,
                                        error_response(parser.error.status), True))
                        conn.issued += 1
        if requests:
            taken = self.cache.enqueue_many(requests)
            for conn, seq, _request in requests[taken:]:
                self._reject(conn, seq)
        if answers:
            self._hand_to_send(answers)

    def _eof(self, conn: _Conn) -> None:
        """The client will send no more: finish what is in flight, then close."""
        if conn.parser.in_progress:
            with self._tally:
                self.vanished += 1          # it left in the middle of a request
        with conn.wlock:
            conn.read_closed = True
            if (not conn.closed and conn.next_send == conn.issued and not conn.outbuf):
                self._close_locked(conn)

    # -- PageCache ---------------------------------------------------------------------------------

    def _on_requests(self, events: list) -> None:
        respond = self.handler.respond
        finish = self.handler.finish
        answers: list = []
        misses: list = []
        for event in events:
            conn = event[0]
            if conn.closed:
                continue
            if len(event) == 3:                 # (conn, seq, request) from HttpParse
                _, seq, request = event
                result = respond(request)
                if result.__class__ is Miss:
                    misses.append((conn, seq, result))
                else:
                    answers.append((conn, seq, result, not request.keep_alive))
            else:                               # (conn, seq, miss, body, st) from CacheMiss
                _, seq, miss, body, st = event
                answers.append((conn, seq, finish(miss, body, st), not miss.request.keep_alive))
        if misses:
            taken = self.miss.enqueue_many(misses)
            for conn, seq, _miss in misses[taken:]:
                self._reject(conn, seq)
        if answers:
            self._hand_to_send(answers)

    # -- CacheMiss (aFile) -------------------------------------------------------------------------

    def _on_misses(self, events: list) -> None:
        handler = self.handler
        filled: list = []
        answers: list = []
        for conn, seq, miss in events:
            if conn.closed:
                continue
            close = not miss.request.keep_alive
            try:
                path = handler.resolve(miss)
                body, st = read_file(path)
            except HTTPError as err:
                answers.append((conn, seq, handler.fail(miss, err.status), close))
            except OSError as err:
                if err.errno in (errno.EMFILE, errno.ENFILE):   # transient: "busy", not 500
                    with self._tally:
                        self.rejected += 1
                    answers.append((conn, seq, _busy_response(), True))
                    continue
                status = 404 if err.errno in NOT_FOUND_ERRNOS else 500
                answers.append((conn, seq, handler.fail(miss, status), close))
            else:
                filled.append((conn, seq, miss, body, st))
        if filled:
            taken = self.cache.enqueue_many(filled)
            for conn, seq, miss, body, st in filled[taken:]:
                # PageCache is full: insert here rather than drop work already done.
                answers.append((conn, seq, handler.finish(miss, body, st),
                                not miss.request.keep_alive))
        if answers:
            self._hand_to_send(answers)

    # -- HttpSend ----------------------------------------------------------------------------------

    def _hand_to_send(self, answers: list) -> None:
        taken = self.send.enqueue_many(answers)
        for conn, seq, data, close in answers[taken:]:
            self._deliver(conn, seq, data, close)     # HttpSend is full: write it ourselves

    def _on_responses(self, events: list) -> None:
        deliver = self._deliver
        for conn, seq, data, close in events:
            if seq is None:
                self._flush(conn)
            else:
                deliver(conn, seq, data, close)

    def _deliver(self, conn: _Conn, seq: int, data: bytes, close: bool) -> None:
        """Write answer number ``seq`` of ``conn`` once those before it are written (any thread)."""
        with conn.wlock:
            if conn.closed:
                return
            if seq != conn.next_send:
                conn.ready[seq] = (data, close)
                return
            parts = [data]
            seq += 1
            ready = conn.ready
            while ready and not close:
                item = ready.pop(seq, None)
                if item is None:
                    break
                data, close = item
                parts.append(data)
                seq += 1
            conn.next_send = seq
            if close:
                conn.closing = True
                conn.error_close = data[9:10] not in (b"2", b"3")
                ready.clear()
            self._count(parts)
            buf = parts[0] if len(parts) == 1 else b"".join(parts)
            if conn.outbuf:
                conn.outbuf += buf          # waiting for writability: aSocket will tell us
            else:
                self._send_locked(conn, buf)

    def _flush(self, conn: _Conn) -> None:
        """The socket became writable: send what is left (HttpSend or, if it is full, aSocket)."""
        with conn.wlock:
            conn.want_write = False
            if conn.closed or not conn.outbuf:
                return
            buf, conn.outbuf = conn.outbuf, None
            self._send_locked(conn, buf)

    def _send_locked(self, conn: _Conn, buf) -> None:
        try:
            n = conn.sock.send(buf)
        except (BlockingIOError, InterruptedError):
            n = 0
        except OSError:                          # EPIPE, ECONNRESET: the client is gone
            with self._tally:
                self.vanished += 1
            self._close_locked(conn)
            return
        if n:
            conn.sent += n
            with self._tally:
                self.counters.bytes_sent += n
        if n < len(buf):
            with self._tally:
                self.partial_writes += 1
            conn.outbuf = bytearray(memoryview(buf)[n:])
            if not conn.want_write:
                conn.want_write = True
                if _get_ident() == self._loop_ident:
                    self._set_mask(conn, conn.mask | _OUT)
                else:
                    self._command(_WANT_WRITE, conn)
        elif conn.closing or (conn.read_closed and conn.next_send == conn.issued):
            self._close_locked(conn, linger=conn.error_close and not conn.read_closed)

    def _count(self, parts: list) -> None:
        counters = self.counters
        with self._tally:
            counters.requests += len(parts)
            for part in parts:
                if part[9:10] not in (b"2", b"3"):      # b"HTTP/1.1 404 ..."
                    counters.error(int(part[9:12]))

    # -- closing and rejecting ---------------------------------------------------------------------

    def _close(self, conn: _Conn) -> None:
        with conn.wlock:
            self._close_locked(conn)

    def _close_locked(self, conn: _Conn, linger: bool = False) -> None:
        """Mark ``conn`` closed (``wlock`` held) and have aSocket release its socket, or
        (``linger``: after an error reply) close it lingering."""
        if conn.closed:
            return
        conn.closed = True
        conn.ready.clear()
        conn.outbuf = None
        if _get_ident() == self._loop_ident:
            (self._linger if linger else self._release)(conn)
        else:
            self._command(_LINGER if linger else _CLOSE, conn)

    def _reject(self, conn: _Conn, seq: int) -> None:
        """A full queue refused request ``seq``: answer 503 in its turn and close."""
        with self._tally:
            self.rejected += 1
        self._deliver(conn, seq, _busy_response(), True)

    def _reject_owned(self, conn: _Conn) -> None:
        """HttpParse's queue refused a connection we own (``scheduled``): 503 and close."""
        seq = conn.issued
        conn.issued += 1
        self._reject(conn, seq)

    # -- observation -------------------------------------------------------------------------------

    def _extra(self) -> dict:
        stages = {"aSocket": {
            "name": "aSocket", "threads": 1, "queue_length": len(self._cmds),
            "connections": len(self._conns), "polls": self.polls, "events": self.poll_events,
            "poller": self.poller_name,
        }}
        for stage in self.stages:
            stages[stage.name] = stage.stats()
        cache = self.handler.cache.stats()
        with self._tally:
            extra = {
                "architecture": "seda",
                "poller": self.poller_name,
                "threads_per_stage": self.threads,
                # Every OS thread of the process (threading.active_count() misses _thread ones).
                "os_threads": _os_threads(),
                "file_threads": self.file_threads,
                "stages": stages,
                "queue_lengths": {name: st["queue_length"] for name, st in stages.items()},
                "stage_events": sum(st["events"] for st in stages.values()),
                "cache": {"hits": cache.hits, "misses": cache.misses, "entries": cache.entries,
                          "bytes": cache.bytes, "max_bytes": cache.max_bytes,
                          "evictions": cache.evictions},
                "clients_vanished": self.vanished,
                "timeouts_408": self.timeouts,
                "send_timeouts": self.send_timeouts,
                "idle_closed": self.idle_closed,
                "max_connections": self._max_conns,
                "rejected_503": self.rejected,
                "partial_writes": self.partial_writes,
            }
        return extra
