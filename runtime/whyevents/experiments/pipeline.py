"""The task-pipeline experiment (paper section 3, Figure 2: SEDA's threaded-server benchmark).

What it measures: N tasks in flight in one process (closed loop: each completion issues a new
task), each task one 8 KiB read of one page-cached file; throughput (tasks/s over a fixed window
after a warm-up) and latency (issue to end of read: p50, p90, p99) against N, for

* ``whyevents`` green threads, one per task slot, under the ``fifo`` hub (O(1) per switch) and
  the ``pth`` scheduler (GNU Pth 2.0.7's event manager, which walks every waiting thread on every
  switch): the paper's "optimized Pth" and its unmodified original;
* ``kernel`` threads, one per task slot (the same program on ``threading``);
* ``event``: the event server, one loop pulling tasks from a deque;
* ``greenlet``: the substrate floor, the threaded program on raw greenlet with the least
  scheduler that runs it (what no greenlet runtime can go below);
* ``coro``: compiler-transformed threads, the threaded program as ``async def`` on
  ``threads.coro``'s O(1) loop (section 4; full profile, and the ``compiler`` experiment);
* ``gen``: the same transform with nothing on top, each thread a generator that yields the list
  it waits on (``pipeline_gen``): the floor of compiler-transformed threads;
* optional peers ``gevent`` and ``asyncio`` (the threaded program in their idiom).

The workload itself, and why it is shaped so, is in ``pipeline_worker``'s docstring: in short, a
dispatcher hands each task to a parked worker thread through its own ``Event``, the worker reads
and reports back through a queue, then parks again, so every task passes through the scheduler.

Why this module is shaped this way:

* **One subprocess per point**, pinned to one core (the last allowed CPU when the machine has
  two or more; the parent keeps the others): a kernel-thread point leaves thousands of OS threads
  behind, a green point tens of thousands of greenlets, gevent patches its hub state, and a crash
  or a hang must cost one point, not the sweep. A point that crashes, times out, or whose threads
  the OS refuses is a ``failed`` row with a one-line reason; ``measure`` never raises (except
  ``KeyboardInterrupt``, after killing the subprocess).
* **Time windows, not fixed task counts**: at 10,000 tasks the ``pth`` scheduler completes a
  few thousand tasks a second (by design: that is the O(n) the paper removed), so a point runs
  for a time, not for a number of tasks, and a slow configuration shows as low throughput, not
  as a run that never ends. The window also lasts at least one *round* (N completions) and
  closes on a whole number of rounds, so it averages whole cycles of a schedule whose pace is
  periodic in rounds (``pth`` completes tasks quickly while few workers wait and slowly when all
  do) wherever it starts; the warm-up lasts a quarter round (and ``warmup_s``). For fast
  configurations a round is far shorter than the window; for ``pth`` at 10,000 tasks it is a few
  seconds, and it grows as N^2 beyond that (a round is O(N^2) work). A pth point still costs
  about two round-times: the dispatcher, queued behind all N workers that seeding made ready,
  first runs a round-time after the seeding, so the warm-up lasts that long whatever its count
  (each row records both: ``warmup_s_actual`` and ``measured_s``); so points above
  ``pth_once_above`` are measured in rep 0 only.
* **Caps are rows, not silence**: kernel threads beyond ``kernel_max_tasks`` (the machine's
  pid_max is shared with every process on it) and ``pth`` beyond ``pth_max_tasks`` (one point's
  warm-up round grows as N^2) give ``skipped`` rows that say why; a kernel point the OS refuses
  gives a ``failed`` row, and larger kernel points in the same sweep are then skipped.
* **Interleaved repetitions**: rep 0 of every (N, backend), then rep 1, ..., and at each N the
  backends run back to back, so the machine's drift hits every configuration alike.
* **Paired, time-sliced points** (``pairing``, issue 21; ``backends`` in both profiles, the
  full one since its first complete paired run, 20261206T143901Z-6623): another tenant can slow
  the shared core by half for minutes, so two points measured a minute apart can differ by more
  than the effect a claim compares. With ``pairing=tasks`` the backends at one N (with
  ``pairing=backends`` one backend's task counts, and the task counts of the backends in
  ``pair_together``, fifo and event, side by side) run as one group: their processes start
  together on the same core and warm up side by side (each stopped once warm), then the parent lets
  each run alone for ``slice_s`` in turn (SIGSTOP / SIGCONT), the order reversed every cycle
  (ABBA), for ``window_s`` of slices per process (after one unrecorded cycle to settle). Each
  process publishes its completion count in shared memory (``pipeline_worker.SlicedMeter``); the
  parent reads it at every slice edge, so each cycle gives one rate per process, measured within
  a fraction of a second of the others: a slowdown lasting seconds hits the slices of a cycle
  alike. A row's ``throughput_rps`` is its
  slices' completions over their time, ``slice_rates`` the per-slice rates and ``pair`` the
  group (``repro.claims`` resamples a group's slices together for the interval); where a round
  (N completions) outlasts a slice, completions come in bursts a round apart and a fixed
  window's count moves by whole rounds, so the row's throughput is whole rounds over the
  member's own run time instead (``_rounds_rate``; ``throughput_window_rps`` keeps the other).
  A sliced row's latency is that of the tasks issued and completed within one slice (a task
  in flight across a stop would count the stop). ``pth`` points are never grouped: their pace
  is periodic in rounds that outlast many slices (a slice would measure whichever part of a
  round it fell on), and
  they run alone as without pairing.
  ``whyevents run pipeline -p pairing=tasks`` measures this way; ``tests/test_pairing.py``
  injects a CPU hog on the measured core for part of a run and compares the paired ratio with
  the ratio of points measured one after the other.
* **Builds** (``builds``): each point runs on the interpreted build (the ``.py``; its subprocess
  gets ``WHYEVENTS_PURE_PYTHON=1``) or on the compiled one (``make build-compiled``,
  ``whyevents.accel``: the runtime and the event loop compiled alike). Both give the 2x2,
  interpreted vs compiled x threads vs events, from one interleaved run; each row's ``build``
  says which was asked and ``build_used`` what the subprocess ran. Threads and events are
  compared within one build, never across builds.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from whyevents.accel.build import BUILDS as _BUILDS
from whyevents.accel.build import build_env, check_builds
from whyevents.harness.procs import pick_cpu
from whyevents.threads.registry import POLLER_NAMES

from .pipeline_worker import ROUND_RING, ROUND_RING_AT, SLICED_MAP_BYTES

__all__ = [
    "EXPERIMENT", "DESCRIPTION", "KEY_FIELDS", "SUMMARY_FIELDS", "PROFILES", "PARAM_HELP",
    "BACKENDS", "PEERS", "check_params", "points", "prepare", "measure", "limits", "pick_cpu",
    "cached_file", "COLUMNS", "PAIRINGS", "follow_up_points",
]

#: the columns every row carries, which the claims read (``repro.claims.COLUMNS`` collects each
#: experiment's; the experiment owns its schema, the claims layer above only reads it)
COLUMNS = ("backend", "scheduler", "tasks", "build", "throughput_rps", "latency_p50_ms",
           "status")

EXPERIMENT = "pipeline"

DESCRIPTION = (
    "Figure 2 (section 3): SEDA's threaded-server benchmark. N concurrent tasks, each an 8 KiB "
    "read of one page-cached file, generated inside the process in a closed loop (a completed "
    "task is replaced at once). Throughput (tasks/s over a fixed window after a warm-up) and "
    "latency (p50/p90/p99, issue to end of read) against N for green threads with one thread per "
    "task under the fifo hub (O(1) per switch, the paper's optimized Pth) and the pth scheduler "
    "(GNU Pth's O(n)-per-switch event manager), kernel threads, the single-threaded event server "
    "and, optionally, gevent and asyncio. The paper's claims: the optimized thread package stays "
    "flat to 100,000 tasks and matches the event server; the O(n) scheduler collapses as 1/N; "
    "kernel threads degrade. Each point runs in its own subprocess pinned to one core."
)

#: columns identifying one point
KEY_FIELDS = ("backend", "scheduler", "tasks", "build", "rep")
#: shown live after each point
SUMMARY_FIELDS = ("throughput_rps", "latency_p50_ms")

#: ``backends`` parameter value -> (backend column, scheduler column)
BACKENDS: dict[str, tuple[str, str]] = {
    "fifo": ("whyevents", "fifo"),
    "pth": ("whyevents", "pth"),
    "kernel": ("kernel", "-"),
    "event": ("event", "-"),
    "coro": ("coro", "-"),
    "greenlet": ("greenlet", "-"),
    "gen": ("gen", "-"),
}
#: optional peers (``peers`` parameter): backend column, scheduler "-"
PEERS = ("gevent", "asyncio")
#: ``builds`` parameter values (``whyevents.accel.build``)
BUILDS = _BUILDS

_QUICK_TASKS = [1, 10, 100, 1000, 10000]
_FULL_TASKS = [1, 4, 16, 64, 256, 1000, 4096, 10000, 16384, 65536, 100000, 262144]

PROFILES: dict[str, dict] = {
    "quick": {
        "tasks": _QUICK_TASKS,
        "backends": ["fifo", "pth", "kernel", "event", "greenlet", "gen"],
        "peers": [],
        # three interleaved repetitions, reduced to their median by the claims: one short window
        # varies a lot between runs on a shared machine (paper/MARGINS.md shows by how much)
        "reps": 3,
        "warmup_s": 0.5,
        # a quarter round: the window's whole rounds measure pth's periodic pace wherever they
        # start (pipeline_worker's docstring has the measurement)
        "warmup_rounds": 0.25,
        "window_s": 1.5,
        "window_rounds": 1,
        "read_bytes": 8192,
        "file_bytes": 1 << 20,
        "tasks_total": 0,
        "timeout_s": 120.0,
        "kernel_max_tasks": 10000,
        "pth_max_tasks": 10000,
        "pth_once_above": 10000,
        "poller": "epoll",
        "pin": True,
        "builds": ["interpreted"],
        # one backend's task counts time-sliced on one core (pth apart): the flatness claims
        # compare a backend with itself across N, and a host slowdown hits its slices alike
        # (issue 21; ci/pairing_check.py and tests/test_pairing.py measure why)
        "pairing": "backends",
        # ... except the two C2.5 compares: fifo's and the event server's task counts are one
        # group, so their ratio pairs by slice (or, where a round outlasts a slice, by rep
        # within one stretch of time) instead of by rep across groups measured minutes apart
        "pair_together": ["fifo", "event"],
        "slice_s": 0.2,
        # follow-up rounds for claims left INCONCLUSIVE (repro.runner): one more rep of the
        # points such a claim reads per round
        "extra_reps": 3,
    },
    "full": {
        "tasks": _FULL_TASKS,
        "backends": ["fifo", "pth", "kernel", "event", "coro", "greenlet", "gen"],
        "peers": ["gevent", "asyncio"],
        "reps": 3,
        "warmup_s": 1.0,
        "warmup_rounds": 0.25,
        "window_s": 3.0,
        "window_rounds": 1,
        "read_bytes": 8192,
        "file_bytes": 1 << 20,
        "tasks_total": 0,
        "timeout_s": 3600.0,
        "kernel_max_tasks": 16384,
        "pth_max_tasks": 100000,
        # a pth point above this costs two round-times of O(N^2) work (minutes; the row's
        # warmup_s_actual + measured_s); once each keeps the full profile's time in bounds
        "pth_once_above": 16384,
        "poller": "epoll",
        "pin": True,
        "builds": ["interpreted"],
        # as at quick: one backend's task counts time-sliced on one core (pth and kernel-thread
        # groups past half of pid_max apart); a group whose round outlasts a slice is resampled
        # by rep (repro.claims._round_outlasts_slice)
        "pairing": "backends",
        "pair_together": ["fifo", "event"],
        "slice_s": 0.2,
        "extra_reps": 2,
    },
}

PARAM_HELP: dict[str, str] = {
    "tasks": "concurrent tasks N (closed loop: N always in flight), one point each",
    "backends": "fifo, pth (green threads under that scheduler), kernel (threading), event "
                "(one loop, a deque), coro (async def threads on threads.coro), greenlet (the "
                "substrate floor: raw greenlet, the least scheduler that runs the program), gen "
                "(generator threads: the compiler's transform with nothing on top)",
    "peers": "optional peers: gevent, asyncio (skipped rows when the module is missing)",
    "reps": "repetitions, interleaved: rep 0 of every point, then rep 1, ...",
    "warmup_s": "seconds after the first N tasks are issued before counting starts (minimum)",
    "warmup_rounds": "the warm-up also lasts until rounds x N tasks have completed (a fraction "
                     "is allowed: the window's whole rounds do not need it to end on one)",
    "window_s": "seconds over which completions are counted (throughput = count / seconds)",
    "window_rounds": "the window also lasts until rounds x N tasks have completed in it, and "
                     "closes on a whole number of rounds (N completions each) when > 0",
    "read_bytes": "bytes read per task (the paper: 8 KiB)",
    "file_bytes": "size of the one cached file the reads cycle through",
    "tasks_total": "0: time windows; > 0: issue exactly this many tasks and time them all",
    "timeout_s": "a point's subprocess is killed after this many seconds (a failed row)",
    "kernel_max_tasks": "kernel-thread points above this N are skipped (pid_max is shared)",
    "pth_max_tasks": "pth points above this N are skipped (the warm-up round grows as N^2)",
    "pth_once_above": "pth points above this N are measured in rep 0 only (later reps are "
                      "skipped rows saying why): each costs two round-times of O(N^2) work, "
                      "and pth's 1/N collapse there is hundreds of times the noise between reps",
    "poller": "the green hub's poller: epoll or poll (pth always rebuilds a poll set)",
    "pin": "pin each point's subprocess to one core (the last allowed CPU) when there are 2+",
    "builds": "interpreted (the .py: WHYEVENTS_PURE_PYTHON=1), compiled (make build-compiled): "
              "both for the 2x2, threads vs events within each build",
    "pairing": "none: one point at a time; tasks: the backends at one N measured as one group, "
               "time-sliced on one core (paired per-slice rates); backends: one backend's task "
               "counts as one group",
    "pair_together": "with pairing=backends: backends whose task counts are one group together "
                     "(side by side at each N), so a claim comparing them pairs by slice; not "
                     "pth, which is never grouped ('none': each backend its own group)",
    "slice_s": "with pairing: seconds each process of a group runs alone per turn",
    "extra_reps": "follow-up rounds: while a claim is undecided (INCONCLUSIVE, or each point it "
                  "reads measured once: no interval yet), one more rep of the points it reads "
                  "per round, up to this many rounds (0: none)",
}

#: ``pairing`` values
PAIRINGS = ("none", "tasks", "backends")
#: schedulers whose points are never grouped (``pth``: a pace periodic in rounds longer than a
#: slice)
_UNPAIRED_SCHEDULERS = ("pth",)
#: the ``backends`` names of those schedulers (``pair_together`` refuses them)
_UNPAIRED_BACKENDS = tuple(b for b, (_, sched) in BACKENDS.items()
                           if sched in _UNPAIRED_SCHEDULERS)
#: (backend column, scheduler column) -> its ``backends`` or ``peers`` name
_CONFIG_NAMES = {**{v: k for k, v in BACKENDS.items()}, **{(p, "-"): p for p in PEERS}}

_WORKER = "from whyevents.experiments.pipeline_worker import main; main()"


# ---------------------------------------------------------------------------------------------
# Parameters and points
# ---------------------------------------------------------------------------------------------

def _int(name: str, v: object, minimum: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int | str):
        raise ValueError(f"{name}: {v!r} is not an integer")
    try:
        iv = int(str(v).replace("_", ""))
    except ValueError:
        raise ValueError(f"{name}: {v!r} is not an integer") from None
    if iv < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name}: {v!r} is not {what}")
    return iv


def _float(name: str, v: object, minimum: float, strict: bool) -> float:
    if isinstance(v, bool):
        raise ValueError(f"{name}: {v!r} is not a number")
    try:
        fv = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name}: {v!r} is not a number") from None
    if fv != fv or fv in (float("inf"), float("-inf")):
        raise ValueError(f"{name}: {v!r} is not a finite number")
    if fv < minimum or (strict and fv == minimum):
        raise ValueError(f"{name}: {v!r} must be {'>' if strict else '>='} {minimum:g}")
    return fv


def _names(name: str, v: object, allowed) -> list[str]:
    if isinstance(v, str):
        v = [p for p in (s.strip() for s in v.split(",")) if p and p.lower() != "none"]
    if not isinstance(v, list | tuple):
        raise ValueError(f"{name}: {v!r} is not a list")
    out = []
    for item in v:
        s = str(item).strip()
        if s not in allowed:
            raise ValueError(f"{name}: {item!r} is not one of {', '.join(allowed)}")
        if s not in out:
            out.append(s)
    return out


def check_params(params: dict) -> dict:
    """Validate and normalize ``params``; a bad value raises ``ValueError`` naming the parameter.

    Missing keys take the quick profile's value; unknown keys are an error.
    """
    unknown = sorted(set(params) - set(PROFILES["quick"]))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)}; known: "
                         f"{', '.join(sorted(PROFILES['quick']))}")
    p = {**PROFILES["quick"], **params}
    tasks = p["tasks"]
    if isinstance(tasks, int | str) and not isinstance(tasks, bool):
        tasks = [tasks] if isinstance(tasks, int) else [s for s in tasks.split(",") if s.strip()]
    if not isinstance(tasks, list | tuple) or not tasks:
        raise ValueError(f"tasks: {p['tasks']!r} is not a non-empty list of positive integers")
    tasks = [_int("tasks", t, 1) for t in tasks]
    out = {
        "tasks": sorted(dict.fromkeys(tasks)),
        "backends": _names("backends", p["backends"], tuple(BACKENDS)),
        "peers": _names("peers", p["peers"], PEERS),
        "reps": _int("reps", p["reps"], 1),
        "warmup_s": _float("warmup_s", p["warmup_s"], 0.0, strict=False),
        "warmup_rounds": _float("warmup_rounds", p["warmup_rounds"], 0.0, strict=False),
        "window_s": _float("window_s", p["window_s"], 0.0, strict=True),
        "window_rounds": _int("window_rounds", p["window_rounds"], 0),
        "read_bytes": _int("read_bytes", p["read_bytes"], 1),
        "file_bytes": _int("file_bytes", p["file_bytes"], 1),
        "tasks_total": _int("tasks_total", p["tasks_total"], 0),
        "timeout_s": _float("timeout_s", p["timeout_s"], 0.0, strict=True),
        "kernel_max_tasks": _int("kernel_max_tasks", p["kernel_max_tasks"], 1),
        "pth_max_tasks": _int("pth_max_tasks", p["pth_max_tasks"], 1),
        "pth_once_above": _int("pth_once_above", p["pth_once_above"], 1),
        "poller": p["poller"],
        "pin": p["pin"],
        "builds": check_builds(p["builds"]),
        "pairing": p["pairing"],
        "pair_together": _names("pair_together", p["pair_together"],
                                tuple(b for b in (*BACKENDS, *PEERS)
                                      if b not in _UNPAIRED_BACKENDS)),
        "slice_s": _float("slice_s", p["slice_s"], 0.0, strict=True),
        "extra_reps": _int("extra_reps", p["extra_reps"], 0),
    }
    if out["pairing"] not in PAIRINGS:
        raise ValueError(f"pairing: {out['pairing']!r} is not one of {', '.join(PAIRINGS)}")
    if not out["backends"] and not out["peers"]:
        raise ValueError("backends: empty, and no peers either: nothing to measure")
    if out["read_bytes"] > out["file_bytes"]:
        raise ValueError(f"read_bytes: {out['read_bytes']} is larger than file_bytes "
                         f"({out['file_bytes']})")
    if out["poller"] not in POLLER_NAMES:
        raise ValueError(f"poller: {out['poller']!r} is not one of {', '.join(POLLER_NAMES)}")
    if not isinstance(out["pin"], bool):
        raise ValueError(f"pin: {out['pin']!r} is not a boolean")
    return out


def _configs(params: dict) -> list[tuple[str, str]]:
    return [BACKENDS[b] for b in params["backends"]] + [(peer, "-") for peer in params["peers"]]


def points(params: dict) -> list[dict]:
    """Every (backend, scheduler, tasks, build, rep): rep by rep, N ascending, at each N the
    builds one after the other (their order alternating by rep) and in each the backends side
    by side."""
    out = []
    builds = params.get("builds", ["interpreted"])
    for rep in range(params["reps"]):
        order = builds if rep % 2 == 0 else builds[::-1]
        for n in params["tasks"]:
            for build in order:
                for backend, scheduler in _configs(params):
                    out.append({"backend": backend, "scheduler": scheduler, "tasks": n,
                                "build": build, "rep": rep})
    return _grouped(out, params)


def _pair_label(point: dict, params: dict) -> str:
    """The group a point is measured in under ``params["pairing"]`` (its rep apart): the N
    (``tasks``), or the backend (``backends``), the ``pair_together`` backends sharing one."""
    build = point.get("build", "interpreted")
    if params["pairing"] == "tasks":
        return f"tasks={point['tasks']}/{build}"
    together = params.get("pair_together") or ()
    if _CONFIG_NAMES.get((point["backend"], point["scheduler"])) in together:
        return f"backends={'+'.join(together)}/{build}"
    return f"backend={point['backend']}/{point['scheduler']}/{build}"


def _grouped(pts: list[dict], params: dict) -> list[dict]:
    """With ``pairing``, one point per group (its first member, the others in ``members``), in
    the order of the groups' first members; without, ``pts`` as they are."""
    pairing = params.get("pairing", "none")
    if pairing == "none":
        return pts
    groups: dict[tuple, list[dict]] = {}
    for i, p in enumerate(pts):
        key = (("alone", i) if p["scheduler"] in _UNPAIRED_SCHEDULERS
               else (p["rep"], _pair_label(p, params)))
        groups.setdefault(key, []).append(p)
    out = []
    for key, members in groups.items():
        if key[0] == "alone":
            out.append(members[0])
            continue
        for part in _within_pid_budget(members, params):
            out.append({**part[0], "members": part})
    return out


