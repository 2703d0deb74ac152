"""Where the thread/event gap comes from, from a run's rows (issue 11): tables for the notebooks
and the report.

* ``pipeline_costs``: per build and task count, the event server, the substrate floor (the
  threaded program on raw greenlet with the least scheduler that runs it), the runtime's ``fifo``
  threads and the compiler-transformed ``coro`` threads, in tasks/s (medians over reps), and the
  gap split in two: ``greenlet / event`` is what greenlet itself costs (no runtime can go above
  it), ``fifo / greenlet`` what the runtime costs on top; their product is ``fifo / event``.
* ``web_costs``: per build and client count, the server CPU per request of Knot-C and of its event
  twin (both on epoll), and their ratio: the per-request form of the same question.

Both compare threads with events *within* one build (a run measuring both builds gives the 2x2,
interpreted vs compiled x threads vs events); a ratio across builds is never formed. Only rows
with status ``ok`` count.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

# one reading of a row for the claims and these tables: what counts as ok, what as a number
from whyevents.repro.claims import _num, _ok

__all__ = ["pipeline_costs", "web_costs", "markdown", "PIPELINE_COLUMNS", "WEB_COLUMNS"]

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


def _cell(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
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
