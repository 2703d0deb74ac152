"""``whyevents bench runtime``: the runtime's micro-benchmarks against its peers, in one run.

Why this shape:

* **Every measurement runs in a subprocess** that imports only the framework it measures (gevent's
  hub and monkey state, uvloop's policy, trio's run state and each allocator's high-water mark stay
  in that process). Light timing operations (yield, spawn, wake, read) share one process per
  (implementation, repetition); memory and scale operations get a fresh process each, because an
  RSS delta means nothing in a heap that has already grown.
* **Configurations are interleaved**: repetition 1 runs every implementation, then repetition 2
  runs them all again in a rotated order, and so on (A B C A B C ...), so that the machine's drift
  (up to 1.8x between minutes on the 2-vCPU machines this was written on) spreads over all of them
  instead of favouring whichever ran in a quiet minute. Results are medians with the spread (min-max
  and the inter-quartile range) of every trial; differences under ~15% are noise.
* **Workers are pinned to one core** (``os.sched_setaffinity``) when the machine has more than one,
  so a green-thread switch is never a migration; the parent (progress bar, bookkeeping) keeps the
  others. The pinning is recorded in the provenance.
* **Nothing asserts a time.** Each operation has the target the runtime aims at; the report says
  per row whether whyevents meets it and how it compares with the best peer measured in the same
  run, and the command exits 0 either way.

Raw greenlet is a floor, not a peer: it shows what the substrate costs with no scheduler at all, so
it is shown but never counts as "the best peer".

Worker protocol: the parent runs ``python -c "from whyevents.bench.runtime import worker_main;
worker_main()" SPEC`` where SPEC is JSON (implementation, operations, parameters, output path, CPU);
the worker writes ``{op: {"status", "samples", "extra"}}`` to the output path after each operation,
so a crash or timeout keeps what was measured before it.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import gc
import importlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from time import monotonic, perf_counter, process_time

__all__ = [
    "OPERATIONS", "IMPLS", "PEERS", "Config", "run_benchmark", "format_table", "add_arguments",
    "main_from_args", "worker_main", "provenance", "rss_bytes", "cached_file", "ModuleMissing",
]

#: Every implementation, in table-column order. "greenlet" is raw greenlet: a floor, not a peer.
IMPLS = ("whyevents", "gevent", "asyncio", "uvloop", "trio", "greenlet")
PEERS = IMPLS[1:]
#: The peers "best peer" is chosen from (raw greenlet is a lower bound, not a framework).
FRAMEWORK_PEERS = ("gevent", "asyncio", "uvloop", "trio")
#: The module each implementation needs (asyncio is always there).
_NEEDS = {"gevent": "gevent", "uvloop": "uvloop", "trio": "trio", "greenlet": "greenlet"}
#: Where each implementation's workloads live.
_IMPL_MODULE = {
    "gevent": "whyevents.bench.peers_gevent",
    "asyncio": "whyevents.bench.peers_asyncio",
    "uvloop": "whyevents.bench.peers_asyncio",
    "trio": "whyevents.bench.peers_trio",
    "greenlet": "whyevents.bench.peers_greenlet",
}

_ALL = IMPLS
_NO_FLOOR = IMPLS[:-1]


@dataclass(frozen=True)
class Operation:
    """One row of the table: what is measured, in which unit, and the target whyevents aims at."""

    key: str
    title: str                   # formatted with the operation's parameters
    unit: str
    target: float | None
    better: str                  # "lower" or "higher"
    impls: tuple[str, ...]
    light: bool = False          # shares a worker process with the other light operations
    max_repeat: int | None = None
    earlier: dict = field(default_factory=dict)   # peers' figures measured before on this machine
    how: str = ""                # one sentence: how it is measured (goes into the JSON)

    @property
    def target_text(self) -> str:
        if self.target is None:
            return "(shows O(n))"
        sign = "<=" if self.better == "lower" else ">="
        return f"{sign} {_fmt(self.target)}"


OPERATIONS: dict[str, Operation] = {op.key: op for op in [
    Operation(
        "yield", "yield round trip, sleep(0)", "us/call", 0.5, "lower", _ALL, light=True,
        earlier={"gevent": 0.95, "asyncio": 1.6, "uvloop": 0.8, "trio": 2.6, "greenlet": 0.34},
        how="two threads ping-pong by sleep(0), {n:,} calls each; wall time / calls "
            "(raw greenlet: direct switches, time per switch)"),
    Operation(
        "spawn", "spawn + start + finish", "us/thread", 3.0, "lower", _ALL, light=True,
        earlier={"gevent": 19.4, "asyncio": 6.9, "uvloop": 7.0, "trio": 7.4, "greenlet": 5.2},
        how="{n:,} trivial threads in batches of {batch:,} in flight: spawn the batch, join it"),
    Operation(
        "wake", "wake a parked thread + join", "us/thread", 3.0, "lower", _NO_FLOOR[:5],
        light=True,
        earlier={"gevent": 12.3, "asyncio": 3.3, "uvloop": 2.6, "trio": 10.9},
        how="batches of {batch:,} threads each parked on its own Event: set every event, "
            "join every thread; {n:,} threads, only set+join is timed"),
    Operation(
        "memory", "idle memory per parked thread, N={n:,}", "KB/thread", 6.5, "lower", _ALL,
        earlier={"gevent": 7.8, "asyncio": 0.96, "uvloop": 0.96, "trio": 1.14, "greenlet": 6.0},
        how="fresh process: RSS delta / N with N threads parked on one Event (KB = 1000 bytes)"),
    Operation(
        "timeouts", "lock, all waiters time out: cost/waiter, {large:,} vs {small:,}",
        "x (ratio)", 1.2, "lower", _NO_FLOOR[:5],
        earlier={"gevent": 6.6, "asyncio": 7.6, "trio": 1.5},
        how="main holds a Lock; N threads acquire(timeout) towards one common deadline, far "
            "enough (4x the small runs' parking time per waiter) that all park before any "
            "expires; process CPU per waiter (spawn, park, expire, drain), N=large over N=small"),
    Operation(
        "read", "8 KiB read of a cached file", "us/read", 3.0, "lower", _NO_FLOOR[:5],
        light=True,
        earlier={"gevent": 19.0, "asyncio": 35.0, "trio": 42.0},
        how="{n:,} sequential 8 KiB reads of a 1 MiB page-cached file through each framework's "
            "non-blocking file read: whyevents fileio.pread (preadv RWF_NOWAIT first), "
            "gevent hub threadpool, asyncio.to_thread, trio.to_thread.run_sync"),
    Operation(
        "yield-scale", "yields/s with {small:,} vs {large:,} runnable threads (fifo)",
        "x (ratio)", 0.9, "higher", _ALL,
        how="k threads all runnable, each yielding in a loop; yields/s over whole rounds "
            "(thread creation and exit excluded); ratio = rate(large) / rate(small)"),
    Operation(
        "pth", "pth scheduler: yields/s with {small:,} vs {large:,} parked threads",
        "x (ratio)", None, "higher", ("whyevents",),
        how="{runnable} threads yield for {seconds} s while N others are parked on an Event; "
            "ratio = rate(N=large) / rate(N=small) under scheduler='pth' (fifo alongside)"),
    Operation(
        "million", "{million_label} parked threads: RSS", "GiB", 7.0, "lower", ("whyevents",),
        max_repeat=1,
        how="fresh process: total RSS with N threads parked on one Event; below 1,000,000 the "
            "per-thread delta is extrapolated to 1,000,000"),
]}

#: Sizes per profile. ``--scale`` multiplies the sizes (not the thread counts of ratios' small
#: side, which are floors); "full" uses the sizes of the table in the task statement.
PROFILES: dict[str, dict] = {
    "quick": {
        "repeat": 3, "trials": 3, "job_timeout": 240,
        "yield_n": 20_000, "spawn_n": 10_000, "wake_n": 10_000, "batch": 1000,
        "memory_n": 20_000, "timeouts_small": 1250, "timeouts_large": 20_000, "read_n": 2000,
        "scale_small": 10, "scale_large": 20_000, "scale_yields": 200_000,
        "pth_small": 10, "pth_large": 10_000, "pth_seconds": 0.3, "pth_runnable": 2,
        "million_n": 100_000,
    },
    "full": {
        "repeat": 5, "trials": 5, "job_timeout": 1200,
        "yield_n": 200_000, "spawn_n": 100_000, "wake_n": 100_000, "batch": 1000,
        "memory_n": 100_000, "timeouts_small": 5000, "timeouts_large": 80_000, "read_n": 20_000,
        "scale_small": 10, "scale_large": 100_000, "scale_yields": 500_000,
        "pth_small": 10, "pth_large": 10_000, "pth_seconds": 1.0, "pth_runnable": 2,
        "million_n": 1_000_000,
    },
}


def _scaled(n: int, scale: float, minimum: int) -> int:
    return max(minimum, int(round(n * scale)))


def op_params(key: str, profile: str, scale: float = 1.0) -> dict:
    """The parameters one worker gets for operation ``key``."""
    P = PROFILES[profile]
    trials = P["trials"]
    if key == "yield":
        return {"n": _scaled(P["yield_n"], scale, 100), "trials": trials}
    if key in ("spawn", "wake"):
        n = _scaled(P[f"{key}_n"], scale, 20)
        return {"n": n, "batch": min(P["batch"], n), "trials": trials}
    if key == "memory":
        return {"n": _scaled(P["memory_n"], scale, 100)}
    if key == "timeouts":
        large = _scaled(P["timeouts_large"], scale, 32)
        small = max(2, min(_scaled(P["timeouts_small"], scale, 2), large // 16 or 1))
        return {"small": small, "large": large, "trials": trials,
                "slack_s": 0.05, "first_rate_s": 80e-6}
    if key == "read":
        return {"n": _scaled(P["read_n"], scale, 20), "trials": trials, "size": 8192,
                "file_size": 1 << 20}
    if key == "yield-scale":
        return {"small": P["scale_small"], "large": _scaled(P["scale_large"], scale, 20),
                "yields": _scaled(P["scale_yields"], scale, 2000), "trials": trials}
    if key == "pth":
        return {"small": P["pth_small"], "large": _scaled(P["pth_large"], scale, 20),
                "seconds": max(0.05, P["pth_seconds"] * min(1.0, scale * 10)),
                "runnable": P["pth_runnable"]}
    if key == "million":
        n = _scaled(P["million_n"], scale, 100)
        label = "1,000,000" if n >= 1_000_000 else f"1,000,000 (extrapolated from {n:,})"
        return {"n": n, "million_label": label}
    raise KeyError(key)


def _title(op: Operation, params: dict) -> str:
    return op.title.format(**params)


def _how(op: Operation, params: dict) -> str:
    try:
        return op.how.format(**params)
    except (KeyError, IndexError):
        return op.how


# ---------------------------------------------------------------------------------------------
# Helpers the workers share (stdlib only: every worker imports this module)
# ---------------------------------------------------------------------------------------------

class ModuleMissing(Exception):
    """The implementation of an operation is not there (yet): the row says n/a, not error."""


_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    """Resident set size of this process, from /proc (one read, no psutil import)."""
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[1]) * _PAGE


@contextlib.contextmanager
def cached_file(size: int = 1 << 20):
    """A temporary file of ``size`` random bytes, read once so it sits in the page cache.

    Yields ``(path, fd)``; the descriptor is read-only and closed, the file removed, on exit.
    """
    fd0, path = tempfile.mkstemp(prefix="whyevents-bench-", suffix=".bin")
    try:
        with os.fdopen(fd0, "wb") as f:
            f.write(os.urandom(size))
        fd = os.open(path, os.O_RDONLY)
        try:
            while os.read(fd, 1 << 16):
                pass
            yield path, fd
        finally:
            os.close(fd)
    finally:
        os.unlink(path)


def offsets(n: int, size: int, file_size: int) -> list[int]:
    """Offsets of ``n`` sequential reads of ``size`` bytes, wrapping around the file."""
    blocks = max(1, file_size // size)
    return [(i % blocks) * size for i in range(n)]


def syscall_floor_us(fd: int, n: int = 20_000, size: int = 8192, file_size: int = 1 << 20) -> dict:
    """What the read costs with no framework at all: pread and preadv(RWF_NOWAIT) in a loop."""
    offs = offsets(n, size, file_size)
    pread = os.pread
    t0 = perf_counter()
    for off in offs:
        pread(fd, size, off)
    out = {"pread_us": (perf_counter() - t0) / n * 1e6}
    if hasattr(os, "RWF_NOWAIT"):
        buf = bytearray(size)
        preadv, flag = os.preadv, os.RWF_NOWAIT
        t0 = perf_counter()
        for off in offs:
            preadv(fd, [buf], off, flag)
        out["preadv_nowait_us"] = (perf_counter() - t0) / n * 1e6
    return out


# ---------------------------------------------------------------------------------------------
# The whyevents workloads (the peers' live in peers_<name>.py, with the same shapes)
# ---------------------------------------------------------------------------------------------

def _threads():
    from whyevents import threads
    return threads


def we_yield(p: dict) -> dict:
    th = _threads()
    n, trials = p["n"], p["trials"]
    sleep = th.sleep

    def pinger():
        for _ in range(n):
            sleep(0)

    def main():
        out = []
        for _ in range(trials + 1):                 # the first trial warms up and is dropped
            gc.collect()
            a, b = th.spawn(pinger), th.spawn(pinger)
            t0 = perf_counter()
            a.join()
            b.join()
            out.append((perf_counter() - t0) / (2 * n) * 1e6)
        return out[1:]

    return {"samples": th.run(main)}


def we_spawn(p: dict) -> dict:
    th = _threads()
    n, batch, trials = p["n"], p["batch"], p["trials"]
    spawn = th.spawn

    def noop():
        pass

    def main():
        out = []
        for _ in range(trials + 1):
            gc.collect()
            t0 = perf_counter()
            for _ in range(n // batch):
                ts = [spawn(noop) for _ in range(batch)]
                for t in ts:
                    t.join()
            out.append((perf_counter() - t0) / (n // batch * batch) * 1e6)
        return out[1:]

    return {"samples": th.run(main)}


def we_wake(p: dict) -> dict:
    th = _threads()
    n, batch, trials = p["n"], p["batch"], p["trials"]
    parked = [0]

    def waiter(ev):
        parked[0] += 1
        ev.wait()

    def main():
        out = []
        for _ in range(trials + 1):
            gc.collect()
            total = 0.0
            for _ in range(n // batch):
                parked[0] = 0
                evs = [th.Event() for _ in range(batch)]
                ts = [th.spawn(waiter, ev) for ev in evs]
                while parked[0] < batch:
                    th.sleep(0)
                t0 = perf_counter()
                for ev in evs:
                    ev.set()
                for t in ts:
                    t.join()
                total += perf_counter() - t0
            out.append(total / (n // batch * batch) * 1e6)
        return out[1:]

    return {"samples": th.run(main)}


def _we_parked_rss(n: int) -> dict:
    """RSS before and after ``n`` threads park on one Event (after a small warm-up cycle)."""
    th = _threads()
    parked = [0]

    def waiter(ev):
        parked[0] += 1
        ev.wait()

    def main():
        ev0 = th.Event()
        warm = [th.spawn(waiter, ev0) for _ in range(100)]
        th.sleep(0)
        ev0.set()
        for t in warm:
            t.join()
        parked[0] = 0
        ev = th.Event()
        gc.collect()
        r0, t0 = rss_bytes(), perf_counter()
        ts = [th.spawn(waiter, ev) for _ in range(n)]
        while parked[0] < n:
            th.sleep(0)
        r1, t1 = rss_bytes(), perf_counter()
        ev.set()
        for t in ts:
            t.join()
        t2 = perf_counter()
        return {"rss_before": r0, "rss_parked": r1, "n": n, "park_s": t1 - t0,
                "wake_all_s": t2 - t1}

    return th.run(main)


def we_memory(p: dict) -> dict:
    m = _we_parked_rss(p["n"])
    return {"samples": [(m["rss_parked"] - m["rss_before"]) / m["n"] / 1000], "extra": m}


def we_million(p: dict) -> dict:
    m = _we_parked_rss(p["n"])
    per = (m["rss_parked"] - m["rss_before"]) / m["n"]
    total = m["rss_before"] + per * 1_000_000 if m["n"] < 1_000_000 else m["rss_parked"]
    m.update(extrapolated=m["n"] < 1_000_000, bytes_per_thread=per, rss_1m_bytes=total)
    return {"samples": [total / 2**30], "extra": m}


def we_timeouts(p: dict) -> dict:
    th = _threads()

    def once(n: int, per_waiter_s: float) -> dict:
        def main():
            lock = th.Lock()
            lock.acquire()
            parked = [0]
            got = [0]
            budget = p["slack_s"] + n * per_waiter_s
            deadline = monotonic() + budget         # common to all: they expire together

            def waiter():
                parked[0] += 1
                if lock.acquire(timeout=max(deadline - monotonic(), 1e-6)):
                    got[0] += 1
                    lock.release()

            gc.collect()
            c0, w0 = process_time(), perf_counter()
            ts = [th.spawn(waiter) for _ in range(n)]
            while parked[0] < n:
                th.sleep(0)
            c1, w1 = process_time(), perf_counter()
            late = monotonic() > deadline
            for t in ts:
                t.join()
            c2, w2 = process_time(), perf_counter()
            return {"n": n, "cpu_us_per_waiter": (c2 - c0) / n * 1e6,
                    "park_cpu_us": (c1 - c0) / n * 1e6, "expire_cpu_us": (c2 - c1) / n * 1e6,
                    "park_wall_s": w1 - w0, "wall_s": w2 - w0, "timeout_s": budget,
                    "late": late, "acquired": got[0]}
        return th.run(main)

    return _timeouts_driver(once, p)


def _timeouts_driver(once: Callable[[int, float], dict], p: dict) -> dict:
    """Shared by every implementation: small runs (median), then one large run; ratio of
    per-waiter CPU. The large run's timeout is set from the small runs' parking speed (x3 +
    slack) so that all waiters are parked before any expires, without idling for seconds."""
    once(p["small"], p["first_rate_s"])                       # warm-up
    smalls = [once(p["small"], p["first_rate_s"]) for _ in range(p["trials"])]
    rate = max(s["park_wall_s"] / s["n"] for s in smalls)
    large = once(p["large"], max(4 * rate, 2e-6))
    small_us = statistics.median(s["cpu_us_per_waiter"] for s in smalls)
    ratio = large["cpu_us_per_waiter"] / small_us
    return {"samples": [ratio], "extra": {
        "small_cpu_us_per_waiter": small_us, "large_cpu_us_per_waiter": large["cpu_us_per_waiter"],
        "large_park_cpu_us": large["park_cpu_us"], "large_expire_cpu_us": large["expire_cpu_us"],
        "small_park_cpu_us": statistics.median(s["park_cpu_us"] for s in smalls),
        "small_expire_cpu_us": statistics.median(s["expire_cpu_us"] for s in smalls),
        "large_late": large["late"], "acquired": large["acquired"] + sum(s["acquired"]
                                                                          for s in smalls),
        "large_wall_s": large["wall_s"], "large_timeout_s": large["timeout_s"]}}


def _we_pread():
    """whyevents' non-blocking file read: ``pread(fd, n, offset)`` (preadv RWF_NOWAIT first, the
    kernel-thread pool on a miss), wherever the runtime puts it; ModuleMissing if nowhere yet."""
    for name in ("whyevents.threads.fileio", "whyevents.threads.threadpool"):
        if importlib.util.find_spec(name) is None:
            continue
        mod = importlib.import_module(name)
        fn = getattr(mod, "pread", None)
        if callable(fn):
            return mod, fn
    raise ModuleMissing("whyevents.threads.fileio/threadpool with pread(fd, n, offset)")


def we_read(p: dict) -> dict:
    th = _threads()
    mod, pread = _we_pread()
    n, size, trials = p["n"], p["size"], p["trials"]
    with cached_file(p["file_size"]) as (_path, fd):
        offs = offsets(n, size, p["file_size"])

        def main():
            out = []
            for _ in range(trials + 1):
                t0 = perf_counter()
                for off in offs:
                    pread(fd, size, off)
                out.append((perf_counter() - t0) / n * 1e6)
            return out[1:]

        samples = th.run(main)
        extra = {"api": f"{mod.__name__}.pread", "floor": syscall_floor_us(fd)}
        pool_stats = getattr(mod, "stats", None)
        if callable(pool_stats):
            with contextlib.suppress(Exception):
                extra["pool_stats"] = pool_stats()
    return {"samples": samples, "extra": extra}


def round_robin_rate(run_round_robin: Callable[[int, int, list], None], k: int,
                     total: int) -> float:
    """Yields/s of ``k`` threads that each yield ``R`` times.

    ``run_round_robin(k, R, stamps)`` counts every yield in ``stamps[4]``; thread 0 records
    (time, count) at the start of its round 1 in ``stamps[0], stamps[2]`` and of its last round
    in ``stamps[1], stamps[3]``, so thread creation (round 0) and exit stay outside the window,
    and a scheduler that does not keep a strict round-robin order (trio shuffles) is still
    counted exactly.
    """
    rounds = max(4, total // k + 2)
    stamps = [0.0, 0.0, 0, 0, 0]
    run_round_robin(k, rounds, stamps)
    return (stamps[3] - stamps[2]) / (stamps[1] - stamps[0])


def scale_driver(run_round_robin: Callable[[int, int, list], None], p: dict) -> dict:
    """Shared by every implementation: rate at ``small`` (median of trials) and at ``large``."""
    round_robin_rate(run_round_robin, p["small"], p["yields"] // 4)         # warm-up
    smalls = [round_robin_rate(run_round_robin, p["small"], p["yields"]) for _ in
              range(p["trials"])]
    large = round_robin_rate(run_round_robin, p["large"], p["yields"])
    small = statistics.median(smalls)
    return {"samples": [large / small], "extra": {"small_yields_per_s": small,
                                                  "large_yields_per_s": large}}


def we_round_robin(k: int, rounds: int, stamps: list, scheduler: str = "fifo") -> None:
    th = _threads()
    sleep = th.sleep

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

    def main():
        ts = [th.spawn(first)] + [th.spawn(other) for _ in range(k - 1)]
        for t in ts:
            t.join()

    th.run(main, scheduler=scheduler)


def we_yield_scale(p: dict) -> dict:
    return scale_driver(we_round_robin, p)


def we_pth(p: dict) -> dict:
    if importlib.util.find_spec("whyevents.threads.sched_pth") is None:
        raise ModuleMissing("whyevents.threads.sched_pth (scheduler='pth')")
    th = _threads()

    def rate(scheduler: str, parked_n: int) -> float:
        count = [0]
        stop = [False]

        def yielder():
            while not stop[0]:
                count[0] += 1
                th.sleep(0)

        def main():
            ev = th.Event()
            parked = [th.spawn(ev.wait) for _ in range(parked_n)]
            ys = [th.spawn(yielder) for _ in range(p["runnable"])]
            th.sleep(0.05)
            c0, t0 = count[0], perf_counter()
            th.sleep(p["seconds"])
            c1, t1 = count[0], perf_counter()
            stop[0] = True
            ev.set()
            for t in parked + ys:
                t.join()
            return (c1 - c0) / (t1 - t0)

        return th.run(main, scheduler=scheduler)

    out = {}
    for sched in ("pth", "fifo"):
        out[f"{sched}_small_yields_per_s"] = rate(sched, p["small"])
        out[f"{sched}_large_yields_per_s"] = rate(sched, p["large"])
    out["fifo_ratio"] = out["fifo_large_yields_per_s"] / out["fifo_small_yields_per_s"]
    return {"samples": [out["pth_large_yields_per_s"] / out["pth_small_yields_per_s"]],
            "extra": out}


_WE_OPS: dict[str, Callable[[dict], dict]] = {
    "yield": we_yield, "spawn": we_spawn, "wake": we_wake, "memory": we_memory,
    "timeouts": we_timeouts, "read": we_read, "yield-scale": we_yield_scale, "pth": we_pth,
    "million": we_million,
}


def _workload(impl: str, op: str) -> Callable[[dict], dict]:
    if impl == "whyevents":
        return _WE_OPS[op]
    mod = importlib.import_module(_IMPL_MODULE[impl])
    return mod.OPS[op]


# ---------------------------------------------------------------------------------------------
# The worker process
# ---------------------------------------------------------------------------------------------

def worker_main(argv: Sequence[str] | None = None) -> None:
    """Entry point of a benchmark subprocess: run the operations of one spec, write results."""
    argv = sys.argv[1:] if argv is None else argv
    spec = json.loads(argv[0])
    cpu = spec.get("cpu")
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    impl, out_path = spec["impl"], spec["out"]
    results: dict = {"_meta": {"pid": os.getpid(), "impl": impl,
                               "affinity": sorted(os.sched_getaffinity(0))}}
    for op in spec["ops"]:
        params = dict(spec["params"][op])
        if impl in ("asyncio", "uvloop"):
            params["loop"] = impl
        t0 = perf_counter()
        try:
            r = _workload(impl, op)(params)
            r["status"] = "ok"
        except ModuleMissing as e:
            r = {"status": "n/a", "reason": f"module missing: {e}"}
        except Exception as e:  # noqa: BLE001 - recorded in the results, the run goes on
            r = {"status": "error", "reason": f"{type(e).__name__}: {e}",
                 "traceback": traceback.format_exc(limit=8)}
        r["seconds"] = perf_counter() - t0
        results[op] = r
        tmp = out_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(results, f)
        os.replace(tmp, out_path)
    sys.stdout.flush()
    # skip interpreter teardown of 100k threads' worth of objects: the results are on disk
    os._exit(0)


# ---------------------------------------------------------------------------------------------
# Provenance
# ---------------------------------------------------------------------------------------------

_PACKAGES = ("whyevents", "greenlet", "gevent", "uvloop", "trio", "psutil", "tqdm", "pandas")


def _git(root: Path, *args: str, strip: bool = True) -> str | None:
    """``git args`` in ``root``; stdout, stripped unless ``strip=False`` (porcelain status
    lines start with a status column that may be a space)."""
    try:
        r = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                           timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if r.returncode != 0:
        return None
    return r.stdout.strip() if strip else r.stdout


def repo_root() -> Path | None:
    """The git work tree this package is installed from (editable install), if any."""
    here = Path(__file__).resolve().parent
    top = _git(here, "rev-parse", "--show-toplevel")
    return Path(top) if top else None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def provenance(parameters: dict | None = None) -> dict:
    """Where a result came from: code (commit, dirty), interpreter, packages, machine, time."""
    root = repo_root()
    commit = dirty = None
    changed: list[str] = []
    if root is not None:
        commit = _git(root, "rev-parse", "HEAD")
        status = _git(root, "status", "--porcelain", "--untracked-files=all", strip=False)
        if status is not None:
            # modified or untracked code makes a run dirty; results under data/ do not
            changed = [ln[3:] for ln in status.splitlines() if not ln[3:].startswith("data/")]
            dirty = bool(changed)
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    mem = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) * 1024
    return {
        "git_commit": commit,
        "git_dirty": dirty,
        "git_changed_paths": changed[:100],
        "repo": str(root) if root else None,
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "executable": sys.executable,
        "packages": versions,
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_allowed": sorted(os.sched_getaffinity(0)),
        "memory_bytes": mem,
        "kernel": f"{platform.system()} {platform.release()} {platform.version()}",
        "machine": platform.machine(),
        "hostname": platform.node(),
        "loadavg": os.getloadavg(),
        "time_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "argv": sys.argv,
        "parameters": parameters or {},
    }


# ---------------------------------------------------------------------------------------------
# The parent: plan, run, aggregate, report
# ---------------------------------------------------------------------------------------------

@dataclass
class Config:
    """What ``whyevents bench runtime`` was asked to do."""

    profile: str = "quick"
    ops: list[str] = field(default_factory=lambda: list(OPERATIONS))
    peers: list[str] = field(default_factory=lambda: list(PEERS))
    repeat: int | None = None
    scale: float = 1.0
    json_path: Path | None = None
    pin: bool = True
    progress: bool = True
    job_timeout: float | None = None

    @property
    def repetitions(self) -> int:
        return self.repeat if self.repeat is not None else PROFILES[self.profile]["repeat"]


def _available(impl: str) -> bool:
    mod = _NEEDS.get(impl)
    return mod is None or importlib.util.find_spec(mod) is not None


def pick_cpu() -> int | None:
    """The core workers are pinned to: the last allowed one, when there is more than one."""
    allowed = sorted(os.sched_getaffinity(0))
    return allowed[-1] if len(allowed) > 1 else None


def plan_jobs(cfg: Config, impls: Sequence[str], params: dict) -> list[dict]:
    """Interleaved jobs: for each repetition, every implementation (order rotated per rep)."""
    light = [k for k in cfg.ops if OPERATIONS[k].light]
    heavy = [k for k in cfg.ops if not OPERATIONS[k].light]
    jobs = []
    for rep in range(cfg.repetitions):
        order = list(impls[rep % len(impls):]) + list(impls[:rep % len(impls)])
        for impl in order:
            ops = [k for k in light if impl in OPERATIONS[k].impls]
            if ops:
                jobs.append({"impl": impl, "ops": ops, "rep": rep})
        for k in heavy:
            op = OPERATIONS[k]
            if op.max_repeat is not None and rep >= op.max_repeat:
                continue
            for impl in order:
                if impl in op.impls:
                    jobs.append({"impl": impl, "ops": [k], "rep": rep})
    for j in jobs:
        j["params"] = {k: params[k] for k in j["ops"]}
    return jobs


def run_job(job: dict, cpu: int | None, workdir: Path, timeout: float) -> dict:
    """Run one worker subprocess; returns ``{op: result, "_meta": {...}}`` (results written
    before a crash or timeout survive it)."""
    out = workdir / f"job-{job['impl']}-{'+'.join(job['ops'])}-{job['rep']}.json"
    spec = {"impl": job["impl"], "ops": job["ops"], "params": job["params"], "out": str(out),
            "cpu": cpu}
    cmd = [sys.executable, "-c",
           "from whyevents.bench.runtime import worker_main; worker_main()", json.dumps(spec)]
    problem = None
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            problem = (f"worker exited with status {proc.returncode}: "
                       f"{proc.stderr.strip()[-1500:]}")
    except subprocess.TimeoutExpired:
        problem = f"worker timed out after {timeout:.0f} s"
    results = {}
    if out.exists():
        with open(out) as f:
            results = json.load(f)
    meta = results.pop("_meta", {})
    if problem:
        meta["problem"] = problem
    results["_meta"] = meta
    for op in job["ops"]:
        if op not in results:
            results[op] = {"status": "error", "reason": problem or "worker wrote no result"}
    return results


def _stats(samples: list[float]) -> dict:
    s = sorted(samples)
    n = len(s)
    if n == 0:
        return {"median": None, "p25": None, "p75": None, "min": None, "max": None, "n": 0}
    if n >= 2:
        q = statistics.quantiles(s, n=4, method="inclusive")
        p25, p75 = q[0], q[2]
    else:
        p25 = p75 = s[0]
    return {"median": statistics.median(s), "p25": p25, "p75": p75, "min": s[0], "max": s[-1],
            "n": n}


def _meets(op: Operation, value: float | None) -> bool | None:
    if op.target is None or value is None:
        return None
    return value <= op.target if op.better == "lower" else value >= op.target


def aggregate(cfg: Config, impls: Sequence[str], skipped: dict, params: dict,
              job_results: list[tuple[dict, dict]]) -> tuple[list[dict], list[dict]]:
    """Rows per (operation, implementation) and a verdict per operation."""
    acc: dict[tuple[str, str], dict] = {}
    for job, res in job_results:
        for k in job["ops"]:
            a = acc.setdefault((k, job["impl"]), {"samples": [], "rep_medians": [],
                                                  "extras": [], "statuses": [], "reasons": []})
            r = res.get(k, {})
            a["statuses"].append(r.get("status", "error"))
            if r.get("status") == "ok" and r.get("samples"):
                a["samples"].extend(r["samples"])
                a["rep_medians"].append(statistics.median(r["samples"]))
                a["extras"].append(r.get("extra", {}))
            elif r.get("reason"):
                a["reasons"].append(r["reason"])
    rows = []
    for k in cfg.ops:
        op = OPERATIONS[k]
        for impl in IMPLS:
            if impl not in op.impls:
                continue
            row = {"operation": k, "implementation": impl, "title": _title(op, params[k]),
                   "unit": op.unit, "better": op.better, "target": op.target,
                   "earlier_on_this_machine": op.earlier.get(impl)}
            if impl in skipped:
                row.update(status="skipped", reason=skipped[impl], **_stats([]))
            elif impl not in impls:
                continue
            else:
                a = acc.get((k, impl))
                if a is None:
                    continue
                st = _stats(a["samples"])
                if st["n"]:
                    status = "ok" if all(s == "ok" for s in a["statuses"]) else "partial"
                elif "n/a" in a["statuses"]:
                    status = "n/a"
                else:
                    status = "error"
                row.update(status=status, **st, rep_medians=a["rep_medians"],
                           samples=a["samples"], extra=a["extras"])
                if a["reasons"]:
                    row["reason"] = a["reasons"][0]
            row["target_met"] = _meets(op, row["median"])
            rows.append(row)
    verdicts = [_verdict(OPERATIONS[k], [r for r in rows if r["operation"] == k])
                for k in cfg.ops]
    return rows, verdicts


def _verdict(op: Operation, rows: list[dict]) -> dict:
    by = {r["implementation"]: r for r in rows}
    we = by.get("whyevents", {})
    v = {"operation": op.key, "target": op.target, "better": op.better,
         "whyevents": we.get("median"), "status": we.get("status"),
         "target_met": we.get("target_met")}
    peers = [r for r in rows if r["implementation"] in FRAMEWORK_PEERS
             and r.get("median") is not None]
    if peers:
        pick = min if op.better == "lower" else max
        best = pick(peers, key=lambda r: r["median"])
        v["best_peer"] = best["implementation"]
        v["best_peer_median"] = best["median"]
        if we.get("median") and best["median"]:
            v["ratio_vs_best_peer"] = we["median"] / best["median"]
            # > 1 means whyevents is better by that factor, < 1 worse
            v["advantage_vs_best_peer"] = (best["median"] / we["median"] if op.better == "lower"
                                           else we["median"] / best["median"])
    floor = by.get("greenlet")
    if floor and floor.get("median") and we.get("median"):
        v["ratio_vs_raw_greenlet"] = we["median"] / floor["median"]
    return v


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    a = abs(x)
    if a == 0:
        return "0"
    if a >= 1e6:
        return f"{x / 1e6:.2f}M"
    if a >= 1e4:
        return f"{x / 1e3:.0f}k"
    if a >= 100:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def _cell(row: dict | None) -> str:
    if row is None:
        return ""
    st = row["status"]
    if st == "skipped":
        return "skipped"
    if st == "n/a":
        return "n/a (module missing)"
    if row.get("median") is None:
        return st
    cell = _fmt(row["median"])
    if row["n"] > 1:
        cell += f" [{_fmt(row['p25'])}-{_fmt(row['p75'])}]"
    if st == "partial":
        cell += " partial"
    return cell


def _verdict_text(v: dict) -> str:
    if v.get("status") == "n/a":
        text = "n/a"
    elif v.get("target") is None:
        text = "no target"
    elif v.get("target_met") is None:
        text = "not measured"
    else:
        text = "MET" if v["target_met"] else "MISSED"
    adv = v.get("advantage_vs_best_peer")
    if adv is not None:
        if 1 / 1.15 < adv < 1.15:
            text += f"; on par with {v['best_peer']} ({adv:.2f}x, within noise)"
        elif adv >= 1:
            text += f"; {adv:.2g}x better than {v['best_peer']}"
        else:
            text += f"; {1 / adv:.2g}x worse than {v['best_peer']}"
    return text


def format_table(result: dict) -> str:
    """The human report: one line per operation, medians (min-max), target verdict."""
    rows, verdicts = result["rows"], {v["operation"]: v for v in result["verdicts"]}
    impls = ["whyevents"] + [p for p in PEERS if p in result["parameters"]["peers"]]
    header = ["operation", "unit", "target", *impls, "verdict (whyevents)"]
    lines = []
    for k in result["parameters"]["ops"]:
        op_rows = {r["implementation"]: r for r in rows if r["operation"] == k}
        if not op_rows:
            continue
        any_row = next(iter(op_rows.values()))
        lines.append([any_row["title"], OPERATIONS[k].unit, OPERATIONS[k].target_text,
                      *[_cell(op_rows.get(i)) for i in impls], _verdict_text(verdicts[k])])
    widths = [max(len(str(c)) for c in col) for col in zip(header, *lines, strict=True)]
    widths[0] = min(widths[0], 66)

    def fmt_line(cells):
        out = []
        for i, c in enumerate(cells):
            c = str(c)
            if i == 0 and len(c) > widths[0]:
                c = c[: widths[0] - 1] + "~"
            out.append(c.ljust(widths[i]))
        return " | ".join(out).rstrip()

    text = [fmt_line(header), "-+-".join("-" * w for w in widths)]
    text += [fmt_line(line) for line in lines]
    text.append("")
    text.append("cells: median [inter-quartile range] over all trials of all repetitions "
                "(min-max in the JSON); raw greenlet is a floor (no scheduler), never the "
                "'best peer'; differences under ~15% are noise on this kind of machine.")
    text += _notes(result)
    return "\n".join(text)


def _med(extras: list[dict], key: str) -> float | None:
    """Median of ``key`` over the repetitions' extras that have it (None if none has)."""
    vals = [x[key] for x in extras if isinstance(x.get(key), int | float)]
    return statistics.median(vals) if vals else None


