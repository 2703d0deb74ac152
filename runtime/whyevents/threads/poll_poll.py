"""The poll() poller, rebuilt on every wait, as in the paper's poll()-based Knot and Haboob.

Before 2.6 kernels, a server that wanted readiness for many sockets called ``poll()`` with the
whole interest set every time: the kernel copied in and checked every descriptor, and the server
walked every result. That cost is O(descriptors waited on) *per poll*, and it is what made Knot-A
collapse at high client counts in the paper's Figure 3 until Capriccio moved to epoll. This poller
reproduces it faithfully: a new ``select.poll`` object is filled from every waiting descriptor on
each call (so the registration work is ours as well as the kernel's), and it is level-triggered,
so a descriptor with several waiting readers is reported again on the next poll and needs no baton
passing.

Same interface and behaviour as ``poll_epoll.EpollPoller`` (see ``pollers``); only the scaling
differs.
"""

from __future__ import annotations

import math
import select

from .pollers import FdQueue, Poller

__all__ = ["PollPoller"]

_POLLIN = select.POLLIN | select.POLLPRI
_POLLOUT = select.POLLOUT
_READY_IN = select.POLLIN | select.POLLPRI | select.POLLHUP | select.POLLERR | select.POLLNVAL
_READY_OUT = select.POLLOUT | select.POLLHUP | select.POLLERR | select.POLLNVAL


class _Fd:
    __slots__ = ("fd", "readers", "writers")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.readers: FdQueue | None = None
        self.writers: FdQueue | None = None


class PollPoller(Poller):
    """Level-triggered poll(), interest set rebuilt per call: O(waiting descriptors) per poll."""

    name = "poll"

    def _wait(self, fd: int, timeout: float | None, attr: str, kind: str) -> bool:
        st = self._fds.get(fd)
        if st is None:
            st = self._fds[fd] = _Fd(fd)
        q = getattr(st, attr)
        if q is None:
            q = FdQueue(self, fd, kind)
            setattr(st, attr, q)
        return q.park_fd(timeout)

    def wait_read(self, fd: int, timeout: float | None = None) -> bool:
        return self._wait(fd, timeout, "readers", "read")

    def wait_write(self, fd: int, timeout: float | None = None) -> bool:
        return self._wait(fd, timeout, "writers", "write")

    def after_read(self, fd: int) -> None:
        """Level-triggered: the next poll reports the descriptor again; nothing to do."""

    def forget(self, fd: int) -> None:
        st = self._fds.pop(fd, None)
        if st is None:
            return
        self._fail((st.readers, st.writers))

    def add_callback_fd(self, fd: int, fn) -> None:
        self._callbacks[fd] = fn

    def poll(self, timeout: float) -> int:
        p = select.poll()
        register = p.register
        fds = self._fds
        idle = []
        for fd, st in fds.items():
            mask = 0
            q = st.readers
            if q is not None and q._q:
                mask = _POLLIN
            q = st.writers
            if q is not None and q._q:
                mask |= _POLLOUT
            if mask:
                register(fd, mask)
                self.registrations += 1
            else:
                idle.append(fd)
        for fd in idle:          # keep the interest set to what is waited on
            del fds[fd]
        for fd in self._callbacks:
            register(fd, select.POLLIN)
        ms = -1 if timeout < 0 else math.ceil(timeout * 1000)
        events = p.poll(ms)
        for fd, ev in events:
            st = fds.get(fd)
            if st is None:
                cb = self._callbacks.get(fd)
                if cb is not None:
                    cb()
                continue
            if ev & _READY_IN:
                q = st.readers
                if q is not None and q._q:
                    q.wake_one()
            if ev & _READY_OUT:
                q = st.writers
                if q is not None and q._q:
                    q.wake_one()
        return len(events)
