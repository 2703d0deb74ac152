"""Claims' 95% intervals, the INCONCLUSIVE verdict and the follow-up reps' budget (issue 21)."""

from __future__ import annotations

import contextlib
import sys
import types

import pytest

from whyevents.repro import claims, paths, runner, store

FIFO = {"backend": "whyevents", "scheduler": "fifo"}
EVENT = {"backend": "event", "scheduler": "-"}

CLAIM = {"id": "T1", "section": "test", "sentence": "fifo matches event",
         "experiment": "pipeline", "summary": "fifo matches event at 1k tasks",
         "metric": "ratio_between",
         "args": {"a": FIFO, "b": EVENT, "x": "tasks", "y": "throughput_rps", "at": 1000},
         "comparison": {"op": ">=", "threshold": 0.8},
         "profiles": {"quick": {"tolerance": 0.0}, "full": {"tolerance": 0.0}}}


def _claim(**over) -> claims.Claim:
    return claims.Claim.from_dict({**CLAIM, **over})


def rows_at(fifo: list[float], event: list[float], tasks: int = 1000) -> list[dict]:
    """One row per rep of fifo and of event at ``tasks``."""
    out = []
    for rep, (f, e) in enumerate(zip(fifo, event, strict=True)):
        out.append({**FIFO, "tasks": tasks, "build": "interpreted", "rep": rep,
                    "throughput_rps": f, "status": "ok"})
        out.append({**EVENT, "tasks": tasks, "build": "interpreted", "rep": rep,
                    "throughput_rps": e, "status": "ok"})
    return out


# -- intervals ----------------------------------------------------------------------------------

def test_interval_of_identical_reps_is_the_value():
    (lo, hi), basis = claims.interval(_claim(), rows_at([90.0] * 3, [100.0] * 3), "quick")
    assert basis == "reps" and lo == hi == pytest.approx(0.9)


def test_interval_spans_the_spread_of_the_reps_and_is_deterministic():
    rows = rows_at([70.0, 90.0, 110.0], [100.0, 100.0, 100.0])
    (lo, hi), basis = claims.interval(_claim(), rows, "quick")
    assert basis == "reps"
    # the median of 3 reps resampled can be any of them, and the interval reaches both ends
    # (each end is the median of a resample with probability 7/27, above the tail's share)
    assert lo == pytest.approx(0.7) and hi == pytest.approx(1.1)
    assert claims.interval(_claim(), list(rows), "quick") == ((lo, hi), basis)


def test_interval_narrows_with_more_reps_of_small_spread():
    wide = claims.interval(_claim(), rows_at([80.0, 100.0, 120.0], [100.0] * 3), "quick")[0]
    many = [98.0, 99.0, 100.0, 101.0, 102.0] * 4
    narrow = claims.interval(_claim(), rows_at(many, [100.0] * len(many)), "quick")[0]
    assert narrow[1] - narrow[0] < (wide[1] - wide[0]) / 5
    assert narrow[0] <= 1.0 <= narrow[1]


def test_single_rows_give_a_zero_width_interval():
    rows = [{k: v for k, v in r.items() if k != "rep"} for r in rows_at([90.0], [100.0])]
    assert claims.interval(_claim(), rows, "quick") == ((pytest.approx(0.9),) * 2, "single")


def test_a_point_giving_several_rows_per_rep_is_resampled_by_rep():
    # two series of one point (the compiler's kind): same key fields, one rep; not "reps"
    rows = [{**FIFO, "tasks": 1000, "rep": 0, "throughput_rps": 90.0},
            {**EVENT, "tasks": 1000, "rep": 0, "throughput_rps": 100.0}]
    assert claims.interval(_claim(), rows, "quick")[1] == "single"


