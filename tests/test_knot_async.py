"""Knot on ``async def`` threads (``knot.coro``) and the sockets under it (``threads.coro_io``).

What every server must do is in ``test_servers_shared.py`` (it runs ``knot-c-async`` and
``knot-a-async`` through the registry); here: the cooperative sockets on their own (a round
trip, a time-out, a close waking its waiter, lazy time-outs, the deadlock check), then the server
under the loads its design must take: keep-alive, pipelining, a 404 and a 400 that do not stop
the others, a stop with connections open, 500 connections at once. Self-contained: raw sockets
to 127.0.0.1, each with a timeout.
"""

from __future__ import annotations

import errno
import socket
import threading
import time

import pytest

from whyevents import servers
from whyevents.knot import coro as knot_async
from whyevents.threads import Deadlock, coro, coro_io

pytestmark = pytest.mark.timeout(120)

BODY = bytes(range(256)) * 32
SMALL = b"small\n"
GUARD = 20.0
NAMES = ["knot-c-async", "knot-a-async"]


# ---------------------------------------------------------------------------------------------
# coro_io
# ---------------------------------------------------------------------------------------------

def test_echo_round_trips_and_coro_primitives_work_beside_sockets():
    async def echo(conn):
        while data := await conn.recv(4096, timeout=5):
            await conn.sendall(data)
        conn.close()

    async def client(port, done, out):
        c = coro_io.wrap(socket.socket())
        await c.connect(("127.0.0.1", port))
        big = b"x" * (1 << 20)                        # more than a send buffer: send_rest
        for msg in (b"hello", big):
            await c.sendall(msg)
            got = b""
            while len(got) < len(msg):
                got += await c.recv(65536, timeout=5)
            out.append(got == msg)
        c.close()
        done.set()

    async def main():
        lst = coro_io.wrap(socket.create_server(("127.0.0.1", 0)))
        done, out = coro.Event(), []
        coro.spawn(client(lst.sock.getsockname()[1], done, out))
        coro.spawn(echo(await lst.accept()))
        await done.wait()
        lst.close()
        return out

    assert coro_io.run(main()) == [True, True]


def test_recv_times_out_and_close_wakes_the_waiter_with_ebadf():
    async def main():
        a, b = socket.socketpair()
        sa, sb = coro_io.wrap(a), coro_io.wrap(b)
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            await sa.recv(10, timeout=0.1)
        waited = time.monotonic() - t0
        result = []

        async def reader():
            try:
                await sb.recv(10)
            except OSError as e:
                result.append(e.errno)

        coro.spawn(reader())
        await coro.sleep(0.01)                        # the reader is parked
        sb.close()
        await coro.sleep(0)
        sa.close()
        return waited, result, coro.current().io_timeouts

    waited, result, timeouts = coro_io.run(main())
    assert 0.08 <= waited < 2 and result == [errno.EBADF] and timeouts == 1


def test_a_keep_alive_connection_does_not_push_a_timer_per_wait():
    async def main():
        a, b = socket.socketpair()
        sa = coro_io.wrap(a)
        sched = coro.current()
        for _ in range(200):
            b.send(b"x")
            assert await sa.recv(10, timeout=30) == b"x"
        pushes = sched._seq
        sa.close()
        b.close()
        return pushes

    assert coro_io.run(main()) <= 2


def test_the_blocking_poll_wakes_at_the_earlier_of_a_timer_and_an_io_deadline():
    # One entry in each heap (a sleep, a recv's deadline) and nothing else to run: the poll's
    # time-out must be the earlier entry, whichever heap holds it.
    async def main(sleep_for, recv_for):
        a, b = socket.socketpair()
        sa = coro_io.wrap(a)
        woke, done = [], [coro.Event(), coro.Event()]
        t0 = time.monotonic()

        async def sleeper():
            await coro.sleep(sleep_for)
            woke.append(("timer", time.monotonic() - t0))
            done[0].set()

        async def reader():
            with pytest.raises(TimeoutError):
                await sa.recv(10, timeout=recv_for)
            woke.append(("io", time.monotonic() - t0))
            done[1].set()

        coro.spawn(sleeper())
        coro.spawn(reader())
        for ev in done:
            await ev.wait()
        sa.close()
        b.close()
        return woke

    for short, long_, first in ((0.05, 0.6, "timer"), (0.6, 0.05, "io")):
        woke = coro_io.run(main(short, long_))
        assert [w[0] for w in woke][0] == first and woke[0][1] < 0.4 <= woke[1][1]


