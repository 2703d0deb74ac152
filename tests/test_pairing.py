"""The pipeline's paired, time-sliced measurement (``pairing``; issue 21), and a slowdown
injected on the measured core: the paired ratio stays inside its interval, the unpaired moves."""

from __future__ import annotations

import os
import random
import statistics

import pytest

from whyevents.experiments import pipeline
from whyevents.experiments.pipeline_worker import (
    ROUND_RING,
    ROUND_RING_AT,
    SLICED_MAP_BYTES,
    Meter,
    SlicedMeter,
)
from whyevents.harness import cpu_quota


def _params(**over):
    base = {"tasks": [10], "backends": ["fifo", "event"], "reps": 1, "pairing": "tasks",
            "warmup_s": 0.2, "window_s": 0.6, "slice_s": 0.1}
    return pipeline.check_params({**base, **over})


def test_pairing_per_profile_and_checked():
    assert pipeline.PROFILES["quick"]["pairing"] == "backends"
    assert pipeline.PROFILES["full"]["pairing"] == "backends"
    with pytest.raises(ValueError, match="pairing"):
        pipeline.check_params({"pairing": "sometimes"})
    with pytest.raises(ValueError, match="slice_s"):
        pipeline.check_params({"slice_s": 0})
    for profile in ("quick", "full"):
        assert pipeline.PROFILES[profile]["pair_together"] == ["fifo", "event"]
    with pytest.raises(ValueError, match="pair_together: 'pth'"):      # never grouped
        pipeline.check_params({"pair_together": "fifo,pth"})
    assert pipeline.check_params({"pair_together": "none"})["pair_together"] == []


def test_points_group_by_pairing():
    p = _params(tasks=[10, 100], reps=2)
    groups = pipeline.points(p)
    assert [(g["rep"], g["tasks"], len(g["members"])) for g in groups] == [
        (0, 10, 2), (0, 100, 2), (1, 10, 2), (1, 100, 2)]
    by_backend = pipeline.points({**p, "pairing": "backends", "pair_together": []})
    assert [(g["rep"], g["backend"], [m["tasks"] for m in g["members"]])
            for g in by_backend] == [(0, "whyevents", [10, 100]), (0, "event", [10, 100]),
                                     (1, "whyevents", [10, 100]), (1, "event", [10, 100])]
    # C2.5's two (both profiles' default): one group per rep, side by side at each N, so a
    # slice (or a stretch of time, by rep) pairs fifo with the event server at the same N
    together = pipeline.points({**p, "pairing": "backends", "pair_together": ["fifo", "event"]})
    assert [(g["rep"], [(m["backend"], m["tasks"]) for m in g["members"]]) for g in together] \
        == [(r, [("whyevents", 10), ("event", 10), ("whyevents", 100), ("event", 100)])
            for r in (0, 1)]
    assert {pipeline._pair_label(m, p | {"pairing": "backends"})
            for m in together[0]["members"]} == {"backends=fifo+event/interpreted"}
    assert "members" not in pipeline.points({**p, "pairing": "none"})[0]
    with_pth = pipeline.points({**p, "backends": ["fifo", "pth"], "pairing": "backends"})
    assert [(g["scheduler"], "members" in g) for g in with_pth][:3] == [
        ("fifo", True), ("pth", False), ("pth", False)]
    flat = [{**m, "rep": 5} for m in groups[0]["members"]]
    assert [len(g["members"]) for g in pipeline.follow_up_points(p, flat)] == [2]