def test_paired_slices_are_resampled_together():
    """A slowdown hitting both sides of the same cycles leaves the paired ratio tight."""
    slow = [1.0, 1.0, 0.5, 0.5, 1.0, 1.0, 0.5, 1.0, 1.0, 0.5]       # the host, per cycle
    rows = []
    for rep in range(3):
        for where, rate in ((FIFO, 90.0), (EVENT, 100.0)):
            s = [rate * f for f in slow]
            rows.append({**where, "tasks": 1000, "build": "interpreted", "rep": rep,
                         "pair": "tasks=1000/interpreted", "slice_rates": s,
                         "throughput_rps": sum(s) / len(s), "status": "ok"})
    (lo, hi), basis = claims.interval(_claim(), rows, "quick")
    assert basis == "slices" and lo == pytest.approx(0.9) and hi == pytest.approx(0.9)
    # the same slices unpaired (event's cycles in another order, as if measured at another
    # time): the resampled means move apart and the interval opens
    for r in rows:
        if r["backend"] == "event":
            r["pair"] = "elsewhere"
            r["slice_rates"] = r["slice_rates"][::-1][1:] + r["slice_rates"][::-1][:1]
    (lo2, hi2), _ = claims.interval(_claim(), rows, "quick")
    assert hi2 - lo2 > 0.1


def test_basis_names_what_the_claim_s_own_points_were_resampled_by():
    """A run whose other points were sliced (the compiler's pipeline groups beside its graph
    counts): a claim reading only repeated unsliced points says "reps", not "slices"."""
    rows = rows_at([90.0, 91.0], [100.0, 100.0])
    s = [120.0, 125.0, 118.0]
    rows += [{"backend": "coro", "scheduler": "-", "tasks": 1000, "build": "interpreted",
              "rep": rep, "pair": "tasks=1000/interpreted", "slice_rates": s,
              "throughput_rps": sum(s) / 3, "status": "ok"} for rep in range(2)]
    assert claims.interval(_claim(), rows, "quick")[1] == "reps"
    coro = _claim(args={**CLAIM["args"], "a": {"backend": "coro"}})
    assert claims.interval(coro, rows, "quick")[1] == "slices"


def test_a_group_whose_round_outlasts_a_slice_is_resampled_by_rep():
    """A round of 1,000 completions takes three slices and its completions come in bursts:
    single slices swing with the round's period, so such a group keeps each member's whole
    window and only its reps (drawn jointly) are resampled."""
    period = [0.0, 1250.0, 3750.0]                       # mean 1,666.7/s: a round is 0.6 s
    rows = []
    for rep, host in enumerate((1.0, 0.6, 0.8)):         # the host's speed in that rep
        for where, scale, shift in ((FIFO, 0.9, 1), (EVENT, 1.0, 0)):
            s = [host * scale * period[(i + shift) % 3] for i in range(15)]
            rows.append({**where, "tasks": 1000, "build": "interpreted", "rep": rep,
                         "pair": "tasks=1000/interpreted", "slice_rates": s, "slice_s": 0.2,
                         "throughput_rps": sum(s) / len(s), "status": "ok"})
    assert claims._round_outlasts_slice(rows[:2])
    (lo, hi), basis = claims.interval(_claim(), rows, "quick")
    assert basis == "slices" and lo == pytest.approx(0.9) and hi == pytest.approx(0.9)
    for r in rows:                                        # no slice length: single slices
        del r["slice_s"]
    assert not claims._round_outlasts_slice(rows[:2])
    (lo1, hi1), _ = claims.interval(_claim(), rows, "quick")
    assert hi1 - lo1 > 0.3


def test_a_slice_of_few_rounds_counts_in_round_steps_and_is_not_resampled_alone():
    """A slice's rate counts whole rounds: 10,000 tasks at about 200,000/s in 0.2 s slices is
    four rounds a slice, so each slice reads 150, 200 or 250 thousand by where the rounds fell.
    Such a group is resampled by rep; one whose slices hold 40 rounds (1,000 tasks) by slice."""
    steps = [150e3, 250e3, 200e3, 200e3, 150e3, 250e3]
    rows = []
    for rep in range(3):
        for where, scale in ((FIFO, 0.8), (EVENT, 1.0)):
            s = [scale * steps[(i + 2 * rep + (where is FIFO)) % 6] for i in range(5)]
            rows.append({**where, "tasks": 10000, "build": "interpreted", "rep": rep,
                         "pair": "tasks=10000/interpreted", "slice_rates": s, "slice_s": 0.2,
                         "throughput_rps": sum(s) / len(s), "status": "ok"})
    assert claims._round_outlasts_slice(rows[:2])        # 0.05 s rounds: four a slice
    at = _claim(args={**CLAIM["args"], "at": 10000})
    (lo, hi), _ = claims.interval(at, rows, "quick")
    by_slice = claims.ROUNDS_PER_SLICE
    try:
        claims.ROUNDS_PER_SLICE = 1                        # the old rule: slices one by one
        assert not claims._round_outlasts_slice(rows[:2])
        (lo1, hi1), _ = claims.interval(at, rows, "quick")
    finally:
        claims.ROUNDS_PER_SLICE = by_slice
    assert hi - lo < (hi1 - lo1) / 2                     # the round steps were most of it
    fine = [{**r, "tasks": 1000} for r in rows]          # 0.005 s rounds: forty a slice
    assert not claims._round_outlasts_slice(fine[:2])


