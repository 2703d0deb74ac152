"""The thread-scaling experiment: "a user-level thread package that scales to 100,000 threads".

The paper's Abstract and §5 rest on one property: with a scheduler that does no O(n) work per
switch, threads are cheap enough to have one per task, by the hundred thousand. This experiment
spawns N threads that park (on one shared condition, or ``park=socket``: each in ``recv`` on its
own socketpair, i.e. waiting on the poller), and measures per point:

``spawn_us``          wall time per thread to spawn it and have it parked;
``bytes_per_thread``  RSS delta / N with all N parked, in a fresh process;
``yields_per_s``      the scheduler's switch rate with N threads alive: ``runnable`` (default 2)
                      extra threads call ``sleep(0)`` in a loop for ``yield_window_s`` while the N
                      stay parked. This is what the paper means by scaling: its modified Pth
                      removed the O(n) walks over all threads from every switch, so the switch
                      rate stays flat as N grows (``scheduler="pth"`` would not). A point with a
                      positive rate is N threads that fit *and* leave the scheduler running;
``wake_all_s``        the time to wake all N and have every one run to its end (all N do run).
``c_stack_*``,        stack growth (section 4), ``whyevents`` rows: median/p99/max over the parked
``frame_bytes_*``     threads of the C stack greenlet saved for each and of its Python frames'
                      bytes; ``stack_needed_bytes`` what a fixed-size stack would have to be for
                      the worst observed thread; ``kernel`` rows: ``stack_fixed_bytes``, the
                      stack each kernel thread was given; ``stack_default_bytes`` a kernel
                      thread's default (RLIMIT_STACK). Runs stored before have them None.

Backends: ``whyevents`` (the green threads of ``whyevents.threads``) and ``kernel``
(``threading.Thread`` with ``threading.stack_size(kernel_stack_kib)``, 64 KiB by default, so that
address space is not what stops them); peers ``gevent`` and ``asyncio`` in their own idiom
(gevent parks on ``gevent.event.Event``, having no Condition; asyncio on ``asyncio.Condition``
and ``loop.sock_recv``), up to ``peer_max_threads``; ``coro`` (compiler-transformed threads:
``async def`` on ``threads.coro``, parked on its ``Condition``; ``park=condition`` only).

Why it is shaped this way:

* **Each point is its own subprocess** (``scaling_worker``), pinned to one core (the last allowed
  CPU when there are 2+), with a timeout: RSS deltas need a fresh heap, kernel threads must not
  outlive their point, and a crash, the OOM killer or a timeout becomes a ``failed`` row (with
  how far the worker got) instead of a dead sweep.
* **Kernel threads stop before the machine does.** pid_max is 32,768 here and other programs
  need pids, so kernel points start at most pid_max - (threads running now) - 2,000; a request
  above that starts the capped number, measures them, and reports ``failed`` with the cap as the
  reason. A real refusal (``RuntimeError: can't start new thread`` at thread k) is caught, the k
  threads are woken and joined, and the error names k and the nearest limit (pid_max,
  threads-max, RLIMIT_NPROC, RLIMIT_AS, memory). No system limit is ever raised.
* **park=socket is capped by descriptors**: 2 per thread under the 20,000-fd limit gives 9,800
  threads; larger requests are measured at the cap and reported ``failed`` with that reason.
* **Memory is checked first**: a point whose conservative estimate exceeds MemAvailable minus
  1 GiB is not started (``failed``, with the estimate), so 1,000,000 threads of a heavy backend
  cannot push the shared machine into swapless OOM.
* **Repetitions are interleaved** (every configuration's rep 0, then rep 1 ..., backend order
  rotated per rep) so the machine's drift spreads over all backends. Nothing asserts a time.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from whyevents.harness.procs import pick_cpu

from . import scaling_worker as _w

__all__ = [
    "EXPERIMENT", "DESCRIPTION", "KEY_FIELDS", "SUMMARY_FIELDS", "PROFILES", "PARAM_HELP",
    "BACKENDS", "PEERS", "check_params", "points", "measure", "limits", "pick_cpu", "COLUMNS",
    "STACK_COLUMNS", "prepare", "WAKE_TIMEOUT_S",
]

EXPERIMENT = "scaling"

DESCRIPTION = (
    "Thread scaling (Abstract and §5: 'a user-level thread package that scales to 100,000 "
    "threads'). For N threads parked on a condition (or, park=socket, each in recv on its own "
    "socketpair) measures spawn_us (per thread, spawn + park), bytes_per_thread (RSS delta / N in "
    "a fresh process), yields_per_s (switch rate of a few runnable threads while the N stay "
    "parked: the scheduler does no O(n) work per switch) and wake_all_s. Backends: whyevents "
    "green threads and kernel threads (64 KiB stacks, stopped at a pid-safety cap or the OS's "
    "refusal, reported as failed with the reason); gevent and asyncio as peers when installed. "
    "Each point runs in its own pinned subprocess with a timeout; reps are interleaved."
)

KEY_FIELDS = ("backend", "park", "threads", "rep")
SUMMARY_FIELDS = ("spawn_us", "bytes_per_thread", "yields_per_s", "wake_all_s", "status")

BACKENDS = ("whyevents", "kernel", "gevent", "asyncio", "coro")
PEERS = ("gevent", "asyncio")
PARKS = ("condition", "socket")

#: Conservative RSS per parked thread, for the memory check only (above the measured ones, which
#: the rows' bytes per thread show).
_EST_BYTES = {"whyevents": 10_000, "kernel": 40_000, "gevent": 12_000, "asyncio": 3_000,
              "coro": 2_000}
_EST_SOCKET = 2_000
_MEM_MARGIN = 1 << 30

PROFILES: dict[str, dict] = {
    "quick": {
        "threads": [100, 1000, 10000],
        "backends": ["whyevents", "kernel"],
        "peers": ["gevent", "asyncio"],
        "peer_max_threads": 10000,
        "park": "condition",
        "reps": 3,
        "runnable": 2,
        "yield_window_s": 0.3,
        "timeout_s": 60.0,
        "kernel_cap": 0,
        "kernel_stack_kib": 64,
        "address_space_mb": 0,
    },
    "full": {
        "threads": [1000, 10000, 30000, 100000, 1000000],
        "backends": ["whyevents", "kernel", "coro"],
        "peers": ["gevent", "asyncio"],
        "peer_max_threads": 100000,
        "park": "condition",
        "reps": 3,
        "runnable": 2,
        "yield_window_s": 1.0,
        "timeout_s": 900.0,
        "kernel_cap": 0,
        "kernel_stack_kib": 64,
        "address_space_mb": 0,
    },
}

PARAM_HELP: dict[str, str] = {
    "threads": "thread counts N to measure (list); kernel points above the pid-safety cap "
               "start the capped number and report failed",
    "backends": f"main backends (list of {', '.join(BACKENDS)})",
    "peers": "peer frameworks measured when installed, up to peer_max_threads (list of "
             f"{', '.join(PEERS)}; empty for none)",
    "peer_max_threads": "peers are measured only at thread counts up to this",
    "park": "what the N threads wait on: 'condition' (one shared Condition) or 'socket' (recv "
            "on a socketpair each; 2 fds per thread, so at most ~9,800 under 20,000 fds)",
    "reps": "repetitions of every point, interleaved",
    "runnable": "threads that yield in a loop while the N are parked (yields_per_s)",
    "yield_window_s": "seconds over which yields_per_s is counted",
    "timeout_s": "a point's subprocess is killed after this many seconds (row: failed)",
    "kernel_cap": "most kernel threads to start (0: pid_max - running threads - 2,000 margin); "
                  "applies to every backend when set",
    "kernel_stack_kib": "threading.stack_size for kernel threads in KiB (0: the default 8 MiB)",
    "address_space_mb": "lower the worker's RLIMIT_AS to this many MiB (0: leave it): shows how "
                        "a memory refusal is reported; never raises a limit",
}

#: the columns the claims read (``repro.claims.COLUMNS`` collects each experiment's)
COLUMNS = ("backend", "threads", "spawn_us", "bytes_per_thread", "yields_per_s", "status")
#: stack growth per parked thread (``scaling_worker.stack_figures``)
STACK_COLUMNS = ("c_stack_median", "c_stack_p99", "c_stack_max", "frame_bytes_median",
                 "frame_bytes_p99", "frame_bytes_max", "stack_sampled", "stack_needed_bytes",
                 "stack_fixed_bytes", "stack_default_bytes")
#: every column a row carries
_COLUMNS = ("backend", "park", "threads", "rep", "spawn_us", "bytes_per_thread", "yields_per_s",
            "wake_all_s", "rss_bytes", "status", "error", "started", "parked", "woken",
            "runtime_alive", "cap", "spawn_s", "worker_s", "cpu",
            # stack growth (section 4; runs before these columns have them None): whyevents
            # rows the distribution over the parked threads, kernel rows the fixed stack
            *STACK_COLUMNS)


# ---------------------------------------------------------------------------------------------
# Parameters and the sweep
# ---------------------------------------------------------------------------------------------

def _as_list(name: str, value) -> list:
    if isinstance(value, str):
        value = [s.strip() for s in value.split(",")]
    if not isinstance(value, list | tuple):
        raise ValueError(f"{name}: {value!r} is not a list")
    return [v for v in value if not (isinstance(v, str) and v.strip() in ("", "none"))]


def _int(name: str, value, minimum: int) -> int:
    try:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
        v = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: {value!r} is not an integer") from None
    if v < minimum:
        kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name}: {v} is not {kind}")
    return v


def _pos_float(name: str, value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: {value!r} is not a number") from None
    if not v > 0 or v == float("inf"):
        raise ValueError(f"{name}: {value!r} is not a positive number")
    return v


def check_params(params: dict) -> dict:
    """Validate and normalize; missing keys take the quick profile's values. Errors name the
    parameter."""
    unknown = sorted(set(params) - set(PROFILES["quick"]))
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown parameter; known: "
                         f"{', '.join(PROFILES['quick'])}")
    p = {**PROFILES["quick"], **params}
    threads = [_int("threads", t, 1) for t in _as_list("threads", p["threads"])]
    if not threads:
        raise ValueError("threads: empty list; give at least one thread count")
    p["threads"] = sorted(dict.fromkeys(threads))
    for name, allowed in (("backends", BACKENDS), ("peers", PEERS)):
        items = [str(b).strip() for b in _as_list(name, p[name])]
        bad = [b for b in items if b not in allowed]
        if bad:
            raise ValueError(f"{name}: unknown {bad[0]!r}; choose from {', '.join(allowed)}")
        p[name] = list(dict.fromkeys(items))
    if not p["backends"] and not p["peers"]:
        raise ValueError("backends: empty, and no peers either: nothing to measure")
    if p["park"] not in PARKS:
        raise ValueError(f"park: {p['park']!r} is not one of {', '.join(PARKS)}")
    p["peer_max_threads"] = _int("peer_max_threads", p["peer_max_threads"], 1)
    p["reps"] = _int("reps", p["reps"], 1)
    p["runnable"] = _int("runnable", p["runnable"], 1)
    p["yield_window_s"] = _pos_float("yield_window_s", p["yield_window_s"])
    p["timeout_s"] = _pos_float("timeout_s", p["timeout_s"])
    p["kernel_cap"] = _int("kernel_cap", p["kernel_cap"], 0)
    p["kernel_stack_kib"] = _int("kernel_stack_kib", p["kernel_stack_kib"], 0)
    if 0 < p["kernel_stack_kib"] < 32:
        raise ValueError(f"kernel_stack_kib: {p['kernel_stack_kib']} is below threading's "
                         "minimum of 32 (or 0 for the default)")
    p["address_space_mb"] = _int("address_space_mb", p["address_space_mb"], 0)
    return p


def points(params: dict) -> list[dict]:
    """Every (backend, threads) once per rep, reps outermost; backend order rotates per rep."""
    p = check_params(params)
    series = list(p["backends"]) + [x for x in p["peers"] if x not in p["backends"]]
    out = []
    for rep in range(p["reps"]):
        k = rep % len(series)
        order = series[k:] + series[:k]
        for n in p["threads"]:
            for b in order:
                if b in PEERS and b not in p["backends"] and n > p["peer_max_threads"]:
                    continue
                out.append({"backend": b, "park": p["park"], "threads": n, "rep": rep})
    return out


def limits(params: dict) -> dict:
    """The machine limits that cap this sweep, and what they cap."""
    p = check_params(params)
    kcap, kwhy = _w.kernel_cap()
    scap, swhy = _w.socket_cap()
    out = {
        "pid_max": _w._read_int("/proc/sys/kernel/pid_max"),
        "threads_max": _w._read_int("/proc/sys/kernel/threads-max"),
        "threads_running": _w.system_threads(),
        "rlimit_nproc": _fmt_rlimit(resource.RLIMIT_NPROC),
        "fd_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        "mem_available_bytes": _w._mem_available(),
        "kernel_threads_capped_at": p["kernel_cap"] or kcap,
        "kernel_cap_why": (f"kernel_cap parameter {p['kernel_cap']}" if p["kernel_cap"]
                           else kwhy + " (computed again at the start of each point)"),
        "kernel_stack_kib": p["kernel_stack_kib"] or "default",
        "pinned_cpu": pick_cpu(),
    }
    if p["park"] == "socket":
        out["socket_threads_capped_at"] = scap
        out["socket_cap_why"] = swhy
    return out


def _fmt_rlimit(which: int):
    soft = resource.getrlimit(which)[0]
    return None if soft == resource.RLIM_INFINITY else soft


# ---------------------------------------------------------------------------------------------
# One point
# ---------------------------------------------------------------------------------------------

def _row(point: dict, status: str, error: str | None = None, figures: dict | None = None
         ) -> dict:
    row = {k: None for k in _COLUMNS}
    row.update({k: v for k, v in (figures or {}).items() if k in _COLUMNS})
    row.update({k: point[k] for k in KEY_FIELDS})
    row["status"], row["error"] = status, error
    return row


def _memory_problem(backend: str, n: int, park: str) -> str | None:
    avail = _w._mem_available()
    if avail is None:
        return None
    need = n * (_EST_BYTES[backend] + (_EST_SOCKET if park == "socket" else 0))
    if need > avail - _MEM_MARGIN:
        return (f"not started: {n:,} {backend} threads need ~{need / 2**30:.1f} GiB by a "
                f"conservative estimate, MemAvailable is {avail / 2**30:.1f} GiB (1 GiB kept)")
    return None


def _expected_cap(backend: str, park: str, p: dict) -> int:
    """The most threads the worker will start (it recomputes the kernel cap itself)."""
    caps = [p["kernel_cap"] or (_w.kernel_cap()[0] if backend == "kernel" else 1 << 62)]
    if park == "socket":
        caps.append(_w.socket_cap()[0])
    return min(caps)


#: the wake phase's bound (``scaling_worker``): N kernel threads woken on one core convoy on the
#: GIL, superlinearly in N (tens of seconds at 10,000, many minutes at twice that)
WAKE_TIMEOUT_S = 120.0


@contextlib.contextmanager
def prepare(params: dict):
    """The sweep's shared state: the N at which the OS refused kernel threads (None yet)."""
    yield {"kernel_refused_at": None}


