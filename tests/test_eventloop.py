"""The event server (Knot's dual): state table, HTTP behaviour on both pollers, timeouts, partial
writes, the disk pool, EMFILE back-off, load tools, scale, and the blocking graph against Knot."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from whyevents import eventloop
from whyevents.eventloop import blocking_graph, duality
from whyevents.eventloop.state import (
    CLOSED,
    DISK,
    READING,
    TRANSITIONS,
    WRITING,
    Connection,
    ConnectionStateError,
    ConnEvent,
    PendingDisk,
    transition_table,
)
from whyevents.http import DEFAULT_LIMITS, Handler, PageCache
from whyevents.serving import ServerCounters

POLLERS = ["epoll", "poll"]
BODY = bytes(range(256)) * 32          # 8 KiB, every byte value
TIMEOUT = 10.0

pytestmark = pytest.mark.timeout(60)


# ---------------------------------------------------------------------------------------------
# Helpers: a raw HTTP/1.1 client that understands keep-alive, HEAD and pipelining
# ---------------------------------------------------------------------------------------------

class Client:
    """One TCP connection; ``response()`` reads exactly one response off the stream."""

    def __init__(self, address, timeout: float = TIMEOUT) -> None:
        self.sock = socket.create_connection(address[:2], timeout=timeout)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def get(self, target: str, method: str = "GET", headers: str = "") -> None:
        self.send(f"{method} {target} HTTP/1.1\r\nHost: t\r\n{headers}\r\n".encode())

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self.buf += data
        return bool(data)

    def response(self, head: bool = False) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                raise ConnectionError(f"closed before a full head: {self.buf[:200]!r}")
        raw, _, self.buf = self.buf.partition(b"\r\n\r\n")
        status_line, *lines = raw.decode("latin-1").split("\r\n")
        headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines)}
        length = 0 if head else int(headers.get("content-length", 0))
        while len(self.buf) < length:
            if not self._fill():
                raise ConnectionError("closed mid-body")
        body, self.buf = self.buf[:length], self.buf[length:]
        return int(status_line.split()[1]), headers, body

    def at_eof(self) -> bool:
        """True if the server closed the connection (after any buffered bytes)."""
        try:
            return not self.buf and self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.sock.close()


def fetch(address, target: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    c = Client(address)
    try:
        c.get(target, method, "Connection: close\r\n")
        return c.response(head=method == "HEAD")
    finally:
        c.close()


def wait_for(predicate, timeout: float = TIMEOUT, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def make_root(tmp_path: Path) -> Path:
    root = tmp_path / "www"
    root.mkdir()
    (root / "f8k.bin").write_bytes(BODY)
    (root / "small.txt").write_text("hello\n")
    (root / "docs").mkdir()
    (root / "docs" / "index.html").write_text("<h1>docs</h1>")
    (tmp_path / "secret.txt").write_text("TOP-SECRET")
    (root / "leak").symlink_to(tmp_path / "secret.txt")
    return root


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_root(tmp_path)


@pytest.fixture(params=POLLERS)
def server(request, root: Path):
    handle = eventloop.start(root, poller=request.param)
    yield handle
    if handle._stopper is not None:
        handle.stop()


# ---------------------------------------------------------------------------------------------
# The state machine, without sockets
# ---------------------------------------------------------------------------------------------

def _ctx(root: Path):
    class Ctx:
        handler = Handler(root, PageCache(1 << 20))
        counters = ServerCounters()
        limits = DEFAULT_LIMITS
    return Ctx()


def test_transition_table_is_what_the_docstring_says() -> None:
    table = set(transition_table())
    assert (READING, "peer_closed", CLOSED) in table
    assert (WRITING, "sent_all", READING) in table
    assert (DISK, "send_blocked", WRITING) in table
    assert (READING, "miss", DISK) in table
    # a connection waiting for the disk cannot time out, and only READING sees EOF
    assert not any(s == DISK and e == "timed_out" for s, e, _ in table)
    assert {s for s, e, _ in table if e == "peer_closed"} == {READING}
    # CLOSED is final: no transition leaves it
    assert not any(s == CLOSED for s, _, _ in table)
    assert set(TRANSITIONS) == {v for k, v in vars(ConnEvent).items() if not k.startswith("_")}


def test_every_legal_transition_lands_where_the_table_says(root: Path) -> None:
    for before, event, after in transition_table():
        conn = Connection(_ctx(root))
        conn.state = before
        assert conn.fire(event) == after and conn.state == after


def test_illegal_transitions_raise_a_clear_error(root: Path) -> None:
    conn = Connection(_ctx(root))
    conn.fire(ConnEvent.FINISHED)
    with pytest.raises(ConnectionStateError, match=r"'sent_all' in state CLOSED.*allowed only"):
        conn.fire(ConnEvent.SENT_ALL)
    assert conn.state == CLOSED
    disk = Connection(_ctx(root))
    disk.state = DISK
    with pytest.raises(ConnectionStateError, match="timed_out") as info:
        disk.fire(ConnEvent.TIMED_OUT)
    assert info.value.state == DISK and info.value.event == "timed_out"
    with pytest.raises(ConnectionStateError, match="unknown connection event 'bogus'"):
        Connection(_ctx(root)).fire("bogus")
    with pytest.raises(ConnectionStateError, match="only a READING connection parses"):
        disk.receive(b"GET / HTTP/1.1\r\n\r\n")


def test_machine_queues_pipelined_answers_in_order_around_a_miss(root: Path) -> None:
    ctx = _ctx(root)
    ctx.handler.serve(_request(b"/small.txt"))           # warm: a hit
    conn = Connection(ctx)
    misses = conn.receive(b"GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n"
                          b"GET /f8k.bin HTTP/1.1\r\nHost: t\r\n\r\n"
                          b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n")
    assert [p.miss.key for p in misses] == ["/f8k.bin", "/nope"]
    assert [type(x) for x in conn.out] == [bytes, PendingDisk, PendingDisk]
    first = conn.ready()
    assert len(first) == 1 and first[0].startswith(b"HTTP/1.1 200")
    conn.consumed(10)                                      # a partial send
    assert bytes(conn.ready()[0]) == first[0][10:]
    conn.consumed(len(first[0]) - 10)
    assert conn.blocked_on_disk() and conn.ready() == []
    conn.loaded(misses[1], ctx.handler.load(misses[1].miss))   # the later one finishes first
    assert conn.blocked_on_disk()                               # order is kept
    conn.loaded(misses[0], ctx.handler.load(misses[0].miss))
    sent = conn.ready()
    assert [s[9:12] for s in sent] == [b"200", b"404"] and sent[0].endswith(BODY)
    conn.consumed(sum(map(len, sent)))
    assert not conn.out and conn.offset == 0
    assert ctx.counters.requests == 3 and ctx.counters.errors[404] == 1


def test_machine_parse_error_queues_400_and_closes(root: Path) -> None:
    ctx = _ctx(root)
    ctx.handler.serve(_request(b"/small.txt"))           # warm: a hit
    conn = Connection(ctx)
    assert conn.receive(b"GET /small.txt HTTP/1.1\r\n\r\nGARBAGE\r\n\r\n") is None
    assert conn.closing and [r[9:12] for r in conn.out] == [b"200", b"400"]
    assert b"Connection: close" in conn.out[1]
    assert conn.receive(b"GET /small.txt HTTP/1.1\r\n\r\n") is None   # ignored after that
    assert len(conn.out) == 2


def _request(target: bytes):
    from whyevents.http import Request

    return Request("GET", target, "1.1", [], True, False)


# ---------------------------------------------------------------------------------------------
# start() arguments
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, name", [
    ({"threads": 4}, "threads"), ({"threads": 0}, "threads"), ({"threads": True}, "threads"),
    ({"poller": "select"}, "poller"), ({"scheduler": "fifo"}, "scheduler"),
    ({"backend": "green"}, "backend"), ({"cache_bytes": 0}, "cache_bytes"),
    ({"backlog": -1}, "backlog"), ({"request_timeout": 0}, "request_timeout"),
    ({"request_timeout": "30"}, "request_timeout"), ({"port": 70000}, "port"),
    ({"host": ""}, "host"), ({"disk_threads": 0}, "disk_threads"), ({"nowait": 1}, "nowait"),
])
def test_start_rejects_bad_arguments_by_name(root: Path, kwargs, name) -> None:
    with pytest.raises(ValueError, match=rf"^{name}="):
        eventloop.start(root, **kwargs)


def test_start_rejects_a_missing_root(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="^root="):
        eventloop.start(tmp_path / "nope")


def test_threads_one_is_accepted(root: Path) -> None:
    with eventloop.start(root, threads=1) as handle:
        assert fetch(handle.address, "/small.txt")[0] == 200


# ---------------------------------------------------------------------------------------------
# HTTP behaviour, both pollers
# ---------------------------------------------------------------------------------------------

def test_get_body_and_headers(server) -> None:
    status, headers, body = fetch(server.address, "/f8k.bin")
    assert status == 200 and body == BODY
    assert headers["content-length"] == "8192"
    assert headers["content-type"] == "application/octet-stream"
    assert headers["server"] == "whyevents" and headers["date"].endswith("GMT")
    assert headers["connection"] == "close" and "etag" in headers
    status, headers, body = fetch(server.address, "/docs/")
    assert status == 200 and body == b"<h1>docs</h1>"
    assert headers["content-type"].startswith("text/html")


def test_head_sends_headers_only(server) -> None:
    c = Client(server.address)
    c.get("/f8k.bin", "HEAD")
    status, headers, body = c.response(head=True)
    assert status == 200 and headers["content-length"] == "8192" and body == b""
    c.get("/small.txt")                  # the stream is still in sync: no body followed HEAD
    status, headers, body = c.response()
    assert (status, body) == (200, b"hello\n") and headers["content-length"] == "6"
    c.close()


def test_404(server) -> None:
    status, headers, body = fetch(server.address, "/no/such/file")
    assert status == 404 and body.startswith(b"404 Not Found")
    wait_for(lambda: server.stats()["errors"].get("404") == 1, what="404 counted")


def test_keep_alive_serves_many_requests_on_one_connection(server) -> None:
    c = Client(server.address)
    for _ in range(5):
        c.get("/f8k.bin")
        status, headers, body = c.response()
        assert status == 200 and body == BODY and headers["connection"] == "keep-alive"
    c.close()
    stats = server.stats()
    assert stats["connections_total"] == 1 and stats["requests"] == 5


def test_pipelined_requests_in_one_send_are_answered_in_order(server) -> None:
    c = Client(server.address)
    c.send(b"GET /f8k.bin HTTP/1.1\r\nHost: t\r\n\r\n"
           b"GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n"
           b"GET /missing HTTP/1.1\r\nHost: t\r\n\r\n"
           b"HEAD /small.txt HTTP/1.1\r\nHost: t\r\n\r\n"
           b"GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n")
    answers = [c.response(), c.response(), c.response(), c.response(head=True), c.response()]
    assert [a[0] for a in answers] == [200, 200, 404, 200, 200]
    assert answers[0][2] == BODY and answers[1][2] == b"hello\n" and answers[4][2] == b"hello\n"
    assert answers[3][1]["content-length"] == "6"
    c.close()


def test_a_long_pipelined_burst_is_read_and_answered_whole(server) -> None:
    # 300 requests (~11 KB) span several recv() calls, and more responses than one sendmsg.
    c = Client(server.address)
    c.send(b"GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n" * 299
           + b"GET /f8k.bin HTTP/1.1\r\nHost: t\r\n\r\n")
    bodies = [c.response()[2] for _ in range(300)]
    assert bodies == [b"hello\n"] * 299 + [BODY]
    c.get("/small.txt")
    assert c.response()[2] == b"hello\n"
    c.close()


def test_garbage_gets_400_and_the_server_keeps_serving(server) -> None:
    c = Client(server.address)
    c.send(b"\x16\x03\x01 this is not HTTP\r\n\r\n")
    status, headers, _ = c.response()
    assert status == 400 and headers["connection"] == "close"
    assert c.at_eof()
    c.close()
    assert fetch(server.address, "/f8k.bin")[2] == BODY
    assert server.stats()["errors"].get("400") == 1


def test_connection_close_is_honoured(server) -> None:
    c = Client(server.address)
    c.get("/small.txt", headers="Connection: close\r\n")
    status, headers, body = c.response()
    assert (status, headers["connection"], body) == (200, "close", b"hello\n")
    assert c.at_eof()
    c.close()
    c = Client(server.address)                       # HTTP/1.0 without keep-alive: same
    c.send(b"GET /small.txt HTTP/1.0\r\n\r\n")
    assert c.response()[2] == b"hello\n" and c.at_eof()
    c.close()


@pytest.mark.parametrize("target", [
    "/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt", "/docs/../../secret.txt",
    "/leak", "/%2e%2e%2f%2e%2e%2fetc/passwd", "/..\\secret.txt", "/./../../../etc/passwd",
])
def test_path_traversal_never_leaks(server, target) -> None:
    status, _, body = fetch(server.address, target)
    assert status in (400, 404)
    assert b"TOP-SECRET" not in body and b"root:" not in body


def test_a_vanishing_client_does_not_disturb_others(server, root: Path) -> None:
    (root / "big.bin").write_bytes(os.urandom(4 << 20))
    steady = Client(server.address)
    steady.get("/f8k.bin")
    assert steady.response()[2] == BODY
    linger_rst = struct.pack("ii", 1, 0)
    # 1: resets mid-request; 2: resets mid-response (a 4 MiB body it never reads)
    for data in (b"GET /f8k.bin HTTP/1.1\r\nHo", b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n"):
        c = Client(server.address)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.send(data)
        time.sleep(0.05)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger_rst)
        c.close()
    wait_for(lambda: server.stats()["connections_open"] == 1, what="both vanished")
    for _ in range(3):
        steady.get("/f8k.bin")
        assert steady.response()[2] == BODY
    steady.close()
    stats = server.stats()
    assert stats["client_aborts"] >= 1 and stats["internal_errors"] == 0


@pytest.mark.parametrize("poller", POLLERS)
def test_partial_request_times_out_with_408_and_idle_connections_close(root, poller) -> None:
    with eventloop.start(root, poller=poller, request_timeout=0.3) as handle:
        partial = Client(handle.address)
        partial.send(b"GET /small.txt HTTP/1.1\r\nHost: t\r\n")   # no blank line: incomplete
        idle = Client(handle.address)
        idle.get("/small.txt")
        assert idle.response()[2] == b"hello\n"                  # then stays silent
        status, headers, _ = partial.response()
        assert status == 408 and headers["connection"] == "close"
        assert partial.at_eof()
        assert idle.at_eof()                                       # closed without a word
        stats = handle.stats()
        assert stats["timeouts_408"] == 1 and stats["idle_closes"] == 1
        assert stats["errors"] == {"408": 1}
        partial.close()
        idle.close()


@pytest.mark.parametrize("poller", POLLERS)
def test_large_file_to_a_slow_reader_arrives_intact(root, poller) -> None:
    # Loopback gives a new socket a ~4 MB send buffer, which swallows one 1 MiB response whole;
    # five pipelined copies (5 MiB) behind a reader that waits, then reads slowly, do not fit.
    big = os.urandom(1 << 20)
    (root / "big.bin").write_bytes(big)
    with eventloop.start(root, poller=poller) as handle:
        c = Client(handle.address)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        c.send(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n" * 5
               + b"GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.2)                                             # let the server fill up
        wait_for(lambda: handle.stats()["partial_writes"] > 0, what="a partial write")
        for _ in range(5):
            status, headers, body = c.response()
            assert status == 200 and headers["content-length"] == "1048576"
            assert body == big
            time.sleep(0.02)                                        # a slow reader
        assert c.response()[2] == b"hello\n"                     # still in order, still alive
        c.close()
        assert handle.stats()["internal_errors"] == 0


def test_cache_misses_go_through_the_disk_pool(root) -> None:
    (root / "two.txt").write_text("two\n")
    with eventloop.start(root, nowait=False) as handle:
        main_thread = threading.get_ident()
        assert fetch(handle.address, "/f8k.bin")[2] == BODY
        assert fetch(handle.address, "/two.txt")[2] == b"two\n"
        assert fetch(handle.address, "/nothing")[0] == 404        # 404 found by the pool
        stats = handle.stats()
        assert stats["disk_jobs"] == 3 and stats["disk_completed"] == 3
        assert 1 <= stats["disk_threads"] <= 4 and stats["nowait_hits"] == 0
        assert fetch(handle.address, "/f8k.bin")[2] == BODY         # now a page-cache hit
        assert handle.stats()["disk_jobs"] == 3
        assert threading.get_ident() == main_thread


def test_cache_misses_try_the_os_page_cache_first(root) -> None:
    with eventloop.start(root) as handle:
        assert fetch(handle.address, "/f8k.bin")[2] == BODY
        assert fetch(handle.address, "/small.txt")[2] == b"hello\n"
        stats = handle.stats()
        # Each miss is served by exactly one of the two paths.
        assert stats["nowait_hits"] + stats["disk_jobs"] == 2 == stats["cache_misses"]


def test_stop_returns_stats_and_closes_everything(root) -> None:
    handle = eventloop.start(root)
    lingering = Client(handle.address)
    lingering.get("/small.txt")
    assert lingering.response()[2] == b"hello\n"
    address = handle.address
    stats = handle.stop()
    assert stats["requests"] == 1 and stats["connections_total"] == 1
    assert stats["connections_open"] == 0 and stats["server"] == "eventloop"
    assert stats["cpu_user_s"] >= 0 and stats["poller"] == "epoll"
    assert lingering.at_eof()
    lingering.close()
    with pytest.raises(OSError):
        socket.create_connection(address[:2], timeout=2).close()
    json.dumps(stats)                                                  # JSON-ready


# ---------------------------------------------------------------------------------------------
# Scale and load tools
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("poller", POLLERS)
def test_2000_concurrent_keep_alive_connections_all_answered(root, poller) -> None:
    n = 2000
    with eventloop.start(root, poller=poller) as handle:
        clients = [Client(handle.address) for _ in range(n)]
        for round_ in range(2):
            for c in clients:
                c.get("/f8k.bin")
            for c in clients:
                status, headers, body = c.response()
                assert status == 200 and body == BODY
            if round_ == 0:
                wait_for(lambda: handle.stats()["connections_open"] == n, what="all open")
        stats = handle.stats()
        assert stats["connections_total"] == n and stats["requests"] == 2 * n
        for c in clients:
            c.close()
        wait_for(lambda: handle.stats()["connections_open"] == 0, what="all closed")


@pytest.mark.skipif(shutil.which("ab") is None, reason="ab (apache2-utils) not installed")
@pytest.mark.parametrize("poller", POLLERS)
def test_ab_keep_alive_2000_requests_no_failures(root, poller) -> None:
    with eventloop.start(root, poller=poller) as handle:
        host, port = handle.address[:2]
        out = subprocess.run(["ab", "-k", "-n", "2000", "-c", "20", "-q",
                              f"http://{host}:{port}/f8k.bin"],
                             capture_output=True, text=True, timeout=50)
        assert out.returncode == 0, out.stderr
        assert re.search(r"Complete requests:\s+2000\b", out.stdout), out.stdout
        assert re.search(r"Failed requests:\s+0\b", out.stdout), out.stdout
        assert "Non-2xx" not in out.stdout
        assert re.search(r"Keep-Alive requests:\s+2000\b", out.stdout), out.stdout
        assert handle.stats()["requests"] == 2000


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk not installed")
@pytest.mark.parametrize("poller", POLLERS)
def test_wrk_50_connections_no_socket_errors(root, poller) -> None:
    with eventloop.start(root, poller=poller) as handle:
        host, port = handle.address[:2]
        out = subprocess.run(["wrk", "-t1", "-c50", "-d2s", f"http://{host}:{port}/f8k.bin"],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        assert "Socket errors" not in out.stdout, out.stdout
        assert "Non-2xx" not in out.stdout, out.stdout
        done = int(re.search(r"(\d+) requests in", out.stdout).group(1))
        assert done > 0 and handle.stats()["errors"] == {}


def test_emfile_backs_off_and_keeps_serving(root) -> None:
    """In a child limited to 64 descriptors: accept hits EMFILE, backs off, and recovers."""
    script = textwrap.dedent(f"""
        import json, resource, sys
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        from whyevents import eventloop
        h = eventloop.start({str(root)!r})
        print(h.address[1], flush=True)
        sys.stdin.readline()
        print(json.dumps(h.stop()), flush=True)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        port = int(child.stdout.readline())
        address = ("127.0.0.1", port)
        # Warm the page cache first: a miss needs a descriptor too (open() would hit EMFILE).
        assert fetch(address, "/small.txt")[2] == b"hello\n"
        clients = [Client(address) for _ in range(80)]          # more than the child can hold
        first = clients[:40]
        for c in first:
            c.get("/small.txt")
            assert c.response()[2] == b"hello\n"
        for c in first:
            c.close()                                              # frees descriptors
        for c in clients[40:]:
            c.get("/small.txt")
            assert c.response()[2] == b"hello\n"                   # accepted after back-off
            c.close()
        child.stdin.write("\n")
        child.stdin.flush()
        stats = json.loads(child.stdout.readline())
    finally:
        child.kill()
        child.wait()
    assert stats["accept_backoffs"] >= 1 and stats["connections_total"] == 81
    assert stats["requests"] == 81


