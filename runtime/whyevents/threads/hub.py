"""The hub: one per OS thread; it owns the run queue, the timers and the poller.

Principles (after curio's kernel.py):

* **The hub only schedules.** It owns three things: the run queue (a deque of runnable threads),
  the timers (``timers.TimerHeap``) and the poller (``poll_epoll`` or ``poll_poll``). Everything
  else lives elsewhere and reaches the hub through one narrow interface:
  ``park(waitobj, timeout) -> bool`` to block the current thread, ``wake(thread, value)`` to make a
  parked thread runnable, and ``poller.wait_read/wait_write`` for descriptors. Primitives
  (``sync``, ``queue``), sockets (``socket``), the kernel-thread pool (``threadpool``) and patching
  (``monkey``) are built on those calls. Don't add features here; add them there.
* **Every operation is O(1) or O(log n)** in the number of threads: a deque for the run queue,
  an insertion-ordered ``dict`` per wait queue (``waitq``: O(1) amortized), a FIFO plus a heap
  with lazy deletion for timers, epoll registered once per descriptor. The ``pth`` scheduler
  (``sched_pth``) is the deliberate exception: it models GNU Pth's O(n) event manager so that
  the notebooks can show what removing it buys.
* **The policy is a scheduler's.** This module holds what every scheduler shares (threads,
  worker greenlets, kills, deadlock reports, other OS threads, ``run``/``spawn``/``sleep``);
  ``park``, ``wake``, ``yield_`` and the hub loop are a ``Hub`` subclass's: ``sched_fifo``
  (``FifoHub``, the default) or ``sched_pth`` (``PthHub``), chosen by name from
  ``registry.SCHEDULERS`` (imported on first use: this module imports no scheduler). The lookup
  of the running hub (``get_hub``, ``current``, the per-OS-thread storage) is ``hub_local``'s,
  so the modules the hub needs (``waitq``) can find the hub without importing this one.
* **Switch directly** (``sched_fifo``). A thread that blocks hands the CPU straight to the next
  runnable thread (one greenlet switch), not through the hub (two). I/O is polled and timers
  expired once per *batch*: the threads that were runnable when the batch began. So I/O is
  checked between batches and no thread starves another's descriptors (trio's batch rule). The
  hub greenlet does that poll, except when nothing at all is runnable: then the thread that
  blocks polls on its own stack and switches straight to the thread the poll woke (no switch
  when that is itself).
* **Threads are cheap because greenlets are reused.** Creating a greenlet is costly on
  CPython 3.11 (a 16 KiB frame-stack chunk is mapped for it); handing a new thread to a parked
  worker greenlet costs a switch (``whyevents bench runtime --only spawn`` prints the spawn
  cost). Finished workers wait in ``_idle`` (at most ``IDLE_WORKERS``).
* **Nothing busy-waits.** With every thread parked the OS thread sleeps in ``epoll_wait`` until the
  next deadline or event. If nothing at all could wake a thread, the main thread gets ``Deadlock``.

Thread states: NEW (spawned, not yet run) -> READY (in the run queue) -> RUNNING -> PARKED (in a
wait queue, on a descriptor or a timer) -> READY ... -> DONE. The pairing rule: every ``park``
ends in exactly one ``wake`` (by whoever the thread waited for), or one cancel by the hub (timer
fired, kill), never both; ``wake`` is only ever called on a PARKED thread.

Greenlet topology: the hub greenlet's parent is the greenlet that created the hub (the OS thread's
root, usually the program's main thread, which is adopted as the ``MainThread`` green thread);
worker greenlets' parent is the hub greenlet, so an exception that escapes the hub loop (a bug, a
``KeyboardInterrupt`` delivered while sleeping in the poller) surfaces in the main thread.
"""

from __future__ import annotations

import _thread
import os
import sys
import traceback
from collections import deque
from itertools import count
from time import monotonic

from greenlet import getcurrent, greenlet

from .errors import Deadlock, HubError, InternalError, ThreadKilled
from .hub_local import current, get_hub, set_hub
from .hub_local import get_ident as _get_ident
from .hub_local import tls as _tls
from .registry import check_poller, check_scheduler, make_hub, poller_class
from .timers import TimerHeap
from .waitq import WaitQueue

#: a kernel lock whatever is patched later (``call_threadsafe`` runs in other OS threads): this
#: module is imported before ``monkey`` can patch ``_thread``
_RLock = _thread.RLock

