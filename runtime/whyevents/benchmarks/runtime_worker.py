"""The worker subprocess of ``whyevents bench runtime``: one implementation, some operations.

Why a subprocess per job: each imports only the framework it measures (gevent's hub and monkey
state, uvloop's policy, trio's run state and each allocator's high-water mark stay in that
process), and memory operations get a fresh heap.

Protocol: the parent runs ``python -c "from whyevents.benchmarks.runtime_worker import main;
main()" SPEC`` where SPEC is JSON (implementation, operations, parameters, output path, CPU); the
worker writes ``{op: {"status", "samples", "extra"}}`` to the output path after each operation,
so a crash or timeout keeps what was measured before it.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from time import perf_counter

from whyevents.harness.procs import pin

from .runtime_ops import IMPL_MODULE
from .runtime_workloads import OPS, ModuleMissing

__all__ = ["main", "workload"]


def workload(impl: str, op: str) -> Callable[[dict], dict]:
    """The function that measures ``op`` for ``impl`` (imports that peer's module)."""
    if impl == "whyevents":
        return OPS[op]
    return importlib.import_module(IMPL_MODULE[impl]).OPS[op]


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of a benchmark subprocess: run the operations of one spec, write results."""
    argv = sys.argv[1:] if argv is None else argv
    spec = json.loads(argv[0])
    pin(spec.get("cpu"))
    impl, out_path = spec["impl"], spec["out"]
    results: dict = {"_meta": {"pid": os.getpid(), "impl": impl,
                               "affinity": sorted(os.sched_getaffinity(0))}}
    for op in spec["ops"]:
        params = dict(spec["params"][op])
        if impl in ("asyncio", "uvloop"):
            params["loop"] = impl
        t0 = perf_counter()
        try:
            r = workload(impl, op)(params)
            r["status"] = "ok"
        except ModuleMissing as e:
            r = {"status": "n/a", "reason": f"module missing: {e}"}
        except Exception as e:  # noqa: BLE001 - recorded in the results, the run goes on
            r = {"status": "error", "reason": f"{type(e).__name__}: {e}",
                 "traceback": traceback.format_exc(limit=8)}
        r["seconds"] = perf_counter() - t0
        results[op] = r
        tmp = out_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(results, f)
        os.replace(tmp, out_path)
    sys.stdout.flush()
    # skip interpreter teardown of 100k threads' worth of objects: the results are on disk
    os._exit(0)
