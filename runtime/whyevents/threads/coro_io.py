"""Cooperative sockets for ``async def`` threads: an epoll poller inside the ``coro`` loop.

``threads.coro`` runs compiler-transformed threads (the paper's section 4) on a ready deque and a
timer heap, with no poller. A server needs one, and it must stay as lean as the rest: a thread
that waits for a descriptor yields the one list it waits on, exactly as it waits on an ``Event``,
and the loop files it there. This module adds that, and nothing more:

* ``IOScheduler`` is ``coro.Scheduler`` with an edge-triggered epoll set. Each descriptor is
  registered once (``EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET``) when it is wrapped, and never
  modified; closing it drops our record (the kernel drops the registration with the descriptor).
  A record (``_Fd``) holds two waiter lists, ``rd`` and ``wr``: an IN edge moves the reader that
  parked last to the ready deque (on a listener, the accepting thread whose frames are the most
  recently touched), an OUT edge every writer, a hang-up every waiter. O(1) per wake, no futures,
  no callbacks.
* The loop (``IOScheduler.run``) runs the ready deque in batches as ``coro`` does; between two
  batches it polls: without waiting when threads are still ready, else sleeping in
  ``epoll_wait`` until the next timer (forever if there is none). A ``Deadlock`` is raised only
  when nothing is ready, no timer is pending, no descriptor is registered and no foreign call is
  expected.
* **Try the system call first.** ``recv``, ``send``, ``accept`` are made at once on the
  non-blocking descriptor; a thread parks only on EAGAIN. **A short read drains** (as the event
  twin and ``threads.socket`` have it): a ``recv(n)`` returning fewer than ``n`` bytes emptied
  the receive queue, so the record is marked not readable and the next ``recv`` parks first
  instead of making a system call that would fail; bytes arriving later raise a new edge. Not
  after an edge that carried a hang-up (``hup``): the EOF left to read raises no new edge. An
  accepted socket starts not readable, as the twin's connections do: registering it reports an
  IN edge at once if its first request is already queued, so its first ``recv`` never fails.
* **Time-outs are lazy**, as the twin's: a timed wait stores its absolute deadline in the record
  (``deadline``); the record has at most one entry in a timer heap, pushed when a wait's deadline
  is earlier than that entry. When the entry pops, a later deadline re-arms it; a passed one wakes
  the record's waiters with ``TimeoutError``. A keep-alive connection costs a heap operation per
  ``request_timeout``, not per wait. Times are the loop's clock (``now``), read once per poll.
* **Handing off on accept**: an IN edge on a listener wakes one accepting thread (the one that
  parked last); it accepts its connection and, while other accepting threads are parked, one for
  each of them too, until the backlog is empty, waking each with its connection waiting in the
  listener's ``handed``. So N threads accepting on one socket (Knot-C) neither stampede nor leave
  a connection waiting, and an edge costs at most one accept that says EAGAIN, as the event
  twin's accept loop: no thread is woken to find the backlog empty. An accept that said EAGAIN
  marks the listener not readable until its next IN edge, as a short read does a connection, so
  a Knot-C thread done with its connection parks without asking the kernel again.
* **Closing** (``Socket.close``) wakes every waiter of the descriptor with ``OSError(EBADF)``
  before the descriptor is closed, so a number reused by a later ``accept`` inherits nothing.
  An event left over for a closed descriptor that was reused in the same batch only marks the new
  record readable: its ``recv`` says EAGAIN and parks.
* **Other OS threads** reach the loop only through ``call_threadsafe(fn, *args)`` (a deque and an
  eventfd in the epoll set), e.g. a server's stop.

The hot path of a server (``knot.coro``) calls the synchronous halves itself, ``recv_nowait``
(only while the record says ``readable``), ``accept_nowait`` and the socket's own ``send``, and
awaits ``wait_readable``/``send_rest`` only when they say so:
per request one park (one generator) and the system calls an event loop makes. The ``async``
methods (``recv``, ``sendall``, ``accept``, ``connect``) wrap the same halves for any other code.

    import socket
    from whyevents.threads import coro, coro_io

    async def echo(conn):
        while data := await conn.recv(4096, timeout=30):
            await conn.sendall(data)
        conn.close()

    async def main():
        listener = coro_io.wrap(socket.create_server(("127.0.0.1", 8080)))
        while True:
            coro.spawn(echo(await listener.accept()))

    coro_io.run(main())          # coro.run on an IOScheduler: coro.Event etc. work too

A server that must run beside others in one process (one per OS thread) calls
``IOScheduler().run(main)`` and uses only its scheduler's own methods (``spawn``, ``sleep``,
``call_threadsafe``): ``coro``'s module functions reach the one scheduler ``coro.run`` installed.
Disk reads are not here: a page-cache miss read on the loop blocks it.
"""

