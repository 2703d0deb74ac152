"""The web sweep's two clients (wrk + Lua, the default; Python green threads, the cross-check),
the server's CPU cap in rows, and the claims' use of server-bound points only (issue 10).

The measuring tests run real servers and clients on loopback for a few seconds; they assert
agreement between the two clients and the rows' bookkeeping, never a rate on its own.
"""

from __future__ import annotations

import math
import shutil
import statistics
import threading
import time

import pytest

from whyevents.experiments import web
from whyevents.harness import cpu_quota, procs
from whyevents.http.fileset import build_fileset
from whyevents.loadgen.multi import run_load_processes
from whyevents.loadgen.wrk import httpload_result, start_httpload_wrk
from whyevents.repro import claims
from whyevents.servers.process import ServerProcess

HAS_WRK = shutil.which("wrk") is not None
needs_wrk = pytest.mark.skipif(not HAS_WRK, reason="wrk is not installed (apt-get install wrk)")


def _params(**over) -> dict:
    # one server at a time (together=[]): these tests are about a server's clients and cap
    p = dict(web.PROFILES["quick"], warmup=1.0, duration=3.0, scale=0.002, fileset_clients=64,
             together=[])
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


def test_saturated_points_check_bandwidth_against_capacity() -> None:
    """At a server-bound point the clients' bandwidth is what the server's capacity predicts
    for its allotment (within 10%); the check is a column on every row, decided only where the
    server was the limit."""
    def row(mbit_s: float, server_cpu_util: float = 0.49, client_cpu_util: float = 0.5) -> dict:
        # 1.5 CPU-s over a 3 s window (0.5 of a core), 150 MB: capacity 800 Mbit per CPU-s,
        # so at half a core the server should deliver 400 Mbit/s
        r = {"status": "ok", "server_allotment": 0.5, "server_cpu_util": server_cpu_util,
             "client_cpu_util": client_cpu_util, "client_cores": 1, "server_cpu_user_s": 1.0,
             "server_cpu_system_s": 0.5, "server_bytes": 150_000_000, "client_cpu_s": 1.5,
             "requests": 10_000, "mbit_s": mbit_s}
        web._judge(r, {})
        return r

    good = row(380.0)
    assert good["claim_eligible"] and good["capacity_agrees"] is True
    assert good["bandwidth_over_capacity"] == pytest.approx(0.95)
    off = row(300.0)                                   # 25% short: the clients lost bytes
    assert off["claim_eligible"] and off["capacity_agrees"] is False
    assert off["bandwidth_over_capacity"] == pytest.approx(0.75)
    high = row(460.0)
    assert high["capacity_agrees"] is False
    idle = row(100.0, server_cpu_util=0.2)             # not server-bound: not decided
    assert not idle["claim_eligible"] and idle["capacity_agrees"] is None
    assert idle["bandwidth_over_capacity"] == pytest.approx(0.25)
    busy_client = row(390.0, client_cpu_util=0.9)
    assert not busy_client["claim_eligible"] and busy_client["capacity_agrees"] is None
    failed = {"status": "failed"}
    web._judge(failed, {})
    assert failed["capacity_agrees"] is None and math.isnan(failed["bandwidth_over_capacity"])
    assert web.capacity_check({"mbit_s": 1.0})["capacity_agrees"] is None


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


def test_provenance_records_the_cap(monkeypatch) -> None:
    p = _params(server_cores=0.5, quota_period_ms=10.0)
    monkeypatch.setattr(web, "availability", lambda: (True, "cgroup v1 cpu at /x"))
    cap = web.limits(p)["server_cpu_cap"]
    assert cap["available"] is True and cap["status"] == "0.5 core per 10 ms"
    assert cap["server_cores"] == 0.5 and cap["quota_period_ms"] == 10.0
    assert cap["controller"] == "cgroup v1 cpu at /x"
    assert "0.9" in cap["server_bound"] and "0.8" in cap["server_bound"]
    assert cap["capacity_agreement"] == 0.10 and cap["why"]
    monkeypatch.setattr(web, "availability", lambda: (False, "no cgroup file system at /nowhere"))
    cap = web.limits(p)["server_cpu_cap"]
    assert cap["available"] is False
    assert cap["status"] == "unavailable: no cgroup file system at /nowhere"
    cap = web.limits(_params(server_cores=0))["server_cpu_cap"]
    assert cap["status"].startswith("not asked")


