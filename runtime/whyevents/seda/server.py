"""Starting the Haboob-like server: argument checks, ``start()`` and ``python -m whyevents.seda``.

Apart from ``haboob.py`` (the stages and aSocket) for the same reason as Knot's ``server.py``:
what a caller may pass, and how, is one concern; how the stages run is another.
"""

from __future__ import annotations

import argparse

from ..server_common import ServerHandle, check_common_args, serve_cli
from .haboob import (
    DEFAULT_FILE_THREADS,
    DEFAULT_QUEUE_CAPACITY,
    DEFAULT_THREADS,
    POLLERS,
    Haboob,
)
from .stage import DEFAULT_BATCH

__all__ = ["start", "main"]



def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}={value!r}: must be an integer >= 1")
    return value


def start(root, *, host: str = "127.0.0.1", port: int = 0, threads: int | None = None,
          poller: str = "epoll", scheduler: str | None = None, backend: str = "kernel",
          cache_bytes: int = 64 << 20, backlog: int | None = None,
          request_timeout: float | None = 30.0, queue_capacity: int = DEFAULT_QUEUE_CAPACITY,
          file_threads: int | None = None, batch_size: int = DEFAULT_BATCH) -> ServerHandle:
    """Start the staged server on ``host:port`` serving ``root``; returns its ``ServerHandle``.

    ``threads``: kernel threads per stage pool (HttpParse, PageCache, HttpSend; default
    ``DEFAULT_THREADS``); ``file_threads``: the CacheMiss pool (default
    ``DEFAULT_FILE_THREADS``); ``poller``: "epoll" or "poll" for aSocket; ``scheduler`` must be
    None (the OS schedules kernel threads) and ``backend`` "kernel" (SEDA has no green version);
    ``queue_capacity``: events per stage queue before requests are refused with 503;
    ``request_timeout``: seconds a connection may sit idle (408 if a request is half-received),
    None to never time out; ``batch_size``: events per dequeue (SEDA's batching factor).
    """
    if backend != "kernel":
        raise ValueError(f"backend={backend!r}: the staged server runs only on kernel threads "
                         f"(backend='kernel'), as SEDA ran on Java threads")
    if scheduler is not None:
        raise ValueError(f"scheduler={scheduler!r}: the staged server's threads are kernel "
                         f"threads scheduled by the OS; pass scheduler=None")
    if poller not in POLLERS:
        raise ValueError(f"poller={poller!r}: must be one of {', '.join(POLLERS)}")
    check_common_args(root, host, port, cache_bytes, backlog, request_timeout)
    threads = DEFAULT_THREADS if threads is None else _positive_int("threads", threads)
    file_threads = (DEFAULT_FILE_THREADS if file_threads is None
                    else _positive_int("file_threads", file_threads))
    _positive_int("queue_capacity", queue_capacity)
    _positive_int("batch_size", batch_size)
    if request_timeout is not None:
        request_timeout = float(request_timeout)
    server = Haboob(root, host=host, port=port, threads=threads, file_threads=file_threads,
                    poller=poller, cache_bytes=cache_bytes, backlog=backlog,
                    request_timeout=request_timeout, queue_capacity=queue_capacity,
                    batch_size=batch_size)
    handle = ServerHandle("haboob", server.counters, server.body)
    handle.server = server
    return handle


def main(argv: list[str] | None = None) -> int:
    """``python -m whyevents.seda --root DIR [--port N] ...``: serve until SIGINT/SIGTERM."""
    ap = argparse.ArgumentParser(
        prog="python -m whyevents.seda",
        description="Run the Haboob-like staged server (SEDA) until SIGINT/SIGTERM.")
    ap.add_argument("--root", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--file-threads", type=int, default=None)
    ap.add_argument("--poller", choices=POLLERS, default="epoll")
    ap.add_argument("--cache-bytes", type=int, default=64 << 20)
    ap.add_argument("--queue-capacity", type=int, default=DEFAULT_QUEUE_CAPACITY)
    ap.add_argument("--batch-size", type=int, default=DEFAULT_BATCH)
    ap.add_argument("--request-timeout", type=float, default=30.0, help="0: never")
    args = ap.parse_args(argv)
    return serve_cli(start, "haboob", root=args.root, host=args.host, port=args.port,
                     threads=args.threads, file_threads=args.file_threads, poller=args.poller,
                     cache_bytes=args.cache_bytes, queue_capacity=args.queue_capacity,
                     batch_size=args.batch_size, request_timeout=args.request_timeout or None)
