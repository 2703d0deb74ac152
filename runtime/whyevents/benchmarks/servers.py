"""``whyevents bench servers``: the web servers under wrk, against their peers, in one run.

What is measured: wrk (one thread, keep-alive, closed loop) fetching one 8 KiB file at 50, 1,000
and 10,000 connections, from Knot-C and Knot-A (green threads, epoll), the event-loop twin, the
staged (SEDA-like) server, and the peers: a uvloop and an asyncio protocol server, a gevent
StreamServer (all three answering the same pre-built bytes as Knot, ``servers_peers``),
gevent.pywsgi with and without TCP_NODELAY, and nginx with one worker (``servers_nginx``).
("servers", not "web": ``whyevents run web`` is the paper's Figure 3 sweep, an experiment.)

Why this shape:

* **CPU per request is the yardstick, req/s the headline.** The server is pinned to one core and
  wrk to the other; at these rates the single wrk core saturates about as soon as the server's
  does, so req/s partly measures wrk. The server's own CPU time (user + system, from
  ``/proc/<pid>/stat`` of the server process: every thread, including ones that ended), taken
  just before wrk starts and just after it exits, divided by the requests wrk completed, is what
  each server costs per request whatever the client manages. It includes accepting the
  connections at the start of the run, which dominates at 10,000 connections in short runs;
  so each cell also has a *steady* window (from a third of the run, half at >= 5,000
  connections, to wrk's end; CPU and requests both counted by the server: its own counters, or
  nginx's stub_status) that leaves connecting out.
* **A fresh subprocess per measurement**, started through ``whyevents.servers.process`` (the
  same server-process protocol as the web sweep; nginx runs as itself), pinned
  (``sched_setaffinity`` before exec, so every thread it creates inherits the core), its soft
  descriptor limit raised to the hard one, killed by the parent on any error, on Ctrl-C, or if
  the parent dies (``PR_SET_PDEATHSIG``), so no server outlives the run. Before wrk runs, each
  server must answer two pipelined GETs and a third on the same connection with 200 and the
  exact 8,192 bytes: a server that fails is reported, not measured.
* **Interleaved repetitions**: repetition 1 runs every (connections, server) cell, repetition 2
  runs them all again with the server order rotated, and so on, so the machine's drift spreads
  over every server. Cells show medians with the inter-quartile range (min-max in the JSON).
* **Descriptors**: RLIMIT_NOFILE may be hard-capped (the JSON records it). The parent raises its
  soft limit to the hard one (wrk inherits it), and so does each server; a connection count that
  does not fit (connections + ``FD_MARGIN`` over the limit, or over the ephemeral port range) is
  capped and the cap is printed and recorded, rather than letting anyone hit EMFILE.
* **Ratios to the event twin, paired by repetition.** Each whyevents server's CPU per request
  is divided by the event twin's (``eventloop``) of the same repetition and connection count,
  measured next to it; the table gives the median of those ratios with a bootstrap confidence
  interval over the repetitions (``harness.stats.paired_ratio``). Issue 20's targets are decided on
  them (``TWIN_TARGETS``): MET only when the whole interval is at or under the target, MISSED
  when all of it is over, INCONCLUSIVE otherwise (more repetitions narrow it).
* **Nothing fails on a target.** The targets (the twin ratios above; Knot-C green epoll: req/s
  >= uvloop's and CPU us/request <= uvloop's at every connection count) are printed; the exit
  status is 0 unless a whyevents server could not be measured at all.

Knot-C serves each connection to completion on one of a fixed pool of threads, so with
keep-alive it needs at least as many threads as wrk has connections (the rest would wait in the
backlog, unserved): it gets ``max(256, connections + 64)`` threads (``knot_c_threads``; 256 is
Knot's green default, ``knot.DEFAULT_THREADS["green"]``), recorded per cell.

Only the standard library is imported at module level (the CLI builds every benchmark's parser);
the servers and their frameworks are imported in the server subprocesses.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from whyevents.harness import args as _args
from whyevents.harness import procs
from whyevents.harness import progress as _progress
from whyevents.harness import provenance as _provenance
from whyevents.harness.stats import MIN_PAIRS, against_target, cell_text, fmt, paired_ratio, summary
from whyevents.servers import POOLS as KNOT_C_POOLS
from whyevents.servers import SERVERS as REGISTRY
from whyevents.servers.process import ServerProcess, ServerStartError

from .results import default_json_path, write_json
from .servers_http import (
    FILE_NAME,
    FILE_SIZE,
    CheckFailed,
    check_server,
    get_request,
    make_docroot,
    read_responses,
)

__all__ = [
    "SERVERS", "WHYEVENTS_SERVERS", "PEERS", "PROFILES", "FILE_NAME", "FILE_SIZE", "FD_MARGIN",
    "Config", "BenchServer", "ServerUnavailable", "CheckFailed", "make_docroot", "check_server",
    "get_request", "server_spec",
    "read_responses", "fd_budget", "cap_connections", "knot_c_threads", "run_cell", "run_benchmark",
    "format_table", "add_arguments", "main_from_args", "DESCRIPTION", "EPILOG",
]

#: whyevents' servers: name -> one-line description.
WHYEVENTS_SERVERS: dict[str, str] = {
    "knot-c": "Knot-C, green threads, epoll: a thread per connection served to completion",
    "knot-a": "Knot-A, green threads, epoll: an acceptor spawning a thread per connection",
    "knot-c-async": "Knot-C on async def threads (coro_io, epoll): the compiler's transform",
    "knot-a-async": "Knot-A on async def threads (coro_io, epoll): the compiler's transform",
    "knot-c-gen": "Knot-C on generator threads: knot-c-async's code, await as yield from",
    "knot-a-gen": "Knot-A on generator threads: knot-a-async's code, await as yield from",
    "eventloop": "Knot's event-driven twin: one edge-triggered epoll loop",
    "seda": "the staged (SEDA/Haboob-like) server on kernel threads",
}
#: The peers: name -> one-line description (the Python ones live in servers_peers).
PEERS: dict[str, str] = {
    "uvloop": "uvloop protocol server, same pre-built response",
    "asyncio": "asyncio selector-loop protocol server, same pre-built response",
    "gevent": "gevent StreamServer, a greenlet per connection, same pre-built response",
    "pywsgi-nodelay": "gevent.pywsgi WSGI app, TCP_NODELAY on accepted sockets",
    "pywsgi": "gevent.pywsgi WSGI app as shipped (Nagle + delayed ACK; short runs)",
    "nginx": "nginx, one worker, master_process off, generated config",
}
SERVERS: tuple[str, ...] = (*WHYEVENTS_SERVERS, *PEERS)
assert set(WHYEVENTS_SERVERS) <= set(REGISTRY), "whyevents servers come from whyevents.servers"
#: Peers that need a Python module (missing -> "unavailable").
_NEEDS = {"uvloop": "uvloop", "gevent": "gevent", "pywsgi-nodelay": "gevent", "pywsgi": "gevent"}
#: Servers whose runs are kept short whatever --duration says (pywsgi without NODELAY waits for
#: the client's delayed ACK on every response: a long run measures the delayed-ACK timer).
_SHORT = ("pywsgi",)

#: The event twin every whyevents server's CPU per request is divided by, repetition by repetition.
TWIN = "eventloop"
#: Issue 20's targets: server CPU per request / the twin's, at most this at every connection count.
TWIN_TARGETS: dict[str, float] = {"knot-c": 1.25, "knot-c-async": 1.10}

DEFAULT_CONNS = (50, 1000, 10_000)
#: Descriptors a server or wrk needs beyond one per connection (listener, epoll, pipes, stdio,
#: the interpreter's own files).
FD_MARGIN = 128

PROFILES: dict[str, dict] = {
    # duration_large: for >= 5,000 connections, where connecting takes a noticeable part
    "quick": {"duration": 2, "duration_large": 4, "short": 1, "repeat": 2},
    "full": {"duration": 10, "duration_large": 10, "short": 2, "repeat": 3},
}
#: wrk's per-request timeout: long enough that a server slowly cycling through 10,000
#: connections is measured, not counted as timing out.
WRK_TIMEOUT_S = 10
_START_TIMEOUT = 60.0
_STOP_TIMEOUT = 10.0


class ServerUnavailable(Exception):
    """The server cannot run here (module or binary missing): reported, not an error."""


# ---------------------------------------------------------------------------------------------
# Descriptors and threads
# ---------------------------------------------------------------------------------------------

def fd_budget() -> dict:
    """How many connections fit: the soft limit after raising it to the hard one, less
    ``FD_MARGIN``, and below the ephemeral port range. Raises this process's soft limit (wrk,
    started from here, inherits it)."""
    procs.raise_fd_limit()
    soft, hard = procs.fd_limit()
    ports = procs.port_range()
    return {"soft": soft, "hard": hard, "ephemeral_ports": ports,
            "max_connections": max(1, min(soft - FD_MARGIN, ports - 1000))}


def cap_connections(requested: Sequence[int], limit: int) -> tuple[list[int], list[dict]]:
    """The connection counts to measure: each capped to ``limit`` (duplicates dropped), and
    the caps applied, ``[{"requested", "used"}]``, for the report."""
    conns: list[int] = []
    capped: list[dict] = []
    for c in requested:
        if c > limit:
            capped.append({"requested": c, "used": limit})
            c = limit
        if c not in conns:
            conns.append(c)
    return conns, capped


def knot_c_threads(connections: int) -> int:
    """Knot-C's pool for ``connections`` keep-alive clients: one thread each, plus spare."""
    return max(256, connections + 64)


