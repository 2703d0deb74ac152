"""The compiler experiment (section 4): contract, points, and its cheap kinds measured."""

from __future__ import annotations

import pytest

from whyevents.experiments import compiler as C
from whyevents.repro import figures, runner
from whyevents.repro.claims import COLUMNS

pytestmark = pytest.mark.timeout(300)


def test_contract_and_points():
    mod = runner.load("compiler")
    assert mod is C and C.COLUMNS == COLUMNS["compiler"]
    pts = C.points(C.PROFILES["quick"])
    kinds = {p["kind"] for p in pts}
    assert kinds == set(C.KINDS)
    assert all(set(C.KEY_FIELDS) <= set(p) for p in pts)
    assert len({tuple(p[k] for k in C.KEY_FIELDS) for p in pts}) == len(pts)
    full = C.points(C.PROFILES["full"])
    assert max(p["n"] for p in full if p["kind"] == "pipeline") == 100000
    # stack growth is read from the scaling rows: 1k-10k at quick, 1k-1M at full
    assert {p["n"] for p in full if p["kind"] == "scaling"} == {1000, 10000, 100000, 1000000}
    assert {p["n"] for p in pts if p["kind"] == "scaling"} == {1000, 10000}


def test_scaling_rows_carry_stack_growth():
    from whyevents.experiments import scaling

    params = C.check_params({"kinds": ["scaling"], "threads": [500], "scaling_reps": 1})
    rows = {}
    for p in C.points(params):
        (row,) = C.measure(p, params)
        rows[row["backend"]] = row
    g = rows["whyevents"]
    assert g["status"] == "ok", g["error"]
    assert g["kind"] == "scaling" and g["threads"] == 500
    assert 0 < g["c_stack_median"] <= g["c_stack_max"] and g["frame_bytes_median"] > 0
    assert g["stack_needed_bytes"] >= g["c_stack_max"] + g["frame_bytes_max"]
    assert all(rows["coro"][c] is None for c in scaling.STACK_COLUMNS)


@pytest.mark.parametrize("params, words", [
    ({"kinds": "graph,nope"}, "kinds"), ({"tasks": "0"}, "tasks"), ({"bogus": 1}, "bogus"),
    ({"pipeline_backends": "pth"}, "pipeline_backends"), ({"window_s": 0}, "window_s"),
    ({"pairing": "backends"}, "pairing"), ({"slice_s": "x"}, "slice_s"),
    ({"extra_reps": -1}, "extra_reps"), ({"extra_reps": "two"}, "extra_reps"),
])
def test_check_params_names_the_parameter(params, words):
    with pytest.raises(ValueError, match=words):
        C.check_params(params)


def test_graph_atomic_live_and_stack_points():
    params = C.check_params({"kinds": ["graph", "atomic", "live_state", "stack"],
                             "connections": [20]})
    rows = []
    for p in C.points(params):
        rows += C.measure(p, params)
    assert all(r["status"] == "ok" for r in rows), [r["error"] for r in rows if r["error"]]
    graph = {(r["subject"], r["series"]): r["count"] for r in rows if r["kind"] == "graph"}
    for server in ("knot-c", "knot-a", "eventloop"):
        assert graph[(server, "predicted")] == graph[(server, "recorded")] > 0
    for r in rows:          # the edges themselves, for the drawing: recorded within static
        if r["kind"] == "graph":
            static = figures.parse_edges(r["static_edge_list"])
            recorded = figures.parse_edges(r["recorded_edge_list"])
            assert len(static) == r["static_edges"] and len(recorded) == r["recorded"]
            assert recorded <= static
    atomic = [r for r in rows if r["kind"] == "atomic" and r["series"] == "right"]
    assert len(atomic) == 5 and all(r["count"] == 1 for r in atomic)
    assert sum(r["seeded"] for r in atomic) == 3
    live = {r["subject"]: r for r in rows if r["kind"] == "live_state"}
    assert live["knot-c"]["measured_conns"] == live["eventloop"]["measured_conns"] == 20
    assert live["knot-c"]["frames_max"] >= 3 and live["knot-c"]["bytes_per_conn"] > 0
    assert live["eventloop"]["bytes_per_conn"] > 0
    stack = [r for r in rows if r["kind"] == "stack"][0]
    assert stack["stack_status"] in ("bounded", "unknown", "unbounded")


def test_pipeline_points_measure_both_forms_of_compiler_transformed_thread():
    """``gen`` (generator threads) beside ``coro`` (async def) at both profiles, through the
    pipeline experiment's own measurement; one short point each here."""
    for profile in ("quick", "full"):
        assert {"coro", "gen", "event", "fifo"} <= set(C.PROFILES[profile]["pipeline_backends"])
    assert "gen" in C.PARAM_HELP["pipeline_backends"]
    params = C.check_params({"kinds": ["pipeline"], "tasks": [50], "pipeline_reps": 1,
                             "pipeline_backends": "gen,coro", "window_s": 0.2,
                             "pairing": "none"})
    rows = {}
    for p in C.points(params):
        (row,) = C.measure(p, params)
        rows[row["subject"]] = row
    for b in ("gen", "coro"):
        assert rows[b]["status"] == "ok", rows[b]["error"]
        assert rows[b]["backend"] == b and rows[b]["kind"] == "pipeline"
        assert rows[b]["tasks"] == 50 and rows[b]["throughput_rps"] > 0


