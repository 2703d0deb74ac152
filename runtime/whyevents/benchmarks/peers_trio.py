"""trio's side of ``whyevents bench runtime``, written as trio users would.

Tasks are started with ``nursery.start_soon`` and joined by leaving the nursery (trio has no
per-task join); ``await trio.sleep(0)`` yields; ``trio.Event``; ``trio.Lock`` with
``trio.move_on_at``; ``trio.to_thread.run_sync(os.pread, ...)`` for file reads (what
``trio.open_file(...).read`` does underneath, minus the file object's seek).
"""

from __future__ import annotations

import gc
import os
from time import perf_counter, process_time

import trio

from .runtime_workloads import cached_file, offsets, rss_bytes, scale_driver, timeouts_driver


def op_yield(p: dict) -> dict:
    n, trials = p["n"], p["trials"]

    async def pinger():
        for _ in range(n):
            await trio.sleep(0)

    async def main():
        out = []
        for _ in range(trials + 1):
            gc.collect()
            t0 = perf_counter()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(pinger)
                nursery.start_soon(pinger)
            out.append((perf_counter() - t0) / (2 * n) * 1e6)
        return out[1:]

    return {"samples": trio.run(main)}


def op_spawn(p: dict) -> dict:
    n, batch, trials = p["n"], p["batch"], p["trials"]

    async def noop():
        pass

    async def main():
        out = []
        for _ in range(trials + 1):
            gc.collect()
            t0 = perf_counter()
            for _ in range(n // batch):
                async with trio.open_nursery() as nursery:
                    for _ in range(batch):
                        nursery.start_soon(noop)
            out.append((perf_counter() - t0) / (n // batch * batch) * 1e6)
        return out[1:]

    return {"samples": trio.run(main)}


def op_wake(p: dict) -> dict:
    n, batch, trials = p["n"], p["batch"], p["trials"]
    parked = [0]

    async def waiter(ev):
        parked[0] += 1
        await ev.wait()

    async def main():
        out = []
        for _ in range(trials + 1):
            gc.collect()
            total = 0.0
            for _ in range(n // batch):
                parked[0] = 0
                evs = [trio.Event() for _ in range(batch)]
                async with trio.open_nursery() as nursery:
                    for ev in evs:
                        nursery.start_soon(waiter, ev)
                    while parked[0] < batch:
                        await trio.sleep(0)
                    t0 = perf_counter()
                    for ev in evs:
                        ev.set()
                total += perf_counter() - t0        # leaving the nursery joined them all
            out.append(total / (n // batch * batch) * 1e6)
        return out[1:]

    return {"samples": trio.run(main)}


def op_memory(p: dict) -> dict:
    n = p["n"]
    parked = [0]

    async def waiter(ev):
        parked[0] += 1
        await ev.wait()

    async def main():
        ev0 = trio.Event()
        async with trio.open_nursery() as nursery:
            for _ in range(100):
                nursery.start_soon(waiter, ev0)
            await trio.sleep(0)
            ev0.set()
        parked[0] = 0
        ev = trio.Event()
        gc.collect()
        r0 = rss_bytes()
        async with trio.open_nursery() as nursery:
            for _ in range(n):
                nursery.start_soon(waiter, ev)
            while parked[0] < n:
                await trio.sleep(0)
            r1 = rss_bytes()
            ev.set()
        return {"rss_before": r0, "rss_parked": r1, "n": n}

    m = trio.run(main)
    return {"samples": [(m["rss_parked"] - m["rss_before"]) / n / 1000], "extra": m}


def op_timeouts(p: dict) -> dict:
    def once(n: int, per_waiter_s: float) -> dict:
        async def main():
            lock = trio.Lock()
            await lock.acquire()
            parked = [0]
            got = [0]
            budget = p["slack_s"] + n * per_waiter_s
            deadline = trio.current_time() + budget

            async def waiter():
                parked[0] += 1
                with trio.move_on_at(deadline):
                    await lock.acquire()
                    got[0] += 1
                    lock.release()

            gc.collect()
            c0, w0 = process_time(), perf_counter()
            async with trio.open_nursery() as nursery:
                for _ in range(n):
                    nursery.start_soon(waiter)
                while parked[0] < n:
                    await trio.sleep(0)
                c1, w1 = process_time(), perf_counter()
                late = trio.current_time() > deadline
            c2, w2 = process_time(), perf_counter()
            lock.release()
            return {"n": n, "cpu_us_per_waiter": (c2 - c0) / n * 1e6,
                    "park_cpu_us": (c1 - c0) / n * 1e6, "expire_cpu_us": (c2 - c1) / n * 1e6,
                    "park_wall_s": w1 - w0, "wall_s": w2 - w0, "timeout_s": budget,
                    "late": late, "acquired": got[0]}
        return trio.run(main)

    return timeouts_driver(once, p)


def op_read(p: dict) -> dict:
    n, size, trials = p["n"], p["size"], p["trials"]
    with cached_file(p["file_size"]) as (_path, fd):
        offs = offsets(n, size, p["file_size"])

        async def main():
            run_sync, pread = trio.to_thread.run_sync, os.pread
            out = []
            for _ in range(trials + 1):
                t0 = perf_counter()
                for off in offs:
                    await run_sync(pread, fd, size, off)
                out.append((perf_counter() - t0) / n * 1e6)
            return out[1:]

        samples = trio.run(main)
    return {"samples": samples, "extra": {"api": "trio.to_thread.run_sync(os.pread)"}}


def op_yield_scale(p: dict) -> dict:
    def round_robin(k: int, rounds: int, stamps: list) -> None:
        async def first():
            for r in range(rounds):
                if r == 1:
                    stamps[0], stamps[2] = perf_counter(), stamps[4]
                elif r == rounds - 1:
                    stamps[1], stamps[3] = perf_counter(), stamps[4]
                stamps[4] += 1
                await trio.sleep(0)

        async def other():
            for _ in range(rounds):
                stamps[4] += 1
                await trio.sleep(0)

        async def main():
            async with trio.open_nursery() as nursery:
                nursery.start_soon(first)
                for _ in range(k - 1):
                    nursery.start_soon(other)

        trio.run(main)

    return scale_driver(round_robin, p)


OPS = {"yield": op_yield, "spawn": op_spawn, "wake": op_wake, "memory": op_memory,
       "timeouts": op_timeouts, "read": op_read, "yield-scale": op_yield_scale}
