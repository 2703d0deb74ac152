"""WaitQueue: the one FIFO of parked threads that every primitive is built on.

Design (after trio's ``_parking_lot.py``): a queue per object that can block, so memory is
O(objects + parked threads). The queue is a plain ``dict`` keyed by thread, whose insertion order
is the FIFO: appending, popping the oldest and removing an arbitrary thread (its timeout fired, it
was killed) are all O(1) in C, and an entry costs about half of what an ``OrderedDict``'s does
(no linked-list node, no node index), which is per parked thread (``whyevents bench runtime``,
``memory``).

A plain dict keeps a removed entry's slot until it is resized, and finding its first key walks
the dead slots before it: popping the oldest over and over would turn 80,000 timed-out waiters
into an O(n^2) drain. So the queue counts removals (``_dead``) and, once they outnumber the
waiters (and ``COMPACT_AFTER``), rebuilds the dict in place, oldest first: O(n) after more than n
removals, O(1) amortized. Everything that removes an entry goes through this class, except
``queue.Queue.put``'s hand-off, which inlines ``wake_one`` (counting and compacting the same way).
``pollers.FdQueue`` (one descriptor's waiters, popped by the poller's hot loop) keeps an
``OrderedDict``: the same methods work on both.

Contract (the pairing rule): a thread parked here leaves it exactly once, either

* by ``wake_one``/``wake_all``/``wake(thread)`` from another thread on this hub: it is removed
  and made runnable with ``park()`` returning True; or
* by ``discard(thread)``, which only the hub calls (timeout, kill): ``park()`` then returns False
  or raises the kill.

Every method runs in the hub's OS thread. None of them yields, except ``park``.

Hot paths test emptiness with ``queue._q`` (the dict: a C-level truth test) rather than
``bool(queue)``, which would call ``__bool__``, a Python method. ``sync.Event`` keeps its first
waiter in a slot of its own and only makes a ``WaitQueue`` for a second one (the same contract:
the slot is the oldest waiter, and ``discard`` empties it).
"""

from __future__ import annotations

from .hub_local import get_hub, tls

__all__ = ["WaitQueue", "COMPACT_AFTER"]

#: Removals a queue tolerates before it may rebuild its dict (it also waits until they outnumber
#: the waiters): small queues, the common case, never pay for a rebuild.
COMPACT_AFTER = 64


class WaitQueue:
    """FIFO of parked threads, with O(1) park, wake and removal."""

    __slots__ = ("_q", "_dead", "owner", "kind")

    #: The mapping type of ``_q`` (``pollers.FdQueue`` overrides it).
    container = dict

    def __init__(self, owner: object = None, kind: str = "wait") -> None:
        self._q: dict = self.container()
        #: Entries removed since the dict was last built: its dead slots, at most (see the module).
        self._dead = 0
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
        q = self._q
        if q.pop(thread, q) is not q:
            dead = self._dead = self._dead + 1
            if dead > COMPACT_AFTER and dead > len(q):
                self._compact()

    def _compact(self) -> None:
        """Rebuild the dict in place, oldest first, without its dead slots (see the module)."""
        q = self._q
        waiters = list(q)
        q.clear()
        for t in waiters:
            q[t] = None
        self._dead = 0

    def wake_one(self, value: object = None):
        """Wake the oldest waiter; returns it, or None when nobody waits."""
        q = self._q
        if not q:
            return None
        t = next(iter(q))           # the oldest (inlined in queue.Queue.put's hand-off)
        del q[t]
        dead = self._dead = self._dead + 1
        if dead > COMPACT_AFTER and dead > len(q):
            self._compact()
        t._hub.wake(t, value)
        return t

    def wake_all(self, value: object = None) -> int:
        """Wake every waiter, oldest first; returns how many."""
        q = self._q
        waiters = list(q)
        q.clear()                   # a fresh table: no dead slots left
        self._dead = 0
        for t in waiters:
            t._hub.wake(t, value)
        return len(waiters)

    def wake(self, thread, value: object = None) -> None:
        """Wake one particular waiter (it must be parked here)."""
        q = self._q
        del q[thread]
        dead = self._dead = self._dead + 1
        if dead > COMPACT_AFTER and dead > len(q):
            self._compact()
        thread._hub.wake(thread, value)

    def first(self):
        """The oldest waiter without removing it, or None."""
        q = self._q
        return next(iter(q)) if q else None

    def threads(self) -> list:
        """The waiters, oldest first (a copy: for debugging and tests)."""
        return list(self._q)
