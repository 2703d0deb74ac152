"""The runtime's choices, named once: which schedulers and pollers exist and where each lives.

``run(..., scheduler=, poller=)``, the hub and every server or experiment that checks a scheduler
or poller name read these two tables, so adding a scheduler or a poller is one row here (and its
module), and no list of names is spelled anywhere else.

Why tables of strings, not of classes: a row is ``name -> "module:Class"`` with the module
relative to this package, imported on first use (``scheduler_class``, ``poller_class``). So
choosing ``"fifo"`` never imports ``sched_pth`` (GNU Pth's O(n) model, only for the comparison),
and this module imports nothing of the runtime: the hub imports it, and the schedulers import the
hub, without a cycle and without a scheduler registering itself as a side effect of its import.
A class once loaded is kept in ``_loaded``, so a later lookup is one dict read; lookups happen when
a hub is made (``run``, the first ``get_hub`` of an OS thread), never per switch.

An unknown name raises ``ValueError`` naming the choices (``scheduler='x': choose one of
['fifo', 'pth']``, ``poller='x': choose 'epoll' or 'poll'``).
"""

from __future__ import annotations

import importlib

__all__ = [
    "SCHEDULERS", "POLLERS", "SCHEDULER_NAMES", "POLLER_NAMES", "DEFAULT_SCHEDULER",
    "DEFAULT_POLLER", "scheduler_class", "poller_class", "check_scheduler", "check_poller",
    "make_hub",
]

#: Scheduler name -> ``"module:Hub subclass"`` (module relative to ``whyevents.threads``).
SCHEDULERS: dict[str, str] = {
    "fifo": "sched_fifo:FifoHub",       # the default: O(1) per switch, direct hand-over
    "pth": "sched_pth:PthHub",          # GNU Pth's scheduler, O(n) per switch, for comparison
}
#: Poller name -> ``"module:Poller subclass"``.
POLLERS: dict[str, str] = {
    "epoll": "poll_epoll:EpollPoller",  # the default: each descriptor registered once
    "poll": "poll_poll:PollPoller",     # a poll() set rebuilt on every poll, as the paper's
}
#: The names alone, in table order: what servers and experiments check their arguments against.
SCHEDULER_NAMES: tuple[str, ...] = tuple(SCHEDULERS)
POLLER_NAMES: tuple[str, ...] = tuple(POLLERS)
DEFAULT_SCHEDULER = "fifo"
DEFAULT_POLLER = "epoll"

_loaded: dict[tuple[str, str], type] = {}


def check_scheduler(name: str) -> None:
    """``ValueError`` naming the choices unless ``name`` is a scheduler of the table."""
    if name not in SCHEDULERS:
        raise ValueError(f"scheduler={name!r}: choose one of {sorted(SCHEDULERS)}")


def check_poller(name: str) -> None:
    """``ValueError`` naming the choices unless ``name`` is a poller of the table."""
    if name not in POLLERS:
        raise ValueError(f"poller={name!r}: choose {' or '.join(map(repr, POLLER_NAMES))}")


def _load(kind: str, table: dict[str, str], name: str) -> type:
    cls = _loaded.get((kind, name))
    if cls is None:
        module, _, attr = table[name].partition(":")
        cls = getattr(importlib.import_module("." + module, __package__), attr)
        _loaded[(kind, name)] = cls
    return cls


def scheduler_class(name: str) -> type:
    """The ``Hub`` subclass of scheduler ``name``, its module imported on first use."""
    check_scheduler(name)
    return _load("scheduler", SCHEDULERS, name)


def poller_class(name: str) -> type:
    """The ``Poller`` subclass of poller ``name``, its module imported on first use."""
    check_poller(name)
    return _load("poller", POLLERS, name)


def make_hub(scheduler: str = DEFAULT_SCHEDULER, poller: str = DEFAULT_POLLER):
    """A new hub of scheduler ``scheduler`` polling with ``poller`` (names checked first)."""
    check_poller(poller)
    return scheduler_class(scheduler)(poller=poller)
