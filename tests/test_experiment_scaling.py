"""The thread-scaling experiment module (whyevents.experiments.scaling): contract, parameters, and
small real points in subprocesses. Behaviour only (counts, columns, statuses, reasons): no
assertion on a time."""

from __future__ import annotations

import importlib.util

import pytest

from whyevents.experiments import scaling, scaling_worker
from whyevents.repro.claims import COLUMNS

SMALL = {"reps": 1, "yield_window_s": 0.1, "timeout_s": 60.0, "peers": []}


def params(**kw):
    return scaling.check_params({**SMALL, **kw})


def point(backend, n, park="condition", rep=0):
    return {"backend": backend, "park": park, "threads": n, "rep": rep}


def one(backend, n, park="condition", **kw):
    rows = scaling.measure(point(backend, n, park), params(park=park, **kw))
    assert len(rows) == 1
    return rows[0]


def assert_ok(row, n):
    for col in COLUMNS["scaling"] + scaling.KEY_FIELDS + ("error", "wake_all_s", "rss_bytes"):
        assert col in row, col
    assert row["status"] == "ok", row["error"]
    assert row["error"] is None
    assert row["threads"] == n
    assert row["spawn_us"] > 0
    assert row["bytes_per_thread"] > 0
    assert row["yields_per_s"] > 0
    assert row["wake_all_s"] >= 0
    assert row["rss_bytes"] > 0
    # the worker really had n threads parked at once, and every one of them ran to its end
    assert row["started"] == n
    assert row["parked"] == n
    assert row["woken"] == n
    assert row["runtime_alive"] >= n


# -- contract ---------------------------------------------------------------------------------

def test_contract_names():
    assert scaling.EXPERIMENT == "scaling"
    assert isinstance(scaling.DESCRIPTION, str) and "100,000" in scaling.DESCRIPTION
    assert set(scaling.KEY_FIELDS) >= {"backend", "threads", "rep"}
    assert set(scaling.PROFILES) == {"quick", "full"}
    for prof in scaling.PROFILES.values():
        assert set(prof) == set(scaling.PARAM_HELP)
        assert scaling.check_params(dict(prof))
    assert 10000 in scaling.PROFILES["quick"]["threads"]
    assert {100000, 1000000} <= set(scaling.PROFILES["full"]["threads"])
    for name in ("check_params", "points", "measure", "limits"):
        assert callable(getattr(scaling, name))


def test_limits_say_why():
    lim = scaling.limits(params(park="socket"))
    assert lim["pid_max"] > 0
    assert lim["kernel_threads_capped_at"] > 0
    assert "pid_max" in lim["kernel_cap_why"]
    assert "RLIMIT_NOFILE" in lim["socket_cap_why"]


@pytest.mark.parametrize("bad, name", [
    ({"threads": [0]}, "threads"),
    ({"threads": ["ten"]}, "threads"),
    ({"threads": []}, "threads"),
    ({"backends": ["fibers"]}, "backends"),
    ({"peers": ["kernel"]}, "peers"),
    ({"park": "pipe"}, "park"),
    ({"reps": 0}, "reps"),
    ({"timeout_s": -1.0}, "timeout_s"),
    ({"yield_window_s": 0}, "yield_window_s"),
    ({"runnable": 0}, "runnable"),
    ({"kernel_stack_kib": 16}, "kernel_stack_kib"),
    ({"kernel_cap": -1}, "kernel_cap"),
    ({"bogus": 1}, "bogus"),
])
def test_check_params_names_the_parameter(bad, name):
    with pytest.raises(ValueError, match=rf"^{name}:"):
        scaling.check_params({**scaling.PROFILES["quick"], **bad})


def test_check_params_normalizes_strings():
    p = scaling.check_params({"threads": "1000,100", "backends": "kernel", "peers": ""})
    assert p["threads"] == [100, 1000]
    assert p["backends"] == ["kernel"] and p["peers"] == []