# -- verdicts -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("op", "value", "lo", "hi", "thr", "want"), [
    (">=", 0.9, 0.85, 0.95, 0.8, "PASS"),
    (">=", 0.9, 0.75, 0.95, 0.8, "INCONCLUSIVE"),
    (">=", 0.7, 0.6, 0.79, 0.8, "FAIL"),
    ("<=", 0.05, 0.01, 0.09, 0.1, "PASS"),
    ("<=", 0.05, 0.01, 0.2, 0.1, "INCONCLUSIVE"),
    ("between", 1.0, 0.9, 1.1, (0.8, 1.25), "PASS"),
    ("between", 1.2, 1.1, 1.3, (0.8, 1.25), "INCONCLUSIVE"),
    ("between", 1.5, 1.3, 1.6, (0.8, 1.25), "FAIL"),
    ("between", 0.5, 0.3, 0.79, (0.8, 1.25), "FAIL"),
    (">=", float("nan"), 0.1, 0.2, 0.8, "FAIL"),
])
def test_decide(op, value, lo, hi, thr, want):
    assert claims.decide(op, value, lo, hi, thr) == want


def test_straddling_interval_is_inconclusive_and_fails_a_check():
    rows = rows_at([60.0, 85.0, 110.0], [100.0] * 3)
    v = claims.evaluate(_claim(), rows, "quick")
    assert v.status == claims.INCONCLUSIVE and not v.passed
    assert v.message == "T1 INCONCLUSIVE — fifo matches event at 1k tasks"
    assert v.interval[0] < 0.8 < v.interval[1] and v.basis == "reps"
    assert claims.INCONCLUSIVE in claims.VERDICTS


def test_clearly_above_passes_clearly_below_fails():
    up = claims.evaluate(_claim(), rows_at([95.0, 97.0, 99.0], [100.0] * 3), "quick")
    assert up.status == claims.PASS and up.passed and up.interval[0] > 0.8
    down = claims.evaluate(_claim(), rows_at([50.0, 55.0, 60.0], [100.0] * 3), "quick")
    assert down.status == claims.FAIL and down.interval[1] < 0.8


def test_tolerance_moves_the_threshold_the_interval_is_compared_with():
    rows = rows_at([70.0, 75.0, 78.0], [100.0] * 3)
    assert claims.evaluate(_claim(), rows, "quick").status == claims.FAIL
    loose = _claim(profiles={"quick": {"tolerance": 0.15}, "full": {}})
    assert claims.evaluate(loose, rows, "quick").status == claims.PASS


def test_points_used_are_the_metric_s_points_only():
    rows = rows_at([90.0] * 2, [100.0] * 2) + rows_at([90.0] * 2, [100.0] * 2, tasks=10)
    rows += [{"backend": "whyevents", "scheduler": "pth", "tasks": 1000, "rep": 0,
              "build": "interpreted", "throughput_rps": 1.0}]
    got = claims.points_used(_claim(), rows, "quick")
    assert sorted((p["backend"], p["tasks"]) for p in got) == [("event", 1000),
                                                                 ("whyevents", 1000)]
    flat = _claim(metric="flatness", args={"where": FIFO, "x": "tasks", "y": "throughput_rps",
                                           "xmin": 10, "xmax": 1000})
    assert sorted(p["tasks"] for p in claims.points_used(flat, rows, "quick")) == [10, 1000]


# -- the follow-up budget -----------------------------------------------------------------------

