"""Running an experiment sweep into the results store: ``whyevents run NAME``.

Why this shape: an experiment module (``whyevents.experiments.pipeline``, ``.scaling``, ``.web``)
knows *what* to measure — its parameters, its points, how to measure one point — and nothing
about files, progress bars or resuming. This module knows *how* a sweep is run reproducibly and
nothing about any workload, so the three experiments behave the same way:

* **Parameters** come from the module's profile (``quick`` is what CI and the notebooks run by
  default, ``full`` is the paper's range) with ``key=value`` overrides on top. An override is
  coerced to the type of the profile's value (``tasks=1,10,100`` becomes a list of ints), and an
  unknown key or a bad value is an error that names the parameter, before anything is measured.
* **Every point is on disk as soon as it is measured** (``store.Run.append`` fsyncs): a sweep
  killed by Ctrl-C, a crash or the end of a CI job keeps its points, its provenance says
  ``interrupted`` (or still ``running`` if the process was killed outright), and ``--resume``
  reopens it and skips the points already stored. A resume must use the same parameters: mixing
  two parameter sets in one table would make the claims compare unlike things. A point cut short
  from outside (its server or load process killed: the row's status is ``interrupted``) is not
  done: the sweep goes on, closes the run ``interrupted``, and ``--resume`` measures that point
  again (its old row set aside in the provenance, ``store.Run.resume``). A point's rows are
  stored in one write, so a kill never leaves half a point. ``tests/test_sweep_faults.py``
  kills the runner, a server and a load process mid-sweep with SIGKILL and checks all this.
* **Progress** is a tqdm bar (notebook-aware via ``tqdm.auto``) whose postfix shows the current
  point and, after each point, the module's ``SUMMARY_FIELDS``; a module may push live figures
  during a long point through its ``progress`` callback (the web sweep shows server counters).
* **On a cluster** (``cluster=ADDRESS``, ``whyevents run NAME --cluster ADDRESS``) the points go
  to a Dask scheduler instead of running here one after another (``repro.cluster``: one point
  per machine at a time, rows back into this run with the worker's host); everything above
  (parameters, the store, resume, the bar) is the same. Without an address nothing changes.
  A module may also place its points (``cluster_placement(client, params)``: the web sweep's
  server host and client hosts); that is resolved on the scheduler before the run is created,
  so a host no worker runs on is refused before anything is stored or started.
* **Machine limits that capped a sweep** (the 20,000 open-file cap, pid_max) are recorded in the
  provenance under ``limits`` by the module's ``limits(params)``, so a reader knows why the sweep
  stopped where it did.

* **Follow-up reps for undecided claims** (issue 21): after the planned points, the sweep
  evaluates the experiment's claims on its own rows; a claim whose 95%
  interval straddles its threshold (``INCONCLUSIVE``, ``repro.claims``), or that has no interval
  yet because every point it reads was measured once (basis ``single``: a value from one rep is
  no verdict while the budget can buy a second), names the points its metric reads, and the
  sweep measures one more rep of just those points, then evaluates again, up to the profile's
  ``extra_reps`` rounds (an experiment without that parameter has none). Only when the budget
  is spent (or is 0) is a single-rep claim decided by its value alone; a claim that declares
  itself ``deterministic`` (a count or a size with no sampling spread) is decided by it at
  once. More reps of the points
  in doubt, not of every point, is what narrows an interval at the least cost. The rounds, the
  claims that asked for them and the points measured are in the provenance (``follow_up``), so a
  claim still INCONCLUSIVE in a complete run has spent its budget, and a claims cell fails on it.
  A known divergence (reported, never failing a cell) is re-measured when it is INCONCLUSIVE,
  in the same rounds as the others: a divergence is still a verdict two runs should agree on.

The module contract (``EXPERIMENT``, ``DESCRIPTION``, ``KEY_FIELDS``, ``SUMMARY_FIELDS``,
``PROFILES``, ``PARAM_HELP``, ``check_params``, ``points``, ``measure``, optional ``prepare``,
``limits`` and ``follow_up_points``) is checked when a module is loaded, so a broken module
fails with its name. Optional too: ``OPTIONAL_PARAMS`` (parameters absent from the profiles,
accepted with ``-p`` and recorded only when given, with their help in ``OPTIONAL_HELP``),
``needs_cluster(params)`` (why a sweep cannot run without ``--cluster``) and
``cluster_placement``.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import math
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from whyevents.repro import store

__all__ = [
    "EXPERIMENTS", "PROFILE_NAMES", "load", "resolve_params", "parse_overrides",
    "run_experiment", "describe", "inconclusive_points", "follow_up",
]

#: ``whyevents run NAME`` -> the module that implements it (see the module contract above).
EXPERIMENTS: dict[str, str] = {
    "pipeline": "whyevents.experiments.pipeline",
    "scaling": "whyevents.experiments.scaling",
    "web": "whyevents.experiments.web",
    "compiler": "whyevents.experiments.compiler",
}
PROFILE_NAMES = ("quick", "full")
_REQUIRED = ("EXPERIMENT", "DESCRIPTION", "KEY_FIELDS", "SUMMARY_FIELDS", "PROFILES",
             "PARAM_HELP", "check_params", "points", "measure")


def load(name: str) -> ModuleType:
    """The experiment module for ``name``, checked against the contract."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}")
    mod = importlib.import_module(EXPERIMENTS[name])
    missing = [a for a in _REQUIRED if not hasattr(mod, a)]
    if missing:
        raise TypeError(f"{mod.__name__} does not implement the experiment contract: "
                        f"missing {', '.join(missing)}")
    for p in PROFILE_NAMES:
        if p not in mod.PROFILES:
            raise TypeError(f"{mod.__name__}.PROFILES lacks the {p!r} profile")
    return mod


