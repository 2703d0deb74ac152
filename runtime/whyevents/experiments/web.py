"""The web sweep (the paper's Figure 3): bandwidth against simultaneous clients, per server.

Von Behren, Condit and Brewer (HotOS 2003, section 5) ran SEDA's Haboob benchmark against Knot:
closed-loop HttpLoad clients (5 requests per connection, 20 ms think time between requests)
requesting a SPECweb99-like static file set, 1 to 65,536 simultaneous clients, bandwidth on the
y axis. Knot-C (a fixed pool of threads, each accept -> serve to completion) held a plateau;
Knot-A (a thread per accepted connection) and Haboob fell off at high client counts, which the
paper blames on poll(); Knot-A on epoll did not. This module measures that sweep for
``whyevents`` servers (``knot-c``, ``knot-a``, ``seda``, ``eventloop``) under the experiment
contract that ``whyevents.repro.runner`` drives (``whyevents run web``).

How a point is measured, and why:

* **A fresh server process per point**, pinned to CPU 0 (``whyevents.servers.process``): its
  counters start at zero and nothing (cache, threads, descriptors, heap) leaks from the previous
  point. It answers ``stats`` with a JSON snapshot, taken at the start and at the end of the
  measured window, so server CPU (user + system) and context switches (voluntary + involuntary,
  all threads, ``getrusage``) are deltas over exactly that window. ``cpu_us_per_request`` and
  ``ctx_switches_per_request`` divide them by the requests the *server* counted in the same window
  (same clock, same process); the client's completions are reported beside them.
  ``own_ctx_switches_per_request`` leaves out the switches the server's CPU quota forced (one
  per throttled period of its cgroup, read at the same edges): the paper's servers had no quota.
* **Clients in their own processes**, pinned to CPU 1: ``whyevents.loadgen``'s closed-loop
  clients (one green thread each), launched through ``loadgen.multi``'s worker protocol with a
  shared wall-clock start that this module chooses, so it knows when the window opens and
  closes and can snapshot the server at those instants; results are merged with
  ``loadgen.multi.merge``. One worker per client core unless the descriptor limit needs more.
  (Not ``run_load_processes`` itself: it picks the start time internally and blocks, and its
  workers would outlive a Ctrl-C.) Bandwidth is what the clients read (headers + bodies) in the
  window, in Mbit/s, as HttpLoad reported it.
* **Client saturation is flagged, not hidden**: on a 2-core machine the load generator can
  saturate before the server. ``client_saturated`` is set when the client processes used at
  least 90% of the cores they were pinned to; on such points bandwidth measures the client, and
  server CPU per request remains the yardstick.
* **The descriptor limit caps the sweep**: a server holds one descriptor per connection, and
  ``RLIMIT_NOFILE`` may be hard-capped (the cap is recorded in the provenance), so a point with
  more clients than fit is a ``skipped`` row that says why (``limits(params)`` records the cap in
  the provenance); the paper's 65,536 is such a point here.
* **Failures are rows**: a server that does not start, crashes or hangs, or clients that time
  out, give a ``failed`` row with a one-line reason. The server and client processes are always
  killed on the way out (and die with this process, ``PR_SET_PDEATHSIG``), Ctrl-C included.
* **Knot-C's pool is a parameter**: ``knot_c_threads`` (1,024 here) threads each serve one
  connection to completion, and a connection with 5 requests and 20 ms think time holds its
  thread for ~100 ms, so Knot-C admits about ``threads / 0.1 s`` connections per second and the
  other clients wait in the listen backlog: the "natural throttling mechanism [that limits] the
  number of new connections when the server is saturated with requests" (§5). The paper does
  not give Knot-C's thread count; 1,024 puts that admission bound (the pool over the time a
  connection holds its thread) above what one core can serve (``whyevents bench servers``
  prints Knot-C's req/s on one core), so Knot-C saturates on CPU like the others rather than on
  its pool. With the package's default of 256 the pool binds first (a quarter of that bound)
  and Knot-C's plateau sits below the other servers' for a reason the paper's Knot did not have.
* **Interleaved repetitions**: rep 0 of every (server, clients), then rep 1, ... so the machine's
  drift (large on shared 2-vCPU VMs) spreads over every configuration; on odd reps each client
  count's servers (and builds) run in reverse order (ABBA), so a drift over a rep hits each server
  alike, and the claims' bootstrap resamples the servers of one client count and rep jointly
  (``PAIRED_BY``).
* **Servers measured together** (``together``, issue 21): a point is seconds of load, the
  timescale of the host's slowdowns, so servers measured one after the other meet different
  hosts. A ``together`` group's servers run at the same time instead: each its own process
  under its own allotment on the server core (the allotments fit in the core), each with its
  own wrk on the client core, all over one window, so a slowdown hits them alike. The group's
  wrk processes share the client core, so a point is server-bound only if all of them together
  left it room (``client_cpu_util_shared``); a member that cannot start, or dies, fails the
  group's rows. Servers in no group are measured one at a time. A group may instead name each
  member's client count (``knot-a/poll@256+knot-a/poll@16384``): one server at several client
  counts at once, the points a flatness claim compares; its rows carry ``paired_group``, which
  the claims' bootstrap resamples jointly, and at those counts the member leaves its plain
  group. Written ``also:knot-c/poll@1024+knot-c/poll@4096``, such a group measures its members
  once more instead, at once, and they stay in their plain groups (whose pairs other claims
  read): one point more per member and rep; a row's ``paired_group`` (a key field) tells the
  two measurements apart.

The file set is built once per sweep (``prepare``) in a temporary directory: SPECweb99's
directory count for ``fileset_clients`` times ``scale`` (5.1 MB per directory), small enough to
stay in the page cache and, by default, in the servers' own page cache. Clients draw from a
fixed trace of the SPECweb99 mix (``TRACE_LENGTH`` draws, seeded), because the worker protocol
passes paths as JSON on a command line.

This module checks parameters, caps the server's CPU and runs the processes; the arithmetic that
turns a point's measurements into its row's fields is ``web_rows`` (pure, tested by hand).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator

from whyevents.accel.build import build_env, check_builds
from whyevents.harness import procs
from whyevents.harness.cpu_quota import CpuQuota, CpuQuotaUnavailable, availability
from whyevents.http.fileset import build_fileset
from whyevents.loadgen.httpload import FD_MARGIN
from whyevents.loadgen.multi import merge
from whyevents.loadgen.wrk import httpload_result, require_wrk, start_httpload_wrk
from whyevents.servers import POOLS, SERVERS
from whyevents.servers.process import ServerProcess, ServerStartError

from . import web_hosts
from .web_hosts import OPTIONAL_PARAMS, cluster_placement, needs_cluster
from .web_hosts import PARAM_HELP as OPTIONAL_HELP
from .web_rows import (
    CAPACITY_AGREEMENT,
    CLIENT_FREE,
    SERVER_BOUND,
    THROTTLED,
    WrkResult,
    base_row,
    capacity_check,
    judge,
    live,
    row_figures,
)

__all__ = [
    "EXPERIMENT", "DESCRIPTION", "KEY_FIELDS", "SUMMARY_FIELDS", "PROFILES", "PARAM_HELP",
    "COLUMNS", "CONFIGS", "check_params", "points", "prepare", "measure", "limits",
    "client_cap", "SERVER_FD_MARGIN", "TRACE_LENGTH", "capacity_check", "SERVER_BOUND",
    "CLIENT_FREE", "CAPACITY_AGREEMENT", "server_cap_limits", "OPTIONAL_PARAMS",
    "OPTIONAL_HELP", "cluster_placement", "needs_cluster", "follow_up_points", "PAIRED_BY",
]

EXPERIMENT = "web"
DESCRIPTION = (
    "Figure 3 of the paper (section 5): web server bandwidth (Mbit/s) against simultaneous "
    "closed-loop clients (SEDA's HttpLoad model: 5 requests per connection, 20 ms think time, "
    "SPECweb99-like file set) for Knot-C and Knot-A on poll and epoll, the SEDA (Haboob-like) "
    "server and the event-loop twin. Each point runs a fresh server process pinned to CPU 0 and "
    "the clients pinned to CPU 1; besides bandwidth it records server CPU microseconds and "
    "context switches per request over exactly the measured window (the paper's explanation of "
    "Haboob's lower peak), response-time percentiles, fairness and whether the client saturated.")

#: the columns the claims read (``repro.claims.COLUMNS`` collects each experiment's)
COLUMNS = ("server", "poller", "clients", "build", "paired_group", "mbit_s",
           "ctx_switches_per_request",
           "own_ctx_switches_per_request", "cpu_us_per_request", "errors", "status")
#: ``paired_group``: the ``together`` group measuring a server at several client counts at once
#: (None for the others); an ``also:`` group's rows repeat a point its plain group measured too
KEY_FIELDS = ("server", "poller", "clients", "build", "paired_group", "rep")
#: points sharing these fields and a rep were measured side by side (``points``): the claims'
#: bootstrap resamples their reps jointly (``repro.claims.interval``), so a slow rep slows
#: every server of a ratio alike in every resample, as it did on the host
PAIRED_BY = ("clients", "build")
SUMMARY_FIELDS = ("mbit_s", "cpu_us_per_request", "ctx_switches_per_request",
                  "own_ctx_switches_per_request", "errors")

#: the servers the sweep knows, and the pollers each accepts (from the one server registry)
CONFIGS: dict[str, tuple[str, ...]] = {name: s.pollers for name, s in SERVERS.items()}
_DEFAULT_SERVERS = ["knot-c/epoll", "knot-c/poll", "knot-a/epoll", "knot-a/poll", "seda/poll",
                    "eventloop/epoll", "knot-c-async/epoll", "knot-a-async/epoll"]
#: the servers with Knot-C's fixed pool of accepting threads (``knot_c_threads`` of them)
KNOT_C_POOLS = POOLS

_QUICK: dict = {
    "servers": list(_DEFAULT_SERVERS),
    "clients": [1, 64, 1024, 4096],
    "reps": 1,
    # long enough for the servers to settle after the clients' first connections: with a
    # shorter one, quick runs read the async Knot-C's CPU per request above the twin's (C4.6),
    # the full profile's longer warm-up and whyevents bench servers did not (the commit that set
    # this has the A/B). Sampled every half second under keep-alive load, the async Knot showed
    # no start-up cost of its own, only host slowdowns lasting seconds that hit both servers:
    # the longer warm-up mostly buys a window less likely to start inside one
    "warmup": 4.0,
    "duration": 2.5,
    "think_time": 0.02,
    "requests_per_conn": 5,
    "knot_c_threads": 1024,
    "fileset_clients": 1024,
    "scale": 0.01,
    "cache_bytes": 64 << 20,
    "seed": 0,
    "client_processes": 0,
    "client_timeout": 10.0,
    "server_cpu": 0,
    "client_cpu": 1,
    "client": "wrk",
    "server_cores": 0.25,
    "quota_period_ms": 10.0,
    "builds": ["interpreted"],
    # together: the servers each claim compares run at the same time (Knot-C, its async form
    # and the twin: C2.8, C4.6, C4.7; Knot-C on poll and SEDA: C3.1, C3.2, C3.6; the Knot-A
    # forms, which no claim compares, for the time), a quarter core each so that three fit in
    # the server core and their clients in theirs; an A/B against one server at a time is in
    # docs/DESIGN.md. Both profiles since 7 Dec: measured one at a time at half a core, the quick
    # profile's C4.6 failed a CI run, its servers' reps a minute apart moving with the host
    "together": ["knot-c/epoll+knot-c-async/epoll+eventloop/epoll",
                 "knot-c/poll+seda/poll",
                 "knot-a/epoll+knot-a/poll+knot-a-async/epoll",
                 # and Knot-C on poll at its plateau's client counts at once, once more (C3.5)
                 "also:knot-c/poll@1024+knot-c/poll@4096"],
    # one rep gives a value, not an interval: the claims it decides (C3.6, C4.6, C4.7) get a
    # second rep of just their points, and more while one is INCONCLUSIVE (repro.runner), up to
    # four: with the servers together at a quarter core, a fresh-clone make test on 7 Dec left
    # C3.6 INCONCLUSIVE after two rounds, its per-rep ratio moving widely
    "extra_reps": 4,
}
#: quick is what CI runs; full is the paper's range and differs only where listed
PROFILES: dict[str, dict] = {
    "quick": _QUICK,
    # extra_reps: a follow-up round re-measures only the points an undecided claim reads (C3.3:
    # Knot-A at its five client counts, about a minute); two rounds left it INCONCLUSIVE in the
    # full run of 6 Dec (20261206T105442Z-3471), so the full budget is four
    # together: quick's groups, and Knot-A on each poller at its likely peak (256, 1,024
    # clients) and at 16,384 at once, the points C3.3 and C3.4 compare; the A/B that chose this
    # is in docs/DESIGN.md
    "full": {**_QUICK, "clients": [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536], "reps": 3,
             "extra_reps": 4, "warmup": 5.0, "duration": 10.0, "scale": 0.02,
             "cache_bytes": 128 << 20,
             "together": [*_QUICK["together"][:-1],
                          "also:knot-c/poll@1024+knot-c/poll@4096+knot-c/poll@16384",
                          "knot-a/poll@256+knot-a/poll@1024+knot-a/poll@16384",
                          "knot-a/epoll@256+knot-a/epoll@1024+knot-a/epoll@16384"]},
}

PARAM_HELP: dict[str, str] = {
    "servers": "server/poller configurations: knot-c, knot-a, seda, eventloop with epoll or "
               "poll; knot-c-async, knot-a-async (Knot on async def threads) with epoll",
    "clients": "simultaneous closed-loop clients per point (points over the fd cap are skipped)",
    "reps": "repetitions of every point, interleaved (rep 0 of all, then rep 1, ...); odd "
            "reps take each client count's servers and builds in reverse order (ABBA)",
    "extra_reps": "follow-up rounds: while a claim is undecided (INCONCLUSIVE, or each point it "
                  "reads measured once: no interval yet), one more rep of the points it reads "
                  "(side by side at each client count, ABBA by rep), up to this many",
    "warmup": "seconds of load before the measured window (connections ramp, caches fill)",
    "duration": "seconds of the measured window",
    "think_time": "seconds each client waits after each response (HttpLoad: 0.02)",
    "requests_per_conn": "requests per connection before the client reconnects (HttpLoad: 5)",
    "knot_c_threads": "Knot-C's fixed thread pool (extra clients wait in the accept backlog)",
    "fileset_clients": "client count whose SPECweb99 directory count sizes the file set",
    "scale": "multiplier on that directory count (5.1 MB per directory)",
    "cache_bytes": "servers' page-cache size in bytes",
    "seed": "seed of the file set and the request trace",
    "client_processes": "load-generator processes (0: one per client core, more if fds need)",
    "client_timeout": "seconds a client waits on connect/recv before counting a timeout",
    "server_cpu": "core the server process is pinned to (ignored on a 1-core machine)",
    "client_cpu": "core the client processes are pinned to (ignored on a 1-core machine)",
    "client": "load generator: wrk (HttpLoad model in wrk + Lua, the default) or python "
              "(the runtime's own green-thread clients, the cross-check)",
    "server_cores": "CPU allotment of the server process in cores (cgroup CPU quota; 0: no cap, "
                    "its whole core); recorded as 'unavailable: why' where no cgroup is writable",
    "quota_period_ms": "the quota's CFS period in ms (the allotment is enforced per period)",
    "builds": "interpreted (the .py: WHYEVENTS_PURE_PYTHON=1), compiled (make build-compiled): "
              "each server process runs the one asked; both for the 2x2 (Knot-C vs its twin "
              "within each build); each row's build and build_used say which",
    "together": "groups of servers measured at the same time, e.g. knot-c/epoll+eventloop/"
                "epoll: at each client count each runs under its own allotment on the server "
                "core with its own wrk on the client core, over one window, so a slowdown of "
                "the host hits them alike (client=wrk; the group's allotments must fit in a "
                "core); members with @clients (knot-a/poll@256+knot-a/poll@16384) run at those "
                "counts at once, for a flatness claim, and leave their plain groups there, or "
                "stay in them and are measured once more with the prefix also: (also:knot-c/"
                "poll@1024+knot-c/poll@4096); servers in no group are measured one at a time; "
                "none: all one at a time",
}

#: descriptors a server needs besides one per connection (listener, poller, pipes, cache misses)
SERVER_FD_MARGIN = 256
#: request-trace length handed to each client process (the worker protocol passes it on argv,
#: whose single-argument limit is 128 KiB)
TRACE_LENGTH = 4000
_CLIENT_START_DELAY = 2.0     # seconds for client workers to import before the shared start
_SERVER_START_TIMEOUT = 30.0
_SERVER_STOP_TIMEOUT = 15.0
CLIENTS = ("wrk", "python")
#: the prefix of a ``together`` group whose members stay in their plain groups (``_also_at``)
ALSO = "also:"


# ---------------------------------------------------------------------------------------------
# Parameters and points
# ---------------------------------------------------------------------------------------------

def _int(params: dict, key: str, lo: int = 1) -> int:
    v = params.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        what = "a positive integer" if lo == 1 else f"an integer >= {lo}"
        raise ValueError(f"{key}: {v!r} is not {what}")
    return v


def _num(params: dict, key: str, positive: bool = True) -> float:
    v = params.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) \
            or v < 0 or (positive and v == 0):
        what = "a positive number" if positive else "a number >= 0"
        raise ValueError(f"{key}: {v!r} is not {what}")
    return float(v)


def _parse_config(text: str) -> tuple[str, str]:
    server, sep, poller = str(text).strip().partition("/")
    if server not in CONFIGS:
        raise ValueError(f"servers: {text!r} names no known server; use one of "
                         f"{', '.join(CONFIGS)} as server/poller, e.g. knot-c/poll")
    if not sep:
        poller = CONFIGS[server][0]
    if poller not in CONFIGS[server]:
        raise ValueError(f"servers: {text!r}: poller {poller!r} must be one of "
                         f"{', '.join(CONFIGS[server])}")
    return server, poller


def check_params(params: dict) -> dict:
    """Validate the sweep's parameters; ``ValueError`` names the one that is wrong."""
    known = set(PROFILES["quick"])
    unknown = sorted(set(params) - known - set(OPTIONAL_PARAMS))
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown parameter; known: {', '.join(sorted(known))}")
    # a run stored before these parameters had none of them
    missing = sorted(known - set(params) - {"extra_reps", "together"})
    if missing:
        raise ValueError(f"{missing[0]}: missing parameter")
    out = dict(params)
    servers = params["servers"]
    if isinstance(servers, str):
        servers = [s for s in servers.split(",") if s.strip()]
    if not isinstance(servers, list | tuple) or not servers:
        raise ValueError(f"servers: {params['servers']!r} is not a non-empty list")
    configs = [_parse_config(s) for s in servers]
    if len(set(configs)) != len(configs):
        raise ValueError(f"servers: {servers!r} lists a configuration twice")
    out["servers"] = [f"{s}/{p}" for s, p in configs]
    clients = params["clients"]
    if not isinstance(clients, list | tuple) or not clients:
        raise ValueError(f"clients: {clients!r} is not a non-empty list of positive integers")
    for c in clients:
        if isinstance(c, bool) or not isinstance(c, int) or c < 1:
            raise ValueError(f"clients: {c!r} is not a positive integer")
    if len(set(clients)) != len(clients):
        raise ValueError(f"clients: {clients!r} lists a client count twice")
    out["clients"] = list(clients)
    _int(params, "reps")
    out["extra_reps"] = _int(params, "extra_reps", lo=0) if "extra_reps" in params else 0
    _num(params, "warmup", positive=False)
    _num(params, "duration")
    _num(params, "think_time", positive=False)
    _int(params, "requests_per_conn")
    _int(params, "knot_c_threads")
    _int(params, "fileset_clients")
    _num(params, "scale")
    _int(params, "cache_bytes")
    seed = params["seed"]
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed: {seed!r} is not an integer")
    _int(params, "client_processes", lo=0)
    _num(params, "client_timeout")
    ncpu = os.cpu_count() or 1
    for key in ("server_cpu", "client_cpu"):
        cpu = _int(params, key, lo=0)
        if ncpu > 1 and cpu >= ncpu:
            raise ValueError(f"{key}: {cpu} is not a core of this machine (0..{ncpu - 1})")
    for key in ("warmup", "duration", "think_time", "scale", "client_timeout"):
        out[key] = float(params[key])
    if params["client"] not in CLIENTS:
        raise ValueError(f"client: {params['client']!r} must be one of {', '.join(CLIENTS)}")
    out["server_cores"] = _num(params, "server_cores", positive=False)
    period = _num(params, "quota_period_ms")
    if not 1.0 <= period <= 1000.0:
        raise ValueError(f"quota_period_ms: {period!r} must be 1 .. 1000")
    if out["server_cores"] and out["server_cores"] * period < 1.0:
        raise ValueError(f"server_cores x quota_period_ms = {out['server_cores'] * period:g} ms:"
                         f" the kernel's smallest quota is 1 ms; lengthen the period")
    out["quota_period_ms"] = period
    out["builds"] = check_builds(params["builds"])
    web_hosts.check_hosts(params, out)        # the load on other hosts (issue 23), if asked
    out["together"] = _check_together(params.get("together", []), out)
    return out


