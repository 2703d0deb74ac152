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
  time-out, ``idle_closes`` (a time-out that accepting them all outlasted is tried again longer:
  ``IDLE_TIMEOUTS``);
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


#: The idle connections' time-outs, tried in turn. A time-out runs from its connection's accept,
#: so it must outlast accepting all of them, or the first are closed before the last is open.
#: How long accepting takes is the machine's: Knot-C on poll accepts one connection per poll of
#: every waiting descriptor (O(n) each, the poll model), and a loaded machine may need longer
#: than the first. A run whose accepting outlasted its time-out proves nothing either way and is
#: repeated with the next; every assertion is the same in each.
IDLE_TIMEOUTS = (3.0, 6.0, 12.0)


def _all_accepted(config, srv, n: int) -> dict:
    """The stats once all ``n`` connections are accounted for: open, or closed by the time-out."""
    seen = {}

    def accepted():
        seen.update(srv.stats())
        return seen["connections_open"] + idle_closes(config, seen) == n

    assert wait_for(accepted, timeout=30)
    return seen


def _hold_idle(docroot, config, n: int, timeouts) -> list[float]:
    """Hold ``n`` idle connections, fetch meanwhile, see every one closed by its time-out; the
    time-outs tried, in turn, until one outlasted accepting them all (else the test fails)."""
    extra = {"threads": n + 48} if config.server in POOLS else {}       # (Knot-C's pool)
    tried = []
    for request_timeout in timeouts:
        tried.append(request_timeout)
        with config.start(docroot, request_timeout=request_timeout, **extra) as srv:
            idle = []
            try:
                idle = [connect(srv, timeout=30) for _ in range(n)]     # connected, never asking
                if idle_closes(config, _all_accepted(config, srv, n)):
                    continue                                        # not all open at once
                r = fetch(srv)                                      # served meanwhile
                assert r.status == 200 and r.body == BODY
                assert idle_closes(config, srv.stats()) < n         # before they timed out
                assert wait_for(lambda: idle_closes(config, srv.stats()) == n, timeout=30)
                assert all(at_eof(s, timeout=5) for s in idle)
                assert wait_for(lambda: srv.stats()["connections_open"] == 0)
                stats = srv.stats()
                assert stats["errors"] == {} and stats["timeouts_408"] == 0
                return tried
            finally:
                for s in idle:
                    s.close()
    pytest.fail(f"accepting {n} connections outlasted every time-out tried ({tried} s)")


@pytest.mark.parametrize("config", SCALE_CONFIGS, ids=[c.id for c in SCALE_CONFIGS])
def test_two_thousand_idle_connections_time_out_and_do_not_stall_others(docroot, config):
    raise_fd_limit()
    _hold_idle(docroot, config, 2000, IDLE_TIMEOUTS)


def test_an_idle_run_whose_accepting_outlasts_its_time_out_is_repeated_longer(docroot):
    """The retry above is taken when it must be: a time-out shorter than connecting 2,000
    clients takes closes the first before the last is accepted, so that run is set aside and
    the next, long enough, decides; with only the short one the test fails."""
    raise_fd_limit()
    config = next(c for c in SCALE_CONFIGS if c.server == "eventloop")
    assert _hold_idle(docroot, config, 2000, (0.05, 6.0)) == [0.05, 6.0]
    with pytest.raises(pytest.fail.Exception, match="outlasted every time-out"):
        _hold_idle(docroot, config, 2000, (0.05,))


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
