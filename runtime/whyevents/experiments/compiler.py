"""The compiler-support experiment (paper section 4): ``whyevents run compiler``.

One run measures every kind of evidence notebook 05 and the section 4 claims use, each a kind of
point (``kind``), so the claims are decided by data of the same run:

``graph``       per server (Knot-C, Knot-A, the event twin): edges recorded at run time and how
                many of them the static blocking graph predicts. Two rows per server:
                ``series=recorded`` and ``series=predicted``, ``y`` in ``count``, so a claim is
                the ratio predicted/recorded (1 when every recorded edge is predicted).
``atomic``      per seeded case (``compiler_worker.CASES``: three violations, two clean
                variants): static check and run time; rows ``series=right`` (1 when both gave
                the seeded verdict) and ``series=cases`` (1), ratio 1 when all are right.
``live_state``  Knot-C vs the event twin, ``n`` connections parked at their blocking point:
                bytes per connection (``bytes_per_conn``: a Knot-C thread's frames, saved C
                stack and private objects; the twin's state record and its table slot).
``stack``       the static stack bound of Knot-C's thread function and ``serve_connection``.
``pipeline``    compiler-transformed threads beside the event server (and fifo green threads) in
                the task pipeline (``pipeline.measure``: one pinned subprocess each), in both
                of CPython's forms: ``async def`` threads (``coro``) and generator threads
                (``gen``, the transform with no coroutine protocol on top), so the notebook can
                say what the ``async def`` form pays per task above its floor. With
                ``pairing=tasks`` (both profiles) the backends at one N are measured as one group,
                time-sliced on one core (``pipeline``'s pairing, issue 21): C4.4 compares
                ``coro`` with ``event`` at each N, and a host slowdown then hits both alike.
``scaling``     bytes per parked thread for ``coro`` beside green threads (``scaling.measure``);
                green threads' rows also carry their stack growth (``scaling.STACK_COLUMNS``:
                C stack greenlet saved and Python frame bytes per parked thread, median/p99/
                max, and the fixed stack the worst thread would need), to 1M threads at full.

Each row carries ``kind``, ``subject`` (server, case or backend) and ``n`` (connections, tasks
or threads; an index for graph and atomic), plus the columns its kind's claims read
(``backend``/``tasks``/``throughput_rps``, ``backend``/``threads``/``bytes_per_thread``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from . import compiler_worker as _w
from . import pipeline as _pipeline
from . import scaling as _scaling

__all__ = ["EXPERIMENT", "DESCRIPTION", "KEY_FIELDS", "SUMMARY_FIELDS", "PROFILES",
           "PARAM_HELP", "check_params", "points", "measure", "prepare", "COLUMNS", "KINDS",
           "PIPELINE_BACKENDS", "PAIRINGS", "follow_up_points"]

EXPERIMENT = "compiler"
DESCRIPTION = (
    "Section 4, compiler support for threads: the static blocking graph against the recorded "
    "one (Knot-C, Knot-A, the event twin); seeded atomic-section violations and clean variants, "
    "checked statically and at run time; live state per connection at the blocking point "
    "(Knot-C threads vs the twin's state records); the static stack bound of Knot-C's thread; "
    "compiler-transformed threads (async def on threads.coro, and generator threads) in the task "
    "pipeline beside the event server, and async def threads in bytes per parked thread."
)
KEY_FIELDS = ("kind", "subject", "n", "rep")
SUMMARY_FIELDS = ("count", "bytes_per_conn", "throughput_rps", "bytes_per_thread")
KINDS = ("graph", "atomic", "live_state", "stack", "pipeline", "scaling")
#: the pipeline backends this experiment accepts (``pipeline.BACKENDS`` names): both forms of
#: compiler-transformed thread, the event server and fifo green threads
PIPELINE_BACKENDS = ("coro", "gen", "event", "fifo")
#: ``pairing`` values: ``none``, one pipeline point at a time; ``tasks``, the pipeline backends at
#: one N (and rep) time-sliced on one core as one group
PAIRINGS = ("none", "tasks")
#: the columns every row carries, which the claims read (``repro.claims.COLUMNS`` collects them)
COLUMNS = ("kind", "subject", "series", "n", "count", "bytes_per_conn", "backend", "tasks",
           "throughput_rps", "threads", "bytes_per_thread", "status")

PROFILES: dict[str, dict] = {
    "quick": {"kinds": list(KINDS), "connections": [100], "tasks": [1000, 10000],
              "pipeline_backends": ["coro", "gen", "event", "fifo"], "pipeline_reps": 3,
              "window_s": 1.0, "threads": [1000, 10000], "scaling_backends": ["coro", "whyevents"],
              "scaling_reps": 2, "pairing": "tasks", "slice_s": 0.2,
              # follow-up rounds (repro.runner.follow_up): C4.4's quick verdict was PASS once
              # and INCONCLUSIVE twice in three runs of one week with no round to settle it;
              # a round is one more paired group of the two backends it reads at each N (a
              # few seconds). Two rounds left it INCONCLUSIVE in a quick run beside a CPU hog
              # (its min over N of two ratios moves with each rep), so four, as the web's
              "extra_reps": 4},
    "full": {"kinds": list(KINDS), "connections": [100, 1000], "tasks": [1000, 10000, 100000],
             "pipeline_backends": ["coro", "gen", "event", "fifo"], "pipeline_reps": 3,
             "window_s": 4.0, "threads": [1000, 10000, 100000, 1000000],
             "scaling_backends": ["coro", "whyevents"], "scaling_reps": 3,
             # slices long enough that a round of 100,000 tasks fits in one for every backend
             # but the slowest, so most groups are resampled by slice (claims.interval)
             "pairing": "tasks", "slice_s": 0.5, "extra_reps": 2},
}
PARAM_HELP = {
    "kinds": f"which kinds of points ({', '.join(KINDS)})",
    "connections": "live_state: keep-alive connections parked at the blocking point",
    "tasks": "pipeline: tasks in flight (closed loop), one point each",
    "pipeline_backends": "pipeline backends: coro, gen, event, fifo (see whyevents run pipeline)",
    "pipeline_reps": "pipeline repetitions, interleaved (claims take the median)",
    "window_s": "pipeline: seconds per measurement window",
    "threads": "scaling: parked threads, one point each",
    "scaling_backends": "scaling backends: coro, whyevents",
    "scaling_reps": "scaling repetitions",
    "pairing": "pipeline: none (one point at a time) or tasks (the backends at one N measured "
               "side by side, time-sliced on one core; the claims then pair their slices)",
    "slice_s": "pipeline with pairing: seconds each backend's process runs alone per turn",
    "extra_reps": "follow-up rounds: while a claim is undecided (INCONCLUSIVE, or each point it "
                  "reads measured once), one more rep of the points it reads, up to this many",
}


def _ints(name: str, v) -> list[int]:
    if isinstance(v, int | str):
        v = [v] if isinstance(v, int) else [x for x in v.split(",") if x.strip()]
    try:
        out = sorted({int(str(x).replace("_", "")) for x in v})
    except (TypeError, ValueError):
        raise ValueError(f"{name}: {v!r} is not a list of positive integers") from None
    if not out or out[0] < 1:
        raise ValueError(f"{name}: {v!r} is not a list of positive integers")
    return out


def _names(name: str, v, allowed) -> list[str]:
    if isinstance(v, str):
        v = [x.strip() for x in v.split(",") if x.strip()]
    bad = [x for x in v if x not in allowed]
    if bad:
        raise ValueError(f"{name}: {bad[0]!r} is not one of {', '.join(allowed)}")
    return list(dict.fromkeys(v))


def check_params(params: dict) -> dict:
    unknown = sorted(set(params) - set(PROFILES["quick"]))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)}; known: "
                         f"{', '.join(PROFILES['quick'])}")
    p = {**PROFILES["quick"], **params}
    out = {
        "kinds": _names("kinds", p["kinds"], KINDS),
        "connections": _ints("connections", p["connections"]),
        "tasks": _ints("tasks", p["tasks"]),
        "pipeline_backends": _names("pipeline_backends", p["pipeline_backends"],
                                    PIPELINE_BACKENDS),
        "pipeline_reps": _ints("pipeline_reps", p["pipeline_reps"])[0],
        "window_s": p["window_s"],
        "threads": _ints("threads", p["threads"]),
        "scaling_backends": _names("scaling_backends", p["scaling_backends"],
                                   ("coro", "whyevents")),
        "scaling_reps": _ints("scaling_reps", p["scaling_reps"])[0],
        "pairing": p["pairing"],
        "slice_s": _pipeline._float("slice_s", p["slice_s"], 0.0, strict=True),
        "extra_reps": _pipeline._int("extra_reps", p["extra_reps"], 0),
    }
    out["window_s"] = _pipeline._float("window_s", p["window_s"], 0.0, strict=True)
    if out["pairing"] not in PAIRINGS:
        raise ValueError(f"pairing: {out['pairing']!r} is not one of {', '.join(PAIRINGS)}")
    if not out["kinds"]:
        raise ValueError("kinds: empty: nothing to measure")
    return out


def points(params: dict) -> list[dict]:
    p = check_params(params)
    out = []
    k = p["kinds"]
    if "graph" in k:
        out += [{"kind": "graph", "subject": s, "n": i + 1, "rep": 0}
                for i, s in enumerate(_w.SERVERS)]
    if "atomic" in k:
        out += [{"kind": "atomic", "subject": c, "n": i + 1, "rep": 0}
                for i, c in enumerate(_w.CASES)]
    if "live_state" in k:
        out += [{"kind": "live_state", "subject": s, "n": c, "rep": 0}
                for c in p["connections"] for s in ("knot-c", "eventloop")]
    if "stack" in k:
        out.append({"kind": "stack", "subject": "knot-c", "n": 0, "rep": 0})
    if "pipeline" in k:
        out += _grouped([{"kind": "pipeline", "subject": b, "n": n, "rep": r}
                         for r in range(p["pipeline_reps"]) for n in p["tasks"]
                         for b in p["pipeline_backends"]], p)
    if "scaling" in k:
        out += [{"kind": "scaling", "subject": b, "n": n, "rep": r}
                for r in range(p["scaling_reps"]) for n in p["threads"]
                for b in p["scaling_backends"]]
    return out


def _grouped(pts: list[dict], params: dict) -> list[dict]:
    """With ``pairing=tasks``, the pipeline points of one (rep, N) as one point (its first
    member, all of them in ``members``), in order; other points and other pairings as they are.
    A group is done when its first member's row is stored (all members' rows come together)."""
    if params["pairing"] == "none":
        return pts
    groups: dict[tuple, list[dict]] = {}
    out: list[dict] = []
    for p in pts:
        if p["kind"] != "pipeline":
            out.append(p)
            continue
        key = (p["rep"], p["n"])
        if key not in groups:
            groups[key] = []
            out.append(key)                       # placeholder, filled in below
        groups[key].append(p)
    return [({**groups[x][0], "members": groups[x]} if isinstance(x, tuple) else x)
            for x in out]


def follow_up_points(params: dict, pts: list[dict]) -> list[dict]:
    """The runner's follow-up points (``repro.runner.follow_up``), grouped as ``points``."""
    return _grouped(pts, params)