def _notes(result: dict) -> list[str]:
    """The lines under the table: pinning, why a cell is empty, what a ratio is made of."""
    notes = []
    prov = result["provenance"]
    pin = result["parameters"].get("pinned_cpu")
    notes.append(f"workers pinned to CPU {pin}" if pin is not None
                 else "workers not pinned (one CPU allowed, or --no-pin)")
    for r in result["rows"]:
        if r["status"] in ("skipped", "n/a", "error", "partial") and r.get("reason"):
            notes.append(f"{r['operation']}/{r['implementation']}: {r['status']}: "
                         f"{r['reason'].strip().splitlines()[-1][:200]}")
    for r in result["rows"]:
        extras = r.get("extra") or []
        if not extras:
            continue
        op, impl, e = r["operation"], r["implementation"], extras[0]
        if op == "million" and "n" in e:
            if e.get("extrapolated"):
                notes.append(f"million: EXTRAPOLATED from {e['n']:,} parked threads "
                             f"({e['bytes_per_thread']:.0f} B/thread + "
                             f"{e['rss_before'] / 2**20:.0f} MiB baseline); --full measures "
                             "a real 1,000,000")
            else:
                notes.append(f"million: measured with {e['n']:,} parked threads, "
                             f"park {e['park_s']:.1f} s, wake all {e['wake_all_s']:.1f} s")
        elif op == "pth" and "fifo_ratio" in e:
            notes.append(f"pth: scheduler='pth' {_fmt(_med(extras, 'pth_small_yields_per_s'))}"
                         f" -> {_fmt(_med(extras, 'pth_large_yields_per_s'))} yields/s; "
                         f"scheduler='fifo' {_fmt(_med(extras, 'fifo_small_yields_per_s'))} -> "
                         f"{_fmt(_med(extras, 'fifo_large_yields_per_s'))} "
                         f"(ratio {_fmt(_med(extras, 'fifo_ratio'))})")
        elif op == "read" and impl == "whyevents" and "floor" in e:
            notes.append(f"read: whyevents uses {e.get('api')}; syscall floor " + ", ".join(
                f"{k} {v:.2f} us" for k, v in e["floor"].items()))
        elif op == "timeouts" and _med(extras, "small_cpu_us_per_waiter") is not None:
            late = any(x.get("large_late") for x in extras)
            notes.append(
                f"timeouts/{impl}: CPU us per waiter "
                f"{_fmt(_med(extras, 'small_cpu_us_per_waiter'))} -> "
                f"{_fmt(_med(extras, 'large_cpu_us_per_waiter'))} (spawn+park "
                f"{_fmt(_med(extras, 'small_park_cpu_us'))} -> "
                f"{_fmt(_med(extras, 'large_park_cpu_us'))}, expire+drain "
                f"{_fmt(_med(extras, 'small_expire_cpu_us'))} -> "
                f"{_fmt(_med(extras, 'large_expire_cpu_us'))})"
                + (" (some waiters expired before all had parked)" if late else ""))
        elif op == "yield-scale" and _med(extras, "small_yields_per_s") is not None:
            notes.append(f"yield-scale/{impl}: {_fmt(_med(extras, 'small_yields_per_s'))} -> "
                         f"{_fmt(_med(extras, 'large_yields_per_s'))} yields/s")
    notes.append(f"commit {prov.get('git_commit') or 'unknown'}"
                 f"{' (dirty)' if prov.get('git_dirty') else ''}, Python {prov['python']}, "
                 f"{prov['cpu_model']}, {prov['kernel'].split(' #')[0]}")
    return ["notes:"] + [f"  - {n}" for n in notes]