__all__ = [
    "Hub", "Thread", "get_hub", "current", "spawn", "sleep", "run", "wake_from_thread",
    "IDLE_WORKERS", "add_exit_hook",
]

#: How many finished worker greenlets are kept for reuse (each holds its memory while idle: about
#: a parked thread's, which ``whyevents bench runtime --only memory`` prints).
IDLE_WORKERS = 1024

NEW, READY, RUNNING, PARKED, DONE = "new", "ready", "running", "parked", "done"

_ids = count(1)


# ---------------------------------------------------------------------------------------------
# Threads
# ---------------------------------------------------------------------------------------------

class Thread:
    """A green thread, with the constructor and methods of ``threading.Thread``.

    ``Thread(target=f, args=(1,)).start()`` or ``spawn(f, 1)``; subclass and override ``run`` as
    with ``threading``. Beyond ``threading``: ``kill()``, ``value``/``exception`` (the result of
    ``run``), ``get()`` (join, then return the value or raise the exception).
    """

    __slots__ = (
        "_target", "_args", "_kwargs", "_name", "_hub", "_g", "_state", "_woken", "_value",
        "_throw", "_waiting", "_timer", "_deadline", "_since", "_joiners", "_daemon", "_ident",
        "value", "exception", "_started", "_exit_hooks", "__weakref__", "__dict__",
    )

    def __init__(self, group=None, target=None, name=None, args=(), kwargs=None, *,
                 daemon=None) -> None:
        if group is not None:
            raise ValueError("group argument must be None for now (as in threading.Thread)")
        self._target = target
        self._args = args
        self._kwargs = kwargs
        self._ident = None      # drawn when first read: a parked thread holds no int of its own
        self._name = str(name) if name is not None else None  # built when first read
        self._hub = None
        self._g = None
        self._state = NEW
        self._woken = False
        self._value = None      # hand-off slot: an item a Queue gives a waiting getter, etc.
        self._throw = None      # exception to raise at the next blocking point (kill)
        self._waiting = None    # what a PARKED thread waits on (has .discard(thread))
        self._timer = None      # its timer entry (kept armed across parks: sched_fifo.park)
        self._deadline = None   # the deadline of its current (or last) wait (None: no timeout)
        self._since = 0.0       # when it parked (hub time)
        self._joiners = None
        self._daemon = bool(daemon) if daemon is not None else False
        self._started = False
        self._exit_hooks = None  # [(fn, arg)]: see add_exit_hook
        self.value = None
        self.exception = None

    # -- threading.Thread API -------------------------------------------------------------------

    @property
    def name(self) -> str:
        name = self._name
        if name is None:
            name = self._name = f"Thread-{self.ident}"
        return name

    @name.setter
    def name(self, value: str) -> None:
        self._name = str(value)

    @property
    def daemon(self) -> bool:
        return self._daemon

    @daemon.setter
    def daemon(self, value: bool) -> None:
        if self._started:
            raise RuntimeError("cannot set daemon status of active thread")
        self._daemon = bool(value)

    @property
    def ident(self) -> int:
        """A positive int, unique in this process, given in the order idents are first read."""
        ident = self._ident
        if ident is None:
            ident = self._ident = next(_ids)
        return ident

    @property
    def native_id(self) -> int:
        return self.ident

    def isDaemon(self) -> bool:  # noqa: N802 - threading's legacy spelling
        return self._daemon

    def setDaemon(self, daemonic: bool) -> None:  # noqa: N802
        self.daemon = daemonic

    def getName(self) -> str:  # noqa: N802
        return self.name

    def setName(self, name: str) -> None:  # noqa: N802
        self.name = name

    def start(self) -> Thread:
        """Make the thread runnable; it runs when the current thread next blocks or yields."""
        if self._started:
            raise RuntimeError("threads can only be started once")
        self._started = True
        hub = get_hub()
        self._hub = hub
        self._state = READY
        hub._live[self] = None
        hub.spawns += 1
        hub.ready.append(self)
        return self

    def run(self) -> object:
        """What the thread does; by default calls ``target(*args, **kwargs)``."""
        target = self._target
        if target is None:
            return None
        if self._kwargs:
            return target(*self._args, **self._kwargs)
        # Plain calls for the common arities: CPython 3.11 inlines them into this frame, while a
        # ``*args`` call adds a C frame that every parked thread's saved stack then carries
        # (``whyevents bench runtime`` prints greenlet's saved stack per parked thread).
        args = self._args
        n = len(args)
        if n == 0:
            return target()
        if n == 1:
            return target(args[0])
        if n == 2:
            return target(args[0], args[1])
        if n == 3:
            return target(args[0], args[1], args[2])
        return target(*args)

    def is_alive(self) -> bool:
        return self._started and self._state is not DONE

    def join(self, timeout: float | None = None) -> None:
        """Wait until the thread ends or ``timeout`` seconds pass (then check ``is_alive()``)."""
        if not self._started:
            raise RuntimeError("cannot join thread before it is started")
        if self._state is DONE:
            return
        hub = get_hub()
        if hub.current is self:
            raise RuntimeError("cannot join current thread")
        if self._joiners is None:
            self._joiners = WaitQueue(self, "join")
        self._joiners.park(timeout)

    # -- beyond threading -----------------------------------------------------------------------

    def kill(self, exception: BaseException | type[BaseException] = ThreadKilled,
             block: bool = False, timeout: float | None = None) -> None:
        """Raise ``exception`` inside the thread at its next blocking point.

        A parked thread is woken at once (its wait is cancelled); a runnable one raises when it
        next runs; one that never started ends without running. The default ``ThreadKilled``
        ends it normally (``exception`` attribute stays None). With ``block``, wait for it to end.
        """
        if not self._started:         # never started: it never will
            self._started = True
            self._state = DONE
            return
        if self._state is DONE:
            return
        if isinstance(exception, type):
            exception = exception()
        hub = self._hub
        if hub.current is self and getcurrent() is self._g:   # not from the hub's callbacks
            raise exception
        hub._throw_into(self, exception)
        if block:
            self.join(timeout)

    def get(self, timeout: float | None = None) -> object:
        """Join, then return what ``run`` returned or raise what it raised."""
        self.join(timeout)
        if self._state is not DONE:
            raise TimeoutError(f"{self!r} still running after {timeout} s")
        if self.exception is not None:
            raise self.exception
        return self.value

    @property
    def state(self) -> str:
        """new, ready, running, parked or done."""
        return self._state

    def __repr__(self) -> str:
        extra = ""
        if self._state is PARKED and self._waiting is not None:
            extra = f" on {describe_wait(self._waiting)}"
        return f"<Thread {self.name} {self._state}{extra}>"

    # -- internals ------------------------------------------------------------------------------

    def _bootstrap(self) -> None:
        """Run the thread's body in the current worker greenlet and record how it ended."""
        hub = self._hub
        self._state = RUNNING
        try:
            exc = self._throw
            if exc is not None:           # killed before it ever ran
                self._throw = None
                raise exc
            self.value = self.run()
        except ThreadKilled:
            pass
        except SystemExit:
            pass                          # as in threading: ends this thread only
        except BaseException as e:        # noqa: BLE001 - reported, then seen by joiners
            self.exception = e
            hub._report(self, e)
        finally:
            self._state = DONE
            self._g = None
            self._target = self._args = self._kwargs = None  # as threading: free what run held
            self._waiting = None
            if self._timer is not None:   # a lazily armed timer entry (sched_fifo.park)
                hub.timers.cancel(self._timer)
                self._timer = None
            hub._live.pop(self, None)
            hooks = self._exit_hooks
            if hooks is not None:
                self._exit_hooks = None
                for fn, arg in hooks:
                    fn(arg, self)
            j = self._joiners
            if j is not None:
                j.wake_all()