# ---------------------------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------------------------

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _coerce_scalar(key: str, text: str, like: Any) -> Any:
    if isinstance(like, bool):
        low = text.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError(f"{key}: {text!r} is not a boolean (use true/false)")
    if isinstance(like, int):
        try:
            return int(text.replace("_", ""))
        except ValueError:
            raise ValueError(f"{key}: {text!r} is not an integer") from None
    if isinstance(like, float):
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{key}: {text!r} is not a number") from None
        if not math.isfinite(value):
            raise ValueError(f"{key}: {text!r} is not a finite number")
        return value
    if like is None:                       # no type to follow: best effort, JSON first
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _coerce(key: str, value: Any, like: Any) -> Any:
    """``value`` (a string from the command line, or already typed) in the type of ``like``."""
    if not isinstance(value, str):
        if isinstance(like, list) and not isinstance(value, list | tuple):
            value = [value]
        if isinstance(like, list):
            element = like[0] if like else None
            return [_coerce(key, v, element) if isinstance(v, str) else v for v in value]
        if isinstance(like, float) and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value
    if isinstance(like, list):
        element = like[0] if like else None
        text = value.strip()
        if text.startswith("["):
            try:
                items = json.loads(text)
            except ValueError:
                raise ValueError(f"{key}: {value!r} is not a list (use 1,2,3 or [1, 2, 3])") \
                    from None
            return [_coerce(key, v, element) if isinstance(v, str) else v for v in items]
        parts = [p.strip() for p in text.split(",") if p.strip()]
        return [_coerce_scalar(key, p, element) for p in parts]
    return _coerce_scalar(key, value, like)


def parse_overrides(items: Iterable[str]) -> dict[str, str]:
    """``["tasks=1,10", "reps=2"]`` -> ``{"tasks": "1,10", "reps": "2"}`` (values stay strings)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"parameter {item!r}: write it as key=value")
        out[key] = value
    return out


def resolve_params(mod: ModuleType, profile: str,
                   overrides: Mapping[str, Any] | None = None) -> dict:
    """The profile's parameters with ``overrides`` applied, coerced and checked by the module."""
    if profile not in mod.PROFILES:
        raise ValueError(f"profile: {profile!r} is not one of {', '.join(mod.PROFILES)}")
    params = {k: (list(v) if isinstance(v, list) else v) for k, v in mod.PROFILES[profile].items()}
    optional = getattr(mod, "OPTIONAL_PARAMS", {})
    for key, value in (overrides or {}).items():
        if key not in params and key in optional:
            params[key] = _coerce(key, value, optional[key])
            continue
        if key not in params:
            raise ValueError(f"unknown parameter {key!r} for {mod.EXPERIMENT}; known: "
                             f"{', '.join(sorted(params))}")
        params[key] = _coerce(key, value, params[key])
    return mod.check_params(params)


