"""The thread/event cost tables (``repro.costs``): the floor split and the builds' 2x2."""

from __future__ import annotations

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
    assert "## Threads vs events, within each build" in text
    assert f"(run `{run.run_id}`)" in text
    assert ("| interpreted | 1,000 | 400.0 | 300.0 | 240.0 | — | — "
            "| 0.75 | 0.80 | 0.60 | — | — |") in text
    assert "Web server, server CPU" not in text          # no web run: no web table
