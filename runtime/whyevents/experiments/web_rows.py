"""The web sweep's row arithmetic: a point's row fields from what was measured, nothing else.

``experiments/web.py`` runs a point (a server process under a CPU cap, client processes or wrk,
two ``stats`` snapshots of the server around the window) and hands the measurements here; these
functions turn them into the row's fields. They are pure (no I/O, no processes, no clocks), so
each figure can be checked by hand (``tests/test_web_rows.py``) apart from the machinery that
measures, and the stored runs' rows stay what these formulas give: the keys, their order and
their values are the experiment's output format (``repro/store.py`` keeps rows as written), so
a change here is a change of format.

What the figures mean, and why they are computed so, is in ``web.py``'s docstring (the window,
client saturation, the server's allotment) and in ``row_figures`` and ``judge`` below.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = [
    "SATURATED", "SERVER_BOUND", "CLIENT_FREE", "CAPACITY_AGREEMENT", "base_row", "cpu_s",
    "live", "WrkResult", "client_figures", "server_figures", "row_figures", "judge",
    "capacity_check", "THROTTLED",
]

#: client processes that used at least this share of the cores they were pinned to saturated
SATURATED = 0.90
#: a point a bandwidth claim may use: the server used at least this share of its allotment ...
SERVER_BOUND = 0.90
#: ... and the client at most this share of its core
CLIENT_FREE = 0.80
#: at a server-bound point, bandwidth and capacity x allotment agree within this fraction
CAPACITY_AGREEMENT = 0.10


def base_row(point: dict, key_fields: Sequence[str]) -> dict:
    """A point's row before it is measured: its key fields, the claim columns as NaN, ok."""
    row = {k: point.get(k) for k in key_fields}
    row.update(mbit_s=math.nan, ctx_switches_per_request=math.nan,
               own_ctx_switches_per_request=math.nan, cpu_us_per_request=math.nan,
               errors=math.nan, status="ok", error="")
    return row


def cpu_s(s: dict) -> float:
    """A server snapshot's CPU seconds, user + system."""
    return s["cpu_user_s"] + s["cpu_system_s"]


def live(phase: str, now: dict, prev: dict, base: dict) -> dict:
    """The progress line between two server snapshots: requests since ``base``, open
    connections, CPU percent since ``prev``."""
    dt = max(1e-6, now["uptime_s"] - prev["uptime_s"])
    return {"phase": phase, "srv_req": now["requests"] - base["requests"],
            "open": now["connections_open"],
            "cpu%": round(100.0 * (cpu_s(now) - cpu_s(prev)) / dt)}


class WrkResult:
    """The wrk driver's dict seen through the attributes ``row_figures`` reads (those of
    ``loadgen``'s merged ``LoadResult``)."""

    def __init__(self, r: dict) -> None:
        self.bytes, self.completed = r["bytes"], r["completed"]
        self.response_ms = {k: r["response_ms"].get(k, math.nan)
                            for k in ("p50", "p90", "p99", "max")}
        self.fairness = math.nan                 # wrk keeps no per-connection counts
        self.errors = r["errors"]
        self.connection_failures = r["connection_failures"]
        self.connections = r["connections"]
        self.client_cpu_s = r["client_cpu_s"]
        self.duration_s = r["duration_s"]
        self.wake_lag_s = 0.0
        self.client_saturated = r["client_saturated"]
        self.think_ms_mean = r.get("think_ms_mean", math.nan)


