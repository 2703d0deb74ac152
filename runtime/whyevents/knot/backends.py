"""The four things Knot's threaded code needs from a thread package, for green and kernel threads.

The paper's point (section 5) is that a server written in the plain threaded style runs on a
good user-level thread package as well as an event system does; Capriccio's Knot compiled
unmodified against pthreads too. So Knot's serving and accepting code is written once, against
this small namespace, and never asks which package it runs on:

* ``socket``: the module sockets come from. Green: ``whyevents.threads.socket`` (try the system
  call, park the green thread on EAGAIN). Kernel: the stdlib ``socket`` (blocking; the kernel
  parks the OS thread).
* ``Thread(target=, args=, daemon=)``: a thread, created and registered before it starts (so a
  short-lived one cannot end before the server knows it exists). Knot's kernel threads are
  daemons, so a stop that times out never keeps the process alive.
* ``sleep(seconds)``: the EMFILE back-off. Green: parks one green thread on a timer.
* ``read_file(path) -> (body, stat)``: a page-cache miss. Green: ``open`` + ``fstat`` on the
  hub (cheap, dentry-cached), the read through ``fileio.pread`` (``preadv(RWF_NOWAIT)``, which
  never leaves the hub on a page-cache hit, and the kernel-thread pool on a miss). Kernel: plain
  blocking reads (``http.cache.read_file``). Both open with ``O_NOFOLLOW``, as ``http.paths``
  requires.

What does differ, how a running server is stopped, lives in ``server``.
"""

from __future__ import annotations

import os
import socket as _stdsocket
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from .. import threads as _green
from ..http.cache import read_file as _blocking_read_file
from ..threads import fileio as _fileio
from ..threads import kernel_threads as _kernel
from ..threads import socket as _greensocket

__all__ = ["Backend", "BACKENDS", "GREEN", "KERNEL", "green_read_file"]

_OPEN_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW


@dataclass(frozen=True)
class Backend:
    """A thread package as Knot sees it (see the module docstring)."""

    name: str
    threads: ModuleType
    socket: ModuleType
    Thread: type
    sleep: Callable[[float], None]
    read_file: Callable[[str], tuple[bytes, os.stat_result]]


def green_read_file(path: str) -> tuple[bytes, os.stat_result]:
    """Read a whole file without blocking the hub on a page-cache hit; returns (body, fstat)."""
    fd = os.open(path, _OPEN_FLAGS)
    try:
        st = os.fstat(fd)
        size = st.st_size
        # pread returns fewer bytes only at end of file; a file that grew since the fstat is
        # served as it was (Content-Length is the length of what was read).
        body = _fileio.pread(fd, size, 0) if size else b""
    finally:
        os.close(fd)
    return body, st


GREEN = Backend("green", _green, _greensocket, _green.Thread, _green.sleep, green_read_file)
KERNEL = Backend("kernel", _kernel, _stdsocket, _kernel.Thread, _kernel.sleep,
                 _blocking_read_file)

#: ``start(backend=...)`` names.
BACKENDS: dict[str, Backend] = {"green": GREEN, "kernel": KERNEL}
