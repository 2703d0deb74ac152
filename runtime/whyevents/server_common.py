"""What every server shares and none of them owns: the listener, the counters, the handle, the CLI.

Knot (threaded), the SEDA server (staged) and the event twin (one loop) differ only in how they
schedule work; so that a measured difference is the concurrency model and nothing else, they bind
the same way, count the same things and stop the same way, through this module.

* ``listen(host, port, backlog)``: a TCP listener on 127.0.0.1 by default, with
  SO_REUSEADDR and the largest backlog the kernel allows (``somaxconn``).
* ``ServerCounters``: requests, bytes, errors by status, open/total connections, accept errors
  (EMFILE back-offs) — plain integer adds on the serving paths, so cheap enough to leave on — and
  ``snapshot()``, which adds what the process knows of itself: CPU seconds (user, system),
  voluntary/involuntary context switches (psutil), peak RSS, and the green hub's switches if any.
* ``ServerHandle``: what ``start(...)`` returns: ``.address``, ``.stats()``, ``.stop()``. The
  server runs in a background OS thread of this process (its own hub, if it is a green server);
  ``stop`` asks it to close its listener and connections and waits for the thread.
* ``serve_cli(start, args)``: the body of ``whyevents serve NAME``: start, print the address,
  serve until SIGINT/SIGTERM, stop cleanly, print the counters.
* ``Linger``: the lingering close every server does after an error reply (below).

Lingering close, as nginx does it. After an error reply that ends the connection (a parse error:
400, 405, 413, 414, 431, 505; a 408; SEDA's 503) the client may still be sending the rest of its
request. Closing a socket with unread input makes the kernel send a reset, and a reset that
reaches the client before it has read the reply destroys the reply in its receive queue. So the
server shuts down writing (the reply and a FIN are on their way), then reads and discards what
the client still sends until the client closes or a bound is hit, then closes:

* ``LINGER_TIME``: at most this many seconds in all (nginx ``lingering_time``: 30 s);
* ``LINGER_TIMEOUT``: at most this many seconds of silence between two reads (nginx
  ``lingering_timeout``: 5 s);
* ``LINGER_BYTES``: at most this many bytes discarded (nginx has no byte bound).

Smaller than nginx's, because Knot-C's fixed pool spends a thread on each lingering connection:
a flood of bad requests holds a pool thread at most ``LINGER_TIME`` each (the twin and SEDA's
aSocket linger without blocking: a lingering connection is a state there, not a thread). Counted
in every server's stats: ``lingering_closes`` (begun), ``lingering_bytes`` (discarded),
``lingering_cut`` (ended by a bound rather than the client's FIN).

The descriptor limit: this machine caps ``RLIMIT_NOFILE`` at 20,000 per process (hard). A server
raises its soft limit to the hard one (``raise_fd_limit``) and an accept that hits EMFILE/ENFILE
backs off on a timer (``ACCEPT_BACKOFF``) and keeps serving the connections it has: with an
edge-triggered poller the backlog would otherwise stay undrained until the next connection.
"""

from __future__ import annotations

import errno
import json
import math
import os
import resource
import signal
import socket as _stdsocket
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from .harness.procs import fd_limit, raise_fd_limit
from .threads.originals import original

__all__ = [
    "listen", "raise_fd_limit", "fd_limit", "ServerCounters", "ServerHandle", "serve_cli",
    "check_common_args", "Linger",
    "ACCEPT_BACKOFF", "ACCEPT_ERRNOS", "DEFAULT_HOST", "LINGER_TIME", "LINGER_TIMEOUT",
    "LINGER_BYTES",
]

DEFAULT_HOST = "127.0.0.1"
#: Seconds an accept loop waits after EMFILE/ENFILE/ENOBUFS/ENOMEM before it tries again.
ACCEPT_BACKOFF = 0.05
#: accept() errors that mean "out of resources, try later", not "the listener is broken".
ACCEPT_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
#: accept() errors that concern only the connection being accepted: skip it.
ACCEPT_SKIP_ERRNOS = frozenset({errno.ECONNABORTED, errno.EPROTO, errno.EPERM})
#: Lingering close (module docstring): seconds in all, seconds of silence, bytes discarded.
#: Read when a lingering close begins, so a test may change them.
LINGER_TIME = 2.0
LINGER_TIMEOUT = 1.0
LINGER_BYTES = 1 << 20
_LINGER_READ = 65536

