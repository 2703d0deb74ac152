"""The operations of ``whyevents bench runtime``: what each row measures, its unit and target.

A table, not code: ``OPERATIONS`` holds one ``Operation`` per row (title, unit, the target
whyevents aims at, which implementations run it, whether it shares a worker process with the
other light operations), ``PROFILES`` the sizes per profile, ``SHORT`` the one-line help. The
peers' figures are measured in the same run as whyevents' (``whyevents bench runtime`` prints
them and writes them to its JSON under ``data/results/bench-runtime/``); none is written here.
Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass

from whyevents.harness.stats import fmt

__all__ = [
    "IMPLS", "PEERS", "FRAMEWORK_PEERS", "NEEDS", "IMPL_MODULE", "Operation", "OPERATIONS",
    "PROFILES", "SHORT", "op_params", "title", "how",
]

#: Every implementation, in table-column order. "greenlet" is raw greenlet: a floor, not a peer.
IMPLS = ("whyevents", "gevent", "asyncio", "uvloop", "trio", "greenlet")
PEERS = IMPLS[1:]
#: The peers "best peer" is chosen from (raw greenlet is a lower bound, not a framework).
FRAMEWORK_PEERS = ("gevent", "asyncio", "uvloop", "trio")
#: The module each implementation needs (asyncio is always there).
NEEDS = {"gevent": "gevent", "uvloop": "uvloop", "trio": "trio", "greenlet": "greenlet"}
#: Where each implementation's workloads live.
IMPL_MODULE = {
    "gevent": "whyevents.benchmarks.peers_gevent",
    "asyncio": "whyevents.benchmarks.peers_asyncio",
    "uvloop": "whyevents.benchmarks.peers_asyncio",
    "trio": "whyevents.benchmarks.peers_trio",
    "greenlet": "whyevents.benchmarks.peers_greenlet",
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
    how: str = ""                # one sentence: how it is measured (goes into the JSON)

    @property
    def target_text(self) -> str:
        if self.target is None:
            return "(shows O(n))"
        sign = "<=" if self.better == "lower" else ">="
        return f"{sign} {fmt(self.target)}"


OPERATIONS: dict[str, Operation] = {op.key: op for op in [
    Operation(
        "yield", "yield round trip, sleep(0)", "us/call", 0.5, "lower", _ALL, light=True,
        how="two threads ping-pong by sleep(0), {n:,} calls each; wall time / calls "
            "(raw greenlet: direct switches, time per switch)"),
    Operation(
        "spawn", "spawn + start + finish", "us/thread", 3.0, "lower", _ALL, light=True,
        how="{n:,} trivial threads in batches of {batch:,} in flight: spawn the batch, join it"),
    Operation(
        "wake", "wake a parked thread + join", "us/thread", 3.0, "lower", _NO_FLOOR[:5],
        light=True,
        how="batches of {batch:,} threads each parked on its own Event: set every event, "
            "join every thread; {n:,} threads, only set+join is timed"),
    Operation(
        "memory", "idle memory per parked thread, N={n:,}", "KB/thread", 6.5, "lower", _ALL,
        how="fresh process: RSS delta / N with N threads parked on one Event (KB = 1000 bytes)"),
    Operation(
        "timeouts", "lock, all waiters time out: cost/waiter, {large:,} vs {small:,}",
        "x (ratio)", 1.2, "lower", _NO_FLOOR[:5],
        how="main holds a Lock; N threads acquire(timeout) towards one common deadline, far "
            "enough (4x the small runs' parking time per waiter) that all park before any "
            "expires; process CPU per waiter (spawn, park, expire, drain), N=large over N=small"),
    Operation(
        "read", "8 KiB read of a cached file", "us/read", 3.0, "lower", _NO_FLOOR[:5],
        light=True,
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


def title(op: Operation, params: dict) -> str:
    return op.title.format(**params)


def how(op: Operation, params: dict) -> str:
    try:
        return op.how.format(**params)
    except (KeyError, IndexError):
        return op.how


SHORT = {
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
