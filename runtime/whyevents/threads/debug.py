"""Visible queues (SEDA's lesson, the paper's section 6): counters, a thread dump, a watchdog.

``stats()`` reads counters the hub keeps anyway (plain integer adds on the paths that change them),
so it is cheap enough to leave on and to sample while a benchmark runs. ``dump()`` walks the live
threads and says, for each, its state, what it waits on, since when and where in user code; it
costs O(threads) and is meant for humans and for deadlock reports; it also measures the bytes
each parked thread holds at its blocking point (``threads.livestate``, computed only then). The
watchdog is a kernel thread that notices the hub has not switched for longer than a threshold (a
blocking call that slipped past monkey-patching, a CPU-bound loop) and reports where the hub's OS
thread is stuck.
"""

from __future__ import annotations

import _thread
import sys
import time
import traceback
from collections import Counter

from .hub import PARKED, Hub, describe_wait, get_hub, where_blocked

__all__ = ["stats", "dump", "format_dump", "Watchdog"]

# The watchdog is a kernel thread: capture the originals before monkey-patching can replace them.
_start_new_thread = _thread.start_new_thread
_allocate_lock = _thread.allocate_lock
_sleep = time.sleep


def stats(hub: Hub | None = None) -> dict:
    """Counters of ``hub`` (default: this OS thread's): switches, spawns, run-queue length,
    waiters by kind, poll calls, kernel-thread pool jobs, live threads, timers."""
    hub = hub or get_hub()
    by_kind: Counter = Counter()
    for t in hub._live:
        if t._state is PARKED:
            by_kind[getattr(t._waiting, "kind", "?")] += 1
    out = {
        "scheduler": hub.scheduler,
        "poller": hub.poller.name,
        "threads": len(hub._live),
        "runnable": len(hub.ready),
        "switches": hub.switches,
        "spawns": hub.spawns,
        "greenlets_created": hub.greenlets_created,
        "idle_workers": len(hub._idle),
        "loops": hub.loops,
        "polls": hub.polls,
        "errors": hub.errors,
        "timers": len(hub.timers),
        "fd_waiters": hub.poller.waiting,
        "foreign_pending": hub._foreign_pending,
        "waiters_by_kind": dict(by_kind),
    }
    pool = sys.modules.get("whyevents.threads.threadpool")
    if pool is not None and hasattr(pool, "stats"):
        out["pool"] = pool.stats()
    extra = getattr(hub, "extra_stats", None)
    if extra is not None:
        out.update(extra())
    return out


_LIVE_KEYS = ("live_bytes", "frame_bytes", "c_stack_bytes", "object_bytes")


def dump(hub: Hub | None = None, *, live_state: bool = True) -> list[dict]:
    """One record per live thread: name, state, waiting on, seconds parked, where.

    With ``live_state`` (the default), each parked thread's record also says what it holds at
    its blocking point, measured by ``threads.livestate`` here and now (nothing is kept on any
    switch or park path): ``live_bytes`` in all, of which ``frame_bytes`` (its Python frames),
    ``c_stack_bytes`` (the C stack slice greenlet saved) and ``object_bytes`` (objects its
    frames' locals reach that no other parked thread reaches). Threads not parked carry None.
    The walk is bounded per thread but costs more than the rest of the dump: pass
    ``live_state=False`` for a cheap dump of very many threads."""
    hub = hub or get_hub()
    now = time.monotonic()
    rows = []
    parked_threads = []
    for t in list(hub._live):
        parked = t._state is PARKED
        rows.append({
            "name": t.name,
            "ident": t.ident,
            "state": t._state,
            "waiting_on": describe_wait(t._waiting) if parked else None,
            "parked_for_s": round(now - t._since, 6) if parked else None,
            "where": where_blocked(t),
        })
        if parked:
            parked_threads.append((len(rows) - 1, t))
    if live_state:
        for r in rows:
            r.update(dict.fromkeys(_LIVE_KEYS))
        if parked_threads:
            from .livestate import measure_threads  # only when asked: not on import
            measured, _shared = measure_threads([t for _, t in parked_threads])
            for (i, _t), m in zip(parked_threads, measured, strict=True):
                rows[i].update(live_bytes=m["bytes"], frame_bytes=m["frame_bytes"],
                               c_stack_bytes=m["c_stack_bytes"],
                               object_bytes=m["object_bytes"])
    return rows


def format_dump(hub: Hub | None = None, *, live_state: bool = True) -> str:
    """``dump()`` as text, one line per thread (a parked one with the bytes it holds)."""
    lines = []
    for r in dump(hub, live_state=live_state):
        extra = ""
        if r["waiting_on"] is not None:
            extra = f" on {r['waiting_on']} for {r['parked_for_s']:.3f}s"
        if r.get("live_bytes") is not None:
            extra += f" holding {r['live_bytes']:,} B"
        lines.append(f"{r['name']} [{r['state']}]{extra} at {r['where']}")
    return "\n".join(lines)


class Watchdog:
    """Reports when ``hub`` runs a thread for longer than ``threshold`` seconds without switching.

    A kernel thread samples the hub's switch and loop counters every ``threshold/2`` seconds;
    when neither moved and the hub is not sleeping in its poller, the hub's OS thread is stuck in
    one green thread: it prints (or passes to ``report``) that thread's stack. Start with
    ``Watchdog(threshold=0.1).start()``, stop with ``.stop()``.
    """

    def __init__(self, hub: Hub | None = None, threshold: float = 0.1, report=None) -> None:
        if threshold <= 0:
            raise ValueError("threshold must be > 0 seconds")
        self.hub = hub or get_hub()
        self.threshold = threshold
        self.report = report or self._print
        self.reports = 0
        self._stop = False
        self._lock = _allocate_lock()

    def start(self) -> Watchdog:
        self._lock.acquire()
        _start_new_thread(self._watch, ())
        return self

    def stop(self) -> None:
        self._stop = True
        self._lock.acquire()
        self._lock.release()

    def _watch(self) -> None:
        hub = self.hub
        try:
            last = (hub.switches, hub.loops)
            stuck_since = None
            while not self._stop:
                _sleep(self.threshold / 2)
                now = (hub.switches, hub.loops)
                if now != last or hub.in_poll:
                    last = now
                    stuck_since = None
                    continue
                if stuck_since is None:
                    stuck_since = time.monotonic() - self.threshold / 2
                    continue
                blocked_for = time.monotonic() - stuck_since
                if blocked_for >= self.threshold:
                    frame = sys._current_frames().get(hub.os_thread)
                    stack = "".join(traceback.format_stack(frame)) if frame else "?"
                    self.reports += 1
                    self.report(hub.current, blocked_for, stack)
                    stuck_since = time.monotonic()   # report again only after another threshold
        finally:
            self._lock.release()

    @staticmethod
    def _print(thread, blocked_for: float, stack: str) -> None:
        print(f"whyevents watchdog: hub blocked {blocked_for:.3f}s in {thread!r}:\n{stack}",
              file=sys.stderr)
