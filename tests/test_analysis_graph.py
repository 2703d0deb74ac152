"""The static blocking graph predicts every edge the recorder sees at run time (Knot, the twin).

Same traffic on each server: keep-alive requests, a page-cache miss (the first request for a
file), a 404, a pipelined pair, then the client closes. ``blocking_graph`` records the graph;
``whyevents.analysis`` predicts it from the source; every recorded edge must be predicted.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from whyevents import eventloop, knot
from whyevents.analysis import Analysis, Project, static_graph
from whyevents.duality import blocking_graph
from whyevents.experiments.compiler_worker import quiet, traffic

pytestmark = pytest.mark.timeout(120)

RUNTIME = Path(knot.__file__).parent.parent
TWIN = [str(RUNTIME / "eventloop" / name) for name in ("loop.py", "state.py", "pool.py")]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for i in range(2):
        (tmp_path / f"f{i}.txt").write_text(f"file {i}\n" * 100)
    return tmp_path


def _predicted(paths: list[str], patched: bool = True) -> frozenset:
    return _predict(tuple(paths), patched)


@cache
def _predict(paths: tuple, patched: bool) -> frozenset:
    return static_graph(Analysis(Project(list(paths), patched=patched))).relabel().shape()


@pytest.mark.parametrize("policy", ["C", "A"])
def test_static_graph_predicts_every_recorded_edge_of_knot(root, policy) -> None:
    predicted = _predicted([str(RUNTIME / "knot")])
    try:
        with blocking_graph.record_green() as rec:
            handle = knot.start(root, policy=policy, threads=4)
            assert traffic(handle.address) == b""
            assert quiet(handle), "connections still open"
    finally:
        handle.stop()
    recorded = rec.graph().relabel().shape()
    assert {("read", "disk"), ("disk", "write"), ("read", "write")} <= recorded
    assert recorded <= predicted, f"recorded but not predicted: {sorted(recorded - predicted)}"


def test_static_graph_predicts_every_recorded_edge_of_the_event_twin(root) -> None:
    predicted = _predicted(TWIN, patched=False)     # the twin never patches the stdlib
    with eventloop.start(root) as handle:
        with blocking_graph.record_event_loop(handle) as rec:
            assert traffic(handle.address) == b""
            assert quiet(handle), "connections still open"
    recorded = rec.graph().relabel().shape()
    assert {("read", "disk"), ("disk", "write"), ("read", "write")} <= recorded
    assert recorded <= predicted, f"recorded but not predicted: {sorted(recorded - predicted)}"


def test_the_duals_static_graphs_share_the_connection_path(root) -> None:
    threads = _predicted([str(RUNTIME / "knot")])
    events = _predicted(TWIN, patched=False)
    path = {("start", "accept"), ("accept", "read"), ("read", "disk"), ("disk", "write"),
            ("read", "write"), ("write", "read"), ("read", "close")}
    assert path <= threads and path <= events
