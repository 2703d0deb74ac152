"""Where the runtime's overhead arises, counted (issue 11, item 1): regression bounds, no timing.

Counts are deterministic: Python-level calls (``sys.setprofile`` "call" events, which include
every Python function the runtime, the workload and the stdlib run) per pipeline task and per
Knot keep-alive request, system calls that fail on the hot path, timer arm/disarm pairs, and the
bytes greenlet saves off the C stack for each parked thread. Each bound sits a little above what
the code does today, so a change that puts calls back on a hot path fails here, with the
per-function table in the message.

* **Pipeline task** (the task-pipeline experiment's threaded program, ``experiments/
  pipeline_worker.py`` ``_threaded``; a faithful copy of its per-task loop is below): N workers
  each parked on an ``Event``; the dispatcher ``issue``-s a task by setting a worker's event, the
  worker ``pread``-s 8 KiB of a cached file (``fileio.pread``) and ``put``-s a completion into
  the dispatcher's ``Queue``, whose ``get`` hands it to the dispatcher, which ``complete``-s it and
  issues the next task. The workload's own Python calls per task are ``issue``, ``complete`` and
  ``pread`` (3); the rest is the runtime's.
* **Knot keep-alive request**: ``knot.connection.serve_connection`` on a green thread serving
  one loopback TCP connection, the client a kernel thread (so only the server's OS thread is
  profiled) that sends a GET and reads the 8 KiB response, again and again. Per request is the
  difference between two runs of different lengths, so setup and teardown cancel out.
"""

from __future__ import annotations

import os
import socket as stdsocket
import sys
import threading
from collections import Counter
from time import perf_counter

import pytest

from whyevents import threads
from whyevents.knot.backends import GREEN
from whyevents.knot.connection import serve_connection
from whyevents.knot.server import Knot
from whyevents.threads import fileio

CONFIGS = [("fifo", "epoll"), ("fifo", "poll"), ("pth", "poll")]
IDS = [f"{s}-{p}" for s, p in CONFIGS]

#: Bounds (calls per task / per request) for the fifo scheduler; see the module docstring.
PIPELINE_CALLS_FIFO = 10.0
KNOT_CALLS_FIFO = 30.0   # of which ~13 are the HTTP parser and handler (application code)
#: greenlet's saved C stack per parked pipeline worker, bytes (greenlet 3.x, CPython 3.11).
SAVED_STACK_BYTES = 2048


class CallCounter:
    """``sys.setprofile`` counter of Python calls, by ``file:function``; C exceptions by name."""

    def __init__(self) -> None:
        self.calls: Counter = Counter()
        self.c_exceptions: Counter = Counter()

    def __call__(self, frame, event, arg) -> None:
        if event == "call":
            code = frame.f_code
            self.calls[f"{os.path.basename(code.co_filename)}:{code.co_qualname}"] += 1
        elif event == "c_exception":
            self.c_exceptions[getattr(arg, "__qualname__", repr(arg))] += 1

    def total(self) -> int:
        return sum(self.calls.values())

    def __enter__(self) -> CallCounter:
        sys.setprofile(self)
        return self

    def __exit__(self, *exc) -> None:
        sys.setprofile(None)


def _table(counts: Counter, per: float) -> str:
    return "\n".join(f"  {n / per:7.2f}  {name}" for name, n in counts.most_common(40))


# ---------------------------------------------------------------------------------------------
# The task pipeline
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cached_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("overhead") / "file1m"
    path.write_bytes(os.urandom(1 << 20))
    fd = os.open(path, os.O_RDONLY)
    os.pread(fd, 1 << 20, 0)                       # into the page cache
    yield fd
    os.close(fd)


def pipeline(fd: int, n: int, tasks: int, counter: CallCounter | None) -> dict:
    """The threaded pipeline: ``n`` workers, ``tasks`` tasks after a warm-up of 2 rounds.

    The per-task loop is ``pipeline_worker._threaded``'s (minus its measurement book-keeping,
    which is one ``complete`` call here as there)."""
    rb = 8192
    blocks = (1 << 20) // rb
    read = fileio.pread
    chans = [threads.Event() for _ in range(n)]
    starts = [0.0] * n
    offs = [0] * n
    done = threads.Queue()
    box = {"seq": 0, "completed": 0, "bytes": 0}
    warm = 2 * n

    def issue(i: int) -> None:
        seq = box["seq"]
        box["seq"] = seq + 1
        offs[i] = (seq % blocks) * rb
        starts[i] = perf_counter()
        chans[i].set()

    def worker(i: int) -> None:
        ev = chans[i]
        wait, clear, put = ev.wait, ev.clear, done.put
        while True:
            wait()
            clear()
            data = read(fd, rb, offs[i])
            put((i, perf_counter(), len(data)))

    def complete(t_start: float, t_done: float, nb: int) -> bool:
        box["completed"] += 1
        box["bytes"] += nb
        return True

    for i in range(n):
        threads.spawn(worker, i)
    for i in range(n):
        issue(i)
    get = done.get
    for _ in range(warm):
        i, t_done, nb = get()
        if complete(starts[i], t_done, nb):
            issue(i)
    box["completed"] = box["bytes"] = 0
    if counter is not None:
        sys.setprofile(counter)
    try:
        for _ in range(tasks):
            i, t_done, nb = get()
            if complete(starts[i], t_done, nb):
                issue(i)
    finally:
        sys.setprofile(None)
    return box


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_pipeline_calls_per_task(cached_file, config):
    scheduler, poller = config
    tasks = 3000
    counter = CallCounter()
    box = threads.run(pipeline, cached_file, 100, tasks, counter, scheduler=scheduler,
                      poller=poller)
    assert box["completed"] == tasks and box["bytes"] == tasks * 8192
    per = counter.total() / tasks
    print(f"\n{scheduler}-{poller}: {per:.2f} Python calls per pipeline task\n"
          + _table(counter.calls, tasks))
    # the workload's own calls: issue, complete, pread
    assert counter.calls["test_overhead.py:pipeline.<locals>.issue"] == tasks
    if scheduler == "fifo":
        assert per <= PIPELINE_CALLS_FIFO, _table(counter.calls, tasks)
    else:
        # pth goes through its scheduler thread and scans on every switch: more calls, by
        # design, but still a bounded number per task
        assert per <= 3 * PIPELINE_CALLS_FIFO, _table(counter.calls, tasks)


