"""The ``pth`` scheduler: a model of GNU Pth 2.0.7's scheduler, O(n) per context switch.

Why it exists. The paper's Figure 2 (section 2.2) runs SEDA's threaded-server benchmark on "a
modified version of the GNU Pth user-level threading package, which we optimized to remove most of
the O(n) operations from the scheduler". This module is the *before*: the unmodified Pth 2.0.7
scheduler, so that the notebooks can show what those O(n) operations cost and what removing them
(the ``fifo`` hub) buys. It is a model of the algorithm, not an artificial delay: it does the same
walks, builds the same descriptor set and calls the kernel as often as Pth did, and it gives the
same results as ``fifo`` (same wakeups, timeouts, kills, exceptions, deadlock reports); only the
cost per switch grows with the number of waiting threads.

What is modelled, function by function (``pth_sched.c``, ``pth_pqueue.c``, ``pth_lib.c``,
``pth_sync.c`` of Pth 2.0.7):

* **A separate scheduler thread** (``pth_sched``, running ``pth_scheduler()``): here the hub
  greenlet. Every ``pth_yield`` and every ``pth_wait`` (every blocking call) does
  ``pth_mctx_switch`` to the scheduler, never straight to another thread: two context switches per
  dispatch (``fifo`` hands the CPU over directly, one switch).
* **Four queues**: new threads (``NQ``: ``pth_spawn`` inserts there; here ``hub.ready.append``,
  which ``Thread.start`` calls), ready (``RQ``), waiting (``WQ``) and the running thread. The
  suspended and dead queues (``SQ``, ``DQ``) are not modelled: there is no suspend here and a
  finished thread's joiners are woken through a wait queue.
* **``pth_scheduler()``'s loop**, one turn per dispatch: move every thread of ``NQ`` to ``RQ``,
  taking ``NQ``'s tail first and giving each the *favourite* priority (``pth_favournew`` = 1, the
  default: ``pth_pqueue_favorite_prio`` = priority of ``RQ``'s head + 1), so new threads run
  before every ready thread, oldest first (with ``favournew`` off they enter at
  ``PTH_PRIO_STD``, behind the ready threads, and, taken from the tail, newest first: Pth's own
  quirk, kept); ``pth_pqueue_delmax(RQ)`` picks the next thread;
  switch to it; when it comes back: a thread that now waits (``PTH_STATE_WAITING``) is inserted
  into ``WQ`` at its priority; ``pth_pqueue_increase(RQ)`` ages every ready thread by one; a thread
  that yielded goes back into ``RQ`` at its own priority, which after the aging is behind every
  thread already ready (``pth_yield(NULL)`` is round-robin); then ``pth_sched_eventmanager(now,
  dopoll)``, polling (zero timeout) if ``RQ`` or ``NQ`` is non-empty, else waiting.
* **The priority queue** (``pth_pqueue_t``): a list kept sorted by priority, FIFO among equals.
  Pth's ``pth_pqueue_insert`` walks a doubly linked list from the head and "inserts after
  elements with greater or equal priority": O(n). ``pth_pqueue_delmax`` takes the head, O(1);
  ``pth_pqueue_increase`` adds one to the head's *relative* priority, which raises every element
  at once, O(1). Here: a Python list in ascending priority, head at the *end*, so ``delmax`` is
  ``list.pop()``, O(1), and insertion is ``bisect.insort_left`` on the stored key. We use
  ``insort`` rather than a Python-level walk on purpose: the position costs O(log n) comparisons
  but ``list.insert`` moves every element behind it, so the common case (a yielding thread goes
  to the tail, i.e. index 0 here) moves the whole ready queue, O(n) like Pth's walk; a walk
  written in Python would cost many times more per element than Pth's pointer chase and would
  exaggerate the ready-queue cost relative to the waiting-queue scan, which is what the paper is
  about. The elements Pth's walk would have passed are counted in ``rq_steps``. Aging is O(1) as
  in Pth: the stored key is ``priority - boost`` and ``pth_pqueue_increase`` is ``boost += 1``.
  All threads have ``PTH_PRIO_STD`` (0) unless ``set_priority`` says otherwise (clamped to
  ``PTH_PRIO_MIN``..``PTH_PRIO_MAX``, -5..5, as ``PTH_ATTR_PRIO``).
* **``pth_sched_eventmanager()``**, on *every* switch: (1) walk the whole ``WQ`` and, for each
  waiting thread, re-check its event by polling: ``PTH_EVENT_TIME`` (``deadline < now``, where
  ``now`` is the snapshot taken when the scheduler got the CPU back; otherwise remember the
  nearest deadline: there is no timer heap, every deadline is looked at in the walk),
  ``PTH_EVENT_COND``/``PTH_EVENT_MUTEX`` (the "occurred" flag: see wakeups below), cancellation
  (``t->cancelreq``: our ``kill``), and ``PTH_EVENT_FD``, whose descriptor is only added to the
  set being rebuilt; (2) if any event occurred, poll instead of waiting; (3) one ``select()`` on
  the rebuilt set, plus the internal wakeup descriptor (Pth's signal pipe; here the hub's eventfd
  for other OS threads): timeout 0 when polling, else until the nearest deadline, else forever;
  (4) if it timed out while waiting, mark the *nearest* timer's event occurred (only that one:
  any other due timer is found by the next scan); (5) walk the whole ``WQ`` again, do the late
  handling of descriptor events (``FD_ISSET``), and move every thread with an occurred event from
  ``WQ`` to ``RQ`` with priority + 1 ("a slightly increased queue priority ... else the last
  running thread might immediately get again the CPU"): so a woken thread runs before the thread
  that yielded in the same turn, as with ``fifo``. Cost: two walks of ``WQ``, one set rebuilt
  from every descriptor wait and one system call per switch: O(waiting threads) per switch.
* **Wakeups are flags found by the scan.** ``pth_cond_notify`` only sets ``PTH_COND_SIGNALED``
  and ``pth_mutex_release`` only clears ``PTH_MUTEX_LOCKED``; the waiters notice at the next
  event-manager walk. So ``wake(t, value)`` here does not touch the ready queue: it records the
  value and sets ``t``'s occurred flag (``t._woken``); the next scan moves ``t``. A kill is
  ``pth_cancel``'s ``cancelreq``: a flag the scan finds. A timeout is the scan comparing the
  deadline with ``now``.
* **Descriptor waits** (``pth_read``/``pth_write``/``pth_accept`` after ``EAGAIN`` wait on a
  ``PTH_EVENT_FD``): ``hub.poller`` is a ``PthPoller`` whose ``wait_read``/``wait_write`` only
  record the descriptor on the thread's wait record and park; the event manager builds the poll
  set from the walk. Several threads waiting on one readable descriptor are *all* woken (each has
  its own event and each ``FD_ISSET`` succeeds: the thundering herd); the losers get ``EAGAIN``
  and wait again. Same results, more work.

Not modelled, and why:

* **Signals** (``PTH_EVENT_SIGS``, per-thread pending signals, the signal mask juggling around
  ``select``), **message ports** (``PTH_EVENT_MSG``), **custom event functions**
  (``PTH_EVENT_FUNC``), **fd-set events** (``PTH_EVENT_SELECT``), **thread-termination events**
  (``PTH_EVENT_TID``: join is a wait-queue wakeup here, i.e. a COND-like flag), ``pth_suspend``,
  ``pth_yield(to)``, the load average (``pth_scheduler_load``), stack-guard checks and per-thread
  CPU accounting: the runtime has no such features, and none changes the O(n) shape.
* **``pth_cond_notify`` yields** (``pth_yield(NULL)`` after setting the flag). We do not: the
  runtime's contract is that waking never blocks the waker (only ``park`` yields), and the
  scheduler must give the same results as ``fifo``. The flag and the scan are modelled, the extra
  switch is not.
* **Pth's mutex barging** (a released mutex is merely unlocked; every waiter polls it and the
  first to run takes it): the semantics of locks are those of ``sync.Lock`` (hand-off by
  default); only the *delivery* of the wakeup goes through the flag and the scan.
* **``select()`` itself**: we call ``poll()`` on a set rebuilt from the walk (``select.poll``
  registered fd by fd on every scan). Same O(n) shape, without ``FD_SETSIZE``'s 1,024-descriptor
  limit, which the paper's servers did not have either (they used ``poll()``).
* **Stacks**: Pth allocated a fixed stack per thread (64 KiB by default); ours are greenlets.

Added to Pth, so that results match ``fifo``: **deadlock detection** (with nothing ready, no
deadline, no descriptor and no other-OS-thread wakeup promised, Pth would sleep in ``select()``
for ever; we raise ``Deadlock`` in the main thread, as the ``fifo`` hub does), and the second
walk also notices wakeups made by other OS threads during ``select`` (they arrive through the
wakeup descriptor, as signals arrive through Pth's signal pipe, and Pth's second walk handles
signal events raised during ``select`` the same way).

A consequence worth knowing: waking n threads at once (``notify_all``, ``Event.set``) costs
O(n^2) in the scan that moves them, since each enters ``RQ`` behind all the others
(``pth_pqueue_insert`` at equal priority walks the whole queue). That is Pth's cost too.

Differences in *order* from ``fifo`` (results are the same; only the interleaving can differ, and
only where Pth's order is its own): a thread spawned while others are ready runs before them
(``pth_favournew``), where ``fifo`` queues it last; threads whose events occurred in the same scan
enter ``RQ`` in ``WQ`` order (the order they began waiting), where ``fifo`` queues them in the
order they were woken (several timers expiring together: ``fifo`` in deadline order). Programs
that spawn only before their threads first run and wake in the order threads waited (one wait
queue) run in exactly the same order under both (``tests/test_sched_pth.py`` checks this).

``poller``: Pth had one way to wait for descriptors, a ``select()`` set rebuilt on every scan, so
``poller="poll"`` and ``poller="epoll"`` (``run``'s default) give the same ``PthPoller``; the name
asked for is kept in ``hub.poller.requested`` and ``hub.poller.name`` is ``"poll"``, what it does.

Counters: those of the ``fifo`` hub (``switches`` = dispatches, ``spawns``, ``polls`` = select
calls, ``loops`` = scheduler turns, ``errors``) plus ``scans`` (event-manager walks),
``scanned`` (waiting threads visited by the first walk of each scan; the second walk visits as
many again), ``rq_steps`` (ready-queue elements Pth's insertion walk would have passed) and
``moved`` (threads moved from ``WQ`` to ``RQ``). ``stats()`` shows them via ``extra_stats``.
"""

