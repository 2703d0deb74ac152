"""The interface every poller gives the hub and the socket layer.

Two pollers, one interface, different scaling:

* ``poll_epoll.EpollPoller`` registers each descriptor once (edge-triggered), so a wait costs
  nothing in the number of other descriptors: O(ready) per poll.
* ``poll_poll.PollPoller`` rebuilds a ``poll()`` set from every waiting descriptor on every poll,
  as the paper's poll()-based Knot and Haboob did: O(waiting) per poll.

The hub picks one by name from ``registry.POLLERS`` (which imports its module on first use), so
this module, which both subclass, never imports them.

Interface (all called in the hub's OS thread):

``wait_read(fd, timeout) -> bool`` / ``wait_write(fd, timeout) -> bool``
    Park the current thread until ``fd`` is readable/writable (True) or ``timeout`` passes
    (False). Several threads may wait to read one descriptor (Knot-C's accepting threads);
    one event wakes one of them. Raises ``OSError(EBADF)`` if the descriptor is ``forget``-ed
    (closed) while it waits.
``after_read(fd)``
    Tell the poller a read succeeded; if more threads wait to read ``fd`` and it may still be
    readable, wake the next one (edge-triggered pollers get no second event for what is queued).
``forget(fd)``
    ``fd`` is about to be closed: wake its waiters with EBADF and drop all state about it. Must be
    called before ``os.close``, or a new descriptor with the same number would inherit stale state.
``add_callback_fd(fd, fn)``
    Call ``fn()`` in the hub whenever ``fd`` is readable (the hub's cross-thread wake descriptor).
``readiness(fd)``
    A record with a ``readable`` flag for ``fd`` that the socket layer clears after a short
    read (the buffer is drained); the next read then waits first. Edge-triggered epoll sets it
    again on the next IN edge (its own per-descriptor state, which also holds the readers'
    queue, ``readers``: ``socket.recv`` parks on it directly, ``wait_read`` inlined); the
    level-triggered pollers give a record only the socket writes (their poll checks the real
    state anyway), whose ``readers`` is None.
``poll(timeout)``
    Wait up to ``timeout`` seconds (-1: forever, 0: just look) and wake the threads whose
    descriptors are ready.
``waiting``
    How many threads are parked on descriptors (an int attribute, kept current in O(1)).
"""

from __future__ import annotations

import errno
from collections import OrderedDict

from .waitq import WaitQueue

__all__ = ["FdQueue", "Poller", "Readiness"]


class Readiness:
    """``readiness(fd)`` of a level-triggered poller: a flag only the socket layer writes."""

    __slots__ = ("readable", "hup")

    #: no readers' queue here (epoll's record has one: ``socket.recv`` parks on it directly)
    readers = None

    def __init__(self) -> None:
        self.readable = True
        self.hup = False


class Poller:
    """What the pollers share: their counters, ``stats``, failing waiters, closing."""

    name = "?"

    def __init__(self, hub) -> None:
        self.hub = hub
        self._fds: dict = {}
        self._callbacks: dict = {}
        #: Threads parked on descriptors (kept current by ``FdQueue``).
        self.waiting = 0
        #: Descriptors registered with the kernel (epoll: once each; poll: on every poll).
        self.registrations = 0

    def readiness(self, fd: int) -> Readiness:
        return Readiness()

    def _fail(self, queues) -> None:
        """``fd`` is being forgotten: its waiters (``FdQueue`` or None each) get EBADF."""
        for q in queues:
            if q is not None and q._q:
                q.fail_all(self.hub)

    def stats(self) -> dict:
        return {"poller": self.name, "fds": len(self._fds), "fd_waiters": self.waiting,
                "registrations": self.registrations}

    def close(self) -> None:
        for fd in list(self._fds):
            self.forget(fd)


class FdQueue(WaitQueue):
    """Threads waiting for one descriptor in one direction; keeps the poller's count right.

    Its ``_q`` is an ``OrderedDict``: the pollers' loops pop the oldest with ``popitem(False)``
    in C, and a descriptor's queue rarely holds more than one thread (``waitq`` explains why
    other queues use a plain dict)."""

    __slots__ = ("poller",)
    container = OrderedDict

    def __init__(self, poller, fd: int, kind: str) -> None:
        super().__init__(fd, kind)
        self.poller = poller

    def discard(self, thread) -> None:
        if self._q.pop(thread, 0) is None:
            self.poller.waiting -= 1

    def park_fd(self, timeout: float | None) -> bool:
        """Park the current thread here until the descriptor is ready (True) or timeout."""
        poller = self.poller
        hub = poller.hub
        self._q[hub.current] = None
        poller.waiting += 1
        return hub.park(self, timeout)

    def wake_one(self, value: object = None):
        q = self._q
        if not q:
            return None
        t = q.popitem(last=False)[0]
        self.poller.waiting -= 1
        t._hub.wake(t, value)
        return t

    def fail_all(self, hub) -> None:
        """The descriptor is being closed: every waiter gets EBADF."""
        for t in list(self._q):
            hub._throw_into(t, OSError(errno.EBADF, f"descriptor {self.owner} closed while a "
                                                    f"thread waited to {self.kind} it"))

    def __repr__(self) -> str:
        return f"fd {self.owner} ({self.kind})"
