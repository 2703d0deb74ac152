"""The event loop's disk helpers: a few kernel threads that read files and report back.

An event loop must never block, and a regular file is always "ready" to epoll, so a read that
misses the kernel's page cache would stall every connection. Flash's helper processes, SEDA's
file-I/O stage and the paper's thread package (section 5: "asynchronous disk I/O is provided by a
thread pool") all answer this the same way, and so does this module.

The whole contract between a pool thread and the loop: **threads only enqueue and poke** (curio's
``wake()`` rule). A worker runs its job, appends ``(token, ok, value)`` to ``done`` (a
``collections.deque``, whose ``append`` is atomic under the GIL) and writes 1 to the loop's
eventfd. It never touches a connection, the epoll set or a timer. The loop, woken by the eventfd,
reads it (which resets the counter) and then drains ``done``; reading before draining means a
completion appended after the drain always comes with a fresh poke.

Shutdown. ``close()`` takes the pool's lock, marks it closed and returns; a worker appends and
pokes under the same lock and gives up once it is closed, so no worker can write into an eventfd
the loop has closed (whose number a new descriptor may already reuse). Workers are started lazily
(at most ``size``), blocked in a C ``SimpleQueue.get`` while idle, and never joined: they leave
when they read the ``None`` that ``close`` queues for each.

Kernel-thread machinery is captured at import (``_thread``), as ``server_common`` does, so a later
``whyevents.threads.monkey.patch_all()`` cannot turn the workers into green threads.
"""

from __future__ import annotations

import _thread
import os
from _queue import SimpleQueue
from collections import deque

__all__ = ["DiskPool", "DEFAULT_DISK_THREADS"]

#: Worker threads when nobody says otherwise (Flash and the paper's package used a few).
DEFAULT_DISK_THREADS = 4

_start_new_thread = _thread.start_new_thread
_allocate_lock = _thread.allocate_lock


class DiskPool:
    """``submit(fn, arg, token)``: run ``fn(arg)`` in a worker; ``(token, ok, value)`` lands in
    ``done`` and ``notify_fd`` (an eventfd) is poked. Called from the loop's thread only."""

    def __init__(self, notify_fd: int, size: int = DEFAULT_DISK_THREADS) -> None:
        if size < 1:
            raise ValueError(f"size={size!r}: a pool needs at least one thread")
        self.size = size
        self.notify_fd = notify_fd
        self.done: deque = deque()
        self._jobs: SimpleQueue = SimpleQueue()
        self._lock = _allocate_lock()
        self.closed = False
        self.threads = 0
        self.submitted = 0
        self.completed = 0       # counted by the loop as it drains ``done``

    def submit(self, fn, arg, token) -> None:
        if self.closed:
            raise RuntimeError("DiskPool.submit after close()")
        self.submitted += 1
        if self.threads < self.size and self.submitted - self.completed > self.threads:
            self.threads += 1
            _start_new_thread(self._worker, ())
        self._jobs.put((fn, arg, token))

    def _worker(self) -> None:
        jobs = self._jobs
        done = self.done
        lock = self._lock
        while True:
            job = jobs.get()
            if job is None:
                return
            fn, arg, token = job
            try:
                value = fn(arg)
                ok = True
            except BaseException as exc:  # noqa: BLE001 - delivered to the loop, not lost
                value = exc
                ok = False
            with lock:
                if self.closed:
                    return
                done.append((token, ok, value))
                os.eventfd_write(self.notify_fd, 1)

    def close(self) -> None:
        """No more completions will be delivered; idle workers exit. Safe to call twice."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
        for _ in range(self.threads):
            self._jobs.put(None)
        self.done.clear()

    def stats(self) -> dict:
        return {"disk_threads": self.threads, "disk_jobs": self.submitted,
                "disk_completed": self.completed}

    def __repr__(self) -> str:
        return (f"<DiskPool {self.threads}/{self.size} threads, {self.submitted} jobs, "
                f"{self.completed} done{' closed' if self.closed else ''}>")
