"""The server side of one web-sweep point: a server in its own process, answering "stats" lines.

Why a process of its own, driven over stdin/stdout:

* **Clean accounting.** Server CPU seconds and context switches come from ``getrusage`` of the
  server's process; sharing a process with the sweep's bookkeeping (or with a previous point's
  server) would mix other work into them. A fresh process per point starts every counter at zero
  and leaves no warmed caches, threads or descriptors behind for the next point.
* **Exact windows.** The parent asks for a snapshot (``stats`` -> one JSON line) at the start and
  at the end of the measured window, so CPU time and context switches are deltas over exactly the
  window the load generator measured, not over start-up, warm-up and shutdown. The reader thread
  costs one wake-up per request line (about one a second for the live view): noise against the
  thousands of switches a loaded server makes per second.
* **Pinned.** The process pins itself to ``cpu`` before it starts the server, so every thread the
  server creates (green hub, SEDA stage pools, disk-read pools) inherits the core and the load
  generator gets the other one.
* **No orphans.** The process asks the kernel to kill it when its parent dies
  (``PR_SET_PDEATHSIG``) and stops the server when stdin closes, so neither a crashed sweep nor a
  Ctrl-C leaves a server listening.

Protocol: ``python -m whyevents.bench.sweep_server SPEC`` where SPEC is JSON with ``server``
(``knot-c`` | ``knot-a`` | ``seda`` | ``eventloop``), ``poller``, ``root`` and optional
``threads``, ``cache_bytes``, ``cpu``. It prints ``{"ready": true, "host", "port", "pid"}`` once
listening (or ``{"ready": false, "error": ...}`` and exits 1), then answers each stdin line:
``stats`` -> the server's ``stats()`` snapshot as one JSON line; ``stop`` (or end of input) ->
stops the server, prints the final snapshot and exits 0.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
from typing import Any

__all__ = ["SERVERS", "start_server", "main"]

#: server name -> (module, fixed keyword arguments)
SERVERS: dict[str, tuple[str, dict[str, Any]]] = {
    "knot-c": ("whyevents.knot", {"policy": "C"}),
    "knot-a": ("whyevents.knot", {"policy": "A"}),
    "seda": ("whyevents.seda", {}),
    "eventloop": ("whyevents.eventloop", {}),
}

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the stdin-EOF rule still applies
        pass
    if os.getppid() == 1:            # the parent died before prctl took effect
        os._exit(1)


def start_server(spec: dict[str, Any]):
    """Start the server ``spec`` names in this process; returns its ``ServerHandle``."""
    import importlib

    name = spec["server"]
    if name not in SERVERS:
        raise ValueError(f"server={name!r}: must be one of {', '.join(SERVERS)}")
    module, fixed = SERVERS[name]
    kwargs: dict[str, Any] = dict(fixed, poller=spec.get("poller", "epoll"))
    if spec.get("threads") is not None:
        kwargs["threads"] = int(spec["threads"])
    if spec.get("cache_bytes") is not None:
        kwargs["cache_bytes"] = int(spec["cache_bytes"])
    if spec.get("backlog") is not None:
        kwargs["backlog"] = int(spec["backlog"])
    return importlib.import_module(module).start(spec["root"], **kwargs)


def _say(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, default=str) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    _die_with_parent()
    # Ctrl-C is the parent's to handle (it stops us); the server must not die half-way through
    # a window because the terminal's SIGINT reached its process group too.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        spec = json.loads(argv[0])
        cpu = spec.get("cpu")
        if cpu is not None:
            os.sched_setaffinity(0, {int(cpu)})
        handle = start_server(spec)
    except Exception as e:  # noqa: BLE001 - reported to the parent as one line
        _say({"ready": False, "error": f"{type(e).__name__}: {e}".splitlines()[0]})
        return 1
    host, port = handle.address[:2]
    _say({"ready": True, "host": host, "port": port, "pid": os.getpid(),
          "threads": getattr(getattr(handle, "knot", None), "threads", None)})
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "stats":
            snap = handle.stats()
            if handle.error is not None:
                snap["server_error"] = repr(handle.error)
            _say(snap)
        elif cmd == "stop":
            break
        elif cmd:
            _say({"error": f"unknown command {cmd!r}"})
    try:
        _say(handle.stop())
    except Exception as e:  # noqa: BLE001 - a server that will not stop is reported, then killed
        _say({"error": f"stop failed: {e!r}"})
        os._exit(2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
