"""``local``: ``threading.local`` for green threads; each green thread sees its own attributes.

Why not ``threading.local``. The C ``_thread._local`` keys its storage by *OS* thread, so every
green thread of a hub would share one set of attributes. Keying by greenlet would be wrong too:
the hub reuses finished worker greenlets for new threads, so a new thread would inherit the
attributes of the last one that ran in its greenlet. So storage is keyed by the green ``Thread``.

Where the attributes live, and when they die:

* A green thread's attributes live in ``impl.dicts[thread]`` (``impl`` is the local's private
  ``_Impl``). The thread keeps a weak reference to every ``impl`` it touched (in its exit hooks),
  and when it ends the hub runs the hook, which pops its entry from each: attributes are freed when
  the thread ends, not when the ``Thread`` object is collected (a joined ``Thread`` may be kept
  for its ``.value`` long after). When the local itself dies, ``impl`` and all its per-thread
  dicts go with it.
* The hub's main thread (and any OS thread that has no hub: the kernel-thread pool, a
  ``Watchdog``) uses a per-*OS*-thread slot, an original ``_thread._local``. The main green thread
  *is* its OS thread: its attributes are the same before a hub exists, while hubs come and go
  (``run()`` makes a new hub each time) and after.

The semantics are ``threading.local``'s (CPython's ``_threading_local`` docstring): a subclass's
``__init__`` runs once per thread, with the constructor's arguments, the first time that thread
touches the object; ``__slots__`` declared by a subclass are shared by all threads; ``__dict__``
is the current thread's dict. Attribute access swaps the thread's dict into place right before
the C-level lookup, which cannot switch; a property that blocks re-swaps on its next access, so
no lock is needed (``_threading_local`` needs one because OS threads preempt anywhere).
"""

from __future__ import annotations

import _thread
from weakref import ref

from .hub import add_exit_hook
from .hub_local import tls as _tls

__all__ = ["local"]

_OsLocal = _thread._local          # captured before monkey-patching replaces _thread._local
_object_getattribute = object.__getattribute__
_object_setattr = object.__setattr__
_object_delattr = object.__delattr__


class _Impl:
    """The storage behind one ``local`` object."""

    __slots__ = ("dicts", "oslocal", "args", "kwargs", "owner", "__weakref__")

    def __init__(self, args: tuple, kwargs: dict, owner) -> None:
        self.dicts: dict = {}           # green Thread -> its attribute dict
        self.oslocal = _OsLocal()       # .d: the dict of this OS thread's main/hubless thread
        self.args = args
        self.kwargs = kwargs
        self.owner = ref(owner)         # the local object (whose __dict__ slot we swap)


def _forget(impl_ref, thread) -> None:
    """Exit hook of ``thread``: drop its attributes from one local (if that still exists)."""
    impl = impl_ref()
    if impl is None:
        return
    d = impl.dicts.pop(thread, None)
    owner = impl.owner()
    if owner is not None and d is not None and _object_getattribute(owner, "__dict__") is d:
        _object_setattr(owner, "__dict__", {})   # the slot still held the dead thread's dict


def _thread_dict(self, init: bool = True) -> dict:
    """The current thread's dict for local ``self``; on first use create it (and run ``__init__``).

    ``init`` is False only in ``__new__``: the constructor call runs ``__init__`` itself.
    """
    impl = _object_getattribute(self, "_local__impl")
    hub = getattr(_tls, "hub", None)
    if hub is None or hub.current is hub.main:
        oslocal = impl.oslocal
        try:
            return oslocal.d
        except AttributeError:
            d = oslocal.d = {}
    else:
        t = hub.current
        d = impl.dicts.get(t)
        if d is not None:
            return d
        d = impl.dicts[t] = {}
        add_exit_hook(t, _forget, ref(impl))
    if init:
        cls = type(self)
        if cls.__init__ is not object.__init__:
            _object_setattr(self, "__dict__", d)
            cls.__init__(self, *impl.args, **impl.kwargs)
    return d


class local:
    """Green-thread-local attributes; use like ``threading.local`` (and subclass it the same way).

    >>> data = local()
    >>> data.x = 1          # seen only by the green thread that set it
    """

    __slots__ = ("_local__impl", "__dict__", "__weakref__")

    def __new__(cls, /, *args, **kwargs):
        if (args or kwargs) and cls.__init__ is object.__init__:
            raise TypeError("Initialization arguments are not supported")
        self = object.__new__(cls)
        _object_setattr(self, "_local__impl", _Impl(args, kwargs, self))
        _object_setattr(self, "__dict__", _thread_dict(self, init=False))
        return self

    def __getattribute__(self, name: str):
        d = _thread_dict(self)
        if name == "__dict__":
            return d
        _object_setattr(self, "__dict__", d)
        return _object_getattribute(self, name)

    def __setattr__(self, name: str, value) -> None:
        if name == "__dict__":
            raise AttributeError(f"{type(self).__name__!r} object attribute '__dict__' "
                                 "is read-only")
        _object_setattr(self, "__dict__", _thread_dict(self))
        _object_setattr(self, name, value)

    def __delattr__(self, name: str) -> None:
        if name == "__dict__":
            raise AttributeError(f"{type(self).__name__!r} object attribute '__dict__' "
                                 "is read-only")
        _object_setattr(self, "__dict__", _thread_dict(self))
        _object_delattr(self, name)

    def __reduce__(self):
        raise TypeError(f"cannot pickle {type(self).__name__!r} object (it is thread-local)")
