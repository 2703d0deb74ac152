"""The event twin's "a short read drains" rule and a FIN that shares the last data's edge.

A client that sends its request and half-closes before the loop takes the edge gets one event,
IN|RDHUP, for both. The request is a short read; with no edge to come, the loop must still
read the EOF now (and close after answering), not when the request timeout fires. The
threaded socket layer has the same rule and its test (``test_socket.py``,
``test_eof_that_comes_with_the_last_data_is_read_after_a_short_read``).

Determinism: the listener's handler is held until the client has sent request and FIN, so the
connection is registered with epoll (edge-triggered: ADD reports the current state) only when
both are already queued: one event, every time.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from whyevents import eventloop

GUARD = 5.0                 # the client's timeout; the server's request timeout is 60 s

pytestmark = [pytest.mark.runtime, pytest.mark.timeout(60)]


@pytest.mark.parametrize("poller", ["epoll", "poll"])
def test_eof_with_the_last_request_is_read_after_a_short_read(tmp_path: Path, poller) -> None:
    root = tmp_path / "www"
    root.mkdir()
    (root / "small.txt").write_text("hello\n")
    gate = threading.Event()
    with eventloop.start(root, poller=poller, request_timeout=60.0) as handle:
        server = handle.server
        accept = server._on_acceptable

        def held_accept():
            gate.wait(GUARD)
            accept()

        server._on_acceptable = held_accept
        with socket.create_connection(handle.address[:2], timeout=GUARD) as c:
            c.sendall(b"GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n")
            c.shutdown(socket.SHUT_WR)
            gate.set()
            got = b""
            while data := c.recv(65536):        # TimeoutError here: the server never closed
                got += data
        stats = handle.stats()
    assert got.startswith(b"HTTP/1.1 200 ") and got.endswith(b"hello\n")
    assert stats["idle_closes"] == 0 and stats["internal_errors"] == 0
