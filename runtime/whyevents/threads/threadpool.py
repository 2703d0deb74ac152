"""A small pool of kernel threads for calls that would block the hub: ``blocking(fn, *args)``.

Why it exists. A green thread that makes a blocking system call the runtime cannot make
cooperative (a ``pread`` that misses the page cache, ``getaddrinfo``, ``open`` on a slow disk, a C
extension) stops every green thread of its hub. ``blocking(fn, *args, **kwargs)`` runs ``fn`` in one
of a few kernel threads instead and parks only the caller, which resumes with ``fn``'s value or
with its exception re-raised. This is Capriccio's answer for disk I/O, and the paper's §5.

How completion reaches the hub: threads only enqueue and poke (curio's ``wake()`` rule). A pool
thread never touches the hub's run queue, timers or poller; it calls ``hub.call_threadsafe``,
which appends to a deque and writes the hub's eventfd. ``_complete`` then runs in the hub's own OS
thread and wakes the green thread. Before submitting, the caller calls ``hub.expect_foreign()``:
while a job is out, the hub knows an outside wake-up is coming and does not declare ``Deadlock``;
each ``expect_foreign`` is paired with exactly one ``call_threadsafe``, even for abandoned jobs.

Kill while waiting. The waiting green thread parks on its ``_Job``; a kill makes the hub call
``job.discard(thread)``, which clears ``job.waiter``. The thread gets the kill at once; the kernel
thread cannot be interrupted and finishes the call, and ``_complete`` drops its result (counted as
``abandoned``). ``_complete`` also checks that the thread is still PARKED on this very job, so a
late result can never wake a thread that has moved on to wait for something else.

Kernel-thread machinery is captured at import time (``_thread.start_new_thread``,
``_thread.allocate_lock`` and the C ``_queue.SimpleQueue``, whose ``get`` blocks on a real OS lock)
because ``monkey.patch_all()`` may later replace ``threading`` and ``queue`` with green versions;
if this module is first imported after ``monkey`` patched ``_thread`` (its ``patch_socket``
imports ``socket``, which imports this), the originals come from ``monkey.get_original``.
Pool threads are started lazily, at most ``size`` (default 4), only when more jobs are
unfinished than there are threads; they are daemonic (``_thread`` threads are never joined at
exit), so they never keep the process alive. Called from inside a pool thread, ``blocking`` just
calls ``fn`` (a nested submit could deadlock a full pool).

Cost: a ``blocking(len, b"")`` round trip (two OS-thread hand-offs and a wake-up through the
poller) costs many times a page-cache hit of ``preadv(RWF_NOWAIT)`` (one system call): hence
``fileio`` tries that first. ``timeit`` both inside ``threads.run`` to see the ratio here.
"""

from __future__ import annotations

import os
from _queue import SimpleQueue as _SimpleQueue

from .errors import HubError
from .hub import PARKED, get_hub
from .originals import original

__all__ = ["ThreadPool", "blocking", "get_pool", "configure", "shutdown", "stats",
           "in_pool_thread", "DEFAULT_SIZE"]

#: Pool threads when nobody says otherwise.
DEFAULT_SIZE = 4

# -- originals, captured before anyone can monkey-patch them -----------------------------------


_start_new_thread = original("_thread", "start_new_thread")
_allocate_lock = original("_thread", "allocate_lock")
_get_ident = original("_thread", "get_ident")

#: Idents of all pool threads (of every pool): ``blocking`` called there runs inline.
_pool_threads: set[int] = set()


def in_pool_thread() -> bool:
    """True when called from one of the pool's kernel threads."""
    return _get_ident() in _pool_threads


# ---------------------------------------------------------------------------------------------
# Jobs
# ---------------------------------------------------------------------------------------------

class _Job:
    """One call handed to the pool; also what the waiting green thread is parked on."""

    __slots__ = ("fn", "args", "kwargs", "hub", "waiter", "pool", "ok", "value")

    kind = "blocking"       # for stats()' waiters-by-kind and dump()

    def __init__(self, fn, args, kwargs, hub, waiter, pool) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.hub = hub
        self.waiter = waiter    # the parked green thread; None once it stopped waiting
        self.pool = pool
        self.ok = False
        self.value = None       # fn's result, or the exception it raised

    @property
    def owner(self):
        return getattr(self.fn, "__qualname__", self.fn)

    def discard(self, thread) -> None:
        """Hub: the waiter was killed; its result will be dropped when it arrives."""
        self.waiter = None

    def __repr__(self) -> str:
        return f"<blocking job {self.owner}>"


def _complete(job: _Job) -> None:
    """Runs in the hub's OS thread (via ``call_threadsafe``): hand the result to its waiter."""
    pool = job.pool
    t = job.waiter
    if t is None or t._state is not PARKED or t._waiting is not job:
        job.value = None            # nobody waits for it any more: drop it (no leak)
        pool.abandoned += 1
        return
    job.waiter = None
    pool.completed += 1
    t._hub.wake(t)


# ---------------------------------------------------------------------------------------------
# The pool
# ---------------------------------------------------------------------------------------------

