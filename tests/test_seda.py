"""The SEDA stage framework and the Haboob-like staged server: behaviour, not timing.

Stage: order within a one-thread stage, bounded queues (admission control), batching and the
counters, real concurrency with several threads, errors, stop. Server: HTTP answers, keep-alive,
pipelining in order across stages, errors, timeouts, clients that vanish, the file-I/O stage on
a miss, visible queues, admission control (503), load from ab/wrk, 1,000 connections, stop.
All traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import re
import shutil
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

from whyevents.seda import QueueFull, Stage, StageStopped, start
from whyevents.serving import raise_fd_limit

BODY = bytes((i * 7 + 13) % 251 for i in range(8192))      # the 8 KiB file
SMALL = b"small file\n"


def wait_until(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


# ---------------------------------------------------------------------------------------------
# Stage
# ---------------------------------------------------------------------------------------------


def test_single_thread_stage_sees_events_in_enqueue_order() -> None:
    seen: list[int] = []
    stage = Stage("order", seen.extend, threads=1, queue_capacity=10_000, batch_size=7)
    for i in range(5000):
        assert stage.enqueue(i)
    assert wait_until(lambda: len(seen) == 5000)
    stats = stage.stop()
    assert seen == list(range(5000))
    assert stats["events"] == 5000 and stats["enqueued"] == 5000
    assert stats["batches"] >= 5000 // 7     # never more than batch_size per call


def test_bounded_queue_rejects_at_capacity_and_counts() -> None:
    entered, release = threading.Event(), threading.Event()

    def handler(events):
        entered.set()
        release.wait(10)

    stage = Stage("bounded", handler, threads=1, queue_capacity=3, batch_size=1)
    try:
        assert stage.enqueue("first")
        assert entered.wait(5)                # the worker holds "first"; the queue is empty
        assert [stage.enqueue(i) for i in range(3)] == [True, True, True]
        assert stage.enqueue("over") is False
        with pytest.raises(QueueFull, match="bounded.*full"):
            stage.put("over again")
        assert stage.enqueue_many(["a", "b"]) == 0
        stats = stage.stats()
        assert stats["queue_length"] == 3 and stats["max_queue_length"] == 3
        assert stats["rejected"] == 4 and stats["enqueued"] == 4
    finally:
        release.set()
        stage.stop()


def test_enqueue_many_admits_a_prefix() -> None:
    release = threading.Event()
    got: list = []
    stage = Stage("prefix", lambda ev: (release.wait(10), got.extend(ev)), threads=1,
                  queue_capacity=4, start=False)
    assert stage.enqueue_many(range(10)) == 4
    assert stage.stats()["rejected"] == 6
    stage.start()
    release.set()
    assert wait_until(lambda: len(got) == 4)
    stage.stop()
    assert got == [0, 1, 2, 3]


def test_batches_and_counters() -> None:
    entered, release = threading.Event(), threading.Event()
    batches: list[list[int]] = []

    def handler(events):
        batches.append(list(events))
        entered.set()
        release.wait(10)

    stage = Stage("batch", handler, threads=1, queue_capacity=100, batch_size=4)
    stage.enqueue(0)
    assert entered.wait(5)
    for i in range(1, 11):
        stage.enqueue(i)
    assert stage.queue_length == 10
    release.set()
    assert wait_until(lambda: sum(map(len, batches)) == 11)
    stats = stage.stop()
    assert batches == [[0], [1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]
    assert (stats["events"], stats["batches"], stats["max_queue_length"]) == (11, 4, 10)
    assert stats["busy_s"] > 0
    assert stats["threads"] == 1 and stats["errors"] == 0


def test_several_threads_run_handlers_concurrently() -> None:
    # Two events that each wait for the other: only two truly concurrent threads finish.
    barrier = threading.Barrier(2, timeout=5)
    done: list = []
    stage = Stage("pool", lambda ev: (barrier.wait(), done.append(ev)), threads=2,
                  batch_size=1)
    stage.enqueue("a")
    stage.enqueue("b")
    assert wait_until(lambda: len(done) == 2)
    assert stage.stop()["errors"] == 0


def test_handler_error_is_counted_and_the_stage_carries_on() -> None:
    reported: list = []
    got: list = []

    def handler(events):
        if "bad" in events:
            raise RuntimeError("boom")
        got.extend(events)

    stage = Stage("errors", handler, batch_size=1, on_error=lambda ev, exc: reported.append(exc))
    stage.enqueue("bad")
    stage.enqueue("good")
    assert wait_until(lambda: got == ["good"])
    stats = stage.stop()
    assert stats["errors"] == 1 and isinstance(reported[0], RuntimeError)


def test_stop_drains_joins_threads_and_refuses_more() -> None:
    got: list = []
    stage = Stage("stop", lambda ev: (time.sleep(0.001), got.extend(ev)), threads=3,
                  batch_size=2)
    for i in range(50):
        stage.enqueue(i)
    stats = stage.stop()                      # drain=True: everything admitted is handled
    assert sorted(got) == list(range(50))
    assert stats["threads_alive"] == 0 and stats["queue_length"] == 0
    assert stage.enqueue("late") is False
    with pytest.raises(StageStopped):
        stage.put("late")
    assert stage.stop()["threads_alive"] == 0   # twice is fine


def test_stop_without_drain_drops_the_queue() -> None:
    entered, release = threading.Event(), threading.Event()
    stage = Stage("drop", lambda ev: (entered.set(), release.wait(10)), batch_size=1)
    stage.enqueue(0)
    assert entered.wait(5)
    for i in range(5):
        stage.enqueue(i)
    threading.Timer(0.05, release.set).start()
    stats = stage.stop(drain=False)
    assert stats["dropped"] == 5 and stats["events"] == 1 and stats["threads_alive"] == 0


def test_stage_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError, match="threads"):
        Stage("x", list, threads=0)
    with pytest.raises(ValueError, match="queue_capacity"):
        Stage("x", list, queue_capacity=0)
    with pytest.raises(ValueError, match="batch_size"):
        Stage("x", list, batch_size=True)
    with pytest.raises(ValueError, match="handler"):
        Stage("x", None)


# ---------------------------------------------------------------------------------------------
# The server: helpers
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def docroot(tmp_path: Path) -> Path:
    root = tmp_path / "www"
    root.mkdir()
    (root / "index.html").write_bytes(BODY)
    (root / "small.txt").write_bytes(SMALL)
    (root / "sub").mkdir()
    (root / "sub" / "a.html").write_bytes(b"A" * 3000)
    (tmp_path / "secret.txt").write_bytes(b"TOP-SECRET-CONTENT")
    (root / "link").symlink_to(tmp_path / "secret.txt")
    return root


@pytest.fixture
def server(docroot: Path):
    handle = start(docroot, threads=2)
    yield handle
    handle.stop()


def connect(handle, timeout: float = 10.0) -> socket.socket:
    sock = socket.create_connection(handle.address, timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_response(f, head: bool = False) -> tuple[int, dict[bytes, bytes], bytes] | None:
    """One response from a buffered socket file; None at EOF."""
    line = f.readline()
    if not line:
        return None
    status = int(line.split()[1])
    headers: dict[bytes, bytes] = {}
    while True:
        line = f.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get(b"content-length", b"0"))
    body = b"" if head else f.read(length)
    return status, headers, body


def get(handle, target: str, method: str = "GET", extra: str = "") -> tuple[int, dict, bytes]:
    with connect(handle) as sock, sock.makefile("rb") as f:
        sock.sendall(f"{method} {target} HTTP/1.1\r\nHost: t\r\n{extra}\r\n".encode())
        response = read_response(f, head=method == "HEAD")
        assert response is not None
        return response


def req(target: str, method: str = "GET", extra: str = "") -> bytes:
    return f"{method} {target} HTTP/1.1\r\nHost: t\r\n{extra}\r\n".encode()


def is_closed(sock: socket.socket, timeout: float = 5.0) -> bool:
    """True if the peer closes (EOF or reset) within ``timeout`` without sending anything."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


