"""10,000 concurrent keep-alive connections to each whyevents server, two requests on each.

The paper's claim is about high concurrency, so each server must hold 10,000 open keep-alive
connections at once and answer on all of them. The server runs in its own process
(``whyevents.benchmarks.servers.BenchServer``), so the test process and the server each have
their own descriptor budget (the hard limit here is 20,000 per process). The client side is one
non-blocking ``selectors`` loop in the test process: connect everything (in batches, so the
listen backlog never overflows into SYN retransmits), send one GET on every connection, read
every response, then a second GET on every connection: a correct second answer on all 10,000
proves each one stayed open. The server's own counters must then say 10,000 connections,
20,000 requests, no errors. Nothing here asserts a time; the timeout only bounds a hang.
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
