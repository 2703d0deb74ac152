"""The ``whyevents.threads`` API on kernel threads: the same program, real OS threads.

The paper (section 5) compares the same server on user-level and kernel threads. So a program
written against ``whyevents.threads`` runs on kernel threads by changing one import::

    from whyevents.threads import kernel_threads as threads  # was: from whyevents import threads

or by choosing at run time: ``threads = whyevents.threads.backend("kernel")``.

What maps to what. ``Lock``, ``RLock``, ``Condition``, ``Semaphore``, ``BoundedSemaphore``,
``Event``, ``Barrier`` and ``local`` are ``threading``'s; ``Queue``, ``LifoQueue``,
``PriorityQueue``, ``SimpleQueue``, ``Empty`` and ``Full`` are ``queue``'s; ``sleep`` is
``time.sleep``. ``Thread`` is a ``threading.Thread`` with the green thread's extras (``value``,
``exception``, ``get()``, ``state``; ``start()`` returns the thread). ``run(main)`` just calls
``main`` (after checking the same keywords as the green ``run``), and ``stats()`` reports what the
kernel knows. All of these are captured when this module is imported, which is always before
``monkey.patch_all()`` could replace them (``whyevents.threads`` imports this module).

What cannot be the same:

* ``Thread.kill()`` raises ``NotImplementedError``: a kernel thread cannot be stopped safely from
  outside (it may hold locks, be inside a C call); make it check a flag or an ``Event``.
* No ``Deadlock``: a kernel program whose threads all block just hangs (the class is exported so
  that ``except threads.Deadlock`` still compiles).
* Scheduling is preemptive: code that was only correct because green threads switch at blocking
  points (a read-modify-write of shared state without a lock) is wrong here. That is the point
  of running both.
* Threads still running when ``main`` returns are not abandoned: non-daemon kernel threads keep
  the process alive, as with ``threading``.
* ``atomic()`` sections refuse with ``NotImplementedError`` when entered (or, as a decorator,
  when the function is called): a kernel thread can be preempted between any two bytecodes, so
  "nothing in here switches" cannot be promised; protect the shared state with a ``Lock``.
  ``in_atomic()`` is always false; ``AtomicViolation`` is the green class, so ``except`` clauses
  still compile.
* ``Hub``, ``get_hub``, ``Watchdog`` and ``monkey`` have no kernel meaning and are absent.

Kernel threads and monkey-patching exclude each other: once ``patch_all()`` has made
``threading`` green, ``threading.Thread`` starts green threads, so ``spawn``/``Thread.start``
here refuse with ``HubError``.
"""

from __future__ import annotations

import functools
import os
import queue as _queue
import resource
import sys
import threading as _threading
import time as _time
import traceback

from .atomic import AtomicViolation
from .errors import Deadlock, HubError, InternalError, ResourceBusy, ThreadKilled
from .registry import check_poller, check_scheduler

__all__ = [
    "run", "spawn", "sleep", "current", "Thread",
    "Lock", "RLock", "Condition", "Semaphore", "BoundedSemaphore", "Event", "Barrier",
    "BrokenBarrierError", "Queue", "LifoQueue", "PriorityQueue", "SimpleQueue", "Empty", "Full",
    "local", "stats", "dump", "format_dump",
    "Deadlock", "HubError", "InternalError", "ResourceBusy", "ThreadKilled",
    "backend", "BACKENDS", "atomic", "AtomicViolation", "in_atomic",
]

_NO_ATOMIC = ("atomic sections need cooperative scheduling: a kernel thread can be preempted "
              "anywhere, so protect the shared state with a Lock")


class _RefusedSection:
    def __enter__(self):
        raise NotImplementedError(_NO_ATOMIC)

    def __exit__(self, *exc) -> None:      # pragma: no cover - never entered
        return None


def atomic(fn=None):
    """Not possible on kernel threads: entering the section raises ``NotImplementedError``."""
    if fn is None:
        return _RefusedSection()
    if not callable(fn):
        raise TypeError(f"atomic() takes a function to decorate or nothing, not {fn!r}")

    @functools.wraps(fn)
    def refused(*args, **kwargs):
        raise NotImplementedError(_NO_ATOMIC)
    return refused


def in_atomic() -> bool:
    """Always false: kernel threads have no atomic sections."""
    return False

#: The names ``backend()`` accepts.
BACKENDS = ("green", "kernel")

# -- threading and queue, as they are now (before any monkey-patching) --------------------------
Lock = _threading.Lock
RLock = _threading.RLock
Condition = _threading.Condition
Semaphore = _threading.Semaphore
BoundedSemaphore = _threading.BoundedSemaphore
Event = _threading.Event
Barrier = _threading.Barrier
BrokenBarrierError = _threading.BrokenBarrierError
local = _threading.local
Queue = _queue.Queue
LifoQueue = _queue.LifoQueue
PriorityQueue = _queue.PriorityQueue
SimpleQueue = _queue.SimpleQueue
Empty = _queue.Empty
Full = _queue.Full
_sleep = _time.sleep
_current_thread = _threading.current_thread
_active_count = _threading.active_count
_enumerate = _threading.enumerate

_spawn_lock = _threading.Lock()
_spawned = 0


def _check_unpatched() -> None:
    mod = sys.modules.get("whyevents.threads.monkey")
    if mod is not None and mod.is_module_patched("threading"):
        raise HubError("the kernel backend needs the real threading module, but "
                       "monkey.patch_all() has made it green in this process; use the green "
                       "backend here, or run the kernel backend in a process that is not patched")


