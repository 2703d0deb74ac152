"""How far each claim's measured value lies from its threshold, over many stored runs.

A verdict from one run says PASS or FAIL; whether it would say the same on the next run depends on
the *margin*: the distance between the measured value and the threshold the profile applies
(tolerance included), in the direction that passes. ``whyevents margins`` evaluates every claim of
a profile on every complete stored run of its experiment (under one or more results roots) and
prints, per claim, the runs, how many passed (and how many were INCONCLUSIVE: the value's 95%
interval astride the threshold), the measured values and the smallest margin, so a
claim whose quick verdict is a coin toss shows as one before CI finds out (issue 13: a quick
claim must pass in 5 of 5 runs, with its margins reported).

Margins are relative, so claims in different units read alike: for ``>= t``, ``(value - t) / |t|``;
for ``<= t``, ``(t - value) / |t|``; for ``between [lo, hi]``, the distance to the nearer bound
divided by ``hi - lo``. A positive margin passes, a negative one fails; 0.10 means the value could
move by 10% of the threshold (or of the band) before the verdict flips.

Only complete runs count (an interrupted run's last points were cut short), and only runs whose
rows decide the claim (a run from before a column existed is listed as unable to decide, not as a
failure). ``--since`` keeps runs started at or after a UTC time, e.g. the runs of today's code.

Each run names its machine (``machine``: the CPU model and the kernel release from its
provenance), and the summary counts the machines. A ratio of two servers can move with the
machine, not only its absolute numbers: the same commit on the same CPU model under another
kernel build (another VM host) gives another value, steadily over a whole run, which no pairing
inside a run cancels. Runs that disagree across machines are a finding about the claim;
agreement is asked of runs of one machine.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from whyevents.repro import claims as _claims
from whyevents.repro import store

__all__ = ["Measured", "margin", "machine", "collect", "summarize", "format_table"]


@dataclass(frozen=True)
class Measured:
    """One claim decided on one stored run."""
    claim: str
    run_id: str
    root: str
    started: str
    commit: str
    git_dirty: bool | None
    value: float | None          # None: the run's rows could not decide the claim
    threshold: float | tuple[float, float] | None
    margin: float | None
    status: str                  # PASS, FAIL, INCONCLUSIVE or MISSING (``claims.VERDICTS``)
    interval: tuple[float, float] | None = None    # the value's 95% interval
    machine: str = ""            # ``machine(provenance)``: CPU model and kernel release


def machine(prov: dict) -> str:
    """The machine a run measured on, as its provenance names it: the CPU model and the
    kernel release (on a VM the release tells its image apart: the same CPU model on another
    host build is another machine); "" when the provenance says neither."""
    cpu = str(prov.get("cpu_model") or "").strip()
    kernel = str(prov.get("kernel") or "").split()
    release = kernel[1] if len(kernel) > 1 else ""
    return ", ".join(x for x in (cpu, release) if x)


def margin(op: str, value: float, threshold: float | tuple[float, float]) -> float:
    """The relative distance from ``value`` to ``threshold`` in the passing direction (> 0: it
    passes; < 0: it fails; NaN: the value is not a number)."""
    if value is None or math.isnan(value):
        return math.nan
    if op == "between":
        lo, hi = threshold  # type: ignore[misc]
        width = hi - lo
        return min(value - lo, hi - value) / width if width > 0 else math.nan
    t = float(threshold)  # type: ignore[arg-type]
    scale = abs(t) if t != 0 else 1.0
    return (value - t) / scale if op == ">=" else (t - value) / scale


def collect(profile: str, roots: Sequence[Path | None], *, since: str | None = None,
            claim_ids: Iterable[str] | None = None,
            claims_path: Path | None = None) -> list[Measured]:
    """Every claim of ``profile`` on every complete run of its experiment under ``roots``
    (``None``: data/results), oldest run first. ``since``: keep runs whose start time (UTC, ISO
    8601 as in provenance) sorts at or after it."""
    wanted = set(claim_ids) if claim_ids is not None else None
    out: list[Measured] = []
    runs_of: dict[str, list[tuple[str, store.Run]]] = {}
    for claim in _claims.load_claims(claims_path):
        if not claim.applies(profile) or (wanted is not None and claim.id not in wanted):
            continue
        if claim.experiment not in runs_of:
            found = []
            for root in roots:
                for run in store.list_runs(claim.experiment, root):
                    started = str(run.provenance.get("time_start_utc", ""))
                    if run.profile != profile or run.status != "complete":
                        continue
                    if since and started < since:
                        continue
                    found.append((str(root) if root is not None else "data/results", run))
            found.sort(key=lambda rr: (str(rr[1].provenance.get("time_start_utc", "")),
                                       rr[1].run_id))
            runs_of[claim.experiment] = found
        _, threshold, tol, _ = claim.for_profile(profile)
        eff = _claims._effective(claim.op, threshold, tol)
        for root_name, run in runs_of[claim.experiment]:
            prov = run.provenance
            base = dict(claim=claim.id, run_id=run.run_id, root=root_name,
                        started=str(prov.get("time_start_utc", ""))[:19],
                        commit=str(prov.get("git_commit") or "")[:10],
                        git_dirty=prov.get("git_dirty"), threshold=eff,
                        machine=machine(prov))
            try:
                v = _claims.evaluate(claim, run.rows(), profile)
            except _claims.MissingData:
                out.append(Measured(value=None, margin=None, status=_claims.MISSING, **base))
                continue
            out.append(Measured(value=v.value, margin=margin(claim.op, v.value, eff),
                                status=v.status, interval=v.interval, **base))
    return out


def summarize(measured: Sequence[Measured], claims_path: Path | None = None) -> list[dict]:
    """One row per claim: runs that decided it, passes, the values' min/median/max and the
    smallest margin (the run closest to flipping), in claims.yaml's order."""
    order = {c.id: (i, c) for i, c in enumerate(_claims.load_claims(claims_path))}
    by_claim: dict[str, list[Measured]] = {}
    for m in measured:
        by_claim.setdefault(m.claim, []).append(m)
    rows = []
    for cid in sorted(by_claim, key=lambda c: order.get(c, (1 << 30, None))[0]):
        ms = by_claim[cid]
        decided = [m for m in ms if m.value is not None]
        values = [m.value for m in decided]
        margins = [m.margin for m in decided if m.margin is not None and not math.isnan(m.margin)]
        claim = order[cid][1] if cid in order else None
        rows.append({
            "claim": cid,
            "divergence": bool(claim and claim.divergence),
            "threshold": decided[0].threshold if decided else None,
            "runs": len(decided),
            "machines": len({m.machine for m in decided}),
            "undecided": len(ms) - len(decided),
            "passed": sum(m.status == _claims.PASS for m in decided),
            "inconclusive": sum(m.status == _claims.INCONCLUSIVE for m in decided),
            "verdicts": sorted({m.status for m in decided}),
            "min": min(values) if values else None,
            "median": statistics.median(values) if values else None,
            "max": max(values) if values else None,
            "min_margin": min(margins) if margins else None,
            "median_margin": statistics.median(margins) if margins else None,
        })
    return rows


