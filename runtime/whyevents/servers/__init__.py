"""whyevents.servers: the one registry of the web servers, and how to run one in its own process.

Every place that starts a whyevents server by name does it through ``SERVERS``: ``whyevents
serve NAME`` (``repro.cli``), the web sweep (``experiments.web``, Figure 3) and the wrk
benchmark (``benchmarks.servers``). An entry says which module's ``start(root, **kwargs)`` runs
it, the keyword arguments its name fixes (Knot-C is Knot with ``policy="C"``), the pollers it
accepts (the first is the one the paper ran it on) and a one-line description.

``process``   one server in a subprocess, pinned to a core, with a readiness handshake, stats
              snapshots over stdin/stdout and a clean stop (``ServerProcess``; the child side is
              ``python -m whyevents.servers.process SPEC``).

Only the standard library is imported here; a server's own module is imported when it starts.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..threads.registry import POLLER_NAMES

__all__ = ["Server", "SERVERS", "POOLS", "start", "names"]


@dataclass(frozen=True)
class Server:
    """One registered server: ``start(root, **kwargs)`` runs it in this process."""

    name: str
    module: str
    fixed: Mapping[str, Any] = field(default_factory=dict)
    pollers: tuple[str, ...] = POLLER_NAMES
    help: str = ""

    def start(self, root: str, **kwargs: Any):
        """Start it serving ``root``; returns its ``serving.ServerHandle`` once it listens."""
        mod = importlib.import_module(self.module)
        return mod.start(root, **{**self.fixed, **kwargs})


SERVERS: dict[str, Server] = {s.name: s for s in [
    Server("knot-c", "whyevents.knot", {"policy": "C"},
           help="Knot-C: N threads each accept and serve a connection to completion"),
    Server("knot-a", "whyevents.knot", {"policy": "A"},
           help="Knot-A: one accept loop spawning a thread per connection"),
    Server("seda", "whyevents.seda", {}, pollers=("poll", "epoll"),   # Haboob ran on poll()
           help="Haboob-like staged event-driven server on kernel threads"),
    Server("eventloop", "whyevents.eventloop", {},
           help="Knot's event-driven twin: one epoll loop"),
    Server("knot-c-async", "whyevents.knot.coro", {"policy": "C"}, pollers=("epoll",),
           help="Knot-C on async def threads (the compiler's continuation transform)"),
    Server("knot-a-async", "whyevents.knot.coro", {"policy": "A"}, pollers=("epoll",),
           help="Knot-A on async def threads (the compiler's continuation transform)"),
    Server("knot-c-gen", "whyevents.knot.coro_gen", {"policy": "C"}, pollers=("epoll",),
           help="Knot-C on generator threads (knot-c-async's code, await as yield from)"),
    Server("knot-a-gen", "whyevents.knot.coro_gen", {"policy": "A"}, pollers=("epoll",),
           help="Knot-A on generator threads (knot-a-async's code, await as yield from)"),
]}


#: the servers that run a fixed pool of threads (Knot-C in each form): a caller sizes it with
#: ``threads`` for the connections it will open
POOLS = frozenset(name for name, s in SERVERS.items() if s.fixed.get("policy") == "C")


def names() -> list[str]:
    """The registered server names, in registry order."""
    return list(SERVERS)


def start(name: str, root: str, **kwargs: Any):
    """Start the registered server ``name`` serving ``root`` (``ValueError`` for an unknown
    name, naming the choices)."""
    if name not in SERVERS:
        raise ValueError(f"server={name!r}: must be one of {', '.join(SERVERS)}")
    return SERVERS[name].start(root, **kwargs)
