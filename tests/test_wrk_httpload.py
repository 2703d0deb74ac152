"""SEDA's HttpLoad model on wrk + Lua (``loadgen.wrk.run_httpload_wrk``, ``httpload_wrk.lua``).

Runs wrk for a few seconds against real loopback servers (a counting server that records every
connection's requests, and Knot-C) and asserts the model's behaviour: requests per connection,
think time as a lower bound, the trace's paths, source spreading; never a rate or a latency.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
from collections import Counter

import pytest

from whyevents.http.fileset import RequestMix, build_fileset
from whyevents.loadgen import wrk as W
from whyevents.loadgen.conncount import CountingServer

HAS_WRK = shutil.which("wrk") is not None
needs_wrk = pytest.mark.skipif(not HAS_WRK, reason="wrk is not installed "
                               f"({W.wrk_install_hint()})")


@pytest.fixture(scope="module")
def trace(tmp_path_factory) -> tuple[str, list[str]]:
    path = tmp_path_factory.mktemp("trace") / "trace.txt"
    RequestMix(20).write_trace(path, 200, seed=3)
    return str(path), [ln.strip() for ln in open(path)]


def _run(port: int, clients: int, trace_path: str, **kw) -> dict:
    return W.run_httpload_wrk("127.0.0.1", port, clients, duration=2.0, warmup=0.5,
                              paths=trace_path, **kw)


# -- pure functions ---------------------------------------------------------------------------

def test_choose_threads_divides_clients() -> None:
    assert W.choose_threads(1) == 1
    assert W.choose_threads(4) == 4
    assert W.choose_threads(16384) == 16
    assert W.choose_threads(1000) == 10          # never a thread count wrk would round down
    for c in (1, 3, 7, 64, 100, 1000, 4096):
        assert c % W.choose_threads(c) == 0


def test_close_scheme_avoids_aliasing() -> None:
    assert W.close_scheme_for(64, 16, 5) == "counter"      # 4 per thread: coprime to 5
    assert W.close_scheme_for(1000, 10, 5) == "random"     # 100 per thread: would alias
    assert W.close_scheme_for(1000, 10, 5, "counter") == "counter"
    with pytest.raises(ValueError, match="close scheme"):
        W.close_scheme_for(4, 4, 5, "sometimes")


def test_summary_line_parsed() -> None:
    text = 'noise\nWHYEVENTS_JSON {"requests": 3, "errors": {}}\n'
    assert W.parse_httpload_summary(text)["requests"] == 3
    with pytest.raises(ValueError, match="no httpload summary"):
        W.parse_httpload_summary("Running 1s test\n")


def test_package_ships_the_script() -> None:
    assert os.path.isfile(W.HTTPLOAD_LUA) and os.path.isfile(W.SRCSPREAD_C)


# -- wrk missing ------------------------------------------------------------------------------

def test_wrk_missing_names_the_install_command(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))           # an empty directory: no wrk on PATH
    with pytest.raises(W.WrkNotFound) as e:
        W.run_httpload_wrk("127.0.0.1", 9, 1, duration=1.0)
    msg = str(e.value)
    assert "wrk is not installed" in msg
    assert W.wrk_install_hint() in msg
    assert ("sudo apt-get install -y wrk" in msg) == (os.geteuid() != 0)
    assert "client=python" in msg                       # the alternative is named, not taken


def test_run_wrk_missing_too(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(W.WrkNotFound, match="apt-get install -y wrk"):
        W.run_wrk("http://127.0.0.1:9/", connections=1, duration=1)


# -- the model against a real server ----------------------------------------------------------

@needs_wrk
def test_one_connection_per_thread_is_exactly_httpload(trace) -> None:
    """4 clients -> 4 wrk threads of one connection each: every connection that ended by
    itself carried exactly 5 requests, the client thought >= 20 ms between a response and the
    next request, and every request came from the trace."""
    path, paths = trace
    with CountingServer() as srv:
        r = _run(srv.port, 4, path)
    snap = srv.snapshot()
    assert r["wrk_threads"] == 4 and r["close_scheme"] == "counter"
    assert r["errors_total"] == 0 and r["completed"] > 0
    per_conn = snap["per_connection"]
    assert max(per_conn) <= 5
    closed_by_request = snap["close_requests"]
    assert per_conn[5] >= closed_by_request - 4        # the last, interrupted ones aside
    assert per_conn[5] >= 0.8 * sum(per_conn.values())
    assert r["requests_per_connection"] == pytest.approx(5.0, rel=0.25)
    assert statistics.median(snap["gaps"]) >= 0.019    # think time: never shorter than 20 ms
    assert set(snap["paths"]) <= set(paths)


@needs_wrk
def test_many_connections_per_thread_keep_the_mean(trace) -> None:
    """64 clients on 16 threads: the close falls on every 5th request of a thread, so each
    connection's count spreads around 5, but the mean stays 5 and the trace's mix is kept."""
    path, paths = trace
    with CountingServer() as srv:
        r = _run(srv.port, 64, path)
    snap = srv.snapshot()
    per_conn = snap["per_connection"]
    ended = sum(per_conn.values())
    mean = sum(k * v for k, v in per_conn.items()) / ended
    assert mean == pytest.approx(5.0, rel=0.15)
    assert snap["requests"] == pytest.approx(5 * snap["close_requests"], rel=0.1)
    assert statistics.median(snap["gaps"]) >= 0.019
    # trace mix: each thread walks the trace in order, so the requested classes follow the
    # trace's own class shares
    want = Counter(p.split("/class")[1][0] for p in paths)
    got = Counter(p.split("/class")[1][0] for p in snap["paths"].elements())
    total = sum(got.values())
    for cls, n in want.items():
        assert got[cls] / total == pytest.approx(n / len(paths), abs=0.08)
    assert r["client_cpu_s"] > 0 and r["client_cpu_us_per_request"] > 0


@needs_wrk
def test_random_close_scheme(trace) -> None:
    path, _ = trace
    with CountingServer() as srv:
        r = _run(srv.port, 16, path, close_scheme="random")
    snap = srv.snapshot()
    assert r["close_scheme"] == "random"
    assert snap["requests"] == pytest.approx(5 * snap["close_requests"], rel=0.35)
    assert len(snap["per_connection"]) > 3            # geometric spread, not a fixed count


@needs_wrk
def test_sources_spread_over_loopback_addresses(trace) -> None:
    path, _ = trace
    lib, why = W.srcspread_library()
    if lib is None:
        pytest.skip(why)
    with CountingServer() as srv:
        r = _run(srv.port, 16, path, source_addresses=4)
    sources = srv.snapshot()["sources"]
    assert r["source_addresses"] == 4
    assert set(sources) == {"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"}
    assert srv.snapshot()["by_address"].keys() == {"127.0.0.1"}   # the server: 127.0.0.1 only


@needs_wrk
def test_against_knot_c_requests_per_connection() -> None:
    """A whyevents server counts ~5 requests per accepted connection and serves the mix."""
    from whyevents import servers

    with tempfile.TemporaryDirectory() as root:
        fs = build_fileset(root, 16, seed=0, scale=0.01)
        trace = os.path.join(root, "trace.txt")
        fs.mix.write_trace(trace, 500, 0)
        h = servers.start("knot-c", root, threads=64)
        try:
            host, port = h.address[:2]
            s0 = h.stats()
            r = W.run_httpload_wrk(host, port, 16, duration=2.0, warmup=0.5, paths=trace)
            s1 = h.stats()
        finally:
            h.stop()
    requests = s1["requests"] - s0["requests"]
    conns = s1["connections_total"] - s0["connections_total"]
    assert r["errors_total"] == 0 and requests > 0
    assert requests / conns == pytest.approx(5.0, rel=0.2)
    assert r["bad_status" if "bad_status" in r else "errors_total"] == 0
    assert r["mean_response_bytes"] > 1000                 # SPECweb99 bodies, not an error page
