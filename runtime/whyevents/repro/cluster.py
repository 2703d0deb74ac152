"""Sweeps on a Dask cluster: ``whyevents run NAME --cluster ADDRESS`` (issue 14, item 2).

Why Dask and why this shape: a full profile takes hours on one machine, and the paper's own web
experiment used many client machines. ``dask.distributed`` is an existing scheduler with worker
resources, retries of a lost worker's tasks and a plain TCP protocol, so this module only says
*what* a point needs and leaves placement, failure detection and re-execution to it.

* **One point per machine at a time.** Workers are started with one thread and one unit of the
  resource ``machine`` (``dask worker tcp://SCHEDULER:8786 --nthreads 1 --resources machine=1``,
  one such worker per machine); every point asks for ``machine=1``. So, as on one machine, a point
  has the machine to itself, and the experiment's own code pins its measured processes there
  (``harness.procs``: server on one core, clients or the worker on another).
* **Each point is the experiment's ``measure``, unchanged**, called in the worker process; it
  still starts its own pinned subprocess per point (scaling and pipeline workers, the web
  server and its load) and never raises for a failed point (a failure is a row). ``prepare`` runs
  per point on the worker (its file set or cached file is the machine's own, removed after).
  State a module keeps in ``ctx`` across points (pipeline's ``kernel_failed_at``) is therefore
  per point on a cluster: a refused kernel point is re-tried, and refused again, at each size.
* **Rows come back to the one store**, appended by the process that runs the sweep as each
  point finishes, with ``worker_host`` and ``worker`` (the Dask worker's address) in each row;
  the provenance's ``cluster`` entry names the scheduler and every worker with its host.
* **Resume**: the store is the only record of what is done. A point whose worker is lost
  mid-point is re-run by Dask on another worker (its result was never delivered, so it is
  stored once); a point that keeps killing workers (Dask's ``KilledWorker``) is *not* stored,
  the run closes ``interrupted``, and ``--resume`` (with or without ``--cluster``) measures it
  again. A result whose key is already stored is dropped and counted, never appended twice.
* **Placement**: a module may say where its points run (``cluster_placement(client, params)``,
  resolved by ``placement`` before the run is created; a host without a worker is a
  ``ValueError`` naming the parameter). The web experiment's load on other machines (the
  paper's many client machines, issue 23) is one: with ``server_host`` and ``client_hosts``
  every point is restricted to the server host's worker, and the point's ``ctx`` gets the
  placement, from which ``experiments.web_hosts`` submits one load task per client host; rows
  record ``load_hosts`` (the client hosts). Without those parameters a web point runs server
  and load on its one machine, the single-machine case: ``load_hosts = [this worker's host]``.

``address`` is a scheduler address (``tcp://host:8786``), ``local`` or ``local:N`` (a
``LocalCluster`` of N one-thread workers on this machine, for trying it), or a ``Client`` /
``LocalCluster`` object (the tests).
"""

from __future__ import annotations

import contextlib
import importlib
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["RESOURCE", "WORKER_COMMAND", "connect", "measure_point", "run_points", "describe",
           "placement", "public"]

#: the worker resource one point holds: one unit per machine
RESOURCE = "machine"
WORKER_COMMAND = "dask worker {address} --nthreads 1 --resources machine=1"


def _require_dask():
    try:
        import distributed
    except ImportError:
        raise ValueError("--cluster needs dask.distributed: .venv/bin/pip install -e '.[cluster]'"
                         ) from None
    return distributed


@contextlib.contextmanager
def connect(address: Any, *, timeout: float = 60.0):
    """A ``distributed.Client`` on ``address`` with at least one worker holding ``machine``."""
    distributed = _require_dask()
    owned: list = []
    if isinstance(address, distributed.Client):
        client = address
    else:
        target = address
        if isinstance(address, str) and (address == "local" or address.startswith("local:")):
            n = int(address.partition(":")[2] or 1)
            target = distributed.LocalCluster(n_workers=n, threads_per_worker=1,
                                              resources={RESOURCE: 1}, dashboard_address=":0",
                                              processes=True)
            owned.append(target)
        client = distributed.Client(target, timeout=timeout)
        owned.insert(0, client)
    try:
        client.wait_for_workers(1, timeout=timeout)
        workers = client.scheduler_info().get("workers", {})
        if not any(w.get("resources", {}).get(RESOURCE) for w in workers.values()):
            raise ValueError(
                f"no worker of the scheduler at {client.scheduler.address} offers the resource "
                f"{RESOURCE!r}, so no point could run: start one per machine with "
                + WORKER_COMMAND.format(address=client.scheduler.address))
        yield client
    finally:
        for thing in owned:
            with contextlib.suppress(Exception):
                thing.close()


