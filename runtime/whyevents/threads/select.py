"""Cooperative ``select.select``, ``select.poll`` and ``selectors``: block the green thread only.

``monkey.patch_select()`` and ``patch_selectors()`` install these; they can also be used directly.

How a wait on many descriptors parks one green thread. The hub's pollers park a thread on *one*
descriptor. An epoll descriptor is itself pollable: it is readable exactly when one of the
descriptors registered in it is ready. So every call works in three steps:

1. Ask the kernel with a zero timeout (the original ``select``/``poll``); if anything is ready, or
   the timeout is zero, return that. Most calls in a busy server end here, at the cost of one
   system call, as with the socket layer's "try the syscall first".
2. Otherwise fill a private, level-triggered epoll set with the descriptors and interests of the
   call and park on *its* descriptor through the hub's poller (``wait_read``), with the call's
   timeout. Other green threads run meanwhile.
3. When it wakes (or the timeout passes) ask the kernel again with a zero timeout and return that,
   so results and error reporting are exactly the original call's.

The private epoll descriptor is registered with the hub for one wait only and ``forget``-ed before
it is closed, so the hub never holds stale state about a closed descriptor number (see
``poll_epoll``'s header). Cost of a call that blocks: one ``epoll_create`` plus one
``epoll_ctl`` per descriptor plus two on the hub's set; a selector (``EpollSelector``) keeps its
own epoll set between calls and pays only the two.

Where parking is impossible these calls block like the originals: in an OS thread that has no hub
(the kernel-thread pool, a ``Watchdog``) other than the main thread, and inside the hub greenlet
itself (the ``poll`` and ``pth`` pollers call ``select.poll()`` there; they get the original
object). ``select.epoll`` is *not* replaced (the hub's own poller is one; see ``monkey``): code
that waits on an ``epoll`` object with a timeout blocks the hub. ``selectors.EpollSelector``,
``DefaultSelector`` here, is cooperative.
"""

from __future__ import annotations

import errno
import math
import select as _select
import selectors as _selectors
import threading as _threading
from time import monotonic

from greenlet import getcurrent

from . import hub_local as _hub_local

__all__ = ["select", "poll", "SelectSelector", "PollSelector", "EpollSelector",
           "DefaultSelector", "parking_hub"]

# -- originals, captured before monkey-patching can replace them -------------------------------
_orig_select = _select.select
_orig_poll = _select.poll
_orig_epoll = _select.epoll
_get_ident = _hub_local.get_ident
_tls = _hub_local.tls
_MAIN_IDENT = _threading.main_thread().ident

_EPOLLIN = _select.EPOLLIN
_EPOLLOUT = _select.EPOLLOUT
_EPOLLPRI = _select.EPOLLPRI
# every poll() event bit epoll understands (the values are the same on Linux)
_POLL_TO_EPOLL = (_select.POLLIN | _select.POLLPRI | _select.POLLOUT | _select.POLLRDNORM
                  | _select.POLLRDBAND | _select.POLLWRNORM | _select.POLLWRBAND
                  | _select.POLLMSG | getattr(_select, "POLLRDHUP", 0))


def parking_hub():
    """The hub the running code may park on, or None where it must block like the original call.

    None inside the hub greenlet and in OS threads without a hub, except the main thread, where a
    hub is created (and the main thread adopted) on first use.
    """
    hub = getattr(_tls, "hub", None)
    if hub is None:
        if _get_ident() != _MAIN_IDENT:
            return None
        hub = _hub_local.get_hub()
    if getcurrent() is hub.greenlet:
        return None
    return hub


def _fileno(obj) -> int:
    if isinstance(obj, int):
        fd = obj
    else:
        fd = obj.fileno()
        if not isinstance(fd, int):
            raise TypeError("fileno() returned a non-integer")
    if fd < 0:
        raise ValueError(f"file descriptor cannot be a negative integer ({fd})")
    return fd


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else monotonic() + timeout


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - monotonic())


def wait_readable_fd(hub, fd: int, timeout: float | None) -> bool:
    """Park the current green thread until ``fd`` is readable (True) or ``timeout`` (False).

    The registration with the hub's poller lasts for this wait only.
    """
    poller = hub.poller
    try:
        return poller.wait_read(fd, timeout)
    finally:
        poller.forget(fd)


class _EpollSet:
    """A private epoll set for one blocking call; a context manager that closes it."""

    __slots__ = ("ep", "masks")

    def __init__(self) -> None:
        self.ep = _orig_epoll()
        self.masks: dict[int, int] = {}

    def add(self, fd: int, mask: int) -> None:
        self.masks[fd] = self.masks.get(fd, 0) | mask

    def register_all(self, strict: bool) -> None:
        """Register the collected interests. A descriptor epoll refuses with EPERM (a regular
        file: always ready, so step 1 would have returned it) is skipped; other errors are
        raised when ``strict``, else the descriptor is skipped (step 3 will report it)."""
        ep = self.ep
        for fd, mask in self.masks.items():
            try:
                ep.register(fd, mask)
            except OSError as e:
                if strict and e.errno != errno.EPERM:
                    raise

    def __enter__(self) -> _EpollSet:
        return self

    def __exit__(self, *exc) -> None:
        self.ep.close()