def client_figures(result, duration: float, n_cores: int) -> dict:
    """What the clients measured: bandwidth, requests, latency, errors, their own CPU.

    Client completions are counted by completion time inside the nominal window
    [start + warmup, start + warmup + duration], however late the client's own loop woke up to
    read its CPU clock (``LoadResult.duration_s`` is measured from that wake-up, so under a
    lagging client it is shorter than the window the completions were counted over); rates
    therefore divide by ``duration``. A client loop that woke more than 10% of the window late
    was overloaded: the point is flagged ``client_saturated``, as is one whose processes used
    ``SATURATED`` of their ``n_cores`` cores or that says so itself (wrk).
    """
    client_util = result.client_cpu_s / result.duration_s if result.duration_s > 0 else 0.0
    client_lag = result.wake_lag_s
    return {
        "mbit_s": result.bytes * 8 / 1e6 / duration,
        "requests": result.completed,
        "req_per_s": result.completed / duration,
        "latency_p50_ms": result.response_ms["p50"],
        "latency_p90_ms": result.response_ms["p90"],
        "latency_p99_ms": result.response_ms["p99"],
        "latency_max_ms": result.response_ms["max"],
        "fairness": result.fairness,
        "errors": sum(result.errors.values()),
        "error_kinds": ";".join(f"{k}={v}" for k, v in sorted(result.errors.items())),
        "connection_failures": result.connection_failures,
        "connections": result.connections,
        "client_cpu_s": result.client_cpu_s,
        "client_cpu_util": client_util,
        "client_saturated": (client_util >= SATURATED * n_cores or result.client_saturated
                             or client_lag > 0.1 * duration),
        "client_lag_s": client_lag,
        "client_think_ms_mean": result.think_ms_mean,
        "window_s": duration,
    }


#: the key a server snapshot carries its CPU quota's throttled periods under, when it has one
THROTTLED = "quota_throttled_periods"


def server_figures(s0: dict, s1: dict) -> dict:
    """What the server counted between its snapshots ``s0`` and ``s1`` (same process, same
    clock): its window, requests, bytes, errors, CPU and context switches, per request where
    it served any (NaN otherwise).

    ``ctx_switches_per_request`` counts every switch ``getrusage`` saw.
    ``own_ctx_switches_per_request`` leaves out those the CPU quota forced: a snapshot taken
    under a quota carries the cgroup's throttled periods (``THROTTLED``), and each throttled
    period preempts the server's running thread once (one involuntary switch; at most as many
    as there were). The paper's servers ran without a quota, so theirs had none of these."""
    window = s1["uptime_s"] - s0["uptime_s"]
    srv_requests = s1["requests"] - s0["requests"]
    cpu_user = s1["cpu_user_s"] - s0["cpu_user_s"]
    cpu_sys = s1["cpu_system_s"] - s0["cpu_system_s"]
    vol = s1["ctx_voluntary"] - s0["ctx_voluntary"]
    invol = s1["ctx_involuntary"] - s0["ctx_involuntary"]
    # each period the CPU quota throttled the server preempted the one thread it had running
    # (all its threads share one core): a switch the harness forced, not the server's design
    throttled = s1.get(THROTTLED, 0) - s0.get(THROTTLED, 0)
    own = vol + invol - min(invol, throttled)
    srv_err0 = sum(s0.get("errors", {}).values())
    srv_err1 = sum(s1.get("errors", {}).values())
    per_req = srv_requests if srv_requests > 0 else math.nan
    return {
        "server_window_s": window,
        "server_requests": srv_requests,
        "server_bytes": s1["bytes_sent"] - s0["bytes_sent"],
        "server_errors": srv_err1 - srv_err0,
        "server_cpu_user_s": cpu_user,
        "server_cpu_system_s": cpu_sys,
        "server_cpu_util": (cpu_user + cpu_sys) / window if window > 0 else math.nan,
        "cpu_us_per_request": (cpu_user + cpu_sys) * 1e6 / per_req,
        "server_ctx_voluntary": vol,
        "server_ctx_involuntary": invol,
        "ctx_switches_per_request": (vol + invol) / per_req,
        "server_throttled_periods": throttled,
        "own_ctx_switches_per_request": own / per_req,
        "ctx_switches_per_s": (vol + invol) / window if window > 0 else math.nan,
        "green_switches": (s1["green_switches"] - s0["green_switches"]
                           if "green_switches" in s1 and "green_switches" in s0 else math.nan),
        "server_rss_bytes": s1.get("peak_rss_bytes", math.nan),
        "server_connections_open": s1.get("connections_open"),
        "server_kernel_threads": s1.get("kernel_threads"),
        "accept_backoffs": s1.get("accept_backoffs", 0) - s0.get("accept_backoffs", 0),
    }