def test_points_interleave_reps_and_cap_peers():
    p = scaling.check_params({"threads": [100, 1000, 100000], "backends": ["whyevents", "kernel"],
                              "peers": ["asyncio"], "peer_max_threads": 1000, "reps": 2})
    pts = scaling.points(p)
    reps = [q["rep"] for q in pts]
    assert reps == sorted(reps)                                  # rep 0 of everything first
    assert all(set(scaling.KEY_FIELDS) <= set(q) for q in pts)
    keys = {(q["backend"], q["threads"], q["rep"]) for q in pts}
    assert len(keys) == len(pts)
    assert ("asyncio", 100000, 0) not in keys and ("asyncio", 1000, 1) in keys
    assert ("kernel", 100000, 1) in keys
    assert pts[0]["backend"] != pts[len(pts) // 2]["backend"]    # order rotates per rep


# -- real points ------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["whyevents", "kernel", "coro"])
def test_small_point_condition(backend):
    row = one(backend, 200)
    assert_ok(row, 200)
    assert row["backend"] == backend and row["park"] == "condition"


def test_stack_growth_columns():
    """Section 4's stack growth: green threads' saved C stack and frame bytes per parked thread
    as a distribution and the fixed stack that would fit the worst; kernel threads' fixed stack."""
    g = one("whyevents", 300)
    assert_ok(g, 300)
    for col in scaling.STACK_COLUMNS:
        assert col in g, col
    assert g["stack_sampled"] == 300
    for what in ("c_stack", "frame_bytes"):
        med, p99, mx = (g[f"{what}_{q}"] for q in ("median", "p99", "max"))
        assert 0 < med <= p99 <= mx, (what, med, p99, mx)
    need = g["stack_needed_bytes"]
    assert need % 4096 == 0 and need >= g["c_stack_max"] + g["frame_bytes_max"]
    assert need - 4096 < g["c_stack_max"] + g["frame_bytes_max"]
    assert g["stack_fixed_bytes"] is None
    k = one("kernel", 50, kernel_stack_kib=64)
    assert_ok(k, 50)
    assert k["stack_fixed_bytes"] == 64 * 1024
    assert k["c_stack_median"] is None and k["stack_needed_bytes"] is None
    assert k["stack_default_bytes"] == scaling_worker.stack_default()
    c = one("coro", 50)                         # no stack to measure: the columns stay None
    assert all(c[col] is None for col in scaling.STACK_COLUMNS)


def test_stack_figures_sample_frames_above_the_cap(monkeypatch):
    """Above FRAME_SAMPLE threads the frames of a stride sample are walked, every C stack read."""
    from whyevents import threads

    monkeypatch.setattr(scaling_worker, "FRAME_SAMPLE", 10)
    out = {}

    def main():
        ev = threads.Event()
        ts = [threads.spawn(ev.wait) for _ in range(35)]
        threads.sleep(0)
        out["f"] = scaling_worker.stack_figures([t._g for t in ts])
        ev.set()
        for t in ts:
            t.join()

    threads.run(main)
    f = out["f"]
    assert f["stack_sampled"] == 9                    # every 4th of 35
    assert f["frame_bytes_median"] > 0 and f["c_stack_max"] > 0


def test_stored_rows_without_stack_columns_still_load():
    """Rows stored before the stack columns existed keep their columns; the new ones are None."""
    old = {k: 1 for k in scaling.KEY_FIELDS}
    row = scaling._row(old, "ok", None, {"spawn_us": 2.0})
    assert row["spawn_us"] == 2.0
    assert all(row[c] is None for c in scaling.STACK_COLUMNS)
    assert set(COLUMNS["scaling"]) <= set(row)


@pytest.mark.parametrize("backend", ["whyevents", "kernel", "gevent", "asyncio"])
def test_small_point_socket(backend):
    if backend in scaling.PEERS and importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} not installed")
    row = one(backend, 150, park="socket")
    assert_ok(row, 150)
    assert row["park"] == "socket"


@pytest.mark.parametrize("backend", ["gevent", "asyncio"])
def test_small_point_peers_condition(backend):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} not installed")
    assert_ok(one(backend, 200), 200)


def test_progress_reports_phases():
    seen = []
    scaling.measure(point("kernel", 300), params(yield_window_s=0.6), progress=seen.append)
    assert seen and all("phase" in d for d in seen)