# ---------------------------------------------------------------------------------------------
# The server: HTTP behaviour
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("poller", ["epoll", "poll"])
def test_get_returns_body_and_headers(docroot: Path, poller: str) -> None:
    with start(docroot, poller=poller) as handle:
        status, headers, body = get(handle, "/index.html")
        assert status == 200 and body == BODY
        assert headers[b"content-length"] == b"8192"
        assert headers[b"content-type"].startswith(b"text/html")
        assert headers[b"connection"] == b"keep-alive"
        assert b"date" in headers and b"etag" in headers
        assert handle.stats()["poller"] == poller


def test_head_has_headers_and_no_body(server) -> None:
    with connect(server) as sock, sock.makefile("rb") as f:
        sock.sendall(req("/index.html", "HEAD") + req("/small.txt"))
        status, headers, body = read_response(f, head=True)
        assert status == 200 and headers[b"content-length"] == b"8192" and body == b""
        # If the HEAD answer had carried a body, this would be garbage instead of a response.
        assert read_response(f)[2] == SMALL


def test_missing_file_is_404_and_the_connection_stays_open(server) -> None:
    with connect(server) as sock, sock.makefile("rb") as f:
        sock.sendall(req("/nope.html"))
        assert read_response(f)[0] == 404
        sock.sendall(req("/small.txt"))
        assert read_response(f)[:3:2] == (200, SMALL)
    assert server.stats()["errors"] == {"404": 1}


