"""What every registered web server must do alike: one copy of each behaviour, run on every server.

The servers come from the one registry (``whyevents.servers.SERVERS``), each in every
configuration it runs in (``support.servers.CONFIGS``: Knot-C and Knot-A on green threads over
each poller and on kernel threads; the SEDA server and the event twin over each of their
pollers). A new server in the registry is tested here without a line added, except its entry in
``support.servers.COUNTER_NAMES`` and ``BAD_ARGUMENTS`` (a ``KeyError`` says so). Every server
serves the shared document root (``support.trees.SHARED``, the ``docroot`` fixture).

Most tests share one running server per configuration (module scope, so the suite stays fast)
and wait, before each test, until it holds no connection; they assert on counter *differences*.
Tests that need their own settings (time-outs, a stop, 2,000 connections, a descriptor limit)
start a fresh one. What one server does differently on purpose (SEDA's 503 admission control
and stages, Knot's request memo, the event twin's state table) is tested in its own file.

Every byte goes to 127.0.0.1, with raw sockets (``support.http``) or with curl/ab/wrk when
installed. Nothing here asserts on speed.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter

import pytest

from support import wait_for
from support.http import (
    GUARD,
    at_eof,
    connect,
    fetch,
    fetch_all_at_once,
    read_response,
    read_to_eof,
    req,
    reset,
)
from support.servers import CONFIGS, IDS, POOLS, SCALE_CONFIGS, Config, aborts, idle_closes
from support.trees import BODY, DOCS, INDEX, SECRET, SMALL
from whyevents import server_common, servers
from whyevents.server_common import raise_fd_limit

pytestmark = pytest.mark.timeout(60)

REPORTED_NAME = {"seda": "haboob"}     # the name a server reports in ``stats()["server"]``


def cache_counts(stats: dict) -> tuple[int, int]:
    """(hits, misses) of the page cache, flat or nested (SEDA reports a ``cache`` dict)."""
    cache = stats.get("cache")
    if cache is not None:
        return cache["hits"], cache["misses"]
    return stats["cache_hits"], stats["cache_misses"]


def new_errors(before: dict, after: dict) -> dict:
    """The error replies counted between two snapshots, by status."""
    return dict(Counter(after["errors"]) - Counter(before["errors"]))


# ---------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module", params=CONFIGS, ids=IDS)
def running(request, docroot):
    """One server per configuration, shared by the tests of this module."""
    config = request.param
    handle = config.start(docroot)
    handle.config = config
    yield handle
    handle.stop()


@pytest.fixture
def server(running):
    """The shared server once the previous test's connections are gone (counted and closed)."""
    assert wait_for(lambda: running.stats()["connections_open"] == 0)
    return running


# ---------------------------------------------------------------------------------------------
# Answers
# ---------------------------------------------------------------------------------------------

def test_get_returns_the_file_with_the_right_headers(server):
    r = fetch(server)
    assert r.status == 200
    assert r.body == BODY
    h = r.headers
    assert h["content-length"] == str(len(BODY))
    assert h["content-type"] == "application/octet-stream"
    assert h["connection"] == "keep-alive"
    assert h["server"] == "whyevents"
    assert re.fullmatch(r'"[0-9a-f]+-2000"', h["etag"])
    assert h["date"].endswith(" GMT") and h["last-modified"].endswith(" GMT")
    for path, body in (("/", INDEX), ("/docs/", DOCS)):           # a directory's index.html
        r = fetch(server, path)
        assert r.status == 200 and r.body == body
        assert r.headers["content-type"].startswith("text/html")
    assert fetch(server, "/sub/small.txt").headers["content-type"].startswith("text/plain")
    config = server.config
    stats = server.stats()
    assert stats["server"] == REPORTED_NAME.get(config.server, config.server)
    assert stats["poller"] == config.kwargs.get("poller", "epoll")
    if "backend" in config.kwargs:
        assert stats["backend"] == config.kwargs["backend"]