def _check_together(value: object, out: dict) -> list[list[str]]:
    """``together`` as lists of ``servers`` entries, each group of two or more, a server in one
    group at most; the group's allotments must fit in the server core, and only wrk (one
    process per server on the client core) drives a group. A server the sweep does not measure
    (``servers`` narrowed) leaves its group, and a group left with one server is none.

    A group whose members name their client count (``knot-a/poll@256+knot-a/poll@16384``: one
    server at several client counts, a flatness claim's points) runs them at the same time
    instead; such a member is in one of these groups at most, and at its client count it leaves
    the plain group it is also in (``_groups_at``). A client count the sweep does not measure
    drops its member. Such a group written with the prefix ``also:`` keeps its members in their
    plain groups and measures them once more, at once (``_also_at``); it is kept as
    ``[ALSO, member, ...]``."""
    if isinstance(value, str):
        value = value.split(",")
    if isinstance(value, list | tuple):                 # "none" (or nothing): no group
        value = [g for g in value if not (isinstance(g, str)
                                          and g.strip().lower() in ("", "none"))]
    else:
        raise ValueError(f"together: {value!r} is not a list of groups like "
                         f"knot-c/epoll+eventloop/epoll")
    groups: list[list[str]] = []
    seen: set[str] = set()
    for g in value:
        names = g.split("+") if isinstance(g, str) else list(g) if isinstance(
            g, list | tuple) else None
        also = bool(names) and isinstance(names[0], str) and names[0].startswith(ALSO)
        if also:
            names = [n for n in [names[0][len(ALSO):], *names[1:]] if n.strip()]
        if not names or len(names) < 2:
            raise ValueError(f"together: {g!r} is not a group of two or more servers "
                             f"joined by +")
        members = [_member(name) for name in names]
        if len({c is None for _, c in members}) > 1:
            raise ValueError(f"together: {g!r} mixes members with and without @clients: a "
                             f"group is servers at each client count, or each member at its own")
        if also and members[0][1] is None:
            raise ValueError(f"together: {g!r}: an {ALSO} group names each member's client "
                             f"count (knot-c/poll@1024+knot-c/poll@4096)")
        group = [ALSO] if also else []
        for cfg, clients in members:
            name = cfg if clients is None else f"{cfg}@{clients}"
            if name in seen:
                raise ValueError(f"together: {name} is in more than one group")
            seen.add(name)
            if cfg in out["servers"] and (clients is None or clients in out["clients"]):
                group.append(name)          # a profile's group, with servers= narrowed
        if len(group) - also > 1:
            groups.append(group)
    if groups:
        apart = "; together=none measures one server at a time"
        if out["client"] != "wrk":
            raise ValueError(f"together: needs client=wrk (one load process per server), not "
                             f"{out['client']!r}{apart}")
        if out.get("server_host") or needs_cluster(out):
            raise ValueError(f"together: not with the load on other hosts{apart}")
        widest = max(len(g) - (g[0] == ALSO) for g in groups)
        if not out["server_cores"] or widest * out["server_cores"] > 1.0:
            raise ValueError(f"together: {widest} servers x server_cores "
                             f"{out['server_cores']:g} do not fit in one core: give each an "
                             f"allotment (server_cores) of at most 1/{widest}{apart}")
    return groups


