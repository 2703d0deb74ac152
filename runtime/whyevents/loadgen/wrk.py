"""Drive ``wrk`` for closed-loop maximum-throughput runs and parse what it prints.

``wrk`` (C, epoll, keep-alive, no think time) loads a server far harder per client CPU second
than a Python client can, so it is the tool for "how many requests per second at most"; the
green-thread clients in ``client`` are the tool for SEDA's HttpLoad model (think time,
reconnects, fairness). Pin it with ``cpu=`` to keep it off the server's core.
"""

from __future__ import annotations

import ipaddress
import math
import re
import shutil
import socket
import subprocess
from urllib.parse import urlsplit

_UNITS_TIME = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_UNITS_BYTES = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}
_UNITS_COUNT = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9}


class WrkNotFound(RuntimeError):
    """``wrk`` is not installed (``apt-get install wrk``)."""


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not m:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(m.group(1)) * _UNITS_TIME[m.group(2)]


def _bytes(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(B|KB|MB|GB|TB)", text)
    if not m:
        raise ValueError(f"not a wrk size: {text!r}")
    return float(m.group(1)) * _UNITS_BYTES[m.group(2)]


def _count(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)([kMG]?)", text)
    if not m:
        raise ValueError(f"not a wrk count: {text!r}")
    return float(m.group(1)) * _UNITS_COUNT[m.group(2)]


def parse_wrk_output(text: str) -> dict:
    """The numbers in wrk's report (times in ms, sizes in bytes); raises ValueError if absent."""
    out: dict = {"socket_errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0},
                 "non_2xx_3xx": 0, "latency_ms": {}}
    m = re.search(r"(\d+) requests in ([\d.]+\w+), ([\d.]+\w+) read", text)
    if not m:
        raise ValueError("wrk output has no 'N requests in T, B read' line:\n" + text)
    out["requests"] = int(m.group(1))
    out["duration_s"] = _ms(m.group(2)) / 1e3
    out["bytes_read"] = _bytes(m.group(3))
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    out["requests_per_s"] = float(m.group(1)) if m else out["requests"] / out["duration_s"]
    m = re.search(r"Transfer/sec:\s+([\d.]+\w+)", text)
    out["transfer_bytes_per_s"] = _bytes(m.group(1)) if m else math.nan
    out["mbit_per_s"] = out["transfer_bytes_per_s"] * 8 / 1e6
    m = re.search(r"(\d+) threads and (\d+) connections", text)
    if m:
        out["threads"], out["connections"] = int(m.group(1)), int(m.group(2))
    m = re.search(r"Latency\s+([\d.]+\w+)\s+([\d.]+\w+)\s+([\d.]+\w+)", text)
    if m:
        out["latency_ms"].update(mean=_ms(m.group(1)), stdev=_ms(m.group(2)),
                                 max=_ms(m.group(3)))
    m = re.search(r"Req/Sec\s+([\d.]+[kMG]?)\s+([\d.]+[kMG]?)\s+([\d.]+[kMG]?)", text)
    if m:
        out["thread_req_per_s"] = {"mean": _count(m.group(1)), "stdev": _count(m.group(2)),
                                   "max": _count(m.group(3))}
    dist = text.split("Latency Distribution", 1)
    if len(dist) == 2:
        for pct, value in re.findall(r"^\s+(\d+(?:\.\d+)?)%\s+([\d.]+\w+)\s*$", dist[1], re.M):
            out["latency_ms"][f"p{pct}"] = _ms(value)
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        out["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"),
                                        map(int, m.groups()), strict=True))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        out["non_2xx_3xx"] = int(m.group(1))
    return out


def check_loopback_url(url: str, allow_remote: bool = False) -> None:
    """Refuse a URL whose host is not a loopback address (unless ``allow_remote``)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"url={url!r} is not an http(s) URL with a host")
    if allow_remote:
        return
    infos = socket.getaddrinfo(parts.hostname, parts.port or 80, 0, socket.SOCK_STREAM)
    if not all(ipaddress.ip_address(i[4][0].split("%")[0]).is_loopback for i in infos):
        raise ValueError(f"url={url!r} is not a loopback address; pass allow_remote=True")


def wrk_command(url: str, connections: int, duration: float, threads: int = 1,
                cpu: int | str | None = None, timeout: float | None = None) -> list[str]:
    """The argv ``run_wrk`` runs (``taskset -c CPU`` first when ``cpu`` is given)."""
    if connections < threads or threads < 1:
        raise ValueError(f"need connections >= threads >= 1, got {connections}, {threads}")
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s",
           "--latency"]
    if timeout is not None:
        cmd.append(f"--timeout={max(1, round(timeout))}s")
    cmd.append(url)
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu), *cmd]
    return cmd


def run_wrk(url: str, connections: int, duration: float, threads: int = 1,
            cpu: int | str | None = None, *, timeout: float | None = None,
            allow_remote: bool = False) -> dict:
    """Run wrk against ``url`` and return its parsed report plus the command line.

    Raises ``WrkNotFound`` if wrk (or taskset, when pinning) is missing, ``ValueError`` for a
    non-loopback URL, and ``RuntimeError`` with wrk's stderr if it fails.
    """
    check_loopback_url(url, allow_remote)
    if shutil.which("wrk") is None:
        raise WrkNotFound("wrk is not installed (apt-get install wrk); run_wrk needs it")
    if cpu is not None and shutil.which("taskset") is None:
        raise WrkNotFound("taskset is not installed (util-linux); needed for cpu=")
    cmd = wrk_command(url, connections, duration, threads, cpu, timeout)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
    out = parse_wrk_output(proc.stdout)
    out["command"] = " ".join(cmd)
    return out