@pytest.fixture(scope="module")
def small_files(tmp_path_factory) -> tuple[str, list[str]]:
    """A file set and the classes 0-1 (0.1-9 KB) of its SPECweb99 trace.

    With class 3 (100-900 KB, 1% of requests) the bytes per request of a few thousand requests
    have a sampling error of ~4-6%: two clients drawing independently would differ by more than
    5% in bandwidth about a third of the time for no fault of theirs. The cross-check compares
    clients, so it asks for the small classes (sampling error ~1%); the mix itself is tested in
    test_wrk_httpload.py."""
    root = str(tmp_path_factory.mktemp("web"))
    fs = build_fileset(root, 64, seed=0, scale=0.002)
    small = [t for t in fs.mix.trace(web.TRACE_LENGTH, 0) if "/class0_" in t or "/class1_" in t]
    assert len(small) > 1000
    return root, small


@needs_wrk
def test_two_clients_agree_on_a_short_point(small_files) -> None:
    """At 64 clients nothing saturates: wrk and the Python clients give the same request rate
    and bandwidth within 5%, and both think 20 ms on average.

    The two clients load one server *at the same time*, 32 clients each, over the same
    window, both pinned to the client core: the machine's noise (large on a shared 2-vCPU VM,
    where consecutive points of one client differ by 30%) falls on both alike. The medians of
    three windows are compared."""
    root, trace = small_files
    pin = procs.can_pin()
    server_cpu, client_cpus = (0, [1]) if pin else (None, None)
    spec = {"server": "eventloop", "root": root, "kwargs": {"poller": "epoll"}}
    ratios: dict[str, list[float]] = {"req_per_s": [], "mbit_s": []}
    thinks: dict[str, list[float]] = {"wrk": [], "python": []}
    warmup, duration, n = 1.0, 3.0, 32
    with ServerProcess(spec, cpu=server_cpu) as srv:
        ready = srv.start()
        host, port = ready["host"], ready["port"]
        for _window in range(3):
            start = time.time() + 2.0               # the Python worker's import time
            w_start, w_end = start + warmup, start + warmup + duration
            out: dict = {}

            def python_clients(start=start, out=out) -> None:
                out["py"] = run_load_processes(host, port, n, duration, warmup, processes=1,
                                               cpus=client_cpus, start_at=start, paths=trace)

            th = threading.Thread(target=python_clients)
            th.start()
            try:
                w = start_httpload_wrk(host, port, n, (w_start, w_end), paths=trace,
                                       cpu=client_cpus[0] if client_cpus else None)
                time.sleep(max(0.0, w_start - time.time()))
                c0 = w.cpu()
                time.sleep(max(0.0, w_end - time.time()))
                wr = httpload_result(w, c0, w.cpu())
            finally:
                th.join()
            py = out["py"]
            assert wr["errors_total"] == 0 and sum(py.errors.values()) == 0
            assert wr["completed"] > 0 and py.completed > 0
            ratios["req_per_s"].append(wr["requests_per_s"] / py.requests_per_s)
            ratios["mbit_s"].append(wr["mbit_per_s"] / py.mbit_per_s)
            thinks["wrk"].append(wr["think_ms_mean"])
            thinks["python"].append(py.think_ms_mean)
    for key, r in ratios.items():
        assert statistics.median(r) == pytest.approx(1.0, abs=0.05), (key, r)
    for client, t in thinks.items():
        assert statistics.median(t) == pytest.approx(20.0, rel=0.1), (client, t)


@needs_wrk
def test_both_clients_fill_a_row(small_files) -> None:
    """A point on either client is a row with the same bookkeeping: ~5 requests per
    connection, the measured think time, client CPU per request, claim eligibility, no cap."""
    root, trace = small_files
    p = _params(server_cores=0, warmup=0.5, duration=1.5)
    ctx = {"root": root, "trace": trace, "fileset_bytes": None}
    for client in ("wrk", "python"):
        p["client"] = client
        (r,) = web.measure({"server": "eventloop", "poller": "epoll", "clients": 16, "rep": 0},
                           p, ctx=ctx)
        assert r["status"] == "ok", r["error"]
        assert r["client"] == client and r["errors"] == 0
        assert r["requests_per_connection"] == pytest.approx(5.0, rel=0.15)
        assert r["client_think_ms_mean"] > 0
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
