"""``paper/REPORT.md``: every claim's verdict with its measured value, the figures, the runs.

Why generated, and from stored results only: the report must say exactly what the stored runs
say, so it is rebuilt by ``whyevents report`` (and the ``99_report`` notebook, and
``make reproduce``) from ``data/results/`` — nothing is measured here and nothing is typed in.
Each claim row names the run it was decided on, and the provenance table says where that run
came from (commit, dirty tree, machine, when, what capped it), so any line can be traced and
re-run.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from whyevents.repro import claims as _claims
from whyevents.repro import paths, store
from whyevents.repro.runner import EXPERIMENTS

__all__ = ["latest_runs", "render", "write_report", "format_value"]


def latest_runs(profile: str, root: Path | None = None) -> dict[str, store.Run]:
    """experiment -> its newest stored run of ``profile`` (experiments without one are left out)."""
    out = {}
    for exp in EXPERIMENTS:
        try:
            out[exp] = store.latest(exp, profile=profile, root=root)
        except store.RunNotFound:
            continue
    return out


def format_value(v: Any) -> str:
    """A measured value or threshold for a table: 3 significant digits, ranges as ``[a, b]``."""
    if v is None:
        return "—"
    if isinstance(v, tuple | list):
        return "[" + ", ".join(format_value(x) for x in v) + "]"
    if isinstance(v, float):
        if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
            return f"{v:.3g}"
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
    return str(v)


def _claims_table(verdicts: Sequence[_claims.Verdict], claim_list) -> list[str]:
    by_id = {c.id: c for c in claim_list}
    lines = ["| claim | paper | what we check | verdict | measured | 95% interval | threshold "
             "| run |",
             "|---|---|---|---|---|---|---|---|"]
    for v in verdicts:
        c = by_id.get(v.id)
        summary = v.message.split(" — ", 1)[-1]
        op = c.op if c is not None else ""
        thr = format_value(v.threshold)
        status = f"**{v.status}**" + (" (known divergence)" if c is not None and c.divergence
                                      else "")
        lines.append(f"| {v.id} | {c.section if c else ''} | {summary} | {status} | "
                     f"{format_value(v.value)} | {_claims.format_interval(v)} | {op} {thr} | "
                     f"{v.run_id or '—'} |")
    return lines


def _follow_ups(runs: Mapping[str, store.Run]) -> list[str]:
    """The reps each run spent on claims left INCONCLUSIVE by its planned points."""
    out = []
    for exp, run in runs.items():
        fu = run.provenance.get("follow_up")
        if not fu or not fu.get("rounds"):
            continue
        asked = sorted({c for r in fu["rounds"] for c in r.get("claims", [])})
        points = sum(r.get("points", 0) for r in fu["rounds"])
        left = fu.get("inconclusive") or []
        out.append(f"- {exp} (`{run.run_id}`): {len(fu['rounds'])} of {fu.get('budget')} "
                   f"follow-up rounds, {points} extra points, for {', '.join(asked)}; "
                   + (f"still INCONCLUSIVE: {', '.join(left)}." if left else "all settled."))
    if not out:
        return []
    return ["Extra reps measured for claims whose interval straddled their threshold "
            "(`extra_reps`, repro/runner.py):", "", *out, ""]


def _divergences(claim_list) -> list[str]:
    out = [f"- **{c.id}** ({c.summary}): {c.divergence}" for c in claim_list if c.divergence]
    if not out:
        return []
    return ["### Known divergences", "",
            "Claims this reproduction measured and does not reproduce, and why (from "
            "`paper/claims.yaml`; their thresholds stay the paper's):", "", *out, ""]


def _not_checked(profile: str, claim_list) -> list[str]:
    skipped = [c for c in claim_list if not c.applies(profile)]
    if not skipped:
        return []
    return [f"Not checked at the {profile} profile (the full profile decides them):", "",
            *(f"- **{c.id}** ({c.summary}): {c.not_checked_reason()}." for c in skipped), ""]


def _provenance_table(runs: Mapping[str, store.Run]) -> list[str]:
    lines = ["| experiment | run | status | commit | when (UTC) | took | machine | limits |",
             "|---|---|---|---|---|---|---|---|"]
    for exp, run in runs.items():
        p = run.provenance
        commit = (p.get("git_commit") or "?")[:10] + (" (dirty)" if p.get("git_dirty") else "")
        took = p.get("duration_s")
        took_s = f"{took:.0f} s" if isinstance(took, int | float) else "—"
        machine = f"{p.get('cpu_model', '?')} ×{p.get('cpu_count', '?')}, Python " \
                  f"{p.get('python', '?')}"
        limits = p.get("limits") or {}
        lim = "; ".join(f"{k}: {v}" for k, v in limits.items()) if limits else "—"
        lines.append(f"| {exp} | `{run.run_id}` | {run.status} | {commit} | "
                     f"{p.get('time_start_utc', '?')[:19]} | {took_s} | {machine} | {lim} |")
    return lines


def _costs(runs: Mapping[str, store.Run]) -> list[str]:
    """Threads vs events within each build, and the pipeline's gap split into greenlet's share
    and the runtime's (``repro.costs``), from the runs used."""
    from whyevents.repro import costs

    out = ["## Threads vs events, within each build", "",
           "Medians over reps. The 2x2 is interpreted vs compiled x threads vs events when a run "
           "measured both builds (`builds=interpreted,compiled`); ratios are formed within one "
           "build only, and the claims use the interpreted build.", ""]
    if "pipeline" in runs:
        out += ["Task pipeline, tasks/s: `greenlet floor` is the threaded program on raw greenlet "
                "with the least scheduler that runs it, so `greenlet / event` is what the "
                "substrate costs and `fifo / greenlet` what the runtime adds "
                f"(run `{runs['pipeline'].run_id}`):", "",
                *costs.markdown(costs.pipeline_costs(runs["pipeline"].rows()),
                                costs.PIPELINE_COLUMNS), ""]
    if "web" in runs:
        out += ["Web server, server CPU µs per request (8 KiB files, keep-alive), Knot-C against "
                f"its event twin, both on epoll (run `{runs['web'].run_id}`):", "",
                *costs.markdown(costs.web_costs(runs["web"].rows()), costs.WEB_COLUMNS), ""]
    return out if len(out) > 5 else []


