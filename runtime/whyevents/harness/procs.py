"""Processes and the machine they run on: CPU pinning, death with the parent, RSS, descriptors.

One copy of each, used by the servers, the load generator, the experiments and the benchmarks
(standard library only, so a worker subprocess imports it cheaply):

* ``pick_cpu`` / ``pick_cpus`` / ``can_pin`` / ``pin``: which core a measured process is pinned
  to, so a green-thread switch is never a migration and the load generator gets the other core.
* ``die_with_parent`` (in the child) and ``child_preexec`` (a ``Popen`` ``preexec_fn``): the
  kernel kills the child when its parent dies (``PR_SET_PDEATHSIG``), so no server or worker
  outlives a crashed or interrupted run.
* ``rss_bytes`` (this process, from ``/proc``) and ``proc_cpu_times`` (any process, all threads).
* ``fd_limit`` / ``raise_fd_limit`` / ``hard_fd_limit``: ``RLIMIT_NOFILE``, which caps how many
  connections one process can hold (hard-capped on some machines).
* ``port_range``: how many ephemeral ports a client has for connections to one address.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import resource
import signal
import sys
from collections.abc import Callable

__all__ = [
    "pick_cpu", "pick_cpus", "can_pin", "pin", "die_with_parent", "child_preexec", "rss_bytes",
    "proc_cpu_times", "fd_limit", "raise_fd_limit", "hard_fd_limit", "port_range",
    "reap", "PR_SET_PDEATHSIG",
]

PR_SET_PDEATHSIG = 1
_PAGE = os.sysconf("SC_PAGE_SIZE")


# -- cores -----------------------------------------------------------------------------------

def _allowed() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return []


def can_pin() -> bool:
    """True when at least two cores are allowed (one for the measured process, one for the rest)."""
    return len(_allowed()) >= 2


def pick_cpu() -> int | None:
    """The core a measured worker is pinned to: the last allowed one, when there are 2+."""
    allowed = _allowed()
    return allowed[-1] if len(allowed) > 1 else None


def pick_cpus(pin: bool = True) -> tuple[int | None, int | None]:
    """(server core, load-generator core): the first two allowed cores, or no pinning."""
    allowed = _allowed()
    if not pin or len(allowed) < 2:
        return None, None
    return allowed[0], allowed[1]


def pin(cpu: int | None) -> None:
    """Pin this process (and every thread it creates later) to ``cpu``; None does nothing."""
    if cpu is not None:
        os.sched_setaffinity(0, {int(cpu)})


# -- dying with the parent --------------------------------------------------------------------

def _prctl() -> Callable | None:
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    with contextlib.suppress(OSError, AttributeError):
        return ctypes.CDLL(name, use_errno=True).prctl
    return None


def die_with_parent() -> None:
    """In a child process: ask the kernel for SIGKILL when the parent dies; exit at once if it
    already has (re-parented to init before the request took effect)."""
    prctl = _prctl()
    if prctl is not None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() == 1:
        os._exit(1)


def child_preexec(cpu: int | None = None, raise_fds: bool = False) -> Callable[[], None]:
    """A ``Popen(preexec_fn=...)``: the child dies with the parent, is pinned to ``cpu`` and,
    with ``raise_fds``, has its soft descriptor limit raised to the hard one. libc is looked up
    here, before the fork."""
    prctl = _prctl()

    def preexec() -> None:
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        pin(cpu)
        if raise_fds:
            raise_fd_limit()
    return preexec


def reap(proc, timeout: float = 10.0) -> None:
    """Kill ``proc`` (a ``subprocess.Popen``) if it still runs, wait for it, close its pipes;
    idempotent."""
    import subprocess

    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):  # a process SIGKILL cannot end
        proc.wait(timeout)
    for f in (proc.stdin, proc.stdout, proc.stderr):
        if f is not None:
            with contextlib.suppress(OSError):
                f.close()


# -- memory and CPU ---------------------------------------------------------------------------

def rss_bytes() -> int:
    """Resident set size of this process, from /proc (one read, no psutil import)."""
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[1]) * _PAGE


def proc_cpu_times(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of process ``pid``, all its threads, from /proc."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


# -- descriptors and ports ----------------------------------------------------------------------

def fd_limit() -> tuple[int, int]:
    """(soft, hard) RLIMIT_NOFILE."""
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def raise_fd_limit() -> int:
    """Raise the soft descriptor limit to the hard one; returns the soft limit now in force."""
    soft, hard = fd_limit()
    target = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return fd_limit()[0]


def hard_fd_limit() -> int:
    """The hard descriptor limit, ``1 << 20`` standing in for unlimited."""
    hard = fd_limit()[1]
    return hard if 0 < hard < (1 << 30) else 1 << 20


def port_range() -> int:
    """Ephemeral ports available to one (source, destination) pair."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = map(int, f.read().split())
        return hi - lo + 1
    except (OSError, ValueError):
        return 28_232
