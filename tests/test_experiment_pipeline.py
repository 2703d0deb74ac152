"""The task-pipeline experiment (``whyevents.experiments.pipeline``): contract, parameters,
points, rows.

Behaviour only, never a timing: tiny points (10 tasks, a fraction of a second) on every backend
check that rows carry the claims' columns, that every task really read 8 KiB, that the count mode
completes exactly the tasks asked for under both schedulers, and that a crashed, timed-out or
capped point becomes a row instead of an exception.
"""

from __future__ import annotations

import importlib.util
import subprocess

import pytest

from whyevents.experiments import pipeline as P
from whyevents.experiments import pipeline_worker as W
from whyevents.repro.claims import COLUMNS

pytestmark = pytest.mark.runtime

TINY = {"warmup_s": 0.05, "window_s": 0.2, "timeout_s": 60.0, "file_bytes": 1 << 18}


def _params(**over) -> dict:
    return P.check_params({**P.PROFILES["quick"], **TINY, **over})


@pytest.fixture(scope="module")
def ctx():
    params = _params()
    with P.prepare(params) as c:
        yield c


# -- the contract -----------------------------------------------------------------------------

def test_contract_names():
    assert P.EXPERIMENT == "pipeline"
    assert isinstance(P.DESCRIPTION, str) and len(P.DESCRIPTION) > 100
    assert set(P.KEY_FIELDS) <= set(COLUMNS["pipeline"]) | {"rep"}
    assert "rep" in P.KEY_FIELDS
    assert set(P.SUMMARY_FIELDS) <= set(COLUMNS["pipeline"])
    assert set(P.PROFILES) >= {"quick", "full"}
    for name, prof in P.PROFILES.items():
        assert set(prof) == set(P.PARAM_HELP), name
        assert P.check_params(dict(prof))["tasks"] == sorted(prof["tasks"])
    for fn in (P.check_params, P.points, P.measure, P.prepare, P.limits):
        assert callable(fn)


def test_profiles_include_the_claims_sizes():
    assert {1, 10, 100, 1000, 10000} <= set(P.PROFILES["quick"]["tasks"])
    assert {1000, 10000, 100000, 262144} <= set(P.PROFILES["full"]["tasks"])
    assert P.PROFILES["quick"]["read_bytes"] == 8192
    assert P.PROFILES["full"]["reps"] == 3


@pytest.mark.parametrize("key, value, words", [
    ("tasks", [0], "tasks"),
    ("tasks", [], "tasks"),
    ("tasks", ["ten"], "tasks"),
    ("backends", ["fifo", "bogus"], "backends"),
    ("peers", ["trio"], "peers"),
    ("reps", 0, "reps"),
    ("warmup_s", -1.0, "warmup_s"),
    ("warmup_rounds", -0.25, "warmup_rounds"),
    ("warmup_rounds", "a quarter", "warmup_rounds"),
    ("window_s", 0.0, "window_s"),
    ("read_bytes", 0, "read_bytes"),
    ("read_bytes", 1 << 30, "read_bytes"),
    ("tasks_total", -5, "tasks_total"),
    ("timeout_s", 0.0, "timeout_s"),
    ("kernel_max_tasks", 0, "kernel_max_tasks"),
    ("poller", "kqueue", "poller"),
    ("pin", "maybe", "pin"),
    ("no_such_key", 1, "no_such_key"),
])
def test_check_params_names_the_bad_parameter(key, value, words):
    params = {**P.PROFILES["quick"], key: value}
    with pytest.raises(ValueError, match=words):
        P.check_params(params)


def test_check_params_normalizes():
    p = P.check_params({**P.PROFILES["quick"], "tasks": ["100", 10, 10], "peers": "none",
                        "backends": "event,fifo"})
    assert p["tasks"] == [10, 100]
    assert p["peers"] == []
    assert p["backends"] == ["event", "fifo"]