from __future__ import annotations

import math
import select
from bisect import bisect_left, insort_right
from collections import deque
from operator import itemgetter
from time import monotonic

from .errors import InternalError
from .hub import PARKED, READY, Hub
from .pollers import FdQueue, Poller
from .registry import POLLER_NAMES
from .timers import MAX_TIMEOUT

__all__ = ["PthHub", "PthPoller", "PTH_PRIO_MIN", "PTH_PRIO_STD", "PTH_PRIO_MAX"]

#: Pth's priority range (``pth.h``): higher runs first.
PTH_PRIO_MAX = 5
PTH_PRIO_STD = 0
PTH_PRIO_MIN = -5

_POLLIN = select.POLLIN | select.POLLPRI
_POLLOUT = select.POLLOUT
_READY_IN = select.POLLIN | select.POLLPRI | select.POLLHUP | select.POLLERR | select.POLLNVAL
_READY_OUT = select.POLLOUT | select.POLLHUP | select.POLLERR | select.POLLNVAL

_KEY = itemgetter(0)


class _Wait:
    """A waiting thread's entry in ``WQ``: its events (Pth's ``t->events`` ring).

    ``deadline``: ``PTH_EVENT_TIME`` (None: no timeout). ``fd``/``mask``/``test``:
    ``PTH_EVENT_FD`` (``fd`` -1: none). The COND/MUTEX flag and ``cancelreq`` live on the thread
    (``_woken``, ``_throw``) because the waker and the killer know the thread, not this entry.
    """

    __slots__ = ("thread", "deadline", "fd", "mask", "test", "prio", "timedout")

    def __init__(self, thread, deadline, fd: int, mask: int, test: int, prio: int) -> None:
        self.thread = thread
        self.deadline = deadline
        self.fd = fd
        self.mask = mask
        self.test = test
        self.prio = prio
        self.timedout = False


