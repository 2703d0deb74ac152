"""Monkey-patching: the stdlib's blocking calls become cooperative, so unmodified threaded code
runs on green threads (the paper's section 5: Capriccio "overrides blocking system calls" and
emulates pthreads).

    from whyevents.threads import monkey; monkey.patch_all()     # first lines of the program
    import threading, socketserver, ...                           # now green underneath

What is patched, and how (``patched()`` returns the same, for provenance records):

* ``thread`` (``_thread``, ``threading``, ``_threading_local``). The strategy is gevent's: keep the
  stdlib ``threading.Thread`` class and replace what it stands on. ``_thread.start_new_thread``
  starts a green thread; ``allocate_lock``/``LockType``/``RLock`` are our ``Lock``/``RLock``;
  ``get_ident`` returns the green thread's ident; ``_set_sentinel`` (the lock the interpreter
  releases when a thread's state is deleted, which ``Thread.join`` waits on) is a green ``Lock``
  released when the green thread ends; ``_local`` is ``local.local``. ``threading``'s copies of
  those names are replaced too, and its ``Lock``, ``RLock``, ``Condition``, ``Semaphore``,
  ``BoundedSemaphore``, ``Event``, ``Barrier`` and ``local`` are ours (``Timer`` is stdlib code on
  our ``Event``). ``_thread._count`` includes live green threads started through ``_thread``.
* ``time.sleep`` parks the green thread (``sleep(0)`` yields).
* ``queue``: ``Queue``, ``LifoQueue``, ``PriorityQueue`` and ``SimpleQueue`` are ours (O(1)
  hand-off queues, ``Empty``/``Full`` are the stdlib's). Stdlib queues made elsewhere are green
  anyway: ``queue.Queue`` builds its mutex and conditions from the patched ``threading``. Ours
  have no ``mutex``/``not_empty``/``not_full`` attributes.
* ``select``: ``select`` and ``poll`` are cooperative (``whyevents.threads.select``). ``epoll``
  is left alone on purpose: the hub's own poller is an ``epoll`` object, and wrapping it would
  tax every hub poll. Waiting on an ``epoll`` object with a timeout blocks the hub; use
  ``selectors`` instead.
* ``selectors``: ``SelectSelector``, ``PollSelector``, ``EpollSelector`` and ``DefaultSelector``
  are cooperative; so is ``socketserver._ServerSelector`` / ``subprocess._PopenSelector`` if those
  modules were imported before patching.
* ``socket``: the module's ``socket`` class and the functions that block or create sockets are
  ``whyevents.threads.socket``'s (names resolve in the kernel-thread pool).

The main-thread problem. After ``patch_all()`` the program's own code is the hub's main green
thread: ``get_hub()`` is called at once and adopts the running (root) greenlet as ``MainThread``,
so a blocking call in the script parks it and lets other green threads run; no ``run()`` is
needed. ``get_ident()`` returns the *OS* thread's ident for a hub's main thread, so
``threading.main_thread()``, ``threading._active`` and the import system's module locks, all
keyed by the real ident before patching, still agree (gevent rewrites ``_active`` instead), and
this stays true when ``run()`` replaces the hub. ``threading.main_thread()._tstate_lock`` is
swapped for a green ``Lock`` so a green thread can ``join()`` the main thread. At interpreter exit
``threading._shutdown`` runs in the main greenlet: it joins non-daemon ``threading`` threads by
acquiring their (green) sentinel locks, which parks the main thread and lets them finish; then
non-daemon threads started with ``whyevents.threads.spawn`` are joined too (``threading``'s
rule). Threads left behind by a hub that ``run()`` closed are skipped, and if everything left is
blocked forever, the ``Deadlock`` report is printed and the process exits instead of hanging.

Where parking is impossible, patched calls behave like the originals: in kernel threads without a
hub (the kernel-thread pool, a ``Watchdog``: both use captured originals anyway) and inside the
hub greenlet. Green primitives belong to one hub: don't share them with kernel threads.

Refusals. ``patch_all()``/``patch_thread()`` must run in the main thread before any other kernel
thread is started (``threading.enumerate()`` is checked; our own pool and watchdog threads are
ignored): a kernel thread already running would hold real locks and see green ones appear under
it. ``HubError`` says so. Calling ``patch_all()`` again is a no-op. Not patched, and blocking the
hub if used: ``os`` (``read``/``write`` on pipes, ``waitpid``), ``subprocess.Popen.wait``, file
I/O (use ``fileio``), ``ssl`` (``SSLSocket`` subclasses the original socket class),
``select.epoll``, ``signal``, ``multiprocessing`` (its queues block on pipes); ``fork`` after
patching is untested.
Whatever was bound before patching keeps the original: ``from time import sleep``, a
``threading.local()`` or ``threading.Lock()`` made at import time (shared by all green threads of
the OS thread). ``threading.get_native_id()`` is the OS thread's, the same in every green thread.
"""

