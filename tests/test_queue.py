"""Queue, LifoQueue, PriorityQueue, SimpleQueue: the stdlib's semantics, hand-off, kills."""

from __future__ import annotations

import queue as stdqueue

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support import settle
from whyevents import threads

pytestmark = pytest.mark.runtime


def test_fifo_lifo_priority_order(run):
    def main():
        out = {}
        for cls in (threads.Queue, threads.LifoQueue, threads.PriorityQueue):
            q = cls()
            for x in (3, 1, 2):
                q.put(x)
            out[cls.__name__] = [q.get() for _ in range(3)]
        return out

    assert run(main) == {"Queue": [3, 1, 2], "LifoQueue": [2, 1, 3], "PriorityQueue": [1, 2, 3]}


def test_empty_full_are_the_stdlib_exceptions(run):
    def main():
        q = threads.Queue(1)
        with pytest.raises(stdqueue.Empty):
            q.get_nowait()
        with pytest.raises(stdqueue.Empty):
            q.get(timeout=0.01)
        q.put(1)
        assert q.full()
        with pytest.raises(stdqueue.Full):
            q.put_nowait(2)
        with pytest.raises(stdqueue.Full):
            q.put(2, timeout=0.01)
        with pytest.raises(ValueError):
            q.get(timeout=-1) if q.empty() else q.put(3, timeout=-1)
        return q.qsize(), q.unfinished_tasks

    assert run(main) == (1, 1)


def test_bounded_queue_blocks_putters_and_keeps_order(run):
    def main():
        q = threads.Queue(2)
        got = []

        def producer(name):
            for i in range(5):
                q.put((name, i))

        ps = [threads.spawn(producer, n) for n in "ab"]
        settle()
        stats = q.statistics()
        while len(got) < 10:
            got.append(q.get())
        for p in ps:
            p.join()
        return stats, got

    stats, got = run(main)
    assert stats["size"] == 2 and stats["putters"] == 2
    for name in "ab":
        assert [i for n, i in got if n == name] == list(range(5))


def test_task_done_and_join(run):
    def main():
        q = threads.Queue()
        done = []

        def worker():
            while True:
                item = q.get()
                threads.sleep(0.001)
                done.append(item)
                q.task_done()

        for _ in range(3):
            threads.spawn(worker)
        for i in range(20):
            q.put(i)
        q.join()
        with pytest.raises(ValueError):
            q.task_done()
        return sorted(done)

    assert run(main) == list(range(20))


def test_killed_getter_does_not_lose_its_item(run):
    def main():
        q = threads.Queue()
        a = threads.spawn(q.get)
        settle()
        q.put("item")             # handed straight to a, which has not run yet
        a.kill()
        a.join()
        return q.get_nowait()

    assert run(main) == "item"


def test_killed_putter_is_not_counted_as_unfinished(run):
    """Regression: a putter killed while it waited on a full queue left unfinished_tasks one
    too high, so join() waited for an item that never went in."""
    def main():
        q = threads.Queue(maxsize=1)
        q.put("in")
        a = threads.spawn(q.put, "never")
        settle()
        a.kill()
        a.join()
        assert q.get() == "in"
        q.task_done()
        q.join()                  # would raise Deadlock: nothing left to call task_done
        return q.unfinished_tasks, q.qsize()

    assert run(main) == (0, 0)


def test_failing_subclass_put_raises_in_its_put(run):
    """As the stdlib's: a subclass whose _put raises makes that put() raise (here in a putter
    whose item a getter moves in), the getter gets its item, and the count stays right."""
    class Failing(threads.Queue):
        fail = False

        def _put(self, item):
            if self.fail:
                self.fail = False
                raise ValueError("refused")
            super()._put(item)

    def main():
        q = Failing(maxsize=1)
        q.put("first")
        a = threads.spawn(q.put, "second")
        settle()
        q.fail = True
        got = q.get()             # makes room: a's item is moved in by this get, and fails
        a.join()
        q.fail = True
        with pytest.raises(ValueError):
            q.put("third")        # not blocking: raises here
        return got, type(a.exception).__name__, q.qsize(), q.unfinished_tasks

    assert run(main) == ("first", "ValueError", 0, 1)


def test_simple_queue(run):
    def main():
        q = threads.SimpleQueue()
        t = threads.spawn(q.get)
        settle()
        q.put(5)
        t.join()
        return t.value, q.empty(), q.qsize()

    assert run(main) == (5, True, 0)


@settings(max_examples=30, deadline=None)
@given(maxsize=st.integers(0, 4), producers=st.integers(1, 4), consumers=st.integers(1, 4),
       items=st.integers(0, 30), timeouts=st.booleans())
def test_every_item_delivered_once_in_producer_order(maxsize, producers, consumers, items,
                                                     timeouts):
    def main():
        q = threads.Queue(maxsize)
        got = []

        def producer(p):
            for i in range(items):
                q.put((p, i))
                if i % 3 == 0:
                    threads.sleep(0)

        def consumer():
            while True:
                try:
                    x = q.get(timeout=0.001) if timeouts else q.get()
                except stdqueue.Empty:
                    continue
                if x is None:
                    return
                got.append(x)

        ps = [threads.spawn(producer, p) for p in range(producers)]
        cs = [threads.spawn(consumer) for _ in range(consumers)]
        for p in ps:
            p.join()
        for _ in cs:
            q.put(None)
        for c in cs:
            c.join()
        return got

    got = threads.run(main)
    assert len(got) == producers * items
    assert len(set(got)) == len(got)
    if consumers == 1:  # with several consumers, the order they *record* items in may differ
        for p in range(producers):
            assert [i for pp, i in got if pp == p] == list(range(items))
