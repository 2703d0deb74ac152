"""Every registered web server in each configuration it runs in, for the tests that run on all.

The servers come from the one registry (``whyevents.servers.SERVERS``): Knot-C and Knot-A on
green threads over each poller and on kernel threads; the SEDA server and the event twin over
each of their pollers. The shared behaviour tests, the hostile clients and the fuzzer all
parametrize over ``CONFIGS``, so a server added to the registry is tested by each of them
without a line here, except its entry in ``COUNTER_NAMES`` (a ``KeyError`` says so).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from whyevents import servers


@dataclass(frozen=True)
class Config:
    """One registered server with the keyword arguments of one of its configurations."""

    server: str
    kwargs: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        return "-".join([self.server, *map(str, self.kwargs.values())])

    @property
    def module(self) -> str:
        return servers.SERVERS[self.server].module

    def start(self, root, **kwargs):
        return servers.start(self.server, str(root), **{**self.kwargs, **kwargs})


def _configs() -> list[Config]:
    out = []
    for name, spec in servers.SERVERS.items():
        if "backend" in _BACKENDS.get(spec.module, ()):    # green threads: each poller; kernel
            out += [Config(name, {"backend": "green", "poller": p}) for p in spec.pollers]
            out.append(Config(name, {"backend": "kernel"}))
        else:
            out += [Config(name, {"poller": p}) for p in spec.pollers]
    return out


#: Servers whose ``start`` chooses between green and kernel threads.
_BACKENDS = {"whyevents.knot": ("backend",)}
CONFIGS = _configs()
IDS = [c.id for c in CONFIGS]

#: Every configuration but kernel threads (one OS thread per connection): the ones that hold
#: thousands of connections at once.
SCALE_CONFIGS = [c for c in CONFIGS if c.kwargs.get("backend") != "kernel"]

#: The servers with Knot-C's fixed pool of threads (each serves one connection at a time): a test
#: holding ``n`` connections at once starts them with ``threads`` > ``n``.
POOLS = servers.POOLS

#: The counters the servers share under different names: (client went away, idle keep-alive
#: closed).
COUNTER_NAMES = {
    "whyevents.knot": ("client_aborts", "idle_closes"),
    "whyevents.seda": ("clients_vanished", "idle_closed"),
    "whyevents.eventloop": ("client_aborts", "idle_closes"),
    "whyevents.knot.coro": ("client_aborts", "idle_closes"),
    "whyevents.knot.coro_gen": ("client_aborts", "idle_closes"),
}


def aborts(config: Config, stats: dict) -> int:
    return stats[COUNTER_NAMES[config.module][0]]


def idle_closes(config: Config, stats: dict) -> int:
    return stats[COUNTER_NAMES[config.module][1]]