def _fake(values):
    """A pipeline-like module whose fifo rate at 1,000 tasks is ``values(rep)`` (event 100)."""
    mod = types.ModuleType("whyevents_fake_intervals")
    mod.EXPERIMENT = "pipeline"
    mod.DESCRIPTION = "fake"
    mod.KEY_FIELDS = ("backend", "scheduler", "tasks", "build", "rep")
    mod.SUMMARY_FIELDS = ("throughput_rps",)
    base = {"tasks": [10, 1000], "reps": 3, "extra_reps": 4}
    mod.PROFILES = {"quick": dict(base), "full": dict(base)}
    mod.PARAM_HELP = {}
    mod.measured = []

    def check_params(p):
        return p

    def points(p):
        return [{**cfg, "tasks": t, "build": "interpreted", "rep": r}
                for r in range(p["reps"]) for t in p["tasks"] for cfg in (FIFO, EVENT)]

    def measure(point, p, *, ctx=None, progress=None):
        mod.measured.append(point)
        rate = 100.0 if point["backend"] == "event" else values(point["rep"])
        return [{**point, "throughput_rps": rate, "status": "ok"}]

    mod.check_params, mod.points, mod.measure = check_params, points, measure
    mod.prepare = lambda p: contextlib.nullcontext()
    return mod


@pytest.fixture
def with_claim(monkeypatch, tmp_path):
    import yaml

    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump({"claims": [CLAIM]}))
    monkeypatch.setattr(paths, "CLAIMS_YAML", path)

    def install(values):
        mod = _fake(values)
        monkeypatch.setitem(sys.modules, mod.__name__, mod)
        monkeypatch.setitem(runner.EXPERIMENTS, "fakeint", mod.__name__)
        return mod
    return install


def test_follow_up_measures_only_the_points_in_doubt_until_decided(with_claim, tmp_path):
    # one low rep of three leaves the median's interval astride 0.8; reps near 0.95 settle it
    # (a median's bootstrap needs the low rep to be a small minority: a few rounds)
    spread = {0: 75.0, 1: 90.0, 2: 110.0}
    mod = with_claim(lambda rep: spread.get(rep, 95.0))
    run = runner.run_experiment("fakeint", "quick", progress=False, root=tmp_path / "r")
    fu = run.provenance["follow_up"]
    assert fu["budget"] == 4 and fu["inconclusive"] == []
    assert 1 <= len(fu["rounds"]) <= 4 and fu["rounds"][0]["claims"] == ["T1"]
    extra = mod.measured[12:]
    assert extra and {(p["backend"], p["tasks"]) for p in extra} == {("whyevents", 1000),
                                                                     ("event", 1000)}
    assert [p["rep"] for p in extra][:2] == [3, 3]
    assert claims.evaluate(_claim(), run.rows(), "quick").status == claims.PASS


def test_follow_up_stops_at_the_budget_and_the_check_then_fails(with_claim, tmp_path):
    mod = with_claim(lambda rep: (60.0, 110.0)[rep % 2])
    run = runner.run_experiment("fakeint", "quick", progress=False, root=tmp_path / "r")
    fu = run.provenance["follow_up"]
    assert len(fu["rounds"]) == 4 and fu["inconclusive"] == ["T1"]
    assert len(mod.measured) == 12 + 4 * 2
    with pytest.raises(claims.ClaimFailed, match="INCONCLUSIVE"):
        claims.check("T1", "quick", run.rows())
    reloaded = store.latest("pipeline", root=tmp_path / "r")
    assert reloaded.provenance["follow_up"]["inconclusive"] == ["T1"]


def test_a_single_rep_value_gets_a_second_rep_whichever_side_it_is_on(with_claim, tmp_path):
    # One rep of each point: a value, no interval (basis single). Clearly passing or clearly
    # failing, the sweep buys the second rep alike before deciding; then it is settled.
    for rate, status in ((95.0, claims.PASS), (50.0, claims.FAIL)):
        mod = with_claim(lambda rep, rate=rate: rate)
        run = runner.run_experiment("fakeint", "quick", {"reps": 1}, progress=False,
                                    root=tmp_path / f"r{rate}")
        fu = run.provenance["follow_up"]
        assert [r["claims"] for r in fu["rounds"]] == [["T1"]] and fu["inconclusive"] == []
        assert len(mod.measured) == 4 + 2 and {p["rep"] for p in mod.measured[4:]} == {1}
        v = claims.evaluate(_claim(), run.rows(), "quick")
        assert v.status == status and v.basis != "single"