def render(profile: str, verdicts: Sequence[_claims.Verdict], runs: Mapping[str, store.Run],
           figures: Mapping[str, Path], relative_to: Path, claims_path: Path | None = None) -> str:
    """The report's Markdown text."""
    claim_list = _claims.load_claims(claims_path)
    passed = sum(v.passed for v in verdicts)
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        "# whyevents: the paper's claims, checked",
        "",
        "Generated by `whyevents report` from stored results only "
        f"(profile **{profile}**, {now}). Do not edit: re-run `make reproduce`.",
        "",
        f"**{passed} of {len(verdicts)} claims pass.** A claim is about the *shape* the paper "
        "reports (flat, collapses, matches, a ratio), checked with the profile's tolerance from "
        "`paper/claims.yaml`; each value comes with its 95% bootstrap interval (over the reps of "
        "each point, or over the paired time slices where the run measured points side by "
        "side), and PASS or FAIL needs the whole interval on one side of the threshold. "
        "Verdicts: "
        + "; ".join(f"{k}: {v}" for k, v in _claims.VERDICTS.items()) + ".",
        "",
        "## Claims",
        "",
        *_claims_table(verdicts, claim_list),
        "",
        *_follow_ups(runs),
        *_not_checked(profile, claim_list),
        *_divergences(claim_list),
        "## Figures",
        "",
    ]
    if figures:
        for stem, path in figures.items():
            rel = Path(path).resolve().relative_to(relative_to.resolve()) \
                if Path(path).resolve().is_relative_to(relative_to.resolve()) else Path(path)
            out += [f"![{stem}]({rel.as_posix()})", ""]
    else:
        out += ["No stored runs to draw yet.", ""]
    out += _costs(runs)
    out += ["## Runs used", "", *(_provenance_table(runs) if runs else ["No stored runs."]), ""]
    out += ["## The sentences", ""]
    for c in claim_list:
        out.append(f"- **{c.id}** ({c.section}): “{c.sentence}”")
    out.append("")
    return "\n".join(out)


def write_report(profile: str = "quick", out: Path | None = None,
                 figures_dir: Path | None = None, root: Path | None = None,
                 claims_path: Path | None = None, draw: bool = True,
                 artifact: Path | None = None) -> tuple[Path, list]:
    """Evaluate every claim on the latest runs of ``profile``, draw the figures, write the report.

    Returns ``(path, verdicts)``. The file is replaced atomically. The artifact appendix
    (``repro.artifact``, from the published runs) is rewritten with it: at ``artifact`` when
    given, else at ``paper/ARTIFACT.md`` when the report goes to ``paper/REPORT.md``.
    """
    out = Path(out) if out is not None else paths.PAPER / "REPORT.md"
    if artifact is None and out.resolve() == (paths.PAPER / "REPORT.md").resolve():
        artifact = paths.PAPER / "ARTIFACT.md"
    figures_dir = Path(figures_dir) if figures_dir is not None else out.parent / "figures"
    runs = latest_runs(profile, root)
    selector = {exp: run.run_id for exp, run in runs.items()}
    verdicts = _claims.evaluate_all(profile, selector or "latest", root=root,
                                    claims_path=claims_path)
    figures: dict[str, Path] = {}
    if draw and runs:
        from whyevents.repro.figures import save_figures

        figures = save_figures(runs, figures_dir)
    text = render(profile, verdicts, runs, figures, out.parent, claims_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(out)
    if artifact is not None:
        from whyevents.repro.artifact import write_artifact

        write_artifact(artifact, claims_path=claims_path)
    return out, verdicts