def test_points_cover_the_profile_rep_by_rep():
    for name in ("quick", "full"):
        params = P.check_params(dict(P.PROFILES[name]))
        pts = [m for p in P.points(params) for m in p.get("members", [p])]   # groups: pairing
        configs = [P.BACKENDS[b] for b in params["backends"]] + \
            [(peer, "-") for peer in params["peers"]]
        want = {(b, s, n, "interpreted", r) for r in range(params["reps"])
                for n in params["tasks"] for b, s in configs}
        got = [tuple(p[k] for k in P.KEY_FIELDS) for p in pts]
        assert len(got) == len(set(got)) == len(want)
        assert set(got) == want
        reps = [p["rep"] for p in pts]
        assert reps == sorted(reps)          # interleaved: all of rep 0, then rep 1, ...
    quick = [m for p in P.points(_params()) for m in p.get("members", [p])]
    assert {("whyevents", "fifo"), ("whyevents", "pth"), ("kernel", "-"), ("event", "-"),
            ("greenlet", "-"), ("gen", "-")} == {(p["backend"], p["scheduler"]) for p in quick}


def test_limits_say_why():
    lim = P.limits(_params())
    assert lim["kernel_max_tasks"] == 10000 and "pid_max" in lim and lim["why"]


# -- measuring --------------------------------------------------------------------------------

_ALL = [("whyevents", "fifo"), ("whyevents", "pth"), ("kernel", "-"), ("event", "-"),
        ("gevent", "-"), ("asyncio", "-"), ("coro", "-"), ("greenlet", "-"), ("gen", "-")]


@pytest.mark.parametrize("backend, scheduler", _ALL, ids=[f"{b}-{s}" for b, s in _ALL])
def test_measure_tiny_point(ctx, backend, scheduler):
    if backend == "gevent" and importlib.util.find_spec("gevent") is None:
        pytest.skip("gevent not installed")
    params = _params()
    point = {"backend": backend, "scheduler": scheduler, "tasks": 10, "build": "interpreted",
             "rep": 0}
    rows = P.measure(point, params, ctx=ctx)
    assert len(rows) == 1
    row = rows[0]
    assert row["status"] == "ok", row.get("error")
    for col in COLUMNS["pipeline"]:
        assert col in row, col
    for k in P.KEY_FIELDS:
        assert row[k] == point[k]
    assert row["throughput_rps"] > 0
    assert row["latency_p50_ms"] > 0
    assert row["completed"] > 0 and row["latency_samples"] == row["completed"]
    # every task's read returned exactly 8 KiB
    assert row["short_reads"] == 0
    assert row["bytes_read"] == row["total_completed"] * 8192
    assert row["bytes_per_task"] == 8192
    assert row["threads_started"] == (1 if backend == "event" else 10)
    if P.pick_cpu() is not None:
        assert row["affinity"] == [P.pick_cpu()]
    if scheduler == "pth":
        assert row["pth_waiting_avg"] is not None


@pytest.mark.parametrize("backend, scheduler", [("whyevents", "fifo"), ("whyevents", "pth"),
                                                ("kernel", "-"), ("event", "-"), ("coro", "-"),
                                                ("greenlet", "-")])
def test_count_mode_completes_exactly_the_tasks(ctx, backend, scheduler):
    params = _params(tasks_total=3000)
    point = {"backend": backend, "scheduler": scheduler, "tasks": 50, "rep": 0}
    row = P.measure(point, params, ctx=ctx)[0]
    assert row["status"] == "ok", row.get("error")
    assert row["total_completed"] == row["completed"] == row["issued"] == 3000
    assert row["bytes_read"] == 3000 * 8192
    assert row["latency_samples"] == 3000


def test_greenlet_floor_runs_one_task_slot(tmp_path):
    # one slot: the dispatcher and one worker hand the task back and forth, nothing else ready
    f = tmp_path / "f.bin"
    f.write_bytes(b"x" * 65536)
    spec = {"backend": "greenlet", "scheduler": "-", "tasks": 1, "read_bytes": 8192,
            "file_bytes": 65536, "tasks_total": 500, "warmup_s": 0.0, "warmup_rounds": 0,
            "window_rounds": 1, "window_s": 0.1, "path": str(f)}
    out = W.run_point(spec)
    assert out["status"] == "ok" and out["completed"] == 500
    assert out["bytes_read"] == 500 * 8192


def test_count_mode_fewer_tasks_than_slots(ctx):
    params = _params(tasks_total=7)
    row = P.measure({"backend": "whyevents", "scheduler": "pth", "tasks": 20, "rep": 0},
                    params, ctx=ctx)[0]
    assert row["status"] == "ok", row.get("error")
    assert row["total_completed"] == 7 and row["bytes_read"] == 7 * 8192