def _member(name: object) -> tuple[str, int | None]:
    """A ``together`` member: (server/poller, its client count or None)."""
    text, at, count = str(name).strip().partition("@")
    try:
        cfg = "/".join(_parse_config(text))
    except ValueError as e:
        raise ValueError(f"together: {e}") from None
    if not at:
        return cfg, None
    if not count.strip().isdigit() or int(count) < 1:
        raise ValueError(f"together: {name!r}: {count!r} after @ is not a client count")
    return cfg, int(count)


def _at_members(g: list[str]) -> list[tuple[str, int]]:
    return [(cfg, int(c)) for cfg, _, c in (m.partition("@") for m in g)]


def _also_at(params: dict) -> dict[tuple[str, int], tuple[tuple, list[tuple[str, int]], str]]:
    """(server/poller, clients) -> (the group's key, its members, its label) for every member
    of an ``also:`` group: measured once more, at once, besides its point in its plain group."""
    out: dict[tuple[str, int], tuple[tuple, list[tuple[str, int]], str]] = {}
    for j, g in enumerate(params.get("together") or []):
        if g[0] == ALSO:
            members = _at_members(g[1:])
            for m in members:
                out[m] = (("also", j), members, "+".join(g[1:]))
    return out


def _label(label: str, build: str | None) -> str:
    """A row's ``paired_group``: the group's label and the build, which the claims' bootstrap
    pairs by (the builds of one group are measured one after the other)."""
    return f"{label}/{build or 'interpreted'}"