def test_saved_stack_bytes_per_parked_worker(cached_file):
    """greenlet copies a parked thread's slice of the C stack to the heap; count the bytes."""
    n = 1000

    def main():
        pipeline(cached_file, n, 10, None)
        threads.sleep(0)                           # let the workers handed a last task park
        gs = [t._g for t in threads.get_hub()._live if t._state == "parked" and t._g]
        assert len(gs) >= n - 1                    # every worker parked on its channel
        return [g._stack_saved for g in gs]

    saved = threads.run(main)
    per = sum(saved) / len(saved)
    print(f"\ngreenlet saved stack per parked pipeline worker: {per:.0f} bytes "
          f"(min {min(saved)}, max {max(saved)})")
    assert 0 < per <= SAVED_STACK_BYTES


# ---------------------------------------------------------------------------------------------
# Knot keep-alive requests
# ---------------------------------------------------------------------------------------------

BODY = os.urandom(8192)
REQUEST = b"GET /file8k HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.fixture(scope="module")
def docroot(tmp_path_factory):
    root = tmp_path_factory.mktemp("overhead_www")
    (root / "file8k").write_bytes(BODY)
    return str(root)


def _client(address, requests: int, errors: list) -> None:
    """A kernel thread: ``requests`` keep-alive GETs, each response read in full."""
    try:
        with stdsocket.create_connection(address, timeout=10) as s:
            s.setsockopt(stdsocket.IPPROTO_TCP, stdsocket.TCP_NODELAY, 1)
            size = None
            for _ in range(requests):
                s.sendall(REQUEST)
                buf = b""
                while size is None or len(buf) < size:
                    chunk = s.recv(65536)
                    if not chunk:
                        raise ConnectionError("server closed")
                    buf += chunk
                    if size is None and b"\r\n\r\n" in buf:
                        head = buf.split(b"\r\n\r\n", 1)[0]
                        size = len(head) + 4 + len(BODY)
                if not buf.endswith(BODY):
                    raise AssertionError("wrong body")
    except BaseException as e:  # noqa: BLE001 - reported by the test
        errors.append(e)


def knot_session(docroot: str, requests: int, scheduler: str, poller: str) -> CallCounter:
    """Serve one keep-alive connection of ``requests`` requests on a green thread, profiled."""
    knot = Knot(docroot, "C", "127.0.0.1", 0, 1, poller, scheduler, GREEN, 1 << 20, None, 30.0)
    counter = CallCounter()
    errors: list = []

    def main():
        sock = GREEN.socket
        listener = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        client = threading.Thread(target=_client,
                                  args=(listener.getsockname(), requests, errors))
        client.start()
        conn, _ = listener.accept()
        sys.setprofile(counter)
        try:
            serve_connection(knot, conn)
        finally:
            sys.setprofile(None)
        listener.close()
        while client.is_alive():
            threads.sleep(0.01)

    threads.run(main, scheduler=scheduler, poller=poller)
    assert not errors, errors
    assert knot.counters.requests == requests
    return counter


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_knot_keep_alive_request_costs(docroot, config):
    scheduler, poller = config
    short, long_ = 50, 250
    a = knot_session(docroot, short, scheduler, poller)
    b = knot_session(docroot, long_, scheduler, poller)
    n = long_ - short
    calls = b.calls.copy()
    calls.subtract(a.calls)
    per = (b.total() - a.total()) / n
    print(f"\n{scheduler}-{poller}: {per:.2f} Python calls per keep-alive request\n"
          + _table(calls, n))
    failed = {k: v for k, v in b.c_exceptions.items()}
    print(f"C calls that raised (the {long_}-request run): {failed}")
    # no recv that fails with EAGAIN per request: at most a few in a whole session
    assert b.c_exceptions["recv"] <= 3, failed
    # no timer armed and cancelled per park: the request timeout is armed lazily
    assert calls["timers.py:TimerHeap.add"] / n < 0.05, _table(calls, n)
    assert calls["timers.py:TimerHeap.cancel"] / n < 0.05, _table(calls, n)
    if scheduler == "fifo":
        assert per <= KNOT_CALLS_FIFO, _table(calls, n)
