"""The event server (Knot's dual): what only it has. The state table, partial writes, the disk
pool, and the blocking graph against Knot. The HTTP behaviour every server shares (answers,
keep-alive, pipelining, bad requests, time-outs, stop, argument checks, load tools, 2,000
connections, EMFILE back-off, lingering close) is tested once for all of them, the event twin on
both pollers included, in ``test_servers_shared.py``."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

from support import wait_for
from support.http import fetch
from support.trees import Tree
from whyevents import eventloop
from whyevents.duality import blocking_graph
from whyevents.duality import table as duality
from whyevents.eventloop.state import (
    CLOSED,
    DISK,
    LINGERING,
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
from whyevents.server_common import ServerCounters

POLLERS = ["epoll", "poll"]
BODY = bytes(range(256)) * 32          # 8 KiB, every byte value
TIMEOUT = 10.0

pytestmark = [pytest.mark.runtime, pytest.mark.timeout(60)]


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


#: The twin's document root, with a secret beside it and a symlink out of it.
ROOT = Tree({"f8k.bin": BODY, "small.txt": b"hello\n", "docs/index.html": b"<h1>docs</h1>"},
            outside={"secret.txt": b"TOP-SECRET"}, links={"leak": "secret.txt"})


@pytest.fixture
def root(make_docroot) -> Path:
    """A fresh root for each test (some add a file to it)."""
    return Path(make_docroot(ROOT))


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
    # a connection waiting for the disk cannot time out, and only READING (and LINGERING,
    # which reads to discard) sees EOF
    assert not any(s == DISK and e == "timed_out" for s, e, _ in table)
    assert {s for s, e, _ in table if e == "peer_closed"} == {READING, LINGERING}
    assert {(s, a) for s, e, a in table if e == "linger"} == {
        (s, LINGERING) for s in (READING, WRITING, DISK)}
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
# start() arguments only the event twin has (the others: test_servers_shared.py)
# ---------------------------------------------------------------------------------------------

def test_threads_one_is_accepted(root: Path) -> None:
    with eventloop.start(root, threads=1) as handle:
        assert fetch(handle, "/small.txt").status == 200


# ---------------------------------------------------------------------------------------------
# Partial writes and the disk pool
# ---------------------------------------------------------------------------------------------

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
        assert fetch(handle, "/f8k.bin").body == BODY
        assert fetch(handle, "/two.txt").body == b"two\n"
        assert fetch(handle, "/nothing").status == 404        # 404 found by the pool
        stats = handle.stats()
        assert stats["disk_jobs"] == 3 and stats["disk_completed"] == 3
        assert 1 <= stats["disk_threads"] <= 4 and stats["nowait_hits"] == 0
        assert fetch(handle, "/f8k.bin").body == BODY         # now a page-cache hit
        assert handle.stats()["disk_jobs"] == 3
        assert threading.get_ident() == main_thread


def test_cache_misses_try_the_os_page_cache_first(root) -> None:
    with eventloop.start(root) as handle:
        assert fetch(handle, "/f8k.bin").body == BODY
        assert fetch(handle, "/small.txt").body == b"hello\n"
        stats = handle.stats()
        # Each miss is served by exactly one of the two paths.
        assert stats["nowait_hits"] + stats["disk_jobs"] == 2 == stats["cache_misses"]


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


def test_closed_connections_timers_do_not_pile_up(root: Path) -> None:
    """Each connection leaves a timer entry that pops only ``request_timeout`` later; the heap
    is compacted so that it stays O(open connections) (a soak grew by 35 MiB without it)."""
    from whyevents.eventloop import loop

    n = loop._COMPACT_AT * 3
    with eventloop.start(str(root), request_timeout=30.0) as handle:
        for _ in range(n):
            with socket.create_connection(handle.address[:2], timeout=TIMEOUT):
                pass                                  # connect and leave: one timer each
        wait_for(lambda: handle.stats()["connections_open"] == 0)
        assert fetch(handle, "/small.txt").status == 200     # (the loop runs again)
        stats = handle.stats()
        assert stats["connections_total"] == n + 1
        assert stats["timer_compactions"] >= 1
        # (+64: a snapshot may fall between an accept and the loop's check)
        assert stats["timers"] <= loop._COMPACT_AT + 2 * stats["connections_open"] + 64
