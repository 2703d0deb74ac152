"""The web sweep (``whyevents.experiments.web``): contract, parameters, points, and real
measurements.

The measuring tests start real server and client processes on loopback for about a second each;
they assert counts, columns, statuses and that no process is left behind, never a time.
"""

from __future__ import annotations

import math

import psutil
import pytest

from whyevents.experiments import web as sweep
from whyevents.harness.cpu_quota import availability
from whyevents.repro import claims, runner


def _children() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if p.is_running()
            and p.status() != psutil.STATUS_ZOMBIE]


def _small(**over) -> dict:
    p = dict(sweep.PROFILES["quick"], warmup=0.5, duration=1.0, scale=0.002,
             fileset_clients=64)
    p.update(over)
    return sweep.check_params(p)


@pytest.fixture(scope="module")
def ctx():
    with sweep.prepare(_small()) as c:
        yield c


# -- contract ---------------------------------------------------------------------------------

def test_contract_names():
    mod = runner.load("web")
    assert mod is sweep
    assert sweep.EXPERIMENT == "web"
    assert sweep.COLUMNS == claims.COLUMNS["web"]
    assert set(sweep.KEY_FIELDS) <= set(sweep.COLUMNS) | {"rep"}
    assert set(sweep.PROFILES["quick"]) == set(sweep.PROFILES["full"]) == set(sweep.PARAM_HELP)
    for profile in ("quick", "full"):
        assert sweep.check_params(dict(sweep.PROFILES[profile]))["servers"]
    assert {64, 1024, 4096} <= set(sweep.PROFILES["quick"]["clients"])
    assert 16384 in sweep.PROFILES["full"]["clients"]


def test_profiles_cover_the_claims_series():
    configs = set(sweep.PROFILES["quick"]["servers"])
    assert {"knot-c/poll", "knot-a/poll", "knot-a/epoll"} <= configs
    assert any(c.startswith("seda/") for c in configs)


@pytest.mark.parametrize("key,value", [
    ("servers", ["nginx/epoll"]),
    ("servers", ["knot-c/kqueue"]),
    ("servers", ["knot-c/poll", "knot-c/poll"]),
    ("clients", [0]),
    ("clients", []),
    ("reps", 0),
    ("warmup", -1.0),
    ("duration", 0.0),
    ("think_time", -0.1),
    ("requests_per_conn", 0),
    ("knot_c_threads", 0),
    ("scale", 0.0),
    ("cache_bytes", -5),
    ("seed", "x"),
    ("client_processes", -1),
    ("client_timeout", 0.0),
])
def test_check_params_names_the_parameter(key, value):
    params = dict(sweep.PROFILES["quick"], **{key: value})
    with pytest.raises(ValueError, match=f"^{key}"):
        sweep.check_params(params)


def test_check_params_rejects_unknown_and_runner_override():
    with pytest.raises(ValueError, match="nope"):
        sweep.check_params(dict(sweep.PROFILES["quick"], nope=1))
    p = runner.resolve_params(sweep, "quick", {"clients": "1,8", "servers": "seda/epoll"})
    assert p["clients"] == [1, 8] and p["servers"] == ["seda/epoll"]


def test_points_interleave_configs_clients_and_reps():
    p = sweep.check_params(dict(sweep.PROFILES["quick"], reps=2, together=[]))  # one at a time
    pts = sweep.points(p)
    configs = [tuple(c.split("/")) for c in p["servers"]]
    assert len(pts) == len(configs) * len(p["clients"]) * 2
    keys = {(q["server"], q["poller"], q["clients"], q["rep"]) for q in pts}
    assert keys == {(s, pol, c, r) for s, pol in configs for c in p["clients"] for r in (0, 1)}
    reps = [q["rep"] for q in pts]
    assert reps == sorted(reps)                  # every rep 0 before any rep 1
    assert all(set(sweep.KEY_FIELDS) <= set(q) for q in pts)
    assert {q["build"] for q in pts} == {"interpreted"}


