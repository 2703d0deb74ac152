"""``whyevents bench servers``: options, the peer servers' HTTP, a tiny real run, nginx missing.

Behaviour only, never a timing: the peers must answer exactly what Knot answers (200, the 8 KiB
file) with keep-alive and pipelining, or their req/s would not be comparable; the smoke run
(Knot-C and uvloop, 10 connections, 1 s, one repetition) must produce the JSON's cells with
req/s and CPU per request; nginx absent from PATH must be reported "unavailable", exit 0.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import sys
import time
from pathlib import Path

import pytest

from whyevents.benchmarks import servers as web
from whyevents.benchmarks.servers_peers import FileAnswer, MiniHttp
from whyevents.repro import cli
from whyevents.server_common import ServerCounters

HAS_WRK = shutil.which("wrk") is not None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="whyevents bench servers")
    web.add_arguments(p)
    return p


def _parse_error(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as e:
        _parser().parse_args(list(argv))
    assert e.value.code == 2
    return capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# options
# ---------------------------------------------------------------------------------------------

def test_defaults():
    a = _parser().parse_args([])
    assert a.profile == "quick" and a.conns == [50, 1000, 10_000]
    assert a.servers == list(web.SERVERS) and a.pin and a.duration is None
    cfg = web.config_from_args(a)
    assert cfg.repetitions == web.PROFILES["quick"]["repeat"]
    assert cfg.duration_for("knot-c", 50) == web.PROFILES["quick"]["duration"]
    assert cfg.duration_for("pywsgi", 50) == web.PROFILES["quick"]["short"]


def test_options_parse():
    a = _parser().parse_args(["--full", "--conns", "10,2_000", "--servers", "knot-c,nginx",
                              "--duration", "3", "--repeat", "4", "--json", "/tmp/x.json",
                              "--no-pin", "--no-progress"])
    cfg = web.config_from_args(a)
    assert (cfg.profile, cfg.conns, cfg.servers) == ("full", [10, 2000], ["knot-c", "nginx"])
    assert (cfg.duration, cfg.repeat, cfg.pin, cfg.progress) == (3.0, 4, False, False)
    assert cfg.json_path == Path("/tmp/x.json")
    assert cfg.duration_for("knot-c", 10) == 3


@pytest.mark.parametrize("argv, words", [
    (["--conns", "0"], ["--conns", ">= 1"]),
    (["--conns", "ten"], ["--conns", "'ten'"]),
    (["--conns", ","], ["--conns", "empty"]),
    (["--servers", "knot-c,apache"], ["--servers", "'apache'", "knot-c"]),
    (["--duration", "0.5"], ["--duration", "1..3600"]),
    (["--duration", "abc"], ["--duration", "'abc'"]),
    (["--repeat", "0"], ["--repeat", "at least 1"]),
    (["--quick", "--full"], ["--full", "not allowed"]),
])
def test_bad_options_name_the_parameter(capsys, argv, words):
    err = _parse_error(capsys, *argv)
    for w in words:
        assert w in err, err


def test_json_directory_is_refused(tmp_path, capsys):
    p = _parser()
    args = p.parse_args(["--json", str(tmp_path)])
    with pytest.raises(SystemExit):
        web.main_from_args(args, p)
    assert "--json" in capsys.readouterr().err


def test_cli_routes_bench_web():
    parser = cli.build_parser()
    args = parser.parse_args(["bench", "servers", "--servers", "uvloop", "--conns", "5"])
    assert args._run == web.main_from_args and args.servers == ["uvloop"]


def test_fd_budget_and_knot_threads():
    b = web.fd_budget()
    assert b["soft"] == b["hard"] or b["hard"] > 1 << 19      # raised to the hard limit
    assert 0 < b["max_connections"] <= b["soft"] - web.FD_MARGIN
    conns, capped = web.cap_connections([50, 30_000, 40_000], 19_872)
    assert conns == [50, 19_872]
    assert capped == [{"requested": 30_000, "used": 19_872},
                      {"requested": 40_000, "used": 19_872}]
    assert web.steady_start(1, 50) is None
    assert web.steady_start(3, 50) == pytest.approx(0.9)
    assert web.steady_start(4, 10_000) == 2.0
    assert web.knot_c_threads(50) == 256 and web.knot_c_threads(10_000) >= 10_000


# ---------------------------------------------------------------------------------------------
# MiniHttp: the peers' request reader
# ---------------------------------------------------------------------------------------------

#: The ``docroot`` fixture's: the benchmark's own served file, ``(root, body)``.
DOCROOT = lambda base: web.make_docroot(base / "www")


def _mini(docroot):
    root, _ = docroot
    counters = ServerCounters()
    return MiniHttp(FileAnswer(root, web.FILE_NAME), counters, {}), counters


def _statuses(out: bytes) -> list[int]:
    return [int(m) for m in re.findall(rb"HTTP/1\.1 (\d{3}) ", out)]


def test_mini_http_incremental_pipelined_and_errors(docroot):
    http, counters = _mini(docroot)
    req = web.get_request()
    assert http.feed(req[:10]) == (b"", False)                       # partial head
    out, close = http.feed(req[10:] + req + req[:5])                 # 2 complete + a partial
    assert _statuses(out) == [200, 200] and not close
    assert out.count(docroot[1]) == 2
    out, close = http.feed(req[5:] + b"GET /nope HTTP/1.1\r\n\r\n")
    assert _statuses(out) == [200, 404] and not close
    out, close = http.feed(b"HEAD /" + web.FILE_NAME.encode() + b" HTTP/1.1\r\n\r\n")
    assert _statuses(out) == [200] and docroot[1] not in out and not close
    out, close = http.feed(b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc" + req)
    assert _statuses(out) == [405, 200] and not close                # body skipped
    out, close = http.feed(b"GET /" + web.FILE_NAME.encode() + b" HTTP/1.0\r\n\r\n" + req)
    assert _statuses(out) == [200] and close                         # 1.0: close after one
    assert counters.requests == 8


@pytest.mark.parametrize("data, status", [
    (b"garbage\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\n\r\n", 505),
    (b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nX: " + b"a" * 20_000, 431),
    (b"GET / HTTP/1.1\r\nbad header\r\n\r\n", 400),
])
def test_mini_http_rejects_and_closes(docroot, data, status):
    http, counters = _mini(docroot)
    out, close = http.feed(data)
    assert _statuses(out) == [status] and close and b"Connection: close" in out
    assert counters.errors[status] == 1


def test_mini_http_connection_headers(docroot):
    http, _ = _mini(docroot)
    path = b"/" + web.FILE_NAME.encode()
    out, close = http.feed(b"GET " + path + b" HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert _statuses(out) == [200] and not close
    out, close = http.feed(b"GET " + path + b" HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert _statuses(out) == [200] and close and b"Connection: close" in out


# ---------------------------------------------------------------------------------------------
# the peer servers over real sockets (each in its own process, as the benchmark runs them)
# ---------------------------------------------------------------------------------------------

PEERS = [p for p in web.PEERS if p != "nginx" or shutil.which("nginx")]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("server", PEERS)
def test_peer_answers_8k_with_keep_alive_and_pipelining(server, docroot, tmp_path):
    root, body = docroot
    try:
        proc = web.BenchServer(server, root, 10, str(tmp_path)).start()
    except web.ServerUnavailable as e:
        pytest.skip(str(e))
    with proc:
        web.check_server(proc.address, body)           # 2 pipelined + 1 more, exact bodies
        req = web.get_request()
        with socket.create_connection(proc.address, timeout=10) as s:
            buf = bytearray()
            s.sendall(req * 3)                          # three pipelined in one segment
            got = web.read_responses(s, 3, 10, buf)
            s.sendall(req[:7])                          # one request split in two sends
            time.sleep(0.05)
            s.sendall(req[7:])
            got += web.read_responses(s, 1, 10, buf)
            assert not buf
        assert [g[0] for g in got] == [200] * 4
        assert all(g[2] == body and g[1]["content-length"] == str(web.FILE_SIZE) for g in got)
        count = proc.request_count()                   # nginx: stub_status counts itself
        assert count in ((None, 8) if server == "nginx" else (7,))
        stats = proc.stats()
        if stats is not None:
            assert stats["requests"] == 7 and stats["connections_total"] == 2
            assert stats["errors"] == {}


# ---------------------------------------------------------------------------------------------
# real runs (tiny)
# ---------------------------------------------------------------------------------------------

@pytest.mark.skipif(not HAS_WRK, reason="wrk is not installed")
@pytest.mark.timeout(120)
def test_tiny_run_writes_json_with_rates_and_cpu(tmp_path, capsys):
    out = tmp_path / "r" / "results.json"
    p = _parser()
    args = p.parse_args(["--servers", "knot-c,uvloop", "--conns", "10", "--duration", "1",
                         "--repeat", "1", "--json", str(out), "--no-progress"])
    assert web.main_from_args(args, p) == 0
    text = capsys.readouterr().out
    assert "10 connections" in text and "targets" in text
    assert "MET" in text or "MISSED" in text
    result = json.loads(out.read_text())
    assert result["complete"] and result["schema"] == "whyevents.bench.servers/1"
    assert result["provenance"]["python"] and result["parameters"]["connections"] == [10]
    cells = result["cells"]
    assert sorted(c["server"] for c in cells) == ["knot-c", "uvloop"]
    for c in cells:
        assert c["status"] == "ok", c
        assert c["requests_per_s"] > 0 and c["cpu_us_per_request"] > 0
        assert c["socket_errors"] == {"connect": 0, "read": 0, "write": 0, "timeout": 0}
        assert c["non_2xx_3xx"] == 0 and c["server_errors"] == {}
        assert c["server_requests"] >= c["requests"]
    assert next(c for c in cells if c["server"] == "knot-c")["threads"] == 256
    assert {v["metric"] for v in result["verdicts"]} == {"requests_per_s", "cpu_us_per_request"}
    assert all(v["met"] in (True, False) for v in result["verdicts"])
    assert (out.parent / "table.txt").exists()


def test_nginx_missing_is_unavailable(tmp_path, monkeypatch, capsys):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("wrk", "taskset", "git"):
        found = shutil.which(tool)
        if found:
            os.symlink(found, bindir / tool)
    monkeypatch.setenv("PATH", str(bindir))
    assert shutil.which("nginx") is None
    out = tmp_path / "results.json"
    p = _parser()
    args = p.parse_args(["--servers", "nginx", "--conns", "10", "--duration", "1",
                         "--repeat", "2", "--json", str(out), "--no-progress"])
    code = web.main_from_args(args, p)
    if not shutil.which("wrk"):
        assert code == 2                               # wrk itself missing: said, not run
        return
    assert code == 0
    result = json.loads(out.read_text())
    assert [c["status"] for c in result["cells"]] == ["unavailable", "unavailable"]
    assert "nginx" in result["cells"][0]["reason"]
    assert result["rows"][0]["status"] == "unavailable"
    assert "unavailable" in capsys.readouterr().out


def test_server_process_is_killed_on_exit(docroot, tmp_path):
    root, _ = docroot
    with web.BenchServer("asyncio", root, 10, str(tmp_path)) as proc:
        pid = proc.pid
        assert os.path.exists(f"/proc/{pid}")
    assert proc.proc.returncode is not None           # reaped
    with pytest.raises(ValueError, match="server='apache'"):
        web.BenchServer("apache", root, 10, str(tmp_path))


def test_server_process_reports_start_errors(tmp_path):
    spec = json.dumps(web.server_spec("knot-c", str(tmp_path / "missing"), 1))
    import subprocess
    r = subprocess.run([sys.executable, "-m", "whyevents.servers.process", spec],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 1
    reply = json.loads(r.stdout.splitlines()[0])
    assert reply["ready"] is False and "root=" in reply["error"]


# ---------------------------------------------------------------------------------------------
# ratios to the event twin (issue 20's targets), from synthetic cells
# ---------------------------------------------------------------------------------------------

def _cell(server: str, conns: int, rep: int, cpu: float, status: str = "ok") -> dict:
    return {"server": server, "connections": conns, "rep": rep, "status": status,
            "cpu_us_per_request": cpu, "requests_per_s": 1e6 / cpu,
            "user_us_per_request": cpu / 2, "system_us_per_request": cpu / 2}


def test_paired_ratio_pairs_by_repetition_and_bounds_the_median():
    from whyevents.harness.stats import MIN_PAIRS, against_target, paired_ratio

    # a slow repetition (rep 2) hits both sides: the paired ratios stay 1.2
    pairs = [(12.0, 10.0), (12.6, 10.5), (24.0, 20.0), (11.4, 9.5), (12.0, 10.0)]
    r = paired_ratio(pairs)
    assert r["n"] == 5 and r["median"] == pytest.approx(1.2)
    assert r["lo"] == pytest.approx(1.2) and r["hi"] == pytest.approx(1.2)
    assert against_target(r, 1.25) == "MET" and against_target(r, 1.10) == "MISSED"
    assert paired_ratio(pairs, seed=3) == paired_ratio(pairs, seed=3)
    # spread ratios: the interval straddles a target between them
    spread = paired_ratio([(10, 10), (13, 10), (11, 10), (14, 10), (12, 10), (10.5, 10)])
    assert spread["lo"] < 1.15 < spread["hi"]
    assert against_target(spread, 1.15) == "INCONCLUSIVE"
    # too few pairs: a median but no interval, and so no verdict; bad sides are left out
    few = paired_ratio([(11, 10), (None, 10), (12, 0)] + [(13, 10)] * (MIN_PAIRS - 2))
    assert few["n"] == MIN_PAIRS - 1 and few["lo"] is None
    assert against_target(few, 5.0) == "INCONCLUSIVE"


def test_twin_ratios_decide_issue_20_targets_and_are_printed():
    cfg = web.Config(profile="quick", conns=[50], servers=["knot-c", "knot-c-async", "eventloop",
                                                           "uvloop"])
    cells = []
    for rep, twin in enumerate([10.0, 20.0, 11.0, 10.0, 12.0]):
        cells += [_cell("eventloop", 50, rep, twin), _cell("knot-c", 50, rep, twin * 1.4),
                  _cell("knot-c-async", 50, rep, twin * 1.02), _cell("uvloop", 50, rep, 5.0)]
    cells.append(_cell("knot-c", 50, 5, 99.0))            # no twin in rep 5: not paired
    cells.append(_cell("eventloop", 50, 6, 1.0, status="error"))
    ratios = web.twin_ratios(cfg, [50], cells)
    by = {r["server"]: r for r in ratios}
    assert set(by) == {"knot-c", "knot-c-async"}           # whyevents servers only, not the twin
    assert by["knot-c"]["n"] == 5 and by["knot-c"]["median"] == pytest.approx(1.4)
    assert by["knot-c"]["verdict"] == "MISSED" and by["knot-c"]["target"] == 1.25
    assert by["knot-c-async"]["verdict"] == "MET"
    assert web.twin_ratios(cfg, [50], [c for c in cells if c["server"] != "eventloop"]) == []
    rows, verdicts = web.aggregate(cfg, [50], cells)
    result = {"parameters": {"connections": [50], "profile": "quick", "server_cpu": 0,
                             "wrk_cpu": 1, "servers": cfg.servers, "repeat": 5,
                             "fd_limit": {"soft": 1, "hard": 1, "max_connections": 1},
                             "duration_s": {s: {50: 2} for s in cfg.servers},
                             "knot_c_threads": {50: 256}},
              "provenance": {"python": "3", "cpu_model": "x", "loadavg": [0.0]},
              "rows": rows, "verdicts": verdicts, "twin_ratios": ratios}
    text = web.format_table(result)
    assert re.search(r"knot-c\s+50: 1\.40 \[1\.40, 1\.40\]", text)
    assert re.search(r"knot-c\s+50 connections: <= 1\.25\s+MISSED", text)
    assert re.search(r"knot-c-async\s+50 connections: <= 1\.10\s+MET", text)