def describe(mod: ModuleType) -> str:
    """The parameters with their quick and full defaults, for ``--help`` and the notebooks."""
    lines = []
    quick, full = mod.PROFILES["quick"], mod.PROFILES["full"]
    width = max((len(k) for k in quick), default=0)
    for key in quick:
        q, f = quick[key], full.get(key)
        shown = _fmt(q) if q == f else f"{_fmt(q)} (full: {_fmt(f)})"
        lines.append(f"  {key:<{width}}  {mod.PARAM_HELP.get(key, '')}  [{shown}]")
    for key in getattr(mod, "OPTIONAL_PARAMS", {}):
        lines.append(f"  {key:<{width}}  {getattr(mod, 'OPTIONAL_HELP', {}).get(key, '')}  "
                     f"[not set]")
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, list):
        return ",".join(str(x) for x in v)
    return str(v)


# ---------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------

def _key(point: Mapping[str, Any], fields: Iterable[str]) -> tuple:
    return tuple(point.get(f) for f in fields)


def _short(row: Mapping[str, Any], fields: Iterable[str]) -> dict[str, str]:
    out = {}
    for f in fields:
        v = row.get(f)
        if v is None:
            continue
        if isinstance(v, float):
            v = f"{v:.3g}"
        out[f] = str(v)
    return out


def _bar(total: int, desc: str, enabled: bool):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a core dependency
        return None
    return tqdm(total=total, desc=desc, unit="point", dynamic_ncols=True, file=sys.stderr)


def run_experiment(name: str, profile: str = "quick", params: Mapping[str, Any] | None = None,
                   *, resume: bool | str = False, progress: bool = True,
                   root: Path | None = None, seed: int | None = None,
                   on_row: Callable[[dict], None] | None = None,
                   cluster: Any = None) -> store.Run:
    """Run experiment ``name`` at ``profile`` with ``params`` overrides; returns the closed Run.

    ``resume`` is ``False`` (a new run), ``True`` (the latest run of this experiment) or a run
    id. Points whose key is already stored are skipped. Ctrl-C closes the run as
    ``interrupted`` and re-raises; every finished point is kept. ``on_row`` sees each new row.
    ``cluster``: a Dask scheduler address (or ``local[:N]``, or a Client) to measure the points
    on, one per machine at a time (``repro.cluster``); ``None`` measures them here, in order.
    """
    mod = load(name)
    resolved = resolve_params(mod, profile, params)
    args = (mod, name, profile, resolved, resume, progress, root, seed, on_row)
    if cluster is None:
        why = getattr(mod, "needs_cluster", lambda p: None)(resolved)
        if why:
            raise ValueError(why)
        return _run(*args, None)
    from whyevents.repro import cluster as dask_cluster

    with dask_cluster.connect(cluster) as client:
        placement = dask_cluster.placement(client, mod, resolved)   # refused before any run
        return _run(*args, (client, placement))


def _run(mod: ModuleType, name: str, profile: str, resolved: dict, resume: bool | str,
         progress: bool, root: Path | None, seed: int | None,
         on_row: Callable[[dict], None] | None, cluster: tuple | None) -> store.Run:
    """``run_experiment``'s sweep, here or on ``cluster`` (a connected client, its placement)."""
    todo = mod.points(resolved)
    limits = mod.limits(resolved) if hasattr(mod, "limits") else {}
    recorded = {"experiment_module": mod.__name__, **resolved}
    if resume:
        run = store.Run.resume(mod.EXPERIMENT, "latest" if resume is True else str(resume),
                               root=root)
        stored = run.provenance.get("parameters", {})
        if run.profile != profile or _canon(stored) != _canon(recorded):
            run.close(run.provenance.get("resumed", [{}])[-1].get("previous_status")
                      or "interrupted")
            raise ValueError(
                f"cannot resume {run.run_id}: it was run with profile {run.profile!r} and "
                f"parameters {_diff(stored, recorded)}; start a new run instead")
        done = run.done_keys(mod.KEY_FIELDS)
    else:
        run = store.Run.create(mod.EXPERIMENT, recorded, profile, seed, root=root)
        done = set()
    if limits:
        run.provenance["limits"] = limits
        run._write_provenance()
    remaining = [p for p in todo if _key(p, mod.KEY_FIELDS) not in done]
    bar = _bar(len(todo), f"{name} ({profile})", progress)
    if bar is not None:
        bar.update(len(todo) - len(remaining))
        bar.set_postfix_str(f"run {run.run_id}", refresh=True)
    status = "interrupted"
    if cluster is not None:
        return _run_on_cluster(mod, resolved, remaining, run, done, bar, cluster, on_row)
    try:
        setup = mod.prepare(resolved) if hasattr(mod, "prepare") else contextlib.nullcontext()
        with setup as ctx:
            for point in remaining:
                here = _short(point, mod.KEY_FIELDS)
                if bar is not None:
                    bar.set_postfix(here, refresh=True)

                def live(figures: Mapping[str, Any], _here=here) -> None:
                    if bar is not None:
                        bar.set_postfix({**_here, **_short(figures, figures)}, refresh=True)

                t0 = time.monotonic()
                rows = mod.measure(point, resolved, ctx=ctx, progress=live)
                if isinstance(rows, Mapping):
                    rows = [rows]
                _append_rows(mod, run, point, rows, time.monotonic() - t0, on_row)
                if bar is not None:
                    bar.update(1)
                    last = rows[-1] if rows else {}
                    bar.set_postfix({**here, **_short(last, ("status", *mod.SUMMARY_FIELDS))},
                                    refresh=True)
            follow_up(mod, profile, resolved, run, ctx, bar, on_row)
        status = _final_status(run)
    finally:
        if bar is not None:
            bar.close()
        run.close(status)
    return run


