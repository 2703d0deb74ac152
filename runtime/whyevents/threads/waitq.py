"""WaitQueue: the one FIFO of parked threads that every primitive is built on.

Design (after trio's ``_parking_lot.py``): a queue per object that can block, so memory is
O(objects + parked threads). The queue is an ``OrderedDict`` keyed by thread: appending, popping
the oldest and removing an arbitrary thread (its timeout fired, it was killed) are all O(1) in C.
A plain ``dict`` would not do: popping its first key after many deletions walks the dead slots,
which turns 80,000 timed-out waiters into an O(n^2) drain.

Contract (the pairing rule): a thread parked here leaves it exactly once, either

* by ``wake_one``/``wake_all``/``wake(thread)`` from another thread on this hub: it is removed
  and made runnable with ``park()`` returning True; or
* by ``discard(thread)``, which only the hub calls (timeout, kill): ``park()`` then returns False
  or raises the kill.

Every method runs in the hub's OS thread. None of them yields, except ``park``.

Hot paths test emptiness with ``queue._q`` (the ``OrderedDict``: a C-level truth test) rather
than ``bool(queue)``, which would call ``__bool__``, a Python method. ``sync.Event`` keeps its
first waiter in a slot of its own and only makes a ``WaitQueue`` for a second one (the same
contract: the slot is the oldest waiter, and ``discard`` empties it).
"""

from __future__ import annotations

from collections import OrderedDict

from .hub_local import get_hub, tls

__all__ = ["WaitQueue"]


class WaitQueue:
    """FIFO of parked threads, with O(1) park, wake and removal."""

    __slots__ = ("_q", "owner", "kind")

    def __init__(self, owner: object = None, kind: str = "wait") -> None:
        self._q: OrderedDict = OrderedDict()
        #: What this queue belongs to (a Lock, a socket...), shown by ``dump()``.
        self.owner = owner
        #: A short word for ``stats()`` "waiters by kind": "lock", "cond", "queue", "join"...
        self.kind = kind

    def __len__(self) -> int:
        return len(self._q)

    def __bool__(self) -> bool:
        return bool(self._q)

    def __repr__(self) -> str:
        return f"<WaitQueue {self.kind} of {self.owner!r}: {len(self._q)} waiting>"

    def park(self, timeout: float | None = None) -> bool:
        """Block the current thread here until woken (True) or ``timeout`` seconds pass (False).

        ``timeout`` None waits forever; ``timeout <= 0`` returns False at once without yielding.
        A kill raises ``ThreadKilled`` from here (after this queue has forgotten the thread).
        """
        if timeout is not None and timeout <= 0:
            return False
        hub = getattr(tls, "hub", None) or get_hub()
        t = hub.current
        self._q[t] = None
        return hub.park(self, timeout)

    def discard(self, thread) -> None:
        """Forget ``thread`` without waking it (the hub calls this on timeout and kill)."""
        self._q.pop(thread, None)

    def wake_one(self, value: object = None):
        """Wake the oldest waiter; returns it, or None when nobody waits."""
        q = self._q
        if not q:
            return None
        t = q.popitem(last=False)[0]
        t._hub.wake(t, value)
        return t

    def wake_all(self, value: object = None) -> int:
        """Wake every waiter, oldest first; returns how many."""
        q = self._q
        n = len(q)
        while q:
            t = q.popitem(last=False)[0]
            t._hub.wake(t, value)
        return n

    def wake(self, thread, value: object = None) -> None:
        """Wake one particular waiter (it must be parked here)."""
        del self._q[thread]
        thread._hub.wake(thread, value)

    def first(self):
        """The oldest waiter without removing it, or None."""
        q = self._q
        return next(iter(q)) if q else None

    def threads(self) -> list:
        """The waiters, oldest first (a copy: for debugging and tests)."""
        return list(self._q)
