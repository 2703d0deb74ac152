"""``whyevents bench runtime``: the command line, its JSON, and the report's bookkeeping.

These tests check behaviour (the CLI runs, writes what it promises, rejects bad parameters, picks
the right best peer), never a timing: the smoke run uses ``--scale 0.01`` so it finishes in a few
seconds, and its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from whyevents.benchmarks import runtime as bench
from whyevents.harness import provenance
from whyevents.repro import cli

CLI = [sys.executable, "-m", "whyevents.repro.cli"]
REPO = Path(__file__).resolve().parents[1]


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO)


def test_top_level_help_lists_bench():
    r = _run("--help")
    assert r.returncode == 0, r.stderr
    assert "bench" in r.stdout and "runtime" in r.stdout


def test_console_script_help():
    script = Path(sys.executable).parent / "whyevents"
    exe = str(script) if script.exists() else shutil.which("whyevents")
    if exe is None:
        pytest.skip("console script 'whyevents' not installed")
    r = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "bench" in r.stdout


def test_bench_runtime_help_names_options_and_operations():
    r = _run("bench", "runtime", "--help")
    assert r.returncode == 0, r.stderr
    for word in ("--quick", "--full", "--only", "--peers", "--repeat", "--json", "--scale"):
        assert word in r.stdout
    for op in bench.OPERATIONS:
        assert op in r.stdout


def test_bench_without_target_shows_help_and_fails():
    r = _run("bench")
    assert r.returncode != 0
    assert "runtime" in r.stdout + r.stderr


@pytest.mark.parametrize("args, param, value", [
    (["--only", "yield,nonsense"], "--only", "nonsense"),
    (["--peers", "gevent,tornado"], "--peers", "tornado"),
    (["--repeat", "0"], "--repeat", "0"),
    (["--scale", "-1"], "--scale", "-1"),
])
def test_bad_parameters_exit_nonzero_naming_the_parameter(args, param, value):
    r = _run("bench", "runtime", *args, "--no-progress")
    assert r.returncode != 0
    assert param in r.stderr and value in r.stderr
    assert "Traceback" not in r.stderr


def test_quick_smoke_run_writes_rows_verdicts_and_provenance(tmp_path):
    out = tmp_path / "run" / "results.json"
    r = _run("bench", "runtime", "--quick", "--only", "yield,spawn", "--repeat", "1",
             "--scale", "0.01", "--json", str(out), "--no-progress", timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "yield round trip" in r.stdout and "spawn + start + finish" in r.stdout
    assert str(out) in r.stdout
    # the call counts beside the timings (whyevents.benchmarks.overhead)
    assert "Python calls per task" in r.stdout and "Knot keep-alive request" in r.stdout
    assert "saved stack per parked thread" in r.stdout

    data = json.loads(out.read_text())
    assert data["complete"] is True
    rows = data["rows"]
    keys = {(row["operation"], row["implementation"]) for row in rows}
    for op in ("yield", "spawn"):
        for impl in bench.IMPLS:
            assert (op, impl) in keys, f"no row for {op}/{impl}"
    assert {row["operation"] for row in rows} == {"yield", "spawn"}
    for row in rows:
        assert "target_met" in row
        if row["status"] == "skipped":         # a peer not installed here
            assert row["implementation"] != "whyevents" and row["reason"]
            continue
        assert row["status"] == "ok", row
        assert row["median"] > 0
        assert row["min"] <= row["p25"] <= row["median"] <= row["p75"] <= row["max"]
        assert row["target_met"] in (True, False)
        assert row["target_met"] == (row["median"] <= row["target"])

    verdicts = {v["operation"]: v for v in data["verdicts"]}
    assert set(verdicts) == {"yield", "spawn"}
    for v in verdicts.values():
        assert v["target_met"] in (True, False)

    prov = data["provenance"]
    for key in ("git_commit", "git_dirty", "python", "packages", "cpu_model", "kernel",
                "time_utc"):
        assert key in prov
    assert prov["packages"]["greenlet"]
    if (REPO / ".git").exists() and shutil.which("git"):
        assert re.fullmatch(r"[0-9a-f]{40}", prov["git_commit"] or ""), prov["git_commit"]
        assert prov["git_dirty"] in (True, False)
    counts = data["counts"]
    assert counts["status"] == "ok", counts
    assert {(p["scheduler"], p["poller"]) for p in counts["pipeline"]} == {
        ("fifo", "epoll"), ("fifo", "poll"), ("pth", "poll")}
    assert all(p["per_task"] > 3 for p in counts["pipeline"])   # the workload's own 3, and more
    assert all(k["served"] == [50, 250] for k in counts["knot"])
    assert counts["saved_stack"]["per_thread"] > 0
    params = data["parameters"]
    assert params["repeat"] == 1 and params["scale"] == 0.01 and params["profile"] == "quick"
    assert (out.parent / "table.txt").exists()


# --- the report's bookkeeping, on synthetic worker results (no subprocess) --------------------

def _fake(samples: list[float]) -> dict:
    return {"status": "ok", "samples": samples}


def test_verdict_picks_best_framework_peer_not_the_greenlet_floor():
    cfg = bench.Config(ops=["yield"], peers=["gevent", "uvloop", "greenlet"])
    impls = ["whyevents", "gevent", "uvloop", "greenlet"]
    params = {"yield": bench.op_params("yield", "quick")}
    values = {"whyevents": [0.4, 0.5, 0.6], "gevent": [1.0], "uvloop": [0.8, 0.8],
              "greenlet": [0.2]}
    done = [({"impl": i, "ops": ["yield"], "rep": 0}, {"yield": _fake(v)})
            for i, v in values.items()]
    rows, verdicts = bench.aggregate(cfg, impls, {}, params, done)
    (v,) = verdicts
    assert v["best_peer"] == "uvloop"                  # greenlet (0.2) is a floor, not a peer
    assert v["whyevents"] == pytest.approx(0.5)
    assert v["target_met"] is True                      # 0.5 <= 0.5
    assert v["advantage_vs_best_peer"] == pytest.approx(0.8 / 0.5)
    assert v["ratio_vs_raw_greenlet"] == pytest.approx(0.5 / 0.2)
    we = next(r for r in rows if r["implementation"] == "whyevents")
    assert (we["min"], we["max"], we["n"]) == (0.4, 0.6, 3)


def test_higher_is_better_and_missing_modules_are_not_errors():
    cfg = bench.Config(ops=["yield-scale", "read"], peers=["asyncio"])
    impls = ["whyevents", "asyncio"]
    params = {k: bench.op_params(k, "quick") for k in cfg.ops}
    done = [
        ({"impl": "whyevents", "ops": ["yield-scale", "read"], "rep": 0},
         {"yield-scale": _fake([0.5]),
          "read": {"status": "n/a", "reason": "module missing: whyevents.threads.fileio"}}),
        ({"impl": "asyncio", "ops": ["yield-scale", "read"], "rep": 0},
         {"yield-scale": _fake([0.95]), "read": _fake([30.0])}),
    ]
    rows, verdicts = bench.aggregate(cfg, impls, {"trio": "trio is not installed"}, params, done)
    by = {v["operation"]: v for v in verdicts}
    assert by["yield-scale"]["target_met"] is False       # 0.5 < 0.9, higher is better
    assert by["yield-scale"]["advantage_vs_best_peer"] == pytest.approx(0.5 / 0.95)
    assert by["read"]["status"] == "n/a" and by["read"]["target_met"] is None
    table = bench.format_table({"rows": rows, "verdicts": verdicts,
                                "parameters": {"ops": cfg.ops, "peers": cfg.peers,
                                               "pinned_cpu": None},
                                "provenance": provenance.benchmark()})
    assert "n/a (module missing)" in table and "MISSED" in table


def test_plan_interleaves_repetitions_and_rotates_order():
    cfg = bench.Config(ops=["yield", "memory", "million"], peers=["gevent"], repeat=3)
    params = {k: bench.op_params(k, "quick") for k in cfg.ops}
    jobs = bench.plan_jobs(cfg, ["whyevents", "gevent"], params)
    memory = [(j["impl"], j["rep"]) for j in jobs if j["ops"] == ["memory"]]
    assert [rep for _, rep in memory] == [0, 0, 1, 1, 2, 2]          # A B, A B, A B
    assert memory[0][0] != memory[2][0]                               # order rotates
    assert sum(j["ops"] == ["million"] for j in jobs) == 1            # max_repeat=1
    assert all(j["params"].keys() == set(j["ops"]) for j in jobs)


def test_parser_is_extensible_and_parses_lists():
    parser = cli.build_parser()
    args = parser.parse_args(["bench", "runtime", "--full", "--only", "yield,spawn,yield",
                              "--peers", "none", "--skip", "spawn"])
    cfg = bench.config_from_args(args)
    assert cfg.profile == "full" and cfg.ops == ["yield"] and cfg.peers == []
    assert callable(args._run) and isinstance(args._parser, argparse.ArgumentParser)
    assert "runtime" in cli.BENCH_TARGETS