# Kernel-thread originals: monkey-patching may later replace the module attributes, or already
# have (then ``monkey.get_original`` has them), and a server body must run on a real OS thread.
_start_new_thread = original("_thread", "start_new_thread")
_allocate_lock = original("_thread", "allocate_lock")
_get_native_id = original("_thread", "get_native_id")


def check_common_args(root, host, port, cache_bytes, backlog, request_timeout, *,
                      timeout_optional: bool = True) -> None:
    """The checks every server's ``start`` makes on the arguments they share: ``ValueError``
    naming the parameter and what it accepts. ``request_timeout`` may be None (no timeout)
    unless ``timeout_optional`` is False."""
    try:
        is_dir = os.path.isdir(root)
    except TypeError:
        is_dir = False
    if not is_dir:
        raise ValueError(f"root={root!r}: not an existing directory")
    if not isinstance(host, str) or not host:
        raise ValueError(f"host={host!r}: must be a non-empty string")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port={port!r}: must be an integer 0..65535")
    if isinstance(cache_bytes, bool) or not isinstance(cache_bytes, int) or cache_bytes <= 0:
        raise ValueError(f"cache_bytes={cache_bytes!r}: must be a positive integer")
    if backlog is not None and (isinstance(backlog, bool) or not isinstance(backlog, int)
                                or backlog <= 0):
        raise ValueError(f"backlog={backlog!r}: must be a positive integer or None")
    if request_timeout is None and timeout_optional:
        return
    if (isinstance(request_timeout, bool) or not isinstance(request_timeout, int | float)
            or not 0 < request_timeout < math.inf):
        none = " or None for no timeout" if timeout_optional else ""
        raise ValueError(f"request_timeout={request_timeout!r}: must be a positive number of "
                         f"seconds{none}")


def somaxconn() -> int:
    """The kernel's cap on a listen backlog (``net.core.somaxconn``; 4096 if unreadable)."""
    try:
        with open("/proc/sys/net/core/somaxconn") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 4096


def listen(host: str = DEFAULT_HOST, port: int = 0, backlog: int | None = None,
           sock_module=_stdsocket):
    """A listening TCP socket (from ``sock_module``: stdlib or cooperative).

    Its blocking mode is the module's default (a stdlib socket blocks; a cooperative one only
    parks its green thread): a server that wants ``EAGAIN`` calls ``setblocking(False)``.
    """
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port={port!r}: must be an integer 0..65535")
    family = _stdsocket.AF_INET6 if ":" in host else _stdsocket.AF_INET
    s = sock_module.socket(family, _stdsocket.SOCK_STREAM)
    try:
        s.setsockopt(_stdsocket.SOL_SOCKET, _stdsocket.SO_REUSEADDR, 1)
        s.bind((host, port))
        s.listen(backlog if backlog is not None else somaxconn())
    except BaseException:
        s.close()
        raise
    return s


