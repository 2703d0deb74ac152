"""Starting and stopping Knot: ``start(...) -> ServerHandle``, and what runs where.

Where things run. ``start`` validates its arguments, then ``server_common.ServerHandle`` starts one
new OS thread for the server and returns once it listens. In that thread:

* **green**: ``threads.run(main, scheduler=, poller=)`` makes that OS thread a hub. ``main``
  binds the listener (a cooperative socket), starts the policy's green threads (``threads`` of
  ``knot_c_worker``, or one ``knot_a_acceptor``), hands ``ready`` a stopper, and waits on an
  ``Event``. Every connection, accept and page-cache miss runs on that one OS thread; only disk
  reads that miss the kernel's page cache go to the kernel-thread pool (``threads.fileio``).
* **kernel**: the same policy functions on ``whyevents.threads.kernel_threads`` threads (real OS
  threads, daemons) over blocking stdlib sockets with ``request_timeout`` as their timeout; the
  server's OS thread only waits for the stop.

Stopping. ``ServerHandle.stop()`` calls the stopper from the caller's OS thread:

* green: ``hub.call_threadsafe(spawn, shutdown)`` (the hub was told to ``expect_foreign`` one
  such call, so the wake-up descriptor exists and an idle hub is not a deadlock). ``shutdown``
  runs as a green thread: it sets ``stopping``, closes the listener (threads parked in
  ``accept`` get EBADF and their loops end) and kills every live Knot thread (a thread parked in
  ``recv`` gets ``ThreadKilled`` there and closes its socket on the way out); ``main`` joins
  them, closes any connection no thread had started serving, and returns, which ends ``run``.
* kernel: kernel threads cannot be killed, so the stopper sets ``stopping`` and
  ``shutdown(SHUT_RDWR)``-s the listener (blocked ``accept`` calls fail with EINVAL) and every
  open connection (a blocked ``recv`` returns end-of-file, a blocked ``send`` EPIPE); the
  server thread joins the threads, then closes the listener.

Either way ``stop()`` returns once every connection is closed, with the final counters.
"""

from __future__ import annotations

import socket as _stdsocket
from time import monotonic

from ..http import DEFAULT_LIMITS, Handler, PageCache
from ..server_common import (
    ServerCounters,
    ServerHandle,
    check_common_args,
    listen,
    raise_fd_limit,
)
from ..threads.errors import HubError
from ..threads.registry import POLLER_NAMES as _POLLERS
from ..threads.registry import SCHEDULER_NAMES as _SCHEDULERS
from .backends import BACKENDS, Backend
from .policies import POLICIES

__all__ = ["start", "Knot", "DEFAULT_THREADS", "STOP_TIMEOUT"]

#: Knot-C's thread count when ``threads`` is None. Green threads cost a few KB each when parked
#: (``whyevents bench runtime --only memory``); kernel threads cost a stack and a kernel task
#: each, and the GIL serialises them anyway.
DEFAULT_THREADS = {"green": 256, "kernel": 64}
#: Seconds ``stop`` waits for the server's threads to end after asking them to.
STOP_TIMEOUT = 5.0


class Knot:
    """A Knot server's shared state: what every one of its threads reads and counts into.

    Counters beyond ``ServerCounters`` (reported through its ``extra``): ``client_aborts``
    (a client reset or closed mid-request or mid-response), ``send_timeouts`` (a client stopped
    reading), ``timeouts_408`` (a partial request, then silence), ``idle_closes`` (an idle
    keep-alive connection timed out).
    """

    def __init__(self, root, policy: str, host: str, port: int, threads: int | None,
                 poller: str, scheduler: str, backend: Backend, cache_bytes: int,
                 backlog: int | None, request_timeout: float) -> None:
        self.policy = policy
        self.host = host
        self.port = port
        self.threads = threads
        self.poller = poller
        self.scheduler = scheduler
        self.backend = backend
        self.backlog = backlog
        self.request_timeout = request_timeout
        self.handler = Handler(root, PageCache(cache_bytes))
        self.limits = DEFAULT_LIMITS
        self.name = f"knot-{policy.lower()}"
        self.counters = ServerCounters(server=self.name, extra=self._extra)
        self.stopping = False
        self.conns: dict = {}       # accepted sockets not yet closed (see accept_connection)
        self.live: dict = {}        # Knot's threads that may still be running
        self.request_memo: dict = {}  # raw request bytes -> Request (see connection)
        self.client_aborts = 0
        self.send_timeouts = 0
        self.timeouts_408 = 0
        self.idle_closes = 0

    def _extra(self) -> dict:
        cache = self.handler.cache
        return {
            "policy": self.policy, "backend": self.backend.name, "poller": self.poller,
            "scheduler": self.scheduler, "threads": self.threads,
            "client_aborts": self.client_aborts, "send_timeouts": self.send_timeouts,
            "timeouts_408": self.timeouts_408, "idle_closes": self.idle_closes,
            "cache_hits": cache.hits, "cache_misses": cache.misses,
            "request_memo_entries": len(self.request_memo),
        }

    def _start_threads(self, listener) -> None:
        """Start the policy's threads: ``threads`` Knot-C workers, or one Knot-A acceptor."""
        fn = POLICIES[self.policy]
        count = self.threads if self.policy == "C" else 1
        for i in range(count):
            t = self.backend.Thread(target=fn, args=(self, listener), daemon=True,
                                    name=f"{self.name}-{i}")
            self.live[t] = None
            t.start()

    def _join_all(self, timeout: float) -> None:
        deadline = monotonic() + timeout
        for t in list(self.live):
            t.join(max(0.0, deadline - monotonic()))

    # -- green ----------------------------------------------------------------------------------

    def run_green(self, ready) -> None:
        """The server's OS thread, green backend: one hub runs everything."""
        self.backend.threads.run(self._green_main, ready, scheduler=self.scheduler,
                                 poller=self.poller)

    def _green_main(self, ready) -> None:
        threads = self.backend.threads
        hub = threads.get_hub()
        self.counters.hub = hub
        listener = listen(self.host, self.port, self.backlog, sock_module=self.backend.socket)
        stopped = threads.Event()

        def shutdown() -> None:
            self.stopping = True
            listener.close()
            for t in list(self.live):
                t.kill()
            stopped.set()

        try:
            hub.expect_foreign()
            self._start_threads(listener)
            ready(listener.getsockname(), lambda: _call_in(hub, threads.spawn, shutdown))
            stopped.wait()
            self._join_all(STOP_TIMEOUT)
        finally:
            listener.close()
            for conn in list(self.conns):
                conn.close()
            self.conns.clear()

    # -- kernel ---------------------------------------------------------------------------------

    def run_kernel(self, ready) -> None:
        """The server's OS thread, kernel backend: start the threads, wait for the stop."""
        listener = listen(self.host, self.port, self.backlog, sock_module=self.backend.socket)
        listener.settimeout(None)           # accept blocks in the kernel
        stopped = self.backend.threads.Event()   # threading's, captured before any patching

        def stopper() -> None:
            self.stopping = True
            _shutdown(listener)              # wakes accept() with EINVAL
            for conn in list(self.conns):    # wakes recv() with EOF, send() with EPIPE
                _shutdown(conn)
            stopped.set()

        try:
            self._start_threads(listener)
            ready(listener.getsockname(), stopper)
            stopped.wait()
            self._join_all(STOP_TIMEOUT)
        finally:
            listener.close()

    def __repr__(self) -> str:
        return (f"<Knot-{self.policy} {self.backend.name} {self.scheduler}/{self.poller} "
                f"threads={self.threads} conns={len(self.conns)}>")