from __future__ import annotations

import _thread
import importlib
import sys
import threading
import time
import warnings
import weakref

from . import hub as _hub
from . import select as _gselect
from .errors import Deadlock, HubError
from .hub import Thread as _GreenThread
from .hub import get_hub
from .hub_local import tls as _tls
from .local import local
from .queue import LifoQueue, PriorityQueue, Queue, SimpleQueue
from .sync import Barrier, BoundedSemaphore, Condition, Event, Lock, RLock, Semaphore

__all__ = [
    "patch_all", "patch_socket", "patch_time", "patch_thread", "patch_select", "patch_selectors",
    "patch_queue", "is_module_patched", "is_object_patched", "get_original", "patched",
]

# ---------------------------------------------------------------------------------------------
# Bookkeeping: what was replaced, and the originals
# ---------------------------------------------------------------------------------------------

#: module name -> {attribute name: original value (or _MISSING)}
_saved: dict[str, dict[str, object]] = {}
_MISSING = object()
_all_done: dict | None = None      # the arguments of the patch_all() that ran, if one did


def _patch(modname: str, attr: str, value: object) -> None:
    """Replace ``modname.attr`` with ``value``, remembering the original the first time."""
    mod = importlib.import_module(modname)
    saved = _saved.setdefault(modname, {})
    if attr not in saved:
        saved[attr] = getattr(mod, attr, _MISSING)
    setattr(mod, attr, value)


def is_module_patched(name: str) -> bool:
    """Whether anything in module ``name`` (e.g. ``"socket"``) was replaced."""
    return name in _saved


def is_object_patched(modname: str, attr: str) -> bool:
    """Whether ``modname.attr`` (e.g. ``"time", "sleep"``) was replaced."""
    return attr in _saved.get(modname, ())


def get_original(modname: str, attr):
    """The original value of ``modname.attr`` (the current one if it was never patched).

    ``attr`` may be a list of names: a list of values comes back.
    """
    if not isinstance(attr, str):
        return [get_original(modname, a) for a in attr]
    saved = _saved.get(modname, {})
    if attr in saved:
        value = saved[attr]
        if value is _MISSING:
            raise AttributeError(f"module {modname!r} had no attribute {attr!r} before patching")
        return value
    return getattr(importlib.import_module(modname), attr)


def patched() -> dict[str, list[str]]:
    """What was patched: ``{module: [attribute, ...]}``, sorted (for provenance records)."""
    return {mod: sorted(attrs) for mod, attrs in sorted(_saved.items())}


# -- originals this module itself needs --------------------------------------------------------
_orig_get_ident = _thread.get_ident
_orig_start_new_thread = _thread.start_new_thread
_orig_count = _thread._count
_orig_sleep = time.sleep
_parking_hub = _gselect.parking_hub
_MAIN_IDENT = threading.main_thread().ident   # as select's: captured before patching


# ---------------------------------------------------------------------------------------------
# time
# ---------------------------------------------------------------------------------------------

def sleep(seconds: float) -> None:
    """``time.sleep`` that parks the green thread (``sleep(0)`` yields to the others)."""
    hub = _parking_hub()
    if hub is None:
        _orig_sleep(seconds)
    else:
        _hub.sleep(seconds)


