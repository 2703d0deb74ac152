"""The figures on synthetic rows (issue 13, item 6): axes a reader can trust, series present.

Where a claim is about flatness (pipeline throughput, web bandwidth, the scaling figure's spawn
cost, bytes per thread and switch rate) the value axis is linear and starts at zero; a panel
that stays logarithmic says why in its title. The full profile's figures carry kernel threads
and the peers beside whyevents, as the quick ones do, and a run without them says so on the
figure. ``whyevents report --profile full`` draws them from a full run.
"""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from whyevents.repro import figures, report, store  # noqa: E402

FULL_THREADS = (1000, 10000, 30000, 100000, 1000000)


def _scaling_rows(backends=("whyevents", "kernel", "coro", "gevent", "asyncio"),
                  threads=FULL_THREADS, peer_max=100000):
    """A full-profile-like scaling sweep: kernel refused at 1M, peers up to ``peer_max``;
    yields/s flat within a few percent, as the published full run measured."""
    rows = []
    base = {"whyevents": (8.0, 6800.0, 1.5e6), "kernel": (90.0, 16500.0, 2.6e4),
            "coro": (2.0, 900.0, 2.0e6), "gevent": (14.0, 8700.0, 9.0e5),
            "asyncio": (3.7, 1300.0, 7.7e5)}
    for rep in range(2):
        for n in threads:
            for b in backends:
                if b in ("gevent", "asyncio") and n > peer_max:
                    continue
                spawn, nbytes, ysec = base[b]
                row = {"backend": b, "park": "condition", "threads": n, "rep": rep,
                       "spawn_us": spawn, "bytes_per_thread": nbytes,
                       "yields_per_s": ysec * (1.0 + 0.04 * ((n // 1000) % 3)), "status": "ok"}
                if b == "kernel" and n == 1_000_000:
                    row.update(status="failed", spawn_us=None, bytes_per_thread=None,
                               yields_per_s=None, error="pid cap")
                rows.append(row)
    return rows


def _pipeline_rows():
    rows = []
    for n in (1, 16, 256, 1000, 4096, 10000, 100000):
        for backend, sched, rate in (("whyevents", "fifo", 2.0e5), ("whyevents", "pth", None),
                                     ("kernel", "-", 9.0e4), ("event", "-", 2.6e5),
                                     ("gevent", "-", 1.5e5), ("asyncio", "-", 1.2e5)):
            rps = rate if rate is not None else 2.0e5 / max(1, n / 100)
            rows.append({"backend": backend, "scheduler": sched, "tasks": n, "rep": 0,
                         "throughput_rps": rps * 0.97 if n > 1000 else rps,
                         "latency_p50_ms": n / rps * 1000, "status": "ok"})
    return rows


def _web_rows():
    rows = []
    for c in (1, 64, 1024, 4096, 16384):
        for server, poller in (("knot-c", "epoll"), ("knot-a", "poll"), ("seda", "poll"),
                               ("eventloop", "epoll")):
            rows.append({"server": server, "poller": poller, "clients": c, "rep": 0,
                         "mbit_s": 900.0 + c % 7, "cpu_us_per_request": 40.0 + 400.0 / c,
                         "client_cpu_us_per_request": 30.0,
                         "ctx_switches_per_request": 0.5, "server_util_of_allotment": 0.95,
                         "client_util_of_core": 0.5, "capacity_mbit_per_cpu_s": 1900.0,
                         "claim_eligible": True, "flag": "", "status": "ok"})
    return rows


def _labels(ax) -> set[str]:
    return set(ax.get_legend_handles_labels()[1])


def _texts(fig) -> str:
    """Every text written on the figure itself (notes and the title)."""
    parts = [t.get_text() for t in fig.texts]
    if fig._suptitle is not None:
        parts.append(fig._suptitle.get_text())
    return " ".join(parts)


def _from_zero(ax) -> bool:
    return ax.get_yscale() == "linear" and ax.get_ylim()[0] == 0


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_scaling_figure_full_profile_from_zero_with_kernel_and_peers():
    fig = figures.scaling_figure(_scaling_rows())
    spawn, nbytes, yields = fig.axes[:3]
    for ax in (spawn, nbytes, yields):
        assert _from_zero(ax), ax.get_ylabel()
        assert ax.get_xscale() == "log"
        # every series, kernel threads and the peers beside whyevents; the refused point marked
        assert {"whyevents", "kernel", "coro", "gevent", "asyncio"} <= _labels(ax)
        assert "failed / refused point" in _labels(ax)
    # a few percent of noise in yields/s spans a few percent of the axis, not all of it
    lo, hi = yields.get_ylim()
    assert lo == 0 and hi >= 1.5e6
    assert "not in this run" not in _texts(fig)


def test_scaling_figure_names_the_series_a_run_lacks():
    fig = figures.scaling_figure(_scaling_rows(backends=("whyevents",)))
    text = _texts(fig)
    assert "not in this run: kernel, gevent, asyncio" in text


def test_pipeline_figure_throughput_from_zero_latency_log_says_why():
    fig = figures.pipeline_figure(_pipeline_rows())
    thr, lat, shape = fig.axes[:3]
    assert _from_zero(thr)
    assert {"whyevents (fifo)", "whyevents (pth)", "kernel", "event", "gevent",
            "asyncio"} <= _labels(thr)
    assert lat.get_yscale() == "log" and "log:" in lat.get_title()
    assert shape.get_ylim()[0] == 0
    assert "not in this run" not in _texts(fig)


def test_web_figures_bandwidth_and_capacity_from_zero():
    rows = _web_rows()
    bw = figures.web_figure(rows).axes[0]
    assert _from_zero(bw)
    assert {"knot-c (epoll)", "knot-a (poll)", "seda (poll)", "eventloop (epoll)"} <= _labels(bw)
    cost = figures.web_cost_figure(rows)
    assert all(_from_zero(ax) for ax in cost.axes[:2])
    bound = figures.web_bound_figure(rows).axes
    assert _from_zero(bound[0]) and _from_zero(bound[1]) and _from_zero(bound[2])
    assert bound[3].get_yscale() == "log" and "log:" in bound[3].get_title()


def test_web_figures_draw_knot_on_async_def_threads_as_dashed_series_of_their_own():
    rows = _web_rows()
    rows += [{**r, "server": r["server"] + "-async"} for r in rows
             if r["server"] in ("knot-c", "knot-a")]
    for fig in (figures.web_figure(rows), figures.web_cost_figure(rows)):
        ax = fig.axes[0]
        assert {"knot-c (epoll)", "knot-c-async (epoll)", "knot-a-async (poll)"} <= _labels(ax)
        style = {line.get_label(): line.get_linestyle() for line in ax.get_lines()}
        assert style["knot-c-async (epoll)"] == "--" and style["knot-c (epoll)"] == "-"
        assert style["eventloop (epoll)"] == "-"
    assert figures.web_dashes(["knot-c-async (epoll)", "seda (poll)", "knot-a-async"]) == {
        "knot-a-async": (4, 1.5), "knot-c-async (epoll)": (4, 1.5), "seda (poll)": ""}


def _stored_run(root, experiment, profile, rows, params):
    run = store.Run.create(experiment, params, profile, None, root=root)
    run.extend(rows)
    run.close("complete")
    return run


def test_report_full_profile_draws_kernel_and_peers(tmp_path, monkeypatch):
    """``whyevents report --profile full`` draws the scaling figure from the newest full run,
    with the comparison series; the figure functions above decide what it shows."""
    seen = {}
    real = figures.scaling_figure

    def spy(rows):
        fig = real(rows)
        seen["labels"] = _labels(fig.axes[2])
        seen["zero"] = all(_from_zero(ax) for ax in fig.axes[:3])
        return fig

    monkeypatch.setitem(figures.FIGURES, "threads_scaling", ("scaling", spy))
    _stored_run(tmp_path / "results", "scaling", "full", _scaling_rows(),
                {"experiment_module": "whyevents.experiments.scaling"})
    out = tmp_path / "paper" / "full" / "REPORT.md"
    path, _ = report.write_report("full", out=out, root=tmp_path / "results")
    assert (out.parent / "figures" / "threads_scaling.png").stat().st_size > 0
    assert "figures/threads_scaling.png" in path.read_text()
    assert {"whyevents", "kernel", "gevent", "asyncio"} <= seen["labels"] and seen["zero"]
    assert json.loads((next((tmp_path / "results" / "scaling").iterdir()) /
                       "provenance.json").read_text())["profile"] == "full"


# -- section 4: stack growth and the blocking graph -----------------------------------------

def _stack_rows(with_stack=True):
    rows = []
    for rep in range(2):
        for n in (1000, 10000, 100000):
            g = {"kind": "scaling", "backend": "whyevents", "threads": n, "rep": rep,
                 "status": "ok", "bytes_per_thread": 6000.0}
            if with_stack:
                g.update(c_stack_median=1624, c_stack_p99=1624 + rep, c_stack_max=1700 + rep,
                         frame_bytes_median=2112, frame_bytes_p99=2112, frame_bytes_max=2200,
                         stack_sampled=min(n, 100000), stack_needed_bytes=4096,
                         stack_default_bytes=8 << 20, stack_fixed_bytes=None)
            rows.append(g)
            rows.append({"kind": "scaling", "backend": "coro", "threads": n, "rep": rep,
                         "status": "ok", "bytes_per_thread": 900.0})
    rows.append({"kind": "graph", "subject": "knot-c", "status": "ok"})
    if with_stack:
        rows.append({"kind": "scaling", "backend": "kernel", "threads": 1000, "rep": 0,
                     "status": "ok", "stack_fixed_bytes": 65536, "stack_default_bytes": 8 << 20})
    return rows


def test_stack_growth_table_and_figure():
    t = figures.stack_growth_table(_stack_rows())
    assert list(t.index) == [1000, 10000, 100000] and t.index.dtype == int
    assert (t["reps"] == 2).all()
    assert (t["c_stack_median"] == 1624).all() and (t["c_stack_max"] == 1701).all()
    assert (t["stack_needed_bytes"] == 4096).all()
    assert (t["kernel_given_bytes"] == 65536).all()
    assert (t["default_over_needed"] == 2048).all()
    fig = figures.stack_growth_figure(_stack_rows())
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and "log bytes" in ax.get_title()
    labels = [line.get_label() for line in ax.get_lines()]
    assert any("RLIMIT_STACK" in x and "8,192 KiB" in x for x in labels)
    assert any("kernel threads in this run: 64 KiB" in x for x in labels)
    assert sum("C stack" in x for x in labels) == 3
    plt.close(fig)


def test_stack_growth_on_rows_stored_before_the_columns():
    assert figures.stack_growth_table(_stack_rows(with_stack=False)).empty
    fig = figures.stack_growth_figure(_stack_rows(with_stack=False))
    assert "predates" in fig._suptitle.get_text()
    plt.close(fig)


def test_blocking_graph_figure_marks_unpredicted_edges():
    text = "start->accept; accept->read; read->read; read->close"
    static = figures.parse_edges(text)
    assert ("read", "read") in static and len(static) == 4
    assert figures.parse_edges(None) == set() and figures.parse_edges(float("nan")) == set()
    recorded = {("start", "accept"), ("accept", "read"), ("read", "write")}
    fig = figures.blocking_graph_figure({"knot": {"static": static, "recorded": recorded},
                                         "old run": {"static": static, "recorded": None}})
    a, b = fig.axes
    assert "4 static edges; 3 recorded, 2 predicted" in a.get_title()
    assert "stored no recorded edges" in b.get_title()
    colours = [p.get_edgecolor() for p in a.patches]
    red = matplotlib.colors.to_rgba("tab:red")
    assert sum(tuple(c) == red for c in colours) == 1          # read->write, not predicted
    assert {t.get_text() for t in a.texts} >= {"start", "accept", "read", "close", "write"}
    plt.close(fig)