from __future__ import annotations

import _socket
import errno
import heapq
import os
import select
import types
from collections import deque
from time import monotonic

from . import coro
from .errors import Deadlock
from .originals import original

#: a kernel lock, also when this module is first imported after ``monkey.patch_all()`` (the
#: package does not import it, so it can be): ``call_threadsafe`` runs in other OS threads
_allocate_lock = original("_thread", "allocate_lock")

__all__ = ["IOScheduler", "Socket", "run", "wrap", "wait", "MAX_EVENTS"]

#: Most events taken from one ``epoll_wait``.
MAX_EVENTS = 4096
#: The I/O timer heap is compacted when it holds this many more entries than twice the records.
_COMPACT_AT = 1024

_IN = select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLHUP | select.EPOLLERR
_OUT = select.EPOLLOUT | select.EPOLLHUP | select.EPOLLERR
_HUP = select.EPOLLRDHUP | select.EPOLLHUP | select.EPOLLERR
_MASK = select.EPOLLIN | select.EPOLLOUT | select.EPOLLRDHUP | select.EPOLLET
_INF = float("inf")
_recv = _socket.socket.recv
_send = _socket.socket.send
_accept = _socket.socket._accept
_family = _socket.socket.family.__get__     # the int, without the stdlib's enum property
_SOCK_STREAM = _socket.SOCK_STREAM
_new_socket = object.__new__                # Socket._wrap builds accepted Sockets without __init__


class _TimedOut:
    """The mark a timed-out wait finds in its record (``_Fd.fault``)."""


class _Closed:
    """The mark every waiter of a closed descriptor finds (``_Fd.fault``), for good."""


@types.coroutine
def wait(waiters: list):
    """``await wait(lst)``: park on a waiter list (one generator, one bare ``yield``)."""
    yield waiters


class _Fd:
    """The loop's record of one registered descriptor (module docstring)."""

    __slots__ = ("fd", "rd", "wr", "readable", "hup", "deadline", "timer_at", "fault")

    def __init__(self, fd: int, readable: bool = True) -> None:
        self.fd = fd
        self.rd: list = []          # parked readers (accepters), the last parked woken per IN edge
        self.wr: list = []          # parked writers, all woken by an OUT edge
        self.readable = readable    # may hold input: try the recv (False after a short read)
        self.hup = False            # an edge said RDHUP/HUP/ERR: a short read no longer drains
        self.deadline = _INF        # the current wait's deadline (loop clock)
        self.timer_at = 0.0         # when its entry in the timer heap pops (0: none; -1 closed)
        self.fault = None           # _TimedOut or _Closed for a woken waiter to act on


