"""The epoll poller: each descriptor registered once, edge-triggered, with per-descriptor flags.

Some facts about epoll this relies on (see epoll(7); trio's ``_io_epoll.py`` has a longer essay):

* An epoll set holds *open file descriptions*, not descriptor numbers. ``close(fd)`` removes the
  registration only if no ``dup`` of it is open. So we unregister explicitly in ``forget`` before
  the socket layer closes a descriptor, and a new descriptor with a recycled number never inherits
  an old registration (``EEXIST`` on ADD is answered with MOD, in case someone closed behind our
  back).
* Edge-triggered (``EPOLLET``) reports a change of readiness, not the state: after an event, no
  further event comes until the descriptor has been drained to ``EAGAIN`` and becomes ready again.
  That matches the cooperative socket protocol exactly: *try the syscall first; only on EAGAIN
  park*. Parking happens only after an EAGAIN, or after a short stream read, which drains the
  buffer as surely (Linux queues an IN edge for every arrival after it), so the next edge is
  the one we need. Each edge also sets the descriptor's ``readable`` flag, which the socket
  layer clears after a short read (``readiness``): a read after a new edge is tried at once.
  This lets us register ``EPOLLIN | EPOLLOUT`` once and never touch the registration again
  (no ``epoll_ctl`` per wait, unlike level-triggered or one-shot designs).
* One edge wakes one reader. When several threads wait to read one descriptor (Knot-C's threads
  all blocked in ``accept`` on one listening socket), the woken thread calls ``after_read`` when
  its read succeeds, which passes the baton to the next waiter if the descriptor may still be
  readable; the thread that finally sees ``EAGAIN`` clears the flag. So k queued connections wake
  k+1 threads, not all N (no thundering herd) and none is left asleep with work queued.
* ``EPOLLHUP``/``EPOLLERR``/``EPOLLRDHUP`` wake both directions: the next syscall reports what
  happened.
"""

from __future__ import annotations

import select

from .hub import READY
from .pollers import FdQueue, Poller

__all__ = ["EpollPoller"]

_IN = select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLHUP | select.EPOLLERR
_OUT = select.EPOLLOUT | select.EPOLLHUP | select.EPOLLERR
_HUP = select.EPOLLRDHUP | select.EPOLLHUP | select.EPOLLERR
_MASK = select.EPOLLIN | select.EPOLLOUT | select.EPOLLRDHUP | select.EPOLLET


class _Fd:
    """What we know of one registered descriptor. Its readers' queue is made with it (every
    descriptor registered here is one a thread waits to read: ``readiness`` or ``wait_read``);
    its writers' queue only when a thread first waits to write (a server's send rarely waits)."""

    __slots__ = ("fd", "readers", "writers", "readable", "writable", "hup")

    def __init__(self, fd: int, poller) -> None:
        self.fd = fd
        self.readers = FdQueue(poller, fd, "read")
        self.writers: FdQueue | None = None
        self.readable = True    # unknown counts as ready: the syscall is always tried first
        self.writable = True
        self.hup = False        # an edge said RDHUP/HUP/ERR: EOF or an error stays to be read


class EpollPoller(Poller):
    """Edge-triggered epoll; O(1) per wait, O(ready) per poll."""

    name = "epoll"

    def __init__(self, hub, maxevents: int = 4096) -> None:
        super().__init__(hub)
        self._ep = select.epoll()
        self._maxevents = maxevents
        # poll()'s inline wake appends to the run queue itself on a hub whose wake only appends
        self._append = hub.ready.append if hub.wake_appends else None

    def _state(self, fd: int) -> _Fd:
        st = self._fds.get(fd)
        if st is None:
            try:
                self._ep.register(fd, _MASK)
            except FileExistsError:
                self._ep.modify(fd, _MASK)
            self.registrations += 1
            st = self._fds[fd] = _Fd(fd, self)
        return st

    def readiness(self, fd: int) -> _Fd:
        """The descriptor's own state: ``readable`` is set by each IN edge (see ``pollers``).

        ``hup``: an edge reported EOF or an error. A FIN that arrives with the last data is
        reported in the same edge as the data, and a short read of that data leaves the EOF to
        be read with no edge to come, so once ``hup`` is set the socket layer no longer treats
        a short read as draining."""
        return self._state(fd)

    def wait_read(self, fd: int, timeout: float | None = None) -> bool:
        st = self._fds.get(fd) or self._state(fd)
        st.readable = False
        hub = self.hub
        st.readers._q[hub.current] = None
        self.waiting += 1
        return hub.park(st.readers, timeout)

    def wait_write(self, fd: int, timeout: float | None = None) -> bool:
        st = self._fds.get(fd) or self._state(fd)
        st.writable = False
        q = st.writers
        if q is None:
            q = st.writers = FdQueue(self, fd, "write")
        return q.park_fd(timeout)

    def after_read(self, fd: int) -> None:
        st = self._fds.get(fd)
        if st is not None and st.readable:
            if st.readers._q:
                st.readers.wake_one()

    def forget(self, fd: int) -> None:
        st = self._fds.pop(fd, None)
        if st is None:
            return
        self._fail((st.readers, st.writers))
        try:
            self._ep.unregister(fd)
        except (OSError, ValueError):
            pass  # already closed: the kernel dropped it

    def add_callback_fd(self, fd: int, fn) -> None:
        self._ep.register(fd, select.EPOLLIN)
        self._callbacks[fd] = fn

    def poll(self, timeout: float) -> int:
        """Wait for events and wake one reader per IN edge, one writer per OUT edge.

        A server's every request passes here, so the wake of a reader is inlined: the queue's
        ``wake_one`` and the hub's ``wake``, which on a hub whose ``wake_appends`` is true is
        exactly what the loop below does (mark it READY and append it to the run queue)."""
        events = self._ep.poll(timeout, self._maxevents)
        fds = self._fds
        append = self._append
        for fd, ev in events:
            st = fds.get(fd)
            if st is None:
                cb = self._callbacks.get(fd)
                if cb is not None:
                    cb()
                continue
            if ev & _IN:
                st.readable = True
                if ev & _HUP:
                    st.hup = True       # a short read does not consume this: see readiness
                q = st.readers._q
                if q:
                    if append is None:
                        st.readers.wake_one()
                    else:               # FdQueue.wake_one and FifoHub.wake, inlined
                        t = q.popitem(False)[0]     # last=False, passed positionally: cheaper
                        self.waiting -= 1
                        t._woken = True
                        t._value = None
                        t._waiting = None
                        t._state = READY
                        append(t)
            if ev & _OUT:
                st.writable = True
                q = st.writers
                if q is not None and q._q:
                    q.wake_one()
        return len(events)

    def close(self) -> None:
        super().close()
        self._ep.close()