def test_single_basis_is_undecided_only_for_the_budget(with_claim, tmp_path):
    rows = rows_at([95.0], [100.0])
    assert claims.evaluate(_claim(), rows, "quick").basis == "single"
    assert runner.inconclusive_points("pipeline", "quick", rows)[0] == ["T1"]
    assert runner.inconclusive_points("pipeline", "quick", rows, single=False)[0] == []


def test_a_deterministic_claim_is_decided_by_its_one_rep(with_claim, tmp_path, monkeypatch):
    # a count with no sampling spread (claims.yaml's C4.1-C4.3): one rep is its verdict, so the
    # budget buys nothing for it; the same claim without the declaration gets its second rep
    import yaml

    path = tmp_path / "det.yaml"
    path.write_text(yaml.safe_dump({"claims": [{**CLAIM, "deterministic": "a count"}]}))
    monkeypatch.setattr(paths, "CLAIMS_YAML", path)
    (claim,) = claims.load_claims()
    assert claim.deterministic == "a count"
    rows = rows_at([95.0], [100.0])
    assert claims.evaluate(claim, rows, "quick").basis == "single"
    assert runner.inconclusive_points("pipeline", "quick", rows) == ([], [])
    mod = with_claim(lambda rep: 95.0)
    monkeypatch.setattr(paths, "CLAIMS_YAML", path)
    run = runner.run_experiment("fakeint", "quick", {"reps": 1}, progress=False,
                                root=tmp_path / "r")
    assert len(mod.measured) == 4 and run.provenance["follow_up"]["rounds"] == []
    # INCONCLUSIVE still gets rounds: the declaration excuses a single rep, not an interval
    mod = with_claim(lambda rep: (60.0, 110.0)[rep % 2])
    monkeypatch.setattr(paths, "CLAIMS_YAML", path)
    run = runner.run_experiment("fakeint", "quick", progress=False, root=tmp_path / "r2")
    assert len(run.provenance["follow_up"]["rounds"]) == 4


def test_no_budget_no_follow_up(with_claim, tmp_path):
    mod = with_claim(lambda rep: (60.0, 110.0)[rep % 2])
    run = runner.run_experiment("fakeint", "quick", {"extra_reps": 0}, progress=False,
                                root=tmp_path / "r")
    assert len(mod.measured) == 12 and "follow_up" not in run.provenance


def _with_divergence(tmp_path, monkeypatch, *others):
    import yaml

    path = tmp_path / "div.yaml"
    path.write_text(yaml.safe_dump({"claims": [{**CLAIM, "divergence": "measured otherwise"},
                                               *others]}))
    monkeypatch.setattr(paths, "CLAIMS_YAML", path)


def test_an_inconclusive_known_divergence_gets_the_budget_second(with_claim, tmp_path,
                                                                  monkeypatch):
    # alone and INCONCLUSIVE, a divergence gets the rounds (a verdict two runs should share)
    mod = with_claim(lambda rep: (60.0, 110.0)[rep % 2])
    _with_divergence(tmp_path, monkeypatch)
    run = runner.run_experiment("fakeint", "quick", progress=False, root=tmp_path / "r")
    fu = run.provenance["follow_up"]
    assert [r["claims"] for r in fu["rounds"]] == [["T1"]] * 4 and fu["inconclusive"] == ["T1"]
    assert len(mod.measured) == 12 + 4 * 2
    # decided one way or the other, it gets nothing; nor a divergence with one rep (single)
    for rates in ((95.0, 96.0), (50.0, 51.0)):
        mod = with_claim(lambda rep, r=rates: r[rep % 2])
        run = runner.run_experiment("fakeint", "quick", progress=False,
                                    root=tmp_path / f"d{rates[0]}")
        assert len(mod.measured) == 12 and run.provenance["follow_up"]["rounds"] == []
    assert runner.inconclusive_points("pipeline", "quick", rows_at([95.0], [100.0]))[0] == []


