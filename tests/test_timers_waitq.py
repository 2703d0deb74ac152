"""TimerHeap and WaitQueue as data structures."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whyevents import threads
from whyevents.threads.timers import TimerHeap
from whyevents.threads.waitq import WaitQueue

pytestmark = pytest.mark.runtime


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 100, allow_nan=False), st.booleans()), max_size=300))
def test_timer_heap_pops_live_timers_in_deadline_order(entries):
    h = TimerHeap()
    live = []
    for i, (deadline, cancel) in enumerate(entries):
        e = h.add(deadline, f"t{i}")
        if cancel:
            h.cancel(e)
            h.cancel(e)  # twice is harmless
        else:
            live.append((deadline, i, f"t{i}"))
    assert len(h) == len(live)
    live.sort()
    expect_next = live[0][0] if live else None
    assert h.next_deadline() == expect_next
    assert list(h.pop_due(50.0)) == [t for d, _, t in live if d <= 50.0]
    assert list(h.pop_due(1000.0)) == [t for d, _, t in live if d > 50.0]
    assert len(h) == 0 and h.next_deadline() is None


def test_timer_heap_compacts_cancelled_entries():
    h = TimerHeap()
    entries = [h.add(float(i), i) for i in range(1000)]
    for e in entries[:900]:
        h.cancel(e)
    assert len(h) == 100
    assert len(h._heap) < 300  # rebuilt once dead entries outnumbered live ones


def test_waitqueue_fifo_and_discard():
    def main():
        wq = WaitQueue("thing", "test")
        order = []

        def waiter(i):
            ok = wq.park(None if i != 2 else 0.01)
            order.append((i, ok))

        ts = [threads.spawn(waiter, i) for i in range(5)]
        threads.sleep(0)
        assert len(wq) == 5
        threads.sleep(0.05)                   # waiter 2 times out and leaves the queue
        assert len(wq) == 4 and ts[2] not in wq.threads()
        assert wq.wake_one() is ts[0]
        wq.wake(ts[3])
        assert wq.wake_all() == 2
        assert wq.wake_one() is None
        for t in ts:
            t.join()
        return order, wq.park(0)

    order, nonblocking = threads.run(main)
    assert order == [(2, False), (0, True), (3, True), (1, True), (4, True)]
    assert nonblocking is False
