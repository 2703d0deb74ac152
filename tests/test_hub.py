"""The hub: spawning, joining, sleeping, killing, faults, deadlock, idling, scale."""

from __future__ import annotations

import time

import pytest

from support import settle
from whyevents import threads
from whyevents.threads import Deadlock, ThreadKilled

pytestmark = pytest.mark.runtime


def test_spawn_join_value_and_order(run):
    def main():
        out = []

        def worker(i):
            for k in range(3):
                out.append((i, k))
                threads.sleep(0)
            return i * 10

        ts = [threads.spawn(worker, i) for i in range(3)]
        for t in ts:
            t.join()
        return out, [t.value for t in ts], [t.is_alive() for t in ts]

    out, values, alive = run(main)
    # sleep(0) is round-robin: each round every thread takes one step, in spawn order
    assert out == [(i, k) for k in range(3) for i in range(3)]
    assert values == [0, 10, 20]
    assert alive == [False] * 3


def test_run_returns_and_raises():
    assert threads.run(lambda x: x + 1, 41) == 42
    with pytest.raises(ZeroDivisionError):
        threads.run(lambda: 1 / 0)


def test_bad_configuration_named():
    with pytest.raises(ValueError, match="poller='kqueue'"):
        threads.run(lambda: None, poller="kqueue")
    with pytest.raises(ValueError, match="scheduler='round-robin'"):
        threads.run(lambda: None, scheduler="round-robin")


def test_threading_style_thread_subclass(run):
    class Worker(threads.Thread):
        def __init__(self):
            super().__init__(name="worker-1")
            self.seen = None

        def run(self):
            self.seen = threads.current().name
            return "done"

    def main():
        w = Worker()
        w.start()
        with pytest.raises(RuntimeError):
            w.start()
        w.join()
        return w.seen, w.value

    assert run(main) == ("worker-1", "done")


def test_sleep_wakes_in_deadline_order(run):
    def main():
        order = []

        def sleeper(name, seconds):
            threads.sleep(seconds)
            order.append(name)

        ts = [threads.spawn(sleeper, n, s) for n, s in (("c", 0.03), ("a", 0.01), ("b", 0.02))]
        t0 = time.monotonic()
        for t in ts:
            t.join()
        return order, time.monotonic() - t0

    order, elapsed = run(main)
    assert order == ["a", "b", "c"]
    assert elapsed >= 0.03


def test_join_timeout(run):
    def main():
        t = threads.spawn(threads.sleep, 0.2)
        t.join(0.01)
        alive = t.is_alive()
        t.join()
        return alive, t.is_alive()

    assert run(main) == (True, False)


def test_exception_in_thread_is_reported_once_and_seen_by_joiner(run, capsys):
    def main():
        def bad():
            raise ValueError("boom")

        def good():
            threads.sleep(0.01)
            return "still running"

        b = threads.spawn(bad)
        g = threads.spawn(good)
        b.join()
        g.join()
        with pytest.raises(ValueError, match="boom"):
            b.get()
        return isinstance(b.exception, ValueError), g.value, threads.stats()["errors"]

    assert run(main) == (True, "still running", 1)
    err = capsys.readouterr().err
    assert err.count("ValueError: boom") == 1


def test_kill_parked_runnable_and_unstarted(run):
    def main():
        ev = threads.Event()
        log = []

        def parked():
            try:
                ev.wait()
            except ThreadKilled:
                log.append("parked-killed")
                raise

        def spinner():
            while True:
                threads.sleep(0)

        p = threads.spawn(parked)
        s = threads.spawn(spinner)
        settle()
        p.kill()
        s.kill()
        u = threads.Thread(target=log.append, args=("never",))
        u.kill()
        p.join()
        s.join()
        return log, p.exception, s.exception, p.is_alive(), s.is_alive()

    log, pe, se, pa, sa = run(main)
    assert log == ["parked-killed"]
    assert pe is None and se is None  # a kill is a normal end, not an error
    assert not pa and not sa