def _groups_at(params: dict) -> dict[tuple[str, int], tuple[tuple, list[tuple[str, int]], str]]:
    """(server/poller, clients) -> (the group's key, its members as (server/poller, clients) in
    the order given, its label: ``+``-joined members, client counts named only where the group
    names them) for every member of a ``together`` group at this sweep's client counts. A
    member of a group that names client counts leaves the plain group it is in at that count;
    a plain group left with one member there is none there. ``also:`` groups are not here
    (``_also_at``): their members stay in their plain groups."""
    out: dict[tuple[str, int], tuple[tuple, list[tuple[str, int]], str]] = {}
    groups = [g for g in params.get("together") or [] if g[0] != ALSO]
    for j, g in enumerate(groups):
        if "@" in g[0]:
            members = _at_members(g)
            for m in members:
                out[m] = (("@", j), members, "+".join(g))
    pinned = set(out)
    for i, g in enumerate(groups):
        if "@" in g[0]:
            continue
        for c in params["clients"]:
            members = [(cfg, c) for cfg in g if (cfg, c) not in pinned]
            if len(members) > 1:
                for m in members:
                    out[m] = ((i, c), members, "+".join(cfg for cfg, _ in members))
    return out


def points(params: dict) -> list[dict]:
    """Every (server, poller, clients, build) once per rep, reps outermost (interleaved); at
    each client count the builds one after the other, each with every server side by side.
    Odd reps run each client count's sequence backwards (the builds' order and, within each
    build, the servers'): A B C, then C B A (ABBA), so a drift in the host's speed over a rep
    hits every server alike on average rather than always the last. The servers of one client
    count, build and rep are measured within minutes of each other, which the claims'
    bootstrap relies on (``PAIRED_BY``)."""
    out = []
    builds = params.get("builds", ["interpreted"])
    configs = [_parse_config(c) for c in params["servers"]]
    also: dict[int, list[dict]] = {}             # an also: group's points, at its first count
    for (cfg, clients), (_, members, label) in _also_at(params).items():
        if (cfg, clients) == members[0]:
            server, poller = cfg.split("/")
            also.setdefault(clients, []).append({"server": server, "poller": poller,
                                                 "clients": clients, "label": label})
    for rep in range(params["reps"]):
        forward = rep % 2 == 0
        order = builds if forward else builds[::-1]
        servers = configs if forward else configs[::-1]
        for clients in params["clients"]:
            for build in order:
                here = [{"server": server, "poller": poller, "clients": clients,
                         "build": build, "paired_group": None, "rep": rep}
                        for server, poller in servers]
                again = [{"server": a["server"], "poller": a["poller"], "clients": clients,
                          "build": build, "paired_group": _label(a["label"], build),
                          "rep": rep} for a in also.get(clients, ())]
                out += again + here if forward else here + again[::-1]
    return _together(_with_partners(out, params), params)