def test_a_kernel_group_keeps_its_threads_within_half_of_pid_max(monkeypatch):
    # every kernel thread of a group is alive at once; pid_max is shared with the whole machine
    monkeypatch.setattr(pipeline, "_pid_max", lambda: 20_000)
    p = _params(tasks=[1, 1000, 4000, 6000, 9000, 50_000], backends=["kernel", "fifo"],
                pairing="backends", kernel_max_tasks=9000, pair_together=[])
    got = [(g["backend"], [m["tasks"] for m in g.get("members", [g])])
           for g in pipeline.points(p)]
    assert got == [("kernel", [1, 1000, 4000]), ("kernel", [6000]), ("kernel", [9000, 50_000]),
                   ("whyevents", [1, 1000, 4000, 6000, 9000, 50_000])]
    assert all(len(g["members"]) == 1 for g in pipeline.points(p) if g["tasks"] == 6000)
    monkeypatch.setattr(pipeline, "_pid_max", lambda: None)       # unknown: 2 x the cap
    got = [[m["tasks"] for m in g.get("members", [g])] for g in pipeline.points(p)
           if g["backend"] == "kernel"]
    assert got == [[1, 1000, 4000], [6000], [9000, 50_000]]
    # a kernel group together with another backend counts only its own threads
    p = _params(tasks=[1000, 4000, 6000], backends=["kernel", "fifo"], pairing="backends",
                pair_together=["kernel", "fifo"])
    monkeypatch.setattr(pipeline, "_pid_max", lambda: 20_000)
    got = [[(m["backend"], m["tasks"]) for m in g["members"]] for g in pipeline.points(p)]
    assert got == [[("kernel", 1000), ("whyevents", 1000), ("kernel", 4000),
                    ("whyevents", 4000)], [("kernel", 6000), ("whyevents", 6000)]]


def test_sliced_meter_publishes_its_count(tmp_path):
    counter = tmp_path / "c"
    counter.write_bytes(b"\0" * SLICED_MAP_BYTES)
    spec = {"read_bytes": 1, "tasks_total": 0, "warmup_rounds": 0, "window_rounds": 1,
            "warmup_s": 0.0, "window_s": 1.0, "pair_counter": str(counter)}
    m = Meter(2, spec)
    assert type(m) is SlicedMeter
    assert type(Meter(2, {**spec, "pair_counter": None})) is Meter
    m.seeded()
    for _ in range(5):
        assert m.complete(0.0, 1e9, 1)           # the window never closes by itself
    raw = counter.read_bytes()
    words, times = memoryview(raw).cast("q"), memoryview(raw).cast("d")
    assert words[0] == 5 and words[1] == 1
    # the window opened at the first completion (a boundary: its count starts there), and
    # rounds of 2 end at the 3rd and the 5th
    assert words[3] == 3
    assert 0 < times[ROUND_RING_AT + 1] <= times[ROUND_RING_AT + 2] <= times[ROUND_RING_AT + 3]
    m._end(None, None)
    assert m.over and m.result(0.0, 2)["completed"] == 4


def test_whole_rounds_are_timed_in_the_members_own_run_time():
    """Boundaries of rounds 1 and 3 in the first and third slices: two rounds over the run time
    between them, counting only the slices (the other members' turns are not this one's)."""
    m = pipeline._Member.__new__(pipeline._Member)
    m.point = {"tasks": 1000}
    m.secs, m.starts = [0.2, 0.2, 0.2], [10.0, 11.0, 12.0]
    m.bounds = [(0, 1, 10.15), (0, 1, 10.15), (2, 2, 12.01), (2, 3, 12.05)]
    rate, rounds = pipeline._rounds_rate(m)
    assert rounds == 2
    assert rate == pytest.approx(2000 / (0.05 + 0.2 + 0.05))
    m.bounds = m.bounds[:2]                         # one boundary: no whole round between
    assert pipeline._rounds_rate(m) is None


