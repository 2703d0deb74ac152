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


class _Hub:
    """Just enough of a hub for WaitQueue's waking methods: records whom it woke."""

    def __init__(self) -> None:
        self.woken: list = []

    def wake(self, t, value=None) -> None:
        self.woken.append(t)


class _T:
    def __init__(self, hub: _Hub, i: int) -> None:
        self._hub, self.i = hub, i

    def __repr__(self) -> str:
        return f"T{self.i}"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["park", "park", "wake_one", "discard", "wake",
                                           "wake_all"]), st.integers(0, 10**6)),
                max_size=600))
def test_waitqueue_is_a_fifo_whose_dead_slots_stay_bounded(ops):
    """Against a list model: the same order under any mix of parks, wakes and discards, and the
    removals not yet compacted away never exceed max(COMPACT_AFTER, waiters): popping the oldest
    of a plain dict walks those dead slots, so this bound is what keeps the queue O(1)."""
    from whyevents.threads.waitq import COMPACT_AFTER
    hub = _Hub()
    wq = WaitQueue("thing", "test")
    q = wq._q
    model: list = []
    n = 0
    for op, r in ops:
        if op == "park":
            t = _T(hub, n)
            n += 1
            wq._q[t] = None                 # what park() does before it blocks
            model.append(t)
        elif op == "wake_one":
            got = wq.wake_one()
            assert got is (model.pop(0) if model else None)
        elif op == "wake_all":
            assert wq.wake_all() == len(model)
            assert hub.woken[len(hub.woken) - len(model):] == model
            model.clear()
        elif model:
            t = model.pop(r % len(model))
            if op == "discard":
                wq.discard(t)
                wq.discard(t)               # twice: the second is a no-op, not a dead slot
            else:
                wq.wake(t)
                assert hub.woken[-1] is t
        assert wq.threads() == model and len(wq) == len(model)
        assert wq.first() is (model[0] if model else None)
        assert wq._dead <= max(COMPACT_AFTER, len(model))
        assert wq._q is q                   # rebuilt in place: pollers hold on to _q


def test_waitqueue_drain_of_timed_out_waiters_compacts():
    """80,000 waiters leave the way timeouts take them (oldest first), with a wake between: the
    dead slots are compacted away as they go, so no pop walks more than a bounded prefix."""
    hub = _Hub()
    wq = WaitQueue("thing", "test")
    ts = [_T(hub, i) for i in range(80_000)]
    for t in ts:
        wq._q[t] = None
    most = 0
    for i in range(0, 80_000, 2):
        wq.discard(ts[i])
        assert wq.wake_one() is ts[i + 1]
        most = max(most, wq._dead)
    assert len(wq) == 0 and most <= 80_000 // 2 + 1
    from whyevents.threads.waitq import COMPACT_AFTER
    assert wq._dead <= COMPACT_AFTER