# ---------------------------------------------------------------------------------------------
# Blocking graphs: the event loop and Knot on green threads are duals
# ---------------------------------------------------------------------------------------------

def _sequence(address, connections: int = 2, requests: int = 3) -> None:
    for _ in range(connections):
        c = Client(address)
        for _ in range(requests):
            c.get("/f8k.bin")
            assert c.response()[2] == BODY
        c.close()


def _quiet(handle) -> None:
    wait_for(lambda: handle.stats()["connections_open"] == 0, what="connections closed")


def test_blocking_graph_of_the_event_loop(root) -> None:
    with eventloop.start(root) as handle:
        with blocking_graph.record_event_loop(handle) as rec:
            _sequence(handle.address)
            _quiet(handle)
        assert handle.server._trace is None
    graph = rec.graph()
    assert graph.as_dict() == {
        "start -> accept": 1, "accept -> accept": 1, "accept -> recv": 2,
        "recv -> load": 1, "load -> send": 1, "recv -> send": 5, "send -> recv": 6,
        "recv -> close": 2,
    }
    assert rec.transitions == {(READING, "sent_all", READING): 6,
                               (READING, "peer_closed", CLOSED): 2}
    assert rec.state_graph().as_dict() == {"READING -> CLOSED": 2, "READING -> READING": 6}
    from whyevents.eventloop.loop import _Conn

    assert "fire" not in _Conn.__dict__                    # the wrapper is gone again
    dot = graph.relabel().to_dot("eventloop")
    assert dot.startswith('digraph "eventloop" {') and '"read" -> "write" [label="5"];' in dot


