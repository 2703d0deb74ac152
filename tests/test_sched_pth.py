"""The ``pth`` scheduler (GNU Pth 2.0.7's O(n) event manager): same results as ``fifo``.

Behaviour tests run under both schedulers with the same assertions; model tests check what is
Pth's own (wakeups found by the scan, every switch through the scheduler, the ready-queue order,
the thundering herd, O(waiting threads) per switch, measured on counters, never on time).
"""

from __future__ import annotations

import errno
import socket
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from whyevents import threads
from whyevents.threads import Deadlock, ThreadKilled
from whyevents.threads.sched_pth import PthHub, PthPoller
from whyevents.threads.waitq import WaitQueue

pytestmark = pytest.mark.runtime

BOTH = pytest.mark.parametrize("scheduler", ["fifo", "pth"])


def run(main, scheduler="pth", poller="poll"):
    return threads.run(main, scheduler=scheduler, poller=poller)


# -- configuration ------------------------------------------------------------------------------

@pytest.mark.parametrize("poller", ["poll", "epoll"])
def test_run_makes_a_pth_hub_for_either_poller_name(poller):
    def main():
        hub = threads.get_hub()
        return type(hub), type(hub.poller), hub.poller.name, hub.poller.requested, hub.scheduler

    assert run(main, poller=poller) == (PthHub, PthPoller, "poll", poller, "pth")


def test_bad_poller_is_named():
    with pytest.raises(ValueError, match="poller='kqueue'"):
        PthHub(poller="kqueue")


# -- same behaviour as fifo ---------------------------------------------------------------------

@BOTH
def test_spawn_join_values(scheduler):
    def main():
        ts = [threads.spawn(lambda i: i * i, i) for i in range(5)]
        for t in ts:
            t.join()
        return [t.value for t in ts], [t.is_alive() for t in ts], [t.get() for t in ts]

    assert run(main, scheduler) == ([0, 1, 4, 9, 16], [False] * 5, [0, 1, 4, 9, 16])


@BOTH
def test_sleepers_wake_in_deadline_order(scheduler):
    def main():
        order = []

        def sleeper(name, seconds):
            threads.sleep(seconds)
            order.append(name)

        t0 = time.monotonic()
        ts = [threads.spawn(sleeper, n, s) for n, s in (("c", 0.03), ("a", 0.01), ("b", 0.02))]
        for t in ts:
            t.join()
        return order, time.monotonic() - t0

    order, elapsed = run(main, scheduler)
    assert order == ["a", "b", "c"]
    assert elapsed >= 0.03


def _round_robin():
    out = []

    def worker(i):
        for k in range(3):
            out.append((i, k))
            threads.sleep(0)

    ts = [threads.spawn(worker, i) for i in range(4)]
    for t in ts:
        t.join()
    return out


def test_sleep0_is_round_robin_as_under_fifo():
    expected = [(i, k) for k in range(3) for i in range(4)]
    assert run(_round_robin, "fifo") == expected
    assert run(_round_robin, "pth") == expected


@BOTH
def test_waitqueue_park_wake_value_timeout_kill(scheduler):
    def main():
        q = WaitQueue("thing", "test")
        log = []

        def waiter(name, timeout):
            try:
                ok = q.park(timeout)
                log.append((name, ok, threads.current()._value if ok else None))
            except ThreadKilled:
                log.append((name, "killed", None))
                raise

        ws = {n: threads.Thread(target=waiter, args=(n, tmo), name=n)
              for n, tmo in (("a", None), ("b", 0.01), ("c", None), ("d", None))}
        for t in ws.values():
            t.start()
        threads.sleep(0)
        n_parked = len(q)
        threads.sleep(0.05)                    # b times out and leaves the queue
        after_timeout = [t.name for t in q.threads()]
        ws["c"].kill()                         # c leaves the queue at once
        after_kill = [t.name for t in q.threads()]
        woke = q.wake_one("one")               # a
        n_all = q.wake_all("all")              # d
        for t in ws.values():
            t.join()
        return (n_parked, after_timeout, after_kill, woke.name, n_all, log,
                ws["c"].exception, q.park(0))

    n_parked, after_timeout, after_kill, woke, n_all, log, c_exc, nonblocking = run(main, scheduler)
    assert n_parked == 4
    assert after_timeout == ["a", "c", "d"]
    assert after_kill == ["a", "d"]
    assert woke == "a" and n_all == 1
    assert log[0] == ("b", False, None)
    # c, a, d became runnable in one turn: fifo runs them in the order they were killed/woken,
    # pth in WQ order (the order they began waiting: a, c, d). Same results, Pth's own order.
    assert sorted(log[1:]) == [("a", True, "one"), ("c", "killed", None), ("d", True, "all")]
    if scheduler == "pth":
        assert [name for name, _, _ in log[1:]] == ["a", "c", "d"]
    assert c_exc is None                       # a kill is a normal end
    assert nonblocking is False


