"""What the notebooks call: run or reuse an experiment, show its provenance, check claims.

Why a module: a notebook should read as the paper's argument — sentence, measurement, figure,
verdict — so the plumbing (which run, where stored, how a claim is printed and raised) lives
here, tested like the rest of the package, and every notebook does it the same way.

The claims cell contract (docs/DESIGN.md, "Notebooks"): ``check_claims`` prints one stable line per
claim (``C2.1 PASS — fifo flat from 1k to 10k tasks``), never a number, evaluates every claim
before raising so a reader sees all verdicts, and raises ``ClaimFailed`` naming the failed ones,
so nbval fails the notebook. The values behind the verdicts go to ``claims_table`` (a cell whose
output nbval ignores).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from whyevents.repro import claims as _claims
from whyevents.repro import runner, store

__all__ = ["experiment", "frame", "provenance", "check_claims", "check_verdicts", "claims_table",
           "claim_ids", "results_root"]


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


def claim_ids(experiment: str, claims_path: Path | None = None) -> list[str]:
    """The ids of the claims decided by ``experiment``'s rows, in file order."""
    return [c.id for c in _claims.load_claims(claims_path) if c.experiment == experiment]


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
