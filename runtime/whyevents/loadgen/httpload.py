"""Closed-loop HTTP clients in SEDA's HttpLoad model, one green thread per client.

Each client connects, sends up to ``requests_per_conn`` keep-alive requests, reads every whole
response (status line + Content-Length), waits ``think_time`` after each response, then closes
and reconnects. A closed loop means the offered load is set by the number of clients, not a
rate: a slow server slows its clients down instead of growing a queue, which is what SEDA and
the HotOS paper measured (bandwidth, response times, Jain fairness over per-client completions).

Only completions inside the measured window (after ``warmup``) count. The client's own CPU time
is reported beside the result because on one machine the client can saturate before the server:
a point where ``client_saturated`` is set measures the load generator, not the server.

**Think time is exact on average.** A closed loop's rate is clients / (think + response time),
so a think that runs long lowers the offered load. ``threads.sleep(0.02)`` wakes late: the hub
sleeps in ``epoll.poll(timeout)``, which CPython rounds *up* to whole milliseconds, the kernel
adds its timer slack (``/proc/self/timerslack_ns``), an expired timer's thread runs after the
batch that is running when the hub polls, and a busy machine delays the wake-up further (a
wake-up comes about a millisecond late; ``LoadResult.think_ms_mean`` shows it). So each
client sleeps until an absolute deadline, ``end of response + think_time - carry``, where
``carry`` is how late its previous wake-up came (clamped to +-``think_time``): the think times
of a client then sum to ``n * think_time`` up to one wake-up's lateness, whatever the runtime's
timer resolution, and each single think is ``think_time`` +- the difference of two successive
lateness values. ``LoadResult.think_ms_mean`` reports the think time measured in the window
(response read -> next request), beside the requested one.
"""

from __future__ import annotations

import errno
import ipaddress
import math
import random
import resource
import socket as _stdsocket
import time
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from whyevents import threads
from whyevents.http.fileset import RequestMix
from whyevents.server_common import raise_fd_limit
from whyevents.threads import socket as gsocket

DEFAULT_PATH = "/"
FD_MARGIN = 64                  # descriptors kept free for the runtime, logs, pipes, the server
SATURATED_UTILISATION = 0.90    # of one core: above this the client, not the server, is measured
SATURATED_WARNING = "the client saturated: this point measures the client"
_IP_BIND_ADDRESS_NO_PORT = getattr(_stdsocket, "IP_BIND_ADDRESS_NO_PORT", 24)
_RUSAGE = getattr(resource, "RUSAGE_THREAD", resource.RUSAGE_SELF)
_RECV_BYTES = 65536
_MAX_HEADER = 65536


class ResponseError(Exception):
    """A response that ended the request without a completion; ``kind`` is the error's key."""

    def __init__(self, kind: str, keep: bool = False) -> None:
        super().__init__(kind)
        self.kind = kind
        self.keep = keep        # the response was read whole: the connection is still usable


# ---------------------------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------------------------

def resolve_loopback(host: str, port: int, allow_remote: bool = False) -> str:
    """The IPv4/IPv6 address ``host`` names; refuses non-loopback ones unless ``allow_remote``.

    Load generation is for measuring a server on this machine; aiming it elsewhere by a typo
    would be a flood, so a remote target must be asked for explicitly.
    """
    infos = _stdsocket.getaddrinfo(host, port, 0, _stdsocket.SOCK_STREAM)
    addr = infos[0][4][0]
    if not allow_remote and not all(ipaddress.ip_address(i[4][0].split("%")[0]).is_loopback
                                    for i in infos):
        raise ValueError(f"host={host!r} resolves to {addr}, not a loopback address; "
                         f"pass allow_remote=True to load a remote server")
    return addr


def check_fd_limit(clients: int, margin: int = FD_MARGIN) -> int:
    """Raise ValueError naming ``clients`` and the limit if the clients cannot all hold a socket."""
    soft = raise_fd_limit()
    if soft != resource.RLIM_INFINITY and clients > soft - margin:
        raise ValueError(f"clients={clients} exceeds the open-file limit: RLIMIT_NOFILE is "
                         f"{soft}, and {margin} descriptors are kept free, so at most "
                         f"{max(soft - margin, 0)} clients fit in one process "
                         f"(use run_load_processes to spread them)")
    return soft