def _neg_prio(w: _Wait) -> int:
    return -w.prio


class _ReadyQueues:
    """``hub.ready`` for the pth hub: ``append`` (``Thread.start``) is ``pth_spawn``'s insert
    into ``NQ``; ``len`` counts ``NQ`` + ``RQ``, which is what ``stats()`` calls runnable."""

    __slots__ = ("nq", "rq")

    def __init__(self, nq: deque, rq: list) -> None:
        self.nq = nq
        self.rq = rq

    def append(self, t) -> None:
        self.nq.append(t)

    def __len__(self) -> int:
        return len(self.nq) + len(self.rq)

    def __bool__(self) -> bool:
        return bool(self.nq) or bool(self.rq)

    def __iter__(self):
        """Runnable threads in the order they would be dispatched (for debugging)."""
        yield from self.nq
        for _, t in reversed(self.rq):
            yield t

    def clear(self) -> None:
        self.nq.clear()
        self.rq.clear()


class _Deadlines:
    """``hub.timers`` for the pth hub: Pth has no timer structure, deadlines live in ``WQ``.

    ``len`` (armed deadlines, kept in O(1)) for ``stats()``; ``next_deadline`` walks ``WQ``, as
    the event manager does to find ``nexttimer``.
    """

    __slots__ = ("hub",)

    def __init__(self, hub: PthHub) -> None:
        self.hub = hub

    def __len__(self) -> int:
        return self.hub._armed

    def __bool__(self) -> bool:
        return self.hub._armed > 0

    @property
    def live(self) -> int:
        return self.hub._armed

    def next_deadline(self) -> float | None:
        ds = [w.deadline for w in self.hub._wq if w.deadline is not None]
        return min(ds) if ds else None


