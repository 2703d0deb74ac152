"""The subprocess side of the task-pipeline experiment (``whyevents.experiments.pipeline``).

One process measures one (backend, scheduler, tasks) point and writes one JSON result, then leaves
with ``os._exit`` (tens of thousands of parked threads need no orderly teardown, and kernel
threads blocked on events would otherwise keep the process alive). It imports only what the
point measures: gevent only for gevent, the green-thread runtime only for ``whyevents``.

Why the workload is shaped this way (SEDA's threaded-server benchmark, HotOS 2003 Figure 2):

* **Closed loop, N tasks in flight, generated in the process.** A dispatcher issues N tasks at
  the start; each completion it receives makes it issue one new task, so N are always issued and
  not yet completed. A task is one 8 KiB read of one page-cached file (offsets cycle through the
  file).
* **A thread per task** (the threaded server): N worker threads, each parked on its own channel
  (an ``Event``). The dispatcher hands a task to a worker by setting its event; the worker does the
  read, sends ``(slot, finish time, bytes read)`` to the dispatcher's queue and parks again. So
  every task costs one park and one wake of its worker, and one wake of the dispatcher per batch:
  the scheduler is on the path of every task. With N tasks in flight most workers are parked at
  any moment (waiting for the dispatcher to hand them the next task), so a scheduler that walks
  its waiting threads on every switch (``scheduler="pth"``, GNU Pth's event manager) pays O(N)
  per task, while the ``fifo`` hub pays O(1).
* **The event server** runs the same pipeline with no threads: one loop pulls events from a deque
  and calls their handlers. ``serve(task)`` reads and posts ``complete``; ``complete`` records the
  task and posts the next task's ``serve``: the same two steps (read, then issue the next task)
  as the worker and the dispatcher, as an event-driven server would stage them.
* **Kernel threads** run the same threaded program with ``threading.Event`` and ``queue.Queue``;
  starting the N threads may fail (pid or memory limits), which is a result, not an error.
* **Peers** (gevent, asyncio) run the threaded program in their own idiom (greenlets or tasks,
  their ``Event`` and ``Queue``).
* **The substrate floor** (``greenlet``, module ``pipeline_greenlet``): the threaded program on
  raw greenlet with the least scheduler that runs it (a ready deque, one-slot ``Event`` and
  ``Queue`` waiters, a park that switches straight to the next ready greenlet): what no greenlet
  runtime can go below, so the gap between green threads and events splits into the runtime's
  share (fifo / greenlet) and the substrate's (greenlet / event).
* **Compiler-transformed threads** (``coro``): the threaded program with ``async def`` workers
  on ``threads.coro`` (a ready deque, ``send()``, waiters moved in O(1); no futures), reading as
  the event server does.

Reads: ``whyevents`` uses the runtime's disk path (``fileio.pread``: ``preadv(RWF_NOWAIT)``, the
kernel-thread pool only on a page-cache miss); the event server does the same non-blocking read
itself (``os.pread`` on a miss, counted); kernel threads and the peers call ``os.pread``, which on
a cached file does not block (their thread-pool file APIs cost a round trip to another OS thread
per read and would measure the pool, not the scheduler: see ``whyevents bench runtime``'s
``read``).

Measurement: the dispatcher (the process's main thread, or the event server's ``complete`` handler)
sees every completion, so it keeps the books and opens and closes the window on completion times;
no timer thread is involved (under ``pth`` a sleeping thread can get the CPU a whole round of N
switches late). After the N tasks are issued, a warm-up lasts ``warmup_s`` and at least
``warmup_rounds`` x N completions (a fraction is allowed); then completions are counted over at
least ``window_s`` of wall time and at least ``window_rounds`` x N completions, and the window
closes on a whole number of rounds (a multiple of N completions), with process CPU time over the
same window; then the dispatcher returns and the parked workers are abandoned. Why whole rounds:
under ``pth`` the completion rate is periodic with a period of one round (the dispatcher wakes a
batch of workers, the event manager's walk is short while they are ready and long when all wait
again: at 10,000 tasks the rate falls several-fold across each round), so a window of
a fraction of a round measures whichever part of the period it fell on, while a window of whole
rounds measures the period's mean wherever it starts. So the warm-up need not end on a round:
windows of exactly N completions started at different fractions of a round give the same rate
within the run's noise (the first round after seeding alone runs a little slow, which the warm-up
covers); a pth point's rows over ``reps`` show that noise (``whyevents run pipeline -p
backends=pth -p tasks=10000``). Under ``pth`` the warm-up lasts about a round-time whatever its
count: the dispatcher, queued behind the N workers that seeding made ready, first sees
completions a round-time after the seeding (each row records both: ``warmup_s_actual``,
``measured_s``). Latency is each task's time from issue to the end of its read, for the tasks
completed in the window. With ``tasks_total`` > 0 the run instead issues exactly that many tasks
and measures from the first issue to the last completion (used by the tests to compare
schedulers task for task).

Paired, time-sliced measurement (``pairing`` in ``pipeline``; issue 21): when the spec names a
``pair_counter`` file, the Meter is a ``SlicedMeter``. It publishes its running completion count
and its phase (1 once the warm-up is over) in that file, mapped into memory: one store into a
shared integer per completion, no system call, so the parent can read the count at any moment.
The window does not close by itself: the parent stops and continues the processes of a group in
turn on one core (SIGSTOP / SIGCONT), reads each one's count at the edges of its slices, and ends
the window with SIGUSR1. The parent's per-slice rates are the row's throughput; the worker's own
window figures (CPU time, scheduler counters) still cover its whole window, and its latencies
are those of the tasks issued and completed within one slice (``SlicedMeter``).

Protocol: ``python -c "from whyevents.experiments.pipeline_worker import main; main()" SPEC``
where SPEC is JSON (point, parameters, file path, output path, CPU). The result is written to
the output path; a crash or timeout leaves no file and the parent records a failed row.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import json
import mmap
import os
import signal
import sys
import traceback
from collections import deque
from time import perf_counter, process_time

__all__ = ["main", "run_point", "percentiles", "WorkloadFailed", "Skipped", "Meter", "Lib",
           "threaded", "whyevents_lib", "BACKENDS", "SlicedMeter", "ROUND_RING", "ROUND_RING_AT",
           "SLICED_MAP_BYTES"]

_RWF_NOWAIT = getattr(os, "RWF_NOWAIT", 0)


class WorkloadFailed(Exception):
    """The point could not run (the OS refused threads...): a failed row, with this message."""


class Skipped(Exception):
    """The point cannot run here (a peer's module is missing): a skipped row."""


class Meter:
    """The dispatcher's bookkeeping: counts, bytes, latencies and the measurement window.

    Only the dispatcher (one thread, or the event loop's ``complete`` handler) calls
    ``complete``, so the counts are exact even on kernel threads. It decides when to open and
    close the window from the completions' own timestamps (no clock read per task) and stamps
    each transition with the clock and the CPU time as it happens, so the count, the elapsed time
    and the CPU time cover the same interval. The warm-up lasts at least ``warmup_rounds`` x N
    completions (a fraction allowed) as well as a time; the window lasts at least
    ``window_rounds`` x N completions and a time, and closes on a whole number of *rounds* (N
    completions each) when ``window_rounds`` > 0: under a scheduler whose completion rate varies
    within a round (``pth``: fast while few workers wait, slow when all do) whole rounds measure
    the period's mean wherever they start, and a part of a round would not.

    ``snapshot`` (optional) is called as the window opens and as it closes, each time right
    beside the clock and CPU-time stamps; what it returns at both edges, when not None, becomes
    the row's scheduler counters (``sched``): the whyevents backend reads its hub's counters
    there, and ``benchmarks/overhead.py`` turns its call counter on and off there, so that it
    counts the window of this very loop.
    """

    __slots__ = ("rb", "total", "warm_target", "warmup_s", "window_s", "snapshot", "completed",
                 "issued", "bytes", "short", "rec", "lats", "seq", "phase", "over", "t_seeded",
                 "window_target", "n", "whole",
                 "t0", "t1", "c0", "c1", "cpu0", "cpu1", "s0", "s1")

    def __new__(cls, n: int, spec: dict, snapshot=None):
        # a paired point (``pair_counter`` in the spec) gets the sliced meter, whatever backend
        # builds it: the backends construct ``Meter`` and need not know
        if cls is Meter and spec.get("pair_counter"):
            cls = SlicedMeter
        return object.__new__(cls)

    def __init__(self, n: int, spec: dict, snapshot=None) -> None:
        self.rb = spec["read_bytes"]
        self.total = spec["tasks_total"]
        self.n = n
        self.warm_target = int(n * spec["warmup_rounds"])
        self.window_target = max(1, n * spec["window_rounds"])
        self.whole = spec["window_rounds"] > 0      # close on a multiple of n completions
        self.warmup_s = spec["warmup_s"]
        self.window_s = spec["window_s"]
        self.snapshot = snapshot
        self.completed = self.issued = self.bytes = self.short = self.seq = 0
        self.rec = False
        self.lats: list[float] = []
        self.phase = 0                     # 0 warm-up, 1 window open, 2 closed
        self.over = False
        self.t_seeded = self.t0 = self.t1 = self.cpu0 = self.cpu1 = 0.0
        self.c0 = self.c1 = 0
        self.s0 = self.s1 = None

    def seeded(self) -> None:
        """The first tasks are issued; in count mode the window is the whole run from here."""
        self.t_seeded = perf_counter()
        if self.total:
            self._open()

    def _open(self) -> None:
        self.phase = 1
        self.c0, self.cpu0 = self.completed, process_time()
        self.s0 = self.snapshot() if self.snapshot else None
        self.t0 = perf_counter()
        self.rec = True

    def _close(self) -> None:
        self.t1 = perf_counter()
        self.phase = 2
        self.over = True
        self.rec = False
        self.c1, self.cpu1 = self.completed, process_time()
        self.s1 = self.snapshot() if self.snapshot else None

    def complete(self, t_start: float, t_done: float, nb: int) -> bool:
        """Account one completion; True if the dispatcher should issue a new task."""
        self.completed += 1
        self.bytes += nb
        if nb != self.rb:
            self.short += 1
        if self.rec:
            self.lats.append(t_done - t_start)
        if self.total:
            if self.completed >= self.total:
                self._close()
                return False
            return self.issued < self.total
        if self.phase == 0:
            if self.completed >= self.warm_target and t_done - self.t_seeded >= self.warmup_s:
                self._open()
        elif (t_done - self.t0 >= self.window_s
              and self.completed - self.c0 >= self.window_target
              and (not self.whole or (self.completed - self.c0) % self.n == 0)):
            self._close()
            return False
        return True

    def result(self, t_begin: float, threads_started: int) -> dict:
        """The raw figures (``_summarize`` turns them into the row's columns)."""
        out = {"startup_s": self.t_seeded - t_begin, "threads_started": threads_started,
               "completed": self.c1 - self.c0, "elapsed_s": self.t1 - self.t0,
               "cpu_s": self.cpu1 - self.cpu0,
               "warmup_s": 0.0 if self.total else self.t0 - self.t_seeded,
               "latencies": self.lats, "total_completed": self.completed,
               "bytes_read": self.bytes, "short_reads": self.short, "issued": self.issued}
        if self.s0 is not None and self.s1 is not None:
            out["sched"] = {k: self.s1[k] - self.s0[k] for k in self.s1}
        return out


class SlicedMeter(Meter):
    """The Meter of a point measured time-sliced beside others (``pipeline``'s ``pairing``).

    Word 0 of the shared counter is the running completion count, stored on every completion
    (a store into mapped memory: no system call on the path); word 1 is the phase, set to 1 when
    the warm-up ends; word 2 (a float) is the ``perf_counter`` time at which the parent last
    continued the process; word 3 counts the *round boundaries* since the warm-up ended (each N
    completions), and words ``ROUND_RING_AT`` on (floats) hold their ``perf_counter`` times, the
    j-th at ``ROUND_RING_AT + j % ROUND_RING``. Where completions come in bursts a round long,
    the count a fixed window holds moves by whole rounds; the parent times whole rounds from
    these instead (``pipeline._rounds_rate``). A task's latency is kept only when the task was
    issued after the last continue, i.e. within the slice it completed in: a task in flight
    across a stop would count the stop. (Tasks in a closed loop all take about N / rate, so
    keeping those that fit in one slice changes the number of samples, not their value; a
    latency longer than a slice leaves none.) The window closes only when the parent sends
    SIGUSR1.
    """

    __slots__ = ("words", "times", "_map")

    def __init__(self, n: int, spec: dict, snapshot=None) -> None:
        super().__init__(n, spec, snapshot)
        self.window_s = float("inf")            # the parent ends the window
        fd = os.open(spec["pair_counter"], os.O_RDWR)
        try:
            self._map = mmap.mmap(fd, SLICED_MAP_BYTES)
        finally:
            os.close(fd)
        self.words = memoryview(self._map).cast("q")
        self.times = memoryview(self._map).cast("d")
        signal.signal(signal.SIGUSR1, self._end)

    def _open(self) -> None:
        Meter._open(self)
        self.words[1] = 1

    def _end(self, signum, frame) -> None:
        if self.phase == 1:
            self._close()

    def complete(self, t_start: float, t_done: float, nb: int) -> bool:
        go = Meter.complete(self, t_start, t_done, nb)
        self.words[0] = self.completed
        if self.rec:
            if t_start < self.times[2]:
                self.lats.pop()         # issued before this slice: its latency spans a stop
            if (self.completed - self.c0) % self.n == 0:        # a round boundary
                j = self.words[3] + 1
                self.times[ROUND_RING_AT + j % ROUND_RING] = perf_counter()
                self.words[3] = j
        return go


#: round-boundary times the shared map keeps (a ring: the parent reads it at every slice edge)
ROUND_RING = 64
#: the ring's first word in the shared map (after count, phase, continued-at, boundaries)
ROUND_RING_AT = 4
#: the shared map's size in bytes
SLICED_MAP_BYTES = 8 * (ROUND_RING_AT + ROUND_RING)


def percentiles(samples: list[float], qs=(50, 90, 99)) -> dict[int, float | None]:
    """Nearest-rank percentiles of ``samples`` (None when empty)."""
    if not samples:
        return {q: None for q in qs}
    s = sorted(samples)
    n = len(s)
    out = {}
    for q in qs:
        k = max(0, min(n - 1, -(-q * n // 100) - 1))
        out[q] = s[k]
    return out


def _nowait_reader(counter: list[int]):
    """The event server's read (``pipeline_evloop.nowait_reader``: its library, compiled in the
    compiled build as the runtime's ``fileio.pread`` is)."""
    from .pipeline_evloop import nowait_reader
    return nowait_reader(counter)


# ---------------------------------------------------------------------------------------------
# The threaded server (whyevents green threads, kernel threads, gevent): one program
# ---------------------------------------------------------------------------------------------

def threaded(lib, spec: dict, read, fd: int, snapshot=None) -> dict:
    """Run the pipeline on a threading-like ``lib`` (``Event``, ``Queue``, ``spawn``).

    The calling thread is the dispatcher (for green threads: the main thread inside ``run``);
    it returns the raw figures as soon as the window closes, abandoning the parked workers.
    ``benchmarks/overhead.py`` runs this same function (on ``whyevents_lib()``, with a small N)
    to count the Python calls per task of the loop below.
    """
    n = spec["tasks"]
    rb = spec["read_bytes"]
    blocks = max(1, spec["file_bytes"] // rb)
    total = spec["tasks_total"]
    Event, Queue, spawn = lib.Event, lib.Queue, lib.spawn
    chans = [Event() for _ in range(n)]
    starts = [0.0] * n
    offs = [0] * n
    done = Queue()
    m = Meter(n, spec, snapshot)

    def issue(i: int) -> None:
        seq = m.seq
        m.seq = seq + 1
        m.issued += 1
        offs[i] = (seq % blocks) * rb
        starts[i] = perf_counter()
        chans[i].set()

    def worker(i: int) -> None:
        ev = chans[i]
        wait, clear, put = ev.wait, ev.clear, done.put
        while True:
            wait()
            clear()
            nb = len(read(fd, rb, offs[i]))   # the buffer dies here, as the event server's
            put((i, perf_counter(), nb))

    # Start every thread first (they park on their channels: kernel threads started while
    # others are busy would each wait for the GIL), then issue the first N tasks.
    t_begin = perf_counter()
    started = 0
    try:
        for i in range(n):
            spawn(worker, i)
            started += 1
    except (RuntimeError, MemoryError, OSError) as e:
        raise WorkloadFailed(f"could not start thread {started + 1:,} of {n:,} "
                             f"(at {started + 1:,} threads: {type(e).__name__}: {e})") from None
    for i in range(min(n, total) if total else n):
        issue(i)
    m.seeded()
    gc.freeze()
    get = done.get
    complete = m.complete
    while not m.over:
        i, t_done, nb = get()
        if complete(starts[i], t_done, nb):
            issue(i)
    return m.result(t_begin, started)


class Lib:
    """A namespace of the three things ``threaded`` needs."""

    def __init__(self, Event, Queue, spawn) -> None:  # noqa: N803 - class-like names
        self.Event = Event
        self.Queue = Queue
        self.spawn = spawn


def whyevents_lib() -> Lib:
    """The green-thread runtime's ``Event``, ``Queue`` and ``spawn`` (imports the runtime)."""
    from whyevents import threads

    return Lib(threads.Event, threads.Queue, threads.spawn)


def _run_whyevents(spec: dict, fd: int) -> dict:
    from whyevents import threads
    from whyevents.threads import fileio

    lib = whyevents_lib()
    fileio.reset_stats()
    hub_box: list = []

    def snapshot() -> dict:
        hub = hub_box[0]
        snap = {"switches": hub.switches, "polls": hub.polls, "loops": hub.loops}
        if spec["scheduler"] == "pth":
            snap["scans"] = hub.scans
            snap["scanned"] = hub.scanned
            snap["rq_steps"] = hub.rq_steps
        return snap

    def main() -> dict:
        hub_box.append(threads.get_hub())
        return threaded(lib, spec, fileio.pread, fd, snapshot)

    out = threads.run(main, scheduler=spec["scheduler"], poller=spec["poller"])
    fs = fileio.stats()
    out["read_misses"] = fs["nowait_misses"] + fs["pool_reads"]
    return out


def _run_kernel(spec: dict, fd: int) -> dict:
    import queue
    import threading

    def spawn(fn, *args):
        t = threading.Thread(target=fn, args=args, daemon=True)
        t.start()
        return t

    lib = Lib(threading.Event, queue.Queue, spawn)
    return threaded(lib, spec, os.pread, fd)


def _run_gevent(spec: dict, fd: int) -> dict:
    if importlib.util.find_spec("gevent") is None:
        raise Skipped("module gevent is not installed (pip install whyevents[peers])")
    import gevent
    import gevent.event
    import gevent.queue

    lib = Lib(gevent.event.Event, gevent.queue.Queue, gevent.spawn)
    return threaded(lib, spec, os.pread, fd)


# ---------------------------------------------------------------------------------------------
# asyncio: the same program with coroutines
# ---------------------------------------------------------------------------------------------

def _run_asyncio(spec: dict, fd: int) -> dict:
    import asyncio

    n = spec["tasks"]
    rb = spec["read_bytes"]
    blocks = max(1, spec["file_bytes"] // rb)
    total = spec["tasks_total"]
    pread = os.pread

    async def amain() -> dict:
        chans = [asyncio.Event() for _ in range(n)]
        starts = [0.0] * n
        offs = [0] * n
        done: asyncio.Queue = asyncio.Queue()
        m = Meter(n, spec)

        def issue(i: int) -> None:
            seq = m.seq
            m.seq = seq + 1
            m.issued += 1
            offs[i] = (seq % blocks) * rb
            starts[i] = perf_counter()
            chans[i].set()

        async def worker(i: int) -> None:
            ev = chans[i]
            put = done.put_nowait
            while True:
                await ev.wait()
                ev.clear()
                nb = len(pread(fd, rb, offs[i]))   # the buffer dies here, as the event server's
                put((i, perf_counter(), nb))

        t_begin = perf_counter()
        tasks = [asyncio.ensure_future(worker(i)) for i in range(n)]
        for i in range(min(n, total) if total else n):
            issue(i)
        m.seeded()
        gc.freeze()
        get = done.get
        complete = m.complete
        while not m.over:
            i, t_done, nb = await get()
            if complete(starts[i], t_done, nb):
                issue(i)
        out = m.result(t_begin, len(tasks))
        for t in tasks:
            t.cancel()
        return out

    return asyncio.run(amain())


# ---------------------------------------------------------------------------------------------
# Compiler-transformed threads: the threaded program as async def on threads.coro
# ---------------------------------------------------------------------------------------------

def _run_coro(spec: dict, fd: int) -> dict:
    """The threaded program once more, each thread an ``async def`` (the compiler's continuation
    transform) on ``threads.coro``'s O(1) loop; reads as the event server's (non-blocking)."""
    from whyevents.threads import coro

    n = spec["tasks"]
    rb = spec["read_bytes"]
    blocks = max(1, spec["file_bytes"] // rb)
    total = spec["tasks_total"]
    misses = [0]
    read = _nowait_reader(misses)

    async def amain() -> dict:
        chans = [coro.Event() for _ in range(n)]
        starts = [0.0] * n
        offs = [0] * n
        done = coro.Queue()
        m = Meter(n, spec)

        def issue(i: int) -> None:
            seq = m.seq
            m.seq = seq + 1
            m.issued += 1
            offs[i] = (seq % blocks) * rb
            starts[i] = perf_counter()
            chans[i].set()

        async def worker(i: int) -> None:
            ev = chans[i]
            wait, clear, put = ev.wait, ev.clear, done.put_nowait
            while True:
                await wait()
                clear()
                nb = len(read(fd, rb, offs[i]))   # the buffer dies here, as the event server's
                put((i, perf_counter(), nb))

        t_begin = perf_counter()
        spawn = coro.spawn
        for i in range(n):
            spawn(worker(i))
        for i in range(min(n, total) if total else n):
            issue(i)
        m.seeded()
        gc.freeze()
        get = done.get
        complete = m.complete
        while not m.over:
            i, t_done, nb = await get()
            if complete(starts[i], t_done, nb):
                issue(i)
        return m.result(t_begin, n)

    out = coro.run(amain())
    out["read_misses"] = misses[0]
    return out


# ---------------------------------------------------------------------------------------------
# The event server: one loop, a deque of events, no threads
# ---------------------------------------------------------------------------------------------

def _run_event(spec: dict, fd: int) -> dict:
    from .pipeline_evloop import run_until_over

    n = spec["tasks"]
    rb = spec["read_bytes"]
    blocks = max(1, spec["file_bytes"] // rb)
    total = spec["tasks_total"]
    misses = [0]
    read = _nowait_reader(misses)
    q: deque = deque()
    post = q.append
    pop = q.popleft
    m = Meter(n, spec)
    mcomplete = m.complete

    def issue() -> None:
        seq = m.seq
        m.seq = seq + 1
        m.issued += 1
        post((serve, (perf_counter(), (seq % blocks) * rb)))

    def serve(task) -> None:
        data = read(fd, rb, task[1])
        post((complete, (task[0], perf_counter(), len(data))))

    def complete(c) -> None:
        if mcomplete(c[0], c[1], c[2]):
            issue()

    t_begin = perf_counter()
    for _ in range(min(n, total) if total else n):
        issue()
    m.seeded()
    gc.freeze()
    run_until_over(pop, m)          # the loop: pipeline_evloop (library code, like the hub)
    out = m.result(t_begin, 1)
    out["read_misses"] = misses[0]
    return out


# ---------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------

#: backend -> (module, function): ``function(spec, fd)`` runs one point in this process and
#: returns the raw figures (``Meter.result``'s dict, plus ``read_misses`` where it counts them),
#: raising ``WorkloadFailed`` or ``Skipped``. A backend that needs a scheduler of its own lives in
#: a module of its own, imported only when its point runs (``pipeline_greenlet``: the floor); a
#: new backend is a module built from ``Meter`` (and ``threaded`` when it has ``Event``, ``Queue``
#: and ``spawn``) and a row here.
BACKENDS: dict[str, tuple[str, str]] = {
    "whyevents": (__name__, "_run_whyevents"),
    "kernel": (__name__, "_run_kernel"),
    "event": (__name__, "_run_event"),
    "gevent": (__name__, "_run_gevent"),
    "asyncio": (__name__, "_run_asyncio"),
    "coro": (__name__, "_run_coro"),
    "greenlet": ("whyevents.experiments.pipeline_greenlet", "run_greenlet"),
    "gen": ("whyevents.experiments.pipeline_gen", "run_gen"),
}


def _runner(backend: str):
    """The function that runs ``backend``'s point (its module imported now)."""
    module, name = BACKENDS[backend]
    return getattr(importlib.import_module(module), name)


def _summarize(raw: dict, spec: dict) -> dict:
    """Raw figures -> the row's measured columns."""
    lats = raw.pop("latencies")
    pc = percentiles(lats)
    el = raw["elapsed_s"]
    done = raw["completed"]
    row = {
        "throughput_rps": done / el if el > 0 else 0.0,
        "latency_p50_ms": pc[50] * 1e3 if pc[50] is not None else None,
        "latency_p90_ms": pc[90] * 1e3 if pc[90] is not None else None,
        "latency_p99_ms": pc[99] * 1e3 if pc[99] is not None else None,
        "latency_samples": len(lats),
        "completed": done,
        "measured_s": el,
        "warmup_s_actual": raw["warmup_s"],
        "startup_s": raw["startup_s"],
        "cpu_s": raw["cpu_s"],
        "cpu_util": raw["cpu_s"] / el if el > 0 else None,
        "throughput_per_cpu_s": done / raw["cpu_s"] if raw["cpu_s"] > 0 else None,
        "total_completed": raw["total_completed"],
        "issued": raw["issued"],
        "bytes_read": raw["bytes_read"],
        "short_reads": raw["short_reads"],
        "bytes_per_task": (raw["bytes_read"] / raw["total_completed"]
                           if raw["total_completed"] else None),
        "read_misses": raw.get("read_misses"),
        "threads_started": raw["threads_started"],
    }
    sched = raw.get("sched")
    if sched:
        row["switches_per_task"] = sched["switches"] / done if done else None
        if "scans" in sched:
            row["pth_scans_per_task"] = sched["scans"] / done if done else None
            row["pth_waiting_avg"] = sched["scanned"] / sched["scans"] if sched["scans"] else None
    return row


def run_point(spec: dict) -> dict:
    """Measure one point in this process; returns the row's measured columns and ``status``."""
    backend = spec["backend"]
    if backend not in BACKENDS:
        raise ValueError(f"backend: {backend!r} is not one of {sorted(BACKENDS)}")
    run = _runner(backend)
    fd = os.open(spec["path"], os.O_RDONLY | os.O_CLOEXEC)
    try:
        while os.read(fd, 1 << 16):      # make sure the file sits in the page cache
            pass
        try:
            raw = run(spec, fd)
        except WorkloadFailed as e:
            return {"status": "failed", "error": str(e)}
        except Skipped as e:
            return {"status": "skipped", "error": str(e)}
        row = _summarize(raw, spec)
        row["status"] = "ok"
        return row
    finally:
        gc.unfreeze()


def main(argv: list[str] | None = None) -> None:
    """Subprocess entry point: pin, measure, write the JSON result, ``os._exit``."""
    argv = sys.argv[1:] if argv is None else argv
    spec = json.loads(argv[0])
    cpu = spec.get("cpu")
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    try:
        result = run_point(spec)
    except Exception as e:  # noqa: BLE001 - becomes a failed row in the parent
        result = {"status": "failed", "error": f"{type(e).__name__}: {e}",
                  "traceback": traceback.format_exc(limit=6)}
    result["pid"] = os.getpid()
    result["affinity"] = sorted(os.sched_getaffinity(0))
    from whyevents import build_info
    result["build_used"] = build_info()["build"]     # what this process ran (accel)
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    result["rss_peak_mb"] = int(line.split()[1]) / 1024
    except OSError:
        pass
    tmp = spec["out"] + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f)
    os.replace(tmp, spec["out"])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