def test_kill_with_custom_exception_and_block(run):
    def main():
        t = threads.spawn(threads.sleep, 10)
        settle()
        t.kill(KeyError("stop"), block=True)
        return t.is_alive(), type(t.exception)

    assert run(main) == (False, KeyError)


def test_kill_self_raises_immediately(run):
    def main():
        def suicide():
            threads.current().kill()
            return "unreachable"

        t = threads.spawn(suicide)
        t.join()
        return t.value

    assert run(main) is None


def test_deadlock_names_blocked_threads(run):
    def main():
        a, b = threads.Lock(), threads.Lock()

        def one():
            with a:
                threads.sleep(0.01)
                with b:
                    pass

        def two():
            with b:
                threads.sleep(0.01)
                with a:
                    pass

        t1 = threads.Thread(target=one, name="first")
        t2 = threads.Thread(target=two, name="second")
        t1.start()
        t2.start()
        t1.join()

    with pytest.raises(Deadlock) as ei:
        run(main)
    msg = str(ei.value)
    assert "first" in msg and "second" in msg and "MainThread" in msg
    assert "lock" in msg
    assert {name for name, _, _ in ei.value.blocked} == {"first", "second", "MainThread"}


def test_deadlock_main_waits_on_event_nobody_sets(run):
    with pytest.raises(Deadlock, match="event"):
        run(lambda: threads.Event().wait())


def test_no_deadlock_while_a_timer_is_pending(run):
    def main():
        ev = threads.Event()

        def setter():
            threads.sleep(0.02)
            ev.set()

        threads.spawn(setter)
        return ev.wait()

    assert run(main) is True


def test_idle_process_sleeps_in_poller(run):
    """With every thread parked on a timer, the process uses (almost) no CPU."""

    def main():
        ts = [threads.spawn(threads.sleep, 0.4) for _ in range(10)]
        c0, w0 = time.process_time(), time.monotonic()
        for t in ts:
            t.join()
        return time.process_time() - c0, time.monotonic() - w0

    cpu, wall = run(main)
    assert wall >= 0.39
    assert cpu < 0.1 * wall, f"busy while idle: {cpu:.3f}s CPU in {wall:.3f}s"


def test_keyboard_interrupt_in_thread_reaches_main(run):
    def main():
        def ctrl_c():
            raise KeyboardInterrupt

        threads.spawn(ctrl_c)
        threads.sleep(1)

    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run(main)
    assert time.monotonic() - t0 < 0.9


def test_greenlets_are_reused(run):
    def main():
        for _ in range(50):
            ts = [threads.spawn(lambda: None) for _ in range(20)]
            for t in ts:
                t.join()
        return threads.stats()

    s = run(main)
    assert s["spawns"] == 1000
    assert s["greenlets_created"] <= 40


def test_long_chain_of_new_threads_does_not_overflow_the_stack(run):
    """Regression: new greenlets started from thread stacks inherited ever deeper recursion."""
    if run.scheduler == "pth":
        pytest.skip("O(n) scheduler: 20k threads in one scan is the slow path by design")

    def main():
        ev = threads.Event()
        ts = [threads.spawn(ev.wait) for _ in range(20000)]
        threads.sleep(0)
        ev.set()
        for t in ts:
            t.join()
        return sum(t.exception is not None for t in ts)

    assert run(main) == 0


@pytest.mark.slow
def test_hundred_thousand_threads_on_conditions_and_timers():
    """100,000 threads parked (half on a Condition, half on timers), all woken, in seconds."""

    def main():
        cond = threads.Condition(threads.Lock())
        woken = [0]

        def on_cond():
            with cond:
                cond.wait()
            woken[0] += 1

        def on_timer():
            threads.sleep(0.2)
            woken[0] += 1

        ts = [threads.spawn(on_cond) for _ in range(50000)]
        ts += [threads.spawn(on_timer) for _ in range(50000)]
        threads.sleep(0)
        parked = threads.stats()["waiters_by_kind"]
        with cond:
            cond.notify_all()
        for t in ts:
            t.join()
        return parked, woken[0]

    parked, woken = threads.run(main)
    assert parked.get("cond") == 50000 and parked.get("sleep") == 50000
    assert woken == 100000