def describe_wait(obj: object) -> str:
    """What a parked thread waits on, in words (``dump()``, deadlock reports)."""
    owner = getattr(obj, "owner", None)
    kind = getattr(obj, "kind", None)
    if kind is not None:
        return f"{kind} {owner!r}" if owner is not None else str(kind)
    return repr(obj)


class _Sleep:
    """What a sleeping thread waits on: nothing but its timer."""

    __slots__ = ()
    kind = "sleep"
    owner = None

    def discard(self, thread) -> None:
        pass

    def __repr__(self) -> str:
        return "sleep"


_SLEEP = _Sleep()


# ---------------------------------------------------------------------------------------------
# The hub
# ---------------------------------------------------------------------------------------------

class Hub:
    """What every scheduler of one OS thread's green threads shares; the policy (``park``,
    ``wake``, ``yield_``, switching, the loop) is a subclass's: ``sched_fifo.FifoHub`` (the
    default) or ``sched_pth.PthHub``."""

    scheduler = "?"
    #: Whether ``wake`` is only "mark READY and append to ``ready``" (see ``sched_fifo``).
    wake_appends = False

    def __init__(self, poller: str = "epoll") -> None:
        self.os_thread = _get_ident()
        self.ready: deque = deque()
        self.timers = TimerHeap()
        self.poller = poller_class(poller)(self)
        self._idle: list = []
        self._live: dict = {}
        self._budget = 0
        self._foreign: deque = deque()
        self._foreign_pending = 0       # wakeups promised by other OS threads (pool jobs)
        self._wakefd = -1
        #: held while another OS thread enqueues and pokes, and while ``close`` closes the wake
        #: descriptor: the hub may run the call and close between the two (see call_threadsafe)
        self._wake_lock = _RLock()
        self.closed = False
        # counters for stats(): plain ints, so leaving them on costs an add each
        self.switches = 0
        self.spawns = 0
        self.polls = 0
        self.errors = 0
        self.greenlets_created = 0
        self.loops = 0
        self.now = monotonic()
        self.in_poll = False
        root = getcurrent()
        self.greenlet = greenlet(self._loop, root)
        main = Thread(name="MainThread")
        main._hub = self
        main._g = root
        main._state = RUNNING
        main._started = True
        self._live[main] = None
        self.main = main
        self.current = main

    # -- the single interface other modules use -------------------------------------------------

    def park(self, waitobj, timeout: float | None = None) -> bool:
        """Block the current thread until ``wake`` (True) or ``timeout`` expiry (False).

        ``waitobj`` is what it waits on; it must have ``discard(thread)``, which the hub calls
        when the timer fires or the thread is killed. Raises the kill exception, if any.
        Called by the current thread only. Each scheduler implements it (``sched_fifo``,
        ``sched_pth``), and records the wait's deadline (``monotonic()`` + ``timeout``, or None)
        in the thread's ``_deadline``, where it stays after the wait: a caller that waits again
        within the same time reads it instead of the clock (``socket.recv``).
        """
        raise NotImplementedError

    def wake(self, t: Thread, value: object = None) -> None:
        """Make the PARKED thread ``t`` runnable; its ``park`` returns True. O(1).

        The caller has already removed ``t`` from whatever it waited on.
        """
        raise NotImplementedError

    def yield_(self) -> None:
        """``sleep(0)``: let the other runnable threads run, then continue."""
        raise NotImplementedError

    # -- switching (the policy's half is the scheduler's: _switch_out, _loop) -------------------

    def _switch_out(self):
        """Leave the current thread for the next one (or the hub); returns what resumes it."""
        raise NotImplementedError

    def _loop(self, *_ignored) -> None:
        """The hub greenlet's body: poll for I/O, expire timers, run what is ready."""
        raise NotImplementedError

    def _resumed(self, t: Thread) -> None:
        """``t`` runs again after a yield or park: RUNNING, and raise a pending kill, if any."""
        t._state = RUNNING
        exc = t._throw
        if exc is not None:
            t._throw = None
            raise exc

    def _to_hub(self):
        g = self.greenlet
        if g.dead:  # the loop died (KeyboardInterrupt while polling): start a fresh one
            g = self.greenlet = greenlet(self._loop, g.parent)
        return g.switch()

    def _run(self, t: Thread):
        """Switch to thread ``t`` (from whichever greenlet is running now)."""
        g = t._g
        if g is not None:
            self.switches += 1
            self.current = t
            return g.switch()
        idle = self._idle
        if idle:
            g = idle.pop()          # it empties its context variables itself (_worker)
        elif getcurrent() is not self.greenlet:
            # A new greenlet inherits the recursion depth of the greenlet that starts it, so
            # starting one from a thread's stack, which was started from another's, ... would
            # grow without bound. Start new greenlets from the hub's shallow stack only.
            self.ready.appendleft(t)
            self._budget += 1
            return self._to_hub()
        else:
            g = greenlet(_worker, self.greenlet)
            self.greenlets_created += 1
            self.switches += 1
            self.current = t
            t._g = g
            return g.switch()              # a new worker starts: _worker() runs t
        self.switches += 1
        self.current = t
        t._g = g
        return g.switch(t)                 # an idle worker resumes in _worker's _switch_out

    def _unpark(self, t: Thread) -> None:
        """Take the PARKED thread ``t`` out of what it waits on, *not* woken (its timer fired
        or it is being killed): ``park`` will return False or raise. The caller schedules it."""
        w = t._waiting
        if w is not None:
            w.discard(t)
        t._woken = False
        t._waiting = None
        t._state = READY

    def _throw_into(self, t: Thread, exc: BaseException) -> None:
        """Arrange for ``exc`` to be raised in ``t`` at its next blocking point (kill)."""
        t._throw = exc
        if t._state is PARKED:
            self._unpark(t)
            self.ready.append(t)

    def _deadlock(self) -> None:
        """Nothing can ever wake a thread: raise ``Deadlock`` in the main thread."""
        main = self.main
        blocked = [(t.name, describe_wait(t._waiting), where_blocked(t)) for t in self._live
                   if t._state is PARKED]
        lines = "\n".join(f"  {n}: waiting on {w} at {where}" for n, w, where in blocked)
        msg = (f"deadlock: all {len(blocked)} threads are blocked and nothing can wake them "
               f"(no timers, no descriptors, no pending kernel-thread jobs):\n{lines}")
        if main._state is not PARKED:
            raise InternalError(f"hub idle but main thread is {main._state}\n{msg}")
        self._throw_into(main, Deadlock(msg, blocked))

    def _report(self, t: Thread, e: BaseException) -> None:
        """An exception ended thread ``t``: print it once; the hub keeps running."""
        self.errors += 1
        if isinstance(e, KeyboardInterrupt) and t is not self.main:
            self._throw_into(self.main, e)
            return
        hook = getattr(self, "excepthook", None)
        if hook is not None:
            hook(t, e)
            return
        print(f"Exception in green thread {t.name}:", file=sys.stderr)
        traceback.print_exception(type(e), e, e.__traceback__, file=sys.stderr)

    # -- other OS threads -----------------------------------------------------------------------

    def expect_foreign(self) -> None:
        """Promise that another OS thread will call ``call_threadsafe`` (keeps deadlock away)."""
        self._foreign_pending += 1
        if self._wakefd < 0:
            self._wakefd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            self.poller.add_callback_fd(self._wakefd, self._drain_wakefd)

    def call_threadsafe(self, fn, *args) -> None:
        """From any OS thread: run ``fn(*args)`` in the hub soon. It only enqueues and pokes.

        Raises ``HubError`` once the hub has closed (``fn`` would never run). The enqueue and
        the poke hold ``_wake_lock``, which ``close`` takes to close the wake descriptor: the
        hub can run ``fn`` the moment it is enqueued (it was awake anyway), return from ``run``
        and close, all before the poke; without the lock the poke would then write to a closed
        descriptor, or to whatever new one took its number."""
        if not self.in_poll and _get_ident() == self.os_thread:
            if self.closed:
                raise HubError(f"call_threadsafe({fn!r}): the hub has closed")
            self._foreign.append((fn, args))        # the hub's own thread: it will look
            return
        with self._wake_lock:
            if self.closed:
                raise HubError(f"call_threadsafe({fn!r}): the hub has closed")
            if self._wakefd < 0:
                raise HubError("call_threadsafe from another OS thread needs expect_foreign() "
                               "first (it makes the wake-up descriptor)")
            self._foreign.append((fn, args))
            os.eventfd_write(self._wakefd, 1)

    def _drain_wakefd(self) -> None:
        try:
            os.eventfd_read(self._wakefd)
        except BlockingIOError:
            pass

    def _run_foreign(self) -> None:
        foreign = self._foreign
        while foreign:
            fn, args = foreign.popleft()
            self._foreign_pending -= 1
            fn(*args)

    # -- lifecycle ------------------------------------------------------------------------------

    def close(self) -> None:
        """Release the poller and the wake descriptor; threads still parked are abandoned."""
        if self.closed:
            return
        with self._wake_lock:               # a poke in flight ends first (call_threadsafe),
            self.closed = True              # and none starts after this
        self.poller.close()
        if self._wakefd >= 0:
            os.close(self._wakefd)
            self._wakefd = -1
        self.ready.clear()
        self._idle.clear()
        if getattr(_tls, "hub", None) is self:
            set_hub(None)

    def __repr__(self) -> str:
        return (f"<Hub {self.scheduler}/{self.poller.name} threads={len(self._live)} "
                f"ready={len(self.ready)} timers={len(self.timers)} "
                f"fd_waiters={self.poller.waiting}>")


