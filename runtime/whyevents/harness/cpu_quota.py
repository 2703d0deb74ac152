"""Cap a process's CPU with the cgroup CPU controller (CFS bandwidth): quota per period.

The web sweep gives the server less CPU than the load generator, so that a point measures the
server: e.g. half a core (``cores=0.5``: 5 ms of CPU per 10 ms period). All the process's
threads go into the group (cgroup v1: writing the pid to ``cgroup.procs`` moves the whole thread
group; ``tasks`` would move one thread, so every thread is checked afterwards and any left out
is moved through ``tasks``). cgroup v2 (``cpu.max``) is supported the same way.

Where no writable cgroup CPU controller exists (not root, no controller mounted, a read-only
mount, cgroup v2 without the ``cpu`` controller delegated) nothing is capped: ``availability``
says why, ``CpuQuota`` raises ``CpuQuotaUnavailable`` with that reason, and the caller records
"unavailable: <reason>" instead of a cap.

    with CpuQuota(0.5, period_s=0.01) as cap:
        cap.add(server_pid)
        ...                      # cap.stats() -> periods, throttled periods, throttled time
"""

from __future__ import annotations

import itertools
import math
import os
import time

__all__ = ["CpuQuota", "CpuQuotaUnavailable", "availability", "find_controller",
           "DEFAULT_ROOT", "process_cpu_s"]

DEFAULT_ROOT = "/sys/fs/cgroup"
_V1_NAMES = ("cpu", "cpu,cpuacct", "cpuacct,cpu")
_MIN_QUOTA_US = 1000          # the kernel refuses quotas and periods below 1 ms
_MAX_PERIOD_US = 1_000_000
_counter = itertools.count()


class CpuQuotaUnavailable(RuntimeError):
    """No writable cgroup CPU controller here; the message says why."""


def find_controller(root: str = DEFAULT_ROOT) -> tuple[str, str]:
    """("v1" | "v2", directory) of a writable CPU controller under ``root``.

    Raises ``CpuQuotaUnavailable`` naming what is missing.
    """
    if not os.path.isdir(root):
        raise CpuQuotaUnavailable(f"no cgroup file system at {root}")
    for name in _V1_NAMES:
        d = os.path.join(root, name)
        if os.path.isfile(os.path.join(d, "cpu.cfs_quota_us")):
            if not os.access(d, os.W_OK):
                raise CpuQuotaUnavailable(f"the cgroup v1 cpu controller at {d} is not "
                                          f"writable (run as root, or delegate it)")
            return "v1", d
    for d in (root, os.path.join(root, "unified")):
        try:
            with open(os.path.join(d, "cgroup.controllers")) as f:
                controllers = f.read().split()
        except OSError:
            continue
        if "cpu" not in controllers:
            continue
        if not os.access(d, os.W_OK):
            raise CpuQuotaUnavailable(f"the cgroup v2 hierarchy at {d} is not writable "
                                      f"(run as root, or delegate it)")
        try:
            with open(os.path.join(d, "cgroup.subtree_control")) as f:
                if "cpu" not in f.read().split():
                    with open(os.path.join(d, "cgroup.subtree_control"), "w") as g:
                        g.write("+cpu")
        except OSError as e:
            raise CpuQuotaUnavailable(f"cannot enable the cgroup v2 cpu controller in {d}: "
                                      f"{e.strerror or e}") from None
        return "v2", d
    raise CpuQuotaUnavailable(f"no cgroup CPU controller under {root} (neither a v1 'cpu' "
                              f"mount nor a v2 hierarchy offering 'cpu')")


def availability(root: str = DEFAULT_ROOT) -> tuple[bool, str]:
    """(True, "cgroup v1 cpu at DIR") or (False, the reason no cap can be set)."""
    try:
        kind, d = find_controller(root)
    except CpuQuotaUnavailable as e:
        return False, str(e)
    return True, f"cgroup {kind} cpu at {d}"