class Thread(_threading.Thread):
    """A kernel thread with the green ``Thread``'s extras: ``value``, ``exception``, ``get()``.

    An exception that ends the thread is stored in ``exception`` and reported by
    ``threading.excepthook`` (printed), as the green hub reports it; ``SystemExit`` and
    ``ThreadKilled`` end the thread quietly.
    """

    def __init__(self, group=None, target=None, name=None, args=(), kwargs=None, *,
                 daemon=None) -> None:
        super().__init__(group, target, name, args, kwargs, daemon=daemon)
        self.value = None
        self.exception = None

    def start(self) -> Thread:
        """Start the kernel thread; returns the thread (like the green ``Thread.start``)."""
        global _spawned
        _check_unpatched()
        with _spawn_lock:
            _spawned += 1
        super().start()
        return self

    def run(self) -> object:
        """What the thread does; by default calls ``target(*args, **kwargs)``."""
        try:
            if self._target is not None:
                return self._target(*self._args, **self._kwargs)
            return None
        finally:
            del self._target, self._args, self._kwargs   # as threading.Thread.run: no cycles

    def _bootstrap_inner(self) -> None:
        # run() is wrapped here, not in run(), so that subclasses overriding run() still get
        # value/exception recorded.
        real_run = self.run

        def recording_run():
            try:
                self.value = real_run()
            except (SystemExit, ThreadKilled):
                pass
            except BaseException as e:
                self.exception = e
                raise                   # threading.excepthook reports it

        self.run = recording_run
        try:
            super()._bootstrap_inner()
        finally:
            del self.run

    def get(self, timeout: float | None = None) -> object:
        """Join, then return what ``run`` returned or raise what it raised."""
        self.join(timeout)
        if self.is_alive():
            raise TimeoutError(f"{self!r} still running after {timeout} s")
        if self.exception is not None:
            raise self.exception
        return self.value

    def kill(self, exception=ThreadKilled, block: bool = False,
             timeout: float | None = None) -> None:
        """Not possible on kernel threads: raises ``NotImplementedError``."""
        raise NotImplementedError(
            "kernel threads cannot be killed safely (one may hold a lock or be inside a C "
            "call); ask the thread to stop instead (an Event it checks, a sentinel on its "
            "queue), or use the green backend, whose threads can be killed at blocking points")

    @property
    def state(self) -> str:
        """new, running or done (a kernel thread's parked/ready states are not observable)."""
        if not self._started.is_set():
            return "new"
        return "running" if self.is_alive() else "done"


def run(main, *args, scheduler: str = "fifo", poller: str = "epoll", **kwargs):
    """Call ``main(*args, **kwargs)`` and return its result.

    ``scheduler`` and ``poller`` are checked as the green ``run`` checks them and otherwise
    ignored: the kernel schedules.
    """
    check_scheduler(scheduler)
    check_poller(poller)
    return main(*args, **kwargs)


def spawn(fn, *args, **kwargs) -> Thread:
    """Start ``fn(*args, **kwargs)`` in a new kernel thread and return it."""
    return Thread(target=fn, args=args, kwargs=kwargs).start()


def sleep(seconds: float = 0) -> None:
    """``time.sleep``; ``sleep(0)`` gives up the CPU (and the GIL) to other threads."""
    _sleep(seconds)


def current() -> _threading.Thread:
    """The running kernel thread (``threading.current_thread()``)."""
    return _current_thread()


def _native_threads() -> int | None:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return None


def stats() -> dict:
    """What is knowable about kernel threads: how many are alive, context switches so far.

    Switch counts are the process's (``getrusage``): voluntary (a thread blocked) and
    involuntary (preempted); the kernel does not count switches between one process's threads
    separately.
    """
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "scheduler": "kernel",
        "poller": "kernel",
        "threads": _active_count(),
        "native_threads": _native_threads(),
        "spawns": _spawned,
        "switches": ru.ru_nvcsw + ru.ru_nivcsw,
        "voluntary_switches": ru.ru_nvcsw,
        "involuntary_switches": ru.ru_nivcsw,
    }


def dump() -> list[dict]:
    """One record per live ``threading`` thread: name, ident, state, where it is now."""
    frames = sys._current_frames()
    rows = []
    for t in _enumerate():
        frame = frames.get(t.ident)
        where = "?"
        if frame is not None:
            where = f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"
        rows.append({"name": t.name, "ident": t.ident, "state": "running",
                     "waiting_on": None, "parked_for_s": None, "where": where})
    return rows


def format_dump() -> str:
    """``dump()`` as text, one line per thread, with each thread's innermost frames."""
    frames = sys._current_frames()
    lines = []
    for t in _enumerate():
        lines.append(f"{t.name} [{'daemon' if t.daemon else 'running'}]")
        frame = frames.get(t.ident)
        if frame is not None:
            lines.extend("    " + ln.rstrip("\n").replace("\n", "\n    ")
                         for ln in traceback.format_stack(frame, limit=3))
    return "\n".join(lines)


def backend(name: str):
    """The thread API module called ``name``: ``"green"`` (``whyevents.threads``) or
    ``"kernel"`` (this module). Both offer the same names, so ``threads = backend(name)`` lets
    one program run on either."""
    if name == "green":
        return sys.modules[__name__.rpartition(".")[0]]
    if name == "kernel":
        return sys.modules[__name__]
    raise ValueError(f"backend {name!r}: choose one of {BACKENDS}")
