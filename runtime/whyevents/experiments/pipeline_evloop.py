"""The task pipeline's event server, its library half: the loop and the non-blocking read.

``pipeline_worker._run_event`` is the event server of the task pipeline: handlers (``issue``,
``serve``, ``complete``: the workload, application code) posted as ``(handler, arg)`` onto a
deque, and this loop that pops and calls them. The loop and the read are what the threaded
program gets from the runtime (its hub and ``fileio.pread``), so they live here, apart from the
handlers, and the optional compiled build (``whyevents.accel``) compiles them as it compiles the
runtime: the same compiler and flags for both sides, the application code interpreted on both.
"""

from __future__ import annotations

import os

__all__ = ["nowait_reader", "run_until_over"]

_RWF_NOWAIT = getattr(os, "RWF_NOWAIT", 0)


def nowait_reader(counter: list[int]):
    """The event server's read: ``preadv(RWF_NOWAIT)`` into a fresh buffer, as ``fileio.pread``
    does; ``os.pread`` on a miss (counted in ``counter[0]``)."""
    preadv, pread = os.preadv, os.pread

    if not _RWF_NOWAIT:
        return pread

    def read(fd: int, n: int, off: int) -> bytes:
        buf = bytearray(n)
        try:
            got = preadv(fd, [buf], off, _RWF_NOWAIT)
        except BlockingIOError:
            counter[0] += 1
            return pread(fd, n, off)
        if got == n:
            return bytes(buf)
        counter[0] += 1
        return bytes(memoryview(buf)[:got]) + pread(fd, n - got, off + got)

    return read


def run_until_over(pop, meter) -> None:
    """The loop: pop ``(handler, arg)`` and call ``handler(arg)`` until ``meter.over``."""
    while not meter.over:
        fn, arg = pop()
        fn(arg)