@BOTH
def test_kill_with_custom_exception_is_stored(scheduler):
    def main():
        t = threads.spawn(WaitQueue().park)
        threads.sleep(0)
        t.kill(KeyError("stop"), block=True)
        return t.is_alive(), type(t.exception)

    assert run(main, scheduler) == (False, KeyError)


@BOTH
def test_exception_in_thread_does_not_stop_the_hub(scheduler, capsys):
    def main():
        def bad():
            threads.sleep(0)
            raise ValueError("boom")

        def good():
            for _ in range(5):
                threads.sleep(0)
            threads.sleep(0.005)
            return "fine"

        b, g = threads.spawn(bad), threads.spawn(good)
        b.join()
        g.join()
        return type(b.exception), str(b.exception), g.value, threads.stats()["errors"]

    assert run(main, scheduler) == (ValueError, "boom", "fine", 1)
    assert capsys.readouterr().err.count("ValueError: boom") == 1


@BOTH
def test_deadlock_is_raised_in_main_naming_blocked_threads(scheduler):
    def main():
        q1, q2 = WaitQueue("first-queue", "test"), WaitQueue("second-queue", "test")
        a = threads.Thread(target=q1.park, name="alpha")
        b = threads.Thread(target=q2.park, name="beta")
        a.start()
        b.start()
        a.join()

    with pytest.raises(Deadlock) as ei:
        run(main, scheduler)
    assert {n for n, _, _ in ei.value.blocked} == {"alpha", "beta", "MainThread"}
    msg = str(ei.value)
    assert "alpha" in msg and "beta" in msg and "first-queue" in msg


@BOTH
def test_no_deadlock_while_a_deadline_is_pending(scheduler):
    def main():
        q = WaitQueue()
        threads.spawn(lambda: (threads.sleep(0.01), q.wake_one("late")))
        return q.park(), threads.current()._value

    assert run(main, scheduler) == (True, "late")


def _pair():
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    return a, b


@BOTH
def test_fd_waits_on_a_socketpair(scheduler):
    def main():
        hub = threads.get_hub()
        a, b = _pair()
        try:
            fd = a.fileno()
            got = []

            def reader():
                ok = hub.poller.wait_read(fd, 1.0)
                got.append((ok, a.recv(16)))

            t = threads.spawn(reader)
            threads.sleep(0)
            waiting = hub.poller.waiting
            b.send(b"hello")
            t.join()
            timed_out = hub.poller.wait_read(fd, 0.02)     # nothing more to read
            writable = hub.poller.wait_write(fd, 1.0)
            return got, waiting, timed_out, writable, hub.poller.waiting
        finally:
            hub.poller.forget(a.fileno())
            hub.poller.forget(b.fileno())
            a.close()
            b.close()

    assert run(main, scheduler) == ([(True, b"hello")], 1, False, True, 0)


@BOTH
def test_forget_wakes_fd_waiter_with_ebadf(scheduler):
    def main():
        hub = threads.get_hub()
        a, b = _pair()
        try:
            t = threads.spawn(hub.poller.wait_read, a.fileno(), 1.0)
            threads.sleep(0)
            hub.poller.forget(a.fileno())
            t.join()
            return type(t.exception), getattr(t.exception, "errno", None), hub.poller.waiting
        finally:
            a.close()
            b.close()

    assert run(main, scheduler) == (OSError, errno.EBADF, 0)


