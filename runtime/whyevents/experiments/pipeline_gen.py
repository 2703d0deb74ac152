"""Generator threads: the transform's floor, the threaded pipeline with each thread a generator.

The paper's section 4 remedy is a compiler that turns threads into continuations (Adya et al.).
CPython's compiler does that to any function with a ``yield``: the frame becomes a heap object that
keeps the thread's live state, resumed by ``next()``, with no C stack of its own. The ``coro``
backend uses the same transform through ``async def``, which adds a coroutine protocol on top
(``await`` goes through ``__await__`` and resumes through every frame of a nested await). This
module is the transform with nothing on top, so the pipeline can show what the thread model costs
once the compiler has done its part:

* **Each thread is a generator** that yields *the list it waits on*: an event's waiters, the
  dispatcher's queue's getters. The loop appends the generator to that list; waking it is moving
  it to the ready deque, O(1). No futures, no callbacks, no wrappers per wait.
* **The program is the threaded one**: N worker threads, each parked on its own channel; the
  dispatcher hands a task to a worker by setting its channel; the worker reads, puts
  ``(slot, finish time, bytes)`` on the dispatcher's queue and parks again. Only the spelling of a
  blocking call differs: ``while not ev.flag: yield ev.waiters`` where a green thread calls
  ``ev.wait()`` (a generator cannot suspend inside a callee without a ``yield from``, which would
  allocate a generator per wait; the waits are written in place, as a compiler would inline them).
* **The loop** pops the next ready generator and resumes it: ``next(g)`` returns the list to park
  on. It ends when the dispatcher returns (the window closed); parked workers are abandoned.

Reads are the event server's non-blocking reads (``pipeline_evloop.nowait_reader``), bookkeeping
is the same ``Meter``. ``whyevents run pipeline -p backends=event,gen,coro,greenlet`` measures this
beside the other forms of thread; ``whyevents bench yardstick`` counts its instructions per task.
"""

from __future__ import annotations

import gc
from collections import deque
from time import perf_counter

__all__ = ["run_gen"]


class _Channel:
    """A worker's channel: a flag and the (at most one) generator parked on it."""

    __slots__ = ("flag", "waiters")

    def __init__(self) -> None:
        self.flag = False
        self.waiters: list = []


def run_gen(spec: dict, fd: int) -> dict:
    """Measure one pipeline point with generator threads; returns the raw figures."""
    from .pipeline_evloop import nowait_reader
    from .pipeline_worker import Meter

    n = spec["tasks"]
    rb = spec["read_bytes"]
    blocks = max(1, spec["file_bytes"] // rb)
    total = spec["tasks_total"]
    misses = [0]
    read = nowait_reader(misses)
    ready: deque = deque()
    make_ready = ready.extend
    chans = [_Channel() for _ in range(n)]
    starts = [0.0] * n
    offs = [0] * n
    done: deque = deque()          # the dispatcher's queue
    getters: list = []             # the dispatcher, when it waits on that queue
    m = Meter(n, spec)

    def issue(i: int) -> None:
        seq = m.seq
        m.seq = seq + 1
        m.issued += 1
        offs[i] = (seq % blocks) * rb
        starts[i] = perf_counter()
        ch = chans[i]
        ch.flag = True                       # set(): wake the worker parked on it
        w = ch.waiters
        if w:
            make_ready(w)
            w.clear()

    def worker(i: int):
        ch = chans[i]
        put = done.append
        while True:
            while not ch.flag:               # wait()
                yield ch.waiters
            ch.flag = False                  # clear()
            nb = len(read(fd, rb, offs[i]))   # the buffer dies here, as the event server's
            put((i, perf_counter(), nb))
            if getters:                      # put(): wake the dispatcher
                make_ready(getters)
                getters.clear()

    def dispatcher():
        get = done.popleft
        complete = m.complete
        while not m.over:
            while not done:                  # get()
                yield getters
            i, t_done, nb = get()
            if complete(starts[i], t_done, nb):
                issue(i)

    t_begin = perf_counter()
    ready.extend(worker(i) for i in range(n))
    for i in range(min(n, total) if total else n):
        issue(i)
    m.seeded()
    main = dispatcher()
    ready.append(main)
    gc.freeze()
    _loop(ready, main)
    out = m.result(t_begin, n)
    out["read_misses"] = misses[0]
    return out


def _loop(ready: deque, main) -> None:
    """Resume ready generators until ``main`` returns; each yields the list it parks on."""
    pop = ready.popleft
    while True:
        g = pop()
        try:
            park_on = next(g)
        except StopIteration:
            if g is main:
                return
            continue
        park_on.append(g)