def default_json_path(benchmark: str = "bench-runtime") -> Path:
    """data/results/<benchmark>/<UTC timestamp>/results.json, never an existing run's."""
    root = repo_root() or Path.cwd()
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    base = root / "data" / "results" / benchmark
    path = base / stamp
    i = 2
    while path.exists():
        path = base / f"{stamp}-{i}"
        i += 1
    return path / "results.json"


def _write_json(path: Path, result: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    with open(tmp, "w") as f:
        json.dump(result, f, indent=1, default=str)
    os.replace(tmp, path)


def run_benchmark(cfg: Config) -> dict:
    """Run every requested operation for whyevents and each peer; returns the result dict and
    writes it (after every job, so an interrupted run keeps what it measured)."""
    skipped = {p: f"{_NEEDS[p]} is not installed" for p in cfg.peers if not _available(p)}
    impls = ["whyevents"] + [p for p in PEERS if p in cfg.peers and p not in skipped]
    params = {k: op_params(k, cfg.profile, cfg.scale) for k in cfg.ops}
    cpu = pick_cpu() if cfg.pin else None
    jobs = plan_jobs(cfg, impls, params)
    timeout = cfg.job_timeout or PROFILES[cfg.profile]["job_timeout"]
    json_path = cfg.json_path or default_json_path()
    parameters = {"profile": cfg.profile, "ops": cfg.ops, "peers": cfg.peers,
                  "repeat": cfg.repetitions, "scale": cfg.scale, "pinned_cpu": cpu,
                  "pin_requested": cfg.pin, "job_timeout_s": timeout, "jobs": len(jobs),
                  "op_parameters": params, "gc": "enabled (collected before each trial)"}
    result = {"schema": "whyevents.bench.runtime/1", "complete": False,
              "provenance": provenance(parameters), "parameters": parameters,
              "operations": {k: {"title": _title(OPERATIONS[k], params[k]),
                                 "unit": OPERATIONS[k].unit, "target": OPERATIONS[k].target,
                                 "better": OPERATIONS[k].better,
                                 "how": _how(OPERATIONS[k], params[k]),
                                 "earlier_on_this_machine": OPERATIONS[k].earlier}
                             for k in cfg.ops},
              "jobs": [], "rows": [], "verdicts": []}
    bar = _progress(len(jobs), cfg.progress)
    done: list[tuple[dict, dict]] = []
    t_start = perf_counter()
    with tempfile.TemporaryDirectory(prefix="whyevents-bench-") as tmp:
        for job in jobs:
            label = f"{job['impl']} {'+'.join(job['ops'])} rep {job['rep'] + 1}"
            bar.set_description(label)
            t0 = perf_counter()
            res = run_job(job, cpu, Path(tmp), timeout)
            meta = res.pop("_meta", {})
            done.append((job, res))
            result["jobs"].append({"impl": job["impl"], "ops": job["ops"], "rep": job["rep"],
                                   "seconds": round(perf_counter() - t0, 3),
                                   "worker_affinity": meta.get("affinity"),
                                   "problem": meta.get("problem"),
                                   "statuses": {k: v.get("status") for k, v in res.items()}})
            result["rows"], result["verdicts"] = aggregate(cfg, impls, skipped, params, done)
            _write_json(json_path, result)
            bar.update(1)
    bar.close()
    result["complete"] = True
    result["provenance"]["elapsed_s"] = round(perf_counter() - t_start, 1)
    result["provenance"]["time_end_utc"] = _dt.datetime.now(_dt.UTC).isoformat(
        timespec="seconds")
    result["provenance"]["loadavg_end"] = os.getloadavg()
    result["json_path"] = str(json_path)
    _write_json(json_path, result)
    with open(json_path.parent / "table.txt", "w") as f:
        f.write(format_table(result) + "\n")
    return result


class _NoBar:
    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.n, self.enabled = total, 0, enabled

    def set_description(self, text: str) -> None:
        if self.enabled:
            print(f"[{self.n + 1}/{self.total}] {text}", file=sys.stderr, flush=True)

    def update(self, k: int) -> None:
        self.n += k

    def close(self) -> None:
        pass


def _progress(total: int, enabled: bool):
    if not enabled:
        return _NoBar(total, False)
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar(total, True)
    return tqdm(total=total, unit="job", file=sys.stderr, dynamic_ncols=True, leave=True)


# ---------------------------------------------------------------------------------------------
# Command line (``whyevents bench runtime``; the parser lives in whyevents.repro.cli)
# ---------------------------------------------------------------------------------------------

_OP_SHORT = {
    "yield": "yield round trip, sleep(0) [us/call]",
    "spawn": "spawn + start + finish [us/thread]",
    "wake": "wake a parked thread + join [us/thread]",
    "memory": "idle memory per parked thread [KB/thread]",
    "timeouts": "waiters on one lock all time out: per-waiter cost, large vs small N [ratio]",
    "read": "8 KiB read of a cached file, non-blocking API [us/read]",
    "yield-scale": "yields/s, 10 vs 100,000 runnable threads (quick: 20,000) [ratio]",
    "pth": "pth scheduler yields/s, 10 vs 10,000 parked threads [ratio]",
    "million": "1,000,000 parked threads: RSS [GiB] (quick: extrapolated from 100,000)",
}
_OP_HELP = "\n".join(f"  {k:<12} {_OP_SHORT[k]}" for k in OPERATIONS)

DESCRIPTION = f"""\
Micro-benchmarks of the green-thread runtime (whyevents.threads) against gevent, asyncio,
uvloop, trio and raw greenlet, measured in the same run: every implementation in its own
subprocess pinned to one core, repetitions interleaved (A B A B ...), medians with IQR.
Prints a table with a target verdict per row and writes JSON with provenance. Never fails on a
missed target: the exit status is 0 unless a whyevents worker crashed.

operations (--only / --skip):
{_OP_HELP}
"""

EPILOG = """\
examples:
  whyevents bench runtime                              quick profile, < 2 minutes
  whyevents bench runtime --only yield,spawn --repeat 1
  whyevents bench runtime --full --skip million       the table's N, without 1M threads
  whyevents bench runtime --peers gevent,trio --json /tmp/r.json
"""


def _csv_choice(kind: str, choices: Sequence[str], allow_none: bool = False):
    def parse(text: str) -> list[str]:
        items = [s.strip() for s in text.split(",") if s.strip()]
        if allow_none and items in (["none"], []):
            return []
        if not items:
            raise argparse.ArgumentTypeError(f"empty {kind} list; choose from "
                                             f"{', '.join(choices)}")
        bad = [s for s in items if s not in choices]
        if bad:
            raise argparse.ArgumentTypeError(
                f"unknown {kind} {', '.join(repr(b) for b in bad)}; choose from "
                f"{', '.join(choices)}")
        return list(dict.fromkeys(items))
    parse.__name__ = kind
    return parse


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {v}")
    return v


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not v > 0 or v != v or v == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return v


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``whyevents bench runtime``."""
    prof = p.add_mutually_exclusive_group()
    prof.add_argument("--quick", dest="profile", action="store_const", const="quick",
                      help="small N, 3 repetitions, < 2 minutes (the default)")
    prof.add_argument("--full", dest="profile", action="store_const", const="full",
                      help="the table's N (100,000 threads, 80,000 waiters, 1,000,000 parked "
                           "threads), 5 repetitions: ~17 minutes on 2 vCPUs; the million row "
                           "alone needs ~7 GiB and ~40 s")
    p.set_defaults(profile="quick")
    ops = ",".join(OPERATIONS)
    p.add_argument("--only", metavar="OP[,OP]", type=_csv_choice("operation", list(OPERATIONS)),
                   help=f"run only these operations (of {ops})")
    p.add_argument("--skip", metavar="OP[,OP]", type=_csv_choice("operation", list(OPERATIONS)),
                   default=[], help="leave these operations out")
    p.add_argument("--peers", metavar="PEER[,PEER]",
                   type=_csv_choice("peer", list(PEERS), allow_none=True), default=list(PEERS),
                   help=f"peers to measure beside whyevents (default: {','.join(PEERS)}; "
                        "'none' for whyevents alone); peers not installed are skipped with a "
                        "note")
    p.add_argument("--repeat", metavar="K", type=_positive_int,
                   help="repetitions per configuration (default: 3 quick, 5 full)")
    p.add_argument("--scale", metavar="F", type=_positive_float, default=1.0,
                   help="multiply every N by F (e.g. 0.01 for a smoke test); default 1")
    p.add_argument("--json", metavar="PATH", type=Path, dest="json_path",
                   help="where to write the results (default: "
                        "data/results/bench-runtime/<timestamp>/results.json)")
    p.add_argument("--no-pin", dest="pin", action="store_false",
                   help="do not pin the benchmark subprocesses to one core")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bar on stderr")
    p.add_argument("--job-timeout", metavar="SECONDS", type=_positive_float,
                   help="kill a worker after this long (default: 240 quick, 1200 full)")


def config_from_args(args: argparse.Namespace) -> Config:
    wanted = set(args.only) if args.only else set(OPERATIONS)
    ops = [k for k in OPERATIONS if k in wanted and k not in (args.skip or [])]   # table order
    return Config(profile=args.profile, ops=ops, peers=list(args.peers), repeat=args.repeat,
                  scale=args.scale, json_path=args.json_path, pin=args.pin,
                  progress=args.progress, job_timeout=args.job_timeout)


def main_from_args(args: argparse.Namespace, parser: argparse.ArgumentParser | None = None) -> int:
    """Run ``whyevents bench runtime`` with parsed arguments; print the table; exit status."""
    cfg = config_from_args(args)
    if not cfg.ops:
        msg = "argument --skip: nothing left to run"
        if parser is not None:
            parser.error(msg)
        print(msg, file=sys.stderr)
        return 2
    if cfg.json_path is not None and cfg.json_path.exists() and cfg.json_path.is_dir():
        msg = f"argument --json: {cfg.json_path} is a directory; give a file path"
        if parser is not None:
            parser.error(msg)
        print(msg, file=sys.stderr)
        return 2
    if cfg.profile == "full" and "million" in cfg.ops:
        print("note: --full includes 1,000,000 parked threads (~7 GiB RSS, ~1 minute); "
              "--skip million leaves it out", file=sys.stderr)
    result = run_benchmark(cfg)
    print(format_table(result))
    print(f"\nresults: {result['json_path']}")
    crashed = [r for r in result["rows"]
               if r["implementation"] == "whyevents" and r["status"] == "error"]
    if crashed:
        print("whyevents workers failed: " + ", ".join(r["operation"] for r in crashed),
              file=sys.stderr)
        return 1
    return 0
