"""The kernel-thread pool (``blocking``) and disk reads that try the page cache first."""

from __future__ import annotations

import _thread
import errno
import os
import subprocess
import sys
import time

import pytest

from support import settle
from whyevents import threads
from whyevents.threads import fileio, threadpool
from whyevents.threads.threadpool import ThreadPool, blocking

pytestmark = pytest.mark.runtime

GUARD = 5.0


@pytest.fixture
def pool():
    p = ThreadPool(4)
    yield p
    assert p.shutdown(wait=True, timeout=GUARD)


# ---------------------------------------------------------------------------------------------
# blocking()
# ---------------------------------------------------------------------------------------------

def test_blocking_returns_the_value_from_another_os_thread(run):
    def main():
        here = _thread.get_ident()
        value = blocking(lambda a, b=0: (a + b, _thread.get_ident()), 40, b=2)
        return value, here

    (total, there), here = run(main)
    assert total == 42
    assert there != here


def test_blocking_reraises_in_the_green_thread(run):
    def fails():
        raise KeyError("from the pool")

    def main():
        with pytest.raises(KeyError, match="from the pool") as ei:
            blocking(fails)
        frames = [f.name for f in ei.traceback]
        return "fails" in frames, threads.current().name

    assert run(main) == (True, "MainThread")


def test_main_waiting_on_a_job_is_not_a_deadlock(run):
    """Only the pool can wake main; the hub must wait for it, not raise Deadlock."""
    def main():
        return blocking(lambda: (time.sleep(0.05), "slept")[1])

    assert run(main) == "slept"


def test_hundred_jobs_on_four_threads_all_complete(run, pool):
    lock = _thread.allocate_lock()
    active = [0]
    peak = [0]

    def job(i):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.002)
        with lock:
            active[0] -= 1
        return i * i

    def main():
        ts = [threads.spawn(pool.blocking, job, i) for i in range(100)]
        settle(1)
        during = pool.stats()
        values = [t.get() for t in ts]
        return values, during, pool.stats()

    values, during, after = run(main)
    assert values == [i * i for i in range(100)]
    assert peak[0] <= 4 and after["threads"] == 4
    assert during["submitted"] == 100 and during["queued"] > 0
    assert after["completed"] == 100 and after["queued"] == after["running"] == 0


def test_pool_threads_start_lazily_and_stop_on_shutdown(run):
    p = ThreadPool(3)
    assert p.stats()["threads"] == 0

    def main():
        assert p.blocking(int, "7") == 7
        one = p.stats()["threads"]          # one job at a time needs one thread
        ts = [threads.spawn(p.blocking, time.sleep, 0.02) for _ in range(6)]
        for t in ts:
            t.join()
        return one, p.stats()["threads"]

    one, most = run(main)
    assert one == 1 and most == 3
    assert p.shutdown(wait=True, timeout=GUARD)
    assert p.stats()["threads"] == 0
    assert threads.run(lambda: p.blocking(len, "abc")) == 3     # restarts lazily


def test_kill_a_thread_waiting_in_blocking(run, pool):
    release = _thread.allocate_lock()
    release.acquire()

    def slow():
        release.acquire(True, GUARD)
        return "late result"

    def main():
        ev = threads.Event()
        log = []

        def waiter():
            try:
                pool.blocking(slow)
                log.append("returned")
            except threads.ThreadKilled:
                log.append("killed")
                # Park on something else; the job's late result must not wake us here.
                log.append(("event", ev.wait(0.2)))
                raise

        t = threads.spawn(waiter)
        settle()
        assert t.state == "parked"
        t.kill()
        t0 = time.monotonic()
        threads.sleep(0.01)
        release.release()                   # the job finishes while t waits on the event
        t.join()
        killed_after = time.monotonic() - t0
        while pool.stats()["abandoned"] == 0:
            threads.sleep(0.005)
        return log, killed_after, pool.stats()

    log, killed_after, s = run(main)
    assert log == ["killed", ("event", False)]
    assert s["abandoned"] == 1 and s["completed"] == 0
    assert killed_after >= 0.19


def test_blocking_inside_a_pool_thread_runs_inline(run):
    def outer():
        assert threadpool.in_pool_thread()
        return blocking(_thread.get_ident), _thread.get_ident()

    def main():
        return blocking(outer)

    inner, outer_ident = run(main)
    assert inner == outer_ident


def test_process_idle_while_a_job_runs(run):
    def main():
        c0, w0 = time.process_time(), time.monotonic()
        blocking(time.sleep, 0.5)
        return time.process_time() - c0, time.monotonic() - w0

    cpu, wall = run(main)
    assert wall >= 0.49
    assert cpu < 0.05, f"busy while waiting for the pool: {cpu:.3f}s CPU in {wall:.3f}s"