# ---------------------------------------------------------------------------------------------
# The server subprocess
# ---------------------------------------------------------------------------------------------

def server_spec(name: str, root: str, connections: int) -> dict:
    """The ``servers.process`` SPEC that runs ``name`` for this benchmark: a registered server
    on epoll (Knot-C with ``knot_c_threads(connections)``), or a Python peer."""
    if name in WHYEVENTS_SERVERS:
        kwargs: dict = {"poller": "epoll"}
        if name in KNOT_C_POOLS:
            kwargs["threads"] = knot_c_threads(connections)
        return {"server": name, "root": root, "kwargs": kwargs}
    return {"start": "whyevents.benchmarks.servers_peers:start_peer", "root": root,
            "args": [name, root, FILE_NAME]}


class BenchServer:
    """One server under the benchmark, in its own process: ``start()``, ``.address``, ``.pid``,
    ``cpu_times()``, ``stats()``, ``request_count()``, ``stop()``; a context manager that always
    kills what it started.

    ``cpu`` pins the process (and so every thread it creates) to that core. nginx runs as itself
    from a generated config (``servers_nginx.NginxProcess``); every other server through the
    server-process protocol of ``whyevents.servers.process``.
    """

    def __init__(self, server: str, root: str, connections: int, workdir: str,
                 cpu: int | None = None, start_timeout: float = _START_TIMEOUT) -> None:
        if server not in SERVERS:
            raise ValueError(f"server={server!r}: choose one of {', '.join(SERVERS)}")
        self.server = server
        self.root = root
        self.connections = connections
        self.workdir = workdir
        self.cpu = cpu
        self.start_timeout = start_timeout
        self._p = None
        self.address: tuple | None = None
        self.info: dict = {}

    def start(self) -> BenchServer:
        if self.server == "nginx":
            from .servers_nginx import NginxProcess, NginxUnavailable

            self._p = NginxProcess(self.root, self.connections, self.workdir, cpu=self.cpu,
                                   start_timeout=self.start_timeout)
            try:
                self._p.start()
            except NginxUnavailable as e:
                raise ServerUnavailable(str(e)) from None
            self.info = dict(self._p.info)
        else:
            need = _NEEDS.get(self.server)
            if need is not None:
                import importlib.util
                if importlib.util.find_spec(need) is None:
                    raise ServerUnavailable(f"{need} is not installed")
            spec = server_spec(self.server, self.root, self.connections)
            self._p = ServerProcess(spec, cpu=self.cpu, start_timeout=self.start_timeout)
            try:
                ready = self._p.start()
            except ServerStartError as e:
                raise RuntimeError(f"{self.server} failed to start: {e}") from None
            self.info = {"port": ready["port"], "pid": ready["pid"],
                         "fd_limit": ready["fd_limit"], "affinity": ready["affinity"]}
            if "threads" in spec.get("kwargs", {}):
                self.info["threads"] = ready["threads"]
        self.address = ("127.0.0.1", self.info["port"])
        return self

    @property
    def proc(self) -> subprocess.Popen | None:
        return None if self._p is None else self._p.proc

    @property
    def pid(self) -> int:
        return self._p.pid

    def cpu_times(self) -> tuple[float, float]:
        """(user, system) CPU seconds the server process has used so far."""
        return self._p.cpu_times()

    def stats(self, timeout: float = 10.0) -> dict | None:
        """The server's counters (None for nginx, or if it does not answer)."""
        return None if self._p is None else self._p.stats(timeout)

    def stderr_tail(self) -> str:
        return "" if self._p is None else self._p.stderr_tail()

    def request_count(self) -> int | None:
        """Requests the server has answered so far, by its own count (nginx: stub_status,
        which counts the status request itself too); None if it cannot say."""
        if self.server != "nginx":
            st = self.stats()
            return st["requests"] if st else None
        return self._p.request_count()

    def stop(self) -> dict | None:
        """Stop the server (cleanly for whyevents' servers; final counters) and reap it."""
        return None if self._p is None else self._p.stop()

    def kill(self) -> None:
        """Kill and reap the process (idempotent)."""
        if self._p is not None:
            self._p.close()

    def __enter__(self) -> BenchServer:
        return self.start() if self._p is None else self

    def __exit__(self, *exc) -> None:
        self.kill()