def test_head_sends_headers_only(server):
    with connect(server) as s, s.makefile("rb") as f:
        s.sendall(req("/file8k", "HEAD"))
        r = read_response(f, head=True)
        assert r.status == 200 and r.headers["content-length"] == str(len(BODY))
        # Had the server sent a body, this response would be parsed out of it.
        s.sendall(req("/sub/small.txt"))
        r2 = read_response(f)
        assert r2.status == 200 and r2.body == SMALL
        assert r2.headers["content-length"] == str(len(SMALL))
        # The same with the HEAD and the GET in one send.
        s.sendall(req("/file8k", "HEAD") + req("/sub/small.txt"))
        r3 = read_response(f, head=True)
        assert r3.status == 200 and r3.headers["content-length"] == str(len(BODY))
        assert read_response(f).body == SMALL


def test_missing_file_is_404_and_keeps_the_connection(server):
    before = server.stats()
    with connect(server) as s, s.makefile("rb") as f:
        s.sendall(req("/no/such/file"))
        r = read_response(f)
        assert r.status == 404 and r.headers["connection"] == "keep-alive"
        assert r.body.startswith(b"404 Not Found")
        s.sendall(req("/file8k"))
        assert read_response(f).body == BODY
    assert wait_for(lambda: new_errors(before, server.stats()) == {"404": 1})


def test_keep_alive_serves_many_requests_on_one_connection(server):
    before = server.stats()
    with connect(server) as s, s.makefile("rb") as f:
        for i in range(20):
            target = "/file8k" if i % 2 == 0 else "/sub/small.txt"
            s.sendall(req(target))
            r = read_response(f)
            assert r.status == 200 and r.headers["connection"] == "keep-alive"
            assert r.body == (BODY if i % 2 == 0 else SMALL)
    # (a server counts a request once its send returns, which can be after we read it)
    assert wait_for(lambda: server.stats()["requests"] - before["requests"] == 20)
    assert server.stats()["connections_total"] == before["connections_total"] + 1


def test_the_same_cache_entry_serves_every_connection(server):
    fetch(server, "/sub/small.txt")
    hits, misses = cache_counts(server.stats())
    fetch(server, "/sub/small.txt")
    hits_after, misses_after = cache_counts(server.stats())
    assert hits_after > hits
    assert misses_after == misses


# ---------------------------------------------------------------------------------------------
# Pipelining
# ---------------------------------------------------------------------------------------------

def test_pipelined_requests_are_answered_in_order_across_hits_and_misses(server):
    fetch(server, "/sub/small.txt")                  # warm: this one will be a cache hit
    burst = (req("/sub/a.html") + req("/sub/small.txt") + req("/nope")      # miss, hit, 404
             + req("/file8k", "HEAD") + req("/index.html"))
    with connect(server) as s, s.makefile("rb") as f:
        s.sendall(burst)                             # one send
        got = [read_response(f), read_response(f), read_response(f),
               read_response(f, head=True), read_response(f)]
    assert [r.status for r in got] == [200, 200, 404, 200, 200]
    assert got[0].body == b"A" * 3000 and got[1].body == SMALL
    assert got[3].body == b"" and got[3].headers["content-length"] == str(len(BODY))
    assert got[4].body == INDEX


def test_pipelined_burst_split_across_reads(server):
    burst = b"".join(req("/sub/small.txt") for _ in range(30))
    with connect(server) as s, s.makefile("rb") as f:
        for i in range(0, len(burst), 37):           # cuts requests at arbitrary bytes
            s.sendall(burst[i:i + 37])
        for _ in range(30):
            assert read_response(f).body == SMALL


def test_a_long_pipelined_burst_is_read_and_answered_whole(server):
    # 300 requests (~13 KB) span several recv() calls, and more responses than one send.
    with connect(server) as s, s.makefile("rb") as f:
        s.sendall(req("/sub/small.txt") * 299 + req("/file8k"))
        bodies = [read_response(f).body for _ in range(300)]
        assert bodies == [SMALL] * 299 + [BODY]
        s.sendall(req("/sub/small.txt"))
        assert read_response(f).body == SMALL


