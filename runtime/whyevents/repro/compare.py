"""``whyevents compare``: did this machine's runs reproduce the published verdicts?

Why a command and not two reports side by side: a reader who ran ``make reproduce`` wants one
answer per claim, "same verdict or not, and by how much the values differ", and one exit status a
script can test. Both sides are decided the same way ``whyevents claims`` decides them
(``claims.evaluate_all`` on each root's latest run of the profile), so a comparison never
disagrees with the claims table of either side; nothing is measured here.

Per claim the table gives both verdicts and values, whether the verdicts agree, and how far apart
the values are in units of the profile's tolerance (``|here - published| / tolerance``: below 1
the two runs differ by less than the slack the claim already grants; a claim with no tolerance
shows the difference relative to its threshold instead). Intervals are shown where the claim
evaluation provides them: a verdict may carry an ``interval`` (low, high) attribute; one that
does not is shown without one, so this module reads it with ``getattr`` and works with verdicts
of either kind.

Agreement is on the verdict word (``PASS``, ``FAIL``, ``MISSING``): a claim this machine has no
run for disagrees with a published PASS, and is labelled as not run here, so a partial
reproduction never reads as a full one. Known divergences are marked but compared like any other
claim: reproducing a published FAIL is agreement.

Each side's run names its machine (``margins.machine``: CPU model and kernel release). A ratio of
two servers can move with the machine, steadily over a whole run (docs/DESIGN.md, "Measuring on
this kind of machine"), so a verdict that differs where the machines differ says so in its row,
and the sentence above the table lists both sides' machines.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from whyevents.repro import claims as _claims
from whyevents.repro import paths, store
from whyevents.repro.margins import machine as _machine

__all__ = ["Compared", "compare", "format_markdown", "interval_of", "agreed"]


@dataclass(frozen=True)
class Compared:
    """One claim decided on both sides."""
    claim: str
    summary: str
    divergence: bool
    tolerance: float
    threshold: float | tuple[float, float] | None   # the paper's, before the tolerance
    op: str
    here: _claims.Verdict
    published: _claims.Verdict
    here_machine: str = ""          # the machine of the run each side decided it on ("": none)
    published_machine: str = ""

    @property
    def other_machine(self) -> bool:
        """Both sides name their machine, and the two differ."""
        return bool(self.here_machine and self.published_machine
                    and self.here_machine != self.published_machine)

    @property
    def agree(self) -> bool:
        return self.here.status == self.published.status

    @property
    def delta(self) -> float | None:
        """here - published, when both sides have a value."""
        a, b = self.here.value, self.published.value
        if a is None or b is None:
            return None
        return float(a) - float(b)

    @property
    def apart(self) -> float | None:
        """|delta| in tolerances (or relative to the threshold when the tolerance is zero)."""
        d = self.delta
        if d is None or math.isnan(d):
            return None
        if self.tolerance > 0:
            return abs(d) / self.tolerance
        thr = self.threshold
        scale = (thr[1] - thr[0]) if isinstance(thr, tuple) else abs(thr or 0.0)
        return abs(d) / scale if scale > 0 else None


def interval_of(verdict: Any) -> tuple[float, float] | None:
    """A verdict's ``interval`` (low, high) if the claim evaluation gave one, else None."""
    iv = getattr(verdict, "interval", None)
    if iv is None:
        return None
    try:
        lo, hi = iv[0], iv[1]
        return (float(lo), float(hi))
    except (TypeError, ValueError, IndexError, KeyError):
        lo, hi = getattr(iv, "low", None), getattr(iv, "high", None)
        if lo is None or hi is None:
            return None
        return (float(lo), float(hi))


def _machine_of(root: Path | None, experiment: str, run_id: str | None) -> str:
    """The machine of a stored run ("" if there is no such run)."""
    if not run_id:
        return ""
    base = Path(root if root is not None else paths.RESULTS) / experiment / run_id
    try:
        return _machine(store.Run.open(base).provenance)
    except (store.RunNotFound, ValueError, OSError):
        return ""


def compare(profile: str = "quick", root: Path | None = None, against: Path | None = None, *,
            claims_path: Path | None = None) -> list[Compared]:
    """Every claim of ``profile``: the latest runs under ``root`` (default data/results) against
    the latest under ``against`` (default data/published), in claims.yaml's order."""
    against = Path(against) if against is not None else paths.PUBLISHED
    here = {v.id: v for v in _claims.evaluate_all(profile, root=root, claims_path=claims_path)}
    theirs = {v.id: v for v in _claims.evaluate_all(profile, root=against,
                                                    claims_path=claims_path)}
    out = []
    for claim in _claims.load_claims(claims_path):
        if claim.id not in here or claim.id not in theirs:
            continue                     # not decided at this profile on either side
        _, threshold, tol, summary = claim.for_profile(profile)
        mine, pub = here[claim.id], theirs[claim.id]
        out.append(Compared(claim.id, summary, bool(claim.divergence), tol, threshold, claim.op,
                            mine, pub, _machine_of(root, claim.experiment, mine.run_id),
                            _machine_of(against, claim.experiment, pub.run_id)))
    return out


def agreed(rows: Sequence[Compared]) -> bool:
    """Whether every verdict agrees (an empty comparison agrees with nothing)."""
    return bool(rows) and all(r.agree for r in rows)


def _verdict(v: _claims.Verdict) -> str:
    return "not run here" if v.status == _claims.MISSING else v.status


def format_markdown(rows: Sequence[Compared], profile: str, here_label: str = "here",
                    against_label: str = "published") -> str:
    """The comparison as Markdown: a sentence, then one table row per claim."""
    from whyevents.repro.report import format_value

    def iv(v: _claims.Verdict) -> str:
        got = interval_of(v)
        return "—" if got is None else format_value(list(got))

    def apart(r: Compared) -> str:
        a = r.apart
        if a is None:
            return "—"
        return f"{a:.2g} tol" if r.tolerance > 0 else f"{a:.2g} of threshold"

    def machines(which: str) -> str:
        names = sorted({getattr(r, which) for r in rows} - {""})
        return "; ".join(names) if names else "none named"

    def agree(r: Compared) -> str:
        if r.agree:
            return "yes"
        return "**no** (machines differ)" if r.other_machine else "**no**"

    same = sum(r.agree for r in rows)
    lines = [f"{same} of {len(rows)} verdicts agree ({profile} profile, {here_label} against "
             f"{against_label}). Apart: the difference of the two values in units of the "
             "claim's tolerance at this profile. Machines (CPU model, kernel release): "
             f"{here_label} {machines('here_machine')}; {against_label} "
             f"{machines('published_machine')}.", "",
             f"| claim | what we check | {here_label} | {against_label} | agree | "
             f"{here_label} value | {against_label} value | apart | {here_label} interval | "
             f"{against_label} interval | {here_label} run | {against_label} run |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        note = " (known divergence)" if r.divergence else ""
        lines.append(
            f"| {r.claim}{note} | {r.summary} | {_verdict(r.here)} | {_verdict(r.published)} | "
            f"{agree(r)} | {format_value(r.here.value)} | "
            f"{format_value(r.published.value)} | {apart(r)} | {iv(r.here)} | "
            f"{iv(r.published)} | {r.here.run_id or '—'} | {r.published.run_id or '—'} |")
    differ = [r.claim for r in rows if not r.agree]
    lines += ["", "Every verdict agrees." if not differ and rows else
              "Verdicts that differ: " + (", ".join(differ) if differ else "none compared") + "."]
    return "\n".join(lines) + "\n"
