"""Merge the HttpLoad-on-wrk results of several hosts into one, as if one wrk had run them all.

Why it is shaped this way: the web sweep's clients on other machines (``experiments.web_hosts``)
run one wrk per client host over the same wall-clock window, and the row must read as one load
generator's. Counts, bytes and CPU seconds add up; but a percentile of the union is not the
average (nor any mix) of the hosts' percentiles, and wrk keeps its latency histogram in C, out of
reach of the script except through ``latency:percentile(p)`` (each call a scan of the histogram).
So each host's script reports its latency at a fixed grid of quantiles (``QUANTILE_GRID``,
``wrk.start_httpload_wrk(quantiles=...)``), which is that host's histogram cut into buckets of
equal mass, and ``merge_quantiles`` merges those histograms: every grid step of a host is a mass
of (its share of the quantile range) x (its requests) placed at the step's upper value, and the
merged percentile is read off the union's cumulative mass. A single host's merge gives back its
own values at every grid point (so the row of a one-host split equals wrk's own); with several
hosts the error is bounded by the grid's step (one percent of mass, finer in the tail), never by
the hosts' disagreement. Mean and standard deviation merge exactly (pooled moments).

``merge_wrk(parts)`` takes ``wrk.httpload_result`` dicts (each with ``host``) and returns one
dict with the keys the web rows read (``web_rows.WrkResult`` and ``row_figures``'s ``wrk``
fields), plus ``by_host``: each host's clients, requests, bandwidth, CPU and latency.
"""

from __future__ import annotations

import math
from collections import Counter

__all__ = ["QUANTILE_GRID", "REPORTED", "merge_quantiles", "merge_wrk"]

#: the percentiles at which each host's wrk reports its latency (a grid, not a measurement):
#: whole percents up to the 95th, half percents up to the 99th, tenths up to the 99.9th, then
#: the 99.95th and 99.99th (the row's p50, p90, p99 and p99.9 are grid points)
QUANTILE_GRID: tuple[float, ...] = (
    tuple(float(p) for p in range(1, 96))
    + tuple(95 + 0.5 * i for i in range(1, 9))
    + tuple(round(99 + 0.1 * i, 1) for i in range(1, 10))
    + (99.95, 99.99))
#: the percentiles a row reports (``response_ms`` keys, as the single-host script prints them)
REPORTED: tuple[float, ...] = (50.0, 90.0, 99.0, 99.9)


def _key(p: float) -> str:
    return f"p{p:g}"


def merge_quantiles(hosts: list[dict], percents=REPORTED) -> dict[str, float]:
    """Percentiles of the union of the hosts' latency distributions.

    ``hosts``: the scripts' ``latency_quantiles`` dicts (``requests``, ``max``, ``q``: a list
    of [percent, ms] ascending). Hosts with no request weigh nothing; NaN where none has any.
    """
    masses: list[tuple[float, float]] = []
    for h in hosts:
        n = h.get("requests") or 0
        if n <= 0 or not h.get("q"):
            continue
        prev = 0.0
        for p, v in h["q"]:
            if p > prev:
                masses.append((v, n * (p - prev) / 100.0))
            prev = p
        masses.append((h["max"], n * (100.0 - prev) / 100.0))
    out = {}
    if not masses:
        return {_key(p): math.nan for p in percents}
    masses.sort()
    total = sum(m for _, m in masses)
    for p in percents:
        target = total * p / 100.0 * (1 - 1e-12)
        acc = 0.0
        value = masses[-1][0]
        for v, m in masses:
            acc += m
            if acc >= target:
                value = v
                break
        out[_key(p)] = value
    return out


def _pooled(parts: list[dict]) -> tuple[float, float]:
    """Mean and standard deviation of the union from each part's (requests, mean, stdev)."""
    n = s1 = s2 = 0.0
    for p in parts:
        k = p.get("wrk_requests") or 0
        r = p.get("response_ms", {})
        mean, sd = r.get("mean", math.nan), r.get("stdev", math.nan)
        if k <= 0 or math.isnan(mean) or math.isnan(sd):
            continue
        n += k
        s1 += k * mean
        s2 += k * (sd * sd + mean * mean)
    if n <= 0:
        return math.nan, math.nan
    mean = s1 / n
    return mean, math.sqrt(max(0.0, s2 / n - mean * mean))


def _sum(parts: list[dict], key: str) -> float:
    return sum(p[key] for p in parts)


def merge_wrk(parts: list[dict]) -> dict:
    """One result dict from the hosts' ``httpload_result`` dicts (see the module docstring)."""
    if not parts:
        raise ValueError("merge_wrk: no host's result to merge")
    errors: Counter[str] = Counter()
    for p in parts:
        errors.update(p["errors"])
    completed = _sum(parts, "completed")
    connections = _sum(parts, "connections")
    duration = max(p["duration_s"] for p in parts)
    response = merge_quantiles([p.get("latency_quantiles") or {} for p in parts])
    response["mean"], response["stdev"] = _pooled(parts)
    response["max"] = max(p["response_ms"].get("max", math.nan) for p in parts)
    think = [(p["think_ms_mean"], p["completed"]) for p in parts
             if p["completed"] and not math.isnan(p["think_ms_mean"])]
    think_n = sum(n for _, n in think)
    schemes = sorted({p["close_scheme"] for p in parts})
    warnings = [f"{p['host']}: {w}" for p in parts for w in p["warnings"]]
    cpu = _sum(parts, "client_cpu_s")
    out = dict(
        client="wrk", clients=_sum(parts, "clients"), duration_s=duration,
        completed=completed, bytes=_sum(parts, "bytes"),
        requests_per_s=completed / duration if duration > 0 else 0.0,
        connections=connections, connection_failures=errors.get("connect", 0),
        errors_total=sum(errors.values()), errors=dict(errors),
        client_cpu_s=cpu, client_cpu_user_s=_sum(parts, "client_cpu_user_s"),
        client_cpu_system_s=_sum(parts, "client_cpu_system_s"),
        client_saturated=any(p["client_saturated"] for p in parts),
        response_ms=response,
        wrk_threads=_sum(parts, "wrk_threads"), close_scheme=",".join(schemes),
        source_addresses=_sum(parts, "source_addresses"),
        requests_per_connection=completed / connections if connections else math.nan,
        wrk_requests=_sum(parts, "wrk_requests"), wrk_bytes=_sum(parts, "wrk_bytes"),
        think_ms_mean=(sum(t * n for t, n in think) / think_n if think_n else math.nan),
        warnings=warnings,
        by_host={p["host"]: _host_figures(p) for p in parts})
    return out


def _host_figures(p: dict) -> dict:
    """One host's share of a merged point, for the row's per-host fields."""
    return {"clients": p["clients"], "requests": p["completed"],
            "mbit_s": p["mbit_per_s"], "client_cpu_s": p["client_cpu_s"],
            "client_cpu_util": p["client_cpu_utilisation"],
            "client_saturated": p["client_saturated"],
            "latency_p50_ms": p["response_ms"].get("p50", math.nan),
            "latency_p99_ms": p["response_ms"].get("p99", math.nan),
            "errors": p["errors_total"], "source_addresses": p["source_addresses"],
            "cpu": p.get("cpu"), "hostname": p.get("hostname")}
