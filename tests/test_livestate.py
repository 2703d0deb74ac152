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


def test_dump_reports_live_state_of_parked_threads():
    """threads.dump(): each parked thread's bytes at its blocking point, measured on the call."""
    out = {}

    def holder(size, gate):
        buf = bytes(size)                  # live across the wait
        gate.wait()
        return len(buf)

    def main():
        gate = threads.Event()
        small = threads.Thread(target=holder, args=(10, gate), name="small")
        big = threads.Thread(target=holder, args=(200_000, gate), name="big")
        small.start()
        big.start()
        threads.sleep(0)
        out["rows"] = {r["name"]: r for r in threads.dump()}
        out["text"] = threads.format_dump()
        out["cheap"] = {r["name"]: r for r in threads.dump(live_state=False)}
        gate.set()
        small.join()
        big.join()

    threads.run(main)
    rows = out["rows"]
    small, big = rows["small"], rows["big"]
    for r in (small, big):
        assert r["state"] == "parked"
        assert r["frame_bytes"] > 0 and r["c_stack_bytes"] >= 0
        assert r["live_bytes"] >= r["frame_bytes"] + r["object_bytes"]
    assert big["object_bytes"] - small["object_bytes"] >= 199_000
    assert big["live_bytes"] - small["live_bytes"] >= 199_000
    running = [r for r in rows.values() if r["state"] != "parked"]
    assert running and all(r["live_bytes"] is None for r in running)
    assert "big [parked] on " in out["text"]
    assert f"holding {big['live_bytes']:,} B" in out["text"]
    assert "live_bytes" not in out["cheap"]["big"]


def test_livestate_is_not_imported_by_the_runtime():
    """The probe is loaded only when dump() measures: nothing of it on any switch path."""
    import subprocess
    import sys
    code = ("import sys, whyevents.threads as t\n"
            "t.run(lambda: t.sleep(0))\n"
            "print('whyevents.threads.livestate' in sys.modules)\n"
            "def main():\n"
            "    ev = t.Event(); w = t.spawn(ev.wait); t.sleep(0)\n"
            "    assert t.dump()[0] is not None; ev.set(); w.join()\n"
            "t.run(main)\n"
            "print('whyevents.threads.livestate' in sys.modules)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "True"]