def test_builds_parameter_and_their_interleaving(monkeypatch):
    from whyevents.accel import build as accel_build
    with pytest.raises(ValueError, match="builds: 'bogus' is not one of interpreted, compiled"):
        sweep.check_params(dict(sweep.PROFILES["quick"], builds="bogus"))
    with pytest.raises(ValueError, match="builds: empty"):
        sweep.check_params(dict(sweep.PROFILES["quick"], builds=[]))
    monkeypatch.setattr(accel_build, "check", lambda: False)
    with pytest.raises(ValueError, match="no usable compiled build"):
        sweep.check_params(dict(sweep.PROFILES["quick"], builds="interpreted,compiled"))
    monkeypatch.setattr(accel_build, "check", lambda: True)
    p = sweep.check_params(dict(sweep.PROFILES["quick"], builds="interpreted,compiled", reps=2,
                                clients=[1, 64], servers=["knot-c/epoll", "eventloop/epoll"],
                                together=[]))
    pts = sweep.points(p)
    assert len(pts) == 2 * 2 * 2 * 2
    # at each client count: one build's servers side by side, then the other's; the order of
    # the builds alternates by rep, so drift hits both alike
    first = [(q["build"], q["server"]) for q in pts if q["rep"] == 0 and q["clients"] == 1]
    assert first == [("interpreted", "knot-c"), ("interpreted", "eventloop"),
                     ("compiled", "knot-c"), ("compiled", "eventloop")]
    second = [q["build"] for q in pts if q["rep"] == 1 and q["clients"] == 1]
    assert second == ["compiled", "compiled", "interpreted", "interpreted"]
    assert accel_build.build_env("interpreted", {"X": "1"}) == {
        "X": "1", "WHYEVENTS_PURE_PYTHON": "1"}
    assert accel_build.build_env("compiled", {"WHYEVENTS_PURE_PYTHON": "1"}) == {}


def test_limits_and_skipped_point():
    cap = sweep.client_cap()
    lim = sweep.limits(dict(sweep.PROFILES["full"]))
    assert lim["clients_capped_at"] == cap and lim["why"]
    assert 65536 in lim["skipped_clients"] or cap >= 65536
    before = {p.pid for p in _children()}
    rows = sweep.measure({"server": "knot-a", "poller": "epoll", "clients": cap + 1, "rep": 0},
                         _small(), ctx={"root": "/nonexistent", "trace": ["/"]})
    assert len(rows) == 1
    row = rows[0]
    assert row["status"] == "skipped"
    assert "RLIMIT_NOFILE" in row["error"] and str(cap + 1) in row["error"]
    assert set(sweep.COLUMNS) <= set(row)
    assert {p.pid for p in _children()} <= before


# -- measuring ----------------------------------------------------------------------------------

@pytest.mark.parametrize("server,poller", [("knot-c", "epoll"), ("seda", "poll")])
def test_measure_small_point(ctx, server, poller):
    params = _small()
    seen = []
    rows = sweep.measure({"server": server, "poller": poller, "clients": 4,
                          "build": "interpreted", "rep": 0}, params,
                         ctx=ctx, progress=seen.append)
    assert len(rows) == 1
    row = rows[0]
    assert row["status"] == "ok", row["error"]
    assert row["build"] == row["build_used"] == "interpreted"     # the server process ran it
    assert set(sweep.COLUMNS) <= set(row)
    assert (row["server"], row["poller"], row["clients"], row["rep"]) == (server, poller, 4, 0)
    assert row["requests"] > 0 and row["mbit_s"] > 0
    assert row["errors"] == 0 and row["connection_failures"] == 0
    # Server and clients count over the same window: they agree up to the requests in flight
    # at either edge (at most one per client per edge) plus a little clock skew.
    slack = 2 * row["clients"] + 0.05 * row["requests"]
    assert abs(row["server_requests"] - row["requests"]) <= slack
    assert row["server_bytes"] > 0
    assert row["cpu_us_per_request"] > 0 and not math.isnan(row["cpu_us_per_request"])
    assert row["ctx_switches_per_request"] >= 0
    assert row["server_ctx_voluntary"] + row["server_ctx_involuntary"] == pytest.approx(
        row["ctx_switches_per_request"] * row["server_requests"])
    assert 0 <= row["own_ctx_switches_per_request"] <= row["ctx_switches_per_request"]
    assert row["server_throttled_periods"] >= 0
    assert row["server_rss_bytes"] > 0
    if server == "knot-c":
        assert row["green_switches"] > 0 and row["knot_c_threads"] == params["knot_c_threads"]
    assert any(s.get("phase") == "window" for s in seen) or any(
        "srv_req" in s for s in seen)
    assert _children() == []


