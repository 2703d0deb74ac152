"""Timed waits that follow one another in one thread: re-arming, dropping, expiry order.

``sched_fifo`` arms timeouts lazily (one timer entry per thread kept across parks, the real
deadline in ``t._deadline``): a park with an earlier deadline than the kept entry must re-arm,
an entry whose thread now waits without a timeout must not keep the hub from reporting a
deadlock, an entry that fires early must neither time the thread out nor be lost, and threads
due in the same pass time out in the order of their own deadlines, not of their stale entries.
These hold for every scheduler; each test asserts outcomes and order. The only clock bounds are
generous ones (seconds against a wait of hundredths).
"""

from __future__ import annotations

import time

import pytest

from support import settle
from whyevents import threads
from whyevents.threads.errors import Deadlock

pytestmark = pytest.mark.runtime

GUARD = 5.0


def test_a_renewed_wait_with_an_earlier_deadline_times_out_at_it(run):
    """Park with timeout GUARD, be woken, park again with 0.01: it times out at ~0.01 (before
    a thread sleeping 1 s wakes), not when the first wait's entry would have fired."""

    def main():
        first, second = threads.Event(), threads.Event()
        order = []

        def waiter():
            order.append(("first", first.wait(GUARD)))
            order.append(("second", second.wait(0.01)))     # nobody sets it

        def sleeper():
            threads.sleep(1.0)
            order.append(("sleeper", True))

        w = threads.spawn(waiter)
        s = threads.spawn(sleeper)
        settle()
        first.set()
        w.join(GUARD)
        s.join(GUARD)
        return order

    assert run(main) == [("first", True), ("second", False), ("sleeper", True)]


def test_a_renewed_wait_with_a_later_deadline_outlives_the_old_entry(run):
    """Park with 0.05, be woken, park again with GUARD: when the first wait's entry comes due
    the thread keeps waiting (the entry is re-armed), and a wake after it still reaches it."""

    def main():
        first, second = threads.Event(), threads.Event()
        got = []

        def waiter():
            got.append(first.wait(0.05))
            got.append(second.wait(GUARD))

        w = threads.spawn(waiter)
        settle()
        first.set()
        settle()
        threads.sleep(0.2)              # the first entry's deadline passes meanwhile
        alive = w.is_alive()
        second.set()
        w.join(GUARD)
        return alive, got

    assert run(main) == (True, [True, True])


def test_a_wait_without_timeout_after_a_timed_one_still_deadlocks(run):
    """The entry left by a timed wait must not count as a way out once its thread waits
    forever: the hub reports the deadlock now, not when the old entry would have fired."""

    def main():
        first, never, main_never = threads.Event(), threads.Event(), threads.Event()

        def waiter():
            first.wait(60.0)
            never.wait()

        threads.spawn(waiter)
        settle()
        first.set()
        settle()
        t0 = time.monotonic()
        with pytest.raises(Deadlock):
            main_never.wait()
        return time.monotonic() - t0

    assert run(main) < 30.0         # the old entry is due at 60 s


def test_threads_due_in_one_pass_time_out_in_deadline_order(run):
    """A's entry is early (kept from a wait it was woken from) and comes before B's; A's real
    deadline comes after B's. Both pass while the OS thread is blocked, so one pass expires
    both: B must time out first."""

    def main():
        a1, a2, b1 = threads.Event(), threads.Event(), threads.Event()
        order = []

        def a():
            order.append(("a first", a1.wait(0.5)))      # woken: its entry stays at +0.5
            order.append(("a", a2.wait(1.5)))            # real deadline +1.5, entry +0.5

        def b():
            order.append(("b", b1.wait(0.8)))

        ta = threads.spawn(a)
        tb = threads.spawn(b)
        settle()
        a1.set()
        settle()                        # a parks again: renewed, its entry kept
        time.sleep(1.7)                 # the real one: no pass runs while every deadline passes
        ta.join(GUARD)
        tb.join(GUARD)
        return order

    assert run(main) == [("a first", True), ("b", False), ("a", False)]