def test_event_loop_and_knot_have_the_same_blocking_graph(root) -> None:
    knot = pytest.importorskip("whyevents.knot")
    socket_class = pytest.importorskip("whyevents.threads.socket").socket
    original_recv = socket_class.__dict__.get("recv")
    with eventloop.start(root) as handle:
        with blocking_graph.record_event_loop(handle) as rec:
            _sequence(handle.address)
            _quiet(handle)
    events = rec.graph().relabel()
    try:
        with blocking_graph.record_green() as rec:   # before Knot binds its sockets' methods
            handle = knot.start(root, policy="A")
            _sequence(handle.address)
            _quiet(handle)
    finally:
        handle.stop()                                 # after: closing the listener is not traffic
    threads = rec.graph().relabel()
    assert socket_class.__dict__.get("recv") is original_recv        # unpatched afterwards
    assert events.shape() == threads.shape() == {
        ("start", "accept"), ("accept", "accept"), ("accept", "read"), ("read", "disk"),
        ("disk", "write"), ("read", "write"), ("write", "read"), ("read", "close"),
    }
    # Same counts on every edge of a connection's path; Knot's acceptor also has the accept
    # it is still blocked in when recording stops.
    conn_edges = events.without("start").edges
    del conn_edges[("accept", "accept")]
    assert {e: threads.edges[e] for e in conn_edges} == conn_edges
    assert threads.edges[("accept", "accept")] == events.edges[("accept", "accept")] + 1


