"""Slow and hostile clients against every server configuration (issue 13 item 4).

Each case is bounded by the server's ``request_timeout`` (short here, 0.5-1 s, through
``start()``), counted in its stats, and must not stall the other clients; where a design limit
applies it is stated and tested as such:

* slowloris: a request head trickled a byte at a time gets 408 although bytes keep coming
  (Knot: within ``request_timeout`` of its first byte; the twin and SEDA check on their timers:
  within 2 x ``request_timeout``), ``timeouts_408``;
* a client that stops reading a large reply is dropped, ``send_timeouts`` (Knot's ``sendall``
  timeout bounds the whole reply, the twin and SEDA drop a client that takes no byte for
  ``request_timeout``: a slow reader that keeps reading is served, as with nginx's
  ``send_timeout``);
* 2,000 idle connections: the others are served meanwhile, and every idle one is closed by the
  time-out, ``idle_closes``;
* Knot-C's fixed pool: with more idle connections than threads a new client waits in the listen
  backlog until idle ones time out (the paper's "natural throttling"): served, but only then.

Half-closed clients, resets mid-request and mid-reply, and clients that leave at once are in
``test_servers_shared.py`` (``test_half_closed_client_still_gets_its_answers``,
``test_a_client_that_vanishes_does_not_disturb_others``,
``test_clients_that_leave_at_once_are_closed_and_counted``); error replies read whole
(lingering close) there too. Nothing here asserts on speed: loops are bounded by ``GUARD``.
"""

from __future__ import annotations

import socket
import time

import pytest

from support import wait_for
from support.http import GUARD, at_eof, connect, fetch, read_response, req
from support.servers import CONFIGS, IDS, POOLS, SCALE_CONFIGS, idle_closes
from support.trees import BODY
from whyevents.server_common import raise_fd_limit

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_slowloris_gets_408_however_steadily_it_trickles(docroot, config):
    with config.start(docroot, request_timeout=0.5) as srv, connect(srv) as slow:
        slow.sendall(b"GET /file8k HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        slow.settimeout(0.1)
        trickled = 0
        deadline = time.monotonic() + GUARD
        answer = b""
        while time.monotonic() < deadline:
            try:
                answer = slow.recv(65536)         # one byte every 0.1 s until it answers
                break
            except TimeoutError:
                slow.sendall(b"a")
                trickled += 1
                if trickled % 5 == 0:             # and the others are served meanwhile
                    assert fetch(srv, "/sub/small.txt").status == 200
        assert answer.startswith(b"HTTP/1.1 408 "), (trickled, answer[:40])
        assert trickled >= 2                      # it was still sending when answered
        stats = srv.stats()
        assert stats["timeouts_408"] == 1 and stats["errors"] == {"408": 1}
        assert fetch(srv).body == BODY


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_a_client_that_stops_reading_a_large_reply_is_dropped(docroot, config):
    with config.start(docroot, request_timeout=0.5) as srv:
        s = connect(srv)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(req("/big.bin"))            # 4 MiB
            assert s.recv(65536).startswith(b"HTTP/1.1 200 ")
            # ... and reads nothing more. Others are served while it is stuck:
            for _ in range(3):
                assert fetch(srv).body == BODY
            assert wait_for(lambda: srv.stats()["send_timeouts"] == 1)
            assert wait_for(lambda: srv.stats()["connections_open"] == 0)
        finally:
            s.close()
        stats = srv.stats()
        assert stats["errors"] == {}
        assert fetch(srv, "/big.bin").status == 200


@pytest.mark.parametrize("config", SCALE_CONFIGS, ids=[c.id for c in SCALE_CONFIGS])
def test_two_thousand_idle_connections_time_out_and_do_not_stall_others(docroot, config):
    n = 2000
    raise_fd_limit()
    extra = {"threads": n + 48} if config.server in POOLS else {}       # (Knot-C's pool)
    # (3 s: long enough for all 2,000 to be connected before the first times out)
    with config.start(docroot, request_timeout=3.0, **extra) as srv:
        idle = []
        try:
            idle = [connect(srv, timeout=30) for _ in range(n)]     # connected, never asking
            assert wait_for(lambda: srv.stats()["connections_open"] == n, timeout=30)
            r = fetch(srv)                                          # served meanwhile
            assert r.status == 200 and r.body == BODY
            assert idle_closes(config, srv.stats()) < n             # before they timed out
            assert wait_for(lambda: idle_closes(config, srv.stats()) == n, timeout=30)
            assert all(at_eof(s, timeout=5) for s in idle)
            assert wait_for(lambda: srv.stats()["connections_open"] == 0)
            stats = srv.stats()
            assert stats["errors"] == {} and stats["timeouts_408"] == 0
        finally:
            for s in idle:
                s.close()


POOL_CONFIGS = [c for c in CONFIGS if c.server in POOLS]


@pytest.mark.parametrize("config", POOL_CONFIGS, ids=[c.id for c in POOL_CONFIGS])
def test_knot_c_pool_full_of_idle_connections_serves_a_new_client_after_their_timeout(
        docroot, config):
    threads = 8
    with config.start(docroot, request_timeout=0.5, threads=threads) as srv:
        idle = [connect(srv) for _ in range(threads)]      # every pool thread holds one
        try:
            assert wait_for(lambda: srv.stats()["connections_open"] == threads)
            with connect(srv) as late, late.makefile("rb") as f:
                late.sendall(req("/sub/small.txt"))
                r = read_response(f)                      # waits in the listen backlog...
                assert r.status == 200
                # ... until idle connections timed out and freed their threads.
                assert idle_closes(config, srv.stats()) >= 1
        finally:
            for s in idle:
                s.close()
