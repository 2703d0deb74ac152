"""A short soak of every registered server (the full one: ``python -m whyevents.servers.soak``).

Good and faulty clients mixed (one faulty job in five here), the server in a process of its
own: every good answer correct, nothing unexpected seen by a client, the server's error counters
exactly the injected ones, and its descriptors and threads the same after the run as after the
warm-up (RSS is reported, not asserted: a short run mostly measures warm-up).
"""

from __future__ import annotations

import pytest

from whyevents import servers
from whyevents.servers.soak import FAULTS, soak

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.mark.parametrize("name", servers.names())
def test_short_soak_leaves_nothing_behind(name, capsys):
    r = soak(name, requests=5000, clients=4, fault_every=5, warmup=0.2)
    with capsys.disabled():
        print(f"\nsoak: {name}: {r.requests:,} requests, {sum(r.faults.values())} faults; "
              f"fds {r.warm['fds']} -> {r.end['fds']}, threads {r.warm['threads']} -> "
              f"{r.end['threads']}, RSS {r.warm['rss'] >> 10} -> {r.end['rss'] >> 10} KiB")
    assert r.requests >= 5000
    assert set(r.faults) == set(FAULTS)                  # every kind injected
    assert r.unexpected == {}
    assert r.errors == r.errors_expected and r.errors_expected
    assert r.end["fds"] == r.warm["fds"] and r.end["threads"] == r.warm["threads"]
    assert r.server_counters["lingering_closes"] >= sum(
        n for kind, n in r.faults.items() if FAULTS[kind])
    assert r.server_counters.get("internal_errors", 0) == 0
    assert r.ok
