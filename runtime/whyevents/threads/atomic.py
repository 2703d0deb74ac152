"""Atomic sections: code during which the running green thread must not switch away.

The paper (section 4) asks for atomic sections whose calls "cannot yield or block (even
indirectly)", checked by the compiler as nesC does. ``whyevents.analysis`` proves it statically
(``whyevents check``); this module checks it at run time:

    from whyevents import threads

    with threads.atomic():          # or decorate a function with @threads.atomic
        v = counter.value
        counter.value = v + 1       # nothing in here may park or yield

A call inside the section that would switch to another green thread (a lock wait, a socket
read that would block, ``sleep(0)``, ``time.sleep`` after patching, ...) raises
``AtomicViolation`` at that call, naming it and where the section began, *before* the thread
leaves whatever it was about to wait on: the thread keeps running, holding nothing it did not
hold before, and the exception unwinds the section like any other.

How, and what it costs when unused. Every switch away from a thread goes through the hub's
interface, ``park`` or ``yield_`` (``hub.py``; the pth scheduler's descriptor waits go through
``_park``). Entering the outermost section of a hub swaps the hub's class for a subclass whose
``park``/``_park``/``yield_`` raise; leaving it swaps the class back. So nothing at all runs on
the park/wake/switch path of a hub outside a section (``benchmarks`` measure it), and inside one
only the refused call pays. Sections nest; the outermost one's start is reported. In an OS thread
without a hub (kernel threads) there is no green thread to switch to: a section is a no-op there.
"""

from __future__ import annotations

import functools
import os
import sys

from . import hub as _hubmod
from .errors import HubError

__all__ = ["atomic", "AtomicViolation", "in_atomic"]

_RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_tls = _hubmod._tls
_SWITCHES = ("park", "_park", "yield_")
_subclasses: dict[type, type] = {}
_active: dict = {}           # hub -> the outermost open _Section on it


class AtomicViolation(HubError):
    """A call inside an atomic section would have switched to another green thread."""

    def __init__(self, call: str, where: str, section: str, thread: str) -> None:
        super().__init__(f"{call}() at {where} would switch away from {thread} inside the "
                         f"atomic section entered at {section}: nothing in an atomic section "
                         f"may block or yield, even indirectly")
        self.call = call
        self.where = where
        self.section = section
        self.thread = thread


def _blocking_call(frame) -> tuple[str, str]:
    """(outermost runtime function, "file:line" of the code that called it)."""
    call = "park"
    while frame is not None and frame.f_code.co_filename.startswith(_RUNTIME_DIR):
        call = frame.f_code.co_name
        frame = frame.f_back
    if frame is None:
        return call, "?"
    return call, f"{frame.f_code.co_filename}:{frame.f_lineno}"


def _refuse(hub, waitobj=None) -> None:
    """Undo what the caller did before parking (it queued the thread on ``waitobj``) and
    raise. Runs instead of ``park``/``_park``/``yield_`` while a section is open."""
    t = hub.current
    if waitobj is not None:
        discard = getattr(waitobj, "discard", None)
        if discard is not None:
            discard(t)
    call, where = _blocking_call(sys._getframe(2))
    section = _active[hub]
    raise AtomicViolation(call, where, section.where, t.name)


def _atomic_class(cls: type) -> type:
    sub = _subclasses.get(cls)
    if sub is None:
        def park(self, waitobj, timeout=None, *rest):
            _refuse(self, waitobj)

        def yield_(self):
            _refuse(self)

        ns = {"__slots__": (), "park": park, "yield_": yield_, "__module__": __name__}
        if hasattr(cls, "_park"):
            ns["_park"] = park
        sub = _subclasses[cls] = type(f"Atomic{cls.__name__}", (cls,), ns)
    return sub


class _Section:
    __slots__ = ("where", "hub", "outer")

    def __init__(self, where: str) -> None:
        self.where = where
        self.hub = None
        self.outer = False

    def __enter__(self) -> _Section:
        hub = getattr(_tls, "hub", None)
        if hub is None or hub.closed:
            return self
        self.hub = hub
        if hub not in _active:
            _active[hub] = self
            self.outer = True
            hub.__class__ = _atomic_class(hub.__class__)
        return self

    def __exit__(self, *exc) -> None:
        hub = self.hub
        if self.outer:
            self.outer = False
            del _active[hub]
            hub.__class__ = hub.__class__.__mro__[1]
        self.hub = None


def atomic(fn=None):
    """``with atomic():`` a section, or ``@atomic`` a function whose every call is one."""
    if fn is None:
        f = sys._getframe(1)
        return _Section(f"{f.f_code.co_filename}:{f.f_lineno}")
    if not callable(fn):
        raise TypeError(f"atomic() takes a function to decorate or nothing, not {fn!r}")
    code = getattr(fn, "__code__", None)
    where = (f"{code.co_filename}:{code.co_firstlineno}" if code is not None
             else getattr(fn, "__qualname__", repr(fn)))

    @functools.wraps(fn)
    def section(*args, **kwargs):
        with _Section(where):
            return fn(*args, **kwargs)

    return section


def in_atomic() -> bool:
    """Whether the running green thread is inside an atomic section."""
    hub = getattr(_tls, "hub", None)
    return hub is not None and hub in _active
