"""The thread/event cost tables (``repro.costs``): the floor split and the builds' 2x2, the web
server's forms of thread side by side, and the cachegrind yardstick's table from stored results
(newest first, this checkout's before the published ones)."""

from __future__ import annotations

import json

import pytest

from whyevents.repro import costs


def _pipe(build, tasks, event, greenlet, fifo, coro=None, reps=(0.9, 1.0, 1.1)):
    rows = []
    for k in reps:
        for backend, sched, v in (("event", "-", event), ("greenlet", "-", greenlet),
                                  ("whyevents", "fifo", fifo), ("coro", "-", coro),
                                  ("whyevents", "pth", 1.0), ("kernel", "-", 5.0)):
            if v is not None:
                rows.append({"backend": backend, "scheduler": sched, "tasks": tasks,
                             "build": build, "throughput_rps": v * k, "status": "ok"})
    return rows


def test_pipeline_costs_split_the_gap_within_each_build():
    rows = (_pipe("interpreted", 1000, 400.0, 300.0, 240.0, 280.0)
            + _pipe("compiled", 1000, 800.0, 400.0, 360.0)
            + [{"backend": "whyevents", "scheduler": "fifo", "tasks": 1000, "build": "interpreted",
                "throughput_rps": 1.0, "status": "failed"}])           # failed: not counted
    out = {r["build"]: r for r in costs.pipeline_costs(rows)}
    i, c = out["interpreted"], out["compiled"]
    assert i["event"] == pytest.approx(400.0) and i["fifo"] == pytest.approx(240.0)
    assert i["greenlet / event"] == pytest.approx(0.75)
    assert i["fifo / greenlet"] == pytest.approx(0.8)
    assert i["fifo / event"] == pytest.approx(i["greenlet / event"] * i["fifo / greenlet"])
    assert i["coro / event"] == pytest.approx(0.7)
    assert c["fifo / event"] == pytest.approx(0.45) and c["coro"] is None
    assert c["coro / event"] is None
    # rows from before the build column are the interpreted build's
    old = [{k: v for k, v in r.items() if k != "build"} for r in _pipe("x", 10, 2.0, 1.0, 1.0)]
    assert [r["build"] for r in costs.pipeline_costs(old)] == ["interpreted"]
    lines = costs.markdown(costs.pipeline_costs(rows), costs.PIPELINE_COLUMNS)
    assert lines[0].startswith("| build | tasks | event") and len(lines) == 4
    # no gen rows: its two columns are empty
    assert ("| interpreted | 1,000 | 400.0 | 300.0 | 240.0 | 280.0 | — "
            "| 0.75 | 0.80 | 0.60 | 0.70 | — |") in lines


def test_web_costs_pair_knot_c_with_its_twin_on_epoll():
    rows = []
    for build, k, t in (("interpreted", 13.0, 10.0), ("compiled", 10.0, 8.0)):
        for server, poller, v in (("knot-c", "epoll", k), ("eventloop", "epoll", t),
                                  ("knot-c", "poll", 99.0), ("seda", "poll", 50.0),
                                  ("knot-c-async", "epoll", t * 1.05)):
            rows.append({"server": server, "poller": poller, "clients": 50, "build": build,
                         "cpu_us_per_request": v, "status": "ok"})
    rows.append({"server": "knot-c", "poller": "epoll", "clients": 1000, "build": "compiled",
                 "cpu_us_per_request": 12.0, "status": "ok"})          # no twin: no row
    out = costs.web_costs(rows)
    assert [(r["build"], r["clients"]) for r in out] == [("compiled", 50), ("interpreted", 50)]
    assert out[1]["knot-c / twin"] == pytest.approx(1.3)
    assert out[0]["knot-c us/req"] == 10.0 and out[0]["twin us/req"] == 8.0
    assert out[1]["knot-c-async / twin"] == pytest.approx(1.05)
    # a twin and only the async Knot-C: still a row, the green columns empty
    only = [r for r in rows if r["server"] != "knot-c"]
    (r50,) = [r for r in costs.web_costs(only) if r["build"] == "interpreted"]
    assert r50["knot-c us/req"] is None and r50["knot-c-async / twin"] == pytest.approx(1.05)
    assert costs.markdown([], costs.WEB_COLUMNS) == ["(no rows with the points this table needs)"]