def _per_client(value, clients: int, name: str) -> list:
    if value is None or isinstance(value, int):
        return [value] * clients
    values = list(value)
    if len(values) != clients:
        raise ValueError(f"{name} has {len(values)} entries for {clients} clients")
    return values


def _source_addresses(addr: str, count: int) -> list[str | None]:
    """127.0.0.1 .. 127.0.0.count when the target is IPv4 loopback; else the kernel's choice."""
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return [None]
    if count <= 1 or ip.version != 4 or not ip.is_loopback:
        return [None]
    return [f"127.0.0.{i}" for i in range(1, min(count, 254) + 1)]


class _Paths:
    """A client's request sequence: one path, a list drawn uniformly, or a RequestMix."""

    __slots__ = ("_fixed", "_list", "_mix", "_rng", "_buf")

    def __init__(self, paths, rng: random.Random) -> None:
        self._fixed = self._list = self._mix = None
        self._rng = rng
        self._buf: list[str] = []
        if paths is None:
            self._fixed = DEFAULT_PATH
        elif isinstance(paths, str):
            self._fixed = paths
        elif isinstance(paths, RequestMix):
            self._mix = paths
        else:
            self._list = list(paths)
            if not self._list:
                raise ValueError("paths is empty")
            if len(self._list) == 1:
                self._fixed = self._list[0]

    def next(self) -> str:
        if self._fixed is not None:
            return self._fixed
        if self._list is not None:
            return self._rng.choice(self._list)
        if not self._buf:
            self._buf = self._mix.sample(64, self._rng)
            self._buf.reverse()
        return self._buf.pop()


# ---------------------------------------------------------------------------------------------
# One response
# ---------------------------------------------------------------------------------------------

def read_response(sock, buf: bytearray, view: memoryview, pending: bytes) -> tuple[int, int, bool,
                                                                                   bytes]:
    """Read one whole response; returns (status, bytes read, keep_alive, bytes left over).

    ``pending`` is what the previous read took past the end of the previous response. Bodies are
    read into ``buf`` and dropped: the client measures, it does not keep content.
    """
    head = pending
    while True:
        end = head.find(b"\r\n\r\n")
        if end >= 0:
            break
        if len(head) > _MAX_HEADER:
            raise ResponseError("bad_response")
        n = sock.recv_into(buf)
        if n == 0:
            raise ResponseError("closed")
        head += view[:n]
    lines = head[:end].split(b"\r\n")
    parts = lines[0].split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise ResponseError("bad_response")
    status = int(parts[1])
    length = None
    keep = parts[0] == b"HTTP/1.1"
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            try:
                length = int(value.strip())
            except ValueError:
                raise ResponseError("bad_response") from None
        elif name == b"connection":
            v = value.strip().lower()
            keep = b"keep-alive" in v if not keep else b"close" not in v
        elif name == b"transfer-encoding" and value.strip().lower() != b"identity":
            raise ResponseError("unsupported_encoding")
    body_start = end + 4
    total = len(head)
    if length is None:                           # no length: the body runs to the close
        while True:
            n = sock.recv_into(buf)
            if n == 0:
                return status, total, False, b""
            total += n
    have = total - body_start
    if have >= length:
        extra = head[body_start + length:]
        return status, total - len(extra), keep, bytes(extra)
    need = length - have
    while need > 0:
        n = sock.recv_into(buf, min(need, len(buf)))
        if n == 0:
            raise ResponseError("closed")
        need -= n
        total += n
    return status, total, keep, b""


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------