@dataclass
class ServerCounters:
    """Counters a server keeps while it serves; ``snapshot()`` adds the process's own view."""

    server: str = ""
    requests: int = 0
    bytes_sent: int = 0
    connections_total: int = 0
    connections_open: int = 0
    accept_backoffs: int = 0
    lingering_closes: int = 0                           # see Linger
    lingering_bytes: int = 0
    lingering_cut: int = 0
    errors: Counter = field(default_factory=Counter)   # status code -> count
    started: float = field(default_factory=time.monotonic)
    hub: object = None                                  # a whyevents.threads Hub, if green
    extra: object = None                                # callable returning more fields

    def error(self, status: int) -> None:
        self.errors[status] += 1

    def snapshot(self) -> dict:
        """Everything as plain numbers (JSON-ready)."""
        out = {
            "server": self.server,
            "requests": self.requests,
            "bytes_sent": self.bytes_sent,
            "connections_total": self.connections_total,
            "connections_open": self.connections_open,
            "accept_backoffs": self.accept_backoffs,
            "lingering_closes": self.lingering_closes,
            "lingering_bytes": self.lingering_bytes,
            "lingering_cut": self.lingering_cut,
            "errors": {str(k): v for k, v in sorted(self.errors.items())},
            "uptime_s": round(time.monotonic() - self.started, 6),
        }
        out.update(process_snapshot())
        hub = self.hub
        if hub is not None:
            out["green_switches"] = hub.switches
            out["green_threads"] = len(hub._live)
        if self.extra is not None:
            out.update(self.extra())
        return out


class Linger:
    """One lingering close (module docstring): the socket's write side is shut down at once;
    the caller then drains it, blocking (``run``: Knot's threads) or on readiness (``drain``
    whenever the socket is readable and ``expired`` on a timer: the twin, SEDA's aSocket), and
    closes it once either says done. Counts into ``counters`` (``ServerCounters``)."""

    __slots__ = ("sock", "counters", "until", "idle_until", "left")

    def __init__(self, sock, counters: ServerCounters, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self.sock = sock
        self.counters = counters
        self.until = now + LINGER_TIME
        self.idle_until = now + LINGER_TIMEOUT
        self.left = LINGER_BYTES
        counters.lingering_closes += 1
        try:
            sock.shutdown(_stdsocket.SHUT_WR)
        except OSError:
            pass                    # already reset: drain() will say so

    @property
    def deadline(self) -> float:
        """When the lingering ends if the client neither closes nor sends."""
        return min(self.until, self.idle_until)

    def expired(self, now: float) -> bool:
        """A bound ran out (counted as cut); the caller closes."""
        if now >= self.deadline:
            self.counters.lingering_cut += 1
            return True
        return False

    def drain(self, now: float) -> bool:
        """Read and discard what a non-blocking socket holds; True: done, close it now (the
        client's FIN or reset, or the byte bound), False: wait for more."""
        recv = self.sock.recv
        counters = self.counters
        while True:
            try:
                data = recv(_LINGER_READ)
            except (BlockingIOError, InterruptedError):
                return False
            except OSError:
                return True         # reset: nothing left to protect
            if not data:
                return True         # the client's FIN: a clean close
            self.idle_until = now + LINGER_TIMEOUT
            counters.lingering_bytes += len(data)
            self.left -= len(data)
            if self.left <= 0:
                counters.lingering_cut += 1
                return True

    def run(self) -> None:
        """Drain a blocking socket (stdlib or green) until done; the caller closes it."""
        sock = self.sock
        counters = self.counters
        try:
            while True:
                wait = min(self.until - time.monotonic(), LINGER_TIMEOUT)
                if wait <= 0:
                    counters.lingering_cut += 1
                    return
                sock.settimeout(wait)
                data = sock.recv(_LINGER_READ)
                if not data:
                    return
                counters.lingering_bytes += len(data)
                self.left -= len(data)
                if self.left <= 0:
                    counters.lingering_cut += 1
                    return
        except TimeoutError:
            counters.lingering_cut += 1
        except OSError:
            pass


def _kernel_threads() -> int:
    """OS threads of this process, including those started by ``_thread`` (SEDA's stages),
    which ``threading.active_count()`` does not see."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def process_snapshot() -> dict:
    """CPU seconds, context switches and peak RSS of this process."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    out = {
        "cpu_user_s": ru.ru_utime,
        "cpu_system_s": ru.ru_stime,
        "ctx_voluntary": ru.ru_nvcsw,
        "ctx_involuntary": ru.ru_nivcsw,
        "peak_rss_bytes": ru.ru_maxrss * 1024,
        "kernel_threads": _kernel_threads(),
    }
    try:
        import psutil

        # getrusage sums every thread of the process (psutil's num_ctx_switches reads only the
        # main thread's /proc entry), so context switches come from getrusage above.
        out["open_fds"] = psutil.Process().num_fds()
    except Exception:  # noqa: BLE001 - psutil is optional here; getrusage suffices
        pass
    return out


