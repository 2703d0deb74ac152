"""The runtime's exceptions, named for who is at fault.

* ``ThreadKilled`` is how ``Thread.kill()`` ends a thread. It derives from ``BaseException``
  (like ``GreenletExit``, curio's ``CancelledError`` and trio's ``Cancelled``) so that a
  well-meant ``except Exception`` in user code cannot swallow it.
* ``Deadlock`` is raised in the main thread when every thread is parked and nothing (no timer, no
  file descriptor, no kernel-thread job) can ever wake one of them. Its message lists them.
* ``ResourceBusy`` is *your* mistake: two threads waiting to read (or write) one descriptor where
  that makes no sense.
* ``InternalError`` is *ours*: an invariant of the hub broke. Please file a bug with the message.
"""

from __future__ import annotations

__all__ = ["ThreadKilled", "Deadlock", "ResourceBusy", "InternalError", "HubError"]


class ThreadKilled(BaseException):
    """Raised inside a thread at its next blocking point by ``Thread.kill()``.

    A thread that ends with it has ended normally: it is not reported as an error.
    """


class HubError(RuntimeError):
    """Misuse of the runtime: blocking outside a hub, a hub used from another OS thread, ..."""


class Deadlock(HubError):
    """Every thread is blocked and nothing can ever wake one: the program would hang forever."""

    def __init__(self, message: str, blocked: list | None = None) -> None:
        super().__init__(message)
        #: ``[(thread_name, what_it_waits_on, where), ...]`` for every parked thread.
        self.blocked = blocked or []


class ResourceBusy(HubError):
    """Several threads wait on one descriptor in the same direction where only one may."""


class InternalError(RuntimeError):
    """A hub invariant was broken: a bug in whyevents; please report it with this message."""
