"""The web sweep with its clients on other machines (issue 23): the server on one host, wrk on
several, all driven through Dask (``whyevents run web --cluster ADDRESS -p server_host=HOST
-p client_hosts=H1,H2``).

Why it is shaped this way:

* **The point still runs where its server runs.** ``repro.cluster`` pins every point task to the
  server host's worker (``cluster_placement`` says where; a Dask host restriction, so a worker
  restarted on that host takes the point over) and the task holds that machine's ``machine``
  unit, as every point does. The task is ``web.measure``'s own setting (file set, fresh server
  process pinned to ``server_cpu`` under its CPU cap, the descriptor-limit skip, the ``stats``
  snapshots at the window's edges), only the load is elsewhere; so a point whose clients exceed
  the server host's descriptor limit is skipped there with the same reason.
* **One load task per client host, started together.** From inside the point task
  (``distributed.worker_client``, which secedes from the worker's only thread but keeps the
  ``machine`` unit, so no second point starts beside it) the server side submits one task per
  client host, restricted to that host and holding its ``machine`` unit, each with its share of
  the clients (the first hosts take one more when they do not divide evenly; a point with
  fewer clients than hosts uses the first ``clients`` hosts), its own seed, the
  request trace and one shared wall-clock schedule chosen here: start, window open, window close.
  Each host's wrk is started at the shared start and counts only what it sends inside the
  window, as the one-host run does; hosts' clocks must agree (NTP) to well within a window.
* **The server binds the address the clients reach**: ``server_address`` if given, else the
  address Dask reports for the server host's worker, never a wildcard (refused).
* **Merged into one row** by ``loadgen.wrk_merge`` (latency from the hosts' merged histograms,
  not averaged percentiles); the row adds ``server_host``, ``server_address``, ``load_hosts``,
  ``client_cpu_util_by_host`` and ``load_by_host`` (each host's clients, requests, bandwidth,
  CPU, latency), and ``client_cores`` is the number of client hosts (one wrk pinned to one
  core on each), so ``judge`` reads client utilization per host.
* **Bad parameters fail before anything starts**: ``check_hosts`` (from ``web.check_params``)
  refuses a missing ``server_host``, a repeated host, a server host among the client hosts, a
  wildcard address and the Python client; ``cluster_placement``
  (called by the runner on the scheduler before the run is created) refuses a host no worker
  with a ``machine`` unit runs on, naming the parameter and the workers' hosts.

What a host needs, the ports and the limits to raise are in docs/DESIGN.md ("The web
experiment's clients on other machines") and the README. ``tests/test_web_hosts_netns.py``
builds the arrangement on one machine with network namespaces.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import time

from whyevents.accel.build import build_env
from whyevents.harness import procs
from whyevents.loadgen.httpload import FD_MARGIN
from whyevents.loadgen.wrk import measure_window, require_wrk, start_httpload_wrk
from whyevents.loadgen.wrk_merge import QUANTILE_GRID, merge_wrk
from whyevents.servers.process import ServerProcess, ServerStartError

from .web_rows import WrkResult, base_row, judge, live, row_figures

__all__ = ["OPTIONAL_PARAMS", "PARAM_HELP", "check_hosts", "needs_cluster", "cluster_placement",
           "shares", "measure", "load_task", "LOAD_START_DELAY"]

#: parameters a one-host sweep does not have (absent from its provenance unless given)
OPTIONAL_PARAMS: dict = {"server_host": "", "client_hosts": [""], "server_address": ""}
PARAM_HELP = {
    "server_host": "with client_hosts and --cluster: the host (a Dask worker's address host or "
                   "name) that runs the server",
    "client_hosts": "with server_host and --cluster: the hosts that run the load, one wrk each, "
                    "comma separated",
    "server_address": "the address the server binds and the clients connect to (default: the "
                      "server host worker's address; never 0.0.0.0)",
}
#: seconds from submitting the load tasks to the shared start (task delivery, wrk's start-up)
LOAD_START_DELAY = 3.0
#: seconds beyond the client timeout that the server side waits for the hosts' results
_GATHER_GRACE = 30.0
_RESOURCE = "machine"


def _hosts(value) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = value.split(",")
    return [str(h).strip() for h in value if str(h).strip()]


def check_hosts(params: dict, out: dict) -> None:
    """The placement parameters (``OPTIONAL_PARAMS``) checked and normalized into ``out``;
    ``ValueError`` names the parameter. Absent parameters stay absent."""
    server = str(params.get("server_host") or "").strip()
    clients = _hosts(params.get("client_hosts"))
    address = str(params.get("server_address") or "").strip()
    given = [k for k in OPTIONAL_PARAMS if k in params]
    if not given:
        return
    if clients and not server:
        raise ValueError(f"server_host: missing; client_hosts={','.join(clients)} needs the host "
                         f"that runs the server (-p server_host=HOST)")
    if server and not clients:
        raise ValueError(f"client_hosts: missing; server_host={server} needs the hosts that run "
                         f"the load (-p client_hosts=H1,H2)")
    if address and not server:
        raise ValueError("server_address: given without server_host and client_hosts")
    if len(set(clients)) != len(clients):
        raise ValueError(f"client_hosts: {','.join(clients)} names a host twice")
    if server in clients:
        raise ValueError(f"client_hosts: {server} is also server_host; the server's machine "
                         f"runs no load (one point per machine)")
    for key, value in (("server_host", server), ("server_address", address)):
        if _unspecified(value):
            raise ValueError(f"{key}: {value} is a wildcard address; give the address the "
                             f"clients reach")
    if clients:
        if params.get("client") != "wrk":
            raise ValueError(f"client: {params.get('client')!r}: load on other hosts runs wrk "
                             f"only (-p client=wrk)")
    out["server_host"] = server
    out["client_hosts"] = clients
    if address or "server_address" in params:
        out["server_address"] = address


def _unspecified(value: str) -> bool:
    try:
        return ipaddress.ip_address(value).is_unspecified
    except ValueError:
        return False


def needs_cluster(params: dict) -> str | None:
    """Why this sweep cannot run without ``--cluster`` (None: it can)."""
    if params.get("client_hosts"):
        return (f"client_hosts: {','.join(params['client_hosts'])} needs --cluster ADDRESS (a "
                f"Dask scheduler whose workers run on those hosts and on server_host)")
    return None


def _match(spec: str, workers: dict) -> list[tuple[str, dict]]:
    """Workers (address, info) on host ``spec``: its address host, its name, or a name that
    resolves to that address host."""
    found = [(a, w) for a, w in workers.items()
             if spec in (w.get("host"), str(w.get("name")))]
    if not found:
        try:
            ips = {i[4][0] for i in socket.getaddrinfo(spec, None, proto=socket.IPPROTO_TCP)}
        except OSError:
            ips = set()
        found = [(a, w) for a, w in workers.items() if w.get("host") in ips]
    return [(a, w) for a, w in found if (w.get("resources") or {}).get(_RESOURCE)]


def cluster_placement(client, params: dict) -> dict | None:
    """Where the points and their load run, from the scheduler's workers; None for a one-host
    sweep. ``ValueError`` naming the parameter when a host has no worker offering ``machine``."""
    if not params.get("client_hosts"):
        return None
    workers = client.scheduler_info().get("workers", {})
    seen = ", ".join(sorted(f"{w.get('host')} ({w.get('name')})" for w in workers.values()))

    def one(key: str, spec: str) -> dict:
        found = _match(spec, workers)
        if not found:
            raise ValueError(f"{key}: no worker of the scheduler at {client.scheduler.address} "
                             f"with the resource {_RESOURCE!r} runs on {spec!r} (workers: "
                             f"{seen or 'none'}); start one there with dask worker "
                             f"{client.scheduler.address} --nthreads 1 --resources machine=1")
        addr, w = sorted(found)[0]
        return {"spec": spec, "host": w.get("host"), "worker": addr, "name": str(w.get("name"))}

    server = one("server_host", params["server_host"])
    loads = [one("client_hosts", h) for h in params["client_hosts"]]
    taken = {server["host"]: "server_host"}
    for ld in loads:
        if ld["host"] in taken:
            raise ValueError(f"client_hosts: {ld['spec']!r} is the machine {ld['host']} that "
                             f"{taken[ld['host']]} also names; each needs its own machine")
        taken[ld["host"]] = "client_hosts"
    address = params.get("server_address") or server["host"]
    return {"server": server, "clients": loads, "server_address": address,
            "submit": {"workers": [server["host"]], "allow_other_workers": False}}


def shares(clients: int, hosts: int) -> list[int]:
    """Each host's clients: an even split, the first hosts one more when it does not divide."""
    base, extra = divmod(clients, hosts)
    return [base + (1 if i < extra else 0) for i in range(hosts)]