def test_pipeline_points_are_paired_by_task_count():
    """Both profiles measure the backends of one (rep, N) side by side, time-sliced (issue 21):
    one point per group, every member's row back under its own key, carrying the slices the
    claims' bootstrap pairs; C4.4's interval is then drawn from slices, not reps."""
    from whyevents.repro import claims

    for profile in ("quick", "full"):
        assert C.PROFILES[profile]["pairing"] == "tasks"
        pts = [p for p in C.points(C.PROFILES[profile]) if p["kind"] == "pipeline"]
        prof = C.PROFILES[profile]
        assert len(pts) == prof["pipeline_reps"] * len(prof["tasks"])
        for p in pts:
            assert [m["subject"] for m in p["members"]] == prof["pipeline_backends"]
            assert {(m["rep"], m["n"]) for m in p["members"]} == {(p["rep"], p["n"])}
    # the runner's follow-up rounds are grouped alike, whatever else the params hold
    again = C.follow_up_points({**C.PROFILES["quick"], "experiment_module": "x"},
                               [{"kind": "pipeline", "subject": b, "n": 10, "rep": 5}
                                for b in ("coro", "event")])
    assert len(again) == 1 and len(again[0]["members"]) == 2
    params = C.check_params({"kinds": ["pipeline"], "tasks": [40, 80], "pipeline_reps": 2,
                             "pipeline_backends": "coro,event", "window_s": 0.4,
                             "slice_s": 0.1})
    rows = []
    for p in C.points(params):
        got = C.measure(p, params)
        assert [r["subject"] for r in got] == ["coro", "event"]
        assert {(r["n"], r["rep"]) for r in got} == {(p["n"], p["rep"])}
        rows += got
    assert all(r["status"] == "ok" for r in rows), [r["error"] for r in rows]
    assert all(r["pair"] and len(r["slice_rates"]) >= 2 for r in rows)
    assert len({(r["pair"], r["rep"]) for r in rows}) == 4
    claim = claims.get_claim("C4.4")
    (lo, hi), basis = claims.interval(claim, _as_c44(rows), "quick")
    assert basis == "slices" and 0 < lo <= hi


def _as_c44(rows: list[dict]) -> list[dict]:
    """The rows as C4.4's quick range reads them (1k-10k tasks): the test's small N renamed."""
    to = {40: 1000, 80: 10000}
    return [{**r, "tasks": to[r["tasks"]], "n": to[r["n"]]} for r in rows]


def test_follow_up_rounds_go_to_c44_not_to_the_counts():
    """Both profiles have a follow-up budget (C4.4 was left undecided with none); the claims
    that are counts with no spread (C4.1-C4.3) declare it, so one rep decides them and the
    budget goes to the pipeline groups C4.4 reads."""
    from whyevents.repro import claims, runner

    for profile in ("quick", "full"):
        assert C.check_params(C.PROFILES[profile])["extra_reps"] >= 1
    mine = {c.id: c for c in claims.load_claims() if c.experiment == "compiler"}
    assert {i for i, c in mine.items() if c.deterministic} == {"C4.1", "C4.2", "C4.3"}
    # a quick run's rows, one rep of the counts, C4.4's pairs astride its threshold
    rows = [{"kind": "graph", "subject": s, "n": i, "rep": 0, "series": series, "count": 5,
             "status": "ok"} for i, s in enumerate(("knot-c", "eventloop"), 1)
            for series in ("recorded", "predicted")]
    rows += [{"kind": "atomic", "subject": "case", "n": 1, "rep": 0, "series": series,
              "count": 1, "status": "ok"} for series in ("right", "cases")]
    rows += [{"kind": "live_state", "subject": s, "n": 100, "rep": 0, "bytes_per_conn": b,
              "status": "ok"} for s, b in (("knot-c", 2500.0), ("eventloop", 1000.0))]
    for n in (1000, 10000):
        for rep, rate in enumerate((60.0, 90.0, 75.0)):
            rows += [{"kind": "pipeline", "subject": b, "backend": b, "tasks": n, "n": n,
                      "rep": rep, "throughput_rps": r, "status": "ok"}
                     for b, r in (("coro", rate), ("event", 100.0))]
    ids, pts = runner.inconclusive_points("compiler", "quick", rows)
    assert ids == ["C4.4"]
    assert {(p["kind"], p["subject"]) for p in pts} == {("pipeline", "coro"),
                                                         ("pipeline", "event")}
    groups = C.follow_up_points(C.check_params({}), [{**p, "rep": 3} for p in pts])
    assert sorted(g["n"] for g in groups) == [1000, 10000]
    assert all(len(g["members"]) == 2 for g in groups)