def test_a_binding_quota_s_forced_switches_are_counted_and_left_out(ctx):
    """At a tenth of a core the quota throttles the server many times a window: the row
    counts the throttled periods and leaves as many involuntary switches out of the server's
    own (a real cgroup, a real server)."""
    ok, why = availability()
    if not ok:
        pytest.skip(f"no writable cgroup CPU controller: {why}")
    params = _small(server_cores=0.1, duration=1.5)
    (row,) = sweep.measure({"server": "knot-c", "poller": "epoll", "clients": 16,
                            "build": "interpreted", "rep": 0}, params, ctx=ctx)
    assert row["status"] == "ok", row["error"]
    throttled, invol = row["server_throttled_periods"], row["server_ctx_involuntary"]
    assert throttled >= 20, row                 # a 1.5 s window holds 150 periods of 10 ms
    own = row["server_ctx_voluntary"] + invol - min(invol, throttled)
    assert row["own_ctx_switches_per_request"] == pytest.approx(own / row["server_requests"])
    assert row["own_ctx_switches_per_request"] < row["ctx_switches_per_request"]


def test_server_that_fails_to_start_gives_failed_row(tmp_path):
    missing = tmp_path / "no-such-root"
    rows = sweep.measure({"server": "knot-a", "poller": "epoll", "clients": 2, "rep": 0},
                         _small(), ctx={"root": str(missing), "trace": ["/"]})
    row = rows[0]
    assert row["status"] == "failed"
    assert "server did not start" in row["error"] and "root" in row["error"]
    assert _children() == []


def test_server_killed_mid_point_gives_interrupted_row(ctx):
    killed = []

    def kill_server(_figures):
        if killed:
            return
        for p in psutil.Process().children(recursive=True):
            if "whyevents.servers.process" in " ".join(p.cmdline()):
                p.kill()
                killed.append(p.pid)

    rows = sweep.measure({"server": "eventloop", "poller": "epoll", "clients": 2, "rep": 0},
                         _small(), ctx=ctx, progress=kill_server)
    row = rows[0]
    assert killed
    # killed from outside: cut short, not measured (the runner re-measures it on --resume)
    assert row["status"] == "interrupted"
    assert f"server process (pid {killed[0]}) killed by SIGKILL" in row["error"]
    assert _children() == []


# -- servers measured together (``together``) ---------------------------------------------------

def test_together_is_checked():
    base = dict(sweep.PROFILES["quick"], server_cores=0.4)
    ok = sweep.check_params({**base, "together": "knot-c/epoll+eventloop/epoll"})
    assert ok["together"] == [["knot-c/epoll", "eventloop/epoll"]]
    assert sweep.check_params({**base, "together": "none"})["together"] == []
    mod = runner.load("web")                                # -p together=none, as the CLI has it
    assert runner.resolve_params(mod, "quick", {"together": "none"})["together"] == []
    assert runner.resolve_params(mod, "quick", {"client": "python", "together": "none"})
    with pytest.raises(ValueError, match="together: needs client=wrk .*; together=none measures "
                                         "one server at a time"):
        runner.resolve_params(mod, "quick", {"client": "python"})
    for value, says in [
        ("knot-c/epoll", "two or more"),
        ("knot-c/epoll+nginx/epoll", "names no known server"),
        ("knot-c/epoll+eventloop/epoll,eventloop/epoll+seda/poll", "more than one group"),
        ("knot-c/epoll+eventloop/epoll+seda/poll", "do not fit in one core"),
    ]:
        with pytest.raises(ValueError, match=f"together: .*{says}"):
            sweep.check_params({**base, "together": value})
    narrowed = {**base, "servers": ["knot-c/epoll", "eventloop/epoll", "seda/poll"],
                "together": "knot-c/epoll+knot-a/epoll+eventloop/epoll,seda/poll+knot-c/poll"}
    assert sweep.check_params(narrowed)["together"] == [["knot-c/epoll", "eventloop/epoll"]]
    with pytest.raises(ValueError, match="together: needs client=wrk"):
        sweep.check_params({**base, "client": "python",
                            "together": "knot-c/epoll+eventloop/epoll"})
    with pytest.raises(ValueError, match="fit in one core"):               # no cap: a core each
        sweep.check_params({**base, "server_cores": 0,
                            "together": "knot-c/epoll+eventloop/epoll"})
    stored = {k: v for k, v in sweep.PROFILES["quick"].items() if k != "together"}
    assert sweep.check_params(stored)["together"] == []      # a run stored before the parameter