# ---------------------------------------------------------------------------------------------
# On a client host
# ---------------------------------------------------------------------------------------------

def load_task(spec: dict) -> dict:
    """Run on a client host's worker: wrk with the HttpLoad script over the shared schedule.

    Returns ``wrk.measure_window``'s dict (with ``latency_quantiles``) plus ``host`` (the
    worker's address host), ``hostname`` and ``cpu`` (the core wrk was pinned to, or None).
    """
    try:
        from distributed import get_worker

        host = get_worker().address.split("://")[-1].rsplit(":", 1)[0]
    except (ImportError, ValueError):
        host = socket.gethostname()
    require_wrk("the web sweep's load on a client host")
    hard = procs.hard_fd_limit()
    if spec["clients"] + FD_MARGIN > hard:
        raise ValueError(f"client host {host}: {spec['clients']} connections need more "
                         f"descriptors than its RLIMIT_NOFILE hard limit {hard} allows "
                         f"(raise it, or add client hosts)")
    start_at, window = spec["start_at"], tuple(spec["window"])
    late = time.time() - start_at
    if late > spec["warmup"] / 2:
        raise RuntimeError(f"client host {host}: the load task began {late:.2f} s after the "
                           f"shared start (more than half the warm-up); clocks or the scheduler "
                           f"are too slow for LOAD_START_DELAY")
    time.sleep(max(0.0, start_at - time.time()))
    cpu = spec.get("cpu")
    if cpu is not None and (not procs.can_pin() or cpu >= (os.cpu_count() or 1)):
        cpu = None
    w = start_httpload_wrk(spec["server"], spec["port"], spec["clients"], window,
                           requests_per_conn=spec["requests_per_conn"],
                           think_time=spec["think_time"], paths=spec["paths"],
                           seed=spec["seed"], cpu=cpu, timeout=spec["timeout"],
                           allow_remote=True, quantiles=QUANTILE_GRID)
    res = measure_window(w, window)
    res.update(host=host, hostname=socket.gethostname(), cpu=cpu)
    return res