class PthPoller(Poller):
    """Descriptor waits for the pth hub: record the descriptor, park; the event manager polls.

    The interface of ``pollers`` (``wait_read``, ``wait_write``, ``after_read``, ``forget``,
    ``add_callback_fd``, ``waiting``, ``stats``, ``close``). There is no ``poll(timeout)`` of its
    own: in Pth the descriptor set is assembled by the event manager's walk of ``WQ``, and the
    hub calls ``select`` below with it.
    """

    name = "poll"

    def __init__(self, hub: PthHub, requested: str = "poll") -> None:
        super().__init__(hub)     # _fds: fd -> [readers FdQueue | None, writers | None]
        #: The poller name ``run`` was given ("poll" or "epoll"): both mean this poller.
        self.requested = requested
        # registrations: descriptors put into a poll set, summed over all scans (FD_SET calls)

    def _wait(self, fd: int, timeout: float | None, which: int, kind: str, mask: int,
              test: int) -> bool:
        st = self._fds.get(fd)
        if st is None:
            st = self._fds[fd] = [None, None]
        q = st[which]
        if q is None:
            q = st[which] = FdQueue(self, fd, kind)
        hub = self.hub
        q._q[hub.current] = None
        self.waiting += 1
        return hub._park(q, timeout, fd, mask, test)

    def wait_read(self, fd: int, timeout: float | None = None) -> bool:
        return self._wait(fd, timeout, 0, "read", _POLLIN, _READY_IN)

    def wait_write(self, fd: int, timeout: float | None = None) -> bool:
        return self._wait(fd, timeout, 1, "write", _POLLOUT, _READY_OUT)

    def after_read(self, fd: int) -> None:
        """Nothing to do: every scan re-polls the descriptor (level-triggered, as select)."""

    def forget(self, fd: int) -> None:
        st = self._fds.pop(fd, None)
        if st is None:
            return
        self._fail(st)

    def add_callback_fd(self, fd: int, fn) -> None:
        """``fn()`` runs whenever ``fd`` is readable; it is in every set, like Pth's signal pipe."""
        self._callbacks[fd] = fn

    def select(self, interest: dict, timeout: float) -> tuple[dict, int]:
        """One ``poll()`` on a set built now from ``interest`` (fd -> events) and the callback
        descriptors. Returns (fd -> revents for ``interest``, number of descriptors ready)."""
        p = select.poll()
        register = p.register
        for fd, mask in interest.items():
            register(fd, mask)
        self.registrations += len(interest)
        callbacks = self._callbacks
        for fd in callbacks:
            register(fd, select.POLLIN)
        ms = -1 if timeout < 0 else math.ceil(timeout * 1000)
        events = p.poll(ms)
        ready = {}
        for fd, ev in events:
            if fd in interest:
                ready[fd] = ev
            cb = callbacks.get(fd)
            if cb is not None:
                cb()
        # forget descriptors nobody waits on any more
        idle = [fd for fd, st in self._fds.items() if not st[0] and not st[1]]
        for fd in idle:
            del self._fds[fd]
        return ready, len(events)

    def stats(self) -> dict:
        return {**super().stats(), "requested": self.requested}