class ThreadPool:
    """``size`` kernel threads, started on demand, running ``blocking`` jobs in FIFO order.

    Counters (``stats()``): ``submitted``, ``started`` and ``finished`` (by pool threads),
    ``completed`` (results delivered to their green thread), ``abandoned`` (results dropped because
    the waiter was killed), ``queued`` (submitted, not yet started), ``running`` and ``threads``.
    """

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        if size < 1:
            raise ValueError("a thread pool needs at least one thread")
        self.size = size
        self._lock = _allocate_lock()     # guards the counters pool threads also update
        self._q = _SimpleQueue()
        self._nthreads = 0
        self._exits: list = []            # one held lock per live thread, released at its exit
        self.submitted = 0
        self.started = 0
        self.finished = 0
        self.completed = 0
        self.abandoned = 0

    # -- from green threads ----------------------------------------------------------------------

    def blocking(self, fn, *args, **kwargs):
        """Run ``fn(*args, **kwargs)`` in a pool thread; park the caller until it returns.

        Returns ``fn``'s value or re-raises its exception in the calling green thread. A kill
        reaches the caller at once; ``fn`` keeps running in its kernel thread and its result is
        dropped. From a pool thread itself, ``fn`` is simply called.
        """
        if _get_ident() in _pool_threads:
            return fn(*args, **kwargs)
        hub = get_hub()
        job = _Job(fn, args, kwargs, hub, hub.current, self)
        hub.expect_foreign()
        try:
            self._submit(job)
        except BaseException:
            hub._foreign_pending -= 1     # the promised wake-up will never come
            raise
        hub.park(job)
        if job.ok:
            return job.value
        exc = job.value
        job.value = None
        try:
            raise exc
        finally:
            exc = None                    # no frame -> traceback -> exception cycle

    def _submit(self, job: _Job) -> None:
        with self._lock:
            self.submitted += 1
            q = self._q
            start = self._nthreads < self.size and \
                self._nthreads < self.submitted - self.finished
            if start:
                self._nthreads += 1
                done = _allocate_lock()
                done.acquire()
                self._exits.append(done)
        q.put(job)
        if start:
            try:
                _start_new_thread(self._worker, (q, done))
            except BaseException:
                with self._lock:
                    self._nthreads -= 1
                    self._exits.remove(done)
                if self._nthreads == 0:
                    job.fn = None         # cancelled: a later pool thread skips it
                    raise                 # nobody could run it now

    # -- in pool threads -------------------------------------------------------------------------

    def _worker(self, q, done) -> None:
        ident = _get_ident()
        _pool_threads.add(ident)
        lock = self._lock
        try:
            while True:
                job = q.get()
                if job is None:
                    return
                with lock:
                    self.started += 1
                if job.fn is None:        # cancelled before it started (see _submit)
                    with lock:
                        self.finished += 1
                    continue
                kwargs = job.kwargs
                try:
                    job.value = job.fn(*job.args, **kwargs) if kwargs else job.fn(*job.args)
                    job.ok = True
                except BaseException as e:   # noqa: BLE001 - re-raised in the green thread
                    job.value = e
                job.fn = job.args = job.kwargs = None
                with lock:
                    self.finished += 1
                hub = job.hub
                try:
                    hub.call_threadsafe(_complete, job)
                except HubError:
                    pass                  # its run() returned: nobody to tell
                job = hub = None
        finally:
            _pool_threads.discard(ident)
            done.release()

    # -- management ------------------------------------------------------------------------------

    def resize(self, size: int) -> None:
        """Change the maximum number of threads; surplus threads exit after the queued jobs."""
        if size < 1:
            raise ValueError("a thread pool needs at least one thread")
        with self._lock:
            self.size = size
            surplus = self._nthreads - size
            if surplus > 0:
                self._nthreads = size
        for _ in range(max(surplus, 0)):
            self._q.put(None)

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> bool:
        """Stop the threads after the jobs already queued; later jobs start fresh threads.

        With ``wait``, block this OS thread (not just the green thread: call it outside the hot
        path) until they have exited or ``timeout`` passes; returns whether all exited.
        """
        with self._lock:
            q, n, exits = self._q, self._nthreads, self._exits
            self._q = _SimpleQueue()
            self._nthreads = 0
            self._exits = []
        for _ in range(n):
            q.put(None)
        if not wait:
            return True
        ok = True
        for done in exits:
            if done.acquire(True, -1 if timeout is None else timeout):
                done.release()
            else:
                ok = False
        return ok

    def stats(self) -> dict:
        return {
            "size": self.size,
            "threads": self._nthreads,
            "submitted": self.submitted,
            "started": self.started,
            "finished": self.finished,
            "completed": self.completed,
            "abandoned": self.abandoned,
            "queued": self.submitted - self.started,
            "running": self.started - self.finished,
        }

    def __repr__(self) -> str:
        s = self.stats()
        return (f"<ThreadPool size={s['size']} threads={s['threads']} queued={s['queued']} "
                f"running={s['running']}>")

    def _after_fork(self) -> None:
        self._lock = _allocate_lock()
        self._q = _SimpleQueue()
        self._nthreads = 0
        self._exits = []


# ---------------------------------------------------------------------------------------------
# The default pool and module-level API
# ---------------------------------------------------------------------------------------------

_default = ThreadPool(DEFAULT_SIZE)


def get_pool() -> ThreadPool:
    """The process-wide pool that ``blocking`` uses."""
    return _default


def configure(size: int = DEFAULT_SIZE) -> ThreadPool:
    """Set the default pool's size (threads are still started lazily)."""
    _default.resize(size)
    return _default


def blocking(fn, *args, **kwargs):
    """Run ``fn(*args, **kwargs)`` in the default pool, parking only the calling green thread."""
    if _get_ident() in _pool_threads:
        return fn(*args, **kwargs)
    return _default.blocking(fn, *args, **kwargs)


def shutdown(wait: bool = True, timeout: float | None = None) -> bool:
    """Stop the default pool's threads (it restarts lazily on the next job)."""
    return _default.shutdown(wait, timeout)


def stats() -> dict:
    """The default pool's counters (``debug.stats()`` includes them under "pool")."""
    return _default.stats()


if hasattr(os, "register_at_fork"):
    # A forked child has none of the parent's pool threads: start from an empty pool.
    os.register_at_fork(after_in_child=_default._after_fork)

