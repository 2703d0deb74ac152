"""The paper's claims as checks on stored results (``paper/claims.yaml``).

Why: a reproduction is only as good as the sentence it checks. Each claim names the paper's
sentence, the experiment whose rows decide it, a metric computed from those rows, a comparison and
a tolerance per profile (the quick profile sweeps smaller sizes and is noisier). ``evaluate``
reads rows only — it never runs a benchmark — so a notebook's claim cell, ``repro`` and CI give
the same verdict for the same stored run.

Columns each experiment must write (one row per measured point; extra columns are fine; a row
whose ``status`` is present and not ``"ok"`` is a failed point — counted as missing by the
metrics, and as zero throughput where a claim says "degrades *or fails*"):

``pipeline`` (Figure 2: SEDA's task pipeline; each task an 8 KiB cached-file read)
    ``backend`` (``whyevents`` | ``event`` | ``kernel`` | peers such as ``gevent``),
    ``scheduler`` (``fifo`` | ``pth`` for whyevents; ``-`` otherwise), ``tasks`` (int, concurrent
    tasks), ``throughput_rps``, ``latency_p50_ms``, ``status``. Sweeps must include the task counts
    the claims name: 1000, 10000 (quick) and 100000 (full).
``scaling`` (green threads by the hundred thousand)
    ``backend``, ``threads`` (int), ``spawn_us``, ``bytes_per_thread``, ``yields_per_s``,
    ``status``. Must include 10000 (quick) and 100000 (full).
``web`` (Figure 3: web server bandwidth vs clients)
    ``server`` (``knot-c`` | ``knot-a`` | ``seda`` | ``eventloop``), ``poller`` (``poll`` |
    ``epoll``), ``clients`` (int), ``mbit_s``, ``ctx_switches_per_request``,
    ``own_ctx_switches_per_request``, ``cpu_us_per_request``, ``errors``, ``status``. Must
    include 64, 1024 and 4096 (quick) and 16384 (full).

``compiler`` (section 4: ``experiments/compiler.py``; a ``kind`` per sort of evidence)
    ``kind``, ``subject``, ``series``, ``n``, ``count``, ``bytes_per_conn``, ``backend``,
    ``tasks``, ``throughput_rps``, ``threads``, ``bytes_per_thread``, ``status``.

The same lists, machine-readable, are each experiment module's ``COLUMNS`` (the experiment owns
its schema), collected here as ``COLUMNS``.

Repeated points (same filter and x) are reduced to their median before a metric sees them.

Metrics (each ``f(rows, **args) -> float``; the YAML's ``args`` are passed by name):

``ratio_at(where, x, y, at, to="peak")``  y at ``at`` over the series' peak (``to="peak"``), its
    first point (``"first"``) or y at another x (a number).
``flatness(where, x, y, xmin, xmax)``  min/max of y over xmin..xmax: 1 is flat. The series must
    reach both ends of the range.
``slope_loglog(where, x, y, xmin, xmax)``  least-squares slope of log y on log x: ``-1`` is
    throughput ∝ 1/N, i.e. work O(n) per switch.
``ratio_between(a, b, x, y, at=None, xmin=None, xmax=None, agg="min")``  y of series ``a`` over
    y of series ``b`` at one x or aggregated (min/median/max) over the x both have in a range.
``max_x(where, x, y=None)``  the largest x with a successful point (and a positive y if named).

A claim with a ``divergence`` (a paragraph saying what we measured and why it differs) is one
this reproduction does not reproduce. It is still evaluated, and the report and ``whyevents
claims`` show its verdict and value marked as a known divergence; the notebooks' claims cells
print ``C2.5 KNOWN DIVERGENCE — …`` for it (a stable line whatever the verdict) and do not fail
on it. Declaring one is a finding to be argued in the YAML, never a way to make CI pass: the
threshold stays the paper's.

A claim without a ``quick`` profile is decided only at the full profile (its effect appears
beyond the quick sweep's range, e.g. above 4,096 clients); at quick it is reported as not checked
(``applies``), never as passed.

A claim with ``deterministic`` (the reason: its value is a count or a size that one rep gives
exactly, such as C4.1's edges) is decided by a single rep; the runner's follow-up rounds
(``repro.runner``) spend no reps on it. An interval that straddles still makes it INCONCLUSIVE.

A comparison is ``{op: ">=", threshold: T}``, ``{op: "<=", ...}`` or ``{op: "between",
threshold: [lo, hi]}``; the profile's ``tolerance`` (absolute, in the metric's units) loosens it:
``>= T - tol``, ``<= T + tol``, ``between [lo - tol, hi + tol]``. A profile may also override
``args`` (smaller sizes for quick), ``threshold`` and ``summary``.

The verdict message is one stable line, ``C2.1 PASS — fifo flat from 1k to 100k tasks``: the
claim's summary, never the measured value (that is ``Verdict.value``), so notebooks can be
checked by nbval output comparison.

Verdicts (``VERDICTS``: the one vocabulary that ``claims.yaml``, ``whyevents claims``, the
notebooks' claims cells, the reports and the README use):

``PASS``              the stored rows meet the comparison within the profile's tolerance.
``FAIL``              they do not; a notebook's claims cell raises ``ClaimFailed``.
``MISSING``           no stored run holds the points the metric needs (not passed).
``NOT CHECKED``       the claim has no profile for this one (its effect lies beyond this
                      profile's range); never counted as passed or failed.
``INCONCLUSIVE``      the value's 95% interval straddles the threshold (tolerance included): the
                      rows cannot tell a pass from a failure. The sweep measures more reps of the
                      points such a claim reads, up to its profile's ``extra_reps`` budget
                      (``repro.runner``), before it settles; a claims cell fails on it then, as
                      on FAIL, so a regression cannot hide as noise.
``KNOWN DIVERGENCE``  how a claims cell prints a claim that declares a ``divergence``, whatever
                      its PASS/FAIL/INCONCLUSIVE verdict (reports show both).

Intervals (issue 21): a verdict from medians alone flips with the hour a run ran in on a shared
host, so every value comes with a confidence interval (``CONFIDENCE``) and PASS or FAIL needs the
whole interval on one side of the threshold. The interval is a percentile bootstrap of the claim's
own metric over the rows (``interval``): each point's reps are resampled with replacement (a point
is the experiment's ``KEY_FIELDS`` without ``rep``) and the metric recomputed; rows measured side
by side (``pair`` and ``slice_rates`` columns: the pipeline's ``pairing``) are resampled together,
the same reps of every point of a pair and the same time slices of every process of a rep, so a
host slowdown that hit both sides of a comparison stays paired in every resample (where a slice
holds fewer than ``ROUNDS_PER_SLICE`` rounds of some member, its rate counts whole rounds and
swings by one with where the bursts fell: that group's members keep their whole windows and only
its reps are drawn, ``_round_outlasts_slice``). An experiment
whose points are measured side by side in each rep declares the fields they share as
``PAIRED_BY`` (the web sweep: ``clients`` and ``build``, every server of one client count in a
row, in ABBA order over the reps): the reps of such a group are resampled jointly, paired reps —
one draw of rep keys per group, each point taking its own rows of the drawn reps — so a slow rep
slows every server of a ratio alike in every resample, as it did on the host, instead of being
thrown away by independent draws. A row naming a ``paired_group`` was measured at the same
time as that group's other rows whatever its ``PAIRED_BY`` fields say (the web sweep's groups
of one server at several client counts, which a flatness claim compares): it is resampled with
them, jointly, instead. A point lacking a drawn rep (not measured, or excluded as not
server-bound by ``eligible_rows``) draws from its own reps in its place, and each point takes
only as many draws as it has reps, so each point alone is resampled exactly as unpaired. The random
generator is seeded from the claim's id and profile: the same rows give the same interval. A point
measured once contributes no spread: a claim whose points are all single has a zero-width interval
(basis ``single``), and the sweep counts it undecided and measures a second rep of its points
while its ``extra_reps`` budget lasts (``repro.runner.inconclusive_points``); only a run with no
budget left decides it by its value.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import random
import statistics
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from whyevents.repro import paths

__all__ = [
    "COLUMNS", "Claim", "Verdict", "MissingData", "ClaimFailed", "METRICS", "load_claims",
    "get_claim", "evaluate", "evaluate_all", "check", "ratio_at", "flatness", "slope_loglog",
    "ratio_between", "max_x", "eligible_rows", "BANDWIDTH_COLUMNS", "CLAIM_BUILD", "VERDICTS",
    "INCONCLUSIVE", "CONFIDENCE", "RESAMPLES", "interval", "decide", "points_used",
    "format_interval",
]


class _ExperimentColumns(Mapping):
    """experiment -> the columns its rows carry, read from the experiment module's ``COLUMNS``
    (``status`` optional: absent or "ok" means success). The experiments live a layer below
    ``repro`` and must not import it, so the schema is theirs and this only looks it up."""

    def _modules(self) -> Mapping[str, str]:
        from whyevents.repro.runner import EXPERIMENTS

        return EXPERIMENTS

    def __getitem__(self, experiment: str) -> tuple[str, ...]:
        module = self._modules()[experiment]
        return tuple(importlib.import_module(module).COLUMNS)

    def __iter__(self):
        return iter(self._modules())

    def __len__(self) -> int:
        return len(self._modules())


#: experiment -> the columns its rows carry
COLUMNS: Mapping[str, tuple[str, ...]] = _ExperimentColumns()


class MissingData(LookupError):
    """The rows cannot decide the claim: a column, a series or an x value is absent."""


class ClaimFailed(AssertionError):
    """Raised by ``check`` when a claim does not hold; the message is the verdict line."""


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------

def _fmt_where(where: Mapping[str, Any] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in (where or {}).items()) or "all rows"


def _ok(row: Mapping[str, Any]) -> bool:
    st = row.get("status")
    return st is None or st == "" or st == "ok" or (isinstance(st, float) and math.isnan(st))


def _match(row: Mapping[str, Any], where: Mapping[str, Any] | None) -> bool:
    """Whether ``row`` has every ``where`` value, compared as text (a CSV's "1000" matches 1000);
    a ``where`` value of None (YAML ``null``) asks for no value: the column absent, None, empty
    or NaN. Called for every row of every bootstrap resample: equal values of one type skip the
    text."""
    if where:
        for k, v in where.items():
            if v is None:
                if _group_value(row.get(k)):
                    return False
                continue
            if k not in row:
                return False
            rv = row[k]
            if not (rv.__class__ is v.__class__ and rv == v) and str(rv) != str(v):
                return False
    return True


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def _select(rows: Sequence[Mapping[str, Any]], where: Mapping[str, Any] | None,
            x: str, y: str | None) -> list[Mapping[str, Any]]:
    if not rows:
        raise MissingData("no rows at all")
    # a column is missing only if no row has it; the first row nearly always has them all
    asked = [k for k, v in (where or {}).items() if v is not None]    # (None: no value asked)
    needed = [c for c in [*asked, x, *([y] if y else [])] if not any(c in r for r in rows)]
    if needed:
        columns = set().union(*(r.keys() for r in rows))
        raise MissingData(f"rows lack column(s) {needed}; have {sorted(columns)}")
    sel = [r for r in rows if _match(r, where)]
    if not sel:
        raise MissingData(f"no rows with {_fmt_where(where)}")
    return sel


def _series(rows: Sequence[Mapping[str, Any]], where: Mapping[str, Any] | None, x: str,
            y: str) -> dict[float, float]:
    """x -> median y over the successful points matching ``where``."""
    by_x: dict[float, list[float]] = {}
    for r in _select(rows, where, x, y):
        xv, yv = _num(r.get(x)), _num(r.get(y))
        if xv is not None and yv is not None and _ok(r):
            by_x.setdefault(xv, []).append(yv)
    if not by_x:
        raise MissingData(f"no successful {y} points with {_fmt_where(where)}")
    return {k: statistics.median(v) for k, v in sorted(by_x.items())}


def _at(series: dict[float, float], at: float, what: str, x: str) -> float:
    if float(at) not in series:
        have = ", ".join(f"{v:g}" for v in series)
        raise MissingData(f"{what}: no point at {x}={at:g} (have {x}: {have})")
    return series[float(at)]


def _range(series: dict[float, float], xmin: float, xmax: float, what: str,
           x: str) -> dict[float, float]:
    xs = list(series)
    if xs[0] > xmin or xs[-1] < xmax:
        raise MissingData(f"{what}: points span {x}={xs[0]:g}..{xs[-1]:g}, the claim needs "
                          f"{xmin:g}..{xmax:g}")
    sub = {k: v for k, v in series.items() if xmin <= k <= xmax}
    if len(sub) < 2:
        raise MissingData(f"{what}: fewer than two points in {x}={xmin:g}..{xmax:g}")
    return sub


def ratio_at(rows, *, where=None, x: str, y: str, at: float, to: str | float = "peak",
             failed_as: float | None = None) -> float:
    """y at ``at`` as a fraction of the series' peak, first point, or y at x=``to``.

    ``failed_as``: when the point at ``at`` was attempted but failed (``status`` not ok) or is
    absent beyond the last success, use this value instead of raising — for "degrades or fails".
    """
    what = _fmt_where(where)
    s = _series(rows, where, x, y)
    try:
        value = _at(s, at, what, x)
    except MissingData:
        attempted = any(_match(r, where) and _num(r.get(x)) == float(at) for r in rows)
        if failed_as is None or not (attempted or float(at) > max(s)):
            raise
        value = failed_as
    if to in ("peak", "first") and len(s) < 2:   # a one-point series has no shape to compare
        raise MissingData(f"{what}: {y} is measured at {len(s)} {x} value(s); a ratio to the "
                          f"series' {to} needs at least two")
    if to == "peak":
        ref = max(s.values())
    elif to == "first":
        ref = s[min(s)]
    else:
        ref = _at(s, float(to), what, x)
    if ref <= 0:
        raise MissingData(f"{what}: reference {y} is not positive")
    return value / ref


def flatness(rows, *, where=None, x: str, y: str, xmin: float, xmax: float) -> float:
    """min/max of y over xmin..xmax (1.0 is perfectly flat)."""
    sub = _range(_series(rows, where, x, y), xmin, xmax, _fmt_where(where), x)
    hi = max(sub.values())
    if hi <= 0:
        raise MissingData(f"{_fmt_where(where)}: {y} is not positive")
    return min(sub.values()) / hi


def slope_loglog(rows, *, where=None, x: str, y: str, xmin: float, xmax: float) -> float:
    """Least-squares slope of log(y) against log(x) over xmin..xmax."""
    sub = _range(_series(rows, where, x, y), xmin, xmax, _fmt_where(where), x)
    if any(k <= 0 or v <= 0 for k, v in sub.items()):
        raise MissingData(f"{_fmt_where(where)}: log-log slope needs positive {x} and {y}")
    lx = [math.log(k) for k in sub]
    ly = [math.log(v) for v in sub.values()]
    mx, my = statistics.fmean(lx), statistics.fmean(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True)) / sum(
        (a - mx) ** 2 for a in lx)


def _div(a: float, b: float) -> float:
    if b == 0:
        if a == 0:
            raise MissingData("both series are zero: the ratio is undefined")
        return math.inf
    return a / b


def ratio_between(rows, *, a: Mapping[str, Any], b: Mapping[str, Any], x: str, y: str,
                  at: float | None = None, xmin: float | None = None, xmax: float | None = None,
                  agg: str = "min") -> float:
    """y of series ``a`` / y of series ``b``, at one x or aggregated over a range."""
    sa, sb = _series(rows, a, x, y), _series(rows, b, x, y)
    if at is not None:
        return _div(_at(sa, at, _fmt_where(a), x), _at(sb, at, _fmt_where(b), x))
    lo = -math.inf if xmin is None else xmin
    hi = math.inf if xmax is None else xmax
    for s, w in ((sa, a), (sb, b)):
        if xmin is not None and xmax is not None:
            _range(s, xmin, xmax, _fmt_where(w), x)
    common = [k for k in sa if k in sb and lo <= k <= hi]
    if not common:
        raise MissingData(f"{_fmt_where(a)} and {_fmt_where(b)} share no {x} in range")
    ratios = [_div(sa[k], sb[k]) for k in common]
    aggs: dict[str, Callable[[list[float]], float]] = {
        "min": min, "max": max, "median": statistics.median}
    if agg not in aggs:
        raise ValueError(f"agg must be one of {sorted(aggs)}, not {agg!r}")
    return aggs[agg](ratios)


def max_x(rows, *, where=None, x: str, y: str | None = None) -> float:
    """The largest x with a successful point (and, if ``y`` is named, a positive y)."""
    xs = [_num(r.get(x)) for r in _select(rows, where, x, y)
          if _ok(r) and (y is None or (_num(r.get(y)) or 0) > 0)]
    xs = [v for v in xs if v is not None]
    if not xs:
        raise MissingData(f"no successful points with {_fmt_where(where)}")
    return max(xs)


METRICS: dict[str, Callable[..., float]] = {
    f.__name__: f for f in (ratio_at, flatness, slope_loglog, ratio_between, max_x)}


# ---------------------------------------------------------------------------------------------
# Claims and verdicts
# ---------------------------------------------------------------------------------------------

_OPS = (">=", "<=", "between")


@dataclass(frozen=True)
class Claim:
    id: str
    section: str
    sentence: str
    experiment: str
    metric: str
    args: dict
    op: str
    threshold: float | tuple[float, float]
    summary: str
    profiles: dict = field(default_factory=dict)
    notebook: str | None = None
    #: a claim this reproduction measured and does not reproduce, with the measured reason; it is
    #: still evaluated and reported with its verdict and value, but does not fail a notebook
    divergence: str | None = None
    #: why a claim without a ``quick`` profile is decided at the full profile only (printed by
    #: the notebooks' claims tables and the reports); default: its effect lies beyond quick's range
    full_only: str | None = None
    #: why one measurement decides the claim: its value is a count or a size that a
    #: deterministic procedure gives (recorded edges, seeded bugs caught, bytes held), with no
    #: sampling spread to narrow, so a single rep is a verdict and follow-up rounds
    #: (``repro.runner.follow_up``) do not spend reps on it
    deterministic: str | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Claim:
        missing = [k for k in ("id", "section", "sentence", "experiment", "metric", "comparison",
                               "summary") if k not in d]
        if missing:
            raise ValueError(f"claim {d.get('id', '?')} lacks {missing}")
        if d["metric"] not in METRICS:
            raise ValueError(f"claim {d['id']}: unknown metric {d['metric']!r}; "
                             f"have {sorted(METRICS)}")
        op = d["comparison"]["op"]
        thr = d["comparison"]["threshold"]
        if op not in _OPS:
            raise ValueError(f"claim {d['id']}: op must be one of {_OPS}, not {op!r}")
        profiles = {k: dict(v or {}) for k, v in (d.get("profiles") or {}).items()}
        if "full" not in profiles:   # the full profile is the paper's range: always decided
            raise ValueError(f"claim {d['id']}: needs a 'full' profile")
        for name, p in profiles.items():
            unknown = set(p) - {"tolerance", "args", "threshold", "summary"}
            if unknown:  # e.g. an unquoted "10,000" in a YAML flow mapping splits into keys
                raise ValueError(f"claim {d['id']} profile {name}: unknown keys {sorted(unknown)}")
            if "threshold" in p:
                p["threshold"] = _threshold(d["id"], op, p["threshold"])
        return cls(id=str(d["id"]), section=str(d["section"]),
                   sentence=" ".join(str(d["sentence"]).split()),
                   experiment=str(d["experiment"]), metric=d["metric"],
                   args=dict(d.get("args", {})), op=op, threshold=_threshold(d["id"], op, thr),
                   summary=str(d["summary"]), profiles=profiles, notebook=d.get("notebook"),
                   divergence=(" ".join(str(d["divergence"]).split())
                               if d.get("divergence") else None),
                   full_only=(" ".join(str(d["full_only"]).split())
                              if d.get("full_only") else None),
                   deterministic=(" ".join(str(d["deterministic"]).split())
                                  if d.get("deterministic") else None))

    def not_checked_reason(self) -> str:
        """Why this claim is not decided at the quick profile."""
        return self.full_only or "its effect lies beyond the quick profile's range"

    def applies(self, profile: str) -> bool:
        """Whether this claim is decided at ``profile`` (every claim is at ``full``)."""
        return profile in self.profiles

    def for_profile(self, profile: str) -> tuple[dict, float | tuple[float, float], float, str]:
        """(metric args, threshold, tolerance, summary) for ``profile``."""
        if profile not in self.profiles:
            raise KeyError(f"claim {self.id} has no {profile!r} profile; "
                           f"have {sorted(self.profiles)}")
        p = self.profiles[profile] or {}
        return ({**self.args, **p.get("args", {})}, p.get("threshold", self.threshold),
                float(p.get("tolerance", 0.0)), str(p.get("summary", self.summary)))


def _threshold(claim_id: str, op: str, thr: Any) -> float | tuple[float, float]:
    if op == "between":
        try:
            lo, hi = thr
        except (TypeError, ValueError):
            raise ValueError(f"claim {claim_id}: 'between' needs [lo, hi], not {thr!r}") from None
        return (float(lo), float(hi))
    return float(thr)


PASS, FAIL, MISSING = "PASS", "FAIL", "MISSING"
NOT_CHECKED, KNOWN_DIVERGENCE = "NOT CHECKED", "KNOWN DIVERGENCE"
INCONCLUSIVE = "INCONCLUSIVE"

#: verdict -> what it means (module docstring, "Verdicts").
VERDICTS: dict[str, str] = {
    PASS: "the stored rows meet the comparison within the profile's tolerance",
    FAIL: "the stored rows do not meet it",
    INCONCLUSIVE: "the value's 95% interval straddles the threshold (tolerance included), after "
                  "the profile's budget of extra reps",
    MISSING: "no stored run holds the points the metric needs",
    NOT_CHECKED: "the claim is decided at another profile only (its effect lies beyond this "
                 "profile's range)",
    KNOWN_DIVERGENCE: "a claim this reproduction does not reproduce, argued in claims.yaml "
                      "(its PASS/FAIL verdict is still reported)",
}


@dataclass(frozen=True)
class Verdict:
    id: str
    passed: bool
    value: float | None
    threshold: float | tuple[float, float] | None
    message: str
    status: str = PASS  # PASS | FAIL | INCONCLUSIVE | MISSING | NOT CHECKED (``VERDICTS``)
    run_id: str | None = None
    #: the value's confidence interval (``interval``); None when no value was measured
    interval: tuple[float, float] | None = None
    #: what the interval resampled: "slices" (paired rows), "paired reps" (the reps of points
    #: measured side by side, jointly: ``PAIRED_BY``), "reps", or "single" (no spread)
    basis: str | None = None

    def __str__(self) -> str:
        return self.message

    @classmethod
    def missing(cls, claim: Claim, profile: str) -> Verdict:
        """No stored run can decide ``claim`` at ``profile``."""
        return cls(claim.id, False, None, None,
                   f"{claim.id} {MISSING} — {claim.for_profile(profile)[3]}", MISSING)

    @classmethod
    def not_checked(cls, claim: Claim, profile: str) -> Verdict:
        """``claim`` has no ``profile`` profile: neither passed nor failed there."""
        return cls(claim.id, True, None, None,
                   f"{claim.id} {NOT_CHECKED} at {profile} — {claim.summary} (full profile only)",
                   NOT_CHECKED)


def format_interval(v: Verdict) -> str:
    """``[lo, hi]`` of a verdict's 95% interval and what it resampled (``[0.81, 0.93] reps``);
    ``—`` without a value. For tables and ``whyevents claims``, never for a claims cell's line."""
    if v.interval is None:
        return "—"
    from whyevents.repro.report import format_value

    return f"{format_value(tuple(v.interval))} {v.basis or ''}".strip()


def divergence_line(claim: Claim, profile: str) -> str:
    """The stable claims-cell line of a claim that declares a divergence."""
    return f"{claim.id} {KNOWN_DIVERGENCE} — {claim.for_profile(profile)[3]} (see claims.yaml)"


def load_claims(path: Path | None = None) -> list[Claim]:
    """Every claim in ``paper/claims.yaml`` (ids must be unique)."""
    import yaml

    with open(path if path is not None else paths.CLAIMS_YAML) as f:
        doc = yaml.safe_load(f)
    claims = [Claim.from_dict(d) for d in doc["claims"]]
    ids = [c.id for c in claims]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ValueError(f"duplicate claim ids {dup}")
    return claims


def get_claim(claim_id: str, path: Path | None = None) -> Claim:
    for c in load_claims(path):
        if c.id == claim_id:
            return c
    raise KeyError(f"no claim {claim_id!r} in {path or paths.CLAIMS_YAML}")


def _effective(op: str, threshold, tol: float):
    if op == ">=":
        return threshold - tol
    if op == "<=":
        return threshold + tol
    return (threshold[0] - tol, threshold[1] + tol)


def _holds(op: str, value: float, thr) -> bool:
    if math.isnan(value):
        return False
    if op == ">=":
        return value >= thr
    if op == "<=":
        return value <= thr
    return thr[0] <= value <= thr[1]


#: bandwidth columns: a claim on one of these may only use server-bound points (issue 10)
BANDWIDTH_COLUMNS = ("mbit_s",)


#: the build every claim is decided on (``whyevents.accel``): the interpreted one, the reference.
#: A run measuring both builds (the 2x2) keeps its compiled rows for the figures; a claim never
#: mixes builds, so threads are compared with events within one build.
CLAIM_BUILD = "interpreted"


def _build_ok(r: Mapping[str, Any]) -> bool:
    v = r.get("build")
    if v is None or (isinstance(v, float) and math.isnan(v)) or v == "":
        return True                      # a run from before the build column: interpreted
    return str(v) == CLAIM_BUILD


def eligible_rows(claim: Claim, rows: Sequence[Mapping[str, Any]], *,
                  bound: bool = True) -> list[Mapping[str, Any]]:
    """The rows a claim may use: only the interpreted build's (``CLAIM_BUILD``; rows without a
    ``build`` column predate the compiled build and are interpreted); and for a web bandwidth
    claim, not the points flagged as not server-bound (``claim_eligible`` false: the server
    below 0.9 of its CPU allotment, or the client above 0.8 of its core); they are excluded, not
    averaged in. Rows without that column (runs before issue 10) are kept. Other claims (CPU or
    switches per request) use every server-bound or not row. ``bound=False``: the build's rows,
    flagged ones included."""
    rows = [r for r in rows if _build_ok(r)]
    y = (claim.args or {}).get("y")
    if not bound or claim.experiment != "web" or y not in BANDWIDTH_COLUMNS:
        return rows

    def ok(r: Mapping[str, Any]) -> bool:
        v = r.get("claim_eligible")
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return True
        return str(v).strip().lower() not in ("false", "0", "")

    return [r for r in rows if ok(r)]


# ---------------------------------------------------------------------------------------------
# Intervals
# ---------------------------------------------------------------------------------------------

#: the confidence of every claim's interval
CONFIDENCE = 0.95
#: bootstrap resamples per interval
RESAMPLES = 1000


def _experiment_attr(experiment: str, name: str) -> tuple[str, ...]:
    """A tuple the experiment module declares (``KEY_FIELDS``, ``PAIRED_BY``); () if none."""
    try:
        from whyevents.repro.runner import EXPERIMENTS

        return tuple(getattr(importlib.import_module(EXPERIMENTS[experiment]), name))
    except (KeyError, ImportError, AttributeError):
        return ()


def _point_fields(experiment: str, rows: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """The columns naming a point apart from its rep: the experiment's ``KEY_FIELDS`` without
    ``rep`` (every column but the measured ones when the experiment is unknown)."""
    fields = _experiment_attr(experiment, "KEY_FIELDS")
    have = set().union(*(r.keys() for r in rows)) if rows else set()
    return tuple(f for f in fields if f != "rep" and f in have)


def _group_value(v: Any) -> str:
    """A ``PAIRED_BY`` field's value as a group key: absent, empty and NaN are one value (a run
    from before the column, e.g. ``build``, is one group)."""
    if v is None or v == "" or (isinstance(v, float) and math.isnan(v)):
        return ""
    return str(v)


def _slices(r: Mapping[str, Any]) -> list[float] | None:
    v = r.get("slice_rates")
    return list(v) if isinstance(v, list | tuple) and v and r.get("pair") else None


def _bootstrap_plan(rows: Sequence[Mapping[str, Any]], fields: tuple[str, ...],
                    paired_by: tuple[str, ...] = ()):
    """(unpaired: point -> rep -> its rows; paired: pair -> rep -> its rows; joint: group ->
    point -> rep -> its rows, the points sharing the ``paired_by`` fields, i.e. measured side by
    side in each rep, or naming one ``paired_group``). A point may give several rows per rep (the
    compiler's series), so a rep, not a row, is what is resampled. Without ``paired_by`` or a
    ``paired_group`` every unsliced row is unpaired."""
    single: dict[tuple, dict[Any, list[Mapping[str, Any]]]] = {}
    paired: dict[str, dict[Any, list[Mapping[str, Any]]]] = {}
    joint: dict[tuple, dict[tuple, dict[Any, list[Mapping[str, Any]]]]] = {}
    for r in rows:
        if _slices(r) is not None:
            paired.setdefault(str(r["pair"]), {}).setdefault(r.get("rep"), []).append(r)
            continue
        point = tuple(str(r.get(f)) for f in fields)
        pg = r.get("paired_group")
        if isinstance(pg, str) and pg:                  # (NaN: a CSV's row without one)
            group = ("paired_group", pg)
        elif paired_by:
            group = tuple(_group_value(r.get(f)) for f in paired_by)
        else:
            single.setdefault(point, {}).setdefault(r.get("rep"), []).append(r)
            continue
        joint.setdefault(group, {}).setdefault(point, {}).setdefault(r.get("rep"), []).append(r)
    return single, paired, joint


#: A slice must hold at least this many rounds of every member of its group to be resampled on
#: its own (``_round_outlasts_slice``).
ROUNDS_PER_SLICE = 10


def _round_outlasts_slice(members: Sequence[Mapping[str, Any]]) -> bool:
    """Whether a round of some member of a paired group (``tasks`` completions, ``tasks /
    throughput_rps`` seconds of its own time) is too long for its slices to be resampled one by
    one: longer than a ``ROUNDS_PER_SLICE``-th of a slice. Within a round the completions come
    in bursts, and a slice's rate counts whole rounds, so a slice holding few rounds swings by a
    round's worth with where the bursts fell: a quarter of its rate at four rounds a slice (the
    quick profiles' groups at their largest N, in short slices), the whole of it when a round
    outlasts the slice (the full pipeline's largest N). Resampling such slices
    puts that counting step into the interval, not the host. Blocks of slices only cancel it
    when they span whole rounds, which the slices cannot tell; so such a group's members each
    keep their whole window (many rounds) and the group's reps, still drawn jointly, are what
    is resampled."""
    for m in members:
        n, rate, slice_s = _num(m.get("tasks")), _num(m.get("throughput_rps")), \
            _num(m.get("slice_s"))
        if n and rate and slice_s and rate > 0 and n / rate * ROUNDS_PER_SLICE > slice_s:
            return True
    return False


def _resample(single, paired, rng: random.Random, joint=None) -> list[Mapping[str, Any]]:
    """One bootstrap resample of the rows; ``paired``: pair -> rep -> ``_paired_rep`` plan."""
    out: list[Mapping[str, Any]] = []
    choice = rng.choice
    for reps in single.values():
        keys = list(reps)
        for _ in keys:
            out.extend(reps[choice(keys)])
    for points in (joint or {}).values():
        # one draw of rep keys for the whole group; each point takes its rows of the drawn reps
        # (a rep it lacks, e.g. excluded as not server-bound: a draw from its own reps) and
        # only as many draws as it has reps, so each point alone is resampled as if unpaired
        union = list(dict.fromkeys(k for reps in points.values() for k in reps))
        drawn = [choice(union) for _ in union]
        # a drawn rep a point lacks (follow-up rounds measure only some of a group's points):
        # one substitute per draw, shared by the points with the same reps, so those stay paired
        subs: dict[tuple, Any] = {}
        for reps in points.values():
            keys = list(reps)
            for i, k in enumerate(drawn[:len(keys)]):
                if k not in reps:
                    slot = (i, tuple(keys))
                    k = subs.get(slot)
                    if k is None:
                        k = subs[slot] = choice(keys)
                out.extend(reps[k])
    randrange, fsum = rng.randrange, math.fsum
    for reps in paired.values():
        keys = list(reps)
        for _ in keys:
            members, cycles, whole, slices = reps[choice(keys)]
            if whole is not None:               # the whole window: the rep is the unit
                out.extend(whole)
                continue
            idx = [randrange(cycles) for _ in range(cycles)]
            for m, s in zip(members, slices, strict=True):
                out.append({**m, "throughput_rps": fsum([s[i] for i in idx]) / cycles})
    return out


def _paired_rep(members: list) -> tuple:
    """(members, cycles, the members' rows over their whole windows when a round outlasts a
    slice else None, each member's slices): what ``_resample`` needs of one rep of a pair,
    worked out once per claim (``interval``), since every resample draws from the same reps."""
    cycles = min(len(_slices(m) or ()) for m in members)
    slices = [_slices(m) or [] for m in members]
    whole = None
    if _round_outlasts_slice(members):
        # a row that timed whole rounds (``throughput_window_rps`` beside it) keeps its value:
        # a round longer than a slice moves a fixed window's count by whole rounds
        whole = [m if "throughput_window_rps" in m
                 else {**m, "throughput_rps": math.fsum(s[:cycles]) / cycles}
                 for m, s in zip(members, slices, strict=True)]
    return members, cycles, whole, slices


def _read_by(args: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> list:
    """The rows the metric's filters (``where``, ``a``, ``b``) select: all of them without one."""
    filters = [args[k] for k in ("where", "a", "b") if isinstance(args.get(k), Mapping)]
    return [r for r in rows if any(_match(r, w) for w in filters)] if filters else list(rows)


def _basis(single, paired, joint) -> str:
    """What a bootstrap plan resamples: "slices", "paired reps", "reps" or "single"."""
    return ("slices" if paired else
            "paired reps" if any(len(reps) > 1 for points in joint.values()
                                 for reps in points.values()) else
            "reps" if any(len(reps) > 1 for reps in single.values()) else "single")


def interval(claim: Claim, rows: Sequence[Mapping[str, Any]], profile: str, *,
             resamples: int = RESAMPLES) -> tuple[tuple[float, float], str]:
    """The claim's 95% percentile-bootstrap interval on ``rows`` (already ``eligible_rows``),
    and what it resampled ("slices", "paired reps", "reps" or "single": that of the rows its
    filters select, so a claim of a run whose other points were sliced says what its own
    points were). The whole ``rows`` are resampled all the same. Deterministic for the
    same rows: the generator is seeded from the claim's id and profile. Resamples the metric
    cannot decide (every rep of a point failed) are left out."""
    args = claim.for_profile(profile)[0]
    fields = _point_fields(claim.experiment, rows)
    paired_by = _experiment_attr(claim.experiment, "PAIRED_BY")
    single, paired, joint = _bootstrap_plan(rows, fields, paired_by)
    basis = _basis(*_bootstrap_plan(_read_by(args, rows), fields, paired_by))
    metric = METRICS[claim.metric]
    if basis == "single":
        v = float(metric(list(rows), **args))
        return (v, v), basis
    rng = random.Random(zlib.crc32(f"{claim.id}/{profile}".encode()))
    values = []
    plans = {pair: {rep: _paired_rep(members) for rep, members in reps.items()}
             for pair, reps in paired.items()}
    for _ in range(resamples):
        try:
            v = float(metric(_resample(single, plans, rng, joint), **args))
        except MissingData:
            continue
        if not math.isnan(v):
            values.append(v)
    if len(values) < 2:
        raise MissingData(f"{claim.id}: too few resamples decide the metric for an interval")
    values.sort()
    q = statistics.quantiles(values, n=40, method="inclusive")   # 2.5%, 5%, ..., 97.5%
    return (q[0], q[-1]), basis


def decide(op: str, value: float, lo: float, hi: float, thr) -> str:
    """PASS when the value and its whole interval ``[lo, hi]`` meet the (tolerance-adjusted)
    threshold ``thr``, FAIL when none of it does, INCONCLUSIVE when it straddles."""
    if math.isnan(value) or math.isnan(lo) or math.isnan(hi):
        return FAIL
    lo, hi = min(lo, value), max(hi, value)
    ends = (_holds(op, lo, thr), _holds(op, hi, thr))
    if all(ends):
        return PASS                       # >=, <=: monotone; between: the band is convex
    if op == "between":
        if hi < thr[0] or lo > thr[1]:
            return FAIL
        return INCONCLUSIVE
    return FAIL if not any(ends) else INCONCLUSIVE


def wants_bound_points(claim: Claim, rows: Sequence[Mapping[str, Any]], profile: str) -> bool:
    """Whether the claim is MISSING only because points it reads were excluded as not
    server-bound (``eligible_rows``): its metric can be computed from the same rows with them
    kept. Another rep of those points may be server-bound, so the runner's follow-up rounds
    treat such a claim as undecided (a quick web run beside a CPU hog left C4.7 with one
    server-bound point of the async Knot-C, its others' clients at 0.82-0.84 of their core)."""
    kept = eligible_rows(claim, rows)
    built = eligible_rows(claim, rows, bound=False)
    if len(kept) == len(built):
        return False
    args = claim.for_profile(profile)[0]
    try:
        METRICS[claim.metric](list(kept), **args)
        return False                     # decidable as it is: not missing
    except MissingData:
        pass
    try:
        METRICS[claim.metric](built, **args)
    except MissingData:
        return False                     # missing with every point kept, too: not for want of them
    return True


def points_used(claim: Claim, rows: Sequence[Mapping[str, Any]], profile: str, *,
                eligible: bool = True) -> list[dict]:
    """The points (the experiment's key fields without ``rep``) whose rows the claim's metric
    reads: the rows its filters select (``where``, ``a``, ``b``) at the x values it uses (its
    range, or ``at`` and the reference ``to``; every x for a ratio to the peak or first point).
    More reps of these are what narrows its interval. ``eligible=False``: also the points
    excluded as not server-bound (``wants_bound_points``), whose next rep may count."""
    args = claim.for_profile(profile)[0]
    x = args.get("x")
    filters = [args[k] for k in ("where", "a", "b") if isinstance(args.get(k), Mapping)]
    if not filters:
        filters = [{}]
    lo = args.get("xmin", -math.inf) if args.get("xmin") is not None else -math.inf
    hi = args.get("xmax", math.inf) if args.get("xmax") is not None else math.inf
    ats = None
    if args.get("at") is not None and claim.metric != "ratio_at":
        ats = {float(args["at"])}
    elif claim.metric == "ratio_at" and not isinstance(args.get("to", "peak"), str):
        ats = {float(args["at"]), float(args["to"])}
    rows = eligible_rows(claim, rows, bound=eligible)
    fields = _point_fields(claim.experiment, rows)
    out: dict[tuple, dict] = {}
    for r in rows:
        if not any(_match(r, w) for w in filters):
            continue
        xv = _num(r.get(x)) if x else None
        if xv is not None and (xv < lo or xv > hi or (ats is not None and xv not in ats)):
            continue
        key = tuple(r.get(f) for f in fields)
        out.setdefault(key, {f: r.get(f) for f in fields})
    return list(out.values())


def evaluate(claim: Claim | str, rows: Sequence[Mapping[str, Any]], profile: str) -> Verdict:
    """Decide one claim from rows; ``MissingData`` (naming the claim) if they cannot decide it."""
    if isinstance(claim, str):
        claim = get_claim(claim)
    args, threshold, tol, summary = claim.for_profile(profile)
    kept = eligible_rows(claim, rows)
    try:
        value = float(METRICS[claim.metric](list(kept), **args))
    except MissingData as exc:
        other = sum(not _build_ok(r) for r in rows)
        dropped = len(rows) - len(kept) - other
        why = (f" ({dropped} of the run's points are not server-bound and were excluded)"
               if dropped else "")
        if other:
            why += f" ({other} rows of another build than {CLAIM_BUILD} left out)"
        raise MissingData(f"{claim.id} ({claim.experiment}, {profile}): {exc}{why}") from None
    thr = _effective(claim.op, threshold, tol)
    try:
        (lo, hi), basis = interval(claim, kept, profile)
    except MissingData:                # too few decidable resamples: the value alone
        (lo, hi), basis = (value, value), "single"
    status = decide(claim.op, value, lo, hi, thr)
    return Verdict(claim.id, status == PASS, value, thr, f"{claim.id} {status} — {summary}",
                   status, interval=(min(lo, value), max(hi, value)), basis=basis)


def _rows_for(experiment: str, profile: str, run_selector, root: Path | None):
    from whyevents.repro import store

    sel = run_selector
    if isinstance(sel, Mapping):
        sel = sel.get(experiment, "latest")
    if sel == "latest":
        run = store.latest(experiment, profile=profile, root=root)
    else:
        base = Path(root if root is not None else paths.RESULTS) / experiment
        run = store.Run.open(base / str(sel))
    return run.rows(), run.run_id


def evaluate_all(profile: str, run_selector: str | Mapping[str, str] = "latest", *,
                 root: Path | None = None, claims_path: Path | None = None,
                 strict: bool = False) -> list[Verdict]:
    """Every claim against stored results only (``root`` defaults to ``data/results``).

    ``run_selector`` is ``"latest"`` (newest run of the profile), a run id, or a mapping
    experiment -> run id. A claim whose data is missing gets a ``MISSING`` verdict (not passed)
    unless ``strict``, which raises instead.
    """
    from whyevents.repro.store import RunNotFound

    verdicts = []
    cache: dict[str, tuple[list, str] | Exception] = {}
    for claim in load_claims(claims_path):
        if profile not in claim.profiles:
            continue
        if claim.experiment not in cache:
            try:
                cache[claim.experiment] = _rows_for(claim.experiment, profile, run_selector, root)
            except RunNotFound as exc:
                cache[claim.experiment] = exc
        got = cache[claim.experiment]
        try:
            if isinstance(got, Exception):
                raise MissingData(f"{claim.id}: {got}")
            rows, run_id = got
            v = evaluate(claim, rows, profile)
            verdicts.append(dataclasses.replace(v, run_id=run_id))
        except MissingData:
            if strict:
                raise
            verdicts.append(Verdict.missing(claim, profile))
    return verdicts


def check(claim_id: str, profile: str, rows: Sequence[Mapping[str, Any]] | None = None, *,
          run_selector: str = "latest", root: Path | None = None,
          claims_path: Path | None = None) -> Verdict:
    """For a notebook's claim cell: evaluate, raise ``ClaimFailed`` unless it passes.

    ``print(check("C2.1", profile))`` prints the stable verdict line.
    """
    claim = get_claim(claim_id, claims_path)
    if rows is None:
        rows, _ = _rows_for(claim.experiment, profile, run_selector, root)
    v = evaluate(claim, rows, profile)
    if not v.passed:
        raise ClaimFailed(v.message)
    return v