def _together(pts: list[dict], params: dict) -> list[dict]:
    """``pts`` with each ``together`` group's points of one build and rep made one point (its
    first member, all of them in ``members``), where its first member stood; a group that
    names client counts also carries its ``paired_group`` label (``_measure_together`` puts it
    in the rows, for the claims' bootstrap)."""
    groups, also = _groups_at(params), _also_at(params)
    if not groups and not also:
        return pts
    out: list[dict] = []
    where: dict[tuple, dict] = {}
    for p in pts:
        entry = _group_of(p, groups, also)
        if entry is None:
            out.append(p)
            continue
        gid, _, label = entry
        key = (gid, p.get("build"), p["rep"])
        if key in where:
            where[key]["members"].append(p)
        else:
            where[key] = {**p, "members": [p]}
            if gid[0] in ("@", "also"):
                where[key]["paired_group"] = _label(label, p.get("build"))
            out.append(where[key])
    return [p if len(p.get("members", ())) != 1 else p["members"][0] for p in out]


def _group_of(p: dict, groups: dict, also: dict):
    """The ``together`` group a point is measured in (``_groups_at``' entry), None if alone: an
    ``also:`` group's when the point names it (``paired_group``), else its plain or @ group."""
    cfg = (f"{p['server']}/{p['poller']}", p["clients"])
    entry = also.get(cfg)
    if entry is not None and p.get("paired_group") == _label(entry[2], p.get("build")):
        return entry
    return groups.get(cfg)


def follow_up_points(params: dict, pts: list[dict]) -> list[dict]:
    """The runner's follow-up points (``repro.runner.follow_up``: one more rep of what an
    INCONCLUSIVE claim reads) in ``points``' order: by client count, each count's builds and
    servers side by side, backwards on an odd rep (ABBA), so they pair as the sweep's reps do.
    A point of a ``together`` group brings the group's other servers with it: a server measured
    alone would meet a core its partners no longer share."""
    pts = _with_partners(pts, params)
    clients = {c: i for i, c in enumerate(params["clients"])}
    builds = {b: i for i, b in enumerate(params.get("builds", ["interpreted"]))}
    configs = {_parse_config(c): i for i, c in enumerate(params["servers"])}

    def order(p: dict) -> tuple:
        sign = 1 if int(p.get("rep", 0)) % 2 == 0 else -1
        return (clients.get(p["clients"], len(clients)),
                sign * builds.get(p.get("build"), 0),
                sign * configs.get((p["server"], p["poller"]), 0))

    return _together(sorted(pts, key=order), params)


def _with_partners(pts: list[dict], params: dict) -> list[dict]:
    """``pts`` and, for each point of a ``together`` group, its partners of the same build and
    rep (once each): at the same client count, or at theirs in a group that names them."""
    def key(p: dict) -> tuple:
        return tuple(p.get(f) for f in KEY_FIELDS)

    groups, also = _groups_at(params), _also_at(params)
    have = {key(p) for p in pts}
    out = list(pts)
    for p in pts:
        entry = _group_of(p, groups, also)
        for cfg, clients in entry[1] if entry else ():
            server, poller = cfg.split("/")
            q = {**p, "server": server, "poller": poller, "clients": clients}
            if key(q) not in have:
                have.add(key(q))
                out.append(q)
    return out


def client_cap() -> int:
    """The most clients a point can have: the server holds one descriptor per connection."""
    return max(1, procs.hard_fd_limit() - SERVER_FD_MARGIN)


def _cap_reason(clients: int) -> str:
    hard = procs.hard_fd_limit()
    return (f"clients={clients} exceeds the descriptor cap {client_cap()}: the server holds one "
            f"descriptor per connection and RLIMIT_NOFILE is hard-capped at {hard} per process "
            f"({SERVER_FD_MARGIN} kept for the listener, poller and file reads)")