def row_figures(result, s0: dict, s1: dict, duration: float, n_cores: int,
                wrk: dict | None = None) -> dict:
    """The row's figures from the merged client result (``loadgen.multi.merge``'s, or
    ``WrkResult``) and the server's two snapshots: ``client_figures`` then ``server_figures``,
    then the load generator's own fields (``wrk``: the driver's dict); ``status`` failed when no
    request completed in the window."""
    out = {**client_figures(result, duration, n_cores), **server_figures(s0, s1)}
    out["client_cores"] = 1 if wrk is not None else n_cores
    if wrk is not None:
        out.update(wrk_threads=wrk["wrk_threads"], close_scheme=wrk["close_scheme"],
                   source_addresses=wrk["source_addresses"],
                   requests_per_connection=wrk["requests_per_connection"],
                   client_requests_run=wrk["wrk_requests"], client_bytes_run=wrk["wrk_bytes"],
                   client_warnings="; ".join(wrk["warnings"]))
        if wrk["warnings"]:
            out["error_kinds"] = "; ".join(filter(None, [out["error_kinds"], *wrk["warnings"]]))
    else:
        out["requests_per_connection"] = (result.completed / result.connections
                                          if result.connections else math.nan)
    if result.completed == 0:
        out.update(status="failed", error="no request completed in the measured window"
                   + (f" ({out['error_kinds']})" if out["error_kinds"] else ""))
    return out


def judge(row: dict) -> None:
    """Server utilization of its allotment, client utilization of its core, capacity, and
    whether a bandwidth claim may use the point (``claim_eligible``; else ``flag`` says why);
    updates ``row`` in place.

    The saturated-point check: where the server used its whole allotment, what the clients
    measured (``mbit_s``) must be what the server's capacity predicts for that allotment,
    ``capacity_mbit_per_cpu_s * server_allotment``; ``bandwidth_over_capacity`` is their ratio
    on every row, ``capacity_agrees`` whether it is within ``CAPACITY_AGREEMENT`` of 1 on a
    server-bound point (None elsewhere: an idle server's capacity says nothing about the
    bandwidth it was asked for)."""
    if row.get("status") != "ok":
        row.update(claim_eligible=False, flag=row.get("status", "failed"),
                   bandwidth_over_capacity=math.nan, capacity_agrees=None)
        return
    allot = row.get("server_allotment") or 1.0
    server_util = row["server_cpu_util"] / allot
    # servers measured together share the client core: their clients' sum is what it carried
    client_util = row.get("client_cpu_util_shared", row["client_cpu_util"]) / \
        max(1, row.get("client_cores") or 1)
    cpu = row["server_cpu_user_s"] + row["server_cpu_system_s"]
    row.update(server_util_of_allotment=server_util, client_util_of_core=client_util,
               capacity_mbit_per_cpu_s=(row["server_bytes"] * 8 / 1e6 / cpu
                                        if cpu > 0 else math.nan),
               client_cpu_us_per_request=(row["client_cpu_s"] * 1e6 / row["requests"]
                                          if row["requests"] else math.nan))
    reasons = []
    if not server_util >= SERVER_BOUND:
        reasons.append(f"server at {server_util:.2f} of its allotment (< {SERVER_BOUND})")
    if not client_util <= CLIENT_FREE:
        reasons.append(f"client at {client_util:.2f} of its core (> {CLIENT_FREE})")
    row.update(claim_eligible=not reasons, flag="; ".join(reasons))
    row.update(capacity_check(row))


def capacity_check(row: dict) -> dict:
    """``bandwidth_over_capacity`` (``mbit_s`` / (capacity x allotment)) and ``capacity_agrees``
    (within ``CAPACITY_AGREEMENT`` of 1, on a claim-eligible point; else None) for one row."""
    predicted = (row.get("capacity_mbit_per_cpu_s") or math.nan) * \
        (row.get("server_allotment") or 1.0)
    mbit = row.get("mbit_s", math.nan)
    ratio = mbit / predicted if predicted and not math.isnan(predicted) else math.nan
    agrees = None
    if row.get("claim_eligible") is True:
        agrees = bool(not math.isnan(ratio) and abs(ratio - 1.0) <= CAPACITY_AGREEMENT)
    return {"bandwidth_over_capacity": ratio, "capacity_agrees": agrees}
