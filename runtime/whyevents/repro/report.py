"""``paper/REPORT.md``: every claim's verdict with its measured value, the figures, the runs.

Why generated, and from stored results only: the report must say exactly what the stored runs
say, so it is rebuilt by ``whyevents report`` (and the ``99_report`` notebook, and
``make reproduce``) from ``data/results/`` — nothing is measured here and nothing is typed in.
Each claim row names the run it was decided on, and the provenance table says where that run
came from (commit, dirty tree, machine, when, what capped it), so any line can be traced and
re-run.

The section "Forms of thread side by side" sets each form of thread against events within each
build (``repro.costs``: the pipeline's green threads, greenlet floor, ``async def`` and generator
threads; the web server's Knot-C on green and on ``async def`` threads), then the cachegrind
yardstick's counts per task and per request from the newest *published* yardstick result
(``data/published/bench-yardstick/``; ``whyevents bench yardstick`` makes one), named by file and
commit like every run: the counts explain a gap, the clock above them decides the claims.
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
    """The reps each run spent on claims its planned points left undecided."""
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
    return ["Extra reps measured for claims whose interval straddled their threshold, or that "
            "had no interval yet (every point they read measured once) "
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


def _yardstick(root: Path | None) -> list[str]:
    """The cachegrind yardstick's tables (per task, per request) from the newest result under
    ``root`` (None: ``data/published``) that measured each workload, or how to make one."""
    from whyevents.repro import costs

    roots = [Path(root) if root is not None else paths.PUBLISHED]
    out = ["### Counted: the cachegrind yardstick", "",
           "Marginal cost per task and per request under valgrind's cachegrind (instructions, "
           "data references, simulated first- and last-level cache misses of the stated cache "
           "model, cycles estimated from them), each over the event side's: reproducible "
           "whatever the machine's load. The instruction count explains a gap; what the clock "
           "shows beyond it is memory; the clock decides the claims.", ""]
    found = False
    for workload in ("pipeline", "server"):
        rows, source = costs.yardstick_table(workload, roots=roots)
        if rows:
            found = True
            out += [source[:1].upper() + source[1:] + ":", "",
                    *costs.markdown(rows, list(rows[0])), ""]
    if not found:
        out += [f"No yardstick result under `{_shown(roots[0])}/bench-yardstick/`: make one with "
                "`whyevents bench yardstick` (needs valgrind) and publish its directory there.",
                ""]
    return out


def _shown(path: Path) -> str:
    """``path`` relative to the checkout when inside it."""
    try:
        return path.resolve().relative_to(paths.ROOT).as_posix()
    except ValueError:
        return str(path)


def _costs(runs: Mapping[str, store.Run], yardstick_root: Path | None = None) -> list[str]:
    """Each form of thread against events within each build, the pipeline's gap split into
    greenlet's share and the runtime's (``repro.costs``), from the runs used; then the
    yardstick's counts (``_yardstick``)."""
    from whyevents.repro import costs

    out = ["## Forms of thread side by side", "",
           "Threads against events, within each build, in each form of thread: green threads "
           "(a greenlet per thread, its C stack slice copied out and in at each switch), "
           "`async def` threads (a coroutine object the compiler made, resumed by `send()`) and "
           "generator threads (the same transform with no coroutine protocol on top). Medians "
           "over reps. The 2x2 is interpreted vs compiled x threads vs events when a run "
           "measured both builds (`builds=interpreted,compiled`); ratios are formed within one "
           "build only, and the claims use the interpreted build.", ""]
    if "pipeline" in runs:
        out += ["Task pipeline, tasks/s: `greenlet floor` is the threaded program on raw greenlet "
                "with the least scheduler that runs it, so `greenlet / event` is what the "
                "substrate costs and `fifo / greenlet` what the runtime adds; `coro` is the "
                "program as `async def` threads, `gen` as generator threads "
                f"(run `{runs['pipeline'].run_id}`):", "",
                *costs.markdown(costs.pipeline_costs(runs["pipeline"].rows()),
                                costs.PIPELINE_COLUMNS), ""]
    if "web" in runs:
        out += ["Web server, server CPU µs per request (8 KiB files, keep-alive), Knot-C on green "
                "threads and on `async def` threads against its event twin, all on epoll "
                f"(run `{runs['web'].run_id}`):", "",
                *costs.markdown(costs.web_costs(runs["web"].rows()), costs.WEB_COLUMNS), ""]
    return out + _yardstick(yardstick_root)


def render(profile: str, verdicts: Sequence[_claims.Verdict], runs: Mapping[str, store.Run],
           figures: Mapping[str, Path], relative_to: Path, claims_path: Path | None = None,
           yardstick_root: Path | None = None) -> str:
    """The report's Markdown text (``yardstick_root``: where the yardstick's results are read,
    None: ``data/published``)."""
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
    out += _costs(runs, yardstick_root)
    out += ["## Runs used", "", *(_provenance_table(runs) if runs else ["No stored runs."]), ""]
    out += ["## The sentences", ""]
    for c in claim_list:
        out.append(f"- **{c.id}** ({c.section}): “{c.sentence}”")
    out.append("")
    return "\n".join(out)


def write_report(profile: str = "quick", out: Path | None = None,
                 figures_dir: Path | None = None, root: Path | None = None,
                 claims_path: Path | None = None, draw: bool = True,
                 artifact: Path | None = None,
                 yardstick_root: Path | None = None) -> tuple[Path, list]:
    """Evaluate every claim on the latest runs of ``profile``, draw the figures, write the report.

    Returns ``(path, verdicts)``. The file is replaced atomically. The artifact appendix
    (``repro.artifact``, from the published runs) is rewritten with it: at ``artifact`` when
    given, else at ``paper/ARTIFACT.md`` when the report goes to ``paper/REPORT.md``. The
    yardstick's tables come from the newest result under ``yardstick_root``
    (``bench-yardstick/<stamp>/results.json``; None: ``data/published``).
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
    text = render(profile, verdicts, runs, figures, out.parent, claims_path, yardstick_root)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(out)
    if artifact is not None:
        from whyevents.repro.artifact import write_artifact

        write_artifact(artifact, claims_path=claims_path)
    return out, verdicts