# ---------------------------------------------------------------------------------------------
# Bad requests and closing
# ---------------------------------------------------------------------------------------------

def test_garbage_gets_400_and_close_and_others_are_served(server):
    before = server.stats()
    with connect(server) as bad, bad.makefile("rb") as f:
        bad.sendall(b"\x16\x03\x01 this is not HTTP at all\r\n\r\n")
        r = read_response(f)
        assert r.status == 400 and r.headers["connection"] == "close"
        assert f.read() == b""                        # the server closed it
    assert fetch(server).body == BODY
    assert wait_for(lambda: new_errors(before, server.stats()) == {"400": 1})


def test_request_after_bad_bytes_is_not_served(server):
    with connect(server) as s, s.makefile("rb") as f:
        s.sendall(req("/sub/small.txt") + b"BROKEN\r\n\r\n" + req("/file8k"))
        r = read_response(f)
        assert r.status == 200 and r.body == SMALL
        assert read_response(f).status == 400
        assert f.read() == b""


#: A 100 KB request line, and 10,000 header lines (~190 KB): far over the parser's limits.
LONG_URL = req("/" + "a" * 100_000)
MANY_HEADERS = req("/file8k", extra="".join(f"X-Header-{i}: {i}\r\n" for i in range(10_000)))


@pytest.mark.parametrize("raw, status", [(LONG_URL, 414), (MANY_HEADERS, 431)],
                         ids=["url-100KB-414", "headers-10000-431"])
def test_error_reply_is_read_whole_with_no_reset(server, raw, status):
    """Lingering close, as nginx does it: after an error reply the server shuts down writing
    and drains what the client still sends, so the client reads the whole reply, then a FIN;
    closing with unread input would send a reset, which can destroy the reply in flight."""
    before = server.stats()
    with connect(server) as s:
        s.sendall(raw)                # ConnectionResetError/BrokenPipeError here: a reset too
        data = read_to_eof(s)         # ConnectionResetError: the server reset the connection
    f = io.BytesIO(data)
    r = read_response(f)
    assert r.status == status and r.headers["connection"] == "close"
    assert f.read() == b""            # one reply, whole, and nothing after it
    assert wait_for(lambda: new_errors(before, server.stats()) == {str(status): 1})
    assert fetch(server).body == BODY


