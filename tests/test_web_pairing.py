"""The web sweep's servers measured side by side and resampled as paired reps (issue 21).

``web.points`` runs each client count's servers in ABBA order over the reps, and ``web.PAIRED_BY``
tells the claims' bootstrap (``claims.interval``) that the servers of one client count, build and
rep share that rep's host: a slow rep slows both sides of a ratio alike and must not widen its
interval. These tests build rows whose noise is common to a rep, or independent per server, and
compare the paired interval with the one from independent draws (``PAIRED_BY`` emptied).
"""

from __future__ import annotations

import random

import pytest

from whyevents.experiments import web as sweep
from whyevents.repro import claims

KNOT = {"server": "knot-c", "poller": "poll"}
SEDA = {"server": "seda", "poller": "poll"}
CLIENTS = (1024, 4096, 16384)
TRUE_RATIO = 0.9

CLAIM = {"id": "TW", "section": "test", "sentence": "knot-c matches seda",
         "experiment": "web", "summary": "knot-c/poll over seda from 1k to 16k clients",
         "metric": "ratio_between",
         "args": {"a": KNOT, "b": SEDA, "x": "clients", "y": "mbit_s", "xmin": 1024,
                  "xmax": 16384, "agg": "median"},
         "comparison": {"op": ">=", "threshold": 0.8},
         "profiles": {"quick": {"tolerance": 0.0}, "full": {"tolerance": 0.0}}}


def _claim() -> claims.Claim:
    return claims.Claim.from_dict(CLAIM)


def _rows(reps: int, *, common: bool, seed: int = 1, build: object = "interpreted") -> list:
    """knot-c/poll at ``TRUE_RATIO`` of seda's bandwidth at each client count and rep, times a
    host factor drawn per (clients, rep) when ``common`` (a slow rep slows both) or per
    (server, clients, rep) otherwise; a small independent jitter on every point either way."""
    rng = random.Random(seed)
    out = []
    for clients in CLIENTS:
        for rep in range(reps):
            host = rng.uniform(0.5, 1.1)
            for where, base in ((KNOT, TRUE_RATIO * 200.0), (SEDA, 200.0)):
                f = host if common else rng.uniform(0.5, 1.1)
                row = {**where, "clients": clients, "rep": rep, "status": "ok",
                       "mbit_s": base * f * rng.uniform(0.99, 1.01)}
                if build is not None:
                    row["build"] = build
                out.append(row)
    return out


def _width(iv: tuple[float, float]) -> float:
    return iv[1] - iv[0]


def _unpaired(monkeypatch, rows) -> tuple[tuple[float, float], str]:
    with monkeypatch.context() as m:
        m.setattr(sweep, "PAIRED_BY", ())
        return claims.interval(_claim(), rows, "full")


# -- the order of the points --------------------------------------------------------------------

def test_points_reverse_the_servers_on_odd_reps_and_measure_each_once():
    p = sweep.check_params(dict(sweep.PROFILES["quick"], reps=4, together=[]))  # one at a time
    pts = sweep.points(p)
    configs = [tuple(c.split("/")) for c in p["servers"]]
    keys = [(q["server"], q["poller"], q["clients"], q["rep"]) for q in pts]
    assert len(keys) == len(set(keys)) == len(configs) * len(p["clients"]) * 4
    assert set(keys) == {(s, pol, c, r) for s, pol in configs for c in p["clients"]
                         for r in range(4)}
    for clients in p["clients"]:
        for rep in range(4):
            order = [(q["server"], q["poller"]) for q in pts
                     if q["clients"] == clients and q["rep"] == rep]
            assert order == (configs if rep % 2 == 0 else configs[::-1])
    # each client count's servers stay together within a rep (the pairing's premise)
    runs = [(q["rep"], q["clients"]) for q in pts]
    assert [k for i, k in enumerate(runs) if i == 0 or runs[i - 1] != k] == \
        [(r, c) for r in range(4) for c in p["clients"]]
    assert all(set(q) == set(sweep.KEY_FIELDS) and q["paired_group"] is None for q in pts)


def test_paired_by_names_point_fields():
    assert set(sweep.PAIRED_BY) <= set(sweep.KEY_FIELDS) - {"rep", "server", "poller"}


# -- paired reps in the bootstrap ---------------------------------------------------------------

def test_a_slow_rep_shared_by_the_servers_leaves_the_paired_interval_narrow(monkeypatch):
    rows = _rows(5, common=True)
    (lo, hi), basis = claims.interval(_claim(), rows, "full")
    assert basis == "paired reps"
    assert lo <= TRUE_RATIO <= hi
    unpaired, ubasis = _unpaired(monkeypatch, rows)
    assert ubasis == "reps"
    assert _width((lo, hi)) < _width(unpaired) / 4


