"""The web sweep's row arithmetic (``experiments/web_rows.py``), checked against figures worked
out by hand: no server, no clients, no clock. Each case's comment shows the arithmetic."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from whyevents.experiments import web_rows as R

KEYS = ("server", "poller", "clients", "build", "rep")


def _snap(uptime, requests, user, system, vol, invol, sent, **extra) -> dict:
    return {"uptime_s": uptime, "requests": requests, "cpu_user_s": user, "cpu_system_s": system,
            "ctx_voluntary": vol, "ctx_involuntary": invol, "bytes_sent": sent,
            "connections_open": extra.pop("connections_open", 0), **extra}


def _client(**kw) -> SimpleNamespace:
    base = dict(bytes=25_000_000, completed=1000, response_ms={"p50": 1.0, "p90": 2.0,
                "p99": 3.0, "max": 4.0}, fairness=0.9, errors={}, connection_failures=0,
                connections=200, client_cpu_s=0.5, duration_s=2.5, wake_lag_s=0.0,
                client_saturated=False, think_ms_mean=20.0)
    base.update(kw)
    return SimpleNamespace(**base)


S0 = _snap(10.0, 100, 1.0, 0.5, 50, 5, 1_000_000, errors={"400": 1}, green_switches=1000,
           accept_backoffs=1)
S1 = _snap(12.5, 1100, 1.8, 0.7, 250, 15, 26_000_000, errors={"400": 1, "404": 2},
           green_switches=5000, accept_backoffs=3, peak_rss_bytes=1 << 20, kernel_threads=2,
           connections_open=7)


def test_base_row_keys_in_order_and_nan_claim_columns():
    row = R.base_row({"server": "knot-c", "poller": "epoll", "clients": 64, "rep": 1,
                      "extra": "ignored"}, KEYS)
    assert list(row) == [*KEYS, "mbit_s", "ctx_switches_per_request",
                         "own_ctx_switches_per_request", "cpu_us_per_request", "errors",
                         "status", "error"]
    assert row["build"] is None and row["clients"] == 64 and row["status"] == "ok"
    assert all(math.isnan(row[k]) for k in ("mbit_s", "cpu_us_per_request", "errors"))


def test_live_progress_line():
    # 1000 requests since base; CPU 1.0 s over 2.5 s of uptime -> 40 %
    assert R.live("window", S1, S0, S0) == {"phase": "window", "srv_req": 1000, "open": 7,
                                            "cpu%": 40}
    assert R.cpu_s(S1) == pytest.approx(2.5)


def test_server_figures_by_hand():
    f = R.server_figures(S0, S1)
    assert f["server_window_s"] == pytest.approx(2.5)               # 12.5 - 10.0
    assert f["server_requests"] == 1000                              # 1100 - 100
    assert f["server_bytes"] == 25_000_000
    assert f["server_errors"] == 2                                   # 3 - 1
    assert f["server_cpu_user_s"] == pytest.approx(0.8)
    assert f["server_cpu_system_s"] == pytest.approx(0.2)
    assert f["server_cpu_util"] == pytest.approx(0.4)                # 1.0 s / 2.5 s
    assert f["cpu_us_per_request"] == pytest.approx(1000.0)          # 1.0 s * 1e6 / 1000
    assert (f["server_ctx_voluntary"], f["server_ctx_involuntary"]) == (200, 10)
    assert f["ctx_switches_per_request"] == pytest.approx(0.21)      # 210 / 1000
    assert f["ctx_switches_per_s"] == pytest.approx(84.0)            # 210 / 2.5
    assert f["green_switches"] == 4000
    assert f["server_rss_bytes"] == 1 << 20 and f["server_kernel_threads"] == 2
    assert f["server_connections_open"] == 7 and f["accept_backoffs"] == 2
    # no quota in the snapshots: nothing was forced, every switch is the server's own
    assert f["server_throttled_periods"] == 0
    assert f["own_ctx_switches_per_request"] == pytest.approx(0.21)


def test_the_switches_a_quota_forced_are_not_the_servers_own():
    """One involuntary switch per throttled period is the quota's, and never more than the
    involuntary switches counted."""
    capped = [{**S0, R.THROTTLED: 40}, {**S1, R.THROTTLED: 46}]     # 6 periods throttled
    f = R.server_figures(*capped)
    assert f["server_throttled_periods"] == 6
    assert f["ctx_switches_per_request"] == pytest.approx(0.21)      # all of them, as before
    assert f["own_ctx_switches_per_request"] == pytest.approx(0.204)  # (210 - 6) / 1000
    many = [{**S0, R.THROTTLED: 0}, {**S1, R.THROTTLED: 50}]         # more than the 10 invol.
    assert R.server_figures(*many)["own_ctx_switches_per_request"] == pytest.approx(0.2)


def test_server_figures_without_requests_or_optional_counters():
    s0 = _snap(1.0, 5, 0.0, 0.0, 0, 0, 0)
    s1 = _snap(1.0, 5, 0.1, 0.0, 3, 0, 0)
    f = R.server_figures(s0, s1)
    assert math.isnan(f["cpu_us_per_request"]) and math.isnan(f["ctx_switches_per_request"])
    assert math.isnan(f["server_cpu_util"]) and math.isnan(f["ctx_switches_per_s"])  # window 0
    assert math.isnan(f["green_switches"]) and math.isnan(f["server_rss_bytes"])
    assert f["accept_backoffs"] == 0 and f["server_errors"] == 0


def test_client_figures_by_hand():
    c = _client(errors={"timeout": 2, "reset": 1})
    f = R.client_figures(c, 2.5, 1)
    assert f["mbit_s"] == pytest.approx(80.0)                        # 25e6 B * 8 / 1e6 / 2.5 s
    assert f["req_per_s"] == pytest.approx(400.0)                    # 1000 / 2.5
    assert f["errors"] == 3 and f["error_kinds"] == "reset=1;timeout=2"
    assert f["client_cpu_util"] == pytest.approx(0.2)                # 0.5 / 2.5
    assert f["client_saturated"] is False and f["window_s"] == 2.5
    assert list(f)[:3] == ["mbit_s", "requests", "req_per_s"]


@pytest.mark.parametrize("kw, n_cores, saturated", [
    ({"client_cpu_s": 2.25}, 1, True),         # 2.25 / 2.5 = 0.9 >= 0.9 x 1 core
    ({"client_cpu_s": 2.25}, 2, False),        # 0.9 < 0.9 x 2 cores
    ({"wake_lag_s": 0.26}, 1, True),           # 0.26 > 10% of 2.5 s
    ({"wake_lag_s": 0.25}, 1, False),          # exactly 10%: not late
    ({"client_saturated": True}, 1, True),     # the load generator says so (wrk)
])
def test_client_saturation(kw, n_cores, saturated):
    assert R.client_figures(_client(**kw), 2.5, n_cores)["client_saturated"] is saturated


def test_row_figures_python_clients_and_key_order():
    out = R.row_figures(_client(), S0, S1, 2.5, 1)
    keys = list(out)
    assert keys.index("window_s") + 1 == keys.index("server_window_s")   # client, then server
    assert keys[-2:] == ["client_cores", "requests_per_connection"]
    assert out["requests_per_connection"] == pytest.approx(5.0)          # 1000 / 200
    assert "status" not in out


def test_row_figures_wrk_fields_and_warnings():
    wrk = {"wrk_threads": 1, "close_scheme": "header", "source_addresses": 4,
           "requests_per_connection": 5.0, "wrk_requests": 1200, "wrk_bytes": 9,
           "warnings": ["w1", "w2"]}
    out = R.row_figures(_client(errors={"timeout": 1}), S0, S1, 2.5, 2, wrk)
    assert out["client_cores"] == 1                                       # wrk: one core
    assert out["client_warnings"] == "w1; w2"
    assert out["error_kinds"] == "timeout=1; w1; w2"
    assert out["client_requests_run"] == 1200 and out["requests_per_connection"] == 5.0


def test_row_figures_no_completion_fails_the_point():
    out = R.row_figures(_client(completed=0, errors={"timeout": 4}), S0, S1, 2.5, 1)
    assert out["status"] == "failed"
    assert out["error"] == "no request completed in the measured window (timeout=4)"
    assert out["requests_per_connection"] == 0.0                          # 0 / 200 connections
    assert R.row_figures(_client(completed=0, connections=0), S0, S1, 2.5, 1)["error"] == \
        "no request completed in the measured window"


def _judged(**kw) -> dict:
    row = {"status": "ok", "server_allotment": 0.5, "server_cpu_util": 0.48,
           "client_cpu_util": 0.4, "client_cores": 1, "server_cpu_user_s": 1.0,
           "server_cpu_system_s": 0.2, "server_bytes": 30_000_000, "client_cpu_s": 0.6,
           "requests": 1200, "mbit_s": 100.0}
    row.update(kw)
    R.judge(row)
    return row


def test_judge_server_bound_point_agrees_with_capacity():
    row = _judged()
    assert row["server_util_of_allotment"] == pytest.approx(0.96)        # 0.48 / 0.5
    assert row["client_util_of_core"] == pytest.approx(0.4)
    assert row["capacity_mbit_per_cpu_s"] == pytest.approx(200.0)        # 240 Mbit / 1.2 s
    assert row["client_cpu_us_per_request"] == pytest.approx(500.0)      # 0.6 s * 1e6 / 1200
    assert row["claim_eligible"] is True and row["flag"] == ""
    assert row["bandwidth_over_capacity"] == pytest.approx(1.0)          # 100 / (200 * 0.5)
    assert row["capacity_agrees"] is True


def test_judge_flags_idle_server_and_busy_client():
    row = _judged(server_cpu_util=0.2, client_cpu_util=0.9, mbit_s=20.0)
    assert row["claim_eligible"] is False
    assert row["flag"] == ("server at 0.40 of its allotment (< 0.9); "
                           "client at 0.90 of its core (> 0.8)")
    assert row["bandwidth_over_capacity"] == pytest.approx(0.2)          # 20 / 100
    assert row["capacity_agrees"] is None                                # not server-bound


def test_judge_reads_the_client_core_a_group_shared():
    # servers measured together: each row's own clients used 0.4 of the core, all of them 0.85
    row = _judged(client_cpu_util_shared=0.85)
    assert row["client_util_of_core"] == pytest.approx(0.85)
    assert row["claim_eligible"] is False
    assert row["flag"] == "client at 0.85 of its core (> 0.8)"


def test_judge_disagreeing_capacity_and_no_cpu():
    assert _judged(mbit_s=120.0)["capacity_agrees"] is False             # ratio 1.2
    row = _judged(server_cpu_user_s=0.0, server_cpu_system_s=0.0, requests=0)
    assert math.isnan(row["capacity_mbit_per_cpu_s"])
    assert math.isnan(row["client_cpu_us_per_request"])
    assert math.isnan(row["bandwidth_over_capacity"]) and row["capacity_agrees"] is False


def test_judge_failed_row():
    row = {"status": "failed"}
    R.judge(row)
    assert row["claim_eligible"] is False and row["flag"] == "failed"
    assert math.isnan(row["bandwidth_over_capacity"]) and row["capacity_agrees"] is None
    assert R.capacity_check({"mbit_s": 1.0}) == {"bandwidth_over_capacity": pytest.approx(
        math.nan, nan_ok=True), "capacity_agrees": None}


def test_wrk_result_adapter():
    w = R.WrkResult({"bytes": 10, "completed": 2, "response_ms": {"p50": 1.5},
                     "errors": {}, "connection_failures": 0, "connections": 1,
                     "client_cpu_s": 0.1, "duration_s": 2.0, "client_saturated": False})
    assert w.response_ms["p50"] == 1.5 and math.isnan(w.response_ms["max"])
    assert math.isnan(w.fairness) and math.isnan(w.think_ms_mean) and w.wake_lag_s == 0.0
