"""Summaries of repeated measurements and how numbers are printed in the benchmarks' tables.

``summary`` is what a benchmark cell holds: the median of its repetitions with the
inter-quartile range and the extremes (differences inside the IQR are noise on a shared
machine). ``fmt`` prints a figure with three significant digits or so, ``k``/``M`` for large
ones; ``median_of`` reduces one key of the repetitions' extra figures. ``paired_ratio`` is a
ratio between two things measured side by side in each repetition, with a bootstrap interval,
and ``against_target`` the MET / MISSED / INCONCLUSIVE a benchmark target gets from it.
Standard library only.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Iterable, Mapping, Sequence

__all__ = ["summary", "median_of", "fmt", "cell_text", "paired_ratio", "against_target",
           "MIN_PAIRS"]


def summary(samples: Iterable[float]) -> dict:
    """``{"median", "p25", "p75", "min", "max", "n"}`` of ``samples`` (all None when empty)."""
    s = sorted(samples)
    n = len(s)
    if n == 0:
        return {"median": None, "p25": None, "p75": None, "min": None, "max": None, "n": 0}
    if n >= 2:
        q = statistics.quantiles(s, n=4, method="inclusive")
        p25, p75 = q[0], q[2]
    else:
        p25 = p75 = s[0]
    return {"median": statistics.median(s), "p25": p25, "p75": p75, "min": s[0], "max": s[-1],
            "n": n}


def median_of(extras: Sequence[Mapping], key: str) -> float | None:
    """Median of ``key`` over the repetitions' extras that have it (None if none has)."""
    vals = [x[key] for x in extras if isinstance(x.get(key), int | float)]
    return statistics.median(vals) if vals else None


def fmt(x: float | None) -> str:
    """A figure for a table: ``-`` for None, ``1.23M``, ``45k``, ``678``, ``9.1``, ``0.123``."""
    if x is None:
        return "-"
    a = abs(x)
    if a == 0:
        return "0"
    if a >= 1e6:
        return f"{x / 1e6:.2f}M"
    if a >= 1e4:
        return f"{x / 1e3:.0f}k"
    if a >= 100:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def cell_text(st: Mapping | None) -> str:
    """A ``summary`` as a table cell: the median, with ``[p25-p75]`` when there are 2+ samples;
    ``-`` when there is nothing."""
    if not st or st.get("median") is None:
        return "-"
    text = fmt(st["median"])
    if st["n"] > 1:
        text += f" [{fmt(st['p25'])}-{fmt(st['p75'])}]"
    return text


#: repetitions a paired ratio needs before it gets an interval: with fewer, a bootstrap of the
#: median has too few distinct resamples to mean anything
MIN_PAIRS = 3


def paired_ratio(pairs: Iterable[tuple[float, float]], *, resamples: int = 2000,
                 seed: int = 0) -> dict:
    """``a / b`` for pairs measured side by side (one repetition each), so that what slowed the
    machine during one repetition hits both sides: ``{"median", "lo", "hi", "n", "ratios"}``,
    the per-pair ratios' median and, as ``lo`` and ``hi``, the 2.5th and 97.5th percentiles of
    its bootstrap over the pairs: a confidence interval of the claims' level, 0.95
    (``repro.claims.CONFIDENCE``; seeded: the same pairs give the same interval). ``lo`` and
    ``hi`` are None below ``MIN_PAIRS`` pairs; pairs with a missing or non-positive side are
    left out."""
    ratios = [a / b for a, b in pairs if a is not None and b is not None and a > 0 and b > 0]
    n = len(ratios)
    out = {"median": statistics.median(ratios) if ratios else None, "lo": None, "hi": None,
           "n": n, "ratios": ratios}
    if n >= MIN_PAIRS:
        rng = random.Random(seed)
        meds = sorted(statistics.median(rng.choices(ratios, k=n)) for _ in range(resamples))
        q = statistics.quantiles(meds, n=40, method="inclusive")     # 2.5%, ..., 97.5%
        out["lo"], out["hi"] = q[0], q[-1]
    return out


def against_target(ratio: Mapping, target: float) -> str:
    """A ``paired_ratio`` against an upper bound: MET when its median and whole interval are at
    or under ``target``, MISSED when they are all over it, INCONCLUSIVE when the interval
    straddles it or there is no interval (too few pairs)."""
    v, lo, hi = ratio.get("median"), ratio.get("lo"), ratio.get("hi")
    if v is None or lo is None or hi is None:
        return "INCONCLUSIVE"
    lo, hi = min(lo, v), max(hi, v)
    if hi <= target:
        return "MET"
    if lo > target:
        return "MISSED"
    return "INCONCLUSIVE"