def test_keep_alive_serves_many_requests_on_one_connection(server) -> None:
    with connect(server) as sock, sock.makefile("rb") as f:
        for i in range(6):
            sock.sendall(req("/index.html" if i % 2 else "/small.txt"))
            status, _, body = read_response(f)
            assert status == 200 and body == (BODY if i % 2 else SMALL)
    stats = server.stats()
    assert stats["connections_total"] == 1 and stats["requests"] == 6


def test_pipelined_requests_are_answered_in_order_across_hits_and_misses(server) -> None:
    get(server, "/small.txt")                # warm: this one will be a PageCache hit
    targets = ["/sub/a.html", "/small.txt", "/missing", "/index.html", "/small.txt"]
    with connect(server) as sock, sock.makefile("rb") as f:
        sock.sendall(b"".join(req(t) for t in targets))     # one send
        answers = [read_response(f) for _ in targets]
    assert [a[0] for a in answers] == [200, 200, 404, 200, 200]
    assert [a[2] for a in answers] == [b"A" * 3000, SMALL, answers[2][2], BODY, SMALL]


def test_garbage_gets_400_closes_and_the_server_keeps_serving(server) -> None:
    with connect(server) as sock, sock.makefile("rb") as f:
        sock.sendall(b"\x16\x03\x01 this is not HTTP\r\n\r\n")
        status, headers, _ = read_response(f)
        assert status == 400 and headers[b"connection"] == b"close"
        assert read_response(f) is None                      # closed after the error
    assert get(server, "/small.txt")[2] == SMALL
    assert server.stats()["errors"].get("400") == 1


def test_request_after_bad_bytes_is_not_served(server) -> None:
    with connect(server) as sock, sock.makefile("rb") as f:
        sock.sendall(req("/small.txt") + b"BROKEN\r\n\r\n" + req("/index.html"))
        assert read_response(f)[:3:2] == (200, SMALL)
        assert read_response(f)[0] == 400
        assert read_response(f) is None


def test_connection_close_is_honoured(server) -> None:
    with connect(server) as sock, sock.makefile("rb") as f:
        sock.sendall(req("/small.txt", extra="Connection: close\r\n"))
        status, headers, body = read_response(f)
        assert (status, body, headers[b"connection"]) == (200, SMALL, b"close")
        assert read_response(f) is None
    assert wait_until(lambda: server.stats()["connections_open"] == 0)


def test_half_closed_client_still_gets_its_answers(server) -> None:
    with connect(server) as sock, sock.makefile("rb") as f:
        sock.sendall(req("/index.html") + req("/small.txt"))
        sock.shutdown(socket.SHUT_WR)                     # EOF right after the requests
        assert read_response(f)[2] == BODY
        assert read_response(f)[2] == SMALL
        assert read_response(f) is None                   # then the server closes
    assert wait_until(lambda: server.stats()["connections_open"] == 0)
    assert server.stats()["clients_vanished"] == 0