def test_report_has_the_cost_tables_of_the_runs_used(tmp_path):
    from whyevents.repro import report, store

    run = store.Run.create("pipeline", {"experiment_module": "whyevents.experiments.pipeline"},
                           "quick", None, root=tmp_path)
    run.extend(_pipe("interpreted", 1000, 400.0, 300.0, 240.0))
    run.close("complete")
    path, _ = report.write_report("quick", out=tmp_path / "REPORT.md", root=tmp_path, draw=False)
    text = path.read_text()
    assert "## Forms of thread side by side" in text
    assert f"(run `{run.run_id}`)" in text
    assert ("| interpreted | 1,000 | 400.0 | 300.0 | 240.0 | — | — "
            "| 0.75 | 0.80 | 0.60 | — | — |") in text
    assert "Web server, server CPU" not in text          # no web run: no web table


def test_web_forms_sets_every_form_beside_the_twin_on_epoll():
    rows = []
    for rep in (0, 1):
        for server, poller, mbit, us in (("knot-c", "epoll", 800.0, 13.0),
                                         ("knot-c-async", "epoll", 950.0, 10.5),
                                         ("knot-a-async", "epoll", 900.0, 11.0),
                                         ("eventloop", "epoll", 1000.0, 10.0),
                                         ("knot-c", "poll", 500.0, 30.0),
                                         ("seda", "poll", 700.0, 20.0)):
            rows.append({"server": server, "poller": poller, "clients": 1024, "rep": rep,
                         "mbit_s": mbit, "cpu_us_per_request": us, "status": "ok",
                         "claim_eligible": rep == 0})
    rows.append({"server": "knot-c-async", "poller": "epoll", "clients": 64, "mbit_s": 1.0,
                 "cpu_us_per_request": 1.0, "status": "ok"})        # no twin at 64: no row
    rows.append({"server": "eventloop", "poller": "epoll", "clients": 1024, "mbit_s": 1.0,
                 "cpu_us_per_request": 99.0, "status": "failed"})   # failed: not counted
    out = costs.web_forms(rows)
    assert [r["server"] for r in out] == ["knot-c", "knot-c-async", "knot-a-async", "eventloop"]
    by = {r["server"]: r for r in out}
    assert by["knot-c"]["form"] == "green threads"
    assert by["knot-c-async"]["form"] == "async def threads"
    assert by["knot-c-async"]["us/req / twin"] == pytest.approx(1.05)
    assert by["knot-c"]["Mbit/s / twin"] == pytest.approx(0.8)
    assert by["eventloop"]["us/req / twin"] == 1.0 and by["eventloop"]["reps"] == 2
    assert by["knot-a-async"]["server-bound reps"] == 1
    lines = costs.markdown(out, costs.FORMS_COLUMNS)
    assert "| interpreted | 1,024 | knot-c-async | async def threads | 2 | 1 |" in lines[3]


def _yardstick_result(root, stamp, rows, commit="abc1234567890"):
    d = root / "bench-yardstick" / stamp
    d.mkdir(parents=True)
    result = {"parameters": {"tasks": 1000, "build": "interpreted"},
              "provenance": {"git_commit": commit, "git_dirty": False,
                             "time_utc": "2026-12-06T04:44:14"},
              "valgrind": "valgrind-3.19.0", "cache_model_text": "I1 32 KiB 8-way 64 B lines",
              "rows": rows}
    (d / "results.json").write_text(json.dumps(result))
    return d / "results.json"


def _yrow(workload, name, ir, **extra):
    unit = "task" if workload == "pipeline" else "request"
    return {"workload": workload, "name": name, "unit": unit, "status": "ok",
            "instructions": float(ir), "data_refs": ir / 2, "d1_misses": ir / 100,
            "ll_misses": ir / 10000, "est_cycles": ir * 1.5, **extra}


