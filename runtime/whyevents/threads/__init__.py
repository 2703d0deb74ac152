"""whyevents.threads: green threads on greenlet, with the API of ``threading`` and ``queue``.

    from whyevents import threads

    def main():
        t = threads.spawn(print, "hello from a green thread")
        t.join()

    threads.run(main)                       # scheduler="fifo" | "pth", poller="epoll" | "poll"

The same program runs on kernel threads by swapping the import for
``whyevents.threads.kernel_threads``
(or ``threads.backend("kernel")``). ``monkey.patch_all()`` makes the stdlib's blocking calls
cooperative so unmodified threaded code runs on green threads.
"""

from . import monkey
from .atomic import AtomicViolation, atomic, in_atomic
from .debug import Watchdog, dump, format_dump, stats
from .errors import Deadlock, HubError, InternalError, ResourceBusy, ThreadKilled
from .hub import Hub, Thread, current, get_hub, run, sleep, spawn
from .kernel_threads import backend
from .local import local
from .queue import Empty, Full, LifoQueue, PriorityQueue, Queue, SimpleQueue
from .sync import (
    Barrier,
    BoundedSemaphore,
    BrokenBarrierError,
    Condition,
    Event,
    Lock,
    RLock,
    Semaphore,
)

__all__ = [
    "run", "spawn", "sleep", "current", "Thread", "Hub", "get_hub",
    "Lock", "RLock", "Condition", "Semaphore", "BoundedSemaphore", "Event", "Barrier",
    "BrokenBarrierError", "Queue", "LifoQueue", "PriorityQueue", "SimpleQueue", "Empty", "Full",
    "stats", "dump", "format_dump", "Watchdog",
    "Deadlock", "HubError", "InternalError", "ResourceBusy", "ThreadKilled",
]
__all__ += ["backend", "local", "monkey"]
__all__ += ["atomic", "AtomicViolation", "in_atomic"]