# ---------------------------------------------------------------------------------------------
# One measurement
# ---------------------------------------------------------------------------------------------

@dataclass
class Config:
    """What ``whyevents bench servers`` was asked to do."""

    profile: str = "quick"
    conns: list[int] = field(default_factory=lambda: list(DEFAULT_CONNS))
    servers: list[str] = field(default_factory=lambda: list(SERVERS))
    duration: float | None = None
    repeat: int | None = None
    json_path: Path | None = None
    pin: bool = True
    progress: bool = True

    @property
    def repetitions(self) -> int:
        return self.repeat if self.repeat is not None else PROFILES[self.profile]["repeat"]

    def duration_for(self, server: str, connections: int) -> int:
        """wrk's -d (whole seconds, at least 1) for this cell."""
        P = PROFILES[self.profile]
        if self.duration is not None:
            d = self.duration
        else:
            d = P["duration_large"] if connections >= 5000 else P["duration"]
        if server in _SHORT and connections < 5000:
            d = min(d, P["short"])         # at 10,000 connections it is CPU-bound anyway
        return max(1, round(d))


def steady_start(duration: float, connections: int) -> float | None:
    """Seconds into a wrk run at which the steady-state window starts (None: run too short).

    The whole-run figures include connecting (10,000 accepts, and SYN retransmits once the
    listen backlog overflows); the steady window leaves that out: from a third of the run (half
    at >= 5,000 connections) to wrk's end, requests counted by the server itself."""
    if duration < 2:
        return None
    return duration * (0.5 if connections >= 5000 else 0.3)


