"""Timers: a FIFO for deadlines that only grow, a binary heap for the rest, lazy cancellation.

A discussion about time, and why this shape. Most timeouts in a server never fire: a ``recv`` with
a 30 s timeout is answered in microseconds, a ``Lock.acquire(timeout=1)`` usually succeeds. So
cancelling must be O(1): a cancelled entry is only marked (its thread slot set to ``None``) and left
where it is; the structure is rebuilt without dead entries when they outnumber the live ones
(amortised O(1) per cancel, memory bounded by twice the live timers).

Most timeouts also have the same length (every ``recv`` of a server uses one timeout, every waiter
on a lock the same ``timeout=``), so their deadlines arrive in increasing order. Those go to the
back of a deque: O(1) to add and O(1) to expire, and memory is touched in order, which matters at
80,000 waiters, where a heap's pops jump around memory and miss the cache. A deadline earlier than
the deque's last goes to a heap instead (O(log n)). Expiring takes the earlier of the two heads.
So 80,000 waiters timing out cost per waiter what 5,000 do (``whyevents bench runtime``).

Deadlines are ``time.monotonic()`` seconds. A wait longer than ``MAX_TIMEOUT`` is clamped to it so
that no system call sees a timeout it cannot represent (as trio does with its 24 h cap).

Each entry is a three-item list ``[deadline, seq, thread]``: lists compare element-wise, the
sequence number breaks ties so threads with equal deadlines fire in the order they were added and
no two entries ever compare their threads.
"""

from __future__ import annotations

import heapq
from collections import deque
from itertools import count

__all__ = ["TimerHeap", "MAX_TIMEOUT"]

#: Longest timeout honoured, in seconds (one day); longer ones are clamped.
MAX_TIMEOUT = 86400.0

_heappush = heapq.heappush
_heappop = heapq.heappop


class TimerHeap:
    """Deadlines of parked threads. Only the hub's OS thread may touch it.

    ``live`` is the number of armed (not cancelled, not fired) timers, an int attribute so the
    hub's hot paths can test it without a call.
    """

    __slots__ = ("_fifo", "_heap", "_dead", "_seq", "live")

    def __init__(self) -> None:
        self._fifo: deque = deque()   # entries in increasing deadline order
        self._heap: list[list] = []   # entries that arrived out of order
        self._dead = 0                # cancelled entries still stored
        self._seq = count()
        self.live = 0

    def __len__(self) -> int:
        return self.live

    def add(self, deadline: float, thread) -> list:
        """Arm a timer; returns the entry, which ``cancel`` takes."""
        entry = [deadline, next(self._seq), thread]
        fifo = self._fifo
        if not fifo or fifo[-1][0] <= deadline:
            fifo.append(entry)
        else:
            _heappush(self._heap, entry)
        self.live += 1
        return entry

    def cancel(self, entry: list) -> None:
        """Disarm ``entry`` in O(1); cancelling twice or after it fired is harmless."""
        if entry[2] is not None:
            entry[2] = None
            self.live -= 1
            self._dead += 1
            if self._dead > 64 and self._dead > self.live:
                self._compact()

    def _compact(self) -> None:
        self._fifo = deque(e for e in self._fifo if e[2] is not None)
        self._heap = [e for e in self._heap if e[2] is not None]
        heapq.heapify(self._heap)
        self._dead = 0

    def head(self) -> list | None:
        """The earliest armed entry ``[deadline, seq, thread]`` (left in place), or None."""
        if not self.live:
            return None
        fifo, heap = self._fifo, self._heap
        while fifo and fifo[0][2] is None:
            fifo.popleft()
            self._dead -= 1
        while heap and heap[0][2] is None:
            _heappop(heap)
            self._dead -= 1
        if fifo:
            if heap and heap[0] < fifo[0]:
                return heap[0]
            return fifo[0]
        return heap[0] if heap else None

    def next_deadline(self) -> float | None:
        """The earliest live deadline, or None when no timer is armed."""
        head = self.head()
        return head[0] if head is not None else None

    def pop_due(self, now: float):
        """Yield the threads whose deadline is ``<= now``, earliest first, removing them."""
        fifo, heap = self._fifo, self._heap
        while self.live:
            if fifo and (not heap or fifo[0] < heap[0]):
                if fifo[0][0] > now:      # the earliest entry (dead or alive) is not due
                    return
                entry = fifo.popleft()
            elif heap and heap[0][0] <= now:
                entry = _heappop(heap)
            else:
                return
            thread = entry[2]
            if thread is None:
                self._dead -= 1
                continue
            entry[2] = None
            self.live -= 1
            yield thread
