"""The web sweep's load on other hosts (issue 23), the parts that need no second machine.

Merging the hosts' latency distributions (``loadgen.wrk_merge``): one host gives back its own
percentiles; two hosts with different distributions give the union's percentiles within the
grid's step, where averaging their percentiles would not. The placement parameters are refused
before anything starts, each error naming its parameter: a missing ``server_host``, a server
host among the client hosts, a wildcard address, the Python client, a client host no worker
runs on, a sweep with client hosts but no ``--cluster``. The whole arrangement on network
namespaces is ``tests/test_web_hosts_netns.py``.
"""

from __future__ import annotations

import math
import random

import pytest

from whyevents.experiments import web, web_hosts
from whyevents.loadgen.wrk_merge import QUANTILE_GRID, merge_quantiles, merge_wrk
from whyevents.repro import runner


def _wrk_quantiles(samples: list[float]) -> dict:
    """What httpload_wrk.lua reports: wrk's nearest-rank percentile at each grid point."""
    xs = sorted(samples)
    n = len(xs)

    def pct(p: float) -> float:
        rank = max(1, min(n, round(p / 100 * n + 0.5)))
        return xs[rank - 1]

    return {"requests": n, "timeouts": 0, "min": xs[0], "max": xs[-1],
            "q": [[p, pct(p)] for p in QUANTILE_GRID]}


def _true(samples: list[float], p: float) -> float:
    xs = sorted(samples)
    return xs[max(0, math.ceil(p / 100 * len(xs)) - 1)]


def test_one_host_merge_is_that_hosts_own_percentiles():
    rng = random.Random(1)
    xs = [rng.expovariate(1 / 3.0) for _ in range(5000)]
    q = _wrk_quantiles(xs)
    merged = merge_quantiles([q])
    own = dict(q["q"])
    for p in (50.0, 90.0, 99.0, 99.9):
        assert merged[f"p{p:g}"] == own[p]


def test_two_hosts_merge_to_the_union_not_the_average():
    rng = random.Random(2)
    fast = [rng.uniform(0.1, 2.0) for _ in range(6000)]       # a near host
    slow = [rng.uniform(5.0, 40.0) for _ in range(2000)]      # a far, loaded host
    merged = merge_quantiles([_wrk_quantiles(fast), _wrk_quantiles(slow)])
    union = fast + slow
    for p in (50.0, 90.0, 99.0):
        lo, hi = _true(union, max(0.0, p - 1.0)), _true(union, min(100.0, p + 1.0))
        assert lo <= merged[f"p{p:g}"] <= hi, (p, lo, merged[f"p{p:g}"], hi)
    averaged = (_true(fast, 50) + _true(slow, 50)) / 2
    assert abs(merged["p50"] - _true(union, 50)) < 0.2 < abs(averaged - _true(union, 50))


def _part(host: str, completed: int, lat: list[float]) -> dict:
    mean = sum(lat) / len(lat)
    sd = math.sqrt(sum((x - mean) ** 2 for x in lat) / len(lat))
    return dict(host=host, clients=4, duration_s=2.0, completed=completed,
                bytes=completed * 1000.0, connections=completed // 5, errors={"read": 1},
                client_cpu_s=0.5, client_cpu_user_s=0.2, client_cpu_system_s=0.3,
                client_cpu_utilisation=0.25, client_saturated=False,
                response_ms={"p50": 1.0, "p99": 2.0, "mean": mean, "stdev": sd,
                             "max": max(lat)},
                latency_quantiles=_wrk_quantiles(lat), wrk_threads=4, close_scheme="counter",
                source_addresses=1, wrk_requests=len(lat), wrk_bytes=len(lat) * 1000,
                think_ms_mean=20.0, warnings=[], mbit_per_s=4.0, errors_total=1)


