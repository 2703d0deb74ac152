"""Synchronization primitives with the signatures and semantics of ``threading``.

Every primitive is a few fields plus one or two ``WaitQueue``s, so blocking, waking and removing a
waiter (timeout, kill) are O(1).

Hand-off, not barging. ``threading`` promises neither. Here ``Lock.release`` with waiters gives the
lock straight to the oldest waiter: the lock stays locked and the waiter returns from ``acquire``
owning it. So waiters are served strictly FIFO and a woken thread never finds the lock taken again
and re-parks (a wasted switch). The price is a convoy: a thread that releases and at once
re-acquires goes to the back of the queue instead of barging ahead. ``Semaphore`` hands off the
same way. The choice is a class attribute (``Lock.handoff``), so it can be an experiment variable;
tests check both.

Killed after being handed something: a thread that was given the lock (or a semaphore unit) and
is killed before it runs gives it back on its way out, so a kill never leaks a lock.

All methods run in the hub's OS thread; only the blocking ones switch.
"""

from __future__ import annotations

import warnings
from _thread import TIMEOUT_MAX
from itertools import count
from time import monotonic

from .hub import READY as _READY
from .hub_local import get_hub
from .hub_local import tls as _tls
from .waitq import WaitQueue

__all__ = [
    "Lock", "RLock", "Condition", "Semaphore", "BoundedSemaphore", "Event", "Barrier",
    "BrokenBarrierError",
]

try:
    from threading import BrokenBarrierError
except ImportError:  # pragma: no cover
    class BrokenBarrierError(RuntimeError):
        pass


def _timeout_arg(blocking: bool, timeout: float | None) -> float | None:
    """threading's argument rules for acquire(blocking, timeout); returns None for 'forever'."""
    if not blocking:
        if timeout is not None and timeout != -1:
            raise ValueError("can't specify a timeout for a non-blocking call")
        return 0.0
    if timeout is None or timeout == -1:
        return None
    if timeout < 0:
        raise ValueError("timeout value must be a non-negative number")
    if timeout > TIMEOUT_MAX:
        raise OverflowError("timeout value is too large")
    return timeout


def _repr_name(obj) -> str:
    """``threads.Lock`` for our classes (the regexes of CPython's lock tests want one dot, as in
    ``threading.Lock``), ``module.Class`` for subclasses defined elsewhere."""
    cls = type(obj)
    if cls.__module__ == __name__:
        return f"threads.{cls.__qualname__}"
    return f"{cls.__module__}.{cls.__qualname__}"


class Lock:
    """``threading.Lock``: any thread may release it. Hand-off to the oldest waiter."""

    __slots__ = ("_locked", "_waiters", "__weakref__")

    #: True: release gives the lock to the oldest waiter (FIFO). False: barging (release
    #: unlocks and wakes one waiter, which competes with any thread that arrives meanwhile).
    handoff = True

    def __init__(self) -> None:
        self._locked = False
        self._waiters: WaitQueue | None = None

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        # arguments are checked before the fast path, as threading does
        tmo = None if (timeout == -1 and blocking) else _timeout_arg(blocking, timeout)
        if not self._locked:
            self._locked = True
            return True
        if tmo == 0.0:
            return False
        if self._waiters is None:
            self._waiters = WaitQueue(self, "lock")
        if self.handoff:
            try:
                return self._waiters.park(tmo)
            except BaseException:
                if get_hub().current._woken:   # handed the lock, then killed: give it back
                    self.release()
                raise
        return self._acquire_barging(tmo)

    def _acquire_barging(self, tmo: float | None) -> bool:
        deadline = None if tmo is None else monotonic() + tmo
        while self._locked:
            remaining = None if deadline is None else deadline - monotonic()
            if remaining is not None and remaining <= 0:
                return False
            if not self._waiters.park(remaining):
                if not self._locked:
                    break
                return False
        self._locked = True
        return True

    def release(self) -> None:
        if not self._locked:
            raise RuntimeError("release unlocked lock")
        w = self._waiters
        if w is not None and w._q and self.handoff:
            w.wake_one()                  # the lock stays locked: it now belongs to the waiter
        else:
            self._locked = False
            if w is not None and w._q:
                w.wake_one()

    def locked(self) -> bool:
        return self._locked

    __enter__ = acquire

    def __exit__(self, *exc) -> None:
        self.release()

    def _at_fork_reinit(self) -> None:
        self._locked = False
        self._waiters = None

    def statistics(self) -> dict:
        return {"locked": self._locked, "waiting": len(self._waiters or ())}

    def __repr__(self) -> str:   # the shape of threading's: <locked _thread.lock object at ..>
        state = "locked" if self._locked else "unlocked"
        return (f"<{state} {_repr_name(self)} object waiting={len(self._waiters or ())} "
                f"at {id(self):#x}>")