def inconclusive_points(experiment: str, profile: str, rows: list[dict],
                        claims_path: Path | None = None, *,
                        single: bool = True) -> tuple[list[str], list[dict]]:
    """(ids of the claims of ``experiment`` that ``rows`` leave undecided at ``profile``, the
    points without ``rep`` that those claims read), in claims.yaml's order. Undecided:
    INCONCLUSIVE, or no interval yet (every point read measured once, basis ``single``), whatever
    the single value says, so a one-rep value gets its second rep alike on both sides of the
    threshold (``single=False``: INCONCLUSIVE only). A ``deterministic`` claim (a count or a
    size with no sampling spread) is decided by its one rep: no second one for it. A claim that
    is MISSING only because points it reads were not server-bound is undecided too, and those
    points are measured again (``claims.wants_bound_points``): a host slowdown during one rep
    must not leave a bandwidth claim with no verdict while the budget lasts.

    Known divergences come after the others, and only when INCONCLUSIVE (one with a single rep
    is decided by its value): they fail no claims cell, but a divergence is still a verdict two
    runs should agree on (two full web sweeps of one commit gave C3.4 FAIL and INCONCLUSIVE,
    the second never re-measured). A round measures the points of all of them at once: when
    divergences waited until no other claim was undecided, a full web sweep spent its four
    rounds on C3.3 and left C2.8 INCONCLUSIVE with none. ``single=False``: what is left
    undecided, INCONCLUSIVE only."""
    from whyevents.repro import claims as _claims

    undecided: list = []
    diverging: list = []
    unbound: set = set()                 # MISSING for want of server-bound points
    for claim in _claims.load_claims(claims_path):
        if claim.experiment != experiment or not claim.applies(profile):
            continue
        try:
            v = _claims.evaluate(claim, rows, profile)
        except _claims.MissingData:
            if _claims.wants_bound_points(claim, rows, profile):
                unbound.add(claim.id)
                (diverging if claim.divergence else undecided).append(claim)
            continue
        if claim.divergence:
            if v.status == _claims.INCONCLUSIVE:
                diverging.append(claim)
        elif v.status == _claims.INCONCLUSIVE or (single and v.basis == "single"
                                                   and not claim.deterministic):
            undecided.append(claim)
    chosen = undecided + diverging
    points: dict[str, dict] = {}
    for claim in chosen:
        for p in _claims.points_used(claim, rows, profile, eligible=claim.id not in unbound):
            points.setdefault(_canon(p), p)
    return [c.id for c in chosen], list(points.values())