#: The runtime's source directory (the package's: a compiled hub's ``__file__`` is elsewhere).
_RUNTIME_DIR = os.path.dirname(sys.modules[__name__.rpartition(".")[0]].__file__)


def _worker() -> None:
    """Body of a worker greenlet: run threads one after the other, parking in between.

    Its first thread is the hub's ``current`` (``Hub._run`` sets it before the first switch).
    A plain function called without arguments, not a bound method of the hub called with the
    thread: greenlet starts ``run`` through ``PyObject_Call`` and holds its arguments until
    ``run`` returns, and a bound method adds C frames to that call, which every parked
    thread's saved stack then carries (``whyevents bench runtime --only memory``)."""
    hub = _tls.hub
    t = hub.current
    idle = hub._idle
    me = getcurrent()
    while True:
        t._bootstrap()
        if len(idle) >= IDLE_WORKERS:
            return              # the greenlet ends; control goes to the hub
        idle.append(me)
        t = None                # an idle worker must not keep its last thread alive
        t = hub._switch_out()
        if t is None or t.__class__ is tuple:
            raise InternalError(f"idle worker resumed with {t!r} instead of a thread")
        # A new thread starts with empty context variables. The worker clears its own:
        # greenlet refuses to set the context of a suspended greenlet that has no Python
        # frame on top (it takes it for running), which is what a worker parked in
        # compiled code is (the compiled build, whyevents.accel).
        me.gr_context = None


