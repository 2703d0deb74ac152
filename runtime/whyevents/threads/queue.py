"""``Queue``, ``LifoQueue``, ``PriorityQueue`` and ``SimpleQueue`` with the stdlib's semantics.

Hand-off: ``put`` to a queue with a waiting getter gives the item straight to the oldest getter
(it never enters the buffer), and ``get`` from a full bounded queue takes the oldest waiting
putter's item into the buffer as it makes room. So no woken thread ever finds its item gone, and
each put/get is O(1) plus the buffer's own cost (a heap for ``PriorityQueue``).

``Empty`` and ``Full`` are the stdlib's own classes, so ``except queue.Empty`` keeps working.
"""

from __future__ import annotations

import heapq
from collections import deque
from queue import Empty, Full

from .hub import get_hub
from .waitq import COMPACT_AFTER, WaitQueue

__all__ = ["Queue", "LifoQueue", "PriorityQueue", "SimpleQueue", "Empty", "Full"]


class Queue:
    """``queue.Queue``: FIFO, bounded when ``maxsize > 0``."""

    def __init__(self, maxsize: int = 0) -> None:
        self.maxsize = maxsize
        self._init(maxsize)
        #: The buffer is the base class's deque (no subclass overrides ``_put``/``_get``/
        #: ``_qsize``): ``put``/``get`` then use it directly instead of calling the helpers.
        cls = type(self)
        self._plain = (cls._put is Queue._put and cls._get is Queue._get
                       and cls._qsize is Queue._qsize and cls._init is Queue._init)
        self._getters = WaitQueue(self, "queue.get")
        self._putters = WaitQueue(self, "queue.put")
        self._joiners = WaitQueue(self, "queue.join")
        self.unfinished_tasks = 0

    # -- the buffer (overridden by the Lifo and Priority variants) -------------------------------
    def _init(self, maxsize: int) -> None:
        self.queue = deque()

    def _qsize(self) -> int:
        return len(self.queue)

    def _put(self, item) -> None:
        self.queue.append(item)

    def _get(self):
        return self.queue.popleft()

    def _unget(self, item) -> None:
        """Put back an item a killed getter was handed (to the front, where it came from)."""
        self.queue.appendleft(item)

    # -- the API ----------------------------------------------------------------------------------
    def qsize(self) -> int:
        return self._qsize()

    def empty(self) -> bool:
        return not self._qsize()

    def full(self) -> bool:
        return 0 < self.maxsize <= self._qsize()

    def put(self, item, block: bool = True, timeout: float | None = None) -> None:
        if timeout is not None and block and timeout < 0 and self.maxsize > 0:
            raise ValueError("'timeout' must be a non-negative number")   # as the stdlib's
        self.unfinished_tasks += 1
        getters = self._getters
        q = getters._q
        if q:                            # hand-off: the buffer is empty when getters wait
            t = next(iter(q))            # getters.wake_one(item), inlined
            del q[t]
            dead = getters._dead = getters._dead + 1
            if dead > COMPACT_AFTER and dead > len(q):
                getters._compact()
            t._hub.wake(t, item)
            return
        if self.maxsize > 0 and self._qsize() >= self.maxsize:
            if not block:
                self.unfinished_tasks -= 1
                raise Full
            t = get_hub().current
            t._value = item
            try:
                ok = self._putters.park(timeout)
            except BaseException:        # killed, or a subclass's _put failed (_take_putter)
                if not t._woken:         # the item is not in: count it out, as the stdlib
                    self.unfinished_tasks -= 1
                raise
            if not ok:
                self.unfinished_tasks -= 1
                raise Full
            return                       # a getter moved our item into the buffer
        if self._plain:
            self.queue.append(item)      # _put, inlined for the plain FIFO
        else:
            try:
                self._put(item)
            except BaseException:
                self.unfinished_tasks -= 1
                raise

    def get(self, block: bool = True, timeout: float | None = None):
        if timeout is not None and block and timeout < 0:   # even with items, as the stdlib
            raise ValueError("'timeout' must be a non-negative number")
        if self._plain:                  # _qsize and _get, inlined for the plain FIFO
            buf = self.queue
            if buf:
                item = buf.popleft()
                if self._putters._q:
                    self._take_putter()
                return item
        elif self._qsize():
            item = self._get()
            if self._putters._q:
                self._take_putter()
            return item
        if not block:
            raise Empty
        hub = get_hub()
        try:
            ok = self._getters.park(timeout)
        except BaseException:
            t = hub.current
            if t._woken:                 # handed an item, then killed: don't lose it
                self._unget(t._value)
            raise
        if not ok:
            raise Empty
        t = hub.current
        item = t._value
        t._value = None
        return item

    def _take_putter(self) -> None:
        """A get made room in a full bounded queue: the oldest waiting putter's item goes in."""
        putters = self._putters
        t = putters.first()
        try:
            self._put(t._value)
        except BaseException as e:       # as the stdlib: a failing _put raises in its put()
            t._hub._throw_into(t, e)
            return
        putters.wake_one()

    def put_nowait(self, item) -> None:
        self.put(item, False)

    def get_nowait(self):
        return self.get(False)

    def task_done(self) -> None:
        if self.unfinished_tasks <= 0:
            raise ValueError("task_done() called too many times")
        self.unfinished_tasks -= 1
        if self.unfinished_tasks == 0:
            self._joiners.wake_all()

    def join(self) -> None:
        while self.unfinished_tasks:
            self._joiners.park()

    def statistics(self) -> dict:
        return {"size": self._qsize(), "maxsize": self.maxsize, "getters": len(self._getters),
                "putters": len(self._putters), "unfinished": self.unfinished_tasks}

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} size={self._qsize()} maxsize={self.maxsize} "
                f"getters={len(self._getters)} putters={len(self._putters)}>")


class LifoQueue(Queue):
    """``queue.LifoQueue``: last in, first out."""

    def _init(self, maxsize: int) -> None:
        self.queue = []

    def _get(self):
        return self.queue.pop()

    def _unget(self, item) -> None:
        self.queue.append(item)


class PriorityQueue(Queue):
    """``queue.PriorityQueue``: lowest first (a heap)."""

    def _init(self, maxsize: int) -> None:
        self.queue = []

    def _put(self, item) -> None:
        heapq.heappush(self.queue, item)

    def _get(self):
        return heapq.heappop(self.queue)

    _unget = _put


class SimpleQueue:
    """``queue.SimpleQueue``: unbounded FIFO without task tracking."""

    def __init__(self) -> None:
        self._q = Queue()

    def put(self, item, block: bool = True, timeout: float | None = None) -> None:
        self._q.put(item)
        self._q.unfinished_tasks = 0

    put_nowait = put

    def get(self, block: bool = True, timeout: float | None = None):
        return self._q.get(block, timeout)

    def get_nowait(self):
        return self._q.get(False)

    def empty(self) -> bool:
        return self._q.empty()

    def qsize(self) -> int:
        return self._q.qsize()