def patch_time() -> None:
    """``time.sleep`` parks only the calling green thread."""
    _patch("time", "sleep", sleep)


# ---------------------------------------------------------------------------------------------
# _thread and threading
# ---------------------------------------------------------------------------------------------

#: Live green threads started through ``_thread.start_new_thread`` (counted by ``_count``).
_started: dict = {}


class _Sentinel(Lock):
    """A green thread's "thread state" lock (``_thread._set_sentinel``): held while it runs."""

    __slots__ = ("thread",)


def get_ident() -> int:
    """``_thread.get_ident``: the green thread's ident; the OS thread's for a hub's main thread
    and in threads without a hub (so everything keyed by it before patching still matches)."""
    hub = getattr(_tls, "hub", None)
    if hub is None:
        return _orig_get_ident()
    t = hub.current
    if t is hub.main:
        return hub.os_thread
    return t.ident


def _thread_main(function, args, kwargs) -> None:
    """Body of a green thread started by ``start_new_thread``."""
    t = _hub.get_hub().current
    _started[t] = None
    try:
        if kwargs:
            function(*args, **kwargs)
        else:
            function(*args)
    finally:
        _started.pop(t, None)
        sentinel = t.__dict__.pop("_whyevents_sentinel", None)
        if sentinel is not None and sentinel.locked():
            sentinel.release()       # Thread.join() and threading._shutdown wait for this


def start_new_thread(function, args, kwargs=None) -> int:
    """``_thread.start_new_thread``: a green thread (a kernel thread where no hub can run it)."""
    if not callable(function):
        raise TypeError("first arg must be callable")
    if not isinstance(args, tuple):
        raise TypeError("2nd arg must be a tuple")
    if kwargs is not None and not isinstance(kwargs, dict):
        raise TypeError("optional 3rd arg must be a dictionary")
    if getattr(_tls, "hub", None) is None and _orig_get_ident() != _MAIN_IDENT:
        return _orig_start_new_thread(function, args, kwargs or {})
    owner = getattr(function, "__self__", None)
    name = owner.name if isinstance(owner, threading.Thread) else None
    # daemon: threading joins its own threads at exit through their sentinels
    t = _GreenThread(target=_thread_main, args=(function, args, kwargs), name=name, daemon=True)
    t.start()
    return t.ident


def _set_sentinel() -> Lock:
    """``_thread._set_sentinel``: a lock released when the calling green thread ends."""
    lock = _Sentinel()
    hub = getattr(_tls, "hub", None)
    lock.thread = None
    if hub is not None and hub.current is not hub.main:
        lock.thread = t = hub.current
        t.__dict__["_whyevents_sentinel"] = lock
    return lock


def _count() -> int:
    """``_thread._count``: kernel threads started by ``_thread`` plus live green ones."""
    return _orig_count() + sum(1 for t in _started if not t._hub.closed)


class _GreenDummyThread(threading._DummyThread):
    """What ``threading.current_thread()`` returns in a green thread ``threading`` did not start.

    Unlike ``threading._DummyThread`` it is not entered in ``threading._active`` (which nothing
    would ever clean up: a server spawning a thread per connection and logging from each would
    leak one per connection); it is cached on the green thread and dies with it.
    """

    def __init__(self, green: _GreenThread) -> None:
        threading.Thread.__init__(self, name=green.name, daemon=green.daemon)
        self._green = weakref.ref(green)
        self._started.set()
        self._ident = green.ident
        self._set_native_id()

    def is_alive(self) -> bool:
        g = self._green()
        return g is not None and g.is_alive()

    def join(self, timeout: float | None = None) -> None:
        g = self._green()
        if g is not None:
            g.join(timeout)


def current_thread() -> threading.Thread:
    """``threading.current_thread`` for green threads (see ``_GreenDummyThread``)."""
    try:
        return threading._active[get_ident()]
    except KeyError:
        pass
    hub = getattr(_tls, "hub", None)
    if hub is None or hub.current is hub.main:
        return _orig_current_thread()
    t = hub.current
    d = t.__dict__.get("_whyevents_threading")
    if d is None:
        d = t.__dict__["_whyevents_threading"] = _GreenDummyThread(t)
    return d


