"""Compiler-transformed threads: ``async def`` tasks on a lean O(1) scheduler.

The paper's section 4 asks the compiler to help threads; Adya et al.'s continuation transform
(cited in sections 2 and 4) is what Python's compiler does to an ``async def``: each thread
becomes a resumable frame, its live state kept in that frame, with no C stack of its own. This
module runs such threads on the fifo hub's principles, nothing more:

* a ready ``deque`` of coroutines; resuming one is ``coro.send(None)``;
* a thread that waits yields the one list it waits on (an ``Event``'s or a ``Queue``'s waiters,
  or the run queue itself for a yield); the loop appends the coroutine to it. No futures, no
  callbacks, no handles: waking a waiter is moving it to the ready deque, O(1);
* the loop runs the ready deque in batches (the threads ready when the batch starts, as the fifo
  hub does); timers (``sleep(s)``) are a heap looked at between batches, and slept on when
  nothing is ready.

There is no poller: I/O here is the non-blocking kind (a cached ``preadv(RWF_NOWAIT)``, a
non-blocking socket call) done in place, and a thread that must wait for a descriptor would need
one. ``run(main)`` returns ``main``'s result as soon as it finishes (threads still parked are
abandoned, as ``threads.run`` abandons parked daemon threads); when nothing can run and ``main``
has not finished it raises ``Deadlock``. An exception ends only its thread (kept in
``Scheduler.errors``), except in ``main``, where it propagates.

    from whyevents.threads import coro

    async def worker(ev, out):
        await ev.wait()
        out.append(1)

    async def main():
        ev, out = coro.Event(), []
        coro.spawn(worker(ev, out))
        ev.set()
        await coro.sleep(0)
        return out

    coro.run(main())            # [1]
"""

from __future__ import annotations

import heapq
import time
import types
from collections import deque

from .errors import Deadlock

__all__ = ["run", "spawn", "sleep", "Event", "Queue", "Condition", "Scheduler", "current"]

_sched: Scheduler | None = None


class _Timers:
    """What a sleeping coroutine yields: ``append`` files it under the pending deadline."""

    __slots__ = ("heap", "deadline", "seq")

    def __init__(self) -> None:
        self.heap: list = []
        self.deadline = 0.0
        self.seq = 0

    def append(self, c) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (self.deadline, self.seq, c))


class Scheduler:
    """One loop: ``ready`` (a deque of coroutines), timers, the count of resumptions."""

    def __init__(self) -> None:
        self.ready: deque = deque()
        self.timers = _Timers()
        self.errors: list = []
        self.spawns = 0
        self.steps = 0

    def spawn(self, c):
        self.spawns += 1
        self.ready.append(c)
        return c

    def run(self, main):
        """Run until ``main`` (a coroutine) finishes; its result."""
        ready = self.ready
        ready.append(main)
        pop = ready.popleft
        heap = self.timers.heap
        steps = 0
        try:
            while True:
                n = len(ready)              # one batch: the threads ready now
                if not n:
                    if not self._expire(True):
                        raise Deadlock(f"coro: every thread is waiting and main ({main!r}) "
                                       "has not finished")
                    continue
                steps += n
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
                if heap:
                    self._expire(False)
        finally:
            self.steps += steps

    def _expire(self, block: bool) -> bool:
        """Move due sleepers to the ready deque; with ``block``, first sleep until the next
        deadline. False when there are no timers at all."""
        heap = self.timers.heap
        if not heap:
            return False
        if block:
            delay = heap[0][0] - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        now = time.monotonic()
        while heap and heap[0][0] <= now:
            self.ready.append(heapq.heappop(heap)[2])
        return True


def current() -> Scheduler:
    if _sched is None:
        raise RuntimeError("no coro scheduler is running (call coro.run(main()))")
    return _sched


def run(main, scheduler: Scheduler | None = None):
    """Run coroutine ``main`` (and what it spawns) on a new scheduler (or ``scheduler``, e.g.
    ``coro_io.IOScheduler``, which adds sockets); ``main``'s result."""
    global _sched
    if _sched is not None:
        raise RuntimeError("coro.run() is already running in this process")
    _sched = Scheduler() if scheduler is None else scheduler
    try:
        return _sched.run(main)
    finally:
        _sched = None


def spawn(c):
    """Start coroutine ``c`` as a thread (it runs when the spawner next waits or yields)."""
    return current().spawn(c)


@types.coroutine
def sleep(seconds: float = 0):
    """``sleep(0)``: yield to every ready thread; ``sleep(s)``: wait ``s`` seconds."""
    s = current()
    if seconds <= 0:
        yield s.ready
    else:
        t = s.timers
        t.deadline = time.monotonic() + seconds
        yield t


class Event:
    """``threading.Event`` for coroutines: ``await ev.wait()``, ``ev.set()``, ``ev.clear()``."""

    __slots__ = ("_flag", "_waiters")

    def __init__(self) -> None:
        self._flag = False
        self._waiters: list = []

    def is_set(self) -> bool:
        return self._flag

    def set(self) -> None:
        self._flag = True
        w = self._waiters
        if w:
            _sched.ready.extend(w)
            w.clear()

    def clear(self) -> None:
        self._flag = False

    def wait(self):
        """``await ev.wait()``: returns at once if set, else waits for ``set()``."""
        return self

    def __await__(self):
        # a tuple iterator, not a generator: yields the waiters list once (no frame to make)
        return iter(_NOTHING if self._flag else (self._waiters,))


_NOTHING = ()


class Queue:
    """An unbounded FIFO: ``put_nowait`` (never waits), ``await get()``."""

    __slots__ = ("_items", "_getters")

    def __init__(self) -> None:
        self._items: deque = deque()
        self._getters: deque = deque()

    def qsize(self) -> int:
        return len(self._items)

    def put_nowait(self, item) -> None:
        self._items.append(item)
        if self._getters:
            _sched.ready.append(self._getters.popleft())

    put = put_nowait

    @types.coroutine
    def get(self):
        items = self._items
        while not items:
            yield self._getters
        return items.popleft()


class Condition:
    """A condition without a lock (threads are cooperative: no switch between test and wait):
    ``await cond.wait()``, ``notify(n)``, ``notify_all()``."""

    __slots__ = ("_waiters",)

    def __init__(self) -> None:
        self._waiters: deque = deque()

    @types.coroutine
    def wait(self):
        yield self._waiters
        return True

    def notify(self, n: int = 1) -> None:
        w, ready = self._waiters, _sched.ready
        for _ in range(min(n, len(w))):
            ready.append(w.popleft())

    def notify_all(self) -> None:
        w = self._waiters
        _sched.ready.extend(w)
        w.clear()