def test_http10_without_keep_alive_closes(server) -> None:
    with connect(server) as sock, sock.makefile("rb") as f:
        sock.sendall(b"GET /small.txt HTTP/1.0\r\n\r\n")
        assert read_response(f)[2] == SMALL
        assert read_response(f) is None


@pytest.mark.parametrize("target", [
    "/../secret.txt", "/%2e%2e/secret.txt", "/sub/../../secret.txt", "/..%2fsecret.txt",
    "/sub/%2e%2e/%2e%2e/secret.txt", "/link", "//../secret.txt", "/%2e%2e%5csecret.txt",
])
def test_path_traversal_never_leaks(server, target: str) -> None:
    status, _, body = get(server, target)
    assert status in (400, 403, 404)
    assert b"TOP-SECRET" not in body


def test_client_vanishing_mid_request_does_not_disturb_others(server) -> None:
    with connect(server) as steady, steady.makefile("rb") as f:
        steady.sendall(req("/small.txt"))
        assert read_response(f)[2] == SMALL
        for i in range(20):
            gone = connect(server)
            gone.sendall(b"GET /index.html HTTP/1.1\r\nHo")     # half a request
            if i % 2:   # reset (RST) instead of a polite FIN
                gone.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            gone.close()
        for _ in range(10):   # ask and leave without reading the answer
            rude = connect(server)
            rude.sendall(req("/index.html") * 20)
            rude.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            rude.close()
        steady.sendall(req("/index.html"))
        assert read_response(f)[2] == BODY
    assert wait_until(lambda: server.stats()["clients_vanished"] >= 20)
    assert wait_until(lambda: server.stats()["connections_open"] == 0)
    assert get(server, "/index.html")[2] == BODY
    assert set(server.stats()["errors"]) <= {"404"}        # no 4xx/5xx for the vanished


def test_slow_partial_request_gets_408_and_idle_keep_alive_is_closed(docroot: Path) -> None:
    with start(docroot, request_timeout=0.3) as handle:
        with connect(handle) as slow, slow.makefile("rb") as f:
            slow.sendall(b"GET /small.txt HTTP/1.1\r\nHost: t\r\n")   # no blank line, ever
            status, headers, _ = read_response(f)
            assert status == 408 and headers[b"connection"] == b"close"
            assert read_response(f) is None
        with connect(handle) as idle, idle.makefile("rb") as f:
            idle.sendall(req("/small.txt"))
            assert read_response(f)[2] == SMALL
            assert is_closed(idle, timeout=5.0)               # closed silently, no 408
        stats = handle.stats()
        assert stats["timeouts_408"] == 1 and stats["idle_closed"] == 1
        assert stats["errors"] == {"408": 1}


def test_cache_miss_goes_through_the_file_io_stage(server) -> None:
    before = server.stats()["stages"]["CacheMiss"]["events"]
    assert get(server, "/index.html")[2] == BODY
    stats = server.stats()
    assert stats["stages"]["CacheMiss"]["events"] == before + 1
    assert stats["cache"]["misses"] >= 1 and stats["cache"]["entries"] == 1
    assert get(server, "/index.html")[2] == BODY              # now a hit
    stats = server.stats()
    assert stats["stages"]["CacheMiss"]["events"] == before + 1
    assert stats["cache"]["hits"] >= 1


def test_stats_show_every_stage_queue(server) -> None:
    get(server, "/index.html")
    stats = server.stats()
    assert list(stats["stages"]) == ["aSocket", "HttpParse", "PageCache", "CacheMiss",
                                     "HttpSend"]
    for name, st in stats["stages"].items():
        assert {"queue_length", "threads", "events"} <= set(st), name
    for name in ("HttpParse", "PageCache", "HttpSend"):
        st = stats["stages"][name]
        assert st["events"] >= 1 and st["max_queue_length"] >= 1 and st["threads"] == 2
    assert stats["stages"]["CacheMiss"]["threads"] == 4
    assert stats["queue_lengths"]["PageCache"] == 0


