"""Cooperative sockets: echo at scale, timeouts, sendall, accept baton, close and fd reuse.

All traffic goes to 127.0.0.1 or through socketpairs. Every socket that a broken runtime could
leave waiting forever gets a timeout, so a failure is a TimeoutError, not a hung test run.
"""

from __future__ import annotations

import errno
import gc
import hashlib
import os
import socket as stdsocket
import time
import warnings

import pytest

from support import settle
from whyevents import threads
from whyevents.threads import socket, threadpool

pytestmark = pytest.mark.runtime

GUARD = 5.0     # seconds: a timeout that only a broken runtime reaches


def _listener(backlog: int = 128) -> socket.socket:
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(backlog)
    return srv


# ---------------------------------------------------------------------------------------------
# Drop-in
# ---------------------------------------------------------------------------------------------

def test_module_is_a_drop_in_for_stdlib_socket():
    missing = [name for name in stdsocket.__all__ if not hasattr(socket, name)]
    assert missing == []
    assert socket.timeout is TimeoutError and socket.error is OSError
    assert socket._GLOBAL_DEFAULT_TIMEOUT is stdsocket._GLOBAL_DEFAULT_TIMEOUT
    with socket.socket() as s:
        assert isinstance(s, stdsocket.socket) and isinstance(s, socket.SocketType)
        assert s.type == socket.SOCK_STREAM and s.family == socket.AF_INET
        # underneath, the descriptor never blocks; the user-visible timeout is the stdlib's
        assert os.get_blocking(s.fileno()) is False
        assert s.gettimeout() is None and s.getblocking() is True


def test_timeout_api_mirrors_stdlib():
    with socket.socket() as ours, stdsocket.socket() as theirs:
        for value in (None, 0, 0.0, 2, 1.5):
            ours.settimeout(value)
            theirs.settimeout(value)
            assert (ours.gettimeout(), ours.getblocking(), ours.timeout) == \
                (theirs.gettimeout(), theirs.getblocking(), theirs.timeout)
        for flag in (False, True):
            ours.setblocking(flag)
            theirs.setblocking(flag)
            assert (ours.gettimeout(), ours.getblocking()) == \
                (theirs.gettimeout(), theirs.getblocking())
        for bad, exc in ((-1, ValueError), (float("nan"), ValueError), ("1", TypeError)):
            with pytest.raises(exc):
                theirs.settimeout(bad)
            with pytest.raises(exc):
                ours.settimeout(bad)
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(3.0)
    try:
        with socket.socket() as s:
            assert s.gettimeout() == 3.0
    finally:
        socket.setdefaulttimeout(old)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK) as s:
        assert s.gettimeout() == 0.0


# ---------------------------------------------------------------------------------------------
# Echo at scale
# ---------------------------------------------------------------------------------------------

def test_echo_200_clients(run):
    clients, rounds = 200, 5

    def main():
        srv = _listener(backlog=clients)
        addr = srv.getsockname()
        served = []

        def handle(conn):
            with conn:
                conn.settimeout(GUARD)
                n = 0
                while data := conn.recv(4096):
                    conn.sendall(data)
                    n += len(data)
                served.append(n)

        def acceptor():
            for _ in range(clients):
                conn, _ = srv.accept()
                threads.spawn(handle, conn)

        def client(i):
            with socket.create_connection(addr, timeout=GUARD) as c:
                got = []
                for r in range(rounds):
                    msg = f"client {i} round {r}\n".encode()
                    c.sendall(msg)
                    buf = b""
                    while len(buf) < len(msg):
                        buf += c.recv(len(msg) - len(buf))
                    got.append(buf == msg)
                    threads.sleep(0)
                return all(got)

        a = threads.spawn(acceptor)
        cs = [threads.spawn(client, i) for i in range(clients)]
        ok = [t.get() for t in cs]
        a.join()
        while len(served) < clients:
            threads.sleep(0.001)
        srv.close()
        return ok, served

    ok, served = run(main)
    assert ok == [True] * clients
    assert len(served) == clients and all(n > 0 for n in served)


def test_makefile_readline_and_write(run):
    def main():
        a, b = socket.socketpair()
        a.settimeout(GUARD)

        def writer():
            with b.makefile("wb") as f:
                for i in range(100):
                    f.write(f"line {i}\n".encode())
                    if i % 10 == 0:
                        f.flush()
                        threads.sleep(0.001)    # make the reader park mid-line
            b.close()

        threads.spawn(writer)
        with a.makefile("r", encoding="ascii") as f:
            first = f.readline()
            rest = f.readlines()
        a.close()
        return first, rest

    first, rest = run(main)
    assert first == "line 0\n"
    assert rest == [f"line {i}\n" for i in range(1, 100)]