def test_dump_says_what_and_where(run):
    def main():
        lock = threads.Lock()
        lock.acquire()

        def blocked_here():
            lock.acquire()

        t = threads.Thread(target=blocked_here, name="waiter")
        t.start()
        settle()
        rows = {r["name"]: r for r in threads.dump()}
        text = threads.format_dump()
        lock.release()
        t.join()
        return rows, text

    rows, text = run(main)
    w = rows["waiter"]
    assert w["state"] == "parked"
    assert "lock" in w["waiting_on"]
    assert "blocked_here" in w["where"] and "test_hub.py" in w["where"]
    assert w["parked_for_s"] >= 0
    assert "waiter [parked] on lock" in text


def test_stats_counts(run):
    def main():
        ev = threads.Event()
        ts = [threads.spawn(ev.wait) for _ in range(7)]
        settle()
        s = threads.stats()
        ev.set()
        for t in ts:
            t.join()
        return s

    s = run(main)
    assert s["waiters_by_kind"] == {"event": 7}
    assert s["threads"] == 8 and s["spawns"] == 7
    assert s["switches"] >= 7
    assert s["scheduler"] == run.scheduler and s["poller"] == run.poller


def test_watchdog_reports_a_blocked_hub():
    reports = []

    def main():
        dog = threads.Watchdog(threshold=0.05, report=lambda t, s, st: reports.append((t, s, st)))
        dog.start()
        try:
            def hog():
                time.sleep(0.3)  # a real blocking call the hub cannot see

            threads.spawn(hog).join()
            threads.sleep(0.1)  # a cooperative wait: must not be reported
            n_after_hog = len(reports)
            threads.sleep(0.2)
            return n_after_hog
        finally:
            dog.stop()

    n = threads.run(main)
    assert n >= 1
    assert len(reports) == n  # sleeping in the poller is not "blocked"
    thread, blocked_for, stack = reports[0]
    assert blocked_for >= 0.05
    assert "hog" in stack


def test_watchdog_rejects_bad_threshold():
    with pytest.raises(ValueError, match="threshold"):
        threads.Watchdog(threshold=0)


def test_context_variables_do_not_leak_between_threads_on_a_reused_greenlet(run):
    import contextvars

    var = contextvars.ContextVar("var", default="unset")

    def main():
        seen = []

        def setter():
            var.set("leaked")

        def reader():
            seen.append(var.get())

        for _ in range(3):
            threads.spawn(setter).join()
            threads.spawn(reader).join()
        return seen, threads.stats()["greenlets_created"]

    seen, created = run(main)
    assert seen == ["unset"] * 3
    assert created <= 2  # the greenlet really was reused


def test_signal_handler_exception_while_polling_reaches_main_cleanly(run):
    """A signal handler that raises while the hub sleeps in the poller: the exception surfaces
    in the main thread's blocking call (as CPython raises it in the main thread), and the main
    thread is out of what it waited on: its next wait, on a new descriptor, is a plain wait
    (regression: it got a stale EBADF, CPython's test_selectors under patch_all)."""
    import signal

    from whyevents.threads import socket as gsocket

    class Interrupt(Exception):
        pass

    def handler(*_):
        raise Interrupt

    def main():
        a, b = gsocket.socketpair()
        with pytest.raises(Interrupt):
            a.settimeout(30)
            a.recv(1)                       # parked; the alarm's handler raises in the hub
        a.close()
        b.close()
        c, d = gsocket.socketpair()         # likely the same descriptor numbers again
        c.settimeout(0.2)
        with pytest.raises(TimeoutError):
            c.recv(1)
        d.send(b"x")
        c.settimeout(5)
        got = c.recv(1)
        c.close()
        d.close()
        return got, threads.stats()

    old = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        got, stats = run(main)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert got == b"x"
    assert stats["fd_waiters"] == 0