def _current_thread_deprecated() -> threading.Thread:
    """``threading.currentThread``: deprecated there, so it warns here too."""
    warnings.warn("currentThread() is deprecated, use current_thread() instead",
                  DeprecationWarning, stacklevel=2)
    return current_thread()


_orig_current_thread = threading.current_thread
_orig_shutdown = threading._shutdown


def _shutdown() -> None:
    """``threading._shutdown`` (called by the interpreter at exit, in the main greenlet)."""
    with threading._shutdown_locks_lock:
        for lock in list(threading._shutdown_locks):
            t = getattr(lock, "thread", None)
            if t is not None and (t._hub is None or t._hub.closed):
                threading._shutdown_locks.discard(lock)   # its hub is gone: it never ends
    try:
        _orig_shutdown()
        _join_green_non_daemon()
    except Deadlock as e:
        print(f"whyevents: at exit, the remaining non-daemon threads can never finish; "
              f"exiting without them.\n{e}", file=sys.stderr)


def _join_green_non_daemon() -> None:
    hub = getattr(_tls, "hub", None)
    if hub is None or hub.closed or hub.current is not hub.main:
        return
    while True:
        pending = [t for t in hub._live if t is not hub.main and not t.daemon]
        if not pending:
            return
        for t in pending:
            t.join()


def _refuse_if_threads_running(what: str) -> None:
    if _orig_get_ident() != _MAIN_IDENT:
        raise HubError(f"monkey.{what}() must be called in the main thread")
    main = threading.main_thread()
    pool = sys.modules.get("whyevents.threads.threadpool")
    helpers = getattr(pool, "_pool_threads", set())
    others = [t for t in threading.enumerate()
              if t is not main and t.ident not in helpers
              and not t.name.startswith("whyevents")]
    if others:
        names = ", ".join(repr(t.name) for t in others)
        raise HubError(f"monkey.{what}() called after kernel threads were started ({names}): "
                       f"patch before starting threads, at the very top of the program, "
                       f"before anything that starts a thread is imported or run")


def _import_runtime(socket: bool = False) -> None:
    """Import the runtime modules that capture originals at import time (the kernel-thread pool
    keeps the real ``_thread``; the socket layer the real ``socket``), before they are patched."""
    from . import threadpool  # noqa: F401
    if socket:
        from . import socket as _  # noqa: F401


def patch_thread() -> None:
    """``_thread``, ``threading`` and ``_threading_local`` on green threads (module header)."""
    if is_module_patched("threading"):
        return
    _refuse_if_threads_running("patch_thread")
    _import_runtime()
    get_hub()                  # adopt the running greenlet as the main green thread, now
    for name, value in [
        ("start_new_thread", start_new_thread), ("start_new", start_new_thread),
        ("allocate_lock", Lock), ("allocate", Lock), ("LockType", Lock), ("RLock", RLock),
        ("get_ident", get_ident), ("_local", local), ("_set_sentinel", _set_sentinel),
        ("_count", _count),
    ]:
        if hasattr(_thread, name):
            _patch("_thread", name, value)
    for name, value in [
        ("_start_new_thread", start_new_thread), ("_allocate_lock", Lock),
        ("_set_sentinel", _set_sentinel), ("get_ident", get_ident), ("Lock", Lock),
        ("_CRLock", RLock), ("RLock", RLock), ("Condition", Condition),
        ("Semaphore", Semaphore), ("BoundedSemaphore", BoundedSemaphore), ("Event", Event),
        ("Barrier", Barrier), ("local", local), ("current_thread", current_thread),
        ("currentThread", _current_thread_deprecated), ("_shutdown", _shutdown),
    ]:
        _patch("threading", name, value)
    _patch("_threading_local", "local", local)

    # The main thread's "thread state" lock: a green one, so green threads can join the main
    # thread; threading._shutdown releases it at exit. (The real one stays held until the
    # interpreter deletes the main thread state, which releases it.)
    main = threading.main_thread()
    global _real_main_tstate_lock
    if main._tstate_lock is not None and not isinstance(main._tstate_lock, Lock):
        _real_main_tstate_lock = real = main._tstate_lock
        green = Lock()
        green.acquire()
        main._tstate_lock = green
        with threading._shutdown_locks_lock:        # the main thread is non-daemon: its lock
            if real in threading._shutdown_locks:    # is one _shutdown waits for
                threading._shutdown_locks.discard(real)
                threading._shutdown_locks.add(green)

    # Locks created before patching that green threads would hold across a switch.
    if "logging" in sys.modules:
        logging = sys.modules["logging"]
        _patch("logging", "_lock", RLock())
        for wr in list(logging._handlerList):
            handler = wr()
            if handler is not None and getattr(handler, "lock", None) is not None:
                handler.lock = RLock()
    cft = sys.modules.get("concurrent.futures.thread")
    if cft is not None and hasattr(cft, "_global_shutdown_lock"):
        # held across Thread.start() (which now yields) by every submit()
        _patch("concurrent.futures.thread", "_global_shutdown_lock", Lock())


