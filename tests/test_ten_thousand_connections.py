"""10,000 concurrent keep-alive connections to each whyevents server, two requests on each; and
10,000 idle connections, each closed by the server's time-out while another client is served.

The paper's claim is about high concurrency, so each server must hold 10,000 open keep-alive
connections at once and answer on all of them. The server runs in its own process
(``whyevents.benchmarks.servers.BenchServer``), so the test process and the server each have
their own descriptor budget (the hard limit here is 20,000 per process). The client side is one
non-blocking ``selectors`` loop in the test process: connect everything (in batches, so the
listen backlog never overflows into SYN retransmits), send one GET on every connection, read
every response, then a second GET on every connection: a correct second answer on all 10,000
proves each one stayed open. The server's own counters must then say 10,000 connections,
20,000 requests, no errors. Nothing here asserts a time; the timeout only bounds a hang.

The idle case (issue 13, hostile clients): 10,000 clients connect and never send a byte. Each
holds a descriptor, and for Knot a thread, until the server's ``request_timeout`` closes it
(``idle_closes``, SEDA ``idle_closed``); meanwhile a normal client is served, and after the
time-out every idle socket reads EOF and the server holds no connection and counts no error.
"""

from __future__ import annotations

import errno
import re
import resource
import selectors
import socket
import time

import pytest

from whyevents.benchmarks.servers import BenchServer, get_request, make_docroot
from whyevents.servers.process import ServerProcess

pytestmark = pytest.mark.slow

N = 10_000
#: descriptors the test process needs beyond its N sockets (pytest, the selector, pipes)
MARGIN = 300
CONNECT_BATCH = 1000
PHASE_TIMEOUT = 60.0

_STATUS = re.compile(rb"HTTP/1\.1 200 [^\r]*\r\n")
_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.I)


def _raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _connect_all(address, sel) -> list[socket.socket]:
    socks: list[socket.socket] = []
    try:
        for start in range(0, N, CONNECT_BATCH):
            pending = {}
            for _ in range(min(CONNECT_BATCH, N - start)):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.setblocking(False)
                err = s.connect_ex(address)
                if err not in (0, errno.EINPROGRESS):
                    raise OSError(err, f"connect #{len(socks)}: {errno.errorcode.get(err)}")
                sel.register(s, selectors.EVENT_WRITE)
                pending[s] = None
            deadline = time.monotonic() + PHASE_TIMEOUT
            while pending:
                assert time.monotonic() < deadline, f"{len(pending)} connects still pending"
                for key, _ in sel.select(1.0):
                    s = key.fileobj
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    assert err == 0, f"connect failed: {errno.errorcode.get(err, err)}"
                    sel.unregister(s)
                    del pending[s]
        return socks
    except BaseException:
        for s in socks:
            s.close()
        raise


def _round(socks: list[socket.socket], sel, request: bytes, body: bytes) -> int:
    """Send ``request`` on every socket, read one response from each; returns how many were
    200 with exactly ``body``."""
    for s in socks:
        assert s.send(request) == len(request)      # a fresh, empty send buffer takes it all
    bufs = {}
    for s in socks:
        bufs[s] = bytearray()
        sel.register(s, selectors.EVENT_READ)
    good = 0
    deadline = time.monotonic() + PHASE_TIMEOUT
    while bufs:
        assert time.monotonic() < deadline, f"{len(bufs)} responses still missing"
        for key, _ in sel.select(1.0):
            s = key.fileobj
            data = s.recv(65536)
            assert data, "the server closed a keep-alive connection"
            buf = bufs[s]
            buf += data
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                continue
            m = _LENGTH.search(buf, 0, end + 2)
            assert m, f"no Content-Length in {bytes(buf[:end])!r}"
            total = end + 4 + int(m.group(1))
            if len(buf) < total:
                continue
            assert len(buf) == total, "bytes beyond the one response asked for"
            if _STATUS.match(buf) and buf[end + 4:] == body:
                good += 1
            sel.unregister(s)
            del bufs[s]
    return good