def test_together_groups_points_where_the_first_member_stood():
    p = sweep.check_params(dict(
        sweep.PROFILES["quick"], servers=["knot-c/epoll", "seda/poll", "eventloop/epoll"],
        clients=[64, 1024], reps=2, server_cores=0.4,
        together=["knot-c/epoll+eventloop/epoll"]))
    got = [(q["rep"], q["clients"], [f"{m['server']}/{m['poller']}"
                                     for m in q.get("members", [q])])
           for q in sweep.points(p)]
    assert got == [
        (0, 64, ["knot-c/epoll", "eventloop/epoll"]), (0, 64, ["seda/poll"]),
        (0, 1024, ["knot-c/epoll", "eventloop/epoll"]), (0, 1024, ["seda/poll"]),
        (1, 64, ["eventloop/epoll", "knot-c/epoll"]), (1, 64, ["seda/poll"]),   # ABBA
        (1, 1024, ["eventloop/epoll", "knot-c/epoll"]), (1, 1024, ["seda/poll"])]
    flat = [{"server": s, "poller": q, "clients": 64, "build": "interpreted", "rep": 2}
            for s, q in (("eventloop", "epoll"), ("knot-c", "epoll"))]
    (group,) = sweep.follow_up_points(p, flat)            # a follow-up round pairs alike
    assert [m["server"] for m in group["members"]] == ["knot-c", "eventloop"]
    # a claim reading one server of a group re-measures it with its partners, as measured
    (group,) = sweep.follow_up_points(p, flat[:1])
    assert [(m["server"], m["rep"]) for m in group["members"]] == [("knot-c", 2),
                                                                    ("eventloop", 2)]
    alone = [{**flat[0], "server": "seda", "poller": "poll"}]
    assert sweep.follow_up_points(p, alone) == alone


PINNED = "knot-a/poll@64+knot-a/poll@1024+knot-a/poll@4096"


def test_a_group_may_name_each_members_client_count():
    """One server at several client counts at once (a flatness claim's points): checked, its
    members at counts the sweep skips dropped, and at those counts it leaves the plain group."""
    base = dict(sweep.PROFILES["quick"], servers=["knot-a/poll", "knot-a/epoll", "seda/poll"],
                reps=2, server_cores=0.25)
    p = sweep.check_params({**base, "together": f"knot-a/epoll+knot-a/poll,{PINNED}"})
    assert p["together"] == [["knot-a/epoll", "knot-a/poll"], PINNED.split("+")]
    narrowed = sweep.check_params({**base, "clients": [1, 64, 4096],
                                   "together": PINNED + "+knot-a/poll@65536"})
    assert narrowed["together"] == [["knot-a/poll@64", "knot-a/poll@4096"]]
    assert sweep.check_params({**base, "clients": [1, 64], "together": PINNED})["together"] == []
    for value, says in [
        ("knot-a/poll@64+knot-a/epoll", "mixes members with and without @clients"),
        ("knot-a/poll@64+knot-a/poll@lots", "'lots' after @ is not a client count"),
        ("knot-a/poll@64+knot-a/poll@0", "after @ is not a client count"),
        (f"{PINNED},knot-a/poll@64+seda/poll@64", "knot-a/poll@64 is in more than one group"),
        ("knot-a/poll@64+knot-a/poll@64", "more than one group"),
        ("nginx/epoll@64+knot-a/poll@64", "names no known server"),
    ]:
        with pytest.raises(ValueError, match=f"together: .*{says}"):
            sweep.check_params({**base, "together": value})
    got = [(q["rep"], q["clients"], q.get("paired_group"),
            [(m["server"], m["poller"], m["clients"]) for m in q.get("members", [q])])
           for q in sweep.points(p)]
    pinned = [("knot-a", "poll", c) for c in (64, 1024, 4096)]
    for rep in (0, 1):
        mine = [g for g in got if g[0] == rep]
        # the group stands where its first member stood, with its three points, once
        assert [g[3] for g in mine if g[2]] == [pinned]
        assert [g[1] for g in mine if g[2]] == [64]
        assert all(g[2] == PINNED + "/interpreted" for g in mine if g[2])   # as its rows say
        # at its counts knot-a/epoll is alone; at the others the plain group holds
        alone = {g[1] for g in mine if g[3] == [("knot-a", "epoll", g[1])]}
        assert alone == {64, 1024, 4096}
        assert {g[1] for g in mine if len(g[3]) == 2} == {1}
        assert sorted((m[2], m[0], m[1]) for g in mine for m in g[3]) == sorted(
            (c, s, q) for c in base["clients"] for s, q in (("knot-a", "poll"),
                                                            ("knot-a", "epoll"),
                                                            ("seda", "poll")))
    # a follow-up round re-measures a member with its partners at their client counts
    (group,) = sweep.follow_up_points(p, [{"server": "knot-a", "poller": "poll", "clients": 4096,
                                           "build": "interpreted", "rep": 2}])
    assert group["paired_group"] == PINNED + "/interpreted"
    assert [(m["clients"], m["rep"]) for m in group["members"]] == [(64, 2), (1024, 2),
                                                                      (4096, 2)]