_real_main_tstate_lock = None


# ---------------------------------------------------------------------------------------------
# queue, select, selectors, socket
# ---------------------------------------------------------------------------------------------

def patch_queue() -> None:
    """``queue.Queue``/``LifoQueue``/``PriorityQueue``/``SimpleQueue`` are ours."""
    for name, value in [("Queue", Queue), ("LifoQueue", LifoQueue),
                        ("PriorityQueue", PriorityQueue), ("SimpleQueue", SimpleQueue)]:
        _patch("queue", name, value)


def patch_select() -> None:
    """``select.select`` and ``select.poll`` park only the calling green thread."""
    _patch("select", "select", _gselect.select)
    _patch("select", "poll", _gselect.poll)


def patch_selectors() -> None:
    """``selectors``' select/poll/epoll selectors (and ``DefaultSelector``) are cooperative."""
    for name in ("SelectSelector", "PollSelector", "EpollSelector", "DefaultSelector"):
        _patch("selectors", name, getattr(_gselect, name))
    # modules that picked a selector class at import time
    for modname, attr in [("socketserver", "_ServerSelector"), ("subprocess", "_PopenSelector")]:
        mod = sys.modules.get(modname)
        if mod is None:
            continue
        cls = getattr(mod, attr, None)
        green = getattr(_gselect, getattr(cls, "__name__", ""), None)
        if green is not None and cls is not green:
            _patch(modname, attr, green)


def patch_socket() -> None:
    """The ``socket`` module's class and blocking functions are ``whyevents.threads.socket``'s."""
    import socket as stdsocket

    from . import socket as gsocket

    if is_module_patched("socket"):
        return
    names = [name for name in dir(gsocket)
             if not name.startswith("_") and hasattr(stdsocket, name)
             and getattr(gsocket, name) is not getattr(stdsocket, name)
             and callable(getattr(gsocket, name))
             and getattr(getattr(gsocket, name), "__module__", None) == gsocket.__name__]
    for name in names:
        _patch("socket", name, getattr(gsocket, name))


# ---------------------------------------------------------------------------------------------
# All of it
# ---------------------------------------------------------------------------------------------

def patch_all(socket: bool = True, select: bool = True, time: bool = True, thread: bool = True,
              queue: bool = True, selectors: bool = True) -> None:
    """Make the stdlib cooperative; call it first thing, before any thread is started.

    A second call is a no-op. Raises ``HubError`` if kernel threads are already running.
    """
    global _all_done
    if _all_done is not None:
        return
    if thread:
        _refuse_if_threads_running("patch_all")
    _import_runtime(socket)
    if thread:
        patch_thread()
    if time:
        patch_time()
    if queue:
        patch_queue()
    if select:
        patch_select()
    if selectors:
        patch_selectors()
    if socket:
        patch_socket()
    _all_done = {"socket": socket, "select": select, "time": time, "thread": thread,
                 "queue": queue, "selectors": selectors}