@BOTH
def test_thousand_threads_blocked_then_all_woken(scheduler):
    n = 1000

    def main():
        q = WaitQueue()
        got = []
        ts = [threads.spawn(lambda: got.append((q.park(), threads.current()._value)))
              for _ in range(n)]
        threads.sleep(0)
        parked = len(q)
        woken = q.wake_all("go")
        for t in ts:
            t.join()
        return parked, woken, got.count((True, "go")), len(threads.get_hub()._live)

    assert run(main, scheduler) == (n, n, n, 1)


# -- the Pth model ------------------------------------------------------------------------------

def test_wake_sets_a_flag_the_next_scan_finds():
    """pth_cond_notify only sets PTH_COND_SIGNALED: the woken thread stays in WQ, not in RQ."""

    def main():
        hub = threads.get_hub()
        q = WaitQueue()
        t = threads.spawn(q.park)
        threads.sleep(0)
        in_wq_before = any(w.thread is t for w in hub._wq)
        q.wake_one("v")
        in_wq = any(w.thread is t for w in hub._wq)
        in_rq = any(x is t for _, x in hub._rq)
        state = t.state
        moved = hub.moved
        t.join()
        return in_wq_before, in_wq, in_rq, state, hub.moved - moved, t.value

    # moved by scans: t, then the main thread (joining t, woken by t's end)
    assert run(main) == (True, True, False, "ready", 2, True)


def test_every_switch_goes_through_the_scheduler_and_scans():
    def main():
        hub = threads.get_hub()

        def spin():
            for _ in range(100):
                threads.sleep(0)

        a, b = threads.spawn(spin), threads.spawn(spin)
        s0, sc0, p0 = hub.switches, hub.scans, hub.polls
        a.join()
        b.join()
        return hub.switches - s0, hub.scans - sc0, hub.polls - p0

    switches, scans, polls = run(main)
    assert switches >= 200
    assert scans >= switches            # one event-manager run per dispatch, at least
    assert polls >= switches            # and one select() each, even with nothing to watch


def test_new_threads_are_favoured_and_woken_go_before_the_yielder():
    """pth_favournew: a new thread runs before every ready one. A woken thread enters RQ at
    prio+1, ahead of the thread that yielded in the same turn (as under fifo)."""

    def main():
        log = []
        q = WaitQueue()

        def spinner():
            log.append("spinner")
            threads.sleep(0)
            log.append("spinner")

        def parked():
            q.park()
            log.append("woken")

        def waker():
            threads.spawn(lambda: log.append("child"))
            q.wake_one()
            threads.sleep(0)
            log.append("waker")

        p = threads.spawn(parked)
        threads.sleep(0)                  # p parks
        s = threads.spawn(spinner)
        w = threads.spawn(waker)
        for t in (p, s, w):
            t.join()
        return log

    # spinner, waker run first (spawn order); waker spawns child and wakes `parked`, yields.
    fifo = run(main, "fifo")
    pth = run(main, "pth")
    assert fifo == ["spinner", "spinner", "child", "woken", "waker"]
    assert pth == ["spinner", "child", "spinner", "woken", "waker"]


def test_priority_and_aging():
    """A thread at PTH_PRIO_MAX (5) that keeps yielding runs again until the aging of the other
    ready thread (pth_pqueue_increase: +1 per turn) catches up: 5 turns, then one for it."""

    def main():
        hub = threads.get_hub()
        log = []

        def loop(name, n):
            for _ in range(n):
                log.append(name)
                threads.sleep(0)

        a = threads.spawn(loop, "A", 3)
        b = threads.spawn(loop, "B", 10)
        if isinstance(hub, PthHub):
            hub.set_priority(b, 5)
        a.join()
        b.join()
        return log

    assert run(main) == ["A"] + ["B"] * 5 + ["A"] + ["B"] * 5 + ["A"]
    assert run(main, "fifo")[:4] == ["A", "B", "A", "B"]   # no priorities under fifo