def where_blocked(t: Thread) -> str:
    """The innermost frame of ``t`` outside the runtime: where user code is blocked."""
    g = t._g
    frame = getattr(g, "gr_frame", None) if g is not None else None
    if g is getcurrent():
        frame = sys._getframe(1)
    here = _RUNTIME_DIR
    while frame is not None and os.path.dirname(frame.f_code.co_filename) == here:
        frame = frame.f_back
    if frame is None:
        return "?"
    return f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"


# ---------------------------------------------------------------------------------------------
# Module-level API
# ---------------------------------------------------------------------------------------------

def spawn(fn, *args, **kwargs) -> Thread:
    """Start ``fn(*args, **kwargs)`` in a new green thread and return it."""
    t = Thread(target=fn, args=args, kwargs=kwargs or None)
    return t.start()


def sleep(seconds: float = 0) -> None:
    """Block the current thread for ``seconds``; ``sleep(0)`` yields to the other threads."""
    hub = getattr(_tls, "hub", None) or get_hub()
    if seconds <= 0:
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        hub.yield_()
        return
    hub.park(_SLEEP, seconds)


def add_exit_hook(t: Thread, fn, arg) -> None:
    """Call ``fn(arg, t)`` when green thread ``t`` ends (after ``run``, before its joiners wake).

    For per-thread state kept outside the thread (``local``'s attributes). Hooks run in ``t``;
    they must neither raise nor block.
    """
    hooks = t._exit_hooks
    if hooks is None:
        t._exit_hooks = [(fn, arg)]
    else:
        hooks.append((fn, arg))