def describe(client) -> dict:
    """The scheduler and its workers (address -> host, resources), for the provenance."""
    info = client.scheduler_info()
    workers = {addr: {"host": w.get("host"), "name": str(w.get("name")),
                      "resources": w.get("resources", {}), "nthreads": w.get("nthreads")}
               for addr, w in info.get("workers", {}).items()}
    return {"scheduler": client.scheduler.address, "resource": RESOURCE, "workers": workers}


def placement(client, mod, params: dict) -> dict | None:
    """The module's placement of its points on this scheduler's workers (None: anywhere)."""
    place = getattr(mod, "cluster_placement", None)
    return place(client, params) if place is not None else None


def public(place: dict) -> dict:
    """A placement as the provenance records it (without the submit options)."""
    return {k: v for k, v in place.items() if k != "submit"}


def measure_point(module: str, point: dict, params: dict, place: dict | None = None) -> dict:
    """Run on a worker: the experiment's ``prepare`` + ``measure`` for one point.

    Returns ``{"rows": [...], "host": ..., "worker": ..., "wall_s": ...}``; rows are the
    module's, with ``worker_host``, ``worker`` and ``point_wall_s`` added.
    """
    mod = importlib.import_module(module)
    host = socket.gethostname()
    try:
        from distributed import get_worker

        worker = get_worker().address
    except (ImportError, ValueError):
        worker = None
    t0 = time.monotonic()
    setup = mod.prepare(params) if hasattr(mod, "prepare") else contextlib.nullcontext()
    with setup as ctx:
        if isinstance(ctx, dict) and place is not None:
            ctx["placement"] = place
            ctx["load_hosts"] = [c["host"] for c in place.get("clients", ())]
        elif isinstance(ctx, dict):
            # the web experiment's placement, single-machine case: the load runs here too
            ctx.setdefault("load_hosts", [host])
        rows = mod.measure(point, params, ctx=ctx, progress=None)
    wall = time.monotonic() - t0
    if isinstance(rows, Mapping):
        rows = [rows]
    out = []
    for row in rows:
        row = dict(row)
        row.setdefault("point_wall_s", round(wall, 3))
        row["worker_host"] = host
        row["worker"] = worker
        if isinstance(ctx, dict) and "load_hosts" in ctx and module.endswith(".web"):
            row.setdefault("load_hosts", list(ctx["load_hosts"]))
        out.append(row)
    return {"rows": out, "host": host, "worker": worker, "wall_s": round(wall, 3)}


def run_points(client, module: str, params: dict, points: Sequence[dict],
               key: Callable[[dict], tuple], done: set,
               store_rows: Callable[[dict, list[dict]], None],
               note: Callable[[str], None] | None = None, placement: dict | None = None
               ) -> dict:
    """Submit every point (in sweep order, as priorities), store each result as it arrives;
    ``placement`` (``placement()``'s) restricts where the points run and rides along to them.

    Returns ``{"lost": [points not measured], "duplicates_dropped": n, "hosts": [...]}``.
    KeyboardInterrupt cancels what is still queued and re-raises.
    """
    distributed = _require_dask()
    futures = {}
    for i, point in enumerate(points):
        fut = client.submit(measure_point, module, dict(point), dict(params), placement,
                            resources={RESOURCE: 1}, priority=-i, pure=False,
                            **(placement or {}).get("submit", {}),
                            key=f"whyevents-{module.rsplit('.', 1)[-1]}-{i}-"
                                f"{'-'.join(str(v) for v in key(point))}-{time.time_ns()}")
        futures[fut] = point
    lost: list[dict] = []
    hosts: set[str] = set()
    dropped = 0
    try:
        # as_completed's own default is the process's newest Client's event loop, which may be
        # another Client (a notebook's, a test's) that closes mid-sweep and leaves it waiting
        # forever: it follows this client's loop, the one that receives these futures' results.
        for fut in distributed.as_completed(list(futures), loop=client.loop):
            point = futures[fut]
            try:
                result = fut.result()
            except distributed.KilledWorker as e:
                lost.append(point)
                if note:
                    note(f"point {key(point)} not measured: {e}; --resume runs it again")
                continue
            if key(point) in done:
                dropped += 1
                continue
            done.add(key(point))
            hosts.add(result["host"])
            for row in result["rows"]:
                hosts.update(row.get("load_hosts") or ())
            store_rows(point, result["rows"])
    except BaseException:
        client.cancel(list(futures))
        raise
    return {"lost": lost, "duplicates_dropped": dropped, "hosts": sorted(hosts)}