def _run_wrk_sampled(proc: BenchServer, url: str, connections: int, duration: int,
                     wrk_cpu: int | None) -> tuple[dict, float, float, tuple | None]:
    """wrk against ``url`` in a thread of its own while this thread samples the server once, at
    ``steady_start``: returns ``(wrk's result, start, end, mid)`` (monotonic seconds; ``mid`` is
    ``(time, cpu_times, request_count)`` at the steady start, None if wrk ended first or the run
    is too short). wrk's error is re-raised here."""
    from whyevents.loadgen.wrk import run_wrk

    t0 = time.monotonic()
    box: dict = {}

    def drive() -> None:
        try:
            box["wrk"] = run_wrk(url, connections, duration, threads=1, cpu=wrk_cpu,
                                 timeout=WRK_TIMEOUT_S)
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = e
        box["end"] = time.monotonic()

    driver = threading.Thread(target=drive, name="wrk", daemon=True)
    driver.start()
    # the steady-state window: from once the connections are up to wrk's end
    warm = steady_start(duration, connections)
    mid = None
    if warm is not None:
        driver.join(warm)
        if driver.is_alive():
            mid = (time.monotonic(), proc.cpu_times(), proc.request_count())
    driver.join()
    if "error" in box:
        raise box["error"]
    return box["wrk"], t0, box["end"], mid


def _wrk_figures(w: dict, wall: float, du: float, ds: float) -> dict:
    """The cell's whole-run fields: wrk's requests, rate, errors and latency, and the server's
    CPU (``du`` user, ``ds`` system seconds over the run) per request."""
    n = w["requests"]
    cpu = du + ds
    return dict(
        status="ok", requests=n, requests_per_s=w["requests_per_s"],
        wrk_duration_s=w["duration_s"], wall_s=round(wall, 3),
        cpu_user_s=round(du, 3), cpu_system_s=round(ds, 3),
        cpu_us_per_request=cpu / n * 1e6 if n else None,
        user_us_per_request=du / n * 1e6 if n else None,
        system_us_per_request=ds / n * 1e6 if n else None,
        socket_errors=w["socket_errors"], non_2xx_3xx=w["non_2xx_3xx"],
        latency_ms=w["latency_ms"], wrk_command=w["command"])


def _steady_figures(mid: tuple, t0: float, t_end: float, cpu_end: tuple[float, float],
                    end_count: int) -> dict | None:
    """The steady window's figures (``steady_start`` to wrk's end, requests as the server
    counted them), or None when the server served none in it."""
    t_mid, (um, sm), c_mid = mid
    u1, s1 = cpu_end
    k = end_count - c_mid
    if k <= 0:
        return None
    return {"from_s": round(t_mid - t0, 3), "seconds": round(t_end - t_mid, 3),
            "requests": k, "requests_per_s": k / (t_end - t_mid),
            "cpu_us_per_request": ((u1 - um) + (s1 - sm)) / k * 1e6}


def _server_counters(before: dict, after: dict) -> dict:
    """The server's own counters over the run: requests, connections, errors by kind (those
    that moved), accept back-offs."""
    errs = {k: v - before.get("errors", {}).get(k, 0) for k, v in after.get("errors", {}).items()}
    return {"server_requests": after["requests"] - before["requests"],
            "server_connections": after["connections_total"] - before["connections_total"],
            "server_errors": {k: v for k, v in errs.items() if v},
            "accept_backoffs": after.get("accept_backoffs", 0) - before.get("accept_backoffs", 0)}


def run_cell(server: str, connections: int, duration: int, root: str, body: bytes,
             workdir: str, server_cpu: int | None = None,
             wrk_cpu: int | None = None) -> dict:
    """Start ``server``, check it, run wrk against it, stop it: one cell of the table.

    Returns a dict with ``status`` "ok", "unavailable" or "error" (``reason``), req/s, CPU
    seconds and CPU us/request, wrk's error counts and latency, and the server's own counters.
    """
    cell: dict = {"server": server, "connections": connections, "duration_s": duration,
                  "status": "error"}
    os.makedirs(workdir, exist_ok=True)
    proc = BenchServer(server, root, connections, workdir, cpu=server_cpu)
    try:
        try:
            proc.start()
        except ServerUnavailable as e:
            cell.update(status="unavailable", reason=str(e))
            return cell
        cell.update({k: v for k, v in proc.info.items() if k in ("threads", "fd_limit",
                                                                  "affinity")})
        check_server(proc.address, body)
        url = f"http://127.0.0.1:{proc.address[1]}/{FILE_NAME}"
        before = proc.stats()
        u0, s0 = proc.cpu_times()
        w, t0, t_end, mid = _run_wrk_sampled(proc, url, connections, duration, wrk_cpu)
        u1, s1 = proc.cpu_times()
        after = proc.stats()
        end_count = proc.request_count()
        if proc.proc.poll() is not None:
            raise RuntimeError(f"{server} exited during the run: {proc.stderr_tail()}")
        cell.update(_wrk_figures(w, t_end - t0, u1 - u0, s1 - s0))
        if not w["requests"]:
            cell.update(status="error", reason=f"wrk completed no request in {duration} s")
        if mid is not None and mid[2] is not None and end_count is not None:
            steady = _steady_figures(mid, t0, t_end, (u1, s1), end_count)
            if steady is not None:
                cell["steady"] = steady
        if before and after:
            cell.update(_server_counters(before, after))
    except (CheckFailed, RuntimeError, OSError, ValueError, subprocess.SubprocessError) as e:
        cell.update(status="error", reason=f"{type(e).__name__}: {e}")
    finally:
        proc.kill()
    return cell