def test_kernel_cap_gives_failed_row_and_cleans_up():
    row = one("kernel", 200, kernel_cap=50)
    assert row["status"] == "failed"
    assert "50" in row["error"] and "cap" in row["error"]
    assert row["started"] == 50 and row["woken"] == 50       # the capped threads were joined
    assert row["cap"] == 50


def test_socket_mode_is_capped_by_descriptors():
    cap, why = scaling_worker.socket_cap()
    n = 12000
    row = one("whyevents", n, park="socket")
    if cap < n:
        assert row["status"] == "failed"
        assert "RLIMIT_NOFILE" in row["error"]
        assert row["started"] == cap == row["woken"]
    else:
        assert_ok(row, n)


def test_os_refusal_is_diagnosed():
    # 700 MiB of address space fits some hundreds of 64 KiB-stack threads, not 2,000
    row = one("kernel", 2000, address_space_mb=700)
    assert row["status"] == "failed"
    assert "refused" in row["error"] or "never ran" in row["error"]
    assert "RLIMIT_AS" in row["error"] or "MemoryError" in row["error"]


def test_timeout_gives_failed_row():
    # the yield window alone outlasts the timeout: the worker is killed mid-point
    row = one("whyevents", 200, timeout_s=0.5, yield_window_s=5.0)
    assert row["status"] == "failed"
    assert "timed out" in row["error"]
    assert row["yields_per_s"] is None


def test_memory_check_refuses_to_start():
    row = one("whyevents", 10**9)
    assert row["status"] == "failed"
    assert "not started" in row["error"] and "GiB" in row["error"]


def test_missing_peer_is_skipped(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "gevent" else real(name, *a))
    row = scaling.measure(point("gevent", 100), params(peers=["gevent"]))[0]
    assert row["status"] == "skipped" and "gevent" in row["error"]


def test_kernel_memory_check_counts_only_the_capped_threads():
    p = params()
    with open("/proc/sys/kernel/pid_max") as f:       # the cap stays under the machine's
        pid_max = int(f.read())
    assert scaling._expected_cap("kernel", "condition", p) < pid_max
    assert scaling._expected_cap("whyevents", "socket", p) == scaling_worker.socket_cap()[0]
    cap = scaling._expected_cap("kernel", "condition", p)
    assert scaling._memory_problem("kernel", min(10**6, cap), "condition") is None


def test_coro_refuses_socket_parking():
    row = one("coro", 10, park="socket")
    assert row["status"] == "failed" and "no poller" in row["error"]


def test_kernel_refusal_skips_the_larger_kernel_points_of_the_sweep():
    # the OS refuses (RLIMIT_AS): that point fails, the kernel points at or above its N later in
    # the sweep are skipped rows saying why; whyevents points are not affected
    p = params(address_space_mb=700)
    with scaling.prepare(p) as ctx:
        first = scaling.measure(point("kernel", 2000), p, ctx=ctx)[0]
        assert first["status"] == "failed" and ctx["kernel_refused_at"] == 2000
        for n, rep in ((2000, 1), (5000, 0)):
            row = scaling.measure(point("kernel", n, rep=rep), p, ctx=ctx)[0]
            assert row["status"] == "skipped"
            assert "already refused at N=2,000" in row["error"]
        assert scaling.measure(point("kernel", 100), params(), ctx=ctx)[0]["status"] == "ok"


def test_wake_phase_is_bounded_and_says_so(tmp_path):
    # a bound too short for any thread to finish: the row says how many had, and the point
    # still ends (the worker does not wait for the rest)
    res = scaling_worker.Result(str(tmp_path / "r.json"))
    spec = {"backend": "whyevents", "park": "condition", "threads": 300, "runnable": 2,
            "yield_window_s": 0.05, "cap": 0, "kernel_stack_kib": 64, "rlimit_as_mb": 0,
            "cpu": None, "out": str(tmp_path / "r.json"), "wake_timeout_s": 1e-9}
    scaling_worker.run_point(spec, res)
    assert res.data["wake_all_s"] is None
    assert res.data["woken"] < 300
    assert "the wake phase was cut short" in res.data["wake_cut"]
    assert scaling.WAKE_TIMEOUT_S >= 60      # the sweep's bound leaves 10,000 kernel threads room