def test_without_favournew_new_threads_enter_newest_first():
    """PTH_CTRL_FAVOURNEW off: NQ is drained from its tail at PTH_PRIO_STD (Pth's own order)."""

    def main():
        threads.get_hub().favournew = False
        log = []
        ts = [threads.spawn(log.append, i) for i in range(4)]
        for t in ts:
            t.join()
        return log

    assert run(main) == [3, 2, 1, 0]


def _per_scan(n_parked: int) -> tuple[float, int]:
    """Waiting threads visited per event-manager scan while two threads yield."""

    def main():
        hub = threads.get_hub()
        q = WaitQueue()
        ts = [threads.spawn(q.park) for _ in range(n_parked)]
        threads.sleep(0)

        def spin():
            for _ in range(30):
                threads.sleep(0)

        a, b = threads.spawn(spin), threads.spawn(spin)
        scans, scanned, rq_steps = hub.scans, hub.scanned, hub.rq_steps
        a.join()
        b.join()
        per_scan = (hub.scanned - scanned) / (hub.scans - scans)
        rq_steps = hub.rq_steps - rq_steps
        q.wake_all()
        for t in ts:
            t.join()
        return per_scan, rq_steps

    return run(main)


def test_cost_per_switch_is_linear_in_waiting_threads():
    results = {n: _per_scan(n) for n in (10, 100, 1000)}
    per = {n: r[0] for n, r in results.items()}
    for n, v in per.items():
        assert n <= v <= n + 2, (n, v)         # every waiter (plus the joining main thread)
    # linear: the visits per switch grow as the waiters do ((1000-10)/(100-10) = 11)
    assert 10.5 < (per[1000] - per[10]) / (per[100] - per[10]) < 11.5
    # the ready queue holds the two yielders: each of the ~60 insertions passes at most one
    # element, however many threads wait (the RQ walk is O(ready), not O(waiting))
    steps = {s for _, s in results.values()}
    assert len(steps) == 1 and steps.pop() <= 70


def test_stats_show_pth_counters_and_deadlines():
    def main():
        q = WaitQueue()
        ts = [threads.spawn(q.park, 10) for _ in range(3)]
        threads.sleep(0)
        during = threads.stats()
        q.wake_all()
        for t in ts:
            t.join()
        return during, threads.stats()

    during, after = run(main)
    assert during["timers"] == 3 and during["waiters_by_kind"] == {"wait": 3}
    assert during["waiting_queue"] == 3 and during["scans"] > 0 and during["scanned"] > 0
    assert after["timers"] == 0 and after["waiting_queue"] == 0
    assert after["scheduler"] == "pth" and after["poller"] == "poll"


def test_thundering_herd_every_reader_of_a_ready_fd_wakes():
    """Each PTH_EVENT_FD is checked on its own: one readable descriptor wakes all its readers."""

    def main():
        hub = threads.get_hub()
        a, b = _pair()
        try:
            fd = a.fileno()
            woke = []

            def reader():
                woke.append(hub.poller.wait_read(fd, 1.0))

            ts = [threads.spawn(reader) for _ in range(3)]
            threads.sleep(0)
            b.send(b"x")
            for t in ts:
                t.join()
            return woke, hub.poller.waiting
        finally:
            hub.poller.forget(a.fileno())
            a.close()
            b.close()

    assert run(main) == ([True, True, True], 0)


# -- property tests: fifo and pth agree ---------------------------------------------------------

_OP = st.sampled_from(["yield", "park", "wake_one", "wake_all"])


