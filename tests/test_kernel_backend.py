"""The kernel backend: one program, written against the threads API, on green and kernel threads.

``program`` uses what a real server uses (a bounded producer/consumer Queue, a Lock-protected
counter, an Event, a Barrier, join and thread results) and returns only values that do not depend
on scheduling, so both backends must return the same. The kernel run must also really use
distinct kernel threads (``threading.get_native_id``); the green run uses one.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import pytest

from whyevents import threads as green
from whyevents.threads import HubError, backend
from whyevents.threads import kernel_threads as kernel

pytestmark = pytest.mark.runtime

BACKENDS = ["green", "kernel"]
CONSUMERS = 4
ITEMS = 500


def program(threads) -> dict:
    """Producer/consumer over a bounded Queue; counter under a Lock; Event; Barrier; join."""
    q = threads.Queue(maxsize=8)
    lock = threads.Lock()
    totals = {"n": 0, "sum": 0}
    go = threads.Event()
    barrier = threads.Barrier(CONSUMERS + 1)
    native = []

    def consumer(k):
        native.append(threading.get_native_id())
        go.wait()
        taken = 0
        while True:
            item = q.get()
            if item is None:
                break
            with lock:                       # read-modify-write: needs the lock on kernel threads
                n = totals["n"]
                if item % 97 == 0:
                    threads.sleep(0)         # a switch inside the critical section
                totals["n"] = n + 1
                totals["sum"] += item
            taken += 1
        barrier.wait()
        return taken

    def producer():
        for i in range(ITEMS):
            q.put(i)
        for _ in range(CONSUMERS):
            q.put(None)
        return "produced"

    consumers = [threads.spawn(consumer, k) for k in range(CONSUMERS)]
    prod = threads.spawn(producer)
    go.set()
    index = barrier.wait(timeout=30)
    for t in consumers:
        t.join(timeout=30)
    prod.join(timeout=30)
    return {
        "n": totals["n"],
        "sum": totals["sum"],
        "taken": sum(t.get() for t in consumers),
        "producer": prod.get(),
        "alive": [t.is_alive() for t in consumers + [prod]],
        "barrier_index_ok": 0 <= index <= CONSUMERS,
        "native_ids": len(set(native)),
        "event_set": go.is_set(),
    }


@pytest.mark.parametrize("name", BACKENDS)
def test_same_program_same_result(name):
    threads = backend(name)
    result = threads.run(program, threads)
    native_ids = result.pop("native_ids")
    assert result == {
        "n": ITEMS, "sum": ITEMS * (ITEMS - 1) // 2, "taken": ITEMS, "producer": "produced",
        "alive": [False] * (CONSUMERS + 1), "barrier_index_ok": True, "event_set": True,
    }
    if name == "kernel":
        assert native_ids == CONSUMERS           # really distinct kernel threads
    else:
        assert native_ids == 1                   # all green threads share one OS thread


def test_backend_names():
    assert backend("green") is green
    assert backend("kernel") is kernel
    with pytest.raises(ValueError, match="'fibers'"):
        backend("fibers")


def test_kernel_module_offers_the_green_api():
    missing = {"Hub", "get_hub", "Watchdog", "monkey"}   # green-only, documented
    for name in set(green.__all__) - missing:
        assert hasattr(kernel, name), name
    assert kernel.Lock is threading.Lock and kernel.local is threading.local
    assert issubclass(kernel.Thread, threading.Thread)


def test_run_checks_the_same_keywords():
    assert kernel.run(lambda a, b=0: a + b, 1, b=2, scheduler="pth", poller="poll") == 3
    with pytest.raises(ValueError, match="scheduler"):
        kernel.run(lambda: None, scheduler="nope")
    with pytest.raises(ValueError, match="poller"):
        kernel.run(lambda: None, poller="nope")


def test_thread_value_exception_get_and_kill():
    t = kernel.spawn(lambda x: x * 2, 21)
    assert t.get(timeout=10) == 42 and t.value == 42 and t.state == "done"

    def boom():
        raise KeyError("inside")

    hook, seen = threading.excepthook, []
    threading.excepthook = seen.append        # the kernel backend reports, like the hub
    try:
        bad = kernel.spawn(boom)
        bad.join(10)
    finally:
        threading.excepthook = hook
    assert isinstance(bad.exception, KeyError) and len(seen) == 1
    with pytest.raises(KeyError):
        bad.get()

    gate = kernel.Event()
    waiting = kernel.spawn(gate.wait)
    with pytest.raises(NotImplementedError, match="cannot be killed"):
        waiting.kill()
    gate.set()
    waiting.join(10)
    assert kernel.Thread(target=print).state == "new"


def test_subclass_run_is_recorded():
    class Worker(kernel.Thread):
        def run(self):
            return "from subclass"

    assert Worker().start().get(10) == "from subclass"


def test_stats_and_dump():
    gate = kernel.Event()
    t = kernel.spawn(gate.wait)
    try:
        s = kernel.stats()
        assert s["threads"] >= 2 and s["spawns"] >= 1
        assert s["switches"] == s["voluntary_switches"] + s["involuntary_switches"] > 0
        assert any(row["ident"] == t.ident for row in kernel.dump())
        assert t.name in kernel.format_dump()
    finally:
        gate.set()
        t.join(10)


def test_local_is_per_kernel_thread():
    data = kernel.local()
    data.x = "main"
    other = kernel.spawn(lambda: hasattr(data, "x")).get(10)
    assert other is False and data.x == "main"


def test_kernel_backend_refuses_after_patch_all():
    code = textwrap.dedent("""
        from whyevents.threads import HubError, monkey
        from whyevents.threads import kernel_threads as kernel
        monkey.patch_all()
        try:
            kernel.spawn(print, "should not run")
        except HubError as e:
            print("refused:", e)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("refused:") and "patch_all" in proc.stdout
    assert issubclass(HubError, RuntimeError)


def test_atomic_sections_refuse_on_kernel_threads():
    with pytest.raises(NotImplementedError, match="preempted"):
        with kernel.atomic():
            pass

    @kernel.atomic
    def section():
        return 1

    with pytest.raises(NotImplementedError, match="Lock"):
        section()
    assert kernel.in_atomic() is False and kernel.AtomicViolation is green.AtomicViolation