def _within_pid_budget(members: list[dict], params: dict) -> list[list[dict]]:
    """A group's members, split into consecutive parts whose kernel threads (all alive at once
    while the group is measured) stay within half of pid_max, which every process on the
    machine shares; members capped by ``kernel_max_tasks``, and other backends' members (a
    ``pair_together`` group), start no threads and do not count. A group without kernel
    threads is one part."""
    if not any(m["backend"] == "kernel" for m in members):
        return [members]
    cap = params["kernel_max_tasks"]
    budget = (_pid_max() or 2 * cap) // 2
    parts: list[list[dict]] = [[]]
    used = 0
    for m in members:
        n = m["tasks"] if m["backend"] == "kernel" and m["tasks"] <= cap else 0
        if parts[-1] and used + n > budget:
            parts.append([])
            used = 0
        parts[-1].append(m)
        used += n
    return parts


def follow_up_points(params: dict, pts: list[dict]) -> list[dict]:
    """The runner's follow-up points (``repro.runner.follow_up``), grouped as ``points``."""
    return _grouped(pts, params)


def _pid_max() -> int | None:
    try:
        with open("/proc/sys/kernel/pid_max") as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


def limits(params: dict) -> dict:
    """The caps this sweep applies and why (recorded in the run's provenance)."""
    return {
        "pid_max": _pid_max(),
        "kernel_max_tasks": params["kernel_max_tasks"],
        "pth_max_tasks": params["pth_max_tasks"],
        "pth_once_above": params["pth_once_above"],
        "pinned_cpu": pick_cpu() if params["pin"] else None,
        "why": ("kernel threads are capped below pid_max, which every process on the machine "
                "shares (a sweep that ran until the OS refused would starve the others of pids); "
                "a point the OS refuses anyway is recorded as failed. The pth scheduler's "
                "warm-up round costs O(N^2) (N tasks, each switch walking ~N/2 waiting "
                "threads), so points above pth_max_tasks would take hours and are skipped, and "
                "points above pth_once_above are measured in rep 0 only."),
    }


