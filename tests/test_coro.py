"""Compiler-transformed threads: async def tasks on the lean coroutine scheduler."""

from __future__ import annotations

import pytest

from whyevents.threads import Deadlock, coro

pytestmark = [pytest.mark.runtime, pytest.mark.timeout(60)]


def test_docstring_example_and_fifo_order():
    order = []

    async def worker(i, ev):
        await ev.wait()
        order.append(i)

    async def main():
        ev = coro.Event()
        for i in range(5):
            coro.spawn(worker(i, ev))
        await coro.sleep(0)                 # all five park on the event
        assert order == []
        ev.set()
        await coro.sleep(0)
        return order

    assert coro.run(main()) == [0, 1, 2, 3, 4]


def test_queue_handoff_and_pipeline_shape():
    async def worker(i, ev, done):
        while True:
            await ev.wait()
            ev.clear()
            done.put_nowait(i)

    async def main():
        n = 100
        chans = [coro.Event() for _ in range(n)]
        done = coro.Queue()
        for i in range(n):
            coro.spawn(worker(i, chans[i], done))
        for ev in chans:
            ev.set()
        got = 0
        while got < 10 * n:
            i = await done.get()
            got += 1
            chans[i].set()
        return got

    assert coro.run(main()) == 1000


def test_condition_sleep_and_errors():
    async def waiter(cond, out):
        await cond.wait()
        out.append("woken")

    async def boom():
        raise ValueError("only this thread ends")

    async def main():
        cond, out = coro.Condition(), []
        coro.spawn(waiter(cond, out))
        coro.spawn(waiter(cond, out))
        coro.spawn(boom())
        await coro.sleep(0.01)
        cond.notify(1)
        await coro.sleep(0)
        first = list(out)
        cond.notify_all()
        await coro.sleep(0)
        return first, out, coro.current().errors

    first, out, errors = coro.run(main())
    assert first == ["woken"] and out == ["woken", "woken"]
    assert len(errors) == 1 and isinstance(errors[0][1], ValueError)


def test_deadlock_and_main_errors():
    async def stuck():
        await coro.Event().wait()

    with pytest.raises(Deadlock):
        coro.run(stuck())

    async def fails():
        raise KeyError("main")

    with pytest.raises(KeyError):
        coro.run(fails())
    assert coro.run(_answer()) == 42             # a new scheduler each run


async def _answer():
    return 42
