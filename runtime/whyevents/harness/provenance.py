"""Where a result came from: code, parameters, interpreter, packages, machine limits, time.

Why: a number without the commit, the profile, the seed and the machine it was measured on cannot
be compared with another one. ``collect`` is called when a run starts and ``finish`` when it ends;
the store writes the dict as ``provenance.json`` beside the results. ``benchmark`` is the
provenance a ``whyevents bench`` run writes into its JSON (same facts, the benchmarks' keys).
Standard library only (plus ``importlib.metadata``), so every benchmark worker can import it
cheaply.

The kernel limits that decide how far a sweep can go on this kind of machine (open files, listen
backlog, ephemeral ports) are recorded too, so a run that failed at 20,000 connections says why.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import importlib.metadata
import os
import platform
import resource
import subprocess
import sys
from pathlib import Path

__all__ = ["collect", "finish", "benchmark", "build", "git_state", "repo_root", "package_versions",
           "PACKAGES", "BENCH_PACKAGES"]

#: packages whose versions go into every provenance (``None`` when not installed)
PACKAGES = ("whyevents", "greenlet", "httptools", "psutil", "pandas", "gevent", "uvloop", "trio")
#: the packages a benchmark's JSON lists
BENCH_PACKAGES = ("whyevents", "greenlet", "gevent", "uvloop", "trio", "psutil", "tqdm", "pandas")

_SYSCTLS = {
    "somaxconn": "/proc/sys/net/core/somaxconn",
    "ip_local_port_range": "/proc/sys/net/ipv4/ip_local_port_range",
    "tcp_max_syn_backlog": "/proc/sys/net/ipv4/tcp_max_syn_backlog",
}


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="microseconds")


def _git(root: Path, *args: str) -> str | None:
    try:
        r = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                           timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    # strip only line ends: porcelain status lines start with a meaningful space (" M path")
    return r.stdout.rstrip("\n") if r.returncode == 0 else None


def repo_root() -> Path | None:
    """The git work tree this package is installed from (editable install), if any."""
    top = _git(Path(__file__).resolve().parent, "rev-parse", "--show-toplevel")
    return Path(top.strip()) if top else None


def git_state(root: Path | None = None) -> dict:
    """Commit, dirty flag and changed paths of the work tree holding ``root`` (default: the one
    this package is installed from); results under ``data/`` do not make a run dirty."""
    if root is None:
        root = Path(__file__).resolve().parent
    top = _git(root, "rev-parse", "--show-toplevel")
    top = top.strip() if top else None
    if top is None:
        return {"git_commit": None, "git_dirty": None, "git_changed_paths": [], "repo": None}
    commit = (_git(Path(top), "rev-parse", "HEAD") or "").strip() or None
    status = _git(Path(top), "status", "--porcelain", "--untracked-files=all")
    changed = []
    if status is not None:
        # "XY path" or "XY old -> new"; the path that exists now is the last one
        paths = [ln[3:].split(" -> ")[-1] for ln in status.splitlines() if len(ln) > 3]
        changed = [p for p in paths if not p.startswith("data/")]
    return {"git_commit": commit, "git_dirty": bool(changed) if status is not None else None,
            "git_changed_paths": changed[:200], "repo": top}


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_bytes() -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    return None


def _sysctls() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name, path in _SYSCTLS.items():
        try:
            out[name] = " ".join(Path(path).read_text().split())
        except OSError:
            out[name] = None
    return out


def build() -> dict:
    """Which build this process (and the subprocesses it starts, which inherit the environment)
    runs: ``whyevents.build_info()`` (interpreted, compiled or mixed; per module whether a
    compiled twin exists and is in use; Cython's version, the directives and flags).
    ``whyevents.accel`` is standard library only, like this module."""
    try:
        from whyevents.accel import build_info
    except ImportError as e:          # the harness lifted out without the package
        return {"build": "unknown", "error": str(e)}
    return build_info()


def collect(parameters: dict, profile: str, seed: int | None, root: Path | None = None) -> dict:
    """Everything needed to say where a run came from, taken when the run starts (``root``:
    the work tree whose git state is recorded; default the one holding this package)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        allowed = None
    return {
        **git_state(root),
        "parameters": dict(parameters),
        "profile": profile,
        "seed": seed,
        "packages": package_versions(),
        "build": build(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "executable": sys.executable,
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_allowed": allowed,
        "memory_bytes": _memory_bytes(),
        "kernel": f"{platform.system()} {platform.release()} {platform.version()}",
        "machine": platform.machine(),
        "hostname": platform.node(),
        "rlimit_nofile": [soft, hard],
        "sysctl": _sysctls(),
        "loadavg": list(os.getloadavg()),
        "argv": list(sys.argv),
        "time_start_utc": _now(),
    }


def finish(prov: dict) -> dict:
    """Add the end time and the wall-clock duration (in place, and returned)."""
    end = _now()
    prov["time_end_utc"] = end
    with contextlib.suppress(KeyError, ValueError, TypeError):
        start = _dt.datetime.fromisoformat(prov["time_start_utc"])
        prov["duration_s"] = round((_dt.datetime.fromisoformat(end) - start).total_seconds(), 3)
    prov["loadavg_end"] = list(os.getloadavg())
    return prov


def benchmark(parameters: dict | None = None) -> dict:
    """Where a benchmark result came from: code (commit, dirty), interpreter, packages, machine,
    time (the keys of a ``whyevents bench`` JSON's ``provenance``)."""
    git = git_state()
    if git["git_changed_paths"]:
        git["git_changed_paths"] = git["git_changed_paths"][:100]
    return {
        **git,
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "executable": sys.executable,
        "packages": package_versions(BENCH_PACKAGES),
        "build": build(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_allowed": sorted(os.sched_getaffinity(0)),
        "memory_bytes": _memory_bytes(),
        "kernel": f"{platform.system()} {platform.release()} {platform.version()}",
        "machine": platform.machine(),
        "hostname": platform.node(),
        "loadavg": os.getloadavg(),
        "time_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "argv": sys.argv,
        "parameters": parameters or {},
    }
