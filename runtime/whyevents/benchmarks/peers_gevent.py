"""gevent's side of ``whyevents bench runtime``: the same workloads, written as gevent users would.

No monkey-patching: none of these workloads touches the stdlib's blocking calls, and patching
would only add noise. Threads are ``gevent.spawn`` greenlets, joined with ``gevent.joinall``;
events are ``gevent.event.Event``; the lock is ``gevent.thread.allocate_lock()`` (what
``threading.Lock`` becomes under ``patch_all``); file reads go through the hub's thread pool.
"""

from __future__ import annotations

import gc
import os
from time import perf_counter, process_time

import gevent
import gevent.event
import gevent.thread

from .runtime_workloads import (
    cached_file,
    offsets,
    rss_bytes,
    scale_driver,
    timeouts_driver,
)


def op_yield(p: dict) -> dict:
    n, trials = p["n"], p["trials"]
    sleep = gevent.sleep

    def pinger():
        for _ in range(n):
            sleep(0)

    out = []
    for _ in range(trials + 1):
        gc.collect()
        gs = [gevent.spawn(pinger), gevent.spawn(pinger)]
        t0 = perf_counter()
        gevent.joinall(gs)
        out.append((perf_counter() - t0) / (2 * n) * 1e6)
    return {"samples": out[1:]}


def op_spawn(p: dict) -> dict:
    n, batch, trials = p["n"], p["batch"], p["trials"]
    spawn = gevent.spawn

    def noop():
        pass

    out = []
    for _ in range(trials + 1):
        gc.collect()
        t0 = perf_counter()
        for _ in range(n // batch):
            gevent.joinall([spawn(noop) for _ in range(batch)])
        out.append((perf_counter() - t0) / (n // batch * batch) * 1e6)
    return {"samples": out[1:]}


def op_wake(p: dict) -> dict:
    n, batch, trials = p["n"], p["batch"], p["trials"]
    parked = [0]

    def waiter(ev):
        parked[0] += 1
        ev.wait()

    out = []
    for _ in range(trials + 1):
        gc.collect()
        total = 0.0
        for _ in range(n // batch):
            parked[0] = 0
            evs = [gevent.event.Event() for _ in range(batch)]
            gs = [gevent.spawn(waiter, ev) for ev in evs]
            while parked[0] < batch:
                gevent.sleep(0)
            t0 = perf_counter()
            for ev in evs:
                ev.set()
            gevent.joinall(gs)
            total += perf_counter() - t0
        out.append(total / (n // batch * batch) * 1e6)
    return {"samples": out[1:]}


def op_memory(p: dict) -> dict:
    n = p["n"]
    parked = [0]

    def waiter(ev):
        parked[0] += 1
        ev.wait()

    ev0 = gevent.event.Event()
    warm = [gevent.spawn(waiter, ev0) for _ in range(100)]
    gevent.sleep(0)
    ev0.set()
    gevent.joinall(warm)
    parked[0] = 0
    ev = gevent.event.Event()
    gc.collect()
    r0 = rss_bytes()
    gs = [gevent.spawn(waiter, ev) for _ in range(n)]
    while parked[0] < n:
        gevent.sleep(0)
    r1 = rss_bytes()
    ev.set()
    gevent.joinall(gs)
    return {"samples": [(r1 - r0) / n / 1000], "extra": {"rss_before": r0, "rss_parked": r1,
                                                         "n": n}}


def op_timeouts(p: dict) -> dict:
    def once(n: int, per_waiter_s: float) -> dict:
        lock = gevent.thread.allocate_lock()
        lock.acquire()
        parked = [0]
        got = [0]
        budget = p["slack_s"] + n * per_waiter_s
        deadline = perf_counter() + budget

        def waiter():
            parked[0] += 1
            if lock.acquire(timeout=max(deadline - perf_counter(), 1e-6)):
                got[0] += 1
                lock.release()

        gc.collect()
        c0, w0 = process_time(), perf_counter()
        gs = [gevent.spawn(waiter) for _ in range(n)]
        while parked[0] < n:
            gevent.sleep(0)
        c1, w1 = process_time(), perf_counter()
        late = perf_counter() > deadline
        gevent.joinall(gs)
        c2, w2 = process_time(), perf_counter()
        lock.release()
        return {"n": n, "cpu_us_per_waiter": (c2 - c0) / n * 1e6,
                "park_cpu_us": (c1 - c0) / n * 1e6, "expire_cpu_us": (c2 - c1) / n * 1e6,
                "park_wall_s": w1 - w0, "wall_s": w2 - w0, "timeout_s": budget, "late": late,
                "acquired": got[0]}

    return timeouts_driver(once, p)


def op_read(p: dict) -> dict:
    n, size, trials = p["n"], p["size"], p["trials"]
    pool = gevent.get_hub().threadpool
    with cached_file(p["file_size"]) as (_path, fd):
        offs = offsets(n, size, p["file_size"])
        pread = os.pread
        apply = pool.apply
        out = []
        for _ in range(trials + 1):
            t0 = perf_counter()
            for off in offs:
                apply(pread, (fd, size, off))
            out.append((perf_counter() - t0) / n * 1e6)
    return {"samples": out[1:], "extra": {"api": "gevent.get_hub().threadpool.apply(os.pread)",
                                          "pool_maxsize": pool.maxsize}}


def round_robin(k: int, rounds: int, stamps: list) -> None:
    sleep = gevent.sleep

    def first():
        for r in range(rounds):
            if r == 1:
                stamps[0], stamps[2] = perf_counter(), stamps[4]
            elif r == rounds - 1:
                stamps[1], stamps[3] = perf_counter(), stamps[4]
            stamps[4] += 1
            sleep(0)

    def other():
        for _ in range(rounds):
            stamps[4] += 1
            sleep(0)

    gs = [gevent.spawn(first)] + [gevent.spawn(other) for _ in range(k - 1)]
    gevent.joinall(gs)


def op_yield_scale(p: dict) -> dict:
    return scale_driver(round_robin, p)


OPS = {"yield": op_yield, "spawn": op_spawn, "wake": op_wake, "memory": op_memory,
       "timeouts": op_timeouts, "read": op_read, "yield-scale": op_yield_scale}