def limits(params: dict) -> dict:
    """The machine limits that capped this sweep, for the provenance."""
    cap = client_cap()
    skipped = [c for c in params.get("clients", []) if c > cap]
    out = {
        "fd_limit": procs.hard_fd_limit(),
        "clients_capped_at": cap,
        "why": (f"RLIMIT_NOFILE is hard-capped at {procs.hard_fd_limit()} per process and the "
                f"server holds one descriptor per connection (+{SERVER_FD_MARGIN} spare)"),
        "skipped_clients": skipped,
        "server_cpu_cap": server_cap_limits(params),
    }
    for name in ("net/core/somaxconn", "net/ipv4/tcp_max_syn_backlog",
                 "net/ipv4/ip_local_port_range"):
        try:
            with open(f"/proc/sys/{name}") as f:
                out[name.rsplit("/", 1)[1]] = " ".join(f.read().split())
        except OSError:
            pass
    return out


def server_cap_limits(params: dict) -> dict:
    """The server's CPU cap for the provenance: asked for (``server_cores``, the period),
    whether this machine can set it (a writable cgroup CPU controller, or why not), and the
    rule that makes a point server-bound. Each row says what held for its point (``server_cap``,
    ``server_allotment``)."""
    cores = params.get("server_cores") or 0
    ok, where = availability()
    out = {
        "server_cores": cores,
        "quota_period_ms": params.get("quota_period_ms"),
        "applies_to": "the server process, all its threads (cgroup cpu quota); the clients run "
                      "uncapped on their own core",
        "why": "on loopback the client pays about as much kernel work per request as the "
               "server: with less CPU than the client, the server is the limit",
        "server_bound": f"server >= {SERVER_BOUND} of its allotment and client <= "
                        f"{CLIENT_FREE} of its core (other points are flagged and excluded "
                        f"from bandwidth claims)",
        "capacity_agreement": CAPACITY_AGREEMENT,
    }
    if not cores:
        out.update(available=ok, status="not asked (server_cores=0): the server has its core")
    elif ok:
        out.update(available=True, status=f"{cores:g} core per "
                   f"{params.get('quota_period_ms'):g} ms", controller=where)
    else:
        out.update(available=False, status=f"unavailable: {where}")
    return out


# ---------------------------------------------------------------------------------------------
# Shared setup: the file set
# ---------------------------------------------------------------------------------------------

@contextlib.contextmanager
def prepare(params: dict) -> Iterator[dict]:
    """Build the file set and the request trace once for the sweep; removed afterwards."""
    root = tempfile.mkdtemp(prefix="whyevents-web-")
    try:
        fs = build_fileset(root, params["fileset_clients"], seed=params["seed"],
                           scale=params["scale"])
        trace = fs.mix.trace(TRACE_LENGTH, params["seed"])
        yield {"root": root, "trace": trace, "fileset_bytes": fs.total_bytes,
               "fileset_directories": fs.directories}
    finally:
        shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------

