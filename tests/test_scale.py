"""Scale: threads parked on sockets up to the descriptor limit, all woken, in seconds."""

from __future__ import annotations

import resource

import pytest

from whyevents import threads


@pytest.mark.parametrize("poller", ["epoll", "poll"])
def test_threads_parked_on_sockets_up_to_the_fd_limit(poller):
    from whyevents.threads import socket as gsocket

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    # each pair is two descriptors; leave room for what pytest and the interpreter hold open
    pairs = min(max((soft - 300) // 2, 10), 9800)
    if poller == "poll":
        pairs = min(pairs, 3000)  # rebuilt per wait: O(n) per poll is the point, not the test

    def main():
        socks = [gsocket.socketpair() for _ in range(pairs)]
        got = []

        def reader(s):
            got.append(s.recv(1))

        ts = [threads.spawn(reader, a) for a, _ in socks]
        threads.sleep(0)
        parked = threads.stats()["fd_waiters"]
        for _, b in socks:
            b.send(b"x")
        for t in ts:
            t.join()
        for a, b in socks:
            a.close()
            b.close()
        return parked, len(got), set(got), threads.stats()["fd_waiters"]

    parked, n, values, left = threads.run(main, poller=poller)
    assert parked == pairs
    assert n == pairs and values == {b"x"}
    assert left == 0