# ---------------------------------------------------------------------------------------------
# On the server host: one point
# ---------------------------------------------------------------------------------------------

def measure(point: dict, params: dict, ctx: dict, progress=None) -> list[dict]:
    """One point with the load on ``ctx["placement"]``'s client hosts; one row, never raises
    for a failed point (``web.measure``'s contract)."""
    from distributed import wait, worker_client

    from . import web

    placement = ctx["placement"]
    clients = point["clients"]
    loads = placement["clients"][:clients]
    hosts = [c["host"] for c in loads]
    row = base_row(point, web.KEY_FIELDS)
    row.update(server_host=placement["server"]["host"],
               server_address=placement["server_address"], load_hosts=hosts)
    if clients > web.client_cap():
        row.update(status="skipped", error=web._cap_reason(clients))
        return [row]
    pin = procs.can_pin()
    server_cpu = params["server_cpu"] if pin else None
    threads = params["knot_c_threads"] if point["server"] in web.KNOT_C_POOLS else None
    row.update(client="wrk", knot_c_threads=threads, client_processes=len(hosts),
               fileset_bytes=ctx.get("fileset_bytes"), server_cpu=server_cpu,
               client_cpu=params["client_cpu"])
    kwargs = {"poller": point["poller"], "cache_bytes": params["cache_bytes"],
              "host": placement["server_address"]}
    if threads is not None:
        kwargs["threads"] = threads
    spec = {"server": point["server"], "root": ctx["root"], "kwargs": kwargs}
    server = cap = None
    futures: list = []
    try:
        server = ServerProcess(spec, cpu=server_cpu, start_timeout=web._SERVER_START_TIMEOUT,
                               env=build_env(point.get("build") or "interpreted"))
        try:
            ready = server.start()
        except ServerStartError as e:
            row.update(status="failed", error=f"server did not start: {e}")
            return [row]
        row["build_used"] = ready.get("build")
        cap = web._cap_server(server.pid, params, row)
        start_at = time.time() + LOAD_START_DELAY
        w0 = start_at + params["warmup"]
        w1 = w0 + params["duration"]
        with worker_client() as dc:
            for i, (c, n) in enumerate(zip(loads, shares(clients, len(hosts)), strict=True)):
                task = dict(server=ready["host"], port=ready["port"], clients=n,
                            start_at=start_at, window=(w0, w1), warmup=params["warmup"],
                            requests_per_conn=params["requests_per_conn"],
                            think_time=params["think_time"], paths=ctx["trace"],
                            seed=params["seed"] + i * 1_000_003,
                            timeout=params["client_timeout"], cpu=params["client_cpu"])
                futures.append(dc.submit(load_task, task, workers=[c["host"]],
                                         allow_other_workers=False,
                                         resources={_RESOURCE: 1}, pure=False,
                                         key=f"whyevents-web-load-{c['host']}-{time.time_ns()}"))
            s0, s1 = _window(server, futures, w0, w1, progress)
            deadline = params["client_timeout"] + _GATHER_GRACE
            with dc.as_current():     # wait() uses the current Client: this task's
                done, not_done = wait(futures, timeout=deadline)
            if not_done:
                late = [c["host"] for c, f in zip(loads, futures, strict=True)
                        if f in not_done]
                raise TimeoutError(f"load on {', '.join(late)} did not report within the client "
                                   f"timeout + {_GATHER_GRACE:g} s after the window")
            parts = dc.gather(futures)
        if server.proc.poll() is not None:
            raise RuntimeError(server.died())
        merged = merge_wrk(parts)
        row.update(row_figures(WrkResult(merged), s0, s1, params["duration"], len(hosts),
                               merged))
        row["client_cores"] = len(hosts)
        row["client_cpu_util_by_host"] = {h: f["client_cpu_util"]
                                          for h, f in merged["by_host"].items()}
        row["load_by_host"] = merged["by_host"]
        judge(row)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as e:  # noqa: BLE001 - a failed point is a row, never an exception
        row.update(status="failed", error=f"{type(e).__name__}: {e}".splitlines()[0][:400])
        web._mark_killed(row, server, [])
    finally:
        for f in futures:
            if not f.done():
                f.cancel()
        if cap is not None:
            cap.close()
        if server is not None:
            try:
                final = server.stop(web._SERVER_STOP_TIMEOUT) if row["status"] == "ok" else None
                if final is not None and final.get("peak_rss_bytes") is not None:
                    row["server_rss_bytes"] = final["peak_rss_bytes"]
            finally:
                server.close()
    return [row]


def _window(server: ServerProcess, futures: list, w0: float, w1: float, progress):
    """The server's snapshots at the window's edges, failing early when the server dies or a
    host's load task fails before the window ends."""
    def sleep_until(t: float) -> None:
        while (left := t - time.time()) > 0:
            if server.proc.poll() is not None:
                raise RuntimeError(server.died())
            for f in futures:
                if f.status == "error":
                    raise RuntimeError(f"load task failed: {f.exception()}")
            time.sleep(min(left, 0.2))

    first = prev = server.ask("stats")
    while time.time() < w0 - 1.0:
        sleep_until(min(w0 - 1.0, time.time() + 1.0))
        now = server.ask("stats")
        if progress is not None:
            progress(live("warmup", now, prev, first))
        prev = now
    sleep_until(w0)
    s0 = server.ask("stats")
    sleep_until(w1)
    s1 = server.ask("stats")
    return s0, s1
