"""The run-time live-state probe: bytes held by parked green threads, private vs shared."""

from __future__ import annotations

import pytest

from whyevents import threads
from whyevents.threads.livestate import measure_threads, object_state, summarize

pytestmark = pytest.mark.timeout(60)


def test_parked_threads_private_and_shared_state():
    shared = {"config": list(range(1000))}
    out = {}

    def holder(size, gate):
        buf = bytes(size)                  # private, live across the wait
        cfg = shared                       # shared by every thread
        gate.wait()
        return len(buf), cfg

    def main():
        gate = threads.Event()
        small = [threads.spawn(holder, 10, gate) for _ in range(3)]
        big = [threads.spawn(holder, 100_000, gate) for _ in range(3)]
        threads.sleep(0)
        rows, shared_bytes = measure_threads(small + big)
        out["rows"], out["shared"] = rows, shared_bytes
        gate.set()
        for t in small + big:
            t.join()

    threads.run(main)
    rows = out["rows"]
    assert all(r["frames"] >= 2 and r["frame_bytes"] > 0 for r in rows)
    small, big = rows[:3], rows[3:]
    for s, b in zip(small, big, strict=True):
        assert b["object_bytes"] - s["object_bytes"] >= 99_000
    assert all(r["object_bytes"] < 50_000 for r in small)     # the shared list is not counted
    assert out["shared"] >= 8_000                            # ... it is counted once as shared
    assert all("holder" in r["where"] or "threads" in r["where"] for r in rows)


def test_object_state_and_summary():
    common = list(range(500))

    class Conn:
        __slots__ = ("buf", "ctx")

        def __init__(self, n):
            self.buf = bytearray(n)
            self.ctx = common

    sizes, shared = object_state([Conn(10), Conn(20_000)])
    assert sizes[1] - sizes[0] >= 19_000 and shared >= 4_000
    s = summarize([3, 1, 2])
    assert (s["min"], s["median"], s["max"], s["n"]) == (1, 2, 3, 3)