ALSO = "also:knot-c/poll@1024+knot-c/poll@4096"
ALSO_LABEL = "knot-c/poll@1024+knot-c/poll@4096/interpreted"


def _key(q: dict) -> tuple:
    return tuple(q.get(f) for f in sweep.KEY_FIELDS)


def test_an_also_group_measures_its_members_again_and_keeps_their_plain_pairs():
    """An ``also:`` group (C3.5's Knot-C on poll at its plateau's client counts at once) adds a
    point per rep where its first member stood, and its members stay in their plain group with
    SEDA at each count (C3.1, C3.2, C3.6); its points' ``paired_group`` keeps their keys apart."""
    base = dict(sweep.PROFILES["quick"], servers=["knot-c/poll", "seda/poll"],
                clients=[64, 1024, 4096], reps=2, server_cores=0.25)
    p = sweep.check_params({**base, "together": f"knot-c/poll+seda/poll,{ALSO}"})
    assert p["together"] == [["knot-c/poll", "seda/poll"],
                             [sweep.ALSO, "knot-c/poll@1024", "knot-c/poll@4096"]]
    pts = sweep.points(p)
    got = [(q["rep"], q["clients"], q.get("paired_group"),
            [(m["server"], m["clients"]) for m in q.get("members", [q])]) for q in pts]
    for rep in (0, 1):
        mine = [g for g in got if g[0] == rep]
        again = [g for g in mine if g[2]]
        assert [g[3] for g in again] == [[("knot-c", 1024), ("knot-c", 4096)]]
        assert again[0][2] == ALSO_LABEL and again[0][1] == 1024
        plain = {g[1]: sorted(s for s, _ in g[3]) for g in mine if not g[2]}
        assert plain == {c: ["knot-c", "seda"] for c in (64, 1024, 4096)}
    keys = [_key(m) for q in pts for m in q.get("members", [q])]
    assert len(keys) == len(set(keys)) == 2 * (3 * 2 + 2)       # every measurement its own key
    # the group's rows are one point each for the runner (resume): the first member's key
    assert _key(again_point := next(q for q in pts if q.get("paired_group"))) == (
        "knot-c", "poll", 1024, "interpreted", ALSO_LABEL, 0)
    assert [m["paired_group"] for m in again_point["members"]] == [ALSO_LABEL] * 2
    # a follow-up of one of its points brings its partner in the also: group, not SEDA; a
    # follow-up of the plain point brings SEDA
    one = {"server": "knot-c", "poller": "poll", "clients": 4096, "build": "interpreted",
           "rep": 2}
    (group,) = sweep.follow_up_points(p, [{**one, "paired_group": ALSO_LABEL}])
    assert group["paired_group"] == ALSO_LABEL
    assert [(m["server"], m["clients"]) for m in group["members"]] == [("knot-c", 1024),
                                                                        ("knot-c", 4096)]
    (group,) = sweep.follow_up_points(p, [{**one, "paired_group": None}])
    assert not group.get("paired_group")
    assert sorted(m["server"] for m in group["members"]) == ["knot-c", "seda"]
    # checked: client counts named, one @-group of either kind per member, counts measured
    for value, says in [
        ("also:knot-c/poll+seda/poll", "an also: group names each member's client count"),
        (f"{ALSO},knot-c/poll@1024+knot-c/poll@64", "knot-c/poll@1024 is in more than one"),
    ]:
        with pytest.raises(ValueError, match=f"together: .*{says}"):
            sweep.check_params({**base, "together": value})
    narrowed = sweep.check_params({**base, "clients": [64, 1024], "together": ALSO})
    assert narrowed["together"] == []                       # one member left: no group
    # the full and quick profiles carry C3.5's group, at their plateau's client counts
    for profile, counts in (("quick", (1024, 4096)), ("full", (1024, 4096, 16384))):
        groups = sweep.check_params(dict(sweep.PROFILES[profile]))["together"]
        assert [sweep.ALSO, *(f"knot-c/poll@{c}" for c in counts)] in groups