def _call_in(hub, fn, *args) -> None:
    """``hub.call_threadsafe(fn, *args)``; nothing if the hub has closed (its ``run`` returned:
    the server has already stopped, and ``ServerHandle.stop`` reports why)."""
    try:
        hub.call_threadsafe(fn, *args)
    except HubError:
        if not hub.closed:
            raise


def _shutdown(sock) -> None:
    try:
        sock.shutdown(_stdsocket.SHUT_RDWR)
    except OSError:
        pass                                 # already closed, or never connected


def check_policy(policy) -> str:
    """The policy letter (``C`` or ``A``) of ``policy``, or a ValueError naming the choices."""
    if not isinstance(policy, str) or policy.upper() not in POLICIES:
        raise ValueError(f"policy={policy!r}: choose 'C' (Knot-C, favour active connections) "
                         f"or 'A' (Knot-A, favour accepting)")
    return policy.upper()


def check_threads_and_common(policy: str, threads, default: int, root, host, port, cache_bytes,
                             backlog, request_timeout) -> int | None:
    """The thread count (``default`` for Knot-C when not given; None for Knot-A) after checking
    it and the arguments every server shares (``check_common_args``)."""
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                or threads <= 0):
        raise ValueError(f"threads={threads!r}: must be a positive integer")
    if threads is None and policy == "C":
        threads = default
    check_common_args(root, host, port, cache_bytes, backlog, request_timeout,
                      timeout_optional=False)
    return threads


def _check(root, policy, host, port, threads, poller, scheduler, backend, cache_bytes,
           backlog, request_timeout) -> tuple[str, int | None]:
    """Validate ``start``'s arguments; returns (policy letter, thread count)."""
    policy = check_policy(policy)
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r}: choose one of {sorted(BACKENDS)}")
    if poller not in _POLLERS:
        raise ValueError(f"poller={poller!r}: choose 'epoll' or 'poll'")
    if scheduler not in _SCHEDULERS:
        raise ValueError(f"scheduler={scheduler!r}: choose 'fifo' or 'pth'")
    return policy, check_threads_and_common(policy, threads, DEFAULT_THREADS[backend], root, host,
                                            port, cache_bytes, backlog, request_timeout)


def start(root, *, policy: str = "C", host: str = "127.0.0.1", port: int = 0,
          threads: int | None = None, poller: str = "epoll", scheduler: str = "fifo",
          backend: str = "green", cache_bytes: int = 64 << 20, backlog: int | None = None,
          request_timeout: float = 30.0) -> ServerHandle:
    """Start Knot serving ``root`` and return its handle once it listens.

    ``policy`` "C" (Knot-C: ``threads`` threads, each accept -> serve to completion) or "A"
    (Knot-A: one acceptor, a thread per connection; ``threads`` is then unused).
    ``threads`` defaults to ``DEFAULT_THREADS[backend]``. ``poller`` and ``scheduler`` choose
    the green runtime's (checked, and ignored, on ``backend="kernel"``). ``cache_bytes`` bounds
    the page cache; ``backlog`` defaults to ``somaxconn``; ``request_timeout`` is how long a
    connection may stay silent mid-request (then 408) or idle between requests (then closed).
    Raises ``ValueError`` naming any bad argument.
    """
    policy, threads = _check(root, policy, host, port, threads, poller, scheduler, backend,
                             cache_bytes, backlog, request_timeout)
    raise_fd_limit()
    knot = Knot(root, policy, host, port, threads, poller, scheduler, BACKENDS[backend],
                cache_bytes, backlog, float(request_timeout))
    body = knot.run_green if backend == "green" else knot.run_kernel
    handle = ServerHandle(knot.name, knot.counters, body)
    handle.knot = knot
    return handle