def test_client_that_keeps_sending_after_the_error_reply_reads_it_whole(server):
    """The harder case: the reply starts while the client is still sending its request; it
    sends the rest (which the server must drain, not answer with a reset), then reads."""
    before = server.stats()
    head, rest = LONG_URL[:16_384], LONG_URL[16_384:]
    with connect(server) as s:
        s.sendall(head)                           # already over the 8 KiB request-line limit
        first = s.recv(12)                        # the reply has started: "HTTP/1.1 414"
        s.sendall(rest)                           # BrokenPipe/ConnectionReset: no lingering
        data = first + read_to_eof(s)
    r = read_response(io.BytesIO(data))
    assert r.status == 414 and r.headers["connection"] == "close"
    assert wait_for(lambda: server.stats()["connections_open"] == 0)     # lingering over
    after = server.stats()
    assert after["lingering_closes"] == before["lingering_closes"] + 1
    # (the rest is drained lingering, or read before the close: SEDA's aSocket keeps reading)
    assert after["lingering_cut"] == before["lingering_cut"]           # ended by our FIN
    assert fetch(server).body == BODY


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_lingering_is_bounded_in_time_and_bytes(docroot, config, monkeypatch):
    """A client that neither closes nor stops sending after an error reply is cut off by the
    bounds (here 1 s in all, 0.5 s of silence, 64 KiB), counted in ``lingering_cut``; while it
    lingers, another client is served, even by a Knot-C with a single pool thread (the
    lingering holds that thread, but only until a bound runs out)."""
    monkeypatch.setattr(server_common, "LINGER_TIME", 1.0)
    monkeypatch.setattr(server_common, "LINGER_TIMEOUT", 0.5)
    monkeypatch.setattr(server_common, "LINGER_BYTES", 64 << 10)
    extra = {"threads": 1} if config.server == "knot-c" else {}
    with config.start(docroot, **extra) as srv:
        silent, chatty, flood = connect(srv), connect(srv), connect(srv)
        try:
            for s in (silent, chatty, flood):
                s.sendall(b"BROKEN\r\n\r\n")
                assert read_response(s.makefile("rb")).status == 400
            chatty.settimeout(0.1)                # 1 byte every 0.1 s, never closing: the 1 s
            flood.setblocking(False)
            gone = set()
            while len(gone) < 3 and srv.stats()["lingering_cut"] < 3:
                for name, s in (("chatty", chatty), ("flood", flood)):
                    if name in gone:
                        continue
                    try:
                        s.send(b"x" if name == "chatty" else b"y" * 65536)
                    except BlockingIOError:
                        pass
                    except OSError:               # cut: the server closed with a reset
                        gone.add(name)
                time.sleep(0.1)
                if at_eof(silent, timeout=0.01):
                    gone.add("silent")
                assert srv.stats()["uptime_s"] < 60
            assert wait_for(lambda: srv.stats()["lingering_cut"] == 3)
            assert fetch(srv).body == BODY        # served once the bound ran out
            stats = srv.stats()
            assert stats["lingering_closes"] == 3 and stats["errors"] == {"400": 3}
            assert wait_for(lambda: srv.stats()["connections_open"] == 0)
        finally:
            for s in (silent, chatty, flood):
                s.close()


def test_connection_close_is_honoured(server):
    with connect(server) as s, s.makefile("rb") as f:
        s.sendall(req("/file8k", extra="Connection: close\r\n"))
        r = read_response(f)
        assert r.status == 200 and r.body == BODY and r.headers["connection"] == "close"
        assert f.read() == b""
    with connect(server) as s, s.makefile("rb") as f:      # HTTP/1.0 without keep-alive
        s.sendall(b"GET /sub/small.txt HTTP/1.0\r\n\r\n")
        r = read_response(f)
        assert r.status == 200 and r.body == SMALL
        assert f.read() == b""
    assert wait_for(lambda: server.stats()["connections_open"] == 0)


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_half_closed_client_still_gets_its_answers(docroot, config):
    # A fresh server: where this fails, the connection stays open for the shared server's tests.
    with config.start(docroot) as server, connect(server, timeout=3) as s, \
            s.makefile("rb") as f:
        s.sendall(req("/file8k") + req("/sub/small.txt"))
        s.shutdown(socket.SHUT_WR)                     # EOF right after the requests
        assert read_response(f).body == BODY
        assert read_response(f).body == SMALL
        assert f.read() == b""                         # then the server closes
        assert wait_for(lambda: server.stats()["connections_open"] == 0, timeout=3)
        assert aborts(config, server.stats()) == 0


@pytest.mark.parametrize("target", [
    "/../secret.txt", "/%2e%2e/secret.txt", "/sub/../../secret.txt", "/..%2fsecret.txt",
    "/%2E%2E%2Fsecret.txt", "/escape", "/sub/%2e%2e/%2e%2e/secret.txt", "//../secret.txt",
    "/..\\secret.txt", "/%2e%2e%5csecret.txt", "/%00/../secret.txt",
    "/%2e%2e%2f%2e%2e%2fetc/passwd", "/./../../../etc/passwd",
])
def test_path_traversal_never_leaks_a_byte_from_outside_the_root(server, target):
    with connect(server) as s:
        s.sendall(req(target, extra="Connection: close\r\n"))
        data = read_to_eof(s)                    # every byte the server sends, not one reply
    r = read_response(io.BytesIO(data))
    assert r.status in (400, 404), data[:60]
    assert SECRET not in data and b"root:" not in data


