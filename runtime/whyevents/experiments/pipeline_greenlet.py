"""The task pipeline's substrate floor: the threaded program on raw greenlet, least scheduler.

The pipeline experiment (``pipeline_worker``) runs one threaded program on several runtimes and
an event server beside it. The gap between green threads (``fifo``) and events mixes two costs:
what greenlet itself costs (a switch saves and restores a slice of the C stack and the
interpreter's frame state) and what the runtime adds on top (its hub, timers, poller and
book-keeping). This backend (``greenlet``) measures the first alone: the same program on raw
greenlet with only what the program needs, so that ``fifo`` / ``greenlet`` is the runtime's own
share and ``greenlet`` / ``event`` the substrate's (DESIGN.md: "What greenlet itself costs is
measured, not argued"; ``repro/costs.py`` tabulates both).

What "only what it needs" is, and why it is a floor: a ready deque; a park that switches
straight to the next ready greenlet (no hub greenlet in between); an ``Event`` with one waiter
slot (each channel has one worker); a ``Queue`` that is a deque with one waiter slot (only the
dispatcher gets); reads as the event server's (non-blocking, ``pipeline_evloop.nowait_reader``).
No timers, no poller, no counters: no green-thread runtime on greenlet can do less per task.
The bytes greenlet saves per parked worker are counted by ``python -m
whyevents.benchmarks.overhead`` (its last line).

Why the scheduler is built inside a function (``floor``) rather than at module level: its pieces
close over one run's ready deque and park, so the hot path reads them as closure cells, as the
rest of the pipeline's programs read theirs; a class reaching them through ``self`` would add an
attribute lookup per operation and move the floor. This module is imported only when a
``greenlet`` point runs (``pipeline_worker.BACKENDS``).
"""

from __future__ import annotations

import gc
from collections import deque
from time import perf_counter

from greenlet import getcurrent, greenlet

from .pipeline_evloop import nowait_reader
from .pipeline_worker import Meter

__all__ = ["floor", "run_greenlet"]


def floor(main: greenlet):
    """The least scheduler that runs the pipeline, for the dispatcher ``main``: returns
    ``(Event, put, get)``, the channels' class and the dispatcher's queue's two ends."""
    ready: deque = deque()
    rpush, rpop = ready.append, ready.popleft

    def park() -> None:
        if ready:
            rpop().switch()
        elif getcurrent() is not main:   # a worker starting up: back to the dispatcher
            main.switch()
        else:
            raise RuntimeError("every green thread is parked: the pipeline deadlocked")

    class Event:
        __slots__ = ("flag", "waiter")

        def __init__(self) -> None:
            self.flag = False
            self.waiter = None

        def set(self) -> None:
            self.flag = True
            w = self.waiter
            if w is not None:
                self.waiter = None
                rpush(w)

        def clear(self) -> None:
            self.flag = False

        def wait(self) -> None:
            if not self.flag:
                self.waiter = getcurrent()
                park()

    items: deque = deque()
    getter: list = [None]

    def put(item) -> None:
        items.append(item)
        g = getter[0]
        if g is not None:
            getter[0] = None
            rpush(g)

    def get():
        while not items:
            getter[0] = getcurrent()
            park()
        return items.popleft()

    return Event, put, get


def run_greenlet(spec: dict, fd: int) -> dict:
    """One ``greenlet`` point: the threaded program (``pipeline_worker.threaded``'s, statement
    for statement) on ``floor``; the calling greenlet is the dispatcher."""
    n = spec["tasks"]
    rb = spec["read_bytes"]
    blocks = max(1, spec["file_bytes"] // rb)
    total = spec["tasks_total"]
    misses = [0]
    read = nowait_reader(misses)
    main = getcurrent()                  # the dispatcher
    Event, put, get = floor(main)
    chans = [Event() for _ in range(n)]
    starts = [0.0] * n
    offs = [0] * n
    m = Meter(n, spec)

    def issue(i: int) -> None:
        seq = m.seq
        m.seq = seq + 1
        m.issued += 1
        offs[i] = (seq % blocks) * rb
        starts[i] = perf_counter()
        chans[i].set()

    def worker(i: int) -> None:
        ev = chans[i]
        wait, clear = ev.wait, ev.clear
        while True:
            wait()
            clear()
            nb = len(read(fd, rb, offs[i]))   # the buffer dies here, as the event server's
            put((i, perf_counter(), nb))

    t_begin = perf_counter()
    for i in range(n):                   # each starts and parks on its channel at once
        greenlet(worker, parent=main).switch(i)
    for i in range(min(n, total) if total else n):
        issue(i)
    m.seeded()
    gc.freeze()
    complete = m.complete
    while not m.over:
        i, t_done, nb = get()
        if complete(starts[i], t_done, nb):
            issue(i)
    out = m.result(t_begin, n)
    out["read_misses"] = misses[0]
    return out