def test_an_accepted_socket_has_the_state_the_constructor_gives():
    # Socket._wrap builds the accepted Socket without __init__: same slots, same registration.
    async def main():
        lst = coro_io.wrap(socket.create_server(("127.0.0.1", 0)))
        cli = socket.create_connection(lst.sock.getsockname(), timeout=GUARD)
        conn = await lst.accept()
        sched = coro.current()
        a, b = socket.socketpair()
        built = coro_io.Socket(a, sched, False)
        got = {name: getattr(conn, name) for name in coro_io.Socket.__slots__ if name != "io"}
        want = {name: getattr(built, name) for name in coro_io.Socket.__slots__ if name != "io"}
        want["sock"] = conn.sock
        state = [tuple(getattr(rec, name) for name in type(rec).__slots__ if name != "fd")
                 for rec in (conn.io, built.io)]
        registered = (sched.fds[conn.sock.fileno()] is conn.io, conn.sock.getblocking())
        cli.sendall(b"ping")
        data = await conn.recv(10, timeout=GUARD)       # parks for the first IN edge, then reads
        for s in (conn, built, lst):
            s.close()
        cli.close()
        b.close()
        return got, want, state, registered, data

    got, want, (mine, ctor), registered, data = coro_io.run(main())
    assert got == want
    assert mine == ctor
    assert registered == (True, False) and data == b"ping"


def test_accept_failed_backs_off_skips_or_raises_by_errno():
    class Knot:
        class counters:
            accept_backoffs = 0
        sched = None

    async def main():
        knot = Knot()
        knot.sched = coro.current()
        t0 = time.monotonic()
        await knot_async.accept_failed(knot, OSError(errno.EMFILE, "too many"))
        backed_off = time.monotonic() - t0
        await knot_async.accept_failed(knot, OSError(errno.ECONNABORTED, "aborted"))
        with pytest.raises(OSError) as info:
            await knot_async.accept_failed(knot, OSError(errno.EINVAL, "bad"))
        return knot.counters.accept_backoffs, backed_off, info.value.errno

    backoffs, backed_off, raised = coro_io.run(main())
    assert backoffs == 1 and raised == errno.EINVAL
    assert backed_off >= knot_async.ACCEPT_BACKOFF * 0.9


def test_one_edge_hands_each_parked_accepter_a_connection():
    """Three clients queued behind one listener edge: the accepter it wakes accepts for the
    others (no one woken to find the backlog empty); closing the listener wakes the last with
    EBADF and closes what it had accepted for nobody."""
    async def main():
        lst = coro_io.wrap(socket.create_server(("127.0.0.1", 0)))
        port = lst.sock.getsockname()[1]
        got, errs = [], []

        async def accepter():
            try:
                got.append(await lst.accept())
            except OSError as e:
                errs.append(e.errno)

        for _ in range(4):
            coro.spawn(accepter())
        await coro.sleep(0)                           # all four parked on the listener
        clients = [socket.create_connection(("127.0.0.1", port), timeout=GUARD)
                   for _ in range(3)]
        end = time.monotonic() + GUARD
        while len(got) < 3 and time.monotonic() < end:
            await coro.sleep(0.001)
        accepted = sorted(c.fileno() for c in got)
        spare = got.pop()
        lst.handed.append(spare)                      # as if accepted for a thread not yet run
        lst.close()
        await coro.sleep(0)
        closed = spare.fileno() == -1 and got[0].fileno() >= 0 and not lst.handed
        for c in got + clients:
            c.close()
        return accepted, errs, closed

    accepted, errs, closed = coro_io.run(main())
    assert len(set(accepted)) == 3 and min(accepted) >= 0
    assert errs == [errno.EBADF] and closed


def test_nothing_to_wait_for_is_still_a_deadlock():
    async def stuck():
        await coro.Event().wait()

    with pytest.raises(Deadlock):
        coro_io.run(stuck())
    assert coro.run(_answer()) == 42                  # coro.run unchanged afterwards


async def _answer():
    return 42


# ---------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def docroot(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("knot_async") / "www"
    (root / "sub").mkdir(parents=True)
    (root / "file8k").write_bytes(BODY)
    (root / "sub" / "small.txt").write_bytes(SMALL)
    return str(root)


def req(target: str = "/file8k", extra: str = "") -> bytes:
    return f"GET {target} HTTP/1.1\r\nHost: t\r\n{extra}\r\n".encode()


def connect(srv) -> socket.socket:
    s = socket.create_connection(srv.address[:2], timeout=GUARD)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_response(f) -> tuple[int, dict, bytes]:
    status = int(f.readline().split()[1])
    headers = {}
    while (line := f.readline()) not in (b"\r\n", b""):
        k, v = line.decode().split(":", 1)
        headers[k.strip().lower()] = v.strip()
    return status, headers, f.read(int(headers.get("content-length", 0)))


def wait_for(cond, timeout: float = GUARD) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


def _parked_chains(knot) -> list[list[str]]:
    """On the server's loop: every parked thread's chain of suspended frames, outermost first."""
    out, done = [], threading.Event()

    def collect():
        for rec in knot.sched.fds.values():
            for thread in rec.rd:
                chain, c = [], thread
                while c is not None:
                    chain.append((c.cr_code if hasattr(c, "cr_code") else c.gi_code).co_name)
                    c = getattr(c, "cr_await", None) or getattr(c, "gi_yieldfrom", None)
                out.append(chain)
        done.set()

    knot.sched.call_threadsafe(collect)
    assert done.wait(GUARD)
    return out


