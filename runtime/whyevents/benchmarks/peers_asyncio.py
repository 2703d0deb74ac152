"""asyncio's and uvloop's side of ``whyevents bench runtime`` (one module: same code, two loops).

Written as an asyncio user would: tasks from ``create_task``, joined by awaiting them; ``await
asyncio.sleep(0)`` to yield; ``asyncio.Event``; ``asyncio.Lock`` with ``asyncio.timeout_at``;
``asyncio.to_thread`` for file reads. ``params["loop"]`` picks the loop: "asyncio" (the stdlib's
selector loop) or "uvloop" (``uvloop.new_event_loop`` through ``asyncio.Runner``, so no global
policy is touched).
"""

from __future__ import annotations

import asyncio
import gc
import os
from time import perf_counter, process_time

from .runtime_workloads import cached_file, offsets, rss_bytes, scale_driver, timeouts_driver


def _run(p: dict, coro_fn, *args):
    factory = None
    if p.get("loop") == "uvloop":
        import uvloop
        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro_fn(*args))


def op_yield(p: dict) -> dict:
    n, trials = p["n"], p["trials"]
    sleep = asyncio.sleep

    async def pinger():
        for _ in range(n):
            await sleep(0)

    async def main():
        out = []
        for _ in range(trials + 1):
            gc.collect()
            a, b = asyncio.create_task(pinger()), asyncio.create_task(pinger())
            t0 = perf_counter()
            await a
            await b
            out.append((perf_counter() - t0) / (2 * n) * 1e6)
        return out[1:]

    return {"samples": _run(p, main)}


def op_spawn(p: dict) -> dict:
    n, batch, trials = p["n"], p["batch"], p["trials"]

    async def noop():
        pass

    async def main():
        create = asyncio.create_task
        out = []
        for _ in range(trials + 1):
            gc.collect()
            t0 = perf_counter()
            for _ in range(n // batch):
                ts = [create(noop()) for _ in range(batch)]
                for t in ts:
                    await t
            out.append((perf_counter() - t0) / (n // batch * batch) * 1e6)
        return out[1:]

    return {"samples": _run(p, main)}


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
                evs = [asyncio.Event() for _ in range(batch)]
                ts = [asyncio.create_task(waiter(ev)) for ev in evs]
                while parked[0] < batch:
                    await asyncio.sleep(0)
                t0 = perf_counter()
                for ev in evs:
                    ev.set()
                for t in ts:
                    await t
                total += perf_counter() - t0
            out.append(total / (n // batch * batch) * 1e6)
        return out[1:]

    return {"samples": _run(p, main)}


def op_memory(p: dict) -> dict:
    n = p["n"]
    parked = [0]

    async def waiter(ev):
        parked[0] += 1
        await ev.wait()

    async def main():
        ev0 = asyncio.Event()
        warm = [asyncio.create_task(waiter(ev0)) for _ in range(100)]
        await asyncio.sleep(0)
        ev0.set()
        for t in warm:
            await t
        parked[0] = 0
        ev = asyncio.Event()
        gc.collect()
        r0 = rss_bytes()
        ts = [asyncio.create_task(waiter(ev)) for _ in range(n)]
        while parked[0] < n:
            await asyncio.sleep(0)
        r1 = rss_bytes()
        ev.set()
        for t in ts:
            await t
        return {"rss_before": r0, "rss_parked": r1, "n": n}

    m = _run(p, main)
    return {"samples": [(m["rss_parked"] - m["rss_before"]) / n / 1000], "extra": m}


def op_timeouts(p: dict) -> dict:
    def once(n: int, per_waiter_s: float) -> dict:
        async def main():
            loop = asyncio.get_running_loop()
            lock = asyncio.Lock()
            await lock.acquire()
            parked = [0]
            got = [0]
            budget = p["slack_s"] + n * per_waiter_s
            deadline = loop.time() + budget

            async def waiter():
                parked[0] += 1
                try:
                    async with asyncio.timeout_at(deadline):
                        await lock.acquire()
                except TimeoutError:
                    return
                got[0] += 1
                lock.release()

            gc.collect()
            c0, w0 = process_time(), perf_counter()
            ts = [asyncio.create_task(waiter()) for _ in range(n)]
            while parked[0] < n:
                await asyncio.sleep(0)
            c1, w1 = process_time(), perf_counter()
            late = loop.time() > deadline
            for t in ts:
                await t
            c2, w2 = process_time(), perf_counter()
            lock.release()
            return {"n": n, "cpu_us_per_waiter": (c2 - c0) / n * 1e6,
                    "park_cpu_us": (c1 - c0) / n * 1e6, "expire_cpu_us": (c2 - c1) / n * 1e6,
                    "park_wall_s": w1 - w0, "wall_s": w2 - w0, "timeout_s": budget,
                    "late": late, "acquired": got[0]}
        return _run(p, main)

    return timeouts_driver(once, p)


def op_read(p: dict) -> dict:
    n, size, trials = p["n"], p["size"], p["trials"]
    with cached_file(p["file_size"]) as (_path, fd):
        offs = offsets(n, size, p["file_size"])

        async def main():
            to_thread, pread = asyncio.to_thread, os.pread
            out = []
            for _ in range(trials + 1):
                t0 = perf_counter()
                for off in offs:
                    await to_thread(pread, fd, size, off)
                out.append((perf_counter() - t0) / n * 1e6)
            return out[1:]

        samples = _run(p, main)
    return {"samples": samples, "extra": {"api": "asyncio.to_thread(os.pread)"}}


def op_yield_scale(p: dict) -> dict:
    def round_robin(k: int, rounds: int, stamps: list) -> None:
        async def first():
            for r in range(rounds):
                if r == 1:
                    stamps[0], stamps[2] = perf_counter(), stamps[4]
                elif r == rounds - 1:
                    stamps[1], stamps[3] = perf_counter(), stamps[4]
                stamps[4] += 1
                await asyncio.sleep(0)

        async def other():
            for _ in range(rounds):
                stamps[4] += 1
                await asyncio.sleep(0)

        async def main():
            ts = [asyncio.create_task(first())]
            ts += [asyncio.create_task(other()) for _ in range(k - 1)]
            for t in ts:
                await t

        _run(p, main)

    return scale_driver(round_robin, p)


OPS = {"yield": op_yield, "spawn": op_spawn, "wake": op_wake, "memory": op_memory,
       "timeouts": op_timeouts, "read": op_read, "yield-scale": op_yield_scale}