def test_merge_wrk_adds_counts_and_pools_moments():
    a, b = [1.0, 2.0, 3.0, 4.0] * 50, [10.0, 20.0] * 100
    m = merge_wrk([_part("10.0.0.3", 100, a), _part("10.0.0.4", 300, b)])
    assert (m["completed"], m["bytes"], m["connections"]) == (400, 400_000.0, 80)
    assert m["errors"] == {"read": 2} and m["client_cpu_s"] == 1.0 and m["clients"] == 8
    union = a + b
    mean = sum(union) / len(union)
    assert m["response_ms"]["mean"] == pytest.approx(mean)
    assert m["response_ms"]["stdev"] == pytest.approx(
        math.sqrt(sum((x - mean) ** 2 for x in union) / len(union)))
    assert m["response_ms"]["max"] == 20.0
    assert set(m["by_host"]) == {"10.0.0.3", "10.0.0.4"}
    assert m["by_host"]["10.0.0.4"]["requests"] == 300


def _params(**over):
    params = dict(web.PROFILES["quick"], clients=[4, 16])
    params.update(over)
    return params


@pytest.mark.parametrize("over, named", [
    ({"client_hosts": ["h1", "h2"]}, "server_host"),
    ({"server_host": "h0"}, "client_hosts"),
    ({"server_host": "h0", "client_hosts": ["h0", "h1"]}, "client_hosts"),
    ({"server_host": "h0", "client_hosts": ["h1", "h1"]}, "client_hosts"),
    ({"server_host": "0.0.0.0", "client_hosts": ["h1"]}, "server_host"),
    ({"server_host": "h0", "client_hosts": ["h1"], "server_address": "::"}, "server_address"),
    ({"server_host": "h0", "client_hosts": ["h1"], "client": "python"}, "client"),
])
def test_bad_placement_parameters_name_the_parameter(over, named):
    with pytest.raises(ValueError) as e:
        web.check_params(_params(**over))
    assert str(e.value).startswith(f"{named}:"), str(e.value)


def test_placement_parameters_from_the_command_line_and_without_a_cluster():
    mod = runner.load("web")
    got = runner.resolve_params(mod, "quick", {"server_host": "10.1.1.2", "together": "none",
                                               "client_hosts": "10.1.1.3,10.1.1.4"})
    assert got["client_hosts"] == ["10.1.1.3", "10.1.1.4"] and got["server_host"] == "10.1.1.2"
    assert "server_host" not in runner.resolve_params(mod, "quick", {})   # one host: unchanged
    with pytest.raises(ValueError, match="^client_hosts: .*needs --cluster"):
        runner.run_experiment("web", "quick", {"server_host": "10.1.1.2", "together": "none",
                                               "client_hosts": "10.1.1.3"}, progress=False)
    # the profile's servers measured together need one host; the error says how to go apart
    with pytest.raises(ValueError, match="^together: not with the load on other hosts; "
                                         "together=none measures one server at a time"):
        runner.run_experiment("web", "quick", {"server_host": "10.1.1.2",
                                               "client_hosts": "10.1.1.3"}, progress=False)


class _FakeClient:
    class scheduler:
        address = "tcp://10.1.1.1:8786"

    def __init__(self, workers):
        self.workers = workers

    def scheduler_info(self):
        return {"workers": self.workers}


def _worker(host, name, machine=1):
    return {"host": host, "name": name, "resources": {"machine": machine} if machine else {}}


def test_placement_finds_the_workers_or_names_the_missing_host():
    client = _FakeClient({"tcp://10.1.1.2:4000": _worker("10.1.1.2", "srv"),
                          "tcp://10.1.1.3:4000": _worker("10.1.1.3", "c1"),
                          "tcp://10.1.1.4:4000": _worker("10.1.1.4", "c2", machine=0)})
    place = web.cluster_placement(client, _params(server_host="srv", client_hosts=["10.1.1.3"]))
    assert place["server"]["host"] == "10.1.1.2" and place["server_address"] == "10.1.1.2"
    assert [c["host"] for c in place["clients"]] == ["10.1.1.3"]
    assert place["submit"] == {"workers": ["10.1.1.2"], "allow_other_workers": False}
    for hosts in (["10.1.1.9"], ["10.1.1.4"]):         # no worker; a worker without machine=1
        with pytest.raises(ValueError, match=r"^client_hosts: no worker .* runs on"):
            web.cluster_placement(client, _params(server_host="srv", client_hosts=hosts))
    with pytest.raises(ValueError, match="^server_host: no worker"):
        web.cluster_placement(client, _params(server_host="nowhere", client_hosts=["c1"]))
    assert web.cluster_placement(client, _params()) is None
    assert web_hosts.shares(7, 2) == [4, 3]