def _one_queue_program(programs):
    """Threads started together, one shared wait queue: the order is deterministic under fifo
    and, since wakes follow the order threads began waiting, the same under pth."""

    def main():
        q = WaitQueue("shared", "test")
        log = []

        def worker(i, ops):
            for k, op in enumerate(ops):
                if op == "yield":
                    threads.sleep(0)
                    r = None
                elif op == "park":
                    r = (q.park(), threads.current()._value)
                elif op == "wake_one":
                    t = q.wake_one((i, k))
                    r = t.name if t is not None else None
                else:
                    r = q.wake_all((i, k))
                log.append((i, k, op, r))
            return i

        ts = [threads.Thread(target=worker, args=(i, ops), name=f"w{i}")
              for i, ops in enumerate(programs)]
        for t in ts:
            t.start()
        blocked = None
        try:
            for t in ts:
                t.join()
        except Deadlock as e:
            blocked = sorted(n for n, _, _ in e.blocked)
        return log, blocked, [t.value for t in ts]

    return main


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs=st.lists(st.lists(_OP, max_size=8), min_size=1, max_size=5))
def test_property_same_event_order_as_fifo(programs):
    fifo = run(_one_queue_program(programs), "fifo")
    pth = run(_one_queue_program(programs), "pth")
    assert pth == fifo


_CHILD_OP = st.one_of(st.just(("yield",)), st.tuples(st.just("sleep"), st.integers(1, 3)),
                      st.tuples(st.just("timeout"), st.integers(1, 3)))
_THREAD_OP = st.one_of(_CHILD_OP, st.tuples(st.just("wait"), st.integers(0, 4)),
                       st.tuples(st.just("spawn"), st.lists(_CHILD_OP, max_size=3)))


def _latch_program(programs):
    """Threads, children spawned mid-run, short sleeps and timeouts, and latches (thread i sets
    latch i at one point of its program; it waits only on latches of lower-numbered threads, so
    nothing deadlocks). Interleaving depends on time (and differs between the schedulers where
    Pth's order is its own); the results do not: every wait is satisfied, every timeout
    expires, every sleep lasts, every thread ends with its value."""

    def main():
        n = len(programs)
        flags = [False] * n
        queues = [WaitQueue(i, "latch") for i in range(n)]
        seq = [0]
        set_at = [None] * n
        results: dict = {}
        violations = []

        def tick():
            seq[0] += 1
            return seq[0]

        def do(me, k, op):
            kind = op[0]
            if kind == "yield":
                threads.sleep(0)
                return None
            if kind == "sleep":
                t0 = time.monotonic()
                threads.sleep(op[1] / 1000)
                if time.monotonic() - t0 < op[1] / 1000:
                    violations.append(("short sleep", me, k))
                return "slept"
            if kind == "timeout":
                t0 = time.monotonic()
                ok = WaitQueue(me, "nobody").park(op[1] / 1000)
                if time.monotonic() - t0 < op[1] / 1000:
                    violations.append(("early timeout", me, k))
                return ok
            if kind == "set":
                flags[op[1]] = True
                set_at[op[1]] = tick()
                queues[op[1]].wake_all()
                return "set"
            if kind == "wait":
                j = op[1]
                if not flags[j]:
                    if not queues[j].park():
                        violations.append(("wait failed", me, k))
                if set_at[j] is None or set_at[j] >= tick():
                    violations.append(("woken before set", me, k))
                return "done"
            child = threads.spawn(body, (*me, "c", k), op[1])
            return child

        def body(me, ops):
            out = []
            for k, op in enumerate(ops):
                r = do(me, k, op)
                if isinstance(r, threads.Thread):
                    r.join()
                    r = ("child", r.value)
                out.append(r)
            results[me] = out
            return len(out)

        ts = []
        for i, (ops, at) in enumerate(programs):
            ops = [op for op in ops if op[0] != "wait" or op[1] < i]
            ops.insert(min(at, len(ops)), ("set", i))
            ts.append(threads.spawn(body, (i,), ops))
        for t in ts:
            t.join()
        return results, violations, [t.value for t in ts]

    return main


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs=st.lists(st.tuples(st.lists(_THREAD_OP, max_size=5), st.integers(0, 5)),
                         min_size=1, max_size=4))
def test_property_same_results_as_fifo(programs):
    fifo = run(_latch_program(programs), "fifo")
    pth = run(_latch_program(programs), "pth")
    assert fifo[1] == [] and pth[1] == []
    assert pth == fifo