def test_crashing_worker_gives_a_failed_row():
    params = _params()
    bad_ctx = {"path": "/nonexistent/whyevents-pipeline.bin", "file_bytes": params["file_bytes"],
               "kernel_failed_at": None}
    row = P.measure({"backend": "event", "scheduler": "-", "tasks": 10, "rep": 0}, params,
                    ctx=bad_ctx)[0]
    assert row["status"] == "failed"
    assert "FileNotFoundError" in row["error"]
    for col in COLUMNS["pipeline"]:
        assert col in row


def test_timeout_gives_a_failed_row(ctx):
    params = _params(window_s=30.0, timeout_s=0.5)
    row = P.measure({"backend": "event", "scheduler": "-", "tasks": 10, "rep": 0}, params,
                    ctx=ctx)[0]
    assert row["status"] == "failed"
    assert "timed out" in row["error"]


def test_caps_give_skipped_rows_with_a_reason():
    params = _params(kernel_max_tasks=100, pth_max_tasks=100)
    row = P.measure({"backend": "kernel", "scheduler": "-", "tasks": 1000, "rep": 0}, params)[0]
    assert row["status"] == "skipped" and "kernel_max_tasks" in row["error"]
    row = P.measure({"backend": "whyevents", "scheduler": "pth", "tasks": 1000, "rep": 0},
                    params)[0]
    assert row["status"] == "skipped" and "pth_max_tasks" in row["error"]
    ctx = {"path": "/unused", "file_bytes": params["file_bytes"], "kernel_failed_at": 50}
    row = P.measure({"backend": "kernel", "scheduler": "-", "tasks": 80, "rep": 0}, params,
                    ctx=ctx)[0]
    assert row["status"] == "skipped" and "refused at N=50" in row["error"]
    for col in COLUMNS["pipeline"]:
        assert col in row


def test_kernel_refusal_is_a_failed_row_in_process(monkeypatch, tmp_path):
    """The OS refusing a thread (RuntimeError from start) ends the point as failed, with N."""
    import threading

    started = []
    real_start = threading.Thread.start

    def start(self):
        if len(started) >= 5:
            raise RuntimeError("can't start new thread")
        started.append(self)
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", start)
    f = tmp_path / "f.bin"
    f.write_bytes(b"x" * 65536)
    spec = {"backend": "kernel", "scheduler": "-", "tasks": 10, "read_bytes": 8192,
            "file_bytes": 65536, "tasks_total": 0, "warmup_s": 0.0, "warmup_rounds": 1,
            "window_rounds": 1, "window_s": 0.1, "poller": "epoll", "path": str(f)}
    out = W.run_point(spec)
    assert out["status"] == "failed"
    assert "at 6 threads: RuntimeError" in out["error"]


def test_ctrl_c_kills_the_subprocess(ctx, monkeypatch):
    procs = []
    real = subprocess.Popen

    def popen(*a, **kw):
        p = real(*a, **kw)
        procs.append(p)
        return p

    monkeypatch.setattr(subprocess, "Popen", popen)

    def progress(_figures):
        raise KeyboardInterrupt

    params = _params(window_s=30.0)
    with pytest.raises(KeyboardInterrupt):
        P.measure({"backend": "event", "scheduler": "-", "tasks": 10, "rep": 0}, params,
                  ctx=ctx, progress=progress)
    assert procs and procs[0].poll() is not None


def _meter(n, **spec):
    base = {"read_bytes": 1, "tasks_total": 0, "warmup_s": 0.0, "warmup_rounds": 0.25,
            "window_s": 0.0001, "window_rounds": 1}
    m = W.Meter(n, {**base, **spec})
    m.seeded()
    return m


def _drive(m, times):
    """Feed completions at the given times; the number fed when the window closed, or None."""
    for i, t in enumerate(times, 1):
        if not m.complete(t - 0.001, t, 1):
            return i
    return None