def test_a_slice_with_more_round_boundaries_than_the_ring_keeps_its_last():
    """A short round on a fast core: a slice can end more rounds than the ring holds. Its
    last boundary is still in the ring and is kept; rounds are then timed between slices."""
    m = pipeline._Member.__new__(pipeline._Member)
    m.point = {"tasks": 200}
    m.times = memoryview(bytearray(SLICED_MAP_BYTES)).cast("d")
    m.secs, m.starts, m.bounds = [], [], []

    def end_slice(j0, j1, t0):
        for j in range(j0 + 1, j1 + 1):             # the worker writes each boundary's time
            m.times[ROUND_RING_AT + j % ROUND_RING] = t0 + (j - j0) * 0.001
        pipeline._record_bounds(m, j0, j1)
        m.secs.append(0.05)
        m.starts.append(t0)

    end_slice(0, 10, 100.0)                          # fits: its first and last boundary
    assert [(i, j) for i, j, _ in m.bounds] == [(0, 1), (0, 10)]
    assert m.bounds[1][2] == pytest.approx(100.010)
    end_slice(10, 10 + ROUND_RING + 8, 101.0)        # overflows: the last stands for both
    last = 10 + ROUND_RING + 8
    assert [(i, j) for i, j, _ in m.bounds[2:]] == [(1, last), (1, last)]
    assert m.bounds[3][2] == pytest.approx(101.0 + (ROUND_RING + 8) * 0.001)
    end_slice(last, last, 102.0)                     # no boundary: nothing kept
    assert len(m.bounds) == 4
    rate, rounds = pipeline._rounds_rate(m)
    assert rounds == last - 1
    assert rate == pytest.approx(200 * rounds / (0.05 - 0.001 + (ROUND_RING + 8) * 0.001))


def test_a_member_whose_round_outlasts_a_slice_times_whole_rounds():
    # a round of 20,000 tasks takes longer than a 0.05 s slice; 200 tasks fit in one
    p = _params(tasks=[200, 20_000], backends=["event"], pairing="backends", window_s=1.5,
                slice_s=0.05, warmup_s=0.2, pair_together=[])
    (group,) = pipeline.points(p)
    with pipeline.prepare(p) as ctx:
        small, large = pipeline.measure(group, p, ctx=ctx)
    for r in (small, large):
        assert r["status"] == "ok", r.get("error")
        assert r["throughput_window_rps"] > 0 and r["rounds_timed"] >= 2
    assert small["throughput_rps"] == small["throughput_window_rps"]   # slices decide
    assert large["throughput_rps"] != large["throughput_window_rps"]   # whole rounds do
    assert 0.5 < large["throughput_rps"] / large["throughput_window_rps"] < 2.0


def test_a_group_is_measured_side_by_side():
    p = _params()
    (group,) = pipeline.points(p)
    with pipeline.prepare(p) as ctx:
        rows = pipeline.measure(group, p, ctx=ctx)
    assert [r["backend"] for r in rows] == ["whyevents", "event"]
    for r in rows:
        assert r["status"] == "ok", r.get("error")
        assert r["pair"] == "tasks=10/interpreted" and r["rep"] == 0
        assert len(r["slice_rates"]) == 6 and min(r["slice_rates"]) > 0
        assert r["throughput_rps"] > 0 and r["latency_p50_ms"] > 0


def test_a_skipped_member_is_a_skipped_row():
    p = _params(backends=["kernel", "event"], kernel_max_tasks=5)
    (group,) = pipeline.points(p)
    rows = pipeline.measure(group, p)
    assert [(r["backend"], r["status"]) for r in rows] == [("kernel", "skipped"),
                                                           ("event", "ok")]


# -- a slowdown injected on the measured core ---------------------------------------------------

#: the quota during the injected slowdown, in cores: a quarter of a core, so that it binds even
#: when other tenants already hold the measured process to part of its core
SLOW = 0.25


def _quota(group: cpu_quota.CpuQuota, cores: float) -> None:
    q = round(cores * group.period_us)
    if group.kind == "v1":
        group._write("cpu.cfs_quota_us", str(q))
    else:
        group._write("cpu.max", f"{q} {group.period_us}")


def _ratio(a: list[float], b: list[float], idx) -> float:
    return statistics.fmean(a[i] for i in idx) / statistics.fmean(b[i] for i in idx)