class RLock:
    """``threading.RLock``: re-entrant, owned by the thread that acquired it."""

    __slots__ = ("_owner", "_count", "_waiters", "__weakref__")

    def __init__(self) -> None:
        self._owner = None
        self._count = 0
        self._waiters: WaitQueue | None = None

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        tmo = None if (timeout == -1 and blocking) else _timeout_arg(blocking, timeout)
        me = get_hub().current
        if self._owner is me:
            self._count += 1
            return True
        if self._owner is None:
            self._owner = me
            self._count = 1
            return True
        if tmo == 0.0:
            return False
        if self._waiters is None:
            self._waiters = WaitQueue(self, "rlock")
        try:
            ok = self._waiters.park(tmo)
        except BaseException:
            if me._woken and self._owner is me:
                self._release_all()
            raise
        return ok  # on hand-off the releaser made us the owner with count 1

    __enter__ = acquire

    def release(self) -> None:
        if self._owner is not get_hub().current:
            raise RuntimeError("cannot release un-acquired lock")
        self._count -= 1
        if self._count == 0:
            self._release_all()

    def _release_all(self) -> None:
        w = self._waiters
        if w is not None and w._q:
            t = w.first()
            self._owner = t
            self._count = 1
            w.wake_one()
        else:
            self._owner = None
            self._count = 0

    def __exit__(self, *exc) -> None:
        self.release()

    # the private protocol threading.Condition uses, so stdlib Conditions accept our RLock
    def _is_owned(self) -> bool:
        return self._owner is get_hub().current

    def _release_save(self):
        if self._owner is not get_hub().current:
            raise RuntimeError("cannot release un-acquired lock")
        state = (self._count, self._owner)
        self._count = 1
        self._release_all()
        return state

    def _acquire_restore(self, state) -> None:
        self.acquire()
        self._count, self._owner = state

    def _at_fork_reinit(self) -> None:
        self._owner = None
        self._count = 0
        self._waiters = None

    def locked(self) -> bool:
        return self._owner is not None

    def _recursion_count(self) -> int:
        """How many times the *current* thread holds the lock (0 if another one owns it)."""
        return self._count if self._owner is get_hub().current else 0

    def __repr__(self) -> str:
        owner = self._owner.name if self._owner is not None else None
        state = "locked" if self._owner is not None else "unlocked"
        return (f"<{state} {_repr_name(self)} object owner={owner!r} count={self._count} "
                f"waiting={len(self._waiters or ())} at {id(self):#x}>")


class Condition:
    """``threading.Condition`` over any lock with acquire/release (default: our ``RLock``)."""

    def __init__(self, lock=None) -> None:
        if lock is None:
            lock = RLock()
        self._lock = lock
        self.acquire = lock.acquire
        self.release = lock.release
        self._waiters = WaitQueue(self, "cond")
        if hasattr(lock, "_release_save"):
            self._release_save = lock._release_save
            self._acquire_restore = lock._acquire_restore
        if hasattr(lock, "_is_owned"):
            self._is_owned = lock._is_owned

    def __enter__(self):
        return self._lock.__enter__()

    def __exit__(self, *exc):
        return self._lock.__exit__(*exc)

    def __repr__(self) -> str:
        return f"<Condition({self._lock!r}, {len(self._waiters)})>"

    def _release_save(self):
        self._lock.release()

    def _acquire_restore(self, state) -> None:
        self._lock.acquire()

    def _is_owned(self) -> bool:
        if self._lock.acquire(False):
            self._lock.release()
            return False
        return True

    def wait(self, timeout: float | None = None) -> bool:
        if not self._is_owned():
            raise RuntimeError("cannot wait on un-acquired lock")
        state = self._release_save()
        try:
            if timeout is not None and timeout <= 0:
                return False
            return self._waiters.park(timeout)
        finally:
            self._acquire_restore(state)

    def wait_for(self, predicate, timeout: float | None = None):
        result = predicate()
        if result:
            return result
        deadline = None if timeout is None else monotonic() + timeout
        waittime = timeout
        while not result:
            if deadline is not None:
                waittime = deadline - monotonic()
                if waittime <= 0:
                    break
            self.wait(waittime)
            result = predicate()
        return result

    def notify(self, n: int = 1) -> None:
        if not self._is_owned():
            raise RuntimeError("cannot notify on un-acquired lock")
        w = self._waiters
        while n > 0 and w._q:
            w.wake_one()
            n -= 1

    def notify_all(self) -> None:
        if not self._is_owned():
            raise RuntimeError("cannot notify on un-acquired lock")
        self._waiters.wake_all()

    def notifyAll(self) -> None:  # noqa: N802 - threading's legacy spelling, deprecated there
        warnings.warn("notifyAll() is deprecated, use notify_all() instead",
                      DeprecationWarning, stacklevel=2)
        self.notify_all()