def test_window_closes_on_whole_rounds_after_a_fractional_warmup():
    # 10 tasks in flight, completions 10 ms apart from seeding on (the window's clock starts when
    # it opens, a few microseconds after the second): the warm-up ends after a quarter round
    # (int(2.5) = 2 completions), the window after exactly one round (10) although its time was
    # up after one completion
    m = _meter(10)
    t = m.t_seeded
    closed_at = _drive(m, [t + 0.01 * i for i in range(100)])
    assert m.c0 == 2
    assert closed_at == 12
    assert m.c1 - m.c0 == 10
    # a longer window_s: it keeps going to the end of the round in which its time ran out
    m = _meter(10, window_s=0.155)
    t = m.t_seeded
    closed_at = _drive(m, [t + 0.01 * i for i in range(100)])
    assert closed_at == 22 and m.c1 - m.c0 == 20
    # window_rounds 0: no round rule, the time alone decides
    m = _meter(10, window_s=0.035, window_rounds=0)
    t = m.t_seeded
    closed_at = _drive(m, [t + 0.01 * i for i in range(100)])
    assert closed_at == 5 and m.c1 - m.c0 == 3


def test_percentiles():
    assert W.percentiles([]) == {50: None, 90: None, 99: None}
    pc = W.percentiles([float(i) for i in range(1, 101)])
    assert pc == {50: 50.0, 90: 90.0, 99: 99.0}
    assert W.percentiles([3.0]) == {50: 3.0, 90: 3.0, 99: 3.0}


# -- builds (whyevents.accel): the 2x2 ----------------------------------------------------------

def test_builds_interleave_and_compiled_needs_a_build():
    from whyevents.accel import build as accel_build
    if accel_build.check():
        # one point per (tasks, backend, build, rep): unpaired (the quick profile pairs a
        # backend's task counts into one grouped point)
        params = P.check_params({"tasks": [10, 100], "backends": ["fifo", "event"], "reps": 2,
                                 "builds": "interpreted,compiled", "pairing": "none"})
        pts = P.points(params)
        assert len(pts) == 2 * 2 * 2 * 2
        first = [p["build"] for p in pts if p["rep"] == 0 and p["tasks"] == 10]
        second = [p["build"] for p in pts if p["rep"] == 1 and p["tasks"] == 10]
        assert first == ["interpreted"] * 2 + ["compiled"] * 2     # A A B B, then B B A A
        assert second == first[::-1]
    else:
        with pytest.raises(ValueError, match="builds: 'compiled' asked"):
            P.check_params({"builds": "compiled"})
    with pytest.raises(ValueError, match="builds"):
        P.check_params({"builds": "jit"})


@pytest.mark.parametrize("backend, scheduler", [("whyevents", "fifo"), ("event", "-")])
def test_each_point_runs_on_the_build_it_asks(ctx, backend, scheduler):
    from whyevents.accel import build as accel_build
    builds = ["interpreted"] + (["compiled"] if accel_build.check() else [])
    for build in builds:
        point = {"backend": backend, "scheduler": scheduler, "tasks": 10, "build": build,
                 "rep": 0}
        row = P.measure(point, _params(), ctx=ctx)[0]
        assert row["status"] == "ok", row.get("error")
        assert row["build"] == build and row["build_used"] == build


def test_pth_points_above_pth_once_above_run_in_rep_0_only():
    params = _params(tasks=[1000, 20000], reps=3, pth_once_above=10000, pth_max_tasks=100000,
                     backends=["pth", "fifo"])
    for rep in range(3):
        for n in (1000, 20000):
            reason = P._skip_reason({"backend": "whyevents", "scheduler": "pth", "tasks": n,
                                     "rep": rep}, params, None)
            assert (reason is not None) == (n > 10000 and rep > 0), (n, rep, reason)
            if reason:
                assert "pth_once_above=10,000" in reason and "rep 0 only" in reason
    # fifo is never affected, and the full profile keeps pth at 100,000 in rep 0
    assert P._skip_reason({"backend": "whyevents", "scheduler": "fifo", "tasks": 20000, "rep": 2},
                          params, None) is None
    full = P.check_params(dict(P.PROFILES["full"]))
    assert P._skip_reason({"backend": "whyevents", "scheduler": "pth", "tasks": 100000,
                           "rep": 0}, full, None) is None
    with pytest.raises(ValueError, match="pth_once_above"):
        P.check_params({**P.PROFILES["quick"], "pth_once_above": 0})