@pytest.mark.parametrize("policy", ["C", "A"])
def test_a_parked_thread_is_two_frames_and_one_knot_c_thread_serves_connection_after_connection(
        docroot, policy):
    """Each wake resumes every frame of the woken thread's chain, so Knot's thread is one frame
    over the wait: Knot-C's thread accepts and serves in ``serve_connection``'s own frame (no
    ``knot_c_worker`` awaiting it per connection), Knot-A's thread is ``serve_connection``."""
    with knot_async.start(docroot, policy=policy, threads=1) as srv:
        for n in range(3):                              # one Knot-C thread, three connections
            with connect(srv) as s, s.makefile("rb") as f:
                for _ in range(2):
                    s.sendall(req())
                    assert read_response(f)[2] == BODY
                chains = _parked_chains(srv.knot)       # the connection's thread, in recv
                assert chains.count(["serve_connection", "wait_readable"]) == 1, chains
                assert len(chains) == 1 + (policy == "A"), chains     # and Knot-A's acceptor
            assert wait_for(lambda: srv.stats()["connections_open"] == 0)
            assert srv.stats()["connections_total"] == n + 1
        chains = _parked_chains(srv.knot)               # the accepter(s), on the listener
        assert chains == [["serve_connection", "wait_readable"] if policy == "C" else
                          ["knot_a_acceptor", "accept_connection", "wait_readable"]], chains
        assert srv.stats()["requests"] == 6


@pytest.mark.parametrize("name", NAMES)
def test_keep_alive_pipelining_404_and_400(docroot, name):
    with servers.start(name, docroot) as srv:
        with connect(srv) as s, s.makefile("rb") as f:
            for _ in range(50):                       # keep-alive
                s.sendall(req())
                assert read_response(f)[2] == BODY
            s.sendall(req("/sub/small.txt") * 20 + req("/nope") + req())   # pipelined
            got = [read_response(f) for _ in range(22)]
            assert [g[0] for g in got] == [200] * 20 + [404, 200]
            assert got[0][2] == SMALL and got[-1][2] == BODY
        with connect(srv) as bad, bad.makefile("rb") as f:
            bad.sendall(b"\x16\x03\x01 not HTTP\r\n\r\n")
            status, headers, _ = read_response(f)
            assert status == 400 and headers["connection"] == "close"
            assert f.read() == b""
        with connect(srv) as s, s.makefile("rb") as f:   # still serving
            s.sendall(req())
            assert read_response(f)[2] == BODY
        assert wait_for(lambda: srv.stats()["connections_open"] == 0)
        stats = srv.stats()
        assert stats["requests"] == 50 + 22 + 1
        assert stats["errors"] == {"400": 1, "404": 1}
        assert stats["server"] == name and stats["backend"] == "coro"


@pytest.mark.parametrize("name", NAMES)
def test_stop_with_connections_open_closes_them_all(docroot, name):
    srv = servers.start(name, docroot, threads=8) if name == "knot-c-async" else \
        servers.start(name, docroot)
    held = []
    try:
        held.append(connect(srv))                     # silent
        partial = connect(srv)
        partial.sendall(b"GET /file8k HTTP/1.1\r\n")  # mid-request
        held.append(partial)
        for _ in range(3):
            s = connect(srv)
            s.sendall(req())
            assert read_response(s.makefile("rb"))[2] == BODY
            held.append(s)
        assert wait_for(lambda: srv.stats()["connections_open"] == 5)
        t0 = time.monotonic()
        final = srv.stop()
        assert time.monotonic() - t0 < 5
        assert final["connections_open"] == 0 and final["requests"] == 3
        assert final["client_aborts"] == 0 and final["kernel_threads"] >= 1
        for s in held:
            s.settimeout(5)
            assert s.recv(100) == b""                 # EOF, not a hang
        with pytest.raises(OSError):
            socket.create_connection(srv.address[:2], timeout=2).close()
    finally:
        srv.stop()
        for s in held:
            s.close()


@pytest.mark.parametrize("name", NAMES)
def test_five_hundred_connections_at_once(docroot, name):
    n = 500
    kwargs = {"threads": n} if name == "knot-c-async" else {}
    with servers.start(name, docroot, **kwargs) as srv:
        socks = [connect(srv) for _ in range(n)]
        files = [s.makefile("rb") for s in socks]
        try:
            errors = []

            def client(i):
                try:
                    for _ in range(3):
                        socks[i].sendall(req())
                        assert read_response(files[i])[2] == BODY
                except Exception as e:  # noqa: BLE001 - reported below
                    errors.append(e)

            threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(GUARD)
            assert errors == []
            assert wait_for(lambda: srv.stats()["requests"] == 3 * n)
            assert srv.stats()["connections_open"] == n
        finally:
            for f in files:
                f.close()
            for s in socks:
                s.close()
        assert wait_for(lambda: srv.stats()["connections_open"] == 0)
        assert srv.stats()["client_aborts"] == 0


def test_two_servers_run_side_by_side_in_one_process(docroot):
    with knot_async.start(docroot, policy="C", threads=4) as a, \
            knot_async.start(docroot, policy="A") as b:
        for srv in (a, b):
            with connect(srv) as s, s.makefile("rb") as f:
                s.sendall(req())
                assert read_response(f)[2] == BODY
