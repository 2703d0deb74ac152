"""Soak one server: many requests from good and faulty clients, and whether it grows (issue 13).

``python -m whyevents.servers.soak SERVER [--requests 1000000] [--clients 8] [--json FILE]``
(or ``ci/soak.py``) starts SERVER in a process of its own (``ServerProcess``: its descriptors,
threads and memory are its own), on loopback, and drives it from ``clients`` kernel threads.
Each thread takes jobs in turn: most are good clients (a keep-alive connection asking for the
8 KiB file 1-50 times, in pipelined bursts of up to 10, every body checked byte for byte; some
say ``Connection: close``), and every ``fault_every``-th is one of the faulty clients in
``FAULTS`` (garbage, a 100 KB request line, 10,000 headers, a reset mid-request, a reset
mid-reply, a polite FIN mid-request, a half-close after a request, a connect-and-leave).

What it reports (and ``ok`` is true when all hold):

* good requests answered correctly, and ``unexpected`` (anything a client saw that its job did
  not ask for: a wrong status or body, a reset, a time-out) is zero;
* the server's error counters are exactly the injected ones (``errors`` == ``errors_expected``):
  no error counted that was not injected;
* open descriptors and threads of the server process, sampled with no connection open, are the
  same at the end as after the warm-up (``warmup`` of the requests); RSS is reported at both
  points and as growth per 100,000 requests after warm-up (memory is not asserted: the
  allocator returns it as it pleases).

Slowloris, slow readers and idle connections are not in the mix (they wait for time-outs, not
for requests): ``tests/test_hostile_clients.py`` covers them. A short soak runs in
``tests/test_soak.py``; the full one (1,000,000 requests per server) is a command, not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import socket
import struct
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field

from whyevents.servers import SERVERS
from whyevents.servers.process import ServerProcess

__all__ = ["soak", "SoakResult", "FAULTS", "main"]

BODY = bytes(range(256)) * 32                 # the 8 KiB file
BIG = 1 << 20                                 # the file a reset-mid-reply client asks for
GUARD = 30.0                                  # seconds any one socket operation may take
#: fault kind -> the error status the server should count for it (None: none).
FAULTS: dict[str, str | None] = {
    "garbage-400": "400", "long-url-414": "414", "many-headers-431": "431",
    "reset-mid-request": None, "reset-mid-reply": None, "fin-mid-request": None,
    "half-close": None, "connect-and-leave": None,
}
_GET = b"GET /file8k HTTP/1.1\r\nHost: soak\r\n\r\n"
_CLOSE = b"GET /file8k HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n"
_LONG_URL = b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: soak\r\n\r\n"
_MANY_HEADERS = (b"GET /file8k HTTP/1.1\r\nHost: soak\r\n"
                 + b"".join(b"X-H-%d: %d\r\n" % (i, i) for i in range(10_000)) + b"\r\n")


@dataclass
class SoakResult:
    server: str
    requests: int = 0                  # good requests answered correctly
    faults: dict = field(default_factory=dict)
    unexpected: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    errors_expected: dict = field(default_factory=dict)
    warm: dict = field(default_factory=dict)      # fds, threads, rss at the end of warm-up
    end: dict = field(default_factory=dict)       # ... and at the end
    rss_growth_per_100k: float = 0.0
    seconds: float = 0.0
    server_counters: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return (not self.unexpected and self.errors == self.errors_expected
                and self.warm.get("fds") == self.end.get("fds")
                and self.warm.get("threads") == self.end.get("threads"))


def _root() -> str:
    root = tempfile.mkdtemp(prefix="whyevents-soak-")
    with open(os.path.join(root, "file8k"), "wb") as f:
        f.write(BODY)
    with open(os.path.join(root, "big.bin"), "wb") as f:
        f.write(os.urandom(BIG))
    return root


@contextlib.contextmanager
def _removed(path: str):
    try:
        yield
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _connect(addr) -> socket.socket:
    s = socket.create_connection(addr, timeout=GUARD)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def _reset(s: socket.socket) -> None:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def _answer(f) -> tuple[int, bytes]:
    """(status, body) of the next response on the buffered reader ``f``."""
    status = int(f.readline().split(b" ", 2)[1])
    length = 0
    while (line := f.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    return status, f.read(length)


def _drain(s: socket.socket) -> bytes:
    out = []
    while chunk := s.recv(65536):
        out.append(chunk)
    return b"".join(out)


class _Clients:
    """The client threads' shared state: the job counter and the tallies."""

    def __init__(self, addr, target: int, fault_every: int) -> None:
        self.addr = addr
        self.target = target
        self.fault_every = fault_every
        self.lock = threading.Lock()
        self.jobs = 0
        self.requests = 0
        self.faults = Counter()
        self.unexpected = Counter()

    def next_job(self) -> int | None:
        with self.lock:
            if self.requests >= self.target:
                return None
            self.jobs += 1
            return self.jobs

    def run(self) -> None:
        kinds = list(FAULTS)
        while (job := self.next_job()) is not None:
            try:
                if job % self.fault_every == 0:
                    kind = kinds[(job // self.fault_every) % len(kinds)]
                    self.fault(kind)
                    with self.lock:
                        self.faults[kind] += 1
                else:
                    done = self.good(job)
                    with self.lock:
                        self.requests += done
            except (OSError, ValueError, IndexError) as e:
                with self.lock:
                    self.unexpected[f"{type(e).__name__}"] += 1

    def good(self, job: int) -> int:
        """A keep-alive connection asking 1-50 times (bursts of up to 10); maybe closing."""
        n = 1 + job * 7919 % 50
        close = job % 11 == 0
        with _connect(self.addr) as s, s.makefile("rb") as f:
            asked = 0
            while asked < n:
                burst = min(10, n - asked)
                last = asked + burst == n
                s.sendall(_GET * (burst - 1) + (_CLOSE if close and last else _GET))
                for _ in range(burst):
                    status, body = _answer(f)
                    if status != 200 or body != BODY:
                        with self.lock:
                            self.unexpected[f"good-{status}"] += 1
                        return asked
                    asked += 1
            if close and f.read(1) != b"":
                with self.lock:
                    self.unexpected["no-close"] += 1
        return n

    def fault(self, kind: str) -> None:
        s = _connect(self.addr)
        try:
            if kind in ("garbage-400", "long-url-414", "many-headers-431"):
                raw = {"garbage-400": b"\x16\x03\x01 not HTTP\r\n\r\n",
                       "long-url-414": _LONG_URL, "many-headers-431": _MANY_HEADERS}[kind]
                s.sendall(raw)
                status, _ = _answer(io.BytesIO(_drain(s)))      # whole, then EOF, no reset
                if str(status) != FAULTS[kind]:
                    with self.lock:
                        self.unexpected[f"{kind}-got-{status}"] += 1
            elif kind == "reset-mid-request":
                s.sendall(b"GET /file8k HTTP/1.1\r\nHo")
                _reset(s)
            elif kind == "reset-mid-reply":
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: soak\r\n\r\n")
                s.recv(4096)
                _reset(s)
            elif kind == "fin-mid-request":
                s.sendall(b"GET /file8k HTTP/1.1\r\nHo")
            elif kind == "half-close":
                s.sendall(_GET)
                s.shutdown(socket.SHUT_WR)
                status, body = _answer(io.BytesIO(_drain(s)))
                if status != 200 or body != BODY:
                    with self.lock:
                        self.unexpected["half-close-answer"] += 1
        finally:
            s.close()


def _process_sample(proc: ServerProcess) -> dict:
    """Descriptors, threads and RSS of the server process (psutil, else /proc)."""
    pid = proc.pid
    try:
        import psutil

        p = psutil.Process(pid)
        return {"fds": p.num_fds(), "threads": p.num_threads(), "rss": p.memory_info().rss}
    except ImportError:
        with open(f"/proc/{pid}/statm") as f:
            rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        return {"fds": len(os.listdir(f"/proc/{pid}/fd")),
                "threads": len(os.listdir(f"/proc/{pid}/task")), "rss": rss}


def _quiet(proc: ServerProcess, timeout: float = 60.0) -> dict:
    """Wait until the server holds no connection (lingering ones included); then sample."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stats = proc.stats()
        if stats is not None and stats["connections_open"] == 0:
            break
        time.sleep(0.05)
    return _process_sample(proc)


def _drive(addr, requests: int, clients: int, fault_every: int) -> _Clients:
    state = _Clients(addr, requests, fault_every)
    workers = [threading.Thread(target=state.run, daemon=True) for _ in range(clients)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return state


def soak(server: str, requests: int = 1_000_000, clients: int = 8, fault_every: int = 20,
         warmup: float = 0.1, kwargs: dict | None = None, progress=None) -> SoakResult:
    """Soak ``server`` (a registered name) with ``requests`` good requests; see the module."""
    if server not in SERVERS:
        raise ValueError(f"server={server!r}: must be one of {', '.join(SERVERS)}")
    root = _root()
    result = SoakResult(server)
    spec = {"server": server, "root": root, "kwargs": kwargs or {}}
    t0 = time.monotonic()
    with ServerProcess(spec) as proc, _removed(root):
        ready = proc.start()
        addr = (ready["host"], ready["port"])
        warm_n = max(1, int(requests * warmup))
        warm = _drive(addr, warm_n, clients, fault_every)
        result.warm = _quiet(proc)
        if progress:
            progress(f"{server}: warm-up {warm.requests:,} requests, {result.warm}")
        main = _drive(addr, requests - warm.requests, clients, fault_every)
        result.end = _quiet(proc)
        stats = proc.stats() or {}
    result.seconds = round(time.monotonic() - t0, 1)
    result.requests = warm.requests + main.requests
    faults = warm.faults + main.faults
    result.faults = dict(sorted(faults.items()))
    result.unexpected = dict(warm.unexpected + main.unexpected)
    result.errors = stats.get("errors", {})
    expected = Counter()
    for kind, n in faults.items():
        if FAULTS[kind] is not None:
            expected[FAULTS[kind]] += n
    result.errors_expected = dict(sorted(expected.items()))
    grown = result.end["rss"] - result.warm["rss"]
    result.rss_growth_per_100k = round(grown / max(1, main.requests) * 100_000)
    result.server_counters = {k: stats.get(k) for k in (
        "requests", "connections_total", "lingering_closes", "lingering_bytes", "lingering_cut",
        "client_aborts", "clients_vanished", "send_timeouts", "timeouts_408", "idle_closes",
        "idle_closed", "internal_errors", "accept_backoffs") if k in stats}
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m whyevents.servers.soak",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("server", nargs="+", choices=list(SERVERS), metavar="SERVER")
    ap.add_argument("--requests", type=int, default=1_000_000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--fault-every", type=int, default=20, metavar="N",
                    help="every N-th client job is a faulty client (default %(default)s)")
    ap.add_argument("--warmup", type=float, default=0.1, help="fraction (default %(default)s)")
    ap.add_argument("--json", metavar="FILE", help="write the results here too")
    args = ap.parse_args(argv)
    results = []
    for name in args.server:
        r = soak(name, args.requests, args.clients, args.fault_every, args.warmup,
                 progress=lambda msg: print(msg, file=sys.stderr, flush=True))
        results.append(r)
        mb = 1 << 20
        print(f"{name}: {r.requests:,} requests in {r.seconds} s, faults {sum(r.faults.values()):,}"
              f" {r.faults}; unexpected {r.unexpected or 0}; errors {r.errors} "
              f"(injected {r.errors_expected}); fds {r.warm['fds']} -> {r.end['fds']}, threads "
              f"{r.warm['threads']} -> {r.end['threads']}, RSS {r.warm['rss'] / mb:.1f} -> "
              f"{r.end['rss'] / mb:.1f} MiB ({r.rss_growth_per_100k / 1024:+.0f} KiB per 100k "
              f"requests); {'OK' if r.ok else 'FAIL'}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump([{**asdict(r), "ok": r.ok} for r in results], f, indent=2)
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
