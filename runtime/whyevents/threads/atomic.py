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
``_park``). Opening the first section on a hub of some class installs guards for those methods
on that class (a guard refuses on a hub with an open section and calls the original on any
other: hubs of other OS threads keep working); closing the last section puts the originals
back. So outside sections the hub's own methods run and nothing was added to the
park/wake/switch path (the hub object itself is never touched: swapping its ``__class__`` or
adding instance attributes would turn its inline attribute values into a dict and slow every
attribute access on the hot path: ``whyevents bench runtime`` shows the switch rate). Sections
nest; the outermost one's start is reported. In an OS thread without a hub (kernel threads)
there is no green thread to switch to: a section is a no-op there. Don't open a section while
``blocking_graph.record_green`` (``points="parks"``) is starting or stopping: both replace
``park`` on the class.
"""

from __future__ import annotations

import functools
import os
import sys

from .errors import HubError
from .hub_local import tls as _tls

__all__ = ["atomic", "AtomicViolation", "in_atomic"]

_RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_SWITCHES = ("park", "_park", "yield_")
_installed: dict[type, int] = {}   # hub class -> open sections on hubs of that class
_saved: dict[type, dict] = {}       # hub class -> {method name: what its __dict__ held}
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


def _install(cls: type) -> None:
    """Guard ``cls``'s switching methods while any hub of that class has a section open."""
    n = _installed.get(cls, 0)
    _installed[cls] = n + 1
    if n:
        return
    saved = _saved[cls] = {}
    for name in _SWITCHES:
        method = getattr(cls, name, None)
        if method is None:
            continue
        saved[name] = cls.__dict__.get(name)          # None: inherited (delete to restore)
        setattr(cls, name, _guard(name, method))


def _uninstall(cls: type) -> None:
    n = _installed[cls] - 1
    if n:
        _installed[cls] = n
        return
    del _installed[cls]
    for name, old in _saved.pop(cls).items():
        if old is None:
            delattr(cls, name)
        else:
            setattr(cls, name, old)


def _guard(name: str, method):
    """``method`` for hubs without an open section; the refusal for the one with it."""
    if name == "yield_":
        def yield_(self):
            if self in _active:
                _refuse(self)
            return method(self)
        return yield_

    def park(self, waitobj, timeout=None, *rest):
        if self in _active:
            _refuse(self, waitobj)
        return method(self, waitobj, timeout, *rest)

    park.__name__ = name
    return park


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
            _install(type(hub))
        return self

    def __exit__(self, *exc) -> None:
        hub = self.hub
        if self.outer:
            self.outer = False
            del _active[hub]
            _uninstall(type(hub))
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