def test_independent_noise_is_not_narrowed_by_pairing(monkeypatch):
    """Pairing narrows only what the reps share: per-server noise keeps its width."""
    rows = _rows(5, common=False)
    paired, basis = claims.interval(_claim(), rows, "full")
    unpaired, _ = _unpaired(monkeypatch, rows)
    assert basis == "paired reps"
    assert _width(paired) > 0.6 * _width(unpaired) and _width(paired) > 0.1


def test_paired_intervals_are_deterministic():
    rows = _rows(5, common=True, seed=7)
    first = claims.interval(_claim(), rows, "full")
    assert claims.interval(_claim(), [dict(r) for r in rows], "full") == first
    v = claims.evaluate(_claim(), rows, "full")
    assert v.basis == "paired reps" and v.status == claims.PASS
    assert claims.evaluate(_claim(), rows, "full") == v


def test_a_rep_missing_for_one_server_falls_back_to_its_own_reps():
    rows = _rows(5, common=True)
    # one seda point not server-bound (eligible_rows drops it), another never measured
    for r in rows:
        if r["server"] == "seda" and r["clients"] == 4096 and r["rep"] == 2:
            r["claim_eligible"] = False
    rows = [r for r in rows if not (r["server"] == "knot-c" and r["clients"] == 16384
                                    and r["rep"] == 4)]
    v = claims.evaluate(_claim(), rows, "full")
    assert v.basis == "paired reps"
    assert v.interval[0] <= TRUE_RATIO <= v.interval[1]
    assert claims.evaluate(_claim(), rows, "full").interval == v.interval


@pytest.mark.parametrize("build", [None, "", float("nan")])
def test_runs_without_a_build_column_are_one_group(monkeypatch, build):
    """Stored runs from before ``build`` (absent, or empty/NaN from a CSV) still pair by rep."""
    rows = _rows(5, common=True, build=build)
    (lo, hi), basis = claims.interval(_claim(), rows, "full")
    assert basis == "paired reps" and lo <= TRUE_RATIO <= hi
    assert _width((lo, hi)) < _width(_unpaired(monkeypatch, rows)[0]) / 4


def test_single_rep_runs_stay_single():
    rows = _rows(1, common=True)
    (lo, hi), basis = claims.interval(_claim(), rows, "full")
    assert basis == "single" and lo == hi


def _params(**over) -> dict:
    return sweep.check_params({**sweep.PROFILES["full"], **over})


def test_follow_up_points_pair_like_the_sweep():
    """A follow-up round's points come grouped by client count, servers side by side, in the
    sweep's order on an even rep and backwards on an odd one (ABBA continues)."""
    params = _params(servers=["knot-c/poll", "seda/poll", "eventloop/epoll"], together=[])
    wanted = [{"server": s, "poller": p, "clients": c, "build": "interpreted", "rep": 3}
              for c in (16384, 1024) for s, p in (("eventloop", "epoll"), ("knot-c", "poll"))]
    odd = sweep.follow_up_points(params, list(wanted))
    assert [(p["clients"], p["server"]) for p in odd] == [
        (1024, "eventloop"), (1024, "knot-c"), (16384, "eventloop"), (16384, "knot-c")]
    even = sweep.follow_up_points(params, [{**p, "rep": 4} for p in wanted])
    assert [(p["clients"], p["server"]) for p in even] == [
        (1024, "knot-c"), (1024, "eventloop"), (16384, "knot-c"), (16384, "eventloop")]
    assert sorted(map(repr, odd)) == sorted(map(repr, wanted))      # nothing added or lost


def test_extra_reps_parameter():
    # quick's one rep is a value without an interval: its claims get follow-up reps too
    assert sweep.PROFILES["full"]["extra_reps"] > 0 and sweep.PROFILES["quick"]["extra_reps"] > 0
    with pytest.raises(ValueError, match="extra_reps"):
        _params(extra_reps=-1)
    stored = dict(sweep.PROFILES["full"])
    del stored["extra_reps"]                      # a run stored before the parameter existed
    assert sweep.check_params(stored)["extra_reps"] == 0


# -- a slowdown injected on the server core: servers measured together share it --------------

#: busy processes on the server core: enough to hold each server well under its allotment even
#: when other work already shares the core (a second test run beside this one, say)
HOGS = 8


def _hog(cpu: int, n: int) -> list:
    """``n`` busy processes pinned to ``cpu`` (each its own CFS entity beside the servers'
    cgroups, so together they take most of the core)."""
    import subprocess
    import sys

    code = f"import os; os.sched_setaffinity(0, {{{cpu}}})\nwhile True: pass"
    # each its own session: with autogroups on, a session is one scheduling entity
    return [subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
            for _ in range(n)]


def _stop(hogs: list) -> None:
    for h in hogs:
        h.kill()
        h.wait()