# ---------------------------------------------------------------------------------------------
# The run: plan, measure, aggregate
# ---------------------------------------------------------------------------------------------

def plan_cells(cfg: Config, conns: Sequence[int]) -> list[dict]:
    """Interleaved: each repetition runs every (connections, server) cell, the server order
    rotated by one per repetition."""
    servers = list(cfg.servers)
    jobs = []
    for rep in range(cfg.repetitions):
        k = rep % len(servers)
        order = servers[k:] + servers[:k]
        for c in conns:
            for s in order:
                jobs.append({"server": s, "connections": c, "rep": rep,
                             "duration": cfg.duration_for(s, c)})
    return jobs


def _errors_text(cells: list[dict]) -> str:
    sock = {}
    non2 = 0
    for c in cells:
        for k, v in (c.get("socket_errors") or {}).items():
            sock[k] = sock.get(k, 0) + v
        non2 += c.get("non_2xx_3xx") or 0
    parts = [f"{k} {v:,}" for k, v in sock.items() if v]
    if non2:
        parts.append(f"non-2xx {non2:,}")
    return ", ".join(parts)


def aggregate(cfg: Config, conns: Sequence[int], cells: list[dict]) -> tuple[list, list]:
    """Rows per (connections, server) and the target verdicts per connection count."""
    rows = []
    for c in conns:
        for s in cfg.servers:
            mine = [x for x in cells if x["server"] == s and x["connections"] == c]
            if not mine:
                continue
            ok = [x for x in mine if x["status"] == "ok"]
            row = {"server": s, "connections": c, "cells": len(mine), "ok": len(ok)}
            if ok:
                row["status"] = "ok" if len(ok) == len(mine) else "partial"
            elif all(x["status"] == "unavailable" for x in mine):
                row["status"] = "unavailable"
            else:
                row["status"] = "error"
            bad = [x for x in mine if x["status"] != "ok"]
            if bad:
                row["reason"] = bad[0].get("reason")
            row["requests_per_s"] = summary([x["requests_per_s"] for x in ok])
            row["cpu_us_per_request"] = summary([x["cpu_us_per_request"] for x in ok
                                                if x.get("cpu_us_per_request") is not None])
            row["user_us_per_request"] = summary([x["user_us_per_request"] for x in ok
                                                 if x.get("user_us_per_request") is not None])
            row["system_us_per_request"] = summary([x["system_us_per_request"] for x in ok
                                                   if x.get("system_us_per_request")
                                                   is not None])
            steady = [x["steady"] for x in ok if x.get("steady")]
            row["steady_requests_per_s"] = summary([x["requests_per_s"] for x in steady])
            row["steady_cpu_us_per_request"] = summary([x["cpu_us_per_request"] for x in steady])
            row["wrk_errors"] = _errors_text(ok)
            row["server_errors"] = {}
            for x in ok:
                for k, v in (x.get("server_errors") or {}).items():
                    row["server_errors"][k] = row["server_errors"].get(k, 0) + v
            if any(x.get("threads") for x in ok):
                row["threads"] = ok[0]["threads"]
            rows.append(row)
    verdicts = []
    for c in conns:
        by = {r["server"]: r for r in rows if r["connections"] == c}
        we, uv = by.get("knot-c"), by.get("uvloop")
        for metric, better in (("requests_per_s", "higher"), ("cpu_us_per_request", "lower")):
            v = {"connections": c, "metric": metric, "better": better,
                 "knot_c": we[metric]["median"] if we else None,
                 "uvloop": uv[metric]["median"] if uv else None, "met": None}
            if v["knot_c"] is not None and v["uvloop"] is not None:
                a, b = v["knot_c"], v["uvloop"]
                v["met"] = a >= b if better == "higher" else a <= b
                v["ratio"] = a / b if b else None
            verdicts.append(v)
    return rows, verdicts