def _threads(pid: int) -> list[int]:
    try:
        return [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return []


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads) from /proc; NaN if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return math.nan
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuQuota:
    """One cgroup with ``cores`` of CPU per ``period_s``; ``close()`` removes it.

    ``cores`` is the allotment in cores (0.5: half a core); the quota written is
    ``cores * period`` microseconds (at least 1 ms, the kernel's minimum).
    """

    def __init__(self, cores: float, period_s: float = 0.1, *, root: str = DEFAULT_ROOT,
                 name: str | None = None) -> None:
        if not (isinstance(cores, int | float) and math.isfinite(cores) and cores > 0):
            raise ValueError(f"cores={cores!r}: must be a positive number")
        period_us = round(period_s * 1e6)
        if not _MIN_QUOTA_US <= period_us <= _MAX_PERIOD_US:
            raise ValueError(f"period_s={period_s!r}: must be 0.001 .. 1 s")
        quota_us = round(cores * period_us)
        if quota_us < _MIN_QUOTA_US:
            raise ValueError(f"cores={cores} x period {period_us} us = {quota_us} us: the "
                             f"kernel's minimum quota is {_MIN_QUOTA_US} us; use a longer "
                             f"period")
        self.kind, self.parent = find_controller(root)
        self.cores, self.period_us, self.quota_us = cores, period_us, quota_us
        self.path = os.path.join(self.parent,
                                 name or f"whyevents-{os.getpid()}-{next(_counter)}")
        self.pids: list[int] = []
        try:
            os.mkdir(self.path)
        except FileExistsError:
            pass
        except OSError as e:
            raise CpuQuotaUnavailable(f"cannot create a cgroup in {self.parent}: "
                                      f"{e.strerror or e}") from None
        try:
            if self.kind == "v1":
                self._write("cpu.cfs_period_us", str(period_us))
                self._write("cpu.cfs_quota_us", str(quota_us))
            else:
                self._write("cpu.max", f"{quota_us} {period_us}")
        except OSError as e:
            self._rmdir()
            raise CpuQuotaUnavailable(f"cannot set the quota in {self.path}: "
                                      f"{e.strerror or e}") from None

    # -- files --------------------------------------------------------------------------------

    def _write(self, name: str, value: str, directory: str | None = None) -> None:
        with open(os.path.join(directory or self.path, name), "w") as f:
            f.write(value)

    def _read(self, name: str) -> str:
        with open(os.path.join(self.path, name)) as f:
            return f.read()

    def members(self) -> set[int]:
        """Thread ids in the group (v1 ``tasks``; v2 ``cgroup.threads``)."""
        name = "tasks" if self.kind == "v1" else "cgroup.threads"
        try:
            return {int(x) for x in self._read(name).split()}
        except OSError:
            return set()

    # -- use ----------------------------------------------------------------------------------

    def add(self, pid: int) -> None:
        """Move process ``pid`` with all its threads into the group."""
        self._write("cgroup.procs", str(pid))
        if self.kind == "v1":
            inside = self.members()
            for tid in _threads(pid):           # threads started meanwhile, or a kernel that
                if tid not in inside:           # moved only the leader
                    try:
                        self._write("tasks", str(tid))
                    except OSError:
                        pass                    # the thread ended
        self.pids.append(pid)

    def describe(self) -> dict:
        """The cap as plain data (for rows and provenance)."""
        return {"cores": self.cores, "quota_us": self.quota_us, "period_us": self.period_us,
                "controller": f"cgroup {self.kind} cpu", "path": self.path}

    def stats(self) -> dict:
        """Throttling counters (periods, throttled periods, throttled seconds) and the members'
        CPU seconds (from /proc: the v1 cpu controller keeps no usage of its own)."""
        out: dict = {"cpu_s": sum(process_cpu_s(p) for p in self.pids), "time": time.monotonic()}
        try:
            fields = dict(line.split()[:2] for line in self._read("cpu.stat").splitlines()
                          if line.strip())
        except OSError:
            fields = {}
        out["periods"] = int(fields.get("nr_periods", 0))
        out["throttled_periods"] = int(fields.get("nr_throttled", 0))
        if "throttled_time" in fields:                     # v1: ns
            out["throttled_s"] = int(fields["throttled_time"]) / 1e9
        else:                                              # v2: us
            out["throttled_s"] = int(fields.get("throttled_usec", 0)) / 1e6
        if "usage_usec" in fields:
            out["cpu_s"] = int(fields["usage_usec"]) / 1e6
        return out

    def close(self) -> None:
        """Move what is left back to the parent group and remove this one (idempotent)."""
        if not os.path.isdir(self.path):
            return
        procs = "tasks" if self.kind == "v1" else "cgroup.procs"
        for _ in range(3):
            try:
                left = self._read(procs).split()
            except OSError:
                break
            if not left:
                break
            for tid in left:
                try:
                    self._write(procs, tid, self.parent)
                except OSError:
                    pass                                   # it ended meanwhile
        self._rmdir()

    def _rmdir(self) -> None:
        for _ in range(50):
            try:
                os.rmdir(self.path)
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.02)                           # exiting tasks still listed

    def __enter__(self) -> CpuQuota:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