@dataclass
class LoadResult:
    """What one closed-loop run measured (inside the measured window only)."""

    clients: int
    duration_s: float                   # the measured window as it actually ran
    completed: int
    bytes: int
    response_ms: dict[str, float]       # p50, p90, p99, max, mean
    errors: dict[str, int]
    connection_failures: int
    connections: int
    per_client: list[int]
    fairness: float
    client_cpu_s: float
    client_cpu_user_s: float
    client_cpu_system_s: float
    params: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    latencies: array = field(default_factory=lambda: array("d"), repr=False)  # seconds
    processes: int = 1
    any_process_saturated: bool = False   # set when merging runs of several processes
    cores: int = 0                        # distinct cores the processes ran on (0: one each)
    wake_lag_s: float = 0.0               # how late the client woke for the window (max over
                                          # processes): large means a starved or busy client
    think_ms_mean: float = math.nan       # measured think time (response read -> next request)

    @property
    def requests_per_s(self) -> float:
        return self.completed / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def mbit_per_s(self) -> float:
        return self.bytes * 8 / 1e6 / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def client_cpu_utilisation(self) -> float:
        return self.client_cpu_s / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def client_saturated(self) -> bool:
        """The clients used ~all of their core(s): the point measures the client.

        Processes pinned to one shared core are judged together (each alone would show at most
        its share of the core and never look saturated)."""
        cores = self.cores or self.processes
        return (self.any_process_saturated
                or self.client_cpu_utilisation / cores >= SATURATED_UTILISATION
                or self.wake_lag_s > 0.1 * self.duration_s)

    @property
    def client_cpu_us_per_request(self) -> float:
        return self.client_cpu_s * 1e6 / self.completed if self.completed else math.nan

    def as_row(self) -> dict:
        """A flat dict for the results store (no lists; errors as ``errors.<kind>`` columns)."""
        row = dict(self.params)
        row.update(clients=self.clients, duration_s=self.duration_s, completed=self.completed,
                   bytes=self.bytes, requests_per_s=self.requests_per_s,
                   mbit_per_s=self.mbit_per_s, fairness=self.fairness,
                   connections=self.connections, connection_failures=self.connection_failures,
                   errors_total=sum(self.errors.values()), client_cpu_s=self.client_cpu_s,
                   client_cpu_user_s=self.client_cpu_user_s,
                   client_cpu_system_s=self.client_cpu_system_s,
                   client_cpu_utilisation=self.client_cpu_utilisation,
                   client_cpu_us_per_request=self.client_cpu_us_per_request,
                   client_saturated=self.client_saturated, processes=self.processes,
                   think_ms_mean=self.think_ms_mean, warnings="; ".join(self.warnings))
        for k, v in self.response_ms.items():
            row[f"response_ms_{k}"] = v
        for k, v in sorted(self.errors.items()):
            row[f"errors.{k}"] = v
        return row


def jain_fairness(values: Sequence[float]) -> float:
    """Jain's index (Σx)²/(N·Σx²): 1.0 when all equal, 1/N when one client got everything."""
    n = len(values)
    sq = sum(v * v for v in values)
    if n == 0 or sq == 0:
        return 1.0 if n else math.nan
    s = sum(values)
    return s * s / (n * sq)


def percentiles_ms(samples: Sequence[float]) -> dict[str, float]:
    """Nearest-rank p50/p90/p99, max and mean of response times given in seconds, in ms."""
    if not samples:
        return {"p50": math.nan, "p90": math.nan, "p99": math.nan, "max": math.nan,
                "mean": math.nan}
    s = sorted(samples)
    n = len(s)

    def rank(p: float) -> float:
        return s[max(0, math.ceil(p / 100 * n) - 1)] * 1e3

    return {"p50": rank(50), "p90": rank(90), "p99": rank(99), "max": s[-1] * 1e3,
            "mean": sum(s) / n * 1e3}


def _connect_error_kind(e: OSError) -> str:
    if isinstance(e, ConnectionRefusedError):
        return "connect_refused"
    if isinstance(e, TimeoutError):
        return "connect_timeout"
    if isinstance(e, ConnectionResetError):
        return "connect_reset"
    return f"connect_error:{errno.errorcode.get(e.errno, e.errno)}"