def test_a_client_that_vanishes_does_not_disturb_others(server, capsys):
    config = server.config
    before = server.stats()
    with connect(server) as steady, steady.makefile("rb") as f:
        steady.sendall(req("/sub/small.txt"))
        assert read_response(f).body == SMALL
        # 1: resets mid-request; 2: resets mid-response (a 4 MiB body it never reads)
        for data in (b"GET /file8k HTTP/1.1\r\nHo", req("/big.bin")):
            s = connect(server)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(data)
            time.sleep(0.1)
            reset(s)
        assert wait_for(lambda: server.stats()["connections_open"] == 1)    # only `steady`
        for _ in range(3):
            steady.sendall(req("/file8k"))
            assert read_response(f).body == BODY
    assert wait_for(lambda: aborts(config, server.stats()) > aborts(config, before))
    assert fetch(server, "/big.bin").status == 200
    after = server.stats()
    assert new_errors(before, after) == {}               # no 4xx/5xx for the vanished
    assert after.get("internal_errors", 0) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Exception" not in err


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_clients_that_leave_at_once_are_closed_and_counted(docroot, config):
    # A fresh server: where this fails, connections stay open for the shared server's tests.
    with config.start(docroot) as server:
        _leave_at_once(config, server)


def _leave_at_once(config, server):
    before = server.stats()
    with connect(server) as steady, steady.makefile("rb") as f:
        steady.sendall(req("/sub/small.txt"))
        assert read_response(f).body == SMALL
        for i in range(20):                              # half a request head, then gone
            gone = connect(server)
            gone.sendall(b"GET /file8k HTTP/1.1\r\nHo")
            if i % 2:
                reset(gone)                              # a reset
            else:
                gone.close()                             # a polite FIN
        for _ in range(10):                              # ask, and leave without reading
            rude = connect(server)
            rude.sendall(req("/file8k") * 20)
            reset(rude)
        steady.sendall(req("/file8k"))
        assert read_response(f).body == BODY
        # (3 s: a server closes them in milliseconds; where one does not, this fails sooner)
        assert wait_for(lambda: server.stats()["connections_open"] == 1, timeout=3)
    assert wait_for(lambda: aborts(config, server.stats()) - aborts(config, before) >= 20)
    assert fetch(server).body == BODY
    assert new_errors(before, server.stats()) == {}


# ---------------------------------------------------------------------------------------------
# Real clients (skipped where not installed)
# ---------------------------------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_curl_keep_alive_head_and_if_none_match(server):
    url = server.url
    out = subprocess.run(
        ["curl", "-sv", "--http1.1", "-o", "/dev/null", "-o", "/dev/null",
         url + "file8k", url + "sub/small.txt"],
        capture_output=True, text=True, timeout=GUARD)
    assert out.returncode == 0, out.stderr
    assert "Re-using existing connection" in out.stderr or "Reusing existing" in out.stderr
    head = subprocess.run(["curl", "-sI", url + "file8k"], capture_output=True, text=True,
                          timeout=GUARD)
    assert head.stdout.startswith("HTTP/1.1 200")
    etag = re.search(r"(?im)^etag: (\S+)", head.stdout).group(1)
    code = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
         "-H", f"If-None-Match: {etag}", url + "file8k"],
        capture_output=True, text=True, timeout=GUARD)
    assert code.stdout == "304 0"