class PthHub(Hub):
    """GNU Pth 2.0.7's scheduler: every switch through the scheduler, which scans every waiter."""

    scheduler = "pth"

    def __init__(self, poller: str = "epoll", favournew: bool = True) -> None:
        if poller not in POLLER_NAMES:
            raise ValueError(f"poller={poller!r}: choose 'epoll' or 'poll' (under scheduler='pth' "
                             f"both mean Pth's select() set rebuilt on every scan)")
        super().__init__(poller="poll")       # its PollPoller holds nothing; replaced below
        self.poller = PthPoller(self, poller)
        self._nq: deque = deque()             # pth_NQ: new threads
        self._rq: list = []                   # pth_RQ: (key, thread), head at the end
        self._wq: list = []                   # pth_WQ: _Wait entries, priority then FIFO
        self.ready = _ReadyQueues(self._nq, self._rq)
        self.timers = _Deadlines(self)
        self._boost = 0                       # pth_pqueue_increase(RQ) calls so far
        self._armed = 0                       # entries of WQ with a deadline
        self._parking = None                  # the _Wait of the thread now switching out
        self._prio: dict = {}                 # thread -> priority, when not PTH_PRIO_STD
        #: ``pth_favournew``: new threads get the favourite priority (Pth's default: on).
        self.favournew = favournew
        self.scans = 0
        self.scanned = 0
        self.rq_steps = 0
        self.moved = 0

    # -- the interface other modules use --------------------------------------------------------

    def park(self, waitobj, timeout: float | None = None) -> bool:
        """``pth_wait``: become WAITING and switch to the scheduler, which puts us in ``WQ``."""
        return self._park(waitobj, timeout, -1, 0, 0)

    def _park(self, waitobj, timeout, fd: int, mask: int, test: int) -> bool:
        t = self.current
        t._waiting = waitobj
        t._state = PARKED
        t._since = self.now
        t._woken = False                  # the occurred flag, set by wake()
        deadline = None
        if timeout is not None:
            if timeout > MAX_TIMEOUT:
                timeout = MAX_TIMEOUT
            deadline = monotonic() + timeout
        t._deadline = deadline            # Hub.park's contract (socket.recv reads it)
        prio = self._prio.get(t, PTH_PRIO_STD) if self._prio else PTH_PRIO_STD
        self._parking = _Wait(t, deadline, fd, mask, test, prio)
        self._to_hub()
        # moved to RQ by a scan that found the flag, the deadline, the descriptor or a kill
        self._resumed(t)
        return t._woken

    def wake(self, t, value: object = None) -> None:
        """Set ``t``'s occurred flag (``PTH_COND_SIGNALED``); the next scan moves it. O(1).

        The caller has already removed ``t`` from what it waited on. ``t`` counts as ready from
        now on (it can no longer be woken, timed out or discarded) but stays in ``WQ``, where
        Pth's thread stays, until the event manager's walk finds the flag.
        """
        t._woken = True
        t._value = value
        t._waiting = None
        t._state = READY

    def yield_(self) -> None:
        """``pth_yield(NULL)``: switch to the scheduler, which requeues us behind the ready."""
        t = self.current
        t._state = READY
        self._to_hub()
        self._resumed(t)

    def set_priority(self, t, prio: int) -> None:
        """Pth's ``PTH_ATTR_PRIO``: ``t`` is queued at ``prio`` (clamped to -5..5) from now on."""
        prio = max(PTH_PRIO_MIN, min(PTH_PRIO_MAX, int(prio)))
        if prio == PTH_PRIO_STD:
            self._prio.pop(t, None)
        else:
            self._prio[t] = prio

    # -- switching: always through the scheduler ------------------------------------------------

    def _switch_out(self):
        """``pth_mctx_switch(&pth_current->mctx, &pth_sched->mctx)``: no direct hand-over."""
        return self._to_hub()

    def _throw_into(self, t, exc: BaseException) -> None:
        """``pth_cancel``: set the request; a parked thread leaves what it waits on now (so
        nobody can hand it anything) and the next scan finds the request and moves it."""
        t._throw = exc
        if t._state is PARKED:
            self._unpark(t)

    # -- the ready queue (pth_pqueue_t) ---------------------------------------------------------

    def _rq_insert(self, t, prio: int) -> None:
        """``pth_pqueue_insert(&pth_RQ, prio, t)``: after every thread of greater or equal
        (aged) priority. O(n): ``list.insert`` shifts every element behind the position."""
        rq = self._rq
        key = prio - self._boost
        i = bisect_left(rq, key, key=_KEY)
        self.rq_steps += len(rq) - i
        rq.insert(i, (key, t))

    def _prio_of(self, t) -> int:
        return self._prio.get(t, PTH_PRIO_STD) if self._prio else PTH_PRIO_STD

    # -- the scheduler thread -------------------------------------------------------------------

    def _loop(self, *_ignored) -> None:
        """``pth_scheduler()``, entered each time a thread gives up the CPU."""
        nq = self._nq
        rq = self._rq
        while True:
            # came back from thread `prev`: file it where its state says
            self.now = monotonic()                    # the snapshot the event manager uses
            prev = self.current
            state = prev._state
            if state is PARKED:                       # PTH_STATE_WAITING: into WQ
                w = self._parking
                self._parking = None
                if w is None or w.thread is not prev:
                    raise InternalError(f"{prev!r} parked without a wait record")
                if w.deadline is not None:
                    self._armed += 1
                if w.prio == PTH_PRIO_STD and not self._prio:
                    self._wq.append(w)                # pth_pqueue_insert(&pth_WQ, prio, t)
                else:
                    insort_right(self._wq, w, key=_neg_prio)
            if rq:
                self._boost += 1                      # pth_pqueue_increase(&pth_RQ): aging
            if state is READY:                        # yielded (or killed while running)
                self._rq_insert(prev, self._prio_of(prev))
            while True:
                self.loops += 1
                self._eventmanager(bool(rq) or bool(nq))
                # new threads: from NQ's tail, each to the head of RQ (pth_favournew)
                while nq:
                    t = nq.pop()
                    if self.favournew:
                        key = rq[-1][0] + 1 if rq else PTH_PRIO_MAX - self._boost
                        rq.append((key, t))           # O(1): the new head
                    else:
                        self._rq_insert(t, PTH_PRIO_STD)  # as Pth: STD, not t->prio
                if rq:
                    break
                self.now = monotonic()                # nothing ready yet: scan again
            t = rq.pop()[1]                           # pth_pqueue_delmax(&pth_RQ)
            self._run(t)

    def _eventmanager(self, dopoll: bool) -> None:
        """``pth_sched_eventmanager(now, dopoll)``: walk WQ, select, walk WQ, move to RQ."""
        now = self.now
        while True:
            wq = self._wq
            self.scans += 1
            self.scanned += len(wq)
            any_occurred = False
            next_deadline = math.inf
            next_wait = None
            interest: dict = {}
            # first walk: poll each waiting thread's events; assemble the descriptor set
            for w in wq:
                t = w.thread
                if t._woken or t._throw is not None:  # COND/MUTEX flag, or cancelreq
                    any_occurred = True
                    continue
                fd = w.fd
                if fd >= 0:                           # PTH_EVENT_FD: checked later, all at once
                    interest[fd] = interest.get(fd, 0) | w.mask
                d = w.deadline
                if d is not None:                     # PTH_EVENT_TIME
                    if d < now:
                        w.timedout = True
                        any_occurred = True
                    elif d < next_deadline:
                        next_deadline = d
                        next_wait = w
            if any_occurred or self._foreign:
                dopoll = True
            if dopoll:
                timeout = 0.0
            elif next_wait is not None:
                timeout = next_deadline - now
            elif interest or self._foreign_pending:
                timeout = -1.0
            else:
                # Pth would sleep in select() for ever; we report it, as the fifo hub does,
                # and scan again to move the main thread (its cancel request is now set).
                self._deadlock()
                continue
            self.polls += 1
            self.in_poll = True
            try:
                ready, nready = self.poller.select(interest, timeout)
            except BaseException as e:
                # a signal handler raised: to the main thread, as the fifo hub does (_loop)
                self._throw_into(self.main, e)
                ready, nready = {}, 0
            finally:
                self.in_poll = False
            if self._foreign:
                self._run_foreign()
            if not dopoll and nready == 0 and next_wait is not None:
                next_wait.timedout = True             # only the nearest timer, as in Pth
            # second walk: late handling of descriptor events; move occurred threads to RQ
            moved = 0
            for w in wq:
                t = w.thread
                if t._woken or t._throw is not None:
                    pass                              # woken or killed (maybe during select)
                elif ready and w.fd in ready and ready[w.fd] & w.test:
                    # before the deadline: as pth_read_ev, an FD event that occurred wins
                    t._waiting.discard(t)             # FdQueue: keeps poller.waiting right
                    t._woken = True
                    t._waiting = None
                    t._state = READY
                elif w.timedout:
                    q = t._waiting
                    if q is not None:
                        q.discard(t)
                    t._waiting = None
                    t._state = READY                  # park() returns False
                else:
                    continue
                w.thread = None
                if w.deadline is not None:
                    self._armed -= 1
                moved += 1
                self._rq_insert(t, w.prio + 1)       # "slightly increased queue priority"
            if moved:
                self.moved += moved
                self._wq = [w for w in wq if w.thread is not None]
            return

    # -- introspection and lifecycle ------------------------------------------------------------

    def extra_stats(self) -> dict:
        """Pth's own counters, merged into ``stats()``."""
        return {"scans": self.scans, "scanned": self.scanned, "rq_steps": self.rq_steps,
                "moved": self.moved, "new_queue": len(self._nq), "ready_queue": len(self._rq),
                "waiting_queue": len(self._wq)}

    def close(self) -> None:
        if self.closed:
            return
        super().close()
        self._wq.clear()
        self._armed = 0

    def __repr__(self) -> str:
        return (f"<PthHub threads={len(self._live)} NQ={len(self._nq)} RQ={len(self._rq)} "
                f"WQ={len(self._wq)} fd_waiters={self.poller.waiting} scans={self.scans}>")