def test_nothing_runnable_the_parking_thread_polls_and_goes_on_without_a_switch(run):
    """fifo: with nothing runnable, the thread that parks polls on its own stack; when that poll
    wakes it, it goes on with no greenlet switch at all (not to the hub and back)."""
    import _thread
    import os

    from whyevents.threads import socket as gsocket

    def main():
        a, b = gsocket.socketpair()
        hub = threads.get_hub()
        a.settimeout(5)
        fd = b.fileno()
        _thread.start_new_thread(lambda: (time.sleep(0.05), os.write(fd, b"x")), ())
        s0, p0 = hub.switches, hub.polls
        got = a.recv(1)                     # parks: nothing else runnable
        switched, polled = hub.switches - s0, hub.polls - p0
        a.close()
        b.close()
        return got, switched, polled, threads.stats()

    got, switched, polled, stats = run(main)
    assert got == b"x" and stats["fd_waiters"] == 0
    if run.scheduler == "fifo":
        assert switched == 0 and polled >= 1


def test_thread_ident_is_drawn_when_first_read():
    """A parked thread holds no ident int of its own until someone asks (memory per parked
    thread); once drawn it is stable, unique, and what current().ident gives inside the thread."""
    def main():
        seen = []

        def body():
            seen.append(threads.current().ident)

        t = threads.spawn(body)
        u = threads.spawn(body)
        assert t._ident is None and u._ident is None
        first = u.ident
        assert u.ident == first and t.ident != first
        t.join()
        u.join()
        return t.ident, u.ident, seen

    ti, ui, seen = threads.run(main)
    assert sorted(seen) == sorted([ti, ui])


# -- calls from other OS threads ---------------------------------------------------------------

def test_a_call_from_another_os_thread_never_pokes_a_closed_hub():
    """The hub can run a foreign call the moment it is enqueued (it is awake anyway), return
    from ``run`` and close its wake descriptor, all before the caller pokes it; the poke must
    not then reach a closed descriptor (EBADF: a Knot test's stop met it), or a new one that
    took its number. The window is made wide here: the enqueue waits (up to a bound) for the
    hub to close. Once closed, a call is refused by name."""
    import _thread
    import collections
    import os

    for _ in range(3):
        started = _thread.allocate_lock()
        started.acquire()
        box: dict = {}

        class Widened(collections.deque):
            box: dict

            def append(self, item):
                super().append(item)
                hub = self.box["hub"]
                if _thread.get_ident() != hub.os_thread:
                    until = time.monotonic() + 0.5
                    while not hub.closed and time.monotonic() < until:
                        time.sleep(0.001)
                    os.close(os.open(os.devnull, os.O_RDONLY))   # a descriptor came and went

        def main(started=started, box=box, widened=Widened):
            hub = threads.get_hub()
            hub.expect_foreign()
            hub._foreign = widened()
            hub._foreign.box = box
            stop = threads.Event()
            box["hub"], box["stop"] = hub, stop
            started.release()
            while not stop.is_set():         # awake: it sees the call without a poke
                threads.sleep(0)
            return "ended"

        errors: list = []
        done = _thread.allocate_lock()
        done.acquire()

        def caller(started=started, box=box, errors=errors, done=done):
            try:
                started.acquire()
                box["hub"].call_threadsafe(box["stop"].set)
            except BaseException as e:      # noqa: BLE001 - asserted below
                errors.append(e)
            finally:
                done.release()

        _thread.start_new_thread(caller, ())
        assert threads.run(main) == "ended"
        assert done.acquire(True, 10)
        assert not errors, errors
    with pytest.raises(threads.HubError, match="closed"):
        box["hub"].call_threadsafe(print)