def _io_error_kind(e: OSError) -> str:
    if isinstance(e, TimeoutError):
        return "timeout"
    if isinstance(e, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return "reset"
    return f"io_error:{errno.errorcode.get(e.errno, e.errno)}"


class _Run:
    """Shared state of one run: the window, the counters, and the stop flag."""

    def __init__(self, clients: int, window_start: float, window_end: float) -> None:
        self.window_start = window_start
        self.window_end = window_end
        self.stopping = False
        self.per_client = [0] * clients
        self.bytes = 0
        self.latencies = array("d")
        self.errors: Counter[str] = Counter()
        self.connections = 0
        self.connection_failures = 0
        self.live = clients
        self.all_done = threads.Event()
        self.think_s = 0.0              # think times measured in the window: sum and count
        self.thinks = 0
        self.wake_lag = 0.0             # how late the hub woke for the window's start (s)

    def in_window(self, t: float) -> bool:
        return self.window_start <= t < self.window_end

    def error(self, kind: str, connect: bool = False) -> None:
        if self.in_window(time.monotonic()):
            self.errors[kind] += 1
            if connect:
                self.connection_failures += 1


def _client(run: _Run, index: int, addr: tuple, source: str | None, host_header: bytes,
            paths: _Paths, limit: int | None, requests_per_conn: int, think_time: float,
            timeout: float, family: int) -> None:
    buf = bytearray(_RECV_BYTES)
    view = memoryview(buf)
    attempts = 0
    monotonic = time.monotonic
    carry = 0.0             # how late the last think ended (s): taken off the next (see module)
    try:
        while not run.stopping and (limit is None or attempts < limit):
            sock = gsocket.socket(family, _stdsocket.SOCK_STREAM)
            try:
                sock.settimeout(timeout)
                if source is not None:
                    sock.setsockopt(_stdsocket.IPPROTO_IP, _IP_BIND_ADDRESS_NO_PORT, 1)
                    sock.bind((source, 0))
                sock.connect(addr)
                sock.setsockopt(_stdsocket.IPPROTO_TCP, _stdsocket.TCP_NODELAY, 1)
            except OSError as e:
                sock.close()
                attempts += 1
                run.error(_connect_error_kind(e), connect=True)
                threads.sleep(max(think_time, 0.01))    # a refused client must not spin
                continue
            if run.in_window(monotonic()):
                run.connections += 1
            pending = b""
            try:
                for _ in range(requests_per_conn):
                    if run.stopping or (limit is not None and attempts >= limit):
                        break
                    path = paths.next()
                    request = (b"GET " + path.encode() + b" HTTP/1.1\r\nHost: " + host_header
                               + b"\r\nConnection: keep-alive\r\n\r\n")
                    attempts += 1
                    t0 = monotonic()
                    try:
                        sock.sendall(request)
                        status, nbytes, keep, pending = read_response(sock, buf, view, pending)
                    except ResponseError as e:
                        run.error(e.kind)
                        break
                    except OSError as e:
                        run.error(_io_error_kind(e))
                        break
                    t1 = monotonic()
                    if 200 <= status < 400:
                        if run.window_start <= t1 < run.window_end:
                            run.per_client[index] += 1
                            run.bytes += nbytes
                            run.latencies.append(t1 - t0)
                    else:
                        run.error(f"bad_status:{status}")
                    if think_time > 0:
                        due = t1 + think_time - carry
                        threads.sleep(max(0.0, due - monotonic()))
                        woke = monotonic()
                        carry = min(max(woke - due, -think_time), think_time)
                        if run.window_start <= woke < run.window_end:
                            run.think_s += woke - t1
                            run.thinks += 1
                    if not keep:
                        break
            finally:
                sock.close()
    finally:
        run.live -= 1
        if run.live == 0:
            run.all_done.set()


def _cpu() -> tuple[float, float]:
    ru = resource.getrusage(_RUSAGE)
    return ru.ru_utime, ru.ru_stime


def _measure(addr: str, port: int, clients: int, duration: float, warmup: float,
             requests_per_conn: int, think_time: float, paths, seed: int, timeout: float,
             limits: list, paths_per_client: list, source_addresses: int,
             host_header: bytes, start_at: float | None) -> tuple[_Run, float, tuple, tuple]:
    family = _stdsocket.AF_INET6 if ":" in addr else _stdsocket.AF_INET
    sources = _source_addresses(addr, source_addresses)
    if start_at is not None:                 # a shared wall-clock start (multi-process runs)
        threads.sleep(max(0.0, start_at - time.time()))
    t0 = time.monotonic()
    run = _Run(clients, t0 + warmup, t0 + warmup + duration)
    workers = []
    for i in range(clients):
        p = paths_per_client[i] if paths_per_client[i] is not None else paths
        rng = random.Random(f"{seed}:{i}")
        workers.append(threads.spawn(
            _client, run, i, (addr, port), sources[i % len(sources)], host_header,
            _Paths(p, rng), limits[i], requests_per_conn, think_time, timeout, family))
    ended_early = run.all_done.wait(warmup) if warmup > 0 else False
    cpu0 = _cpu()
    start = time.monotonic()
    run.wake_lag = max(0.0, start - run.window_start) if not ended_early else 0.0
    if not ended_early:
        run.all_done.wait(max(0.0, run.window_end - start))
    run.stopping = True
    # Completions count from ``window_start``; a hub that woke late from the warm-up must not
    # shorten the window it divides by (that would overstate the rates).
    end = max(run.window_start, min(time.monotonic(), run.window_end))
    run.window_end = end                     # completions after this moment do not count
    cpu1 = _cpu()
    # Clients parked in think time or on a slow server would notice ``stopping`` only after a
    # think time or a timeout: end them now, so each closes its socket (no descriptor outlives
    # the run, and back-to-back runs in one process do not accumulate connections).
    for t in workers:
        t.kill()
    for t in workers:
        t.join(timeout)
    return run, end - run.window_start, cpu0, cpu1


def run_load(host: str, port: int, clients: int, duration: float, warmup: float = 0.0, *,
             requests_per_conn: int = 5, think_time: float = 0.02,
             paths: str | Sequence[str] | RequestMix | None = None, seed: int = 0,
             timeout: float = 10.0, max_requests_per_client: int | Sequence[int] | None = None,
             paths_per_client: Sequence | None = None, source_addresses: int = 32,
             allow_remote: bool = False, start_at: float | None = None,
             scheduler: str = "fifo", poller: str = "epoll") -> LoadResult:
    """Run ``clients`` closed-loop clients for ``warmup`` + ``duration`` seconds.

    Starts its own green-thread hub on the calling OS thread (call it from plain code, not from
    a green thread). ``max_requests_per_client`` (one int, or one per client) bounds the attempts
    of each client (completions, failed requests and failed connects alike) so a test can count
    exactly; the run ends early when every client has stopped. ``paths_per_client`` overrides
    ``paths`` per client (``None`` entries keep ``paths``). ``source_addresses`` spreads client
    sockets over 127.0.0.1..127.0.0.N when the target is IPv4 loopback.
    """
    if clients < 1:
        raise ValueError(f"clients must be at least 1, got {clients}")
    if duration <= 0 or warmup < 0:
        raise ValueError(f"duration must be > 0 and warmup >= 0, got {duration}, {warmup}")
    if requests_per_conn < 1:
        raise ValueError(f"requests_per_conn must be at least 1, got {requests_per_conn}")
    if think_time < 0 or timeout <= 0:
        raise ValueError(f"think_time must be >= 0 and timeout > 0, got {think_time}, {timeout}")
    addr = resolve_loopback(host, port, allow_remote)
    limit = check_fd_limit(clients)
    limits = _per_client(max_requests_per_client, clients, "max_requests_per_client")
    per_paths = ([None] * clients if paths_per_client is None
                 else _per_client(paths_per_client, clients, "paths_per_client"))
    host_header = f"{host}:{port}".encode()
    run, window, cpu0, cpu1 = threads.run(
        _measure, addr, port, clients, duration, warmup, requests_per_conn, think_time, paths,
        seed, timeout, limits, per_paths, source_addresses, host_header, start_at,
        scheduler=scheduler, poller=poller)
    user, system = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
    result = LoadResult(
        clients=clients, duration_s=window, completed=sum(run.per_client), bytes=run.bytes,
        response_ms=percentiles_ms(run.latencies), errors=dict(run.errors),
        connection_failures=run.connection_failures, connections=run.connections,
        per_client=list(run.per_client), fairness=jain_fairness(run.per_client),
        client_cpu_s=user + system, client_cpu_user_s=user, client_cpu_system_s=system,
        latencies=run.latencies, wake_lag_s=run.wake_lag,
        think_ms_mean=run.think_s * 1e3 / run.thinks if run.thinks else math.nan,
        params=dict(host=host, port=port, requests_per_conn=requests_per_conn,
                    think_time=think_time, warmup=warmup, duration=duration, seed=seed,
                    timeout=timeout, source_addresses=source_addresses, fd_limit=limit))
    if result.client_saturated:
        result.warnings.append(SATURATED_WARNING)
    return result