def test_stats_include_the_pool(run):
    def main():
        blocking(len, "")
        return threads.stats()

    s = run(main)
    assert "pool" in s and s["pool"]["completed"] >= 1


# ---------------------------------------------------------------------------------------------
# Disk reads
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def cached_file(tmp_path):
    data = os.urandom(100_000)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    os.pread(fd, len(data), 0)              # now it is in the page cache
    yield path, fd, data
    os.close(fd)


@pytest.mark.skipif(not fileio.NOWAIT_SUPPORTED, reason="no RWF_NOWAIT on this platform")
def test_pread_of_a_cached_file_is_a_nowait_hit(run, cached_file):
    path, fd, data = cached_file

    def main():
        fileio.reset_stats()
        a = fileio.pread(fd, 8192, 4096)
        buf = bytearray(8192)
        n = fileio.preadinto(fd, buf, 50_000)
        return a, n, bytes(buf), fileio.stats()

    a, n, b, s = run(main)
    assert a == os.pread(fd, 8192, 4096)
    assert n == 8192 and b == os.pread(fd, 8192, 50_000)
    if s["nowait_refused"]:
        pytest.skip("this filesystem refuses RWF_NOWAIT")
    assert s["nowait_hits"] == 2 and s["pool_reads"] == 0


def test_pread_at_and_past_the_end(run, cached_file):
    path, fd, data = cached_file

    def main():
        return (fileio.pread(fd, 8192, len(data) - 100), fileio.pread(fd, 10, len(data) + 5),
                fileio.read_file(path))

    tail, past, whole = run(main)
    assert tail == data[-100:]
    assert past == b""
    assert whole == data


def test_cache_miss_goes_to_the_pool(run, cached_file, monkeypatch):
    path, fd, data = cached_file

    def miss(*args):
        raise BlockingIOError(errno.EAGAIN, "not cached")

    monkeypatch.setattr(fileio, "_preadv", miss)

    def main():
        fileio.reset_stats()
        a = fileio.pread(fd, 8192, 0)
        buf = bytearray(100)
        n = fileio.preadinto(fd, buf, 10)
        return a, n, bytes(buf), fileio.stats()

    a, n, b, s = run(main)
    assert a == data[:8192] and (n, b) == (100, data[10:110])
    assert s["nowait_misses"] == 2 and s["pool_reads"] == 2 and s["nowait_hits"] == 0


def test_partly_cached_range_reads_the_rest_in_the_pool(run, cached_file, monkeypatch):
    path, fd, data = cached_file
    real = os.preadv

    def half_cached(fd_, bufs, offset, flags):
        if offset >= 4096:
            raise BlockingIOError(errno.EAGAIN, "not cached")
        mv = memoryview(bufs[0])[:4096 - offset]
        return real(fd_, [mv], offset, flags)

    monkeypatch.setattr(fileio, "_preadv", half_cached)

    def main():
        fileio.reset_stats()
        return fileio.pread(fd, 10_000, 0), fileio.stats()

    got, s = run(main)
    assert got == data[:10_000]
    assert s["pool_reads"] == 1


def test_refused_nowait_is_remembered_per_descriptor(run, cached_file, monkeypatch):
    path, fd, data = cached_file
    calls = []

    def refuse(*args):
        calls.append(args[0])
        raise OSError(errno.EOPNOTSUPP, "not on this filesystem")

    monkeypatch.setattr(fileio, "_preadv", refuse)
    monkeypatch.setattr(fileio, "_refused", {})
    monkeypatch.setattr(fileio, "_refused_devs", set())

    def main():
        fileio.reset_stats()
        got = [fileio.pread(fd, 1000, i * 1000) for i in range(5)]
        return got, fileio.stats()

    got, s = run(main)
    assert got == [data[i * 1000:(i + 1) * 1000] for i in range(5)]
    assert calls == [fd]                    # tried once, then straight to the pool
    assert s["nowait_refused"] == 1 and s["pool_reads"] == 5


def test_real_errors_are_not_mistaken_for_refusals(run):
    r, w = os.pipe()
    try:
        with pytest.raises(OSError) as ei:
            run(lambda: fileio.pread(r, 10, 0))
        assert ei.value.errno == errno.ESPIPE
        assert r not in fileio._refused
    finally:
        os.close(r)
        os.close(w)


def test_pool_threads_do_not_keep_the_process_alive():
    """A job still sleeping when ``main`` returns does not delay the process's exit."""
    code = (
        "import time\n"
        "from whyevents import threads\n"
        "from whyevents.threads import threadpool\n"
        "def main():\n"
        "    t = threads.spawn(threadpool.blocking, time.sleep, 30)\n"
        "    threads.sleep(0.05)\n"
        "    t.kill()\n"
        "    return threadpool.stats()['running']\n"
        "print(threads.run(main))\n"
    )
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=20)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"
    assert time.monotonic() - t0 < 10