class Semaphore:
    """``threading.Semaphore``. Hand-off: ``release`` gives a unit straight to the oldest waiter."""

    __slots__ = ("_value", "_waiters", "__weakref__")

    def __init__(self, value: int = 1) -> None:
        if value < 0:
            raise ValueError("semaphore initial value must be >= 0")
        self._value = value
        self._waiters: WaitQueue | None = None

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        if not blocking and timeout is not None:
            raise ValueError("can't specify timeout for non-blocking acquire")
        if self._value > 0:
            self._value -= 1
            return True
        if not blocking:
            return False
        if timeout is not None and timeout <= 0:
            return False
        if self._waiters is None:
            self._waiters = WaitQueue(self, "semaphore")
        try:
            return self._waiters.park(timeout)
        except BaseException:
            if get_hub().current._woken:
                self.release()
            raise

    __enter__ = acquire

    def release(self, n: int = 1) -> None:
        if n < 1:
            raise ValueError("n must be one or more")
        w = self._waiters
        while n and w is not None and w._q:
            w.wake_one()
            n -= 1
        self._value += n

    def __exit__(self, *exc) -> None:
        self.release()

    def __repr__(self) -> str:   # the shape of threading's: <threading.Semaphore at ..: value=3>
        return (f"<{_repr_name(self)} at {id(self):#x} waiting={len(self._waiters or ())}: "
                f"value={self._value}>")


class BoundedSemaphore(Semaphore):
    """``threading.BoundedSemaphore``: releasing above the initial value is an error."""

    __slots__ = ("_initial_value",)

    def __init__(self, value: int = 1) -> None:
        super().__init__(value)
        self._initial_value = value

    def release(self, n: int = 1) -> None:
        if n < 1:
            raise ValueError("n must be one or more")
        waiting = len(self._waiters or ())
        if self._value + max(0, n - waiting) > self._initial_value:
            raise ValueError("Semaphore released too many times")
        super().release(n)

    def __repr__(self) -> str:   # <threading.BoundedSemaphore at ..: value=2/3>
        return (f"<{_repr_name(self)} at {id(self):#x} waiting={len(self._waiters or ())}: "
                f"value={self._value}/{self._initial_value}>")