def test_measure_a_group_of_one_server_at_several_client_counts(ctx):
    params = _small(servers=["knot-a/epoll"], clients=[2, 8], server_cores=0.4,
                    together=["knot-a/epoll@2+knot-a/epoll@8"])
    (group,) = sweep.points({**params, "reps": 1})
    rows = sweep.measure(group, params, ctx=ctx)
    assert [(r["server"], r["clients"]) for r in rows] == [("knot-a", 2), ("knot-a", 8)]
    for r in rows:
        assert r["status"] == "ok", r["error"]
        assert r["paired_group"] == "knot-a/epoll@2+knot-a/epoll@8/interpreted"
        assert r["servers_together"] == 2 and r["requests"] > 0
    # each member's wrk ran its own client count: four times the clients (under load well
    # below the servers' allotment) open about four times the connections (5 requests each)
    assert rows[1]["connections"] > 2 * rows[0]["connections"] > 0
    assert _children() == []


def test_measure_an_also_group_beside_its_plain_points(ctx):
    params = _small(servers=["knot-a/epoll"], clients=[2, 8], server_cores=0.4,
                    together=["also:knot-a/epoll@2+knot-a/epoll@8"])
    pts = sweep.points({**params, "reps": 1})
    assert [q.get("paired_group") for q in pts] == [
        "knot-a/epoll@2+knot-a/epoll@8/interpreted", None, None]     # the group, then alone
    rows = sweep.measure(pts[0], params, ctx=ctx) + sweep.measure(pts[1], params, ctx=ctx)
    assert [(r["clients"], r["paired_group"], r["status"]) for r in rows] == [
        (2, "knot-a/epoll@2+knot-a/epoll@8/interpreted", "ok"),
        (8, "knot-a/epoll@2+knot-a/epoll@8/interpreted", "ok"), (2, None, "ok")]
    assert rows[0]["servers_together"] == 2 and "servers_together" not in rows[2]
    assert _children() == []


def test_measure_a_group_together(ctx):
    params = _small(server_cores=0.4, together=["knot-c/epoll+eventloop/epoll"])
    group = next(q for q in sweep.points({**params, "clients": [4], "reps": 1})
                 if "members" in q)
    rows = sweep.measure(group, params, ctx=ctx)
    assert [(r["server"], r["poller"], r["clients"], r["rep"]) for r in rows] == [
        ("knot-c", "epoll", 4, 0), ("eventloop", "epoll", 4, 0)]
    for r in rows:
        assert r["status"] == "ok", r["error"]
        assert r["servers_together"] == 2 and r["requests"] > 0 and r["mbit_s"] > 0
        assert r["server_allotment"] == 0.4
        assert r["server_window_s"] > 0
        assert r["client_cpu_util_shared"] == pytest.approx(
            math.fsum(q["client_cpu_util"] for q in rows))
        assert r["client_util_of_core"] == pytest.approx(r["client_cpu_util_shared"])
    # both servers counted over the one window: their snapshots are taken one after the other
    windows = [r["server_window_s"] for r in rows]
    assert max(windows) - min(windows) < 0.1 * min(windows)
    assert _children() == []


def test_a_group_member_that_cannot_start_fails_the_group(tmp_path):
    params = _small(server_cores=0.4, together=["knot-c/epoll+eventloop/epoll"])
    group = next(q for q in sweep.points({**params, "clients": [2], "reps": 1})
                 if "members" in q)
    rows = sweep.measure(group, params, ctx={"root": str(tmp_path / "none"), "trace": ["/"]})
    assert [r["status"] for r in rows] == ["failed", "failed"]
    assert all("knot-c/epoll: server did not start" in r["error"] for r in rows)
    assert not any(r["claim_eligible"] for r in rows)
    assert _children() == []