def wake_from_thread(hub: Hub, t: Thread, value: object = None) -> None:
    """From another OS thread: wake ``t`` (parked on ``hub``) with ``value``."""
    hub.call_threadsafe(_wake_if_parked, hub, t, value)


def _wake_if_parked(hub: Hub, t: Thread, value: object) -> None:
    if t._state is PARKED:
        w = t._waiting
        if w is not None:
            w.discard(t)
        hub.wake(t, value)


def run(main, *args, scheduler: str = "fifo", poller: str = "epoll", **kwargs):
    """Run ``main(*args, **kwargs)`` as the main green thread of a new hub; return its result.

    Other threads still alive when ``main`` returns are abandoned (like daemon threads). Raises
    ``Deadlock`` if ``main`` blocks and nothing can ever wake it, and whatever ``main`` raises.
    """
    check_poller(poller)
    check_scheduler(scheduler)
    old = getattr(_tls, "hub", None)
    if old is not None and not old.closed:
        if old.current is not old.main or len(old._live) > 1:
            raise HubError("run() called while this OS thread's hub is running threads; "
                           "use spawn() instead")
        old.close()
    hub = make_hub(scheduler, poller)
    set_hub(hub)
    try:
        return main(*args, **kwargs)
    finally:
        hub.close()
        set_hub(None)