def follow_up(mod: ModuleType, profile: str, resolved: Mapping[str, Any], run: store.Run,
              ctx: Any, bar=None, on_row: Callable[[dict], None] | None = None,
              claims_path: Path | None = None) -> dict:
    """Measure more reps of the points an INCONCLUSIVE claim reads, a round at a time, up to
    ``resolved["extra_reps"]`` rounds; the record (also in the provenance's ``follow_up``)."""
    budget = int(resolved.get("extra_reps", 0) or 0)
    record: dict[str, Any] = {"budget": budget, "rounds": []}
    if budget <= 0:
        return record
    for _ in range(budget):
        rows = run.rows()
        ids, pts = inconclusive_points(mod.EXPERIMENT, profile, rows, claims_path)
        if not ids:
            break
        rep = 1 + max((int(r["rep"]) for r in rows if isinstance(r.get("rep"), int)),
                      default=-1)
        todo = [{**p, "rep": rep} for p in pts]
        if hasattr(mod, "follow_up_points"):
            todo = mod.follow_up_points(resolved, todo)
        record["rounds"].append({"rep": rep, "claims": ids, "points": len(todo)})
        run.provenance["follow_up"] = record
        run._write_provenance()
        if bar is not None:
            bar.total += len(todo)
            bar.refresh()
        for point in todo:
            t0 = time.monotonic()
            got = mod.measure(point, resolved, ctx=ctx)
            got = [got] if isinstance(got, Mapping) else got
            _append_rows(mod, run, point, got, time.monotonic() - t0, on_row)
            if bar is not None:
                bar.update(1)
    record["inconclusive"] = inconclusive_points(mod.EXPERIMENT, profile, run.rows(),
                                                 claims_path, single=False)[0]
    run.provenance["follow_up"] = record
    run._write_provenance()
    return record


def _append_rows(mod: ModuleType, run: store.Run, point: Mapping[str, Any], rows: Iterable,
                 wall_s: float, on_row: Callable[[dict], None] | None) -> None:
    """A measured point's rows, completed with its key fields, on disk (then ``on_row``)."""
    rows = [_finish_row(mod, point, row, wall_s) for row in rows]
    if rows:
        run.extend(rows)                 # one write: never half a point on disk
    for row in rows:
        if on_row is not None:
            on_row(row)


def _final_status(run: store.Run) -> str:
    """``complete``, or ``interrupted`` while a point cut short from outside awaits a resume."""
    cut = any(r.get("status") == store.INTERRUPTED for r in run.rows())
    return "interrupted" if cut else "complete"


def _finish_row(mod: ModuleType, point: Mapping[str, Any], row: Mapping[str, Any],
                wall_s: float) -> dict:
    row = dict(row)
    for f in mod.KEY_FIELDS:
        row.setdefault(f, point.get(f))
    row.setdefault("status", "ok")
    row.setdefault("point_wall_s", round(wall_s, 3))
    return row


def _run_on_cluster(mod: ModuleType, resolved: dict, remaining: list[dict], run: store.Run,
                    done: set, bar, connected: tuple,
                    on_row: Callable[[dict], None] | None) -> store.Run:
    """The sweep's remaining points on a Dask cluster (``connected``: the client and the
    module's placement); rows into ``run`` as they arrive."""
    from whyevents.repro import cluster

    status = "interrupted"
    keyf = lambda p: _key(p, mod.KEY_FIELDS)  # noqa: E731

    def store_rows(point: dict, rows: list[dict]) -> None:
        _append_rows(mod, run, point, rows, 0.0, on_row)
        if bar is not None:
            bar.update(1)
            last = rows[-1] if rows else {}
            bar.set_postfix({**_short(point, mod.KEY_FIELDS),
                             **_short(last, ("worker_host", "status", *mod.SUMMARY_FIELDS))},
                            refresh=True)

    def note(msg: str) -> None:
        (bar.write if bar is not None else print)(msg)

    try:
        client, placement = connected
        run.provenance["cluster"] = cluster.describe(client)
        if placement is not None:
            run.provenance["cluster"]["placement"] = cluster.public(placement)
        run._write_provenance()
        outcome = cluster.run_points(client, mod.__name__, resolved, remaining, keyf,
                                     set(done), store_rows, note, placement=placement)
        run.provenance["cluster"].update(
            hosts=outcome["hosts"], duplicates_dropped=outcome["duplicates_dropped"],
            lost_points=[dict(p) for p in outcome["lost"]])
        if not outcome["lost"]:
            status = _final_status(run)
    finally:
        if bar is not None:
            bar.close()
        run.close(status)
    return run


def _canon(d: Mapping[str, Any]) -> str:
    return json.dumps(d, sort_keys=True, default=str)


def _diff(stored: Mapping[str, Any], wanted: Mapping[str, Any]) -> str:
    keys = sorted(set(stored) | set(wanted))
    parts = [f"{k}: stored {stored.get(k)!r} != now {wanted.get(k)!r}"
             for k in keys if stored.get(k) != wanted.get(k)]
    return "; ".join(parts) or "(same)"