class Event:
    """``threading.Event``.

    One waiter is the common case (a thread parked on its own channel, as in the task
    pipeline), so the first waiter sits in a slot (``_waiter``) and parks with the event itself
    as its wait object; a ``WaitQueue`` is made only when a second thread waits while the slot
    is taken. The slot is always the oldest waiter (it is taken only when nobody else waits), so
    ``set`` wakes in FIFO order as before.
    """

    __slots__ = ("_flag", "_waiter", "_waiters", "__weakref__")

    #: For ``stats()``/``dump()`` when a thread waits in the slot (the event is its wait object).
    kind = "event"

    def __init__(self) -> None:
        self._flag = False
        self._waiter = None                 # the oldest waiting thread, or None
        self._waiters: WaitQueue | None = None   # any later waiters

    @property
    def owner(self) -> Event:
        return self

    def is_set(self) -> bool:
        return self._flag

    def isSet(self) -> bool:  # noqa: N802 - deprecated in threading, as here
        warnings.warn("isSet() is deprecated, use is_set() instead",
                      DeprecationWarning, stacklevel=2)
        return self._flag

    def set(self) -> None:
        self._flag = True
        t = self._waiter
        if t is not None:
            self._waiter = None
            hub = t._hub
            if hub.wake_appends:            # hub.wake(t), inlined (see FifoHub.wake_appends)
                t._woken = True
                t._waiting = None
                t._state = _READY
                hub.ready.append(t)
            else:
                hub.wake(t)
        w = self._waiters
        if w is not None and w._q:
            w.wake_all()

    def clear(self) -> None:
        self._flag = False

    def wait(self, timeout: float | None = None) -> bool:
        if self._flag:
            return True
        if timeout is not None and timeout <= 0:
            return False
        # True if set() woke us, even if clear() came before we ran (as threading.Event)
        w = self._waiters
        if self._waiter is None and (w is None or not w._q):
            hub = getattr(_tls, "hub", None) or get_hub()
            self._waiter = hub.current
            return hub.park(self, timeout)
        if w is None:
            w = self._waiters = WaitQueue(self, "event")
        return w.park(timeout)

    def discard(self, thread) -> None:
        """The hub's half of the wait-object contract: forget the slot's waiter (timeout, kill)."""
        if self._waiter is thread:
            self._waiter = None

    def _at_fork_reinit(self) -> None:
        self._flag = False
        self._waiter = None
        self._waiters = None

    def __repr__(self) -> str:
        state = "set" if self._flag else "unset"
        waiting = (self._waiter is not None) + len(self._waiters or ())
        return f"<{_repr_name(self)} at {id(self):#x} waiting={waiting}: {state}>"


class _Generation:
    __slots__ = ("broken", "done")

    def __init__(self) -> None:
        self.broken = False
        self.done = False


class Barrier:
    """``threading.Barrier``: ``parties`` threads meet, one runs ``action``, all go on.

    Each trip is a generation object the waiters hold on to; tripping marks it done, breaking
    (timeout, ``abort``, ``reset`` with waiters, an ``action`` that raised) marks it broken, so a
    waiter knows which of the two woke it even after a new generation has started.
    """

    _ids = count()

    def __init__(self, parties: int, action=None, timeout: float | None = None) -> None:
        if parties < 1:
            raise ValueError("parties must be >= 1")
        self._parties = parties
        self._action = action
        self._timeout = timeout
        self._count = 0
        self._gen = _Generation()
        self._broken = False
        self._waiters = WaitQueue(self, "barrier")

    def wait(self, timeout: float | None = None) -> int:
        if timeout is None:
            timeout = self._timeout
        if self._broken:
            raise BrokenBarrierError
        gen = self._gen
        index = self._count
        self._count += 1
        if self._count == self._parties:
            if self._action is not None:
                try:
                    self._action()
                except BaseException:
                    self._break()
                    raise
            gen.done = True
            self._count = 0
            self._gen = _Generation()
            self._waiters.wake_all()
            return index
        try:
            woken = self._waiters.park(timeout) if (timeout is None or timeout > 0) else False
        except BaseException:
            if not gen.done:
                self._break()
            raise
        if gen.done:
            return index
        if not gen.broken and not woken:      # our timeout: we break it for everyone
            self._break()
        raise BrokenBarrierError

    def _break(self) -> None:
        self._broken = True
        self._gen.broken = True
        self._count = 0
        self._waiters.wake_all()

    def reset(self) -> None:
        """Back to the empty state; threads waiting now get ``BrokenBarrierError``."""
        if self._count:
            self._gen.broken = True
            self._waiters.wake_all()
        self._gen = _Generation()
        self._count = 0
        self._broken = False

    def abort(self) -> None:
        """Break the barrier: current and future waiters get ``BrokenBarrierError``."""
        self._break()

    @property
    def parties(self) -> int:
        return self._parties

    @property
    def n_waiting(self) -> int:
        return self._count

    @property
    def broken(self) -> bool:
        return self._broken

    def __repr__(self) -> str:
        if self._broken:
            return f"<{_repr_name(self)} at {id(self):#x}: broken>"
        return f"<{_repr_name(self)} at {id(self):#x}: waiters={self._count}/{self._parties}>"