# ---------------------------------------------------------------------------------------------
# Timeouts
# ---------------------------------------------------------------------------------------------

def test_recv_timeout_raises_then_socket_still_works(run):
    """The second recv waits with GUARD, not the 0.05 s of the first: on a loaded machine a
    0.01 s sleep and a 0.05 s timeout can both pass before the process runs again, and then
    expire in one pass (the sleeper first, the recv timed out before the data is sent)."""
    def main():
        a, b = socket.socketpair()
        with a, b:                          # closed even when an assertion fails
            a.settimeout(0.05)
            t0 = time.monotonic()
            with pytest.raises(TimeoutError, match="timed out"):
                a.recv(10)
            waited = time.monotonic() - t0

            def later():
                threads.sleep(0.01)
                b.sendall(b"after")

            threads.spawn(later)
            a.settimeout(GUARD)
            got = a.recv(10)
            a.setblocking(False)
            with pytest.raises(BlockingIOError):
                a.recv(10)                  # non-blocking: never parks
        return waited, got

    waited, got = run(main)
    assert waited >= 0.04
    assert got == b"after"


def test_sendall_timeout_covers_the_whole_call(run):
    def main():
        a, b = socket.socketpair()
        a.settimeout(0.1)
        with pytest.raises(TimeoutError):
            a.sendall(b"x" * (64 << 20))    # nobody reads: the buffers fill, then time runs out
        a.close()
        b.close()

    run(main)


def test_data_and_deadline_due_in_the_same_pass_is_data(run):
    """A thread woken by I/O in the pass where its deadline also passes gets the data, once.

    (Regression: the hub used to schedule it twice, as woken and as timed out.)
    """
    def main():
        a, b = socket.socketpair()
        a.settimeout(0.01)

        def reader():
            data = a.recv(1)
            slept = time.monotonic()
            threads.sleep(0.2)              # a second resume would cut this short
            return data, time.monotonic() - slept

        t = threads.spawn(reader)
        settle()
        b.send(b"x")
        time.sleep(0.03)                    # hog the hub: the event and the deadline are both due
        threads.sleep(0)
        t.join()
        a.close()
        b.close()
        return t.get()

    data, slept = run(main)
    assert data == b"x"
    assert slept >= 0.19


def test_process_idle_while_recv_waits(run):
    def main():
        a, b = socket.socketpair()
        a.settimeout(0.5)
        c0, w0 = time.process_time(), time.monotonic()
        with pytest.raises(TimeoutError):
            a.recv(1)
        cpu, wall = time.process_time() - c0, time.monotonic() - w0
        a.close()
        b.close()
        return cpu, wall

    cpu, wall = run(main)
    assert wall >= 0.49
    assert cpu < 0.05, f"busy while waiting in recv: {cpu:.3f}s CPU in {wall:.3f}s"


# ---------------------------------------------------------------------------------------------
# Bulk data
# ---------------------------------------------------------------------------------------------

def test_sendall_8mib_to_a_slow_reader_arrives_intact(run):
    payload = os.urandom(8 << 20)

    def main():
        a, b = socket.socketpair()
        a.settimeout(GUARD)
        b.settimeout(GUARD)

        def slow_reader():
            h = hashlib.sha256()
            n = chunks = 0
            while data := b.recv(65536):
                h.update(data)
                n += len(data)
                chunks += 1
                if chunks % 8 == 0:
                    threads.sleep(0.001)
            return n, h.hexdigest()

        r = threads.spawn(slow_reader)
        a.sendall(memoryview(payload))
        a.shutdown(socket.SHUT_WR)
        result = r.get()
        a.close()
        b.close()
        return result

    n, digest = run(main)
    assert n == len(payload)
    assert digest == hashlib.sha256(payload).hexdigest()


