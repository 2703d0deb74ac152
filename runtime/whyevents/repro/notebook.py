"""What the notebooks call: run or reuse an experiment, show its provenance, check claims.

Why a module: a notebook should read as the paper's argument — sentence, measurement, figure,
verdict — so the plumbing (which run, where stored, how a claim is printed and raised) lives
here, tested like the rest of the package, and every notebook does it the same way.

The claims cell contract (docs/DESIGN.md, "Notebooks"): ``check_claims`` prints one stable line per
claim (``C2.1 PASS — fifo flat from 1k to 10k tasks``), never a number, evaluates every claim
before raising so a reader sees all verdicts, and raises ``ClaimFailed`` naming the failed ones
(FAIL, and INCONCLUSIVE: a complete run has already spent its follow-up reps on it), so nbval
fails the notebook. The values behind the verdicts and their confidence intervals go to
``claims_table`` (a cell whose output nbval ignores). A notebook takes its claims from
``paper/claims.yaml`` by its own name (``notebook_claims``), so no claim id is typed in a
notebook.

The parameters cell is not written by hand either: papermill needs it as literal assignments, so
each notebook carries the text ``parameters_cell(name)`` renders from one template
(``PARAMETERS`` and the per-notebook values in ``NOTEBOOKS``), and ``ci/check_notebooks.py``
fails when a notebook's cell differs (``--write`` puts the rendered cell back).

The cachegrind yardstick (``whyevents bench yardstick``) is not an experiment run: ``yardstick``
shows its newest stored result for one workload (this checkout's, else the published one) and
names the file, so notebooks 01, 03, 04 and 05 show the counts beside the clock the same way.

What the notebooks show of the code and the machine rather than of a run (the duality table,
recorded and static blocking graphs, code sizes, static analyses) is in ``notebook_code`` and
re-exported here, so a notebook imports ``repro`` and nothing below it (docs/DESIGN.md,
"Layers").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from whyevents.repro import claims as _claims
from whyevents.repro import runner, store
from whyevents.repro.notebook_code import (
    blocking_graphs,
    code_lines,
    duality_table,
    package_lines,
    quiet,
    server_sizes,
    static_edges,
    static_live_state,
    static_stack_bounds,
    traffic,
)

__all__ = ["experiment", "frame", "provenance", "check_claims", "check_verdicts", "claims_table",
           "claim_ids", "notebook_claims", "results_root", "report_dir", "machine", "yardstick",
           "PARAMETERS", "NOTEBOOKS", "parameters_cell",
           # re-exported from notebook_code
           "blocking_graphs", "code_lines", "duality_table", "package_lines", "quiet",
           "server_sizes", "static_edges", "static_live_state", "static_stack_bounds", "traffic"]


# ---------------------------------------------------------------------------------------------
# The parameters cell
# ---------------------------------------------------------------------------------------------

#: The parameters cell's rows: (name, default, comment); ``{experiment}``, ``{example}`` and the
#: reuse row come from the notebook's entry in ``NOTEBOOKS``.
PARAMETERS: tuple[tuple[str, str, str], ...] = (
    ("profile", '"quick"',
     '"quick": minutes, what CI runs; "full": the paper\'s range (notebooks/params/full.yaml)'),
    ("reuse", "{reuse}", "{reuse_comment}"),
    ("overrides", "{{}}",
     "experiment parameters to change, e.g. {example}; see `whyevents run {experiment} --help`"),
    ("results_root", "None", "None: data/results/; a directory: keep this notebook's runs there"),
)
_HEADER = ("# Parameters (rendered by repro.notebook.parameters_cell; "
           "ci/check_notebooks.py --write)\n"
           "# papermill: -p profile full, or -f notebooks/params/full.yaml\n")
_CLUSTER = ("cluster", "None",
            "a Dask scheduler address (tcp://host:8786): its workers measure the points, "
            "one per machine")
_REPORT_DIR = ("report_dir", "None",
               "None: paper/ (or $WHYEVENTS_REPORT_DIR); where REPORT.md and figures/ go")
_REUSE = ("False", "True: report on the latest complete stored run instead of measuring")

#: Per notebook (file stem): the experiment it runs (None: it runs none), the overrides example,
#: the reuse default and why, and whether it writes the report.
NOTEBOOKS: dict[str, dict[str, Any]] = {
    "00_overview": {"experiment": None},
    "01_task_pipeline": {"experiment": "pipeline"},
    "02_hundred_thousand_threads": {"experiment": "scaling"},
    "03_web_bandwidth": {"experiment": "web"},
    "04_duality": {"experiment": "web", "reuse": (
        "True", "True here: report on the web sweep 03 stored (measures one if none)")},
    "05_compiler_support": {"experiment": "compiler", "example": '{"pipeline_reps": 5}'},
    "99_report": {"experiment": None, "report_dir": True},
}


def parameters_cell(name: str) -> str:
    """The parameters cell of notebook ``name`` (file name or stem), rendered from the template.

    Every notebook takes ``profile``, ``reuse``, ``overrides`` and ``results_root`` (so
    ``make reproduce`` passes any of them to all); a notebook that runs an experiment also takes
    ``cluster``, and ``99_report`` takes ``report_dir``.
    """
    stem = Path(name).stem
    if stem not in NOTEBOOKS:
        raise KeyError(f"{stem}: not in repro.notebook.NOTEBOOKS (add its entry)")
    spec = NOTEBOOKS[stem]
    experiment = spec["experiment"]
    reuse, reuse_comment = spec.get("reuse", _REUSE)
    values = {"reuse": reuse, "reuse_comment": reuse_comment,
              "example": spec.get("example", '{"reps": 3}'), "experiment": experiment or "NAME"}
    rows = [(n, d.format(**values), c.format(**values)) for n, d, c in PARAMETERS]
    if experiment is not None:
        rows.append(_CLUSTER)
    if spec.get("report_dir"):
        rows.append(_REPORT_DIR)
    width = max(len(f"{n} = {d}") for n, d, _ in rows) + 2
    return _HEADER + "".join(f"{f'{n} = {d}':<{width}}# {c}\n" for n, d, c in rows)


def results_root(root: str | Path | None) -> Path | None:
    """``None`` (the project's data/results) or the given directory, created."""
    if root is None or root == "":
        return None
    p = Path(root).expanduser()
    p.mkdir(parents=True, exist_ok=True)
    return p


def experiment(name: str, profile: str = "quick", params: Mapping[str, Any] | None = None, *,
               reuse: bool = False, root: str | Path | None = None,
               progress: bool = True, cluster: Any = None) -> store.Run:
    """The run this notebook reports on: measured now, or (``reuse=True``) the latest stored one.

    Reuse takes the newest *complete* run of the experiment at this profile and says which; with
    none stored it measures, so a reader who asked to reuse still gets a notebook that runs.
    ``cluster`` (the notebooks' parameter): a Dask scheduler address to measure on, one point per
    machine at a time (``repro.cluster``); ``None`` measures here.
    """
    mod = runner.load(name)
    where = results_root(root)
    if reuse:
        try:
            run = store.latest(mod.EXPERIMENT, profile=profile, status="complete", root=where)
            print(f"reusing {mod.EXPERIMENT} run {run.run_id} ({len(run.rows())} rows, "
                  f"profile {profile}) from {run.dir}")
            return run
        except store.RunNotFound as e:
            print(f"nothing to reuse ({e}); measuring")
    run = runner.run_experiment(name, profile, dict(params or {}), progress=progress,
                                root=where, cluster=cluster or None)
    print(f"stored {mod.EXPERIMENT} run {run.run_id}: {len(run.rows())} rows in {run.dir}")
    return run


def frame(run: store.Run):
    """The run's rows as a DataFrame (``ok`` column: the point succeeded)."""
    from whyevents.repro.figures import frame as _frame

    return _frame(run.rows())


def provenance(run: store.Run):
    """The provenance fields a reader needs, as a one-column DataFrame."""
    import pandas as pd

    p = run.provenance
    keys = ("experiment", "run_id", "status", "profile", "git_commit", "git_dirty",
            "time_start_utc", "duration_s", "cpu_model", "cpu_count", "memory_bytes", "kernel",
            "python", "rlimit_nofile", "limits", "parameters")
    return pd.DataFrame({"value": [str(p.get(k)) for k in keys]}, index=list(keys))


def machine(profile: str):
    """This machine as the experiments' provenance sees it (CPU, memory, kernel, open-file and
    pid limits, the tree's commit), as a one-column DataFrame: ``00_overview``'s table."""
    import pandas as pd

    from whyevents.harness import provenance as _provenance

    prov = _provenance.collect({}, profile, None)
    try:
        pid_max = Path("/proc/sys/kernel/pid_max").read_text().strip()
    except OSError:
        pid_max = None
    return pd.Series({"cpu": prov["cpu_model"], "cpus": prov["cpu_count"],
                      "memory GiB": round((prov["memory_bytes"] or 0) / 2**30, 1),
                      "kernel": prov["kernel"], "python": prov["python"],
                      "open files (soft, hard)": prov["rlimit_nofile"], "pid_max": pid_max,
                      "git commit": prov["git_commit"], "tree dirty": prov["git_dirty"]},
                     name="value").to_frame()


#: how the yardstick's columns are rounded for display: counts, misses, ratios
_YARDSTICK_DECIMALS = {"instructions": 0, "data refs": 0, "est. cycles": 0, "D1 misses": 2,
                       "LL misses": 3}


def yardstick(workload: str, root: str | Path | None = None):
    """The cachegrind yardstick's counts for ``workload`` ("pipeline": per task; "server": per
    request) from the newest stored result that measured it, as a DataFrame indexed by name
    (and ``tasks`` or ``conns``), each count beside its ratio to the event side. Prints the
    line naming the result (file, commit, cache model), or how to make one: then it returns
    None (a cell ending in it shows nothing more). ``root``: the notebook's ``results_root``
    (searched before ``data/published``)."""
    import pandas as pd

    from whyevents.repro import costs

    rows, source = costs.yardstick_table(workload, root=root)
    print(source)
    if not rows:
        return None
    df = pd.DataFrame(rows)
    df = df.set_index(["name"] + [c for c in ("tasks", "conns") if c in df])
    return df.round({c: _YARDSTICK_DECIMALS.get(c, 2) for c in df.columns})


def report_dir(root: str | Path | None = None) -> Path:
    """Where ``99_report`` writes REPORT.md and figures/: ``root``, else $WHYEVENTS_REPORT_DIR
    (ci/nbval.sh points it at a scratch directory), else paper/."""
    import os

    from whyevents.repro import paths

    return Path(root or os.environ.get("WHYEVENTS_REPORT_DIR") or paths.PAPER)


def claim_ids(experiment: str, claims_path: Path | None = None) -> list[str]:
    """The ids of the claims decided by ``experiment``'s rows, in file order."""
    return [c.id for c in _claims.load_claims(claims_path) if c.experiment == experiment]


def notebook_claims(notebook: str, claims_path: Path | None = None) -> list[str]:
    """The ids of the claims ``paper/claims.yaml`` says ``notebook`` checks (its ``notebook:``
    field; file name or stem), in file order: a notebook's claims cells take them from here."""
    stem = Path(notebook).stem
    ids = [c.id for c in _claims.load_claims(claims_path) if Path(c.notebook or "").stem == stem]
    if not ids:
        raise LookupError(f"no claim in claims.yaml names notebook {notebook}")
    return ids


def _verdicts(ids: Sequence[str], profile: str, run: store.Run,
              claims_path: Path | None) -> list[tuple[_claims.Verdict, str]]:
    """(verdict, why it is missing or "") per claim id."""
    rows = run.rows()
    out = []
    for cid in ids:
        claim = _claims.get_claim(cid, claims_path)
        if not claim.applies(profile):
            out.append((_claims.Verdict.not_checked(claim, profile),
                        f"{claim.not_checked_reason()}; see claims.yaml"))
            continue
        try:
            out.append((_claims.evaluate(claim, rows, profile), ""))
        except _claims.MissingData as e:
            out.append((_claims.Verdict.missing(claim, profile), str(e)))
    return out


def claims_table(ids: Sequence[str], profile: str, run: store.Run,
                 claims_path: Path | None = None):
    """Verdicts with their measured values and thresholds (for an nbval-ignored cell)."""
    import pandas as pd

    from whyevents.repro.report import format_value

    rows = []
    by_id = {c.id: c for c in _claims.load_claims(claims_path)}
    for v, reason in _verdicts(ids, profile, run, claims_path):
        c = by_id[v.id]
        rows.append({"claim": v.id, "verdict": v.status, "measured": format_value(v.value),
                     "95% interval": _claims.format_interval(v),
                     "threshold": format_value(v.threshold),
                     "what": v.message.split(" — ", 1)[-1],
                     "note": reason or (f"known divergence: {c.divergence}"
                                        if c.divergence else "")})
    return pd.DataFrame(rows).set_index("claim")


def check_claims(ids: Sequence[str], profile: str, run: store.Run,
                 claims_path: Path | None = None) -> None:
    """Print one stable line per claim, then raise ``ClaimFailed`` if any did not pass.

    Returns nothing, so a claims cell's only output is its printed lines (what nbval compares).
    """
    verdicts = [v for v, _ in _verdicts(ids, profile, run, claims_path)]
    check_verdicts(verdicts, profile, claims_path, what=f"on run {run.run_id}")


def check_verdicts(verdicts: Sequence[_claims.Verdict], profile: str,
                   claims_path: Path | None = None, what: str = "") -> None:
    """The claims cell's output for verdicts already made (``99_report``): one stable line
    each (a known divergence prints the same line whatever its verdict), then ``ClaimFailed``
    naming every other claim that did not pass."""
    diverging = {c.id: c for c in _claims.load_claims(claims_path) if c.divergence}
    for v in verdicts:
        c = diverging.get(v.id)
        if c is not None and c.applies(profile):
            print(_claims.divergence_line(c, profile))
        else:
            print(v.message)
    failed = [v.id for v in verdicts if not v.passed and v.id not in diverging]
    if failed:
        raise _claims.ClaimFailed(f"claims not holding{' ' + what if what else ''}: "
                                  f"{', '.join(failed)}")