# ---------------------------------------------------------------------------------------------
# Shared setup: the one cached file
# ---------------------------------------------------------------------------------------------

@contextlib.contextmanager
def cached_file(size: int) -> Iterator[str]:
    """A temporary file of ``size`` random bytes, read once so it is in the page cache."""
    fd, path = tempfile.mkstemp(prefix="whyevents-pipeline-", suffix=".bin")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(os.urandom(size))
        with open(path, "rb") as f:
            while f.read(1 << 16):
                pass
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


@contextlib.contextmanager
def prepare(params: dict):
    """Build the cached file once for the sweep; the context also remembers kernel refusals."""
    with cached_file(params["file_bytes"]) as path:
        yield {"path": path, "file_bytes": params["file_bytes"], "kernel_failed_at": None}


# ---------------------------------------------------------------------------------------------
# Measuring one point
# ---------------------------------------------------------------------------------------------

def _row(point: dict, status: str, error: str | None = None, **extra) -> dict:
    row = {c: None for c in COLUMNS}
    row.update({k: point.get(k, "interpreted" if k == "build" else None) for k in KEY_FIELDS})
    row["status"] = status
    row["error"] = error
    row.update(extra)
    return row


def _skip_reason(point: dict, params: dict, ctx: dict | None) -> str | None:
    n = point["tasks"]
    if point["backend"] == "kernel":
        cap = params["kernel_max_tasks"]
        if n > cap:
            return (f"kernel threads capped at kernel_max_tasks={cap:,} (pid_max {_pid_max()} is "
                    f"shared with every process on the machine)")
        failed = ctx.get("kernel_failed_at") if ctx else None
        if failed is not None and n > failed:
            return f"kernel threads already refused at N={failed:,} in this sweep"
    if point["scheduler"] == "pth" and n > params["pth_max_tasks"]:
        return (f"pth capped at pth_max_tasks={params['pth_max_tasks']:,}: its warm-up round "
                f"costs O(N^2) switches x waiting threads and would take too long")
    once = params.get("pth_once_above")
    if point["scheduler"] == "pth" and once is not None and n > once and point.get("rep", 0):
        return (f"pth above pth_once_above={once:,} tasks is measured in rep 0 only: a point "
                f"costs two round-times of O(N^2) work (minutes), and its 1/N collapse is far "
                f"beyond the noise between reps")
    return None