@contextlib.contextmanager
def prepare(params: dict):
    with _pipeline.cached_file(_pipeline.PROFILES["quick"]["file_bytes"]) as path:
        yield {"path": path, "file_bytes": _pipeline.PROFILES["quick"]["file_bytes"],
               "kernel_failed_at": None}


def _row(point: dict, **extra) -> dict:
    row = dict.fromkeys(COLUMNS)
    row.update(point)
    row["status"] = "ok"
    row["error"] = None
    row.update(extra)
    return row


def measure(point: dict, params: dict, *, ctx: dict | None = None,
            progress: Callable[[dict], None] | None = None) -> list[dict]:
    """The rows of one point; a failure is a failed row naming it (never raises but Ctrl-C)."""
    p = check_params(params)
    kind, subject, n = point["kind"], point["subject"], point["n"]
    try:
        if kind == "graph":
            r = _w.graph_point(subject)
            return [_row(point, series="recorded", count=r["recorded"], **r),
                    _row(point, series="predicted", count=r["predicted"], **r)]
        if kind == "atomic":
            r = _w.atomic_point(subject)
            return [_row(point, series="right", count=r["right"], **r),
                    _row(point, series="cases", count=1, **r)]
        if kind == "live_state":
            return [_row(point, **_w.live_point(subject, n))]
        if kind == "stack":
            return [_row(point, **_w.stack_point())]
        if kind == "pipeline" and point.get("members"):
            return _measure_pipeline_group(point["members"], p, ctx)
        if kind == "pipeline":
            backend, scheduler = _pipeline.BACKENDS[subject]
            pp = _pipeline.check_params({"tasks": [n], "backends": [subject], "reps": 1,
                                         "window_s": p["window_s"]})
            sub = {"backend": backend, "scheduler": scheduler, "tasks": n, "rep": point["rep"]}
            row = _pipeline.measure(sub, pp, ctx=ctx, progress=progress)[0]
            return [{**dict.fromkeys(COLUMNS), **row, **point}]
        if kind == "scaling":
            sp = _scaling.check_params({"threads": [n], "backends": [subject], "peers": [],
                                        "reps": 1})
            sub = {"backend": subject, "park": "condition", "threads": n, "rep": point["rep"]}
            row = _scaling.measure(sub, sp, progress=progress)[0]
            return [{**dict.fromkeys(COLUMNS), **row, **point}]
        raise ValueError(f"kind: {kind!r} is not one of {', '.join(KINDS)}")
    except KeyboardInterrupt:
        raise
    except Exception as e:  # noqa: BLE001 - a failed row
        return [{**_row(point), "status": "failed", "error": f"{type(e).__name__}: {e}"[:400]}]