def _popen_client(spec: dict) -> subprocess.Popen:
    """A load-generator worker: dies with this process, its own process group (Ctrl-C is ours)."""
    return subprocess.Popen(
        [sys.executable, "-m", "whyevents.loadgen.multi", json.dumps(spec)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=procs.child_preexec(), process_group=0)


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    try:
        proc.wait(timeout=10.0)
    except subprocess.TimeoutExpired:  # pragma: no cover - a process SIGKILL cannot end
        pass
    for f in (proc.stdin, proc.stdout, proc.stderr):
        if f is not None:
            with contextlib.suppress(OSError):
                f.close()


# ---------------------------------------------------------------------------------------------
# One point
# ---------------------------------------------------------------------------------------------

def _judge(row: dict, params: dict) -> None:
    """``web_rows.judge`` under the name and signature ``tests/test_web_clients.py`` calls."""
    judge(row)


def _client_processes(clients: int, params: dict, client_cores: int) -> int:
    per_process = max(1, procs.hard_fd_limit() - FD_MARGIN - 16)
    need = -(-clients // per_process)
    want = params["client_processes"] or client_cores
    return max(1, min(clients, max(want, need)))


def measure(point: dict, params: dict, *, ctx: dict | None = None,
            progress: Callable[[dict], None] | None = None) -> list[dict]:
    """Measure one (server, poller, clients, rep) point; one row, status ok/failed/skipped, or
    interrupted when its server or load process was killed from outside (``_mark_killed``)."""
    if ctx is None:
        with prepare(params) as own:
            return measure(point, params, ctx=own, progress=progress)
    if ctx.get("placement"):          # the load on other hosts, through repro.cluster
        return web_hosts.measure(point, params, ctx, progress)
    if "members" in point:            # a ``together`` group: its servers at the same time
        return _measure_together(point["members"], params, ctx, progress,
                                 point.get("paired_group"))
    row = base_row(point, KEY_FIELDS)
    clients = point["clients"]
    if clients > client_cap():
        row.update(status="skipped", error=_cap_reason(clients))
        return [row]
    pin = procs.can_pin()
    server_cpu = params["server_cpu"] if pin else None
    client_cpus = [params["client_cpu"]] if pin else []
    nproc = _client_processes(clients, params, max(1, len(client_cpus)))
    threads = params["knot_c_threads"] if point["server"] in KNOT_C_POOLS else None
    if params["client"] == "wrk":
        require_wrk("whyevents run web (client=wrk)")      # WrkNotFound: never a silent swap
        nproc = 1
    row.update(client=params["client"], knot_c_threads=threads, client_processes=nproc,
               fileset_bytes=ctx.get("fileset_bytes"), server_cpu=server_cpu,
               client_cpu=params["client_cpu"] if pin else None)
    spec = _server_spec(point, params, ctx)
    server: ServerProcess | None = None
    workers: list = []
    cap: CpuQuota | None = None
    try:
        server = ServerProcess(spec, cpu=server_cpu, start_timeout=_SERVER_START_TIMEOUT,
                               env=build_env(point.get("build") or "interpreted"))
        try:
            ready = server.start()
        except ServerStartError as e:
            row.update(status="failed", error=f"server did not start: {e}")
            return [row]
        row["build_used"] = ready.get("build")
        cap = _cap_server(server.pid, params, row)
        n_cores = len(client_cpus) or (os.cpu_count() or 1)
        if params["client"] == "wrk":
            wrk, start_at = _start_wrk(ready["host"], ready["port"], clients,
                                       client_cpus[0] if client_cpus else None, params, ctx)
            workers = [wrk]
            row.update(_run_windows([server], [wrk], start_at, params, progress, n_cores,
                                    caps=[cap])[0])
        else:
            workers, start_at = _start_clients(ready["host"], ready["port"], clients, nproc,
                                               client_cpus, params, ctx["trace"])
            row.update(_run_windows([server], [None], start_at, params, progress, n_cores,
                                    workers, caps=[cap])[0])
        judge(row)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as e:  # noqa: BLE001 - a failed point is a row, never an exception
        row.update(status="failed", error=f"{type(e).__name__}: {e}".splitlines()[0][:400])
        _mark_killed(row, server, workers)
    finally:
        for w in workers:
            if isinstance(w, subprocess.Popen):
                _kill(w)
            else:
                w.kill()
        if cap is not None:
            cap.close()
        if server is not None:
            try:
                final = (server.stop(_SERVER_STOP_TIMEOUT) if row["status"] == "ok"
                         else None)
                if final is not None and final.get("peak_rss_bytes") is not None:
                    row["server_rss_bytes"] = final["peak_rss_bytes"]
            finally:
                server.close()
    return [row]


def _server_spec(point: dict, params: dict, ctx: dict) -> dict:
    """What ``ServerProcess`` starts for ``point``: its server, the file set, its poller, the
    page cache and, for Knot-C's pool, ``knot_c_threads``."""
    kwargs = {"poller": point["poller"], "cache_bytes": params["cache_bytes"]}
    if point["server"] in KNOT_C_POOLS:
        kwargs["threads"] = params["knot_c_threads"]
    return {"server": point["server"], "root": ctx["root"], "kwargs": kwargs}


class _MemberDidNotStart(RuntimeError):
    """A ``together`` group's server did not start (a failed group, not one cut short)."""


def _measure_together(members: list[dict], params: dict, ctx: dict,
                      progress: Callable[[dict], None] | None,
                      paired_group: str | None = None) -> list[dict]:
    """A ``together`` group (at one client count, or each member at its own): every member's
    server started (each pinned to the server core under its own allotment), then one wrk per
    server on the client core, all over one window, each server's ``stats`` taken at its edges
    one after the other. One row per member; the clients' share of their core is the group's
    sum (``client_cpu_util_shared``, what ``judge`` reads), since the group's wrk processes
    share it. A member that cannot start, or dies, fails the group's rows alike: a row alone
    would no longer be paired; so does a member over the descriptor cap (all skipped). A group
    that names client counts puts ``paired_group`` (its label and build) in its rows."""
    rows = [base_row(m, KEY_FIELDS) for m in members]
    over = [m["clients"] for m in members if m["clients"] > client_cap()]
    if over:
        for row in rows:
            row.update(status="skipped", error=_cap_reason(max(over)))
        return rows
    require_wrk("whyevents run web (together)")
    pin = procs.can_pin()
    server_cpu = params["server_cpu"] if pin else None
    client_cpu = params["client_cpu"] if pin else None
    for m, row in zip(members, rows, strict=True):
        row.update(client="wrk", client_processes=1, fileset_bytes=ctx.get("fileset_bytes"),
                   knot_c_threads=(params["knot_c_threads"] if m["server"] in KNOT_C_POOLS
                                   else None),
                   server_cpu=server_cpu, client_cpu=client_cpu,
                   servers_together=len(members))
        if paired_group:
            row["paired_group"] = paired_group          # (its label and build: ``_label``)
    servers: list[ServerProcess] = []
    caps: list[CpuQuota | None] = []                # each server's, None where uncapped
    wrks: list = []
    try:
        readies = []
        for m, row in zip(members, rows, strict=True):
            server = ServerProcess(_server_spec(m, params, ctx), cpu=server_cpu,
                                   start_timeout=_SERVER_START_TIMEOUT,
                                   env=build_env(m.get("build") or "interpreted"))
            servers.append(server)
            try:
                ready = server.start()
            except ServerStartError as e:
                raise _MemberDidNotStart(f"{m['server']}/{m['poller']}: server did not "
                                         f"start: {e}") from None
            row["build_used"] = ready.get("build")
            caps.append(_cap_server(server.pid, params, row))
            readies.append(ready)
        start_at = time.time()
        for m, ready in zip(members, readies, strict=True):
            wrks.append(_start_wrk(ready["host"], ready["port"], m["clients"], client_cpu,
                                   params, ctx, start_at=start_at)[0])
        figures = _run_windows(servers, wrks, start_at, params, progress, 1, caps=caps)
        for row, fig in zip(rows, figures, strict=True):
            row.update(fig)
        shared = math.fsum(r["client_cpu_util"] for r in rows)
        for row in rows:
            row["client_cpu_util_shared"] = shared
            judge(row)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as e:  # noqa: BLE001 - a failed group is failed rows, never an exception
        error = f"{type(e).__name__}: {e}".splitlines()[0][:400]
        if isinstance(e, _MemberDidNotStart):
            error = str(e).splitlines()[0][:400]
        for i, row in enumerate(rows):
            row.update(status="failed", error=error)
            if i < len(servers) and not isinstance(e, _MemberDidNotStart):
                _mark_killed(row, servers[i], wrks[i:i + 1])
            judge(row)
    finally:
        for w in wrks:
            w.kill()
        for cap in caps:
            if cap is not None:
                cap.close()
        for row, server in zip(rows, servers, strict=False):
            try:
                final = server.stop(_SERVER_STOP_TIMEOUT) if row["status"] == "ok" else None
                if final is not None and final.get("peak_rss_bytes") is not None:
                    row["server_rss_bytes"] = final["peak_rss_bytes"]
            finally:
                server.close()
    return rows


def _mark_killed(row: dict, server: ServerProcess | None, workers: list) -> None:
    """A failed point whose server or load process was killed by a signal (none is sent before
    this runs) was cut short from outside, not measured: status ``interrupted``, which the
    runner does not count as done (``--resume`` measures it again; repro/store.py)."""
    named = [("server", server.proc if server is not None else None)]
    named += [("load", getattr(w, "proc", w)) for w in workers]
    for name, proc in named:
        if proc is None:
            continue
        try:                 # a killed process closes its pipes a moment before it can be reaped
            code = proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            continue
        if code < 0:
            try:
                sig = signal.Signals(-code).name
            except ValueError:
                sig = f"signal {-code}"
            row.update(status="interrupted",
                       error=f"{name} process (pid {proc.pid}) killed by {sig}: {row['error']}"
                       [:400])
            return


def _cap_server(pid: int, params: dict, row: dict) -> CpuQuota | None:
    """Put the server process (all its threads) under its CPU allotment; record it in the row.

    ``server_cap`` says what held: ``"0.5 core per 10 ms (cgroup v1 cpu)"``, ``"none"`` (not
    asked for), or ``"unavailable: <why>"`` (no writable cgroup CPU controller): then the server
    has its whole core and ``server_allotment`` is 1.
    """
    cores = params["server_cores"]
    row.update(server_allotment=1.0, server_cap="none", quota_period_ms=None)
    if not cores:
        return None
    try:
        cap = CpuQuota(cores, params["quota_period_ms"] / 1e3)
    except CpuQuotaUnavailable as e:
        row["server_cap"] = f"unavailable: {e}"
        return None
    try:
        cap.add(pid)
    except OSError as e:
        cap.close()
        row["server_cap"] = f"unavailable: cannot move the server into {cap.path}: {e}"
        return None
    d = cap.describe()
    row.update(server_allotment=cores, quota_period_ms=params["quota_period_ms"],
               server_cap=f"{cores:g} core per {params['quota_period_ms']:g} ms "
                          f"({d['controller']})")
    return cap


def _start_wrk(host: str, port: int, clients: int, cpu: int | None, params: dict, ctx: dict,
               start_at: float | None = None):
    """wrk running the HttpLoad script now; the window opens ``warmup`` seconds after
    ``start_at`` (default: now; a ``together`` group's wrk processes share one)."""
    start_at = time.time() if start_at is None else start_at
    window = (start_at + params["warmup"], start_at + params["warmup"] + params["duration"])
    wrk = start_httpload_wrk(host, port, clients, window,
                             requests_per_conn=params["requests_per_conn"],
                             think_time=params["think_time"], paths=ctx["trace"],
                             seed=params["seed"], cpu=cpu, timeout=params["client_timeout"])
    return wrk, start_at


def _start_clients(host: str, port: int, clients: int, nproc: int, cpus: list[int],
                   params: dict, trace: list[str]) -> tuple[list[subprocess.Popen], float]:
    start_at = time.time() + _CLIENT_START_DELAY
    base, extra = divmod(clients, nproc)
    workers = []
    for i in range(nproc):
        spec = dict(host=host, port=port, clients=base + (1 if i < extra else 0),
                    duration=params["duration"], warmup=params["warmup"],
                    requests_per_conn=params["requests_per_conn"],
                    think_time=params["think_time"], paths=trace,
                    seed=params["seed"] + i * 1_000_003, timeout=params["client_timeout"],
                    start_at=start_at, cpu=cpus[i % len(cpus)] if cpus else None)
        workers.append(_popen_client(spec))
    return workers, start_at


def _check_alive(server: ServerProcess, workers: list[subprocess.Popen], wrk=None) -> None:
    """Raise ``RuntimeError`` saying why if the server, wrk or a load worker has died."""
    if server.proc.poll() is not None:
        raise RuntimeError(server.died())
    if wrk is not None and (msg := wrk.failed()) is not None:
        raise RuntimeError(msg)
    for w in workers:
        if w.poll() is not None and w.returncode != 0:
            raise RuntimeError(f"load worker failed early (exit {w.returncode}): "
                               f"{_tail(w.stderr.read())}")


def _run_windows(servers: list[ServerProcess], wrks: list, start_at: float, params: dict,
                 progress: Callable[[dict], None] | None, n_cores: int,
                 workers: list[subprocess.Popen] | None = None, *,
                 caps: list[CpuQuota | None] | None = None) -> list[dict]:
    """Warm-up, then the measured window, for one server or a ``together`` group: every
    server's snapshot at each edge of the one window (taken one after the other, within
    milliseconds), the progress line showing the first server; each server's figures, in order.

    ``wrks``: each server's wrk, or ``[None]`` for one server driven by the Python load
    ``workers`` (collected after the window). ``caps``: each server's CPU quota (or None): its
    throttled periods go into the snapshot (``web_rows.THROTTLED``), so that the row can tell
    the switches the quota forced from the server's own."""
    warmup, duration = params["warmup"], params["duration"]
    w_start = start_at + warmup
    w_end = w_start + duration
    workers = workers or []

    def wait(t: float) -> None:
        while (left := t - time.time()) > 0:
            for server, wrk in zip(servers, wrks, strict=True):
                _check_alive(server, workers, wrk)
            time.sleep(min(left, 0.2))

    quotas = caps or [None] * len(servers)

    def ask() -> list[dict]:
        snaps = []
        for server, cap in zip(servers, quotas, strict=True):
            snap = server.ask("stats")
            snap[THROTTLED] = cap.stats()["throttled_periods"] if cap is not None else 0
            snaps.append(snap)
        return snaps

    def cpu() -> list:
        return [wrk.cpu() if wrk is not None else None for wrk in wrks]

    first = prev = ask()
    while time.time() < w_start - 1.0:                  # warm-up: show the connection ramp
        wait(min(w_start - 1.0, time.time() + 1.0))
        now = ask()
        if progress is not None:
            progress(live("warmup", now[0], prev[0], first[0]))
        prev = now
    wait(w_start)
    s0, c0 = ask(), cpu()
    while True:
        wait(min(w_end, time.time() + 1.0))
        now = ask()
        if time.time() >= w_end - 1e-3:
            s1, c1 = now, cpu()
            break
        if progress is not None:
            progress(live("window", now[0], prev[0], s0[0]))
        prev = now
    if progress is not None:
        progress(live("collect", s1[0], s0[0], s0[0]))
    out = []
    for server, wrk, a, b, ca, cb in zip(servers, wrks, s0, s1, c0, c1, strict=True):
        if wrk is not None:
            res = httpload_result(wrk, ca, cb)
            if server.proc.poll() is not None:
                raise RuntimeError(server.died())
            out.append(row_figures(WrkResult(res), a, b, duration, n_cores, res))
        else:
            out.append(_collect_workers(server, workers, a, b, params, n_cores))
    return out


def _collect_workers(server: ServerProcess, workers: list[subprocess.Popen], s0: dict,
                     s1: dict, params: dict, n_cores: int) -> dict:
    """The Python load workers' results after the window, merged into one server's figures."""
    parts = []
    deadline = time.monotonic() + params["client_timeout"] + 30.0
    for w in workers:
        try:
            out, err = w.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise TimeoutError("load workers did not finish within the client timeout + 30 s "
                               "after the window") from None
        if w.returncode != 0:
            raise RuntimeError(f"load worker failed (exit {w.returncode}): {_tail(err)}")
        parts.append(json.loads(out))
    if server.proc.poll() is not None:
        raise RuntimeError(server.died())
    return row_figures(merge(parts), s0, s1, params["duration"], n_cores)


def _tail(text: str | None) -> str:
    lines = [ln for ln in (text or "").strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "no message"