# ---------------------------------------------------------------------------------------------
# select.select
# ---------------------------------------------------------------------------------------------

def select(rlist, wlist, xlist, timeout: float | None = None):
    """``select.select`` that parks only the calling green thread."""
    if timeout is not None:
        if timeout < 0:
            raise ValueError("timeout must be non-negative")
    rlist, wlist, xlist = list(rlist), list(wlist), list(xlist)
    ready = _orig_select(rlist, wlist, xlist, 0)
    if ready[0] or ready[1] or ready[2] or timeout == 0:
        return ready
    hub = parking_hub()
    if hub is None:
        return _orig_select(rlist, wlist, xlist, timeout)
    deadline = _deadline(timeout)
    with _EpollSet() as es:
        for obj in rlist:
            es.add(_fileno(obj), _EPOLLIN)
        for obj in wlist:
            es.add(_fileno(obj), _EPOLLOUT)
        xonly = set()
        for obj in xlist:
            fd = _fileno(obj)
            if fd not in es.masks:
                xonly.add(fd)
            es.add(fd, _EPOLLPRI)
        es.register_all(strict=True)
        while True:
            woken = wait_readable_fd(hub, es.ep.fileno(), _remaining(deadline))
            ready = _orig_select(rlist, wlist, xlist, 0)
            if ready[0] or ready[1] or ready[2] or not woken:
                return ready
            # Woken, yet select() sees nothing: epoll always reports EPOLLERR/EPOLLHUP, which
            # select() puts in no set for a descriptor only in xlist. Stop watching those, or
            # the level-triggered set would wake us forever.
            for fd, _ev in es.ep.poll(0):
                if fd in xonly:
                    es.ep.unregister(fd)
                    xonly.discard(fd)


# ---------------------------------------------------------------------------------------------
# select.poll
# ---------------------------------------------------------------------------------------------

class _GreenPoll:
    """A ``select.poll`` object whose ``poll`` parks only the calling green thread."""

    __slots__ = ("_p", "_masks")

    def __init__(self) -> None:
        self._p = _orig_poll()
        self._masks: dict[int, int] = {}

    def register(self, fd, eventmask: int = _select.POLLIN | _select.POLLPRI | _select.POLLOUT):
        n = _fileno(fd)
        self._p.register(n, eventmask)
        self._masks[n] = eventmask

    def modify(self, fd, eventmask: int) -> None:
        n = _fileno(fd)
        self._p.modify(n, eventmask)
        self._masks[n] = eventmask

    def unregister(self, fd) -> None:
        n = _fileno(fd)
        self._p.unregister(n)
        del self._masks[n]

    def poll(self, timeout=None):
        """Like ``poll.poll``: ``timeout`` in milliseconds, None or negative waits forever."""
        if timeout is not None:
            timeout = math.ceil(timeout)   # poll() rounds milliseconds up, and so do we
            if timeout < 0:
                timeout = None
        p = self._p
        ready = p.poll(0)
        if ready or timeout == 0:
            return ready
        hub = parking_hub()
        if hub is None:
            return p.poll(timeout)
        deadline = _deadline(None if timeout is None else timeout / 1000.0)
        with _EpollSet() as es:
            for fd, mask in self._masks.items():
                es.add(fd, mask & _POLL_TO_EPOLL)
            es.register_all(strict=False)
            while True:
                woken = wait_readable_fd(hub, es.ep.fileno(), _remaining(deadline))
                ready = p.poll(0)
                if ready or not woken:
                    return ready


def poll():
    """``select.poll()``: a cooperative poll object, or the original one where parking is
    impossible (the hub greenlet, whose ``poll``/``pth`` pollers call this on every poll)."""
    if parking_hub() is None:
        return _orig_poll()
    return _GreenPoll()


# ---------------------------------------------------------------------------------------------
# selectors
# ---------------------------------------------------------------------------------------------

class SelectSelector(_selectors.SelectSelector):
    """``selectors.SelectSelector`` over the cooperative ``select``."""

    _select = staticmethod(select)


class PollSelector(_selectors.PollSelector):
    """``selectors.PollSelector`` over the cooperative ``poll``."""

    _selector_cls = staticmethod(poll)


class EpollSelector(_selectors.EpollSelector):
    """``selectors.EpollSelector`` whose ``select`` parks only the calling green thread.

    The selector's own epoll set stays registered in the kernel between calls; a blocking call
    parks on that set's descriptor (registered with the hub for the wait only).
    """

    def select(self, timeout: float | None = None):
        ready = super().select(0)
        if ready or (timeout is not None and timeout <= 0):
            return ready
        hub = parking_hub()
        if hub is None:
            return super().select(timeout)
        deadline = _deadline(timeout)
        fd = self._selector.fileno()
        while True:
            woken = wait_readable_fd(hub, fd, _remaining(deadline))
            ready = super().select(0)
            if ready or not woken:
                return ready


DefaultSelector = EpollSelector