def _paired_interval(a: list[float], b: list[float]) -> tuple[float, float]:
    """The 95% bootstrap interval of the paired ratio of means, resampling whole cycles."""
    rng = random.Random(21)
    n = min(len(a), len(b))
    boot = [_ratio(a, b, [rng.randrange(n) for _ in range(n)]) for _ in range(1000)]
    q = statistics.quantiles(boot, n=40, method="inclusive")
    return q[0], q[-1]


def _shift_interval(a: list[float], b: list[float], slow: set[int]) -> tuple[float, float]:
    """The 95% bootstrap interval of (paired ratio in the ``slow`` cycles) - (paired ratio in
    the others): how far the slowdown moved the paired ratio, each side resampled by cycles."""
    rng = random.Random(21)
    s = sorted(slow)
    u = [i for i in range(min(len(a), len(b))) if i not in slow]
    boot = [_ratio(a, b, [rng.choice(s) for _ in s]) - _ratio(a, b, [rng.choice(u) for _ in u])
            for _ in range(1000)]
    q = statistics.quantiles(boot, n=40, method="inclusive")
    return q[0], q[-1]


def test_paired_ratio_survives_a_cut_quota_where_unpaired_moves():
    """The same point twice: sliced, with the core's quota cut to ``SLOW`` for the middle third
    of the cycles, the paired ratio in the slowed cycles is the paired ratio in the others (give
    or take a little); measured one after the other with the second under the cut quota, the
    ratio moves far.

    The reference is the twins' own ratio in the cycles not slowed, not 1: two processes of one
    program are not the same program to the machine (each has its own address-space layout),
    and a CI run once found its twins well apart over the whole window, slowed or not."""
    ok, why = cpu_quota.availability()
    if not ok:
        pytest.skip(f"no writable cgroup CPU controller: {why}")
    p = _params(tasks=[100], backends=["event"], window_s=6.0, slice_s=0.2, warmup_s=0.3)
    point = pipeline.points(p)[0]["members"][0]
    twins = [point, {**point, "rep": 1}]
    slowed_cycles: set[int] = set()
    with cpu_quota.CpuQuota(1.0, period_s=0.01) as group, pipeline.prepare(p) as ctx:
        group.add(os.getpid())                   # the measured processes inherit the group

        def third(c: int, cycles: int) -> None:  # the middle third of the cycles is slowed
            slow = cycles // 3 <= c < 2 * cycles // 3
            if slow:
                slowed_cycles.add(c)
            _quota(group, SLOW if slow else 1.0)

        rows = pipeline._measure_group(twins, p, ctx["path"], ctx, on_cycle=third)
        _quota(group, 1.0)
        a, b = (r["slice_rates"] for r in rows)
        single = {**p, "pairing": "none", "window_s": 1.5}
        first = pipeline.measure(point, single, ctx=ctx)[0]["throughput_rps"]
        _quota(group, SLOW)
        second = pipeline.measure({**point, "rep": 1}, single, ctx=ctx)[0]["throughput_rps"]
        _quota(group, 1.0)
    slices = (f"slices a={[round(x) for x in a]} b={[round(x) for x in b]} "
              f"slowed={sorted(slowed_cycles)}")
    slowed = min(a) / statistics.median(a)
    assert slowed < 0.75, f"the injected slowdown did not show in the slices ({slowed:.2f})"
    # the slowdown moves the paired ratio by little: the interval of that move holds 0, give or
    # take a little (a 95% interval misses the truth 1 run in 20 by construction, and a slice's
    # place in the cycle leaves a small bias) ...
    lo, hi = _shift_interval(a, b, slowed_cycles)
    assert lo - 0.05 <= 0.0 <= hi + 0.05, (lo, hi, slices)
    # ... while one after the other the ratio moves by far more than the paired interval's width
    plo, phi = _paired_interval(a, b)
    assert first / second > phi + 0.2, (first / second, (plo, phi), slices)