@pytest.mark.skipif(shutil.which("ab") is None, reason="ab (apache2-utils) not installed")
def test_ab_keep_alive_has_no_failed_requests(server):
    before = server.stats()
    out = subprocess.run(["ab", "-q", "-k", "-n", "2000", "-c", "20", server.url + "file8k"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert re.search(r"Complete requests:\s+2000\b", out.stdout), out.stdout
    assert re.search(r"Failed requests:\s+0\b", out.stdout), out.stdout
    assert re.search(r"Keep-Alive requests:\s+2000\b", out.stdout), out.stdout
    assert "Non-2xx" not in out.stdout
    assert wait_for(lambda: server.stats()["requests"] - before["requests"] == 2000)


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk not installed")
def test_wrk_has_no_socket_errors(server):
    before = server.stats()
    out = subprocess.run(["wrk", "-t1", "-c50", "-d1s", server.url + "file8k"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "Socket errors" not in out.stdout and "Non-2xx" not in out.stdout, out.stdout
    assert float(re.search(r"Requests/sec:\s+([\d.]+)", out.stdout).group(1)) > 0
    done = int(re.search(r"(\d+) requests in", out.stdout).group(1))
    assert done > 0
    assert wait_for(lambda: server.stats()["requests"] - before["requests"] >= done)
    assert new_errors(before, server.stats()) == {}


# ---------------------------------------------------------------------------------------------
# Time-outs, stopping and arguments: a fresh server per test
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_partial_request_then_silence_gets_408_and_idle_keep_alive_closes(docroot, config):
    with config.start(docroot, request_timeout=0.3) as srv, \
            connect(srv) as partial, partial.makefile("rb") as pf, \
            connect(srv) as idle, idle.makefile("rb") as idf:
        partial.sendall(b"GET /file8k HTTP/1.1\r\nHost: x\r\n")      # no blank line, ever
        t0 = time.monotonic()
        idle.sendall(req("/sub/small.txt"))
        assert read_response(idf).status == 200                       # then stays silent
        r = read_response(pf)
        assert r.status == 408 and r.headers["connection"] == "close"
        assert pf.read() == b""
        assert time.monotonic() - t0 >= 0.25
        assert idf.read() == b""                                      # closed without a word
        stats = srv.stats()
        assert stats["timeouts_408"] == 1 and idle_closes(config, stats) == 1
        assert stats["errors"] == {"408": 1}


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_stop_closes_every_connection_and_returns_final_counts(docroot, config):
    srv = config.start(docroot)
    address = srv.address[:2]
    held = []
    try:
        held.append((connect(srv), None))                 # connected, never asks anything
        for _ in range(3):
            s = connect(srv)
            f = s.makefile("rb")
            s.sendall(req("/file8k"))
            assert read_response(f).body == BODY
            held.append((s, f))
        s, f = held[1]
        s.sendall(req("/sub/small.txt") + req("/file8k", "HEAD"))
        read_response(f)
        read_response(f, head=True)
        assert wait_for(lambda: srv.stats()["connections_open"] == 4)
        final = srv.stop()
        assert final["requests"] == 5
        assert final["connections_total"] == 4 and final["connections_open"] == 0
        assert final["bytes_sent"] > 3 * len(BODY)
        assert aborts(config, final) == 0
        assert final["server"] == REPORTED_NAME.get(config.server, config.server)
        assert final["cpu_user_s"] >= 0
        json.dumps(final)                                 # JSON-ready
        for name, stage in final.get("stages", {}).items():     # a staged server's threads
            assert stage.get("threads_alive", 0) == 0, name
        for s, _ in held:
            assert at_eof(s)
        with pytest.raises(OSError):
            socket.create_connection(address, timeout=2).close()
    finally:
        srv.stop()                                        # twice is fine
        for s, f in held:
            if f is not None:
                f.close()
            s.close()


#: Bad arguments every server's ``start`` refuses, naming the parameter.
COMMON_BAD_ARGUMENTS = [
    {"poller": "select"}, {"cache_bytes": 0}, {"backlog": 0}, {"backlog": -1},
    {"request_timeout": 0}, {"request_timeout": "30"}, {"port": 70000}, {"host": ""},
]
#: ... and those of each server's own parameters.
BAD_ARGUMENTS = {
    "whyevents.knot": [
        {"policy": "B"}, {"policy": 3}, {"threads": 0}, {"threads": -2}, {"threads": 1.5},
        {"backend": "asyncio"}, {"scheduler": "rr"},
    ],
    "whyevents.seda": [
        {"backend": "green"}, {"scheduler": "fifo"}, {"threads": 0}, {"file_threads": -1},
        {"queue_capacity": 0}, {"batch_size": 0},
    ],
    "whyevents.eventloop": [
        {"threads": 4}, {"threads": 0}, {"threads": True}, {"scheduler": "fifo"},
        {"backend": "green"}, {"disk_threads": 0}, {"nowait": 1},
    ],
    "whyevents.knot.coro": [
        {"policy": "B"}, {"threads": 0}, {"threads": 1.5}, {"backend": "green"},
        {"scheduler": "fifo"},
    ],
}
BAD_ARGUMENTS["whyevents.knot.coro_gen"] = BAD_ARGUMENTS["whyevents.knot.coro"]   # its checks
_BAD = [(name, kwargs) for name, spec in servers.SERVERS.items()
        for kwargs in COMMON_BAD_ARGUMENTS + BAD_ARGUMENTS[spec.module]]


@pytest.mark.parametrize("name, kwargs", _BAD,
                         ids=[f"{n}-{k}={v!r}" for n, kw in _BAD for k, v in kw.items()])
def test_start_rejects_a_bad_argument_by_name(docroot, name, kwargs):
    (param,) = kwargs
    with pytest.raises(ValueError, match=rf"^{param}="):
        servers.start(name, docroot, **kwargs).stop()


@pytest.mark.parametrize("name", list(servers.SERVERS))
def test_start_rejects_a_root_that_is_not_a_directory(name, tmp_path):
    with pytest.raises(ValueError, match="^root="):
        servers.start(name, str(tmp_path / "missing")).stop()
    (tmp_path / "plain").write_bytes(b"x")
    with pytest.raises(ValueError, match="^root="):
        servers.start(name, str(tmp_path / "plain")).stop()


# ---------------------------------------------------------------------------------------------
# Scale and the descriptor limit
# ---------------------------------------------------------------------------------------------

#: What a server needs to hold ``n`` connections at once (Knot-C has a fixed pool of threads).
CAPACITY = {name: lambda n: {"threads": n + 48} for name in POOLS}


@pytest.mark.parametrize("config", SCALE_CONFIGS, ids=[c.id for c in SCALE_CONFIGS])
def test_two_thousand_concurrent_keep_alive_connections(docroot, config):
    n = 2000
    raise_fd_limit()
    extra = CAPACITY.get(config.server, lambda n: {})(n)
    with config.start(docroot, **extra) as srv:
        socks, files = [], []
        try:
            socks = [connect(srv, timeout=30) for _ in range(n)]   # all open before a request
            files = [s.makefile("rb") for s in socks]
            for round_ in range(2):
                for s in socks:
                    s.sendall(req("/file8k"))
                for f in files:
                    r = read_response(f)
                    assert r.status == 200 and r.body == BODY
                if round_ == 0:                                  # every one held at once
                    assert wait_for(lambda: srv.stats()["connections_open"] == n)
            assert wait_for(lambda: srv.stats()["requests"] == 2 * n)
            assert srv.stats()["connections_total"] == n
        finally:
            for s in socks:
                s.close()
            for f in files:                  # the socket's descriptor closes with its files
                f.close()
        assert wait_for(lambda: srv.stats()["connections_open"] == 0)


_EMFILE_SERVER = r"""
import encodings.idna, json, os, resource, socket, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
from whyevents import servers
name, root, mode, kwargs = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
handle = servers.start(name, root, **kwargs)
# Warm the page cache first: a miss needs a descriptor to open the file (a miss at EMFILE is a
# 500, which is not what these tests are about).
with socket.create_connection(handle.address[:2]) as s:
    s.sendall(b"GET /sub/small.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    while s.recv(65536):
        pass
if mode == "hog":
    # Take every free descriptor but three: accept() itself hits EMFILE, whatever reserve of
    # descriptors the server keeps for itself.
    hog = []
    try:
        while True:
            hog.append(os.open(os.devnull, os.O_RDONLY))
    except OSError:
        pass
    for fd in hog[:3]:
        os.close(fd)
print(handle.address[1], flush=True)
for line in sys.stdin:
    print(json.dumps(handle.stats()), flush=True)
"""


#: What a server needs to run at all in 64 descriptors (Knot-C's default kernel-thread pool
#: takes them all).
LIMITED = {"knot-c": {"threads": 100}}
#: Left out, not yet understood (see issue 13's fault-injection item): Knot-C on kernel threads
#: at 64 descriptors cannot even serve the warm-up request; with every descriptor taken (hog)
#: Knot-C does not always recover, and Knot-A on kernel threads often never meets EMFILE.
EMFILE_CONFIGS = [c for c in CONFIGS if c.id != "knot-c-kernel"]
#: The slowest test here (~1.6 s a run, as closes free descriptors three at a time): each
#: server's first configuration only.
#: Knot-C on async def (and generator) threads is left out too: it serves each connection to
#: completion, so when every request is in before it accepts, it never holds more than a few
#: descriptors and may meet no EMFILE at all (the limit test above shows its back-off).
HOG_CONFIGS = [next(c for c in CONFIGS if c.server == name)
               for name in servers.SERVERS if name not in POOLS]


class _LimitedServer:
    """A server in a child process limited to 64 descriptors; ``stats()`` over its stdin."""

    def __init__(self, config: Config, root: str, mode: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _EMFILE_SERVER, config.server, root, mode,
             json.dumps({**config.kwargs, **LIMITED.get(config.server, {})})],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.address = ("127.0.0.1", int(self.proc.stdout.readline()))

    def stats(self) -> dict:
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.mark.parametrize("config", EMFILE_CONFIGS, ids=[c.id for c in EMFILE_CONFIGS])
def test_accept_at_emfile_backs_off_and_keeps_serving(docroot, config):
    srv = _LimitedServer(config, docroot, "limit")
    conns = []
    try:
        # 80 connections against 64 descriptors: the kernel completes every handshake, the
        # server cannot accept them all.
        for _ in range(80):
            s = connect(srv)
            s.sendall(req("/sub/small.txt"))
            conns.append((s, s.makefile("rb")))
        assert wait_for(lambda: srv.stats()["accept_backoffs"] > 0)
        # Connections the server did accept are served, while others wait in the backlog.
        for _s, f in conns[:20]:
            assert read_response(f).body == SMALL
        # Closing some frees descriptors: the back-off retries and the rest get answered.
        for s, f in conns[:40]:
            f.close()
            s.close()
        for _s, f in conns[40:]:
            assert read_response(f).body == SMALL
        assert wait_for(lambda: srv.stats()["requests"] == 81)
        assert srv.stats()["connections_total"] == 81
    finally:
        for s, f in conns:
            f.close()
            s.close()
        srv.close()


@pytest.mark.parametrize("config", HOG_CONFIGS, ids=[c.id for c in HOG_CONFIGS])
def test_out_of_descriptors_backs_off_and_keeps_serving(docroot, config):
    srv = _LimitedServer(config, docroot, "hog")
    try:
        n = 80                     # more connections than the server has descriptors left
        for r in fetch_all_at_once(srv, "/sub/small.txt", n):
            assert r.status == 200 and r.body == SMALL
        stats = srv.stats()
        assert stats["accept_backoffs"] >= 1
        assert wait_for(lambda: srv.stats()["requests"] == n + 1)
        assert srv.stats()["connections_total"] == n + 1
    finally:
        srv.close()