def _kill(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        proc.wait(timeout=10)


def measure(point: dict, params: dict, *, ctx: dict | None = None,
            progress: Callable[[dict], None] | None = None) -> list[dict]:
    """The row for ``point``, measured in a pinned subprocess; never raises (but Ctrl-C)."""
    if point.get("members"):
        if ctx is None or ctx.get("file_bytes") != params["file_bytes"]:
            with cached_file(params["file_bytes"]) as path:
                return _measure_group(point["members"], params, path, ctx)
        return _measure_group(point["members"], params, ctx["path"], ctx)
    reason = _skip_reason(point, params, ctx)
    if reason is not None:
        return [_row(point, "skipped", reason)]
    if ctx is None or ctx.get("file_bytes") != params["file_bytes"]:
        with cached_file(params["file_bytes"]) as path:
            return [_measure(point, params, path, ctx, progress)]
    return [_measure(point, params, ctx["path"], ctx, progress)]


def _spec(point: dict, params: dict, path: str, out: Path, cpu: int | None) -> dict:
    point = {k: v for k, v in point.items() if k != "members"}
    return {**point, "read_bytes": params["read_bytes"], "file_bytes": params["file_bytes"],
            "tasks_total": params["tasks_total"], "warmup_s": params["warmup_s"],
            "warmup_rounds": params["warmup_rounds"], "window_s": params["window_s"],
            "window_rounds": params["window_rounds"],
            "poller": params["poller"], "path": path, "out": str(out), "cpu": cpu}


def _measure(point: dict, params: dict, path: str, ctx: dict | None,
             progress: Callable[[dict], None] | None) -> dict:
    cpu = pick_cpu() if params["pin"] else None
    timeout = params["timeout_s"]
    with tempfile.TemporaryDirectory(prefix="whyevents-pipeline-") as tmp:
        out = Path(tmp) / "result.json"
        spec = _spec(point, params, path, out, cpu)
        err_path = Path(tmp) / "stderr.txt"
        env = build_env(point.get("build", "interpreted"))
        t0 = time.monotonic()
        problem = None
        with open(err_path, "wb") as err:
            proc = subprocess.Popen([sys.executable, "-c", _WORKER, json.dumps(spec)],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=err, start_new_session=True, env=env)
            try:
                while True:
                    try:
                        proc.wait(timeout=1.0)
                        break
                    except subprocess.TimeoutExpired:
                        elapsed = time.monotonic() - t0
                        if elapsed > timeout:
                            _kill(proc)
                            problem = f"timed out after {timeout:g} s (subprocess killed)"
                            break
                        if progress is not None:
                            progress({"elapsed_s": round(elapsed)})
            except BaseException:
                _kill(proc)
                raise
        wall = time.monotonic() - t0
        result = None
        if out.exists():
            try:
                result = json.loads(out.read_text())
            except ValueError as e:
                problem = problem or f"unreadable result: {e}"
        if result is None:
            if problem is None:
                tail = err_path.read_text(errors="replace").strip().splitlines()
                last = tail[-1] if tail else "no output"
                problem = f"worker exited with status {proc.returncode}: {last[:300]}"
            return _row(point, "failed", problem, cpu=cpu, wall_s=round(wall, 3))
    status = result.pop("status", "failed")
    error = result.pop("error", None)
    result.pop("traceback", None)
    if status == "failed" and point["backend"] == "kernel" and ctx is not None:
        ctx["kernel_failed_at"] = point["tasks"]
    return _row(point, status, error, cpu=cpu, wall_s=round(wall, 3), **result)


# ---------------------------------------------------------------------------------------------
# Measuring a group of points time-sliced on one core (``pairing``)
# ---------------------------------------------------------------------------------------------

class _Member:
    """One process of a sliced group: its point, process, shared counter and slices."""

    def __init__(self, point: dict, proc: subprocess.Popen, mapped, out: Path, err: Path):
        self.point, self.proc, self.out, self.err = point, proc, out, err
        self.words = memoryview(mapped).cast("q")     # count, phase, -, round boundaries
        self.times = memoryview(mapped).cast("d")     # [2]: when last continued; round ring
        self.done: list[int] = []          # completions per slice
        self.secs: list[float] = []        # seconds per slice
        self.starts: list[float] = []      # perf_counter when each slice began
        #: (slice, boundary number, its perf_counter time): the first and the last round
        #: boundary of each slice that had one (``_record_bounds``)
        self.bounds: list[tuple[int, int, float]] = []
        self.exited = False

    def stop(self) -> None:
        """SIGSTOP, and wait until the whole process is stopped (or has exited)."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGSTOP)
        if self.exited:
            return
        try:
            _, status = os.waitpid(self.proc.pid, os.WUNTRACED)
        except ChildProcessError:
            self.exited = True
            return
        if not os.WIFSTOPPED(status):
            self.exited = True
            self.proc.returncode = os.waitstatus_to_exitcode(status)


def _slice_cycle(members: list[_Member], order: list[_Member], slice_s: float) -> None:
    """Each member of ``order`` runs alone for ``slice_s``; its count read at both edges."""
    for m in order:
        if m.exited:
            continue
        c0, j0 = m.words[0], m.words[3]
        t0 = time.perf_counter()
        m.times[2] = t0                 # tasks issued before this are in flight across a stop
        os.kill(m.proc.pid, signal.SIGCONT)
        time.sleep(slice_s)
        m.stop()
        t1 = time.perf_counter()
        _record_bounds(m, j0, m.words[3])
        m.done.append(m.words[0] - c0)
        m.secs.append(t1 - t0)
        m.starts.append(t0)


def _record_bounds(m: _Member, j0: int, j1: int) -> None:
    """Keep the first and the last of the round boundaries ``j0 + 1 .. j1`` the slice now
    ending had. The ring holds the last ``ROUND_RING`` of them: the last is always there; the
    first only while the slice had no more than that (a short round on a fast core has more,
    and then the slice's last boundary stands for both)."""
    if j1 <= j0:
        return
    first = j0 + 1 if j1 - j0 <= ROUND_RING else j1
    for j in (first, j1):
        m.bounds.append((len(m.secs), j, m.times[ROUND_RING_AT + j % ROUND_RING]))


def _rounds_rate(m: _Member) -> tuple[float, int] | None:
    """(completions per second of the member's own run time, whole rounds) between the first
    and the last round boundary inside its recorded slices; None with fewer than one whole
    round between them. Run time counts only the slices: a boundary at ``t`` in slice ``i``
    lies ``sum(secs[:i]) + t - starts[i]`` seconds into the member's window."""
    if len(m.bounds) < 2:
        return None
    (i0, j0, t0), (i1, j1, t1) = m.bounds[0], m.bounds[-1]
    run = math.fsum(m.secs[i0:i1]) + (t1 - m.starts[i1]) - (t0 - m.starts[i0])
    if j1 <= j0 or run <= 0:
        return None
    return m.point["tasks"] * (j1 - j0) / run, j1 - j0


def _measure_group(points_: list[dict], params: dict, path: str, ctx: dict | None, *,
                   on_cycle: Callable[[int, int], None] | None = None) -> list[dict]:
    """The rows of a group of points measured side by side, time-sliced on one core.

    One unrecorded cycle first lets every process settle after the side-by-side warm-up (its
    first turn alone refills the caches the others used). ``on_cycle(c, cycles)`` is called
    before each recorded cycle (the slowdown test injects its slowdown there)."""
    import mmap

    rows: list[dict] = []
    runnable = []
    for p in points_:
        reason = _skip_reason(p, params, ctx)
        if reason is not None:
            rows.append(_row(p, "skipped", reason))
        else:
            runnable.append(p)
    if not runnable:
        return rows
    cpu = pick_cpu() if params["pin"] else None
    label = _pair_label(runnable[0], params)
    slice_s = params["slice_s"]
    cycles = max(2, round(params["window_s"] / slice_s))
    members: list[_Member] = []
    t_start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="whyevents-pipeline-pair-") as tmp:
        try:
            for i, p in enumerate(runnable):
                counter = Path(tmp) / f"counter{i}"
                counter.write_bytes(b"\0" * SLICED_MAP_BYTES)
                with open(counter, "r+b") as f:
                    mapped = mmap.mmap(f.fileno(), SLICED_MAP_BYTES)
                out, err_path = Path(tmp) / f"result{i}.json", Path(tmp) / f"stderr{i}.txt"
                spec = {**_spec(p, params, path, out, cpu), "pair_counter": str(counter)}
                with open(err_path, "wb") as err:
                    proc = subprocess.Popen(
                        [sys.executable, "-c", _WORKER, json.dumps(spec)],
                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                        start_new_session=True, env=build_env(p.get("build", "interpreted")))
                members.append(_Member(p, proc, mapped, out, err_path))
            # warm-up side by side; a process is stopped as soon as its window opens, so the
            # slower ones (pth at large N) finish theirs with the core to themselves
            waiting = list(members)
            while waiting:
                if time.monotonic() - t_start > params["timeout_s"]:
                    raise TimeoutError
                time.sleep(0.02)
                for m in list(waiting):
                    if m.words[1] == 1:
                        m.stop()
                        waiting.remove(m)
                    elif m.proc.poll() is not None:
                        m.exited = True
                        waiting.remove(m)
            live = [m for m in members if not m.exited]
            _slice_cycle(members, live[::-1], slice_s)          # settling: not recorded
            for m in live:
                m.done.clear()
                m.secs.clear()
                m.starts.clear()
                m.bounds.clear()
            for c in range(cycles):
                if on_cycle is not None:
                    on_cycle(c, cycles)
                _slice_cycle(members, live if c % 2 == 0 else live[::-1], slice_s)
            for m in live:                      # end the windows; the results follow
                if not m.exited:
                    os.kill(m.proc.pid, signal.SIGUSR1)
                    os.kill(m.proc.pid, signal.SIGCONT)
            for m in members:
                if not m.exited:
                    m.proc.wait(timeout=max(1.0, params["timeout_s"]
                                            - (time.monotonic() - t_start)))
        except (TimeoutError, subprocess.TimeoutExpired):
            for m in members:
                _kill(m.proc)
        except BaseException:
            for m in members:
                _kill(m.proc)
            raise
        wall = round(time.monotonic() - t_start, 3)
        for m in members:
            rows.append(_group_row(m, label, cpu, wall, slice_s, ctx))
    return rows


def _group_row(m: _Member, label: str, cpu, wall: float, slice_s: float, ctx) -> dict:
    result = None
    if m.out.exists():
        with contextlib.suppress(ValueError):
            result = json.loads(m.out.read_text())
    if result is None:
        tail = m.err.read_text(errors="replace").strip().splitlines()
        return _row(m.point, "failed", f"worker gave no result: {tail[-1][:300] if tail else ''}",
                    cpu=cpu, wall_s=wall)
    status = result.pop("status", "failed")
    error = result.pop("error", None)
    result.pop("traceback", None)
    if status == "failed" and m.point["backend"] == "kernel" and ctx is not None:
        ctx["kernel_failed_at"] = m.point["tasks"]
    if status != "ok" or not m.secs:
        return _row(m.point, status if status != "ok" else "failed",
                    error or "no slices measured", cpu=cpu, wall_s=wall)
    done, secs = sum(m.done), sum(m.secs)
    rate = done / secs if secs > 0 else 0.0
    rounds = _rounds_rate(m)
    result.update({
        "throughput_rps": rate,
        "completed": done, "measured_s": secs,
        "cpu_util": None,
        "pair": label, "slice_s": slice_s,
        "slice_rates": [d / t if t > 0 else 0.0 for d, t in zip(m.done, m.secs, strict=True)],
        # the window's completions over its time, and the whole rounds timed within it
        "throughput_window_rps": rate,
        "rounds_timed": rounds[1] if rounds else 0,
    })
    if rounds is not None and rate > 0 and m.point["tasks"] / rate > slice_s:
        # a round outlasts a slice: completions come in bursts a round apart, so the window's
        # count moves by whole rounds with where the window falls; whole rounds over their own
        # time do not (the claims then resample this member's reps, not its slices)
        result["throughput_rps"] = rounds[0]
    return _row(m.point, status, error, cpu=cpu, wall_s=wall, **result)
