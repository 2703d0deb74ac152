"""The SEDA stage framework and what only the Haboob-like staged server does.

Stage: order within a one-thread stage, bounded queues (admission control), batching and the
counters, real concurrency with several threads, errors, stop. Server: the file-I/O stage on a
miss, visible queues, admission control (503), partial writes that do not block HttpSend,
aSocket's reserve of descriptors, kernel threads in a monkey-patched process. The HTTP behaviour
every server shares (answers, keep-alive, pipelining, bad requests, time-outs, clients that
vanish, stop, argument checks, load tools, 2,000 connections, EMFILE) is tested once for all of
them, SEDA on both pollers included, in ``test_servers_shared.py``. All traffic goes to
127.0.0.1.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from support import wait_for
from support.http import connect, fetch, fetch_all_at_once, read_response, req
from support.trees import Tree
from whyevents.seda import QueueFull, Stage, StageStopped, start

BODY = bytes((i * 7 + 13) % 251 for i in range(8192))      # the 8 KiB file
SMALL = b"small file\n"
DOCROOT = Tree({"index.html": BODY, "small.txt": SMALL})   # the ``docroot`` fixture's


# ---------------------------------------------------------------------------------------------
# Stage
# ---------------------------------------------------------------------------------------------


def test_single_thread_stage_sees_events_in_enqueue_order() -> None:
    seen: list[int] = []
    stage = Stage("order", seen.extend, threads=1, queue_capacity=10_000, batch_size=7)
    for i in range(5000):
        assert stage.enqueue(i)
    assert wait_for(lambda: len(seen) == 5000)
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
    assert wait_for(lambda: len(got) == 4)
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
    assert wait_for(lambda: sum(map(len, batches)) == 11)
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
    assert wait_for(lambda: len(done) == 2)
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
    assert wait_for(lambda: got == ["good"])
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
# The server: what only the staged server does
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def server(docroot: str):
    handle = start(docroot, threads=2)
    yield handle
    handle.stop()


def test_cache_miss_goes_through_the_file_io_stage(server) -> None:
    before = server.stats()["stages"]["CacheMiss"]["events"]
    assert fetch(server, "/index.html").body == BODY
    stats = server.stats()
    assert stats["stages"]["CacheMiss"]["events"] == before + 1
    assert stats["cache"]["misses"] >= 1 and stats["cache"]["entries"] == 1
    assert fetch(server, "/index.html").body == BODY              # now a hit
    stats = server.stats()
    assert stats["stages"]["CacheMiss"]["events"] == before + 1
    assert stats["cache"]["hits"] >= 1


def test_stats_show_every_stage_queue(server) -> None:
    fetch(server, "/index.html")
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


def test_full_queue_is_admission_control_503(docroot: str) -> None:
    # PageCache admits one event: of 20 pipelined requests, parsed in one batch, the first is
    # served and the second is refused with 503, after which the connection closes.
    with start(docroot, queue_capacity=1) as handle:
        with connect(handle) as sock, sock.makefile("rb") as f:
            sock.sendall(req("/small.txt") * 20)
            r = read_response(f)
            assert r.status == 200 and r.body == SMALL
            r = read_response(f)
            assert r.status == 503 and r.headers["connection"] == "close"
            assert f.read() == b""
        stats = handle.stats()
        assert stats["rejected_503"] >= 1 and stats["stages"]["PageCache"]["rejected"] >= 19
        assert fetch(handle, "/small.txt").body == SMALL


def test_partial_writes_wait_for_writability_without_blocking_others(make_docroot) -> None:
    big = bytes(range(256)) * (8 * 1024)                        # 2 MiB: more than a socket takes
    root = make_docroot(Tree({**DOCROOT.files, "big.bin": big}))    # its own: one file more
    with start(root, threads=2) as handle:
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.settimeout(10)
        slow.connect(handle.address)
        slow.sendall(req("/big.bin") * 3)
        # While the slow client reads nothing, HttpSend must not be stuck on its socket.
        for _ in range(5):
            assert fetch(handle, "/small.txt").body == SMALL
        assert wait_for(lambda: handle.stats()["partial_writes"] >= 1)
        with slow.makefile("rb") as f:
            for _ in range(3):
                r = read_response(f)
                assert r.status == 200 and r.body == big
        slow.close()


def test_a_command_from_a_stage_wakes_asocket_after_a_poke_lands_during_its_read(
        docroot: str, monkeypatch) -> None:
    """The wake-up race in aSocket's ``_command``/``_loop``: a stage thread's command that
    arrives while aSocket is consuming the eventfd must not leave the "already poked" flag set
    with nothing left to read, or every later command (here: the close after a
    ``Connection: close`` answer, sent by HttpSend) waits for aSocket's tick. The tick is made
    30 s and the interleaving is forced: the first eventfd read first runs another thread's
    command."""
    from whyevents.seda import haboob

    monkeypatch.setattr(haboob, "_MAX_TICK", 30.0)
    real_read = os.eventfd_read
    forced = threading.Event()

    class Gone:                       # a command on a connection already released: a no-op
        closed = released = True

    with start(docroot, threads=2, request_timeout=None) as handle:
        server = handle.server

        def read(fd):
            if threading.get_ident() == server._loop_ident and not forced.is_set():
                forced.set()
                poke = threading.Thread(target=server._command,
                                        args=(haboob._WANT_WRITE, Gone()))
                poke.start()          # another OS thread, as a stage's would be
                poke.join()
            return real_read(fd)

        monkeypatch.setattr(os, "eventfd_read", read)
        close = req("/small.txt", extra="Connection: close\r\n")
        for _ in range(2):            # the 1st close's poke forces the race; the 2nd must wake
            with connect(handle) as s:
                s.sendall(close)
                f = s.makefile("rb")
                r = read_response(f)
                assert r.status == 200 and r.body == SMALL
                assert f.read() == b""      # the close, well before the 30 s tick (GUARD 10 s)
        assert forced.is_set()
        monkeypatch.setattr(os, "eventfd_read", real_read)


RESERVE_SERVER = r"""
import json, resource, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (48, 48))
from whyevents.seda import start
handle = start(sys.argv[1])
print(handle.address[1], flush=True)
for line in sys.stdin:
    if line.strip() == "stats":
        print(json.dumps(handle.stats()), flush=True)
    else:
        break
handle.stop()
"""


def test_accept_stops_while_only_the_reserve_of_descriptors_is_left(docroot: str) -> None:
    # aSocket stops accepting while only its reserve of descriptors is left (for CacheMiss's
    # opens); accept() hitting EMFILE itself is tested for every server in
    # test_servers_shared.py.
    proc = subprocess.Popen([sys.executable, "-c", RESERVE_SERVER, str(docroot)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        n = 80                     # more connections than the server has descriptors
        for r in fetch_all_at_once(("127.0.0.1", port), "/small.txt", n):
            assert r.status == 200 and r.body == SMALL
        proc.stdin.write("stats\n")
        proc.stdin.flush()
        stats = json.loads(proc.stdout.readline())
        assert stats["accept_backoffs"] >= 1
        assert stats["requests"] == n and stats["connections_total"] == n
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


def test_stages_run_on_kernel_threads_even_in_a_monkey_patched_process(docroot: str) -> None:
    proc = subprocess.Popen([sys.executable, "-c", PATCHED_SERVER, str(docroot)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock, \
                sock.makefile("rb") as f:
            for _ in range(3):
                sock.sendall(req("/index.html"))
                assert read_response(f).body == BODY
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
