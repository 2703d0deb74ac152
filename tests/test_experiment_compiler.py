"""The compiler experiment (section 4): contract, points, and its cheap kinds measured."""

from __future__ import annotations

import pytest

from whyevents.experiments import compiler as C
from whyevents.repro import runner
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


@pytest.mark.parametrize("params, words", [
    ({"kinds": "graph,nope"}, "kinds"), ({"tasks": "0"}, "tasks"), ({"bogus": 1}, "bogus"),
    ({"pipeline_backends": "pth"}, "pipeline_backends"), ({"window_s": 0}, "window_s"),
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
    atomic = [r for r in rows if r["kind"] == "atomic" and r["series"] == "right"]
    assert len(atomic) == 5 and all(r["count"] == 1 for r in atomic)
    assert sum(r["seeded"] for r in atomic) == 3
    live = {r["subject"]: r for r in rows if r["kind"] == "live_state"}
    assert live["knot-c"]["measured_conns"] == live["eventloop"]["measured_conns"] == 20
    assert live["knot-c"]["frames_max"] >= 3 and live["knot-c"]["bytes_per_conn"] > 0
    assert live["eventloop"]["bytes_per_conn"] > 0
    stack = [r for r in rows if r["kind"] == "stack"][0]
    assert stack["stack_status"] in ("bounded", "unknown", "unbounded")