def test_full_queue_is_admission_control_503(docroot: Path) -> None:
    # PageCache admits one event: of 20 pipelined requests, parsed in one batch, the first is
    # served and the second is refused with 503, after which the connection closes.
    with start(docroot, queue_capacity=1) as handle:
        with connect(handle) as sock, sock.makefile("rb") as f:
            sock.sendall(req("/small.txt") * 20)
            assert read_response(f)[:3:2] == (200, SMALL)
            status, headers, _ = read_response(f)
            assert status == 503 and headers[b"connection"] == b"close"
            assert read_response(f) is None
        stats = handle.stats()
        assert stats["rejected_503"] >= 1 and stats["stages"]["PageCache"]["rejected"] >= 19
        assert get(handle, "/small.txt")[2] == SMALL


def test_stop_returns_final_stats_and_frees_everything(docroot: Path) -> None:
    handle = start(docroot, threads=3)
    idle = connect(handle)
    for _ in range(3):
        get(handle, "/index.html")
    final = handle.stop()
    assert final["requests"] == 3 and final["bytes_sent"] > 3 * 8192
    assert final["connections_open"] == 0
    assert all(st.get("threads_alive", 0) == 0 for st in final["stages"].values())
    assert is_closed(idle, timeout=5.0)
    idle.close()
    with pytest.raises(OSError):
        socket.create_connection(handle.address, timeout=2).close()


def test_start_validates_parameters(docroot: Path, tmp_path: Path) -> None:
    bad = [
        (dict(backend="green"), "backend"),
        (dict(scheduler="fifo"), "scheduler"),
        (dict(poller="select"), "poller"),
        (dict(threads=0), "threads"),
        (dict(file_threads=-1), "file_threads"),
        (dict(queue_capacity=0), "queue_capacity"),
        (dict(cache_bytes=0), "cache_bytes"),
        (dict(request_timeout=0), "request_timeout"),
        (dict(backlog=0), "backlog"),
        (dict(port=70000), "port"),
        (dict(batch_size=0), "batch_size"),
    ]
    for kwargs, name in bad:
        with pytest.raises(ValueError, match=name):
            start(docroot, **kwargs)
    with pytest.raises(ValueError, match="root"):
        start(tmp_path / "does-not-exist")


# ---------------------------------------------------------------------------------------------
# Load
# ---------------------------------------------------------------------------------------------


def test_one_thousand_concurrent_keep_alive_connections(docroot: Path) -> None:
    raise_fd_limit()
    n = 1000
    with start(docroot, threads=2) as handle:
        socks = [connect(handle, timeout=20) for _ in range(n)]
        files = [s.makefile("rb") for s in socks]
        try:
            for _round in range(2):
                for s in socks:
                    s.sendall(req("/index.html"))
                for f in files:
                    status, _, body = read_response(f)
                    assert status == 200 and body == BODY
            stats = handle.stats()
            assert stats["connections_total"] == n and stats["connections_open"] == n
            assert stats["requests"] == 2 * n
        finally:
            for f in files:
                f.close()
            for s in socks:
                s.close()


@pytest.mark.skipif(shutil.which("ab") is None, reason="ab (apache2-utils) not installed")
def test_ab_keep_alive_has_no_failures(server) -> None:
    url = f"http://127.0.0.1:{server.address[1]}/index.html"
    out = subprocess.run(["ab", "-q", "-k", "-n", "2000", "-c", "20", url],
                         capture_output=True, text=True, timeout=60).stdout
    assert re.search(r"Complete requests:\s+2000\b", out), out
    assert re.search(r"Failed requests:\s+0\b", out), out
    assert "Non-2xx" not in out, out
    assert re.search(r"Keep-Alive requests:\s+2000\b", out), out


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk not installed")
def test_wrk_has_no_socket_errors(server) -> None:
    url = f"http://127.0.0.1:{server.address[1]}/index.html"
    out = subprocess.run(["wrk", "-t1", "-c50", "-d2s", url], capture_output=True, text=True,
                         timeout=60).stdout
    assert "Socket errors" not in out, out
    assert "Non-2xx" not in out, out
    done = int(re.search(r"(\d+) requests in", out).group(1))
    assert done > 0
    assert wait_until(lambda: server.stats()["requests"] >= done)