def wait_thread_gone(native_id: int, deadline: float) -> bool:
    """Wait until the OS thread ``native_id`` has exited (its ``/proc/self/task`` entry is gone),
    at most until ``deadline`` (``time.monotonic()``); whether it is gone.

    A thread that released its "done" lock is still running the last instructions of its exit;
    counters of OS threads read right after a join would count it.
    """
    task = f"/proc/self/task/{native_id}"
    while os.path.exists(task):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.001)
    return True


class ServerHandle:
    """A running server: ``.address``, ``.stats()``, ``.stop()``; also a context manager.

    ``body(ready)`` runs in a new OS thread; it must call ``ready(address, stopper)``
    once it listens (``stopper()`` is called from the caller's thread and must make ``body``
    return soon, e.g. by ``hub.call_threadsafe``-ing a shutdown) and return when stopped.
    """

    def __init__(self, name: str, counters: ServerCounters, body, start_timeout: float = 10.0):
        self.name = name
        self.counters = counters
        self.address: tuple | None = None
        self.error: BaseException | None = None
        self._stopper = None
        self._ready = _allocate_lock()      # a kernel lock, released once: listening or failed
        self._ready.acquire()
        self._signalled = False
        self._done = _allocate_lock()
        self._tid = 0                       # the server OS thread's native id, set when it runs
        self._done.acquire()
        self._body = body
        _start_new_thread(self._main, ())
        if not self._ready.acquire(True, start_timeout):
            raise TimeoutError(f"{name} did not start listening within {start_timeout} s")
        if self.error is not None:
            raise RuntimeError(f"{name} failed to start: {self.error!r}") from self.error

    def _main(self) -> None:
        self._tid = _get_native_id()
        try:
            self._body(self._on_ready)
        except BaseException as e:  # noqa: BLE001 - reported through the handle
            self.error = e
            if not self._signalled:
                self._signalled = True
                self._ready.release()
            else:
                print(f"{self.name} stopped with an error: {e!r}", file=sys.stderr)
        finally:
            self._done.release()

    def _on_ready(self, address: tuple, stopper) -> None:
        self.address = address
        self._stopper = stopper
        self._signalled = True
        self._ready.release()

    @property
    def url(self) -> str:
        host, port = self.address[:2]
        return f"http://{host}:{port}/"

    def stats(self) -> dict:
        return self.counters.snapshot()

    def stop(self, timeout: float = 10.0) -> dict:
        """Close the listener and connections, wait for the server thread; returns final stats."""
        if self._stopper is not None:
            stopper, self._stopper = self._stopper, None
            stopper()
        deadline = time.monotonic() + timeout
        if self._done.acquire(timeout=timeout):
            self._done.release()
        else:
            raise TimeoutError(f"{self.name} did not stop within {timeout} s")
        # The body has returned; wait for its OS thread to be gone too, so the final stats (and
        # the caller) see the server's threads all ended.
        wait_thread_gone(self._tid, deadline)
        return self.stats()

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<ServerHandle {self.name} at {self.address}>"


def serve_cli(start, name: str, **kwargs) -> int:
    """Start a server, print where it listens, serve until SIGINT/SIGTERM, print its counters."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):   # before the address: a client told where to
        signal.signal(sig, lambda *_: stop.set())  # connect may signal at once
    handle = start(**kwargs)
    host, port = handle.address[:2]
    print(f"{name} listening on http://{host}:{port}/ (root {kwargs.get('root')}); "
          f"Ctrl-C or SIGTERM to stop", flush=True)
    while not stop.wait(0.5):
        if handle.error is not None:
            print(f"{name} failed: {handle.error!r}", file=sys.stderr)
            return 1
    final = handle.stop()
    print(json.dumps(final, indent=2, sort_keys=True))
    return 0