def twin_ratios(cfg: Config, conns: Sequence[int], cells: list[dict],
                metric: str = "cpu_us_per_request") -> list[dict]:
    """Per whyevents server (not the twin) and connection count: ``metric`` / the twin's,
    paired by repetition (``paired_ratio``), with the target and its verdict where
    ``TWIN_TARGETS`` names one. Empty unless the twin was measured."""
    ok = {(x["server"], x["connections"], x.get("rep")): x[metric] for x in cells
          if x["status"] == "ok" and x.get(metric) is not None}
    if not any(k[0] == TWIN for k in ok):
        return []
    out = []
    for s in cfg.servers:
        if s == TWIN or s not in WHYEVENTS_SERVERS:
            continue
        for c in conns:
            pairs = [(v, ok[(TWIN, c, rep)]) for (srv, cc, rep), v in ok.items()
                     if srv == s and cc == c and (TWIN, c, rep) in ok]
            if not pairs:
                continue
            r = {"server": s, "connections": c, "metric": metric,
                 **paired_ratio(pairs, seed=zlib.crc32(f"{s}/{c}".encode()))}
            if s in TWIN_TARGETS:
                r["target"] = TWIN_TARGETS[s]
                r["verdict"] = against_target(r, TWIN_TARGETS[s])
            out.append(r)
    return out


