"""Raw greenlet: the floor under every greenlet-based runtime (whyevents, gevent).

No scheduler, no wait queues, no timers: just what the substrate costs. "yield" is one direct
``switch`` between two greenlets (so it is per switch, not per round trip); "spawn" creates a
greenlet and runs it to completion; a "parked" greenlet is one that switched back to its parent
and is never resumed; "yield-scale" is a minimal direct-switch round robin over a deque, the way
whyevents' hub hands the CPU from one thread to the next.
"""

from __future__ import annotations

import gc
from collections import deque
from time import perf_counter

from greenlet import getcurrent, greenlet

from .runtime_workloads import rss_bytes, scale_driver


def _ping_pong(n: int) -> float:
    """Microseconds per switch of two greenlets switching to each other ``n`` times each."""
    box: list = [None, None]
    result = [0.0]

    def ping():
        other = box[1]
        t0 = perf_counter()
        for _ in range(n):
            other.switch()
        result[0] = (perf_counter() - t0) / (2 * n) * 1e6

    def pong():
        other = box[0]
        while True:
            other.switch()

    box[0], box[1] = greenlet(ping), greenlet(pong)
    box[0].switch()          # ping <-> pong n times; ping returns to us when it is done
    box[1].throw()           # GreenletExit: pong ends quietly
    return result[0]


def op_yield(p: dict) -> dict:
    """Two greenlets switching to each other directly; time per switch."""
    out = []
    for _ in range(p["trials"] + 1):
        gc.collect()
        out.append(_ping_pong(p["n"]))
    return {"samples": out[1:]}


def op_spawn(p: dict) -> dict:
    n, batch, trials = p["n"], p["batch"], p["trials"]

    def noop():
        pass

    out = []
    for _ in range(trials + 1):
        gc.collect()
        t0 = perf_counter()
        for _ in range(n // batch):
            gs = [greenlet(noop) for _ in range(batch)]
            for g in gs:
                g.switch()
        out.append((perf_counter() - t0) / (n // batch * batch) * 1e6)
    return {"samples": out[1:]}


def op_memory(p: dict) -> dict:
    n = p["n"]
    main = getcurrent()
    parked = [0]

    def body():
        parked[0] += 1
        main.switch()

    warm = [greenlet(body) for _ in range(100)]
    for g in warm:
        g.switch()
    del warm
    gc.collect()
    r0 = rss_bytes()
    gs = [greenlet(body) for _ in range(n)]
    for g in gs:
        g.switch()
    r1 = rss_bytes()
    assert parked[0] == n + 100
    return {"samples": [(r1 - r0) / n / 1000], "extra": {"rss_before": r0, "rss_parked": r1,
                                                         "n": n}}


def op_yield_scale(p: dict) -> dict:
    def round_robin(k: int, rounds: int, stamps: list) -> None:
        q: deque = deque()
        append, popleft = q.append, q.popleft
        main = getcurrent()

        # Each greenlet is started from main and parks at once: a greenlet started from another
        # greenlet's stack inherits its recursion depth, so starting them from each other would
        # overflow. After that, they switch directly to one another, main only reaps.
        def first():
            me = getcurrent()
            main.switch()
            for r in range(rounds):
                if r == 1:
                    stamps[0], stamps[2] = perf_counter(), stamps[4]
                elif r == rounds - 1:
                    stamps[1], stamps[3] = perf_counter(), stamps[4]
                stamps[4] += 1
                append(me)
                popleft().switch()

        def other():
            me = getcurrent()
            main.switch()
            for _ in range(rounds):
                stamps[4] += 1
                append(me)
                popleft().switch()

        gs = [greenlet(first)] + [greenlet(other) for _ in range(k - 1)]
        for g in gs:
            g.switch()
        q.extend(gs)
        del gs
        while q:                 # a greenlet that finishes returns here; run the next
            popleft().switch()

    return scale_driver(round_robin, p)


OPS = {"yield": op_yield, "spawn": op_spawn, "memory": op_memory, "yield-scale": op_yield_scale}
