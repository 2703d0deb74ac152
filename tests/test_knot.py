"""Knot, the threaded web server: what only Knot has (the request memo, the accept policy's name).

The HTTP behaviour every server shares (answers, keep-alive, pipelining, bad requests,
time-outs, stop, argument checks, load tools, 2,000 connections, EMFILE back-off) is tested once
for all of them, Knot-C and Knot-A on green threads over each poller and on kernel threads
included, in ``test_servers_shared.py``.

Every test talks to 127.0.0.1 only, with raw sockets (``support.http``). Nothing here asserts on
speed.
"""

from __future__ import annotations

import threading
import time

import pytest

from support.http import GUARD, connect, fetch, read_response, req
from support.trees import BODY, SMALL, Tree
from whyevents import knot, threads
from whyevents.http import Request

pytestmark = pytest.mark.runtime

DOCROOT = Tree({"file8k": BODY, "sub/small.txt": SMALL})     # the ``docroot`` fixture's

CONFIGS = [
    ("C", "green", "epoll"), ("C", "green", "poll"), ("C", "kernel", "epoll"),
    ("A", "green", "epoll"), ("A", "green", "poll"), ("A", "kernel", "epoll"),
]
IDS = [f"knot{p.lower()}-{b}-{poll}" if b == "green" else f"knot{p.lower()}-kernel"
       for p, b, poll in CONFIGS]


@pytest.fixture(scope="module", params=CONFIGS, ids=IDS)
def server(request, docroot):
    policy, backend, poller = request.param
    handle = knot.start(docroot, policy=policy, backend=backend, poller=poller)
    yield handle
    handle.stop()


# ---------------------------------------------------------------------------------------------
# The request memo, for every policy x backend x poller
# ---------------------------------------------------------------------------------------------

@pytest.fixture()
def memo_on(server, monkeypatch):
    from whyevents.knot import connection

    monkeypatch.setattr(connection, "MEMO_REQUEST_BYTES", 1024)
    yield connection
    server.knot.request_memo.clear()


def test_request_memo_is_off_by_default(server):
    from whyevents.knot import connection

    assert connection.MEMO_REQUEST_BYTES == 0
    for _ in range(2):
        assert fetch(server, "/sub/small.txt").body == SMALL
    assert server.knot.request_memo == {}
    # Off means not consulted either: a stale entry is never served.
    stale = req("/sub/small.txt", extra="X-Stale: 1\r\n")
    server.knot.request_memo[stale] = Request("GET", b"/file8k")
    try:
        with connect(server) as s, s.makefile("rb") as f:
            s.sendall(stale)
            assert read_response(f).body == SMALL
    finally:
        server.knot.request_memo.clear()


def test_request_memo_answers_repeats_and_never_a_partial_request(server, memo_on):
    repeat = req("/sub/small.txt", extra="X-Memo-Test: 1\r\n")
    for _ in range(2):                                   # two connections, identical bytes
        with connect(server) as s, s.makefile("rb") as f:
            s.sendall(repeat)
            assert read_response(f).body == SMALL
    assert server.stats()["request_memo_entries"] >= 1
    # The same bytes after a partial head are header lines of that head, not a request: the
    # parser must see them (a bad header line: 400), not the memo (which would answer 200).
    with connect(server) as s, s.makefile("rb") as f:
        s.sendall(b"GET /file8k HTTP/1.1\r\n")
        time.sleep(0.05)
        s.sendall(repeat)
        assert read_response(f).status == 400
    # A remembered Connection: close request still closes.
    closing = req("/sub/small.txt", extra="Connection: close\r\n")
    for _ in range(2):
        with connect(server) as s, s.makefile("rb") as f:
            s.sendall(closing)
            assert read_response(f).headers["connection"] == "close"
            assert f.read() == b""


def test_request_memo_is_bounded(server, memo_on, monkeypatch):
    connection = memo_on
    monkeypatch.setattr(connection, "MEMO_ENTRIES", 3)
    with connect(server) as s, s.makefile("rb") as f:
        for i in range(10):
            s.sendall(req(f"/sub/small.txt?v={i}"))
            assert read_response(f).body == SMALL
            assert server.stats()["request_memo_entries"] <= 3
        s.sendall(req("/file8k", extra="X-Long: " + "y" * 2000 + "\r\n"))
        assert read_response(f).body == BODY
    assert all(len(k) <= connection.MEMO_REQUEST_BYTES for k in server.knot.request_memo)


# ---------------------------------------------------------------------------------------------
# start() arguments only Knot has (the others: test_servers_shared.py)
# ---------------------------------------------------------------------------------------------

def test_policy_is_case_insensitive_and_knot_a_ignores_threads(docroot):
    with knot.start(docroot, policy="a", threads=3) as srv:
        assert srv.name == "knot-a" and fetch(srv).status == 200


# ---------------------------------------------------------------------------------------------
# Runtime regression found while building Knot (belongs with test_hub.py)
# ---------------------------------------------------------------------------------------------

def test_kill_from_a_call_threadsafe_callback_kills_the_target_not_the_hub():
    """``Thread.kill`` run by the hub (``call_threadsafe``) while the hub's ``current`` still
    names the target (it was the last thread to run) must kill the target, not raise in the
    hub loop (which used to end ``run`` with ThreadKilled)."""
    ended = []

    def main():
        hub = threads.get_hub()
        hub.expect_foreign()
        done = threads.Event()

        def sleeper():
            try:
                threads.sleep(30)
            finally:
                ended.append(True)

        t = threads.spawn(sleeper)

        def kill_it():
            t.kill()
            done.set()

        threading.Timer(0.05, hub.call_threadsafe, (kill_it,)).start()
        done.wait()
        t.join(GUARD)
        return t.is_alive()

    assert threads.run(main) is False
    assert ended == [True]
