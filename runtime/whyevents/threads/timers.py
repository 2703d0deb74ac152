"""Timers: a binary heap with lazy cancellation.

A discussion about time, and why this shape. Most timeouts in a server never fire: a ``recv`` with a
30 s timeout is answered in microseconds, a ``Lock.acquire(timeout=1)`` usually succeeds. So
cancelling must be O(1): a cancelled entry is only marked (its thread slot set to ``None``) and left
in the heap, and the heap is rebuilt without the dead entries when they outnumber the live ones
(amortised O(1) per cancel, memory bounded by twice the live timers). Adding is O(log n), and in the
common case of deadlines that grow with time (every timeout the same length), ``heappush`` stops at
once because the new entry is the largest. Expiring is O(log n) per entry.

Deadlines are ``time.monotonic()`` seconds. A wait longer than ``MAX_TIMEOUT`` is clamped to it so
that no system call sees a timeout it cannot represent (as trio does with its 24 h cap).

Each entry is a three-item list ``[deadline, seq, thread]``: lists compare element-wise, the
sequence number breaks ties so threads with equal deadlines fire in the order they were added and
no two entries ever compare their threads.
"""

from __future__ import annotations

import heapq
from itertools import count

__all__ = ["TimerHeap", "MAX_TIMEOUT"]

#: Longest timeout honoured, in seconds (one day); longer ones are clamped.
MAX_TIMEOUT = 86400.0

_heappush = heapq.heappush
_heappop = heapq.heappop


class TimerHeap:
    """Deadlines of parked threads. Only the hub's OS thread may touch it."""

    __slots__ = ("_heap", "_dead", "_seq")

    def __init__(self) -> None:
        self._heap: list[list] = []
        self._dead = 0
        self._seq = count()

    def __len__(self) -> int:
        """Live (not cancelled) timers."""
        return len(self._heap) - self._dead

    def add(self, deadline: float, thread) -> list:
        """Arm a timer; returns the entry, which ``cancel`` takes."""
        entry = [deadline, next(self._seq), thread]
        _heappush(self._heap, entry)
        return entry

    def cancel(self, entry: list) -> None:
        """Disarm ``entry`` in O(1); cancelling twice or after it fired is harmless."""
        if entry[2] is not None:
            entry[2] = None
            self._dead += 1
            heap = self._heap
            if self._dead > 64 and self._dead * 2 > len(heap):
                self._heap = [e for e in heap if e[2] is not None]
                heapq.heapify(self._heap)
                self._dead = 0

    def next_deadline(self) -> float | None:
        """The earliest live deadline, or None when no timer is armed."""
        heap = self._heap
        while heap and heap[0][2] is None:
            _heappop(heap)
            self._dead -= 1
        return heap[0][0] if heap else None

    def pop_due(self, now: float):
        """Yield the threads whose deadline is ``<= now``, earliest first, removing them."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            entry = _heappop(heap)
            thread = entry[2]
            if thread is None:
                self._dead -= 1
                continue
            entry[2] = None
            yield thread
