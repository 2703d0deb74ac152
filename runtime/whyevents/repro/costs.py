"""Where the thread/event gap comes from, from a run's rows (issue 11): tables for the notebooks
and the report.

* ``pipeline_costs``: per build and task count, the event server, the substrate floor (the
  threaded program on raw greenlet with the least scheduler that runs it), the runtime's ``fifo``
  threads and the compiler-transformed ``coro`` threads, in tasks/s (medians over reps), and the
  gap split in two: ``greenlet / event`` is what greenlet itself costs (no runtime can go above
  it), ``fifo / greenlet`` what the runtime costs on top; their product is ``fifo / event``.
* ``web_costs``: per build and client count, the server CPU per request of Knot-C and of its event
  twin (both on epoll), and their ratio: the per-request form of the same question.
* ``web_forms``: per build, client count and server, the forms of thread side by side (notebook
  04): Knot on green threads and on ``async def`` threads, each policy, beside the event twin,
  all on epoll: bandwidth and server CPU per request, each over the twin's at the same point.
* ``yardstick_table``: the cachegrind yardstick's per-unit counts (``whyevents bench yardstick``:
  instructions, data references, first- and last-level misses, estimated cycles) of one
  workload, each over its event side's, from the newest stored result that measured it: this
  checkout's ``data/results`` first, then ``data/published``. The clock decides the claims; the
  counts split a gap into work (instructions) and memory (misses), which the clock cannot.

Both compare threads with events *within* one build (a run measuring both builds gives the 2x2,
interpreted vs compiled x threads vs events); a ratio across builds is never formed. Only rows
with status ``ok`` count.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# one reading of a row for the claims and these tables: what counts as ok, what as a number
from whyevents.repro.claims import _num, _ok

__all__ = ["pipeline_costs", "web_costs", "web_forms", "yardstick_table", "latest_yardstick",
           "markdown", "PIPELINE_COLUMNS", "WEB_COLUMNS", "FORMS_COLUMNS", "WEB_FORMS",
           "YARDSTICK_HOWTO"]

PIPELINE_COLUMNS = ("build", "tasks", "event", "greenlet floor", "fifo", "coro", "gen",
                    "greenlet / event", "fifo / greenlet", "fifo / event", "coro / event",
                    "gen / event")
WEB_COLUMNS = ("build", "clients", "knot-c us/req", "knot-c-async us/req", "twin us/req",
               "knot-c / twin", "knot-c-async / twin")


def _medians(rows: Sequence[Mapping[str, Any]], series_of, x: str, y: str
             ) -> dict[tuple[str, Any], dict[str, float]]:
    """(build, x) -> series -> median y."""
    acc: dict[tuple[str, Any], dict[str, list[float]]] = {}
    for r in rows:
        if not _ok(r):
            continue
        name = series_of(r)
        v = _num(r.get(y))
        if name is None or v is None:
            continue
        build = r.get("build") or "interpreted"
        acc.setdefault((str(build), r.get(x)), {}).setdefault(name, []).append(v)
    return {k: {s: statistics.median(vs) for s, vs in d.items()} for k, d in acc.items()}


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _pipeline_series(r: Mapping[str, Any]) -> str | None:
    b, s = r.get("backend"), r.get("scheduler")
    if b == "whyevents":
        return "fifo" if s == "fifo" else None
    return {"event": "event", "greenlet": "greenlet floor", "coro": "coro",
            "gen": "gen"}.get(str(b))


def pipeline_costs(rows: Sequence[Mapping[str, Any]]) -> list[dict]:
    """One row per (build, tasks) with an event point: tasks/s and the ratios (module doc)."""
    out = []
    med = _medians(rows, _pipeline_series, "tasks", "throughput_rps")
    for (build, tasks), m in sorted(med.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        ev = m.get("event")
        if ev is None:
            continue
        g, f, c, gen = m.get("greenlet floor"), m.get("fifo"), m.get("coro"), m.get("gen")
        out.append({"build": build, "tasks": tasks, "event": ev, "greenlet floor": g,
                    "fifo": f, "coro": c, "gen": gen,
                    "greenlet / event": _ratio(g, ev), "fifo / greenlet": _ratio(f, g),
                    "fifo / event": _ratio(f, ev), "coro / event": _ratio(c, ev),
                    "gen / event": _ratio(gen, ev)})
    return out


def _web_series(r: Mapping[str, Any]) -> str | None:
    if r.get("poller") != "epoll":
        return None
    return {"knot-c": "knot-c", "knot-c-async": "knot-c-async",
            "eventloop": "twin"}.get(str(r.get("server")))


def web_costs(rows: Sequence[Mapping[str, Any]]) -> list[dict]:
    """One row per (build, clients) with the twin and a Knot-C on epoll (green threads,
    ``knot-c``; ``async def`` threads, ``knot-c-async``): CPU us/request and the ratios."""
    out = []
    med = _medians(rows, _web_series, "clients", "cpu_us_per_request")
    for (build, clients), m in sorted(med.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        k, a, t = m.get("knot-c"), m.get("knot-c-async"), m.get("twin")
        if t is None or (k is None and a is None):
            continue
        out.append({"build": build, "clients": clients, "knot-c us/req": k,
                    "knot-c-async us/req": a, "twin us/req": t,
                    "knot-c / twin": _ratio(k, t), "knot-c-async / twin": _ratio(a, t)})
    return out


#: the servers ``web_forms`` sets side by side (all on epoll): name -> the form of its threads
WEB_FORMS = {"knot-c": "green threads", "knot-a": "green threads",
             "knot-c-async": "async def threads", "knot-a-async": "async def threads",
             "eventloop": "events (the twin)"}
FORMS_COLUMNS = ("build", "clients", "server", "form", "reps", "server-bound reps", "Mbit/s",
                 "us/req", "Mbit/s / twin", "us/req / twin")


def _bound(v: Any) -> bool:
    return str(v).strip().lower() in ("true", "1")


def web_forms(rows: Sequence[Mapping[str, Any]]) -> list[dict]:
    """One row per (build, clients, server) of ``WEB_FORMS`` on epoll at a client count where the
    twin was measured: medians over ok reps of bandwidth and server CPU per request, each over
    the twin's at the same point, and how many reps were server-bound (the bandwidth claims read
    only those: ``claim_eligible``)."""
    def series(r: Mapping[str, Any]) -> str | None:
        s = str(r.get("server"))
        return s if r.get("poller") == "epoll" and s in WEB_FORMS else None

    bw = _medians(rows, series, "clients", "mbit_s")
    cpu = _medians(rows, series, "clients", "cpu_us_per_request")
    reps: dict[tuple, list[int]] = {}
    for r in rows:
        if _ok(r) and series(r) is not None:
            build = str(r.get("build") or "interpreted")
            n = reps.setdefault((build, r.get("clients"), series(r)), [0, 0])
            n[0] += 1
            n[1] += _bound(r.get("claim_eligible"))
    out = []
    for key in sorted(set(bw) | set(cpu), key=lambda k: (k[0], k[1] or 0)):
        b, c = bw.get(key, {}), cpu.get(key, {})
        if "eventloop" not in b and "eventloop" not in c:
            continue
        for server in WEB_FORMS:
            if server not in b and server not in c:
                continue
            n, bound = reps.get((*key, server), (0, 0))
            out.append({"build": key[0], "clients": key[1], "server": server,
                        "form": WEB_FORMS[server], "reps": n, "server-bound reps": bound,
                        "Mbit/s": b.get(server), "us/req": c.get(server),
                        "Mbit/s / twin": _ratio(b.get(server), b.get("eventloop")),
                        "us/req / twin": _ratio(c.get(server), c.get("eventloop"))})
    return out


#: what to do when no yardstick result is stored
YARDSTICK_HOWTO = ("no cachegrind yardstick result stored (data/results/bench-yardstick/ or "
                   "data/published/bench-yardstick/): make one with `whyevents bench yardstick` "
                   "(needs valgrind)")
#: the yardstick's per-unit columns (``yardstick.flat_rows`` keys) -> this table's headers
_YARDSTICK = (("instructions", "instructions"), ("data_refs", "data refs"),
              ("d1_misses", "D1 misses"), ("ll_misses", "LL misses"),
              ("est_cycles", "est. cycles"))


def _yardstick_roots(root: str | Path | None) -> list[Path]:
    from whyevents.repro import paths

    return [Path(root) if root else paths.RESULTS, paths.PUBLISHED]


def latest_yardstick(workload: str, roots: Sequence[str | Path] | None = None
                     ) -> tuple[dict, Path] | tuple[None, None]:
    """The newest stored yardstick result with an ok row of ``workload`` ("pipeline" or
    "server") and its file: the first of ``roots`` (default: ``data/results`` then
    ``data/published``) that has one, newest first within it (the layout
    ``yardstick.latest_result`` reads: ``bench-yardstick/<stamp>/results.json``)."""
    from whyevents.benchmarks import yardstick

    for root in roots if roots is not None else _yardstick_roots(None):
        for path in yardstick.stored_results(root):
            try:
                result = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if any(r.get("workload") == workload and r.get("status") == "ok"
                   for r in result.get("rows") or ()):
                return result, path
    return None, None


def _relative(path: Path) -> str:
    from whyevents.repro import paths

    try:
        return path.resolve().relative_to(paths.ROOT).as_posix()
    except ValueError:
        return str(path)


def yardstick_table(workload: str, root: str | Path | None = None,
                    roots: Sequence[str | Path] | None = None) -> tuple[list[dict], str]:
    """The yardstick's table for ``workload`` ("pipeline": per task; "server": per request) and
    a line naming its source (file, commit, valgrind, build, cache model), or no rows and a line
    saying how to make one (``YARDSTICK_HOWTO``).

    Rows: ``name``, ``tasks`` (pipeline) or ``conns`` (servers, when the result has it) and
    ``requests_per_conn`` (servers, when the result replaced connections: 0 is keep-alive), the
    per-unit counts, and each over the event side's (``event``; for servers, the twin,
    ``eventloop``) measured at the same ``tasks``/``conns``/``requests_per_conn``. ``root``:
    the local results directory (None: ``data/results``), searched before
    ``data/published``; ``roots`` replaces both.
    """
    from whyevents.benchmarks import yardstick

    if workload not in yardstick.EVENT_SIDE:
        raise ValueError(f"workload {workload!r}: one of {', '.join(yardstick.EVENT_SIDE)}")
    result, path = latest_yardstick(workload, roots if roots is not None
                                    else _yardstick_roots(root))
    if result is None:
        return [], YARDSTICK_HOWTO
    event = yardstick.EVENT_SIDE[workload]
    side = "event" if workload == "pipeline" else "twin"
    scales = ("tasks",) if workload == "pipeline" else ("conns", "requests_per_conn")
    raw = [r for r in result["rows"] if r.get("status") == "ok"]
    recs = []
    for r, flat in zip(raw, yardstick.flat_rows(result), strict=True):
        if flat["workload"] != workload:
            continue
        rec = {"name": flat["name"]}
        rec.update({k: flat.get(k, r.get(k)) for k in scales})
        rec.update({h: flat[k] for k, h in _YARDSTICK})
        recs.append(rec)
    for k in scales:    # left out: a column the result lacks, or churn it never measured
        if all(r[k] is None for r in recs) or (
                k == "requests_per_conn" and not any(r[k] for r in recs)):
            for r in recs:
                del r[k]
    for r in recs:
        base = next((b for b in recs if b["name"] == event
                     and all(b.get(k) == r.get(k) for k in scales)), None)
        r.update({f"{h} / {side}": _ratio(r[h], base[h]) if base else None
                  for _k, h in _YARDSTICK})
    p, prov = result.get("parameters") or {}, result.get("provenance") or {}
    commit = (prov.get("git_commit") or "?")[:10] + (" (dirty)" if prov.get("git_dirty") else "")
    churn = [r for r in p.get("requests_per_conn") or () if r]
    what = (f"{p.get('tasks'):,} tasks in flight" if workload == "pipeline" and p.get("tasks")
            else "GETs of one 8 KiB file, keep-alive"
            + (f" and a new connection every {', '.join(map(str, churn))} requests "
               f"(requests_per_conn)" if churn else ""))
    source = (f"cachegrind yardstick, per {'task' if workload == 'pipeline' else 'request'} "
              f"({what}): {_relative(path)}, commit {commit}, "
              f"{str(prov.get('time_utc') or '?')[:19]}, {result.get('valgrind') or 'valgrind'}, "
              f"{p.get('build', '?')} build; cache model {result.get('cache_model_text', '?')}; "
              f"ratios to {'the event server' if side == 'event' else 'the twin'} ({event}); "
              f"re-measure: whyevents bench yardstick")
    return recs, source


def _cell(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        if 0 < abs(v) < 0.1:
            return f"{v:.2g}"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.2f}" if abs(v) < 10 else f"{v:.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def markdown(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> list[str]:
    """``rows`` as Markdown table lines (no rows: one line saying so)."""
    if not rows:
        return ["(no rows with the points this table needs)"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(r.get(c)) for c in columns) + " |" for r in rows]
    return lines
