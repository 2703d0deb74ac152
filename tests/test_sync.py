"""Lock, RLock, Condition, Semaphore, BoundedSemaphore, Event, Barrier: threading's semantics."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support import settle
from whyevents import threads
from whyevents.threads import sync

pytestmark = pytest.mark.runtime


def test_lock_handoff_is_fifo(run):
    def main():
        lock = threads.Lock()
        order = []

        def worker(i):
            with lock:
                order.append(i)
                threads.sleep(0)

        lock.acquire()
        ts = [threads.spawn(worker, i) for i in range(10)]
        settle()
        lock.release()
        for t in ts:
            t.join()
        return order, lock.locked()

    assert run(main) == (list(range(10)), False)


def test_lock_handoff_convoy_versus_barging(run, monkeypatch):
    """Hand-off: a releaser that re-acquires at once goes behind the waiter. Barging: it wins."""

    def main():
        lock = threads.Lock()
        order = []

        def waiter():
            with lock:
                order.append("waiter")

        lock.acquire()
        t = threads.spawn(waiter)
        settle()
        lock.release()
        lock.acquire()          # re-acquire without yielding
        order.append("releaser")
        lock.release()
        t.join()
        return order

    assert run(main) == ["waiter", "releaser"]
    monkeypatch.setattr(sync.Lock, "handoff", False)
    assert run(main) == ["releaser", "waiter"]


def test_lock_arguments_and_errors(run):
    def main():
        lock = threads.Lock()
        assert lock.acquire(False)
        assert not lock.acquire(False)
        assert not lock.acquire(timeout=0)
        assert not lock.acquire(timeout=0.01)
        with pytest.raises(ValueError):
            lock.acquire(False, 1)
        with pytest.raises(ValueError):
            lock.acquire(timeout=-5)
        lock.release()
        with pytest.raises(RuntimeError):
            lock.release()
        return True

    assert run(main)


def test_lock_released_by_another_thread(run):
    def main():
        lock = threads.Lock()
        lock.acquire()
        threads.spawn(lock.release)
        return lock.acquire(timeout=1)

    assert run(main) is True


def test_killed_waiter_never_leaks_the_lock(run):
    """A waiter handed the lock and killed before it runs gives the lock back."""

    def main():
        lock = threads.Lock()
        lock.acquire()
        got = []
        a = threads.spawn(lambda: got.append(lock.acquire()))
        b = threads.spawn(lambda: got.append(lock.acquire()))
        settle()
        lock.release()          # handed to a, which has not run yet
        a.kill()
        a.join()
        b.join()
        return got, lock.locked()

    got, locked = run(main)
    assert got == [True]        # b got it from a's exit path
    assert locked               # b holds it


def test_lock_timeouts_at_scale_remove_every_waiter(run):
    n = 2000 if run.scheduler == "pth" else 20000

    def main():
        lock = threads.Lock()
        lock.acquire()
        results = []
        ts = [threads.spawn(lambda: results.append(lock.acquire(timeout=0.05)))
              for _ in range(n)]
        for t in ts:
            t.join()
        s = threads.stats()
        return results.count(False), len(lock._waiters), s["timers"]

    assert run(main) == (n, 0, 0)


def test_rlock(run):
    def main():
        r = threads.RLock()
        with r:
            with r:
                assert r._is_owned()
        with pytest.raises(RuntimeError):
            r.release()
        r.acquire()
        other = threads.spawn(lambda: r.acquire(timeout=0.01))
        other.join()
        with pytest.raises(RuntimeError):
            threads.spawn(r.release).get()
        r.release()
        third = threads.spawn(lambda: (r.acquire(), r.release(), "ok")[2])
        return other.value, third.get()

    assert run(main) == (False, "ok")


def test_condition_wait_notify(run):
    def main():
        cond = threads.Condition()
        items = []
        got = []

        def consumer():
            with cond:
                cond.wait_for(lambda: items)
                got.append(items.pop(0))

        ts = [threads.spawn(consumer) for _ in range(3)]
        settle()
        with cond:
            items.extend([1, 2, 3])
            cond.notify(2)
        settle()
        first_two = sorted(got)
        with cond:
            cond.notify_all()
        for t in ts:
            t.join()
        with cond:
            timed_out = cond.wait(0.01)
        with pytest.raises(RuntimeError):
            cond.wait()
        with pytest.raises(RuntimeError):
            cond.notify()
        return first_two, sorted(got), timed_out

    assert run(main) == ([1, 2], [1, 2, 3], False)


def test_condition_wait_for_timeout(run):
    def main():
        cond = threads.Condition(threads.Lock())
        with cond:
            return cond.wait_for(lambda: False, timeout=0.02)

    assert run(main) is False


def test_semaphore_limits_concurrency(run):
    def main():
        sem = threads.Semaphore(3)
        active = [0]
        peak = [0]

        def worker():
            with sem:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
                threads.sleep(0.005)
                active[0] -= 1

        ts = [threads.spawn(worker) for _ in range(12)]
        for t in ts:
            t.join()
        with pytest.raises(ValueError):
            threads.Semaphore(-1)
        return peak[0], sem.acquire(False), sem._value

    assert run(main) == (3, True, 2)


def test_bounded_semaphore(run):
    def main():
        b = threads.BoundedSemaphore(2)
        b.acquire()
        b.release()
        with pytest.raises(ValueError, match="too many"):
            b.release()
        return b.acquire(timeout=0.01), b.acquire(timeout=0.01), b.acquire(timeout=0.01)

    assert run(main) == (True, True, False)


def test_event(run):
    def main():
        ev = threads.Event()
        ts = [threads.spawn(ev.wait) for _ in range(5)]
        settle()
        assert not ev.is_set()
        ev.set()
        for t in ts:
            t.join()
        ev.clear()
        return [t.value for t in ts], ev.wait(0.01), ev.is_set()

    assert run(main) == ([True] * 5, False, False)


def test_barrier_action_and_indices(run):
    def main():
        actions = []
        bar = threads.Barrier(4, action=lambda: actions.append("trip"))
        ts = [threads.spawn(bar.wait) for _ in range(4)]
        for t in ts:
            t.join()
        ts2 = [threads.spawn(bar.wait) for _ in range(4)]
        for t in ts2:
            t.join()
        return sorted(t.value for t in ts), actions, bar.n_waiting, bar.broken

    assert run(main) == ([0, 1, 2, 3], ["trip", "trip"], 0, False)


def test_barrier_timeout_abort_reset(run):
    def main():
        bar = threads.Barrier(3)
        a = threads.spawn(bar.wait)
        settle()
        with pytest.raises(threads.BrokenBarrierError):
            bar.wait(timeout=0.01)          # times out: breaks it for a too
        with pytest.raises(threads.BrokenBarrierError):
            a.get()
        assert bar.broken
        bar.reset()
        assert not bar.broken
        b = threads.spawn(bar.wait)
        settle()
        bar.reset()                         # b was waiting: it sees the break
        with pytest.raises(threads.BrokenBarrierError):
            b.get()
        c = threads.spawn(bar.wait)
        settle()
        bar.abort()
        with pytest.raises(threads.BrokenBarrierError):
            c.get()
        with pytest.raises(threads.BrokenBarrierError):
            bar.wait()
        return True

    assert run(main)


@settings(max_examples=40, deadline=None)
@given(ops=st.lists(st.tuples(st.sampled_from(["acq", "rel", "yield", "try"]),
                              st.integers(0, 3)), max_size=40))
def test_lock_property_mutual_exclusion(ops):
    """Any interleaving of 4 threads using one lock: never two holders, all waiters finish."""

    def main():
        lock = threads.Lock()
        holder = [None]
        violations = []

        def worker(i):
            held = False
            for op, who in ops:
                if who != i:
                    threads.sleep(0)
                    continue
                if op in ("acq", "try") and not held:
                    ok = lock.acquire() if op == "acq" else lock.acquire(timeout=0.001)
                    if ok:
                        if holder[0] is not None:
                            violations.append((holder[0], i))
                        holder[0] = i
                        held = True
                elif op == "rel" and held:
                    holder[0] = None
                    lock.release()
                    held = False
                else:
                    threads.sleep(0)
            if held:
                holder[0] = None
                lock.release()

        ts = [threads.spawn(worker, i) for i in range(4)]
        for t in ts:
            t.join()
        return violations, lock.locked(), [t.exception for t in ts]

    violations, locked, excs = threads.run(main)
    assert violations == []
    assert not locked
    assert excs == [None] * 4
