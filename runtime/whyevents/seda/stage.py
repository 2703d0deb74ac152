"""A SEDA stage: a bounded event queue drained in batches by a small pool of kernel threads.

SEDA (Welsh, Culler and Brewer, SOSP 2001, section 3) builds a service from *stages*: each owns
an incoming event queue, an event handler, and a thread pool whose threads loop "dequeue a batch,
call the handler on it". Stages talk only by enqueuing events on each other's queues, so every
queue is explicit: its length can be read (the paper's section 6 asks for exactly this visibility)
and bounded, and a full queue is the signal for admission control: the caller is told and decides
what to do (SEDA's "queue threshold": reject, degrade, or redirect).

    def handler(events):                         # a batch, in arrival order
        for e in events: ...
    parse = Stage("HttpParse", handler, threads=2, queue_capacity=1024, batch_size=32)
    if not parse.enqueue(event):                 # or parse.put(event), which raises QueueFull
        reject(event)                            # admission control is the caller's choice
    parse.stats()   # queue_length, max_queue_length, events, batches, busy_s, threads, ...
    parse.stop()    # drains the queue, joins the threads, returns the final stats

Theory of operation
-------------------
One mutex guards the queue (a ``deque``) and every counter. An idle worker parks on its own
binary lock (held while it sleeps, released by whoever wakes it), pushed on an idle stack: the
most recently idle thread is woken first, as its cache is warmest. ``enqueue`` wakes a worker only
when the events waiting exceed what the workers already being woken will take (one batch each),
so a burst of N events costs about N / batch_size wake-ups rather than N. A worker takes up to
``batch_size`` events at once (SEDA's *batching factor*: fewer queue operations and better locality
per event) and runs the handler outside the mutex; several workers of one stage run handlers
concurrently, so a handler must be thread-safe unless ``threads == 1``. With one thread a stage
sees its events exactly in enqueue order.

Invariants (under the mutex): ``len(queue) <= capacity``; each parked worker's lock is in
``_idle`` exactly once; ``_waking`` counts workers released but not yet back under the mutex.

Why raw ``_thread`` primitives. The stage must run on real kernel threads (SEDA ran on Java
threads) even in a process where ``whyevents.threads.monkey.patch_all()`` has made ``threading``
and ``queue`` green: ``threading.Condition`` looks ``RLock``/``_allocate_lock`` up in the module at
call time, so even a ``Condition`` class captured early would build green locks. This module
captures ``_thread.start_new_thread``/``allocate_lock``/``get_ident`` at import (from
``monkey.get_original`` if it was imported after patching), and builds its queue from a ``deque``,
one lock, and per-worker locks, nothing else.

What differs from SEDA's Sandstorm: pools have a fixed size and batches a fixed bound, where
Sandstorm's resource controllers resized thread pools (``threadPool.sizeController``) and tuned the
batching factor at run time; fixed values keep the benchmark's configuration what it says it is.
A handler that raises is reported (``on_error`` or stderr) and counted; the thread carries on.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable

from ..server_common import wait_thread_gone
from ..threads.originals import original

__all__ = ["Stage", "QueueFull", "StageStopped", "DEFAULT_CAPACITY", "DEFAULT_BATCH"]

#: Events a stage's queue holds when nobody says otherwise.
DEFAULT_CAPACITY = 4096
#: Events one worker takes from the queue at once (SEDA's batching factor).
DEFAULT_BATCH = 32


_start_new_thread = original("_thread", "start_new_thread")
_allocate_lock = original("_thread", "allocate_lock")
_get_ident = original("_thread", "get_ident")
_get_native_id = original("_thread", "get_native_id")
_perf_counter = time.perf_counter


class QueueFull(Exception):
    """A stage's queue is at capacity: the event was not admitted (SEDA's admission control)."""

    def __init__(self, stage: str, capacity: int) -> None:
        super().__init__(f"stage {stage!r}: queue full ({capacity} events); event rejected")
        self.stage = stage
        self.capacity = capacity


class StageStopped(QueueFull):
    """The stage is stopping or stopped and admits no more events."""

    def __init__(self, stage: str, capacity: int) -> None:
        Exception.__init__(self, f"stage {stage!r} is stopped; event rejected")
        self.stage = stage
        self.capacity = capacity


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}={value!r}: must be an integer >= {minimum}")
    return value


class Stage:
    """A named event handler behind a bounded queue, run by ``threads`` kernel threads.

    ``handler(events)`` receives a non-empty list of at most ``batch_size`` events. ``enqueue``
    (returns False) and ``put`` (raises ``QueueFull``) refuse events once ``queue_capacity`` are
    waiting or after ``stop()`` began. ``on_error(events, exc)``, if given, is called when the
    handler raises; otherwise the traceback goes to stderr.
    """

    def __init__(self, name: str, handler: Callable[[list], object], threads: int = 1,
                 queue_capacity: int = DEFAULT_CAPACITY, batch_size: int = DEFAULT_BATCH, *,
                 on_error: Callable[[list, BaseException], object] | None = None,
                 start: bool = True) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"name={name!r}: must be a non-empty string")
        if not callable(handler):
            raise ValueError(f"handler={handler!r}: must be callable with a list of events")
        self.name = name
        self.handler = handler
        self.threads = _check_int("threads", threads, 1)
        self.capacity = _check_int("queue_capacity", queue_capacity, 1)
        self.batch_size = _check_int("batch_size", batch_size, 1)
        self.on_error = on_error
        self._queue: deque = deque()
        self._mutex = _allocate_lock()
        self._idle: list = []          # parked workers' wake locks, most recently idle last
        self._waking = 0               # workers released but not yet back under the mutex
        self._accepting = True
        self._stopping = False
        self._started = False
        self._workers: list = []       # one "done" lock per worker, released when it exits
        self._idents: set[int] = set()
        self._native_ids: list[int] = []  # the workers' OS thread ids, to wait for their exit
        self.alive = 0
        # Counters (under the mutex).
        self.enqueued = 0
        self.rejected = 0
        self.events = 0
        self.batches = 0
        self.errors = 0
        self.dropped = 0
        self.max_queue = 0
        self.busy_s = 0.0
        if start:
            self.start()

    # -- life cycle --------------------------------------------------------------------------------

    def start(self) -> Stage:
        """Start the worker threads (done by the constructor unless ``start=False``)."""
        with self._mutex:
            if self._started:
                return self
            self._started = True
        for _ in range(self.threads):
            wake = _allocate_lock()
            wake.acquire()
            done = _allocate_lock()
            done.acquire()
            self._workers.append(done)
            with self._mutex:
                self.alive += 1
            try:
                _start_new_thread(self._work, (wake, done))
            except BaseException:
                with self._mutex:
                    self.alive -= 1
                done.release()
                raise
        return self

    def stop(self, drain: bool = True, timeout: float | None = 10.0) -> dict:
        """Admit no more events, finish (``drain``) or drop the queue, join the threads.

        Returns the final ``stats()``. Raises ``TimeoutError`` if a handler is still running
        after ``timeout`` seconds. Safe to call twice, and from one of this stage's own handlers
        (that thread is then not waited for: it exits when its handler returns).
        """
        with self._mutex:
            self._accepting = False
            self._stopping = True
            if not drain:
                self.dropped += len(self._queue)
                self._queue.clear()
            idle, self._idle = self._idle, []
            self._waking += len(idle)
            for wake in idle:
                wake.release()
        me = _get_ident()
        deadline = None if timeout is None else time.monotonic() + timeout
        if me not in self._idents:
            for done in self._workers:
                left = -1 if deadline is None else max(0.0, deadline - time.monotonic())
                if not done.acquire(True, left):
                    raise TimeoutError(f"stage {self.name!r}: {self.alive} of {self.threads} "
                                       f"threads still running after {timeout} s")
                done.release()
            # joined is not yet exited: let the threads' OS exits finish, so that a count of the
            # process's threads taken after stop() does not still see them
            end = time.monotonic() + 1.0 if deadline is None else deadline
            for tid in list(self._native_ids):
                wait_thread_gone(tid, end)
        return self.stats()

    # -- admission ---------------------------------------------------------------------------------

    def enqueue(self, event: object) -> bool:
        """Admit ``event`` if there is room; False (and counted as rejected) if not."""
        with self._mutex:
            queue = self._queue
            if len(queue) >= self.capacity or not self._accepting:
                self.rejected += 1
                return False
            queue.append(event)
            self.enqueued += 1
            n = len(queue)
            if n > self.max_queue:
                self.max_queue = n
            if self._idle and n > self._waking * self.batch_size:
                self._idle.pop().release()
                self._waking += 1
        return True

    def enqueue_many(self, events: Iterable[object]) -> int:
        """Admit events in order while there is room; returns how many were admitted.

        One lock round trip for the lot: the upstream stage of a batch hands on its output in
        one go. Events past the returned count were rejected (and counted as such).
        """
        events = events if isinstance(events, list) else list(events)
        with self._mutex:
            queue = self._queue
            room = self.capacity - len(queue) if self._accepting else 0
            n = len(events)
            if n <= room:
                queue.extend(events)
                taken = n
            else:
                taken = max(room, 0)
                queue.extend(events[:taken])
                self.rejected += n - taken
            self.enqueued += taken
            length = len(queue)
            if length > self.max_queue:
                self.max_queue = length
            self._wake_locked(length)
        return taken

    def put(self, event: object) -> None:
        """``enqueue``, raising ``QueueFull`` (``StageStopped`` once stopping) instead of False."""
        if not self.enqueue(event):
            if not self._accepting:
                raise StageStopped(self.name, self.capacity)
            raise QueueFull(self.name, self.capacity)

    def _wake_locked(self, length: int) -> None:
        # Enough workers for one batch each of what is waiting (ceil), minus those on their way.
        idle = self._idle
        need = -(-length // self.batch_size) - self._waking
        while need > 0 and idle:
            idle.pop().release()
            self._waking += 1
            need -= 1

    # -- the worker loop ---------------------------------------------------------------------------

    def _work(self, wake, done) -> None:
        ident = _get_ident()
        self._native_ids.append(_get_native_id())
        mutex = self._mutex
        queue = self._queue
        handler = self.handler
        batch_size = self.batch_size
        busy = 0.0
        woken = False
        failed = 0
        with mutex:
            self._idents.add(ident)
        try:
            while True:
                with mutex:
                    self.busy_s += busy
                    self.errors += failed
                    busy = 0.0
                    failed = 0
                    if woken:
                        self._waking -= 1
                        woken = False
                    n = len(queue)
                    if n:
                        if n <= batch_size:
                            batch = list(queue)
                            queue.clear()
                        else:
                            popleft = queue.popleft
                            batch = [popleft() for _ in range(batch_size)]
                            self._wake_locked(n - batch_size)
                        self.events += len(batch)
                        self.batches += 1
                    elif self._stopping:
                        break
                    else:
                        self._idle.append(wake)
                        batch = None
                if batch is None:
                    wake.acquire()          # parked until enqueue or stop releases it
                    woken = True
                    continue
                t0 = _perf_counter()
                try:
                    handler(batch)
                except BaseException as exc:  # noqa: BLE001 - a stage outlives a bad event
                    failed = 1
                    self._report(batch, exc)
                busy = _perf_counter() - t0
                batch = None
        finally:
            with mutex:
                self.busy_s += busy
                self.errors += failed
                self.alive -= 1
                self._idents.discard(ident)
            done.release()

    def _report(self, batch: list, exc: BaseException) -> None:
        if self.on_error is not None:
            try:
                self.on_error(batch, exc)
                return
            except BaseException:  # noqa: BLE001 - fall through to stderr
                pass
        print(f"stage {self.name!r}: handler raised on a batch of {len(batch)} events:",
              file=sys.stderr)
        traceback.print_exception(exc, file=sys.stderr)

    # -- observation -------------------------------------------------------------------------------

    @property
    def queue_length(self) -> int:
        """Events waiting now."""
        return len(self._queue)

    def stats(self) -> dict:
        """Counters and occupancy, as plain numbers (one consistent snapshot)."""
        with self._mutex:
            return {
                "name": self.name,
                "threads": self.threads,
                "threads_alive": self.alive,
                "threads_idle": len(self._idle),
                "queue_length": len(self._queue),
                "max_queue_length": self.max_queue,
                "capacity": self.capacity,
                "batch_size": self.batch_size,
                "enqueued": self.enqueued,
                "rejected": self.rejected,
                "events": self.events,
                "batches": self.batches,
                "errors": self.errors,
                "dropped": self.dropped,
                "busy_s": round(self.busy_s, 6),
            }

    def __repr__(self) -> str:
        return (f"<Stage {self.name} {self.threads} threads, queue {len(self._queue)}/"
                f"{self.capacity}, {self.events} events>")
