"""The whyevents side of ``whyevents bench runtime``, and the drivers every implementation shares.

The workloads (``we_yield``, ``we_spawn``, ...; ``OPS`` maps an operation to its function) run
in a worker subprocess (``runtime_worker``) and return ``{"samples": [...], "extra": {...}}``.
The peers' workloads live in ``peers_<name>.py`` with the same shapes, written as each
framework's users would; what is really the same for all of them lives here, once: the cached
file and its read offsets (``cached_file``, ``offsets``, ``syscall_floor_us``), the lock-timeout
driver (``timeouts_driver``) and the round-robin rate driver (``round_robin_rate``,
``scale_driver``). Standard library only at import (the runtime is imported by the workloads).
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import importlib.util
import os
import statistics
import tempfile
from collections.abc import Callable
from time import monotonic, perf_counter, process_time

from whyevents.harness.procs import rss_bytes

__all__ = [
    "ModuleMissing", "cached_file", "offsets", "syscall_floor_us", "timeouts_driver",
    "round_robin_rate", "scale_driver", "rss_bytes", "OPS",
]


# ---------------------------------------------------------------------------------------------
# Helpers the workers share (stdlib only: every worker imports this module)
# ---------------------------------------------------------------------------------------------

class ModuleMissing(Exception):
    """The implementation of an operation is not there (yet): the row says n/a, not error."""


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

    return timeouts_driver(once, p)


def timeouts_driver(once: Callable[[int, float], dict], p: dict) -> dict:
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


OPS: dict[str, Callable[[dict], dict]] = {
    "yield": we_yield, "spawn": we_spawn, "wake": we_wake, "memory": we_memory,
    "timeouts": we_timeouts, "read": we_read, "yield-scale": we_yield_scale, "pth": we_pth,
    "million": we_million,
}