class IOScheduler(coro.Scheduler):
    """``coro.Scheduler`` plus an edge-triggered epoll set, I/O time-outs and foreign calls."""

    def __init__(self) -> None:
        super().__init__()
        self.ep = select.epoll()
        self.fds: dict[int, _Fd] = {}
        self.now = monotonic()
        self.io_timers: list = []           # (when, seq, _Fd)
        self._seq = 0
        self._calls: deque = deque()        # (fn, args) from other OS threads
        self._wake_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._wake_lock = _allocate_lock()    # a poke and the close exclude each other
        self.ep.register(self._wake_fd, select.EPOLLIN)
        self.foreign = False                # expect call_threadsafe: an idle loop is no deadlock
        self.polls = 0
        self.events = 0
        self.io_timeouts = 0

    # -- the loop -------------------------------------------------------------------------------

    def run(self, main):
        """Run until ``main`` finishes; its result (``coro.Scheduler.run`` plus polling)."""
        ready = self.ready
        ready.append(main)
        pop = ready.popleft
        heap = self.timers.heap
        ioheap = self.io_timers
        poll = self._poll
        while True:
            n = len(ready)                  # one batch: the threads ready now
            self.steps += n
            for _ in range(n):
                c = pop()
                try:
                    c.send(None).append(c)
                except StopIteration as e:
                    if c is main:
                        return e.value
                except BaseException as e:      # noqa: BLE001 - a thread's end
                    if c is main:
                        raise
                    self.errors.append((c, e))
            # Between batches: poll, without waiting if threads are ready.
            if ready:
                poll(0.0)
            else:
                # The timeout from plain comparisons: the min()/max() builtins parse their
                # arguments on every blocking poll, a cost paid per connection and per request
                # (whyevents bench yardstick counts it). Same values as min(heap, io)/max(t, 0).
                if heap or ioheap:
                    if heap:
                        first = heap[0][0]
                        if ioheap and ioheap[0][0] < first:
                            first = ioheap[0][0]
                    else:
                        first = ioheap[0][0]
                    timeout = first - monotonic()
                    if timeout < 0.0:
                        timeout = 0.0
                elif self.fds or self.foreign:
                    timeout = -1.0
                else:
                    raise Deadlock(f"coro_io: every thread is waiting and main ({main!r}) "
                                   "has not finished")
                poll(timeout)
            if heap:
                self._expire(False)
            if ioheap and ioheap[0][0] <= self.now:
                self._expire_io()

    def _poll(self, timeout: float) -> None:
        events = self.ep.poll(timeout, MAX_EVENTS)
        self.now = monotonic()
        self.polls += 1
        if not events:
            return
        self.events += len(events)
        fds = self.fds
        ready = self.ready
        for fd, ev in events:
            rec = fds.get(fd)
            if rec is None:
                if fd == self._wake_fd:
                    self._run_calls()
                continue                    # a descriptor closed earlier in this batch
            if ev & _IN:
                rec.readable = True
                rd = rec.rd
                if ev & _HUP:
                    rec.hup = True
                    if rd:
                        ready.extend(rd)
                        rd.clear()
                elif rd:
                    ready.append(rd.pop())
            if ev & _OUT:
                wr = rec.wr
                if wr:
                    ready.extend(wr)
                    wr.clear()

    # -- time-outs ------------------------------------------------------------------------------

    def arm(self, rec: _Fd, deadline: float) -> None:
        """A timed wait on ``rec`` until ``deadline`` (loop clock) is about to park."""
        rec.deadline = deadline
        at = rec.timer_at
        if at == 0.0 or deadline < at:
            rec.timer_at = deadline
            self._seq += 1
            heap = self.io_timers
            heapq.heappush(heap, (deadline, self._seq, rec))
            if len(heap) > _COMPACT_AT + 2 * len(self.fds):
                heap[:] = [e for e in heap if e[2].timer_at == e[0]]
                heapq.heapify(heap)

    def _expire_io(self) -> None:
        heap = self.io_timers
        now = self.now
        ready = self.ready
        pop = heapq.heappop
        while heap and heap[0][0] <= now:
            at, _, rec = pop(heap)
            if rec.timer_at != at:
                continue                    # superseded by an earlier entry, or closed
            d = rec.deadline
            if d > now:                     # the thread waited again since: re-arm, lazily
                if d == _INF:
                    rec.timer_at = 0.0
                else:
                    rec.timer_at = d
                    self._seq += 1
                    heapq.heappush(heap, (d, self._seq, rec))
                continue
            rec.timer_at = 0.0
            if rec.rd or rec.wr:
                self.io_timeouts += 1
                rec.fault = _TimedOut
                rec.deadline = _INF
                ready.extend(rec.rd)
                rec.rd.clear()
                ready.extend(rec.wr)
                rec.wr.clear()

    # -- descriptors ----------------------------------------------------------------------------

    def register(self, fd: int, readable: bool = True) -> _Fd:
        """Add ``fd`` to the epoll set; its record. ``readable=False``: the first recv parks
        (registering reports an IN edge at once if input is already queued)."""
        self.ep.register(fd, _MASK)
        rec = self.fds[fd] = _Fd(fd, readable)
        return rec

    def forget(self, rec: _Fd) -> None:
        """Drop ``rec`` (its descriptor is about to close): its waiters wake with EBADF."""
        fds = self.fds
        if fds.get(rec.fd) is rec:
            del fds[rec.fd]
        rec.fault = _Closed
        rec.timer_at = -1.0
        if rec.rd:
            self.ready.extend(rec.rd)
            rec.rd.clear()
        if rec.wr:
            self.ready.extend(rec.wr)
            rec.wr.clear()

    # -- threads and other OS threads -----------------------------------------------------------

    @types.coroutine
    def sleep(self, seconds: float = 0):
        """``coro.sleep`` on this scheduler (whether or not ``coro.run`` installed it)."""
        if seconds <= 0:
            yield self.ready
        else:
            t = self.timers
            t.deadline = monotonic() + seconds
            yield t

    def expect_foreign(self) -> None:
        """Other OS threads will ``call_threadsafe``: an idle loop waits for them."""
        self.foreign = True

    def call_threadsafe(self, fn, *args) -> None:
        """From any OS thread: run ``fn(*args)`` on the loop soon (plain call, not a thread).

        Nothing once the loop has closed. The enqueue and the poke hold ``_wake_lock``, as
        ``close`` does: the loop may run the call, end and close between the two, and the poke
        must not reach a closed descriptor or one that has taken its number since."""
        with self._wake_lock:
            if self._wake_fd < 0:
                return                          # closed: the loop has ended
            self._calls.append((fn, args))
            os.eventfd_write(self._wake_fd, 1)

    def _run_calls(self) -> None:
        try:
            os.eventfd_read(self._wake_fd)
        except BlockingIOError:
            pass
        calls = self._calls
        while calls:
            fn, args = calls.popleft()
            fn(*args)

    def close(self) -> None:
        """Release the epoll set and the eventfd (after ``run`` returned)."""
        self.ep.close()
        with self._wake_lock:
            if self._wake_fd >= 0:
                os.close(self._wake_fd)
                self._wake_fd = -1