def test_yardstick_table_from_the_newest_result_that_measured_the_workload(tmp_path):
    local, published = tmp_path / "results", tmp_path / "published"
    assert costs.yardstick_table("pipeline", roots=[local, published]) == (
        [], costs.YARDSTICK_HOWTO)
    assert "whyevents bench yardstick" in costs.YARDSTICK_HOWTO
    _yardstick_result(published, "20261201T000000Z", [
        _yrow("pipeline", "event", 20000, tasks=1000), _yrow("pipeline", "gen", 20000, tasks=1000),
        _yrow("server", "eventloop", 40000, conns=1), _yrow("server", "knot-c", 60000, conns=1),
        _yrow("server", "eventloop", 50000, conns=100),
        _yrow("server", "knot-c-async", 55000, conns=100),
        {"workload": "server", "name": "seda", "unit": "request", "status": "error"}],
        commit="feedc0ffee00")
    _yardstick_result(local, "20261206T000000Z", [            # newer, but no server rows
        _yrow("pipeline", "event", 20000, tasks=1000), _yrow("pipeline", "coro", 26000, tasks=1000),
        {"workload": "pipeline", "name": "fifo", "unit": "task", "status": "error"}])
    rows, source = costs.yardstick_table("pipeline", roots=[local, published])
    assert [r["name"] for r in rows] == ["event", "coro"]          # local first; errors left out
    assert rows[1]["tasks"] == 1000 and rows[1]["instructions / event"] == pytest.approx(1.3)
    assert "20261206T000000Z" in source and "per task" in source and "commit" in source
    rows, source = costs.yardstick_table("server", roots=[local, published])
    assert "feedc0ffee" in source and "per request" in source        # falls back to published
    by = {(r["name"], r["conns"]): r for r in rows}
    assert by[("knot-c", 1)]["instructions / twin"] == pytest.approx(1.5)
    # a ratio is taken against the twin at the same number of connections
    assert by[("knot-c-async", 100)]["instructions / twin"] == pytest.approx(1.1)
    assert by[("knot-c-async", 100)]["LL misses"] == pytest.approx(5.5)
    with pytest.raises(ValueError, match="workload"):
        costs.yardstick_table("nope", roots=[local])


def test_yardstick_table_leaves_out_conns_a_result_does_not_have(tmp_path):
    _yardstick_result(tmp_path, "20261206T000000Z", [
        _yrow("pipeline", "event", 20000), _yrow("pipeline", "fifo", 30000)])
    rows, _ = costs.yardstick_table("pipeline", roots=[tmp_path])
    assert "tasks" not in rows[0] and rows[1]["instructions / event"] == pytest.approx(1.5)
    assert costs.markdown(rows, list(rows[0]))[2].startswith("| event | 20,000 | 10,000 | 200.0")


def test_report_has_the_yardstick_table_or_says_how_to_make_one(tmp_path):
    from whyevents.repro import report

    ys = tmp_path / "published"
    path, _ = report.write_report("quick", out=tmp_path / "REPORT.md", root=tmp_path / "results",
                                  draw=False, yardstick_root=ys)
    text = path.read_text()
    assert "## Forms of thread side by side" in text
    assert "No yardstick result under" in text and "`whyevents bench yardstick`" in text
    _yardstick_result(ys, "20261206T000000Z", [
        _yrow("server", "eventloop", 40000, conns=1), _yrow("server", "knot-c", 60000, conns=1)])
    path, _ = report.write_report("quick", out=tmp_path / "REPORT.md", root=tmp_path / "results",
                                  draw=False, yardstick_root=ys)
    text = path.read_text()
    assert "### Counted: the cachegrind yardstick" in text and "per request" in text
    assert "| knot-c | 1 | 60,000 | 30,000 | 600.0 | 6.00 | 90,000 | 1.50 |" in text
    assert "No yardstick result under" not in text


def test_yardstick_table_pairs_churn_with_the_twins_churn(tmp_path):
    """A result measured keep-alive and with connections replaced every 5 requests: each row
    over the twin's in the same mode, the mode a column of its own."""
    _yardstick_result(tmp_path, "20261207T000000Z", [
        _yrow("server", "eventloop", 46000, conns=1, requests_per_conn=0),
        _yrow("server", "knot-c-async", 46000, conns=1, requests_per_conn=0),
        _yrow("server", "eventloop", 58000, conns=1, requests_per_conn=5),
        _yrow("server", "knot-c-async", 63800, conns=1, requests_per_conn=5)])
    path = tmp_path / "bench-yardstick" / "20261207T000000Z" / "results.json"
    result = json.loads(path.read_text())
    result["parameters"]["requests_per_conn"] = [0, 5]
    path.write_text(json.dumps(result))
    rows, source = costs.yardstick_table("server", roots=[tmp_path])
    by = {(r["name"], r["requests_per_conn"]): r for r in rows}
    assert by[("knot-c-async", 0)]["instructions / twin"] == pytest.approx(1.0)
    assert by[("knot-c-async", 5)]["instructions / twin"] == pytest.approx(1.1)
    assert "a new connection every 5 requests" in source
