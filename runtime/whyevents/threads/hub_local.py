"""This OS thread's hub, found without importing the hub (after gevent's ``_hub_local``).

Everything that parks or wakes (``waitq``, ``sync``, ``socket``, ``select``, ``local``, ``atomic``,
``monkey``) needs the running hub, and the hub's module needs ``waitq``. Keeping the lookup here,
in a module that imports nothing of the runtime but the registry (and that only to make a hub on
first use), lets them all import this instead of ``hub``: there is no import cycle in
``threads/``, and ``tests/test_import_layout.py`` keeps it so.

The storage is ``tls``, a real ``_thread._local`` captured when this module is imported (before
``monkey.patch_all()`` could replace ``_thread``), whose ``hub`` attribute is the OS thread's hub:
absent or None until the first ``get_hub`` or ``run``. Hot paths read it inline,
``getattr(tls, "hub", None) or get_hub()``, so finding the hub costs no Python call once it
exists; ``get_hub`` and ``current`` are for everything else. ``get_ident`` is the OS thread's
ident, captured likewise, whatever patching later does to ``_thread.get_ident``.
"""

from __future__ import annotations

import _thread

from .registry import make_hub

__all__ = ["tls", "get_hub", "current", "set_hub", "get_ident"]

#: The real thread-local, whatever monkey-patching does to ``threading``; ``.hub``: the hub.
tls = _thread._local()
#: The OS thread's ident, whatever monkey-patching does to ``_thread``.
get_ident = _thread.get_ident


def get_hub():
    """This OS thread's hub, created (fifo, epoll) on first use."""
    hub = getattr(tls, "hub", None)
    if hub is None:
        hub = tls.hub = make_hub()
    return hub


def current():
    """The running green thread."""
    hub = getattr(tls, "hub", None)
    if hub is None:
        hub = get_hub()
    return hub.current


def set_hub(hub) -> None:
    """Make ``hub`` (or None) this OS thread's hub (``run`` and ``Hub.close``)."""
    tls.hub = hub