def format_table(summary: Sequence[dict], measured: Sequence[Measured] | None = None) -> str:
    """A Markdown table of ``summarize``'s rows (and, with ``measured``, one line per run)."""
    from whyevents.repro.report import format_value

    def pct(v: float | None) -> str:
        return "—" if v is None or math.isnan(v) else f"{v:+.0%}"

    lines = ["| claim | threshold | runs | machines | passed | inconclusive | min | median | "
             "max | smallest margin | median margin |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in summary:
        note = " (known divergence)" if r["divergence"] else ""
        und = f" (+{r['undecided']} undecided)" if r["undecided"] else ""
        lines.append(f"| {r['claim']}{note} | {format_value(r['threshold'])} | {r['runs']}{und} "
                     f"| {r.get('machines', 1)} | {r['passed']}/{r['runs']} | "
                     f"{r.get('inconclusive', 0)} | "
                     f"{format_value(r['min'])} | "
                     f"{format_value(r['median'])} | {format_value(r['max'])} | "
                     f"{pct(r['min_margin'])} | {pct(r['median_margin'])} |")
    if measured:
        lines += ["", "| claim | run | started (UTC) | commit | machine | verdict | measured | "
                  "95% interval | margin |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for m in measured:
            dirty = " (dirty)" if m.git_dirty else ""
            ci = format_value(tuple(m.interval)) if m.interval is not None else "—"
            lines.append(f"| {m.claim} | {m.run_id} | {m.started} | {m.commit}{dirty} | "
                         f"{m.machine or '—'} | {m.status} | {format_value(m.value)} | {ci} | "
                         f"{pct(m.margin)} |")
    return "\n".join(lines) + "\n"