def test_sendfile_sends_the_file(run, tmp_path):
    data = os.urandom(3 << 20)
    path = tmp_path / "blob"
    path.write_bytes(data)

    def main():
        a, b = socket.socketpair()
        b.settimeout(GUARD)

        def reader():
            parts = []
            while chunk := b.recv(1 << 16):
                parts.append(chunk)
            return b"".join(parts)

        r = threads.spawn(reader)
        with open(path, "rb") as f:
            sent = a.sendfile(f)
            pos = f.tell()
        a.close()
        got = r.get()
        b.close()
        return sent, pos, got

    sent, pos, got = run(main)
    assert sent == pos == len(data)
    assert got == data


def test_udp_sendto_recvfrom(run):
    def main():
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(GUARD)
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tx.bind(("127.0.0.1", 0))

        def sender():
            threads.sleep(0.01)             # the receiver parks first
            tx.sendto(b"ping", rx.getsockname())

        threads.spawn(sender)
        data, addr = rx.recvfrom(100)
        buf = bytearray(10)
        threads.spawn(tx.sendto, b"pong", 0, rx.getsockname())
        n, addr2 = rx.recvfrom_into(buf)
        result = data, addr == tx.getsockname(), bytes(buf[:n]), addr2 == addr
        rx.close()
        tx.close()
        return result

    assert run(main) == (b"ping", True, b"pong", True)


# ---------------------------------------------------------------------------------------------
# Accept, connect
# ---------------------------------------------------------------------------------------------

def test_twenty_acceptors_share_one_listener(run):
    """Knot-C: 20 threads accept on one socket; 100 queued connections wake all 20 (baton)."""
    nthreads, nconns = 20, 100

    def main():
        srv = _listener(backlog=nconns)
        addr = srv.getsockname()
        busy = [0]
        peak = [0]
        served = []

        def acceptor(i):
            while True:
                conn, _ = srv.accept()
                busy[0] += 1
                peak[0] = max(peak[0], busy[0])
                threads.sleep(0.02)          # "serve" it, then accept again
                conn.sendall(b"ok")
                conn.close()
                served.append(i)
                busy[0] -= 1

        acceptors = [threads.spawn(acceptor, i) for i in range(nthreads)]
        settle()
        assert all(t.state == "parked" for t in acceptors)
        # Queue all connections in the kernel's backlog at once, without letting the hub run:
        # blocking stdlib connects complete against the backlog.
        raw = [stdsocket.create_connection(addr, timeout=GUARD) for _ in range(nconns)]
        clients = [socket.socket(fileno=s.detach()) for s in raw]
        replies = []
        for c in clients:
            c.settimeout(GUARD)
            replies.append(c.recv(2))
            c.close()
        settle()
        parked = sum(t.state == "parked" for t in acceptors)
        for t in acceptors:
            t.kill()
        srv.close()
        return replies, served, peak[0], parked

    replies, served, peak, parked = run(main)
    assert replies == [b"ok"] * nconns
    assert len(served) == nconns
    assert peak == nthreads, "queued connections left acceptors asleep (baton lost)"
    assert set(served) == set(range(nthreads))
    assert parked == nthreads


def test_accept_returns_our_socket_class(run):
    def main():
        srv = _listener()
        srv.settimeout(GUARD)
        threads.spawn(lambda: socket.create_connection(srv.getsockname()).close())
        conn, addr = srv.accept()
        result = type(conn), addr[0], conn.gettimeout(), os.get_blocking(conn.fileno())
        conn.close()
        srv.close()
        return result

    assert run(main) == (socket.socket, "127.0.0.1", None, False)


def test_connect_to_a_closed_port_is_refused(run):
    def main():
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()                       # bound, never listening, now closed
        with socket.socket() as s, pytest.raises(ConnectionRefusedError):
            s.connect(("127.0.0.1", port))
        with socket.socket() as s:
            code = s.connect_ex(("127.0.0.1", port))
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=GUARD)
        return code

    assert run(main) == errno.ECONNREFUSED


def test_getaddrinfo_numeric_at_once_names_in_the_pool(run):
    def main():
        before = threadpool.stats()["submitted"]
        numeric = socket.getaddrinfo("127.0.0.1", 80, socket.AF_INET, socket.SOCK_STREAM)
        after_numeric = threadpool.stats()["submitted"]
        named = socket.getaddrinfo("localhost", 80, socket.AF_INET, socket.SOCK_STREAM)
        after_named = threadpool.stats()["submitted"]
        return numeric, named, after_numeric - before, after_named - after_numeric

    numeric, named, n1, n2 = run(main)
    assert numeric == stdsocket.getaddrinfo("127.0.0.1", 80, socket.AF_INET, socket.SOCK_STREAM)
    assert named == stdsocket.getaddrinfo("localhost", 80, socket.AF_INET, socket.SOCK_STREAM)
    assert (n1, n2) == (0, 1)


