"""Load generators: SEDA's HttpLoad model on green threads, and a ``wrk`` driver.

    from whyevents.loadgen import run_load, run_wrk

    r = run_load("127.0.0.1", port, clients=1000, duration=10, warmup=2)   # 5 req/conn, 20 ms
    print(r.requests_per_s, r.mbit_per_s, r.response_ms, r.fairness, r.errors, r.warnings)
    print(run_wrk(url, connections=1000, duration=5, cpu=1)["requests_per_s"])

``run_load`` is closed-loop (clients wait for each response, think, then send again) and
reports the client's own CPU beside the result: ``client_saturated`` means the point measured
the client. ``run_load_processes`` spreads the clients over several processes.

``httpload``  SEDA's HttpLoad clients on green threads (``run_load``, ``LoadResult``).
``multi``     the same clients spread over worker processes, and ``merge`` of their results.
``wrk``       the ``wrk`` driver for closed-loop maximum-throughput runs.
"""

from .httpload import (
    SATURATED_WARNING,
    LoadResult,
    check_fd_limit,
    jain_fairness,
    percentiles_ms,
    resolve_loopback,
    run_load,
)
from .multi import merge, run_load_processes
from .wrk import WrkNotFound, parse_wrk_output, run_wrk, wrk_command

__all__ = ["run_load", "LoadResult", "jain_fairness", "percentiles_ms", "check_fd_limit",
           "resolve_loopback", "SATURATED_WARNING", "run_wrk", "parse_wrk_output",
           "wrk_command", "WrkNotFound", "run_load_processes", "merge"]