def test_partial_writes_wait_for_writability_without_blocking_others(docroot: Path) -> None:
    big = bytes(range(256)) * (8 * 1024)                        # 2 MiB: more than a socket takes
    (docroot / "big.bin").write_bytes(big)
    with start(docroot, threads=2) as handle:
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.settimeout(10)
        slow.connect(handle.address)
        slow.sendall(req("/big.bin") * 3)
        # While the slow client reads nothing, HttpSend must not be stuck on its socket.
        for _ in range(5):
            assert get(handle, "/small.txt")[2] == SMALL
        assert wait_until(lambda: handle.stats()["partial_writes"] >= 1)
        with slow.makefile("rb") as f:
            for _ in range(3):
                status, _, body = read_response(f)
                assert status == 200 and body == big
        slow.close()


EMFILE_SERVER = r"""
import json, os, resource, socket, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (48, 48))
from whyevents.seda import start
handle = start(sys.argv[1])
if sys.argv[2] == "hog":
    # Warm the cache, then take every free descriptor but three: accept() itself hits EMFILE.
    with socket.create_connection(handle.address) as s:
        s.sendall(b"GET /small.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        while s.recv(65536):
            pass
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
    if line.strip() == "stats":
        print(json.dumps(handle.stats()), flush=True)
    else:
        break
handle.stop()
"""


@pytest.mark.parametrize("mode", ["reserve", "hog"])
def test_out_of_descriptors_backs_off_and_keeps_serving(docroot: Path, mode: str) -> None:
    # "reserve": aSocket stops accepting while only its reserve of descriptors is left;
    # "hog": the process has no descriptors left, so accept() fails with EMFILE.
    import json
    import sys

    proc = subprocess.Popen([sys.executable, "-c", EMFILE_SERVER, str(docroot), mode],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        n = 80                     # more connections than the server has descriptors
        socks = [socket.create_connection(("127.0.0.1", port), timeout=20) for _ in range(n)]
        for s in socks:
            s.sendall(req("/small.txt", extra="Connection: close\r\n"))
        for s in socks:            # served as closing connections free descriptors
            with s, s.makefile("rb") as f:
                assert read_response(f)[:3:2] == (200, SMALL)
        proc.stdin.write("stats\n")
        proc.stdin.flush()
        stats = json.loads(proc.stdout.readline())
        assert stats["accept_backoffs"] >= 1
        warm = 1 if mode == "hog" else 0
        assert stats["requests"] == n + warm and stats["connections_total"] == n + warm
    finally:
        proc.stdin.close()
        proc.wait(20)


PATCHED_SERVER = r"""
from whyevents.threads import monkey
monkey.patch_all()                 # threading, queue, socket, select are green from here on
import json, sys
from whyevents.seda import start
handle = start(sys.argv[1])
print(handle.address[1], flush=True)
sys.stdin.readline()
print(json.dumps(handle.stats()), flush=True)
print(json.dumps(handle.stop()), flush=True)
"""


def test_stages_run_on_kernel_threads_even_in_a_monkey_patched_process(docroot: Path) -> None:
    import json
    import sys

    proc = subprocess.Popen([sys.executable, "-c", PATCHED_SERVER, str(docroot)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock, \
                sock.makefile("rb") as f:
            for _ in range(3):
                sock.sendall(req("/index.html"))
                assert read_response(f)[2] == BODY
        proc.stdin.write("stop\n")
        proc.stdin.flush()
        running = json.loads(proc.stdout.readline())
        final = json.loads(proc.stdout.readline())
    finally:
        proc.stdin.close()
        proc.wait(20)
    assert final["requests"] == 3 and final["os_threads"] == 1
    # main + aSocket + one thread each for HttpParse, PageCache, HttpSend + 4 for CacheMiss:
    # green threads would not be OS threads.
    assert running["os_threads"] >= 9