def measure(point: dict, params: dict, *, ctx=None,
            progress: Callable[[dict], None] | None = None) -> list[dict]:
    """Run one point in a pinned subprocess; one row, ``ok`` or ``failed``/``skipped`` with a
    reason. Never raises, except KeyboardInterrupt (after killing the subprocess)."""
    p = check_params(params)
    backend, n = point["backend"], int(point["threads"])
    if backend not in BACKENDS:
        return [_row(point, "failed", f"backend: unknown {backend!r}")]
    if backend in PEERS and importlib.util.find_spec(backend) is None:
        return [_row(point, "skipped", f"{backend} is not installed")]
    refused_at = ctx.get("kernel_refused_at") if isinstance(ctx, dict) else None
    if backend == "kernel" and refused_at is not None and n >= refused_at:
        return [_row(point, "skipped", f"kernel threads already refused at N={refused_at:,} "
                                       "in this sweep (the same limit refuses them here)")]
    park = point.get("park", p["park"])
    mem = _memory_problem(backend, min(n, _expected_cap(backend, park, p)), park)
    if mem:
        return [_row(point, "failed", mem)]
    cpu = pick_cpu()
    with tempfile.TemporaryDirectory(prefix="whyevents-scaling-") as tmp:
        out = Path(tmp) / "result.json"
        spec = {"backend": backend, "park": park, "threads": n,
                "runnable": p["runnable"], "yield_window_s": p["yield_window_s"],
                "cap": p["kernel_cap"], "kernel_stack_kib": p["kernel_stack_kib"],
                "rlimit_as_mb": p["address_space_mb"], "cpu": cpu, "out": str(out),
                "wake_timeout_s": WAKE_TIMEOUT_S}
        data, problem, seconds = _run_worker(spec, out, Path(tmp), p["timeout_s"], progress)
    data["worker_s"] = round(seconds, 3)
    data["cpu"] = cpu
    if problem:
        how_far = _how_far(data)
        return [_row(point, "failed", problem + how_far, data)]
    status = data.get("status")
    if backend == "kernel" and data.get("refused") and isinstance(ctx, dict):
        ctx["kernel_refused_at"] = n        # larger kernel points, and later reps, skip
    if status not in ("ok", "failed"):
        return [_row(point, "failed", f"worker ended in phase {data.get('phase')!r} without a "
                                      "result", data)]
    return [_row(point, status, data.get("error"), data)]