def _measure_pipeline_group(members: list[dict], p: dict, ctx: dict | None) -> list[dict]:
    """The rows of one (rep, N) group of pipeline points, measured side by side, time-sliced on
    one core by the pipeline experiment (``pipeline._measure_group`` via ``pipeline.measure``):
    each row carries ``pair`` and ``slice_rates``, which the claims' bootstrap pairs."""
    n = members[0]["n"]
    subjects = [m["subject"] for m in members]
    pp = _pipeline.check_params({"tasks": [n], "backends": subjects, "reps": 1,
                                 "window_s": p["window_s"], "pairing": "tasks",
                                 "slice_s": p["slice_s"], "extra_reps": 0,
                                 "timeout_s": 600.0})
    subs = []
    for m in members:
        backend, scheduler = _pipeline.BACKENDS[m["subject"]]
        subs.append({"backend": backend, "scheduler": scheduler, "tasks": n, "rep": m["rep"],
                     "build": "interpreted"})
    rows = _pipeline.measure({**subs[0], "members": subs}, pp, ctx=ctx)
    by_backend = {(r["backend"], r.get("scheduler")): r for r in rows}
    out = []
    for m, sub in zip(members, subs, strict=True):
        row = by_backend.get((sub["backend"], sub["scheduler"]))
        if row is None:
            out.append({**_row(m), "status": "failed", "error": "the group gave no row for it"})
        else:
            out.append({**dict.fromkeys(COLUMNS), **row, **{k: v for k, v in m.items()
                                                             if k != "members"}})
    return out