def test_a_divergence_is_measured_in_the_same_rounds_as_the_others(with_claim, tmp_path,
                                                                    monkeypatch):
    # both INCONCLUSIVE: each round measures the points of both, the one that can fail a cell
    # named first; a divergence waiting for the others to be decided may never get a round
    # (a full web sweep spent all four on C3.3 and left C2.8 with none)
    mod = with_claim(lambda rep: (60.0, 110.0)[rep % 2])
    _with_divergence(tmp_path, monkeypatch, {**CLAIM, "id": "T2"})
    ids, _ = runner.inconclusive_points("pipeline", "quick", rows_at([60.0, 110.0, 60.0],
                                                                     [100.0] * 3))
    assert ids == ["T2", "T1"]
    run = runner.run_experiment("fakeint", "quick", progress=False, root=tmp_path / "r")
    fu = run.provenance["follow_up"]
    assert [r["claims"] for r in fu["rounds"]] == [["T2", "T1"]] * 4
    assert sorted(fu["inconclusive"]) == ["T1", "T2"]          # what is left, both kinds
    assert len(mod.measured) == 12 + 4 * 2


def test_a_bandwidth_claim_missing_for_want_of_server_bound_points_gets_rounds():
    """A quick web run beside a CPU hog flagged the async Knot-C's points at 1,024 clients as not
    server-bound (client above 0.8 of its core), leaving C4.7 MISSING and failing its cell with
    budget to spare. Such a claim is undecided: its points, flagged ones included, get another
    rep. A claim missing points that were never measured is not."""
    def row(server, clients, rep, mbit, ok=True):
        return {"server": server, "poller": "epoll", "clients": clients, "build": "interpreted",
                "rep": rep, "mbit_s": mbit, "cpu_us_per_request": 50.0, "status": "ok",
                "claim_eligible": ok, "flag": "" if ok else "client at 0.84 of its core (> 0.8)"}
    rows = [row(s, c, 0, 500.0, ok=not (s == "knot-c-async" and c == 1024))
            for c in (1024, 4096) for s in ("knot-c-async", "eventloop", "knot-c")]
    c47 = claims.get_claim("C4.7")
    with pytest.raises(claims.MissingData):
        claims.evaluate(c47, rows, "quick")
    assert claims.wants_bound_points(c47, rows, "quick")
    ids, pts = runner.inconclusive_points("web", "quick", rows)
    assert "C4.7" in ids
    assert {"server": "knot-c-async", "poller": "epoll", "clients": 1024,
            "build": "interpreted"} in pts
    # never measured at 4,096: missing whatever is kept, so no round is bought for it
    short = [r for r in rows if r["clients"] == 1024]
    assert not claims.wants_bound_points(c47, short, "quick")
    assert "C4.7" not in runner.inconclusive_points("web", "quick", short)[0]
    # decidable: nothing wanted
    fine = [{**r, "claim_eligible": True} for r in rows]
    assert not claims.wants_bound_points(c47, fine, "quick")


def test_points_missing_a_follow_up_rep_of_their_group_stay_paired():
    """A web run beside a CPU hog (20261207T182802Z-f700): follow-up rounds measured Knot-C and
    SEDA on poll at reps 2 and 3, the async Knot-C and the twin not. A draw of rep 2 or 3 then
    gave each of those two its own substitute rep, unpaired: the interval of C4.6 reached 1.58
    while every rep's ratio lay in 1.04-1.26."""
    cpu = {1024: ([55.3, 82.3, 74.1], [49.4, 71.8, 63.0]),
           4096: ([73.5, 105.6, 53.3], [70.6, 83.8, 47.4])}
    rows = []
    for clients, (a, b) in cpu.items():
        for rep, (va, vb) in zip((0, 1, 4), zip(a, b, strict=True), strict=True):
            for server, poller, v in (("knot-c-async", "epoll", va), ("eventloop", "epoll", vb)):
                rows.append({"server": server, "poller": poller, "clients": clients,
                             "build": "interpreted", "rep": rep, "status": "ok",
                             "cpu_us_per_request": v})
        for rep in range(5):                    # the other servers of the group, more reps
            for server in ("knot-c", "seda"):
                rows.append({"server": server, "poller": "poll", "clients": clients,
                             "build": "interpreted", "rep": rep, "status": "ok",
                             "cpu_us_per_request": 90.0 + 10 * rep})
    claim = claims.get_claim("C4.6")
    v = claims.evaluate(claim, rows, "quick")
    lo, hi = v.interval
    assert 1.04 - 1e-9 <= lo and hi <= 1.26 + 1e-9, v.interval
    assert v.basis == "paired reps" and v.status == claims.PASS