def run_benchmark(cfg: Config) -> dict:
    """Measure every cell (writing the JSON after each), aggregate, return the result dict."""
    budget = fd_budget()
    conns, capped = cap_connections(cfg.conns, budget["max_connections"])
    server_cpu, wrk_cpu = procs.pick_cpus(cfg.pin)
    jobs = plan_cells(cfg, conns)
    json_path = cfg.json_path or default_json_path("bench-servers")
    parameters = {
        "profile": cfg.profile, "connections": conns, "connections_requested": cfg.conns,
        "connections_capped": capped, "servers": cfg.servers, "repeat": cfg.repetitions,
        "duration_s": {s: {c: cfg.duration_for(s, c) for c in conns} for s in cfg.servers},
        "server_cpu": server_cpu, "wrk_cpu": wrk_cpu, "pin_requested": cfg.pin,
        "fd_limit": budget, "file": {"name": FILE_NAME, "bytes": FILE_SIZE},
        "wrk": f"wrk -t1 -c<connections> -d<duration>s --latency --timeout={WRK_TIMEOUT_S}s",
        "knot_c_threads": {c: knot_c_threads(c) for c in conns},
        "cpu_accounting": "server process user+system from /proc/<pid>/stat (all threads), "
                          "delta from just before wrk starts to just after it exits, divided "
                          "by the requests wrk completed",
        "jobs": len(jobs),
    }
    result = {"schema": "whyevents.bench.servers/1", "complete": False,
              "provenance": _provenance.benchmark(parameters), "parameters": parameters,
              "descriptions": {**WHYEVENTS_SERVERS, **PEERS},
              "cells": [], "rows": [], "verdicts": [], "twin_ratios": []}
    bar = _progress.bar(len(jobs), cfg.progress)
    t_start = time.perf_counter()
    unavailable: dict[str, str] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="whyevents-bench-servers-") as tmp:
            root, body = make_docroot(os.path.join(tmp, "www"))
            for i, job in enumerate(jobs):
                s, c = job["server"], job["connections"]
                bar.set_description(f"rep {job['rep'] + 1}/{cfg.repetitions} {s} "
                                    f"c={c:,} {job['duration']}s")
                if s in unavailable:
                    cell = {"server": s, "connections": c, "status": "unavailable",
                            "reason": unavailable[s]}
                else:
                    cell = run_cell(s, c, job["duration"], root, body,
                                    os.path.join(tmp, f"cell-{i}"), server_cpu, wrk_cpu)
                    if cell["status"] == "unavailable":
                        unavailable[s] = cell["reason"]
                cell["rep"] = job["rep"]
                result["cells"].append(cell)
                result["rows"], result["verdicts"] = aggregate(cfg, conns, result["cells"])
                result["twin_ratios"] = twin_ratios(cfg, conns, result["cells"])
                write_json(json_path, result)
                bar.update(1)
    finally:
        bar.close()
    result["complete"] = True
    prov = result["provenance"]
    prov["elapsed_s"] = round(time.perf_counter() - t_start, 1)
    prov["time_end_utc"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    prov["loadavg_end"] = os.getloadavg()
    result["json_path"] = str(json_path)
    write_json(json_path, result)
    with open(json_path.parent / "table.txt", "w") as f:
        f.write(format_table(result) + "\n")
    return result


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------

def format_table(result: dict) -> str:
    """One block per connection count: a line per server; then the targets and notes."""
    P = result["parameters"]
    rows = result["rows"]
    lines: list[str] = []
    header = ["server", "req/s [IQR]", "CPU us/req [IQR]", "user+sys us",
              "steady req/s", "steady us/req", "errors / notes"]
    for c in P["connections"]:
        block = [r for r in rows if r["connections"] == c]
        if not block:
            continue
        body = []
        for r in block:
            if r["status"] in ("unavailable", "error"):
                body.append([r["server"], r["status"], "", "", "", "",
                             (r.get("reason") or "")[:90]])
                continue
            u, s = r["user_us_per_request"]["median"], r["system_us_per_request"]["median"]
            notes = []
            if r.get("wrk_errors"):
                notes.append("wrk: " + r["wrk_errors"])
            if r.get("server_errors"):
                notes.append("server errors " + json.dumps(r["server_errors"]))
            if r.get("threads"):
                notes.append(f"{r['threads']:,} threads")
            if r["status"] == "partial":
                notes.append(f"{r['ok']}/{r['cells']} runs ok: {(r.get('reason') or '')[:60]}")
            body.append([r["server"], cell_text(r["requests_per_s"]),
                         cell_text(r["cpu_us_per_request"]),
                         f"{fmt(u)}+{fmt(s)}" if u is not None else "-",
                         fmt(r.get("steady_requests_per_s", {}).get("median")),
                         fmt(r.get("steady_cpu_us_per_request", {}).get("median")),
                         "; ".join(notes)])
        widths = [max(len(str(x)) for x in col) for col in zip(header, *body, strict=True)]

        def line(cells, widths=widths):
            return " | ".join(str(x).ljust(w) for x, w in zip(cells, widths, strict=True)).rstrip()

        lines.append(f"{c:,} connections")
        lines.append(line(header))
        lines.append("-+-".join("-" * w for w in widths))
        lines += [line(b) for b in body]
        lines.append("")
    lines += _twin_block(result)
    lines.append("targets (Knot-C green epoll vs uvloop, same run):")
    for v in result["verdicts"]:
        what = ("req/s >= uvloop's" if v["metric"] == "requests_per_s"
                else "CPU us/request <= uvloop's")
        if v["met"] is None:
            verdict = "not measured"
        else:
            verdict = "MET" if v["met"] else "MISSED"
            r = v.get("ratio")
            if r:
                verdict += (f" ({fmt(v['knot_c'])} vs {fmt(v['uvloop'])}, {r:.2f}x"
                            + (", within noise" if 1 / 1.15 < r < 1.15 else "") + ")")
        lines.append(f"  {v['connections']:>6,} connections: {what:<27} {verdict}")
    lines.append("")
    lines.append("cells: median [inter-quartile range] over repetitions (min-max in the JSON); "
                 "CPU = the server process's user+system time during the wrk run / requests "
                 "wrk completed; steady = medians over the window from a third of the run (half "
                 "at >= 5,000 connections) to its end, requests counted by the server, so "
                 "connecting is left out; differences under ~15% are noise on a shared 2-core "
                 "machine.")
    lines += _notes(result)
    return "\n".join(lines)


def _twin_block(result: dict) -> list[str]:
    """The ratios to the twin, a line per server, and the twin targets' verdicts."""
    ratios = result.get("twin_ratios") or []
    if not ratios:
        return []
    conns = [c for c in result["parameters"]["connections"]
             if any(r["connections"] == c for r in ratios)]
    lines = [f"CPU us/request / {TWIN}'s, paired by repetition: median [95% interval] "
             f"(no interval under {MIN_PAIRS} repetitions)"]
    width = max(len(r["server"]) for r in ratios)
    for s in dict.fromkeys(r["server"] for r in ratios):
        cells = []
        for c in conns:
            r = next((x for x in ratios if x["server"] == s and x["connections"] == c), None)
            if r is None or r["median"] is None:
                cells.append(f"{c:,}: -")
                continue
            text = f"{c:,}: {r['median']:.2f}"
            if r["lo"] is not None:
                text += f" [{r['lo']:.2f}, {r['hi']:.2f}]"
            cells.append(text)
        lines.append(f"  {s:<{width}}  " + " | ".join(cells))
    targeted = [r for r in ratios if "target" in r]
    if targeted:
        lines.append(f"targets (issue 20, CPU us/request / {TWIN}'s, same run):")
        for r in targeted:
            lines.append(f"  {r['server']:<{width}} {r['connections']:>7,} connections: <= "
                         f"{r['target']:.2f}  {r['verdict']}")
    lines.append("")
    return lines


def _notes(result: dict) -> list[str]:
    P, prov = result["parameters"], result["provenance"]
    notes = []
    if P.get("server_cpu") is not None:
        notes.append(f"server pinned to CPU {P['server_cpu']}, wrk (taskset) to CPU "
                     f"{P['wrk_cpu']}")
    else:
        notes.append("not pinned (one CPU allowed, or --no-pin)")
    fd = P["fd_limit"]
    notes.append(f"RLIMIT_NOFILE soft {fd['soft']:,} / hard {fd['hard']:,}: at most "
                 f"{fd['max_connections']:,} connections")
    for cap in P.get("connections_capped") or []:
        notes.append(f"CAPPED: {cap['requested']:,} connections do not fit the descriptor "
                     f"limit; measured {cap['used']:,} instead")
    durs = sorted({d for per in P["duration_s"].values() for d in per.values()})
    notes.append(f"wrk -t1 --timeout={WRK_TIMEOUT_S}s, durations {', '.join(map(str, durs))} s "
                 f"(pywsgi without NODELAY: {PROFILES[P['profile']]['short']} s below 5,000 "
                 "connections), "
                 f"{P['repeat']} repetition(s), interleaved")
    if KNOT_C_POOLS & set(P["servers"]):
        notes.append("Knot-C threads = max(256, connections + 64): " + ", ".join(
            f"{int(c):,}: {t:,}" for c, t in P["knot_c_threads"].items()))
    notes.append(f"commit {prov.get('git_commit') or 'unknown'}"
                 f"{' (dirty)' if prov.get('git_dirty') else ''}, Python {prov['python']}, "
                 f"{prov['cpu_model']}, load {prov['loadavg'][0]:.2f} at start")
    return ["notes:"] + [f"  - {n}" for n in notes]


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------

_SERVER_HELP = "\n".join(f"  {k:<15} {v}" for k, v in {**WHYEVENTS_SERVERS, **PEERS}.items())

DESCRIPTION = f"""\
Web servers under wrk: one 8 KiB file, keep-alive, the server pinned to one core and wrk
(one thread) to another, at 50, 1,000 and 10,000 connections. Per server and connection count:
req/s and the server's CPU microseconds per request (user + system of the server process during
the run). Each measurement is a fresh server subprocess, checked (200, 8,192 bytes, pipelining)
before wrk runs; repetitions are interleaved; cells are medians with the IQR. Prints each
whyevents server's CPU per request over the event twin's, paired by repetition, with a 95%
interval, and MET/MISSED/INCONCLUSIVE for the targets on it (and Knot-C against uvloop); writes
JSON with provenance; never fails on a missed target.

servers (--servers):
{_SERVER_HELP}
"""

EPILOG = """\
examples:
  whyevents bench servers                                   quick profile (~3-4 minutes)
  whyevents bench servers --full                            10 s x 3 repetitions (~15 minutes)
  whyevents bench servers --servers knot-c,uvloop --conns 50,1000 --repeat 1
  whyevents bench servers --duration 5 --json /tmp/web.json
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``whyevents bench servers``."""
    prof = p.add_mutually_exclusive_group()
    prof.add_argument("--quick", dest="profile", action="store_const", const="quick",
                      help="2 s runs (4 s at >= 5,000 connections), 2 repetitions (default)")
    prof.add_argument("--full", dest="profile", action="store_const", const="full",
                      help="10 s runs, 3 repetitions")
    p.set_defaults(profile="quick")
    p.add_argument("--conns", metavar="N[,N]", type=_args.int_list("--conns"),
                   default=list(DEFAULT_CONNS),
                   help="wrk connection counts (default 50,1000,10000); capped to what the "
                        "descriptor limit allows, with a note")
    p.add_argument("--servers", metavar="S[,S]", type=_args.csv_choice("server", list(SERVERS)),
                   default=list(SERVERS),
                   help=f"servers to measure (default: all: {','.join(SERVERS)})")
    p.add_argument("--duration", metavar="SECONDS",
                   type=_args.number_between("--duration", 1, 3600, " seconds"),
                   help="wrk duration per run (default: 2 quick, 10 full; pywsgi without "
                        "NODELAY is always kept to 1-2 s)")
    p.add_argument("--repeat", metavar="K", type=_args.positive_int("--repeat"),
                   help="repetitions per cell (default: 2 quick, 3 full)")
    p.add_argument("--json", metavar="PATH", type=Path, dest="json_path",
                   help="where to write the results (default: "
                        "data/results/bench-servers/<timestamp>/results.json)")
    p.add_argument("--no-pin", dest="pin", action="store_false",
                   help="do not pin the server and wrk to separate cores")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bar on stderr")


def config_from_args(args: argparse.Namespace) -> Config:
    return Config(profile=args.profile, conns=list(args.conns), servers=list(args.servers),
                  duration=args.duration, repeat=args.repeat, json_path=args.json_path,
                  pin=args.pin, progress=args.progress)


def _error(parser: argparse.ArgumentParser | None, msg: str) -> int:
    if parser is not None:
        parser.error(msg)                 # exits with status 2
    print(msg, file=sys.stderr)
    return 2


def main_from_args(args: argparse.Namespace, parser: argparse.ArgumentParser | None = None) -> int:
    """Run ``whyevents bench servers`` with parsed arguments; print the table; exit status."""
    cfg = config_from_args(args)
    if cfg.json_path is not None and cfg.json_path.is_dir():
        return _error(parser, f"argument --json: {cfg.json_path} is a directory; give a file "
                              "path")
    import shutil
    if shutil.which("wrk") is None:
        print("whyevents bench servers needs wrk (apt-get install wrk)", file=sys.stderr)
        return 2
    if cfg.pin and shutil.which("taskset") is None:
        print("note: taskset not found; running unpinned", file=sys.stderr)
        cfg.pin = False
    try:
        result = run_benchmark(cfg)
    except KeyboardInterrupt:
        print("\ninterrupted; every server process was killed", file=sys.stderr)
        return 130
    print(format_table(result))
    print(f"\nresults: {result['json_path']}")
    failed = sorted({r["server"] for r in result["rows"]
                     if r["server"] in WHYEVENTS_SERVERS and r["status"] == "error"})
    if failed:
        print("whyevents servers that could not be measured: " + ", ".join(failed),
              file=sys.stderr)
        return 1
    return 0