def _how_far(data: dict) -> str:
    phase = data.get("phase")
    if not phase:
        return ""
    bits = [f"; reached phase {phase!r}"]
    if data.get("started"):
        bits.append(f" with {data['started']:,} threads started")
    if data.get("spawn_s") is not None:
        bits.append(f" (spawn {data['spawn_s']:.1f} s)")
    return "".join(bits)


def _read_result(out: Path) -> dict:
    with contextlib.suppress(OSError, ValueError):
        with open(out) as f:
            return json.load(f)
    return {}


def _run_worker(spec: dict, out: Path, tmp: Path, timeout: float,
                progress: Callable[[dict], None] | None) -> tuple[dict, str | None, float]:
    """Start the worker, poll it (reporting its phase), kill it at the timeout."""
    cmd = [sys.executable, "-m", "whyevents.experiments.scaling_worker", json.dumps(spec)]
    t0 = time.monotonic()
    with open(tmp / "stderr", "w+") as err:
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=err)
        except OSError as e:
            return {}, f"could not start the worker: {e}", time.monotonic() - t0
        problem = None
        last_phase = None
        try:
            while True:
                step = min(0.25, max(0.01, timeout - (time.monotonic() - t0)))
                try:
                    rc = proc.wait(timeout=step)
                    break
                except subprocess.TimeoutExpired:
                    pass
                elapsed = time.monotonic() - t0
                if progress is not None:
                    d = _read_result(out)
                    if d.get("phase") != last_phase:
                        last_phase = d.get("phase")
                        with contextlib.suppress(Exception):
                            progress({"phase": last_phase, "elapsed_s": round(elapsed, 1)})
                if elapsed > timeout:
                    proc.kill()
                    proc.wait()
                    problem = f"worker timed out after {timeout:g} s (killed)"
                    rc = None
                    break
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        seconds = time.monotonic() - t0
        data = _read_result(out)
        if problem is None and rc != 0:
            err.seek(0)
            tail = err.read().strip().splitlines()[-1:] or [""]
            problem = f"worker exited with status {rc}" + (f": {tail[0][:300]}" if tail[0] else
                                                          " (killed by a signal: OOM?)" if rc < 0
                                                          else "")
    data.pop("traceback", None)
    return data, problem, seconds
