"""Spread closed-loop clients over several processes and merge their results.

One Python process drives at most one core and at most ``RLIMIT_NOFILE`` sockets; beyond
either, ``run_load_processes`` starts ``processes`` workers (``python -m
whyevents.loadgen.multi``), each running ``run_load`` for its share of the clients against one
shared wall-clock window, and merges them: counts and bytes add up, response-time percentiles
come from all samples, Jain fairness is over every client of every process.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from array import array
from collections import Counter

from .httpload import (
    SATURATED_WARNING,
    LoadResult,
    jain_fairness,
    percentiles_ms,
    resolve_loopback,
    run_load,
)

_START_DELAY = 2.0          # seconds for the workers to import and be ready at the shared start


def _shares(clients: int, processes: int) -> list[int]:
    base, extra = divmod(clients, processes)
    return [base + (1 if i < extra else 0) for i in range(processes)]


def _split(value, shares: list[int]):
    """A per-client option split into each process's slice (scalars pass through)."""
    if value is None or isinstance(value, int | str):
        return [value] * len(shares)
    values = list(value)
    out, at = [], 0
    for n in shares:
        out.append(values[at:at + n])
        at += n
    return out


def run_load_processes(host: str, port: int, clients: int, duration: float,
                       warmup: float = 0.0, *, processes: int = 2,
                       cpus: list[int] | None = None, start_at: float | None = None,
                       **kwargs) -> LoadResult:
    """``run_load`` over ``processes`` worker processes; returns one merged ``LoadResult``.

    ``cpus`` pins worker i to ``cpus[i % len(cpus)]``. ``paths`` must be a path or a list of
    paths (JSON-encodable); ``max_requests_per_client`` and ``paths_per_client`` lists are
    split among the workers in client order. Seeds differ per worker (``seed`` + i * 1_000_003).
    ``start_at`` (``time.time()`` seconds) is when every worker starts its clients, so a caller
    can line server-side snapshots up with the window (``start_at + warmup`` .. ``+ duration``);
    default: shortly after the workers are launched. Ctrl-C kills the workers.
    """
    if processes < 1 or clients < processes:
        raise ValueError(f"need clients >= processes >= 1, got {clients}, {processes}")
    resolve_loopback(host, port, kwargs.get("allow_remote", False))
    shares = _shares(clients, processes)
    limits = _split(kwargs.pop("max_requests_per_client", None), shares)
    per_paths = _split(kwargs.pop("paths_per_client", None), shares)
    seed = kwargs.pop("seed", 0)
    if start_at is None:
        start_at = time.time() + _START_DELAY
    procs = []
    for i, n in enumerate(shares):
        spec = dict(kwargs, host=host, port=port, clients=n, duration=duration, warmup=warmup,
                    seed=seed + i * 1_000_003, start_at=start_at,
                    max_requests_per_client=limits[i], paths_per_client=per_paths[i],
                    cpu=None if not cpus else cpus[i % len(cpus)])
        procs.append(subprocess.Popen([sys.executable, "-m", __name__, json.dumps(spec)],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    parts = []
    try:
        for p in procs:
            out, err = p.communicate()
            if p.returncode != 0:
                raise RuntimeError(f"load worker failed ({p.returncode}): {err.strip()}")
            parts.append(json.loads(out))
    finally:
        for q in procs:                   # an error or Ctrl-C: no worker outlives the call
            if q.poll() is None:
                q.kill()
                q.wait()
    result = merge(parts)
    result.cores = len(set(cpus)) if cpus else len(parts)
    return result


def merge(parts: list[dict]) -> LoadResult:
    """One LoadResult from the workers' ``_to_json`` dicts."""
    per_client = [c for p in parts for c in p["per_client"]]
    latencies = array("d", [x for p in parts for x in p["latencies"]])
    errors: Counter[str] = Counter()
    for p in parts:
        errors.update(p["errors"])
    user = sum(p["client_cpu_user_s"] for p in parts)
    system = sum(p["client_cpu_system_s"] for p in parts)
    saturated = any(p["client_saturated"] for p in parts)
    params = dict(parts[0]["params"])
    params.pop("seed", None)
    result = LoadResult(
        clients=len(per_client), duration_s=max(p["duration_s"] for p in parts),
        completed=sum(per_client), bytes=sum(p["bytes"] for p in parts),
        response_ms=percentiles_ms(latencies), errors=dict(errors),
        connection_failures=sum(p["connection_failures"] for p in parts),
        connections=sum(p["connections"] for p in parts), per_client=per_client,
        fairness=jain_fairness(per_client), client_cpu_s=user + system,
        client_cpu_user_s=user, client_cpu_system_s=system, params=params,
        latencies=latencies, processes=len(parts), any_process_saturated=saturated,
        wake_lag_s=max(p.get("wake_lag_s", 0.0) for p in parts),
        think_ms_mean=_weighted_think(parts))
    if saturated:
        result.warnings.append(SATURATED_WARNING + " (at least one client process)")
    return result


def _weighted_think(parts: list[dict]) -> float:
    """The processes' mean think times, weighted by their completions (NaN if none)."""
    pairs = [(p.get("think_ms_mean", math.nan), sum(p["per_client"])) for p in parts]
    pairs = [(t, n) for t, n in pairs if n and not math.isnan(t)]
    total = sum(n for _, n in pairs)
    return sum(t * n for t, n in pairs) / total if total else math.nan


def _to_json(r: LoadResult) -> dict:
    return dict(per_client=r.per_client, latencies=list(r.latencies), errors=r.errors,
                client_cpu_user_s=r.client_cpu_user_s,
                client_cpu_system_s=r.client_cpu_system_s,
                client_saturated=r.client_saturated, params=r.params, duration_s=r.duration_s,
                bytes=r.bytes, connection_failures=r.connection_failures,
                wake_lag_s=r.wake_lag_s, think_ms_mean=r.think_ms_mean,
                connections=r.connections)


def _worker(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    cpu = spec.pop("cpu", None)
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    r = run_load(**spec)
    json.dump(_to_json(r), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(_worker(sys.argv[1:]))
