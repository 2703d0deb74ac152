"""The web sweep's two clients (wrk + Lua, the default; Python green threads, the cross-check),
the server's CPU cap in rows, and the claims' use of server-bound points only (issue 10).

The measuring tests run real servers and clients on loopback for a few seconds; they assert
agreement between the two clients and the rows' bookkeeping, never a rate on its own.
"""

from __future__ import annotations

import math
import shutil

import pytest

from whyevents.experiments import web
from whyevents.harness import cpu_quota
from whyevents.repro import claims

HAS_WRK = shutil.which("wrk") is not None
needs_wrk = pytest.mark.skipif(not HAS_WRK, reason="wrk is not installed (apt-get install wrk)")


def _params(**over) -> dict:
    p = dict(web.PROFILES["quick"], warmup=1.0, duration=3.0, scale=0.002, fileset_clients=64)
    p.update(over)
    return web.check_params(p)


def test_defaults_and_checks() -> None:
    for prof in web.PROFILES.values():
        assert prof["client"] == "wrk" and prof["server_cores"] > 0
    with pytest.raises(ValueError, match="client"):
        _params(client="ab")
    with pytest.raises(ValueError, match="smallest quota"):
        _params(server_cores=0.5, quota_period_ms=1.0)
    assert _params(server_cores=0)["server_cores"] == 0


def test_wrk_missing_is_an_error_not_a_fallback(monkeypatch, tmp_path) -> None:
    from whyevents.loadgen.wrk import WrkNotFound

    monkeypatch.setenv("PATH", str(tmp_path))
    p = _params()
    with pytest.raises(WrkNotFound, match="apt-get install -y wrk"):
        web.measure({"server": "eventloop", "poller": "epoll", "clients": 4, "rep": 0}, p,
                    ctx={"root": str(tmp_path), "trace": ["/"]})


def test_judge_flags_points_that_are_not_server_bound() -> None:
    row = {"status": "ok", "server_allotment": 0.5, "server_cpu_util": 0.48,
           "client_cpu_util": 0.5, "client_cores": 1, "server_cpu_user_s": 1.0,
           "server_cpu_system_s": 0.5, "server_bytes": 150_000_000, "client_cpu_s": 1.5,
           "requests": 10_000}
    web._judge(row, {})
    assert row["claim_eligible"] and row["flag"] == ""
    assert row["server_util_of_allotment"] == pytest.approx(0.96)
    assert row["capacity_mbit_per_cpu_s"] == pytest.approx(800.0)
    row.update(server_cpu_util=0.3, client_cpu_util=0.85)
    web._judge(row, {})
    assert not row["claim_eligible"]
    assert "server at 0.60" in row["flag"] and "client at 0.85" in row["flag"]


def test_bandwidth_claims_skip_flagged_points() -> None:
    c = claims.get_claim("C3.5")
    rows = [{"server": "knot-c", "poller": "poll", "clients": n, "mbit_s": v,
             "claim_eligible": e, "status": "ok"}
            for n, v, e in [(1024, 100.0, True), (4096, 10.0, False), (16384, 95.0, True)]]
    kept = claims.eligible_rows(c, rows)
    assert [r["clients"] for r in kept] == [1024, 16384]
    c_cpu = claims.get_claim("C3.2")                    # CPU per request: every point counts
    assert len(claims.eligible_rows(c_cpu, rows)) == 3
    old = [{k: v for k, v in r.items() if k != "claim_eligible"} for r in rows]
    assert len(claims.eligible_rows(c, old)) == 3        # runs before the column: unchanged


def test_cap_unavailable_is_recorded(monkeypatch) -> None:
    def nope(*a, **k):
        raise cpu_quota.CpuQuotaUnavailable("no cgroup file system at /nowhere")

    monkeypatch.setattr(web, "CpuQuota", nope)
    row: dict = {}
    assert web._cap_server(1, _params(), row) is None
    assert row["server_cap"].startswith("unavailable: no cgroup")
    assert row["server_allotment"] == 1.0


@needs_wrk
@pytest.mark.xfail(reason="open (issue 10): the Python client thinks ~22.3 ms per 20 ms (server-"
                   "side gap medians, 64 clients), wrk 20.4 ms, so the Python client's rate is "
                   "~9% lower; the 5% target needs its think-time overshoot fixed, not a wider "
                   "tolerance", strict=False)
def test_two_clients_agree_on_a_short_point() -> None:
    """At 64 clients nothing saturates: wrk and the Python clients give the same request rate
    and bandwidth within 5% (the server's own counts, same window, same clock), and both make
    ~5 requests per connection."""
    p = _params(server_cores=0)
    got = {}
    with web.prepare(p) as ctx:
        for client in ("wrk", "python"):
            p["client"] = client
            (row,) = web.measure({"server": "eventloop", "poller": "epoll", "clients": 64,
                                  "rep": 0}, p, ctx=ctx)
            assert row["status"] == "ok", row["error"]
            assert row["client"] == client and row["errors"] == 0
            got[client] = row
    w, py = got["wrk"], got["python"]
    for key in ("server_requests", "server_bytes"):
        assert w[key] == pytest.approx(py[key], rel=0.05), key
    assert w["req_per_s"] == pytest.approx(py["req_per_s"], rel=0.05)
    assert w["mbit_s"] == pytest.approx(py["mbit_s"], rel=0.05)
    for r in (w, py):
        assert r["requests_per_connection"] == pytest.approx(5.0, rel=0.1)
        assert not math.isnan(r["client_cpu_us_per_request"])
        assert "claim_eligible" in r and r["server_cap"] == "none"


@needs_wrk
@pytest.mark.skipif(not cpu_quota.availability()[0], reason="no writable cgroup CPU controller")
def test_capped_point_records_its_allotment() -> None:
    p = _params(server_cores=0.5, quota_period_ms=10.0)
    with web.prepare(p) as ctx:
        (row,) = web.measure({"server": "knot-c", "poller": "epoll", "clients": 16, "rep": 0},
                             p, ctx=ctx)
    assert row["status"] == "ok", row["error"]
    assert row["server_cap"].startswith("0.5 core per 10 ms")
    assert row["server_allotment"] == 0.5
    assert row["server_util_of_allotment"] == pytest.approx(row["server_cpu_util"] / 0.5)
    assert not row["claim_eligible"]               # 16 clients cannot load half a core
    assert "server at" in row["flag"]