def test_servers_together_share_a_slowdown_that_moves_one_after_the_other():
    """Knot-C and the twin, server-bound (no think time) under 0.4 core each: measured together
    with a CPU hog on the server core, their bandwidth ratio stays where it is without the hog,
    though each slows; measured one after the other with the hog on the second only, the ratio
    moves far."""
    import shutil

    from whyevents.harness import cpu_quota, procs

    ok, why = cpu_quota.availability()
    if not ok or not procs.can_pin() or shutil.which("wrk") is None:
        pytest.skip(f"needs a writable cgroup CPU controller, 2+ cores and wrk ({why})")
    p = sweep.check_params(dict(
        sweep.PROFILES["quick"], servers=["knot-c/epoll", "eventloop/epoll"], clients=[16],
        reps=1, warmup=0.5, duration=2.0, think_time=0.0, scale=0.002, fileset_clients=64,
        server_cores=0.4, together=["knot-c/epoll+eventloop/epoll"]))
    (group,) = sweep.points(p)
    knot, twin = group["members"]
    with sweep.prepare(p) as ctx:
        def bw(rows):
            assert all(r["status"] == "ok" for r in rows), [r["error"] for r in rows]
            return [r["mbit_s"] for r in rows]

        calm = bw(sweep.measure(group, p, ctx=ctx))
        hogs = _hog(p["server_cpu"], HOGS)
        try:
            slowed = bw(sweep.measure(group, p, ctx=ctx))
        finally:
            _stop(hogs)
        (alone,) = bw(sweep.measure(knot, p, ctx=ctx))
        hogs = _hog(p["server_cpu"], HOGS)
        try:
            (twin_slowed,) = bw(sweep.measure(twin, p, ctx=ctx))
        finally:
            _stop(hogs)
    assert slowed[1] < 0.75 * calm[1], f"the hog did not slow the servers ({slowed}, {calm})"
    together = (slowed[0] / slowed[1]) / (calm[0] / calm[1])
    apart = (alone / twin_slowed) / (calm[0] / calm[1])
    assert abs(together - 1.0) < 0.25, together
    assert apart > 1.3 and apart > together + 0.25, (apart, together)


# -- one server at several client counts measured at once (``paired_group``) -------------------

FLAT = {"id": "TF", "section": "test", "sentence": "knot-a/poll degrades",
        "experiment": "web", "summary": "knot-a/poll at 16k clients over its peak",
        "metric": "ratio_at",
        "args": {"where": {"server": "knot-a", "poller": "poll"}, "x": "clients",
                 "y": "mbit_s", "at": 16384, "to": "peak"},
        "comparison": {"op": "<=", "threshold": 0.8},
        "profiles": {"full": {"tolerance": 0.0}}}
DROP = 0.7          # knot-a/poll's true bandwidth at 16,384 clients over its peak (256)


def _flat_rows(reps: int, group: str | None, seed: int = 3) -> list:
    """knot-a/poll at 256, 1,024 and 16,384 clients, each rep's three points slowed alike by
    one host factor (they ran at the same time), named as one ``paired_group`` or not."""
    rng = random.Random(seed)
    out = []
    for rep in range(reps):
        host = rng.uniform(0.6, 1.1)
        for clients, base in ((256, 400.0), (1024, 380.0), (16384, DROP * 400.0)):
            row = {"server": "knot-a", "poller": "poll", "clients": clients, "rep": rep,
                   "build": "interpreted", "status": "ok",
                   "mbit_s": base * host * rng.uniform(0.99, 1.01)}
            if group is not None:
                row["paired_group"] = group
            out.append(row)
    return out


def test_a_paired_group_across_client_counts_is_resampled_jointly():
    """Without the group, each client count's reps are drawn apart (``PAIRED_BY`` is the
    client count), so the host's swings widen the ratio's interval past the threshold; with it,
    the rep's three points are drawn together and the ratio stays where the host put it."""
    claim = claims.Claim.from_dict(FLAT)
    label = "knot-a/poll@256+knot-a/poll@1024+knot-a/poll@16384/interpreted"
    paired = claims.evaluate(claim, _flat_rows(5, label), "full")
    apart = claims.evaluate(claim, _flat_rows(5, None), "full")
    assert paired.basis == apart.basis == "paired reps"
    assert paired.interval[0] <= DROP <= paired.interval[1]
    assert paired.status == claims.PASS
    assert apart.status == claims.INCONCLUSIVE, apart
    assert _width(paired.interval) < _width(apart.interval) / 4
    # a CSV gives NaN where a row has no group: not a group of its own
    nan = [{**r, "paired_group": float("nan")} for r in _flat_rows(5, None)]
    assert claims.evaluate(claim, nan, "full").interval == apart.interval