def _fault(rec: _Fd) -> None:
    f = rec.fault
    if f is _TimedOut:
        rec.fault = None
        raise TimeoutError("timed out")
    if f is _Closed:
        raise OSError(errno.EBADF, os.strerror(errno.EBADF))


class Socket:
    """A non-blocking socket registered with one ``IOScheduler``.

    ``sock`` is the underlying socket (``_socket.socket`` or stdlib), left non-blocking.
    Timeouts are absolute deadlines on the loop's clock (``sched.now + seconds``), or None.
    """

    __slots__ = ("sock", "sched", "io", "handed")

    def __init__(self, sock, sched: IOScheduler, readable: bool = True) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.sched = sched
        self.io = sched.register(sock.fileno(), readable)
        self.handed = None          # a listener's: connections accepted for woken accepters

    # -- the synchronous halves (the hot path calls these itself) -------------------------------

    def recv_nowait(self, n: int) -> bytes | None:
        """``recv(n)`` if the socket may hold input, else None (park, then call again).
        Errors (ECONNRESET...) raise as ``recv``'s do; b"" is the end of the stream."""
        rec = self.io
        if not rec.readable:
            return None
        try:
            data = _recv(self.sock, n)
        except BlockingIOError:
            rec.readable = False
            return None
        if len(data) < n and data and not rec.hup:
            rec.readable = False            # a short read drained the queue
        return data

    @types.coroutine
    def wait_readable(self, deadline: float | None = None):
        """Park until an IN edge (or the deadline: ``TimeoutError``; a close: EBADF)."""
        rec = self.io
        if rec.fault is not None:
            _fault(rec)
        if deadline is None:
            rec.deadline = _INF
        elif rec.timer_at > 0.0 and deadline >= rec.timer_at:
            rec.deadline = deadline         # the armed entry pops first and re-arms: no push
        else:
            self.sched.arm(rec, deadline)
        yield rec.rd
        if rec.fault is not None:
            _fault(rec)

    @types.coroutine
    def wait_writable(self, deadline: float | None = None):
        """Park until an OUT edge (or the deadline: ``TimeoutError``; a close: EBADF)."""
        rec = self.io
        if rec.fault is not None:
            _fault(rec)
        if deadline is None:
            rec.deadline = _INF
        else:
            self.sched.arm(rec, deadline)
        yield rec.wr
        if rec.fault is not None:
            _fault(rec)

    async def send_rest(self, data, sent: int, deadline: float | None = None) -> None:
        """Send ``data[sent:]`` whole, parking on a full send buffer; the deadline bounds the
        whole call (``TimeoutError``), as a stdlib ``sendall``'s timeout does."""
        view = memoryview(data)
        size = len(view)
        sock = self.sock
        try:
            while sent < size:
                try:
                    sent += _send(sock, view[sent:])
                except BlockingIOError:
                    await self.wait_writable(deadline)
        finally:
            view.release()

    # -- the async forms ------------------------------------------------------------------------

    async def recv(self, n: int, timeout: float | None = None) -> bytes:
        """At most ``n`` bytes (b"" at the end of the stream); ``TimeoutError`` after
        ``timeout`` seconds without input."""
        deadline = None if timeout is None else self.sched.now + timeout
        while (data := self.recv_nowait(n)) is None:
            await self.wait_readable(deadline)
        return data

    async def sendall(self, data, timeout: float | None = None) -> None:
        """Send all of ``data``; ``TimeoutError`` if that takes more than ``timeout`` s."""
        try:
            sent = _send(self.sock, data)
        except BlockingIOError:
            sent = 0
        if sent < len(data):
            deadline = None if timeout is None else self.sched.now + timeout
            await self.send_rest(data, sent, deadline)

    def accept_nowait(self) -> Socket | None:
        """The next connection if one is queued, else None (park: ``wait_readable``, then call
        again). The new socket's first ``recv`` parks until its first IN edge, as the event
        twin's does (no system call that would only say EAGAIN). OSError as ``accept`` raises
        it (EMFILE...)."""
        handed = self.handed
        if handed:                          # accepted for us by the thread the edge woke
            return handed.popleft()
        rec = self.io
        if not rec.readable:                # the backlog was empty; no IN edge since
            return None
        try:
            fd, _ = _accept(self.sock)
        except BlockingIOError:
            rec.readable = False
            return None
        conn = self._wrap(fd)
        if rec.rd:
            self._hand_out()
        return conn

    def _wrap(self, fd: int) -> Socket:
        """The accepted ``fd`` as a Socket of this scheduler, not readable until its first IN
        edge. ``Socket.__init__`` and ``register`` inlined: two Python calls per connection
        saved; the resulting state is theirs (``Socket(sock, sched, False)``)."""
        sock = _socket.socket(_family(self.sock), _SOCK_STREAM, 0, fd)
        sched = self.sched
        try:
            sock.setblocking(False)
            sched.ep.register(fd, _MASK)
        except BaseException:
            sock.close()
            raise
        conn = _new_socket(Socket)
        conn.sock = sock
        conn.sched = sched
        conn.io = sched.fds[fd] = _Fd(fd, False)
        conn.handed = None
        return conn

    def _hand_out(self) -> None:
        """Accepters are parked: accept for them until the backlog is empty, each woken with
        its connection in ``handed`` (module docstring: handing off on accept)."""
        rd = self.io.rd
        ready = self.sched.ready
        handed = self.handed
        if handed is None:
            handed = self.handed = deque()
        while rd:
            try:
                fd, _ = _accept(self.sock)
            except BlockingIOError:
                self.io.readable = False
                return
            except OSError:
                ready.append(rd.pop())      # EMFILE...: one accepter meets it itself
                return
            try:
                handed.append(self._wrap(fd))
            except OSError:
                continue
            ready.append(rd.pop())

    async def accept(self) -> Socket:
        """The next connection, as a ``Socket`` of the same scheduler (TCP_NODELAY is the
        caller's choice). OSError as ``accept`` raises it (EMFILE...), EBADF once closed."""
        while (conn := self.accept_nowait()) is None:
            await self.wait_readable()
        return conn

    async def connect(self, address) -> None:
        """Connect without blocking the loop (numeric addresses only)."""
        err = self.sock.connect_ex(address)
        if err in (errno.EINPROGRESS, errno.EAGAIN):
            await self.wait_writable()
            err = self.sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_ERROR)
        if err:
            raise OSError(err, os.strerror(err))

    # -- the rest -------------------------------------------------------------------------------

    def fileno(self) -> int:
        return self.io.fd if self.io.fault is not _Closed else -1

    def shutdown(self, how: int) -> None:
        self.sock.shutdown(how)

    def close(self) -> None:
        """Forget the descriptor (waiters wake with EBADF), then close it. Idempotent."""
        rec = self.io
        if rec.fault is not _Closed:
            self.sched.forget(rec)
        self.sock.close()
        handed = self.handed
        while handed:                       # a listener's, accepted for nobody now
            handed.popleft().close()

    def __repr__(self) -> str:
        return f"<coro_io.Socket fd={self.fileno()}>"


def wrap(sock, sched: IOScheduler | None = None) -> Socket:
    """``Socket`` of ``sched`` (default: the scheduler ``run`` installed)."""
    return Socket(sock, sched if sched is not None else coro.current())


def run(main):
    """``coro.run(main)`` on a new ``IOScheduler``: ``coro``'s Event, Queue, sleep and spawn and
    this module's sockets together; the scheduler's descriptors are released at the end."""
    sched = IOScheduler()
    try:
        return coro.run(main, scheduler=sched)
    finally:
        sched.close()