def test_green_park_recording_is_installed_only_while_recording(root) -> None:
    knot = pytest.importorskip("whyevents.knot")
    from whyevents.threads.hub import Hub

    before = Hub.__dict__["park"]
    try:
        with blocking_graph.record_green(points="parks") as rec:
            assert Hub.__dict__["park"] is not before
            handle = knot.start(root, policy="A")
            _sequence(handle.address, connections=1)
            _quiet(handle)
    finally:
        handle.stop()
    assert Hub.__dict__["park"] is before
    nodes = rec.graph().nodes
    assert any(n.startswith("accept@accept_connection:") for n in nodes), nodes
    with pytest.raises(ValueError, match="points="):
        with blocking_graph.record_green(points="bogus"):
            pass


# ---------------------------------------------------------------------------------------------
# The duality table
# ---------------------------------------------------------------------------------------------

def test_duality_table_names_real_code() -> None:
    assert [(d.events, d.threads) for d in duality.DUALITY] == [
        ("event handlers", "monitors"),
        ("events accepted by a handler", "functions exported by a module"),
        ("SendMessage / AwaitReply", "procedure call, or fork/join"),
        ("SendReply", "return from procedure"),
        ("waiting for messages", "waiting on condition variables"),
    ]
    assert duality.missing() == []
    md = duality.as_markdown()
    assert "| event handlers | monitors |" in md and "DiskPool.submit" in md
    with pytest.raises(LookupError):
        duality.lookup("whyevents.eventloop.loop:EventServer.no_such_method")