@pytest.mark.timeout(150)
@pytest.mark.parametrize("server", ["knot-c", "knot-a", "eventloop", "seda"])
def test_ten_thousand_keep_alive_connections(server, tmp_path):
    soft = _raise_nofile()
    if soft < N + MARGIN:
        pytest.skip(f"RLIMIT_NOFILE hard limit {soft} < {N + MARGIN}: the test process "
                    f"cannot hold {N:,} sockets")
    root, body = make_docroot(tmp_path / "www")
    request = get_request()
    # the server gets N connections' worth of descriptors and, for Knot-C, N + 64 threads
    with BenchServer(server, root, N, str(tmp_path)) as proc, \
            selectors.DefaultSelector() as sel:
        if proc.info.get("threads") is not None:
            assert proc.info["threads"] >= N
        socks = _connect_all(proc.address, sel)
        try:
            first = _round(socks, sel, request, body)
            second = _round(socks, sel, request, body)
            assert (first, second) == (N, N)
            deadline = time.monotonic() + 10
            while True:         # a server counts a request just after its send returns
                stats = proc.stats()
                if stats["requests"] >= 2 * N or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
        finally:
            for s in socks:
                s.close()
        assert stats["connections_total"] == N
        assert stats["requests"] == 2 * N
        assert stats["errors"] == {}
        assert stats.get("accept_backoffs", 0) == 0
        final = proc.stop()
        assert final is not None and final["requests"] == 2 * N


#: the server's counter of connections it closed for sending nothing within request_timeout
IDLE_COUNTER = {"knot-c": "idle_closes", "knot-a": "idle_closes", "eventloop": "idle_closes",
                "seda": "idle_closed"}
#: long enough for all N to be connected before the first times out, on a busy machine
IDLE_TIMEOUT = 20.0


def _wait(pred, timeout: float):
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def _get_once(address, request: bytes) -> bytes:
    with socket.create_connection(address, timeout=PHASE_TIMEOUT) as s:
        s.sendall(request)
        buf = b""
        while True:
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                m = _LENGTH.search(buf, 0, end + 2)
                if m and len(buf) >= end + 4 + int(m.group(1)):
                    return buf
            chunk = s.recv(65536)
            assert chunk, "the server closed before answering"
            buf += chunk


@pytest.mark.timeout(240)
@pytest.mark.parametrize("server", ["knot-c", "knot-a", "eventloop", "seda"])
def test_ten_thousand_idle_connections_time_out_while_others_are_served(server, tmp_path):
    soft = _raise_nofile()
    if soft < N + MARGIN:
        pytest.skip(f"RLIMIT_NOFILE hard limit {soft} < {N + MARGIN}: the test process "
                    f"cannot hold {N:,} sockets")
    root, body = make_docroot(tmp_path / "www")
    kwargs: dict = {"poller": "epoll", "request_timeout": IDLE_TIMEOUT}
    if server == "knot-c":
        kwargs["threads"] = N + 64          # one thread per idle connection, and some to serve
    counter = IDLE_COUNTER[server]
    with ServerProcess({"server": server, "root": root, "kwargs": kwargs}) as proc, \
            selectors.DefaultSelector() as sel:
        proc.start()
        address = ("127.0.0.1", proc.address[1])
        socks = _connect_all(address, sel)
        try:
            held = _wait(lambda: proc.stats()["connections_open"] >= N, PHASE_TIMEOUT)
            assert held, f"the server holds {proc.stats()['connections_open']} of {N} connections"
            answer = _get_once(address, get_request())          # served while they idle
            assert _STATUS.match(answer) and answer.endswith(body)
            assert proc.stats()[counter] < N                     # before their time-out
            closed = _wait(lambda: proc.stats()[counter] >= N,
                           IDLE_TIMEOUT + PHASE_TIMEOUT)
            stats = proc.stats()
            assert closed, f"{stats[counter]} of {N} idle connections closed"
            for s in socks:                                      # every idle one sees EOF
                sel.register(s, selectors.EVENT_READ)
            eof, deadline = 0, time.monotonic() + PHASE_TIMEOUT
            while eof < N and time.monotonic() < deadline:
                for key, _ in sel.select(1.0):
                    try:
                        data = key.fileobj.recv(1)
                    except ConnectionResetError:
                        data = b""
                    assert data == b"", "an idle connection got bytes it did not ask for"
                    sel.unregister(key.fileobj)
                    eof += 1
            assert eof == N
            assert _wait(lambda: proc.stats()["connections_open"] == 0, PHASE_TIMEOUT)
            stats = proc.stats()
            assert stats[counter] == N
            assert stats["errors"] == {} and stats.get("timeouts_408", 0) == 0
            assert stats["requests"] == 1
        finally:
            for s in socks:
                s.close()