# ---------------------------------------------------------------------------------------------
# Close, descriptor reuse, dup, detach
# ---------------------------------------------------------------------------------------------

def test_close_while_another_thread_waits_in_recv(run):
    def main():
        a, b = socket.socketpair()

        def reader():
            a.settimeout(GUARD)
            try:
                a.recv(10)
            except OSError as e:
                return e.errno
            return "no error"

        r = threads.spawn(reader)
        settle()
        assert r.state == "parked"
        a.close()
        code = r.get()
        # the hub keeps running: other threads still sleep, spawn and finish
        t = threads.spawn(lambda: threads.sleep(0.01) or "alive")
        b.close()
        return code, t.get()

    assert run(main) == (errno.EBADF, "alive")


def test_recycled_descriptor_number_has_no_stale_waiter(run):
    def main():
        a, b = socket.socketpair()
        old_fd = a.fileno()
        a.settimeout(GUARD)
        r = threads.spawn(a.recv, 1)
        settle()                            # registered with the poller, parked
        a.close()
        r.join(GUARD)
        # the lowest free number is reused by the next descriptor
        c, d = socket.socketpair()
        assert c.fileno() == old_fd
        c.settimeout(GUARD)
        threads.spawn(lambda: (threads.sleep(0.01), d.sendall(b"new")))
        got = c.recv(3)
        for s in (b, c, d):
            s.close()
        return type(r.exception), got

    exc_type, got = run(main)
    assert got == b"new"
    assert exc_type is not None and issubclass(exc_type, OSError)


def test_socket_dropped_without_close_forgets_its_descriptor(run):
    def main():
        a, b = socket.socketpair()
        old = a.fileno(), b.fileno()
        bfd = b.fileno()

        def poke():
            threads.sleep(0.01)
            os.write(bfd, b"x")

        threads.spawn(poke)
        assert a.recv(1) == b"x"            # a is now known to the poller
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            del a, b
            gc.collect()
        c, d = socket.socketpair()
        assert (c.fileno(), d.fileno()) == old
        c.settimeout(GUARD)
        threads.spawn(lambda: (threads.sleep(0.01), d.sendall(b"y")))
        got = c.recv(1)
        c.close()
        d.close()
        return got

    assert run(main) == b"y"


def test_dup_and_detach(run):
    def main():
        a, b = socket.socketpair()
        a.settimeout(1.5)
        a2 = a.dup()
        assert type(a2) is socket.socket and a2.gettimeout() == 1.5
        threads.spawn(lambda: (threads.sleep(0.01), b.sendall(b"dup")))
        got = a2.recv(3)
        a2.close()
        a.settimeout(None)
        fd = a.detach()
        blocking_after_detach = os.get_blocking(fd)
        os.close(fd)
        b.close()
        return got, blocking_after_detach

    assert run(main) == (b"dup", True)


def test_kill_a_thread_blocked_in_recv(run):
    def main():
        a, b = socket.socketpair()
        r = threads.spawn(a.recv, 1)
        settle()
        r.kill()
        r.join()
        # the socket is still usable by another thread
        threads.spawn(lambda: (threads.sleep(0.01), b.sendall(b"z")))
        a.settimeout(GUARD)
        got = a.recv(1)
        a.close()
        b.close()
        return r.is_alive(), got

    assert run(main) == (False, b"z")


def test_eof_that_comes_with_the_last_data_is_read_after_a_short_read(run):
    """A short read makes the next ``recv`` wait for readability first; a FIN that arrived in
    the same edge as the data must still be read at once (as EOF), not after the timeout."""

    def main():
        a, b = socket.socketpair()
        b.settimeout(GUARD)
        got = []

        def reader():
            while data := b.recv(65536):
                got.append(data)
            return b"".join(got)

        r = threads.spawn(reader)
        a.sendall(b"x" * 1000)
        threads.sleep(0)                 # the reader reads, then waits (a short read)
        a.sendall(b"y" * 1000)
        a.shutdown(socket.SHUT_WR)       # data and FIN reach the reader in one edge
        data = r.get()                   # a hang would raise TimeoutError here, after GUARD
        a.close()
        b.close()
        return data

    assert run(main) == b"x" * 1000 + b"y" * 1000
