"""Drive ``wrk``: maximum-throughput runs, and SEDA's HttpLoad model in wrk + Lua.

``wrk`` (C, epoll, keep-alive, no think time) loads a server far harder per client CPU second
than a Python client can, so it is the tool for "how many requests per second at most"; the
green-thread clients in ``client`` are the tool for SEDA's HttpLoad model (think time,
reconnects, fairness). Pin it with ``cpu=`` to keep it off the server's core.

``run_httpload_wrk`` runs the HttpLoad model (think time, a new connection after N requests,
the SPECweb99 trace) on wrk with ``httpload_wrk.lua``, at about half the Python client's CPU per
request; the script's header says where wrk's Lua API makes it differ from HttpLoad.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import math
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

_UNITS_TIME = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_UNITS_BYTES = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}
_UNITS_COUNT = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9}


class WrkNotFound(RuntimeError):
    """``wrk`` is not installed; the message names the command that installs it."""


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
        require_wrk("run_wrk")
    if cpu is not None and shutil.which("taskset") is None:
        raise WrkNotFound("taskset is not installed (util-linux); needed for cpu=")
    cmd = wrk_command(url, connections, duration, threads, cpu, timeout)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
    out = parse_wrk_output(proc.stdout)
    out["command"] = " ".join(cmd)
    return out


# ---------------------------------------------------------------------------------------------
# SEDA's HttpLoad model on wrk + Lua (httpload_wrk.lua)
# ---------------------------------------------------------------------------------------------

#: the Lua script shipped with the package (package data)
HTTPLOAD_LUA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "httpload_wrk.lua")
#: the LD_PRELOAD shim that spreads wrk's connections over source addresses (C source)
SRCSPREAD_C = os.path.join(os.path.dirname(os.path.abspath(__file__)), "srcspread.c")
#: source addresses 127.0.0.1..N the shim spreads over (the Python client uses 32)
SOURCE_ADDRESSES = 16
#: most wrk threads: each thread is one epoll loop; more threads spread the destinations
MAX_THREADS = 16
#: the client is judged saturated above this share of its core (same as the Python client)
SATURATED_UTILISATION = 0.90
_JSON_MARK = "WHYEVENTS_JSON "
_QUANTILES_MARK = "WHYEVENTS_QUANTILES "
_STOP_GRACE = 15.0            # seconds for wrk to stop after SIGINT and print its summary


def wrk_install_hint() -> str:
    """The exact command that installs wrk here (``apt-get`` as root, else through sudo)."""
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    return "apt-get install -y wrk" if root else "sudo apt-get install -y wrk"


def require_wrk(what: str = "the web experiment's default client") -> str:
    """wrk's path; ``WrkNotFound`` with the install command when it is not on PATH."""
    path = shutil.which("wrk")
    if path is None:
        raise WrkNotFound(f"wrk is not installed (not on PATH); {what} needs it. Install it "
                          f"with: {wrk_install_hint()}  (or choose the Python client: "
                          f"-p client=python)")
    return path


def srcspread_library() -> tuple[str | None, str]:
    """The compiled shim (built on first use into the user's cache), or (None, why not).

    Built with ``cc`` from ``srcspread.c`` (package data); a stale build (older than the source)
    is rebuilt. Without a C compiler the reason names the command that installs one.
    """
    cache = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
                         "whyevents")
    lib = os.path.join(cache, "srcspread.so")
    try:
        if os.path.getmtime(lib) >= os.path.getmtime(SRCSPREAD_C):
            return lib, ""
    except OSError:
        pass
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        hint = "apt-get install -y gcc" if os.geteuid() == 0 else "sudo apt-get install -y gcc"
        return None, (f"source-address spreading unavailable: no C compiler to build the "
                      f"srcspread shim ({hint})")
    os.makedirs(cache, exist_ok=True)
    tmp = f"{lib}.{os.getpid()}.tmp"
    proc = subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", tmp, SRCSPREAD_C, "-ldl"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        return None, (f"source-address spreading unavailable: building the srcspread shim "
                      f"failed: {proc.stderr.strip()[-300:]}")
    os.replace(tmp, lib)
    return lib, ""


def choose_threads(clients: int, max_threads: int = MAX_THREADS) -> int:
    """The most wrk threads (<= ``max_threads``) that divide ``clients`` evenly.

    wrk gives each thread ``connections // threads`` connections and drops the remainder, so a
    thread count that does not divide the clients would silently run fewer clients.
    """
    if clients < 1:
        raise ValueError(f"clients must be at least 1, got {clients}")
    for t in range(min(max_threads, clients), 0, -1):
        if clients % t == 0:
            return t
    return 1


def close_scheme_for(clients: int, threads: int, requests_per_conn: int,
                     scheme: str = "auto") -> str:
    """``counter`` or ``random`` (see httpload_wrk.lua); ``auto`` picks ``counter`` when each wrk
    thread's connection count is coprime to ``requests_per_conn`` (then the thread's every
    RPC-th request falls on every RPC-th request of each connection while they take turns),
    else ``random`` (a counter would alias: the same connections would always close)."""
    if scheme not in ("auto", "counter", "random"):
        raise ValueError(f"close scheme {scheme!r}: use auto, counter or random")
    if scheme != "auto":
        return scheme
    return "counter" if math.gcd(clients // threads, requests_per_conn) == 1 else "random"


def _proc_cpu(pid: int) -> tuple[float, float] | None:
    """(user, system) CPU seconds of process ``pid`` (all its threads), from /proc/PID/stat."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def _raise_nofile() -> None:
    """In the child before exec: soft RLIMIT_NOFILE up to the hard limit, die with the parent."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)     # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _write_trace(paths, seed: int, directory: str) -> str | None:
    """A trace file for the script: a path to one already, or written from a mix or a list."""
    from whyevents.http.fileset import RequestMix

    if paths is None:
        return None
    if isinstance(paths, str | os.PathLike) and os.path.isfile(paths):
        return os.fspath(paths)
    if isinstance(paths, RequestMix):
        out = os.path.join(directory, "trace.txt")
        paths.write_trace(out, 4000, seed)
        return out
    if isinstance(paths, str):
        paths = [paths]
    out = os.path.join(directory, "trace.txt")
    with open(out, "w", encoding="ascii") as f:
        for p in paths:
            f.write(p + "\n")
    return out


def parse_httpload_summary(text: str) -> dict:
    """The JSON line httpload_wrk.lua's ``done()`` prints; ValueError if it is missing."""
    for line in text.splitlines():
        if line.startswith(_JSON_MARK):
            return json.loads(line[len(_JSON_MARK):])
    raise ValueError("wrk printed no httpload summary line:\n" + text[-2000:])


class _Wrk:
    """A started wrk process running httpload_wrk.lua (for callers that snapshot a server in step:
    ``start`` -> ``cpu()`` at the window's edges -> ``finish()``)."""

    def __init__(self, cmd: list[str], env: dict, tmp: str) -> None:
        self.cmd, self.tmp = cmd, tmp
        self.out = tempfile.TemporaryFile(mode="w+")
        self.err = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(cmd, stdout=self.out, stderr=self.err, env=env,
                                     stdin=subprocess.DEVNULL, preexec_fn=_raise_nofile,
                                     process_group=0)
        self.pid = self.proc.pid
        self.started = time.monotonic()

    def cpu(self) -> tuple[float, float] | None:
        return _proc_cpu(self.pid)

    def failed(self) -> str | None:
        """wrk's stderr if it already ended (badly), else None."""
        if self.proc.poll() is None:
            return None
        if self.proc.returncode == 0:
            return None
        self.err.seek(0)
        return (f"wrk failed (exit {self.proc.returncode}): "
                f"{self.err.read().strip()[-400:] or 'no message'}")

    def finish(self) -> tuple[str, str, int]:
        """SIGINT (wrk then stops its threads and prints its report), wait, read the output."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=_STOP_GRACE)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError(f"wrk did not stop within {_STOP_GRACE:g} s of SIGINT") from None
        self.out.seek(0)
        self.err.seek(0)
        out, err = self.out.read(), self.err.read()
        self.out.close()
        self.err.close()
        return out, err, self.proc.returncode

    def kill(self) -> None:
        """Kill wrk if it still runs and remove its temporary files (idempotent)."""
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10.0)
        shutil.rmtree(self.tmp, ignore_errors=True)


def httpload_command(url: str, clients: int, threads: int, cpu: int | str | None = None,
                     timeout: float = 10.0, run_for: float = 3600.0) -> list[str]:
    """wrk's argv for the HttpLoad script (``run_for`` seconds at most: the driver stops it)."""
    cmd = ["wrk", f"-t{threads}", f"-c{clients}", f"-d{max(1, math.ceil(run_for))}s",
           f"--timeout={max(1, math.ceil(timeout))}s", "-s", HTTPLOAD_LUA, url]
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu), *cmd]
    return cmd


def start_httpload_wrk(host: str, port: int, clients: int, window: tuple[float, float], *,
                       requests_per_conn: int = 5, think_time: float = 0.02, paths=None,
                       seed: int = 0, threads: int | None = None, cpu: int | str | None = None,
                       addresses: Sequence[str] | None = None,
                       source_addresses: int = SOURCE_ADDRESSES, close_scheme: str = "auto",
                       timeout: float = 10.0, allow_remote: bool = False,
                       quantiles: Sequence[float] | None = None) -> _Wrk:
    """Start wrk now with httpload_wrk.lua; ``window`` = (start, end) in ``time.time()`` seconds.

    ``source_addresses`` > 1 spreads wrk's connections over source addresses 127.0.0.1..N
    (the ``srcspread`` LD_PRELOAD shim; the server stays on 127.0.0.1): without it, at ~16k
    connections wrk's connect() spends most of its CPU searching ephemeral ports. Where the shim
    cannot be built, the run goes on with one source and says so in ``warnings``.
    ``addresses`` (loopback) spread the wrk threads' destinations instead (thread i ->
    addresses[i mod n]); the server must accept on all of them. ``quantiles`` (percents
    below 100) asks the script for the latency at each, for merging runs on several hosts
    (``httpload_result``'s ``latency_quantiles``). Returns the running process.
    """
    require_wrk()
    if cpu is not None and shutil.which("taskset") is None:
        raise WrkNotFound("taskset is not installed (util-linux); needed for cpu=")
    if requests_per_conn < 1 or think_time < 0 or timeout <= 0:
        raise ValueError("need requests_per_conn >= 1, think_time >= 0, timeout > 0")
    url = f"http://{host}:{port}/"
    check_loopback_url(url, allow_remote)
    threads = threads or choose_threads(clients)
    if clients % threads:
        raise ValueError(f"threads={threads} does not divide clients={clients} (wrk would drop "
                         f"{clients % threads} of them)")
    scheme = close_scheme_for(clients, threads, requests_per_conn, close_scheme)
    for a in addresses or ():
        check_loopback_url(f"http://{a}:{port}/", allow_remote)
    tmp = tempfile.mkdtemp(prefix="whyevents-wrk-")
    env = dict(os.environ,
               WHYEVENTS_TRACE=_write_trace(paths, seed, tmp) or "",
               WHYEVENTS_RPC=str(requests_per_conn),
               WHYEVENTS_THINK_MS=str(max(0, round(think_time * 1e3))),
               WHYEVENTS_CLOSE=scheme, WHYEVENTS_HOST=f"{host}:{port}",
               WHYEVENTS_ADDRS=",".join(addresses or ()), WHYEVENTS_PORT=str(port),
               WHYEVENTS_WINDOW=f"{window[0]:.6f},{window[1]:.6f}",
               WHYEVENTS_SEED=str(seed))
    if quantiles:
        env["WHYEVENTS_QUANTILES"] = ",".join(f"{q:g}" for q in quantiles)
    warnings = []
    spread = 1
    if source_addresses > 1 and host.startswith("127.") and not addresses:
        lib, why = srcspread_library()
        if lib is None:
            warnings.append(why)
        else:
            spread = min(source_addresses, 254)
            env["LD_PRELOAD"] = " ".join(x for x in (env.get("LD_PRELOAD"), lib) if x)
            env["WHYEVENTS_SRC_ADDRS"] = str(spread)
    run_for = max(1.0, window[1] - time.time()) + 30.0
    w = _Wrk(httpload_command(url, clients, threads, cpu, timeout, run_for), env, tmp)
    w.warnings = warnings
    w.params = dict(host=host, port=port, clients=clients, requests_per_conn=requests_per_conn,
                    think_time=think_time, seed=seed, timeout=timeout, wrk_threads=threads,
                    close_scheme=scheme, addresses=",".join(addresses or (host,)),
                    source_addresses=spread, window=window)
    return w


def httpload_result(w: _Wrk, cpu0: tuple[float, float] | None,
                    cpu1: tuple[float, float] | None) -> dict:
    """Stop ``w`` and build the result dict (keys as ``LoadResult.as_row`` where they overlap).

    Window figures: ``completed`` and ``connections`` are the requests and reconnects wrk *sent*
    inside the window (a closed loop completes the same number up to the requests in flight at
    the two edges); ``bytes`` is that count times the run's mean bytes per response. Latency
    percentiles and error counts cover wrk's whole run (warm-up included): wrk keeps no window.
    """
    try:
        out, err, code = w.finish()
    finally:
        shutil.rmtree(w.tmp, ignore_errors=True)
    if code != 0:
        raise RuntimeError(f"{' '.join(w.cmd)} failed ({code}): {err.strip()[-400:]}")
    s = parse_httpload_summary(out)
    p = w.params
    start, end = p["window"]
    duration = end - start
    requests = s["requests"]
    completed = s["requests_sent_window"]
    mean_bytes = s["bytes"] / requests if requests else math.nan
    errors = {k if k != "status" else "bad_status": v for k, v in s["errors"].items() if v}
    if cpu0 is None or cpu1 is None:
        user = system = math.nan
    else:
        user, system = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
    cpu = user + system
    util = cpu / duration if duration > 0 else math.nan
    row = dict(p)
    row.pop("window")
    row.update(
        client="wrk", clients=p["clients"], duration_s=duration, completed=completed,
        bytes=completed * mean_bytes if requests else 0.0,
        requests_per_s=completed / duration if duration > 0 else 0.0,
        mbit_per_s=(completed * mean_bytes * 8 / 1e6 / duration
                    if requests and duration > 0 else 0.0),
        connections=s["closes_sent_window"], connection_failures=errors.get("connect", 0),
        errors_total=sum(errors.values()), errors=errors,
        client_cpu_s=cpu, client_cpu_user_s=user, client_cpu_system_s=system,
        client_cpu_utilisation=util,
        client_cpu_us_per_request=cpu * 1e6 / completed if completed else math.nan,
        client_saturated=bool(util >= SATURATED_UTILISATION),
        response_ms={k: v for k, v in s["latency_ms"].items()},
        wrk_requests=requests, wrk_bytes=s["bytes"], wrk_duration_s=s["duration_us"] / 1e6,
        wrk_requests_sent=s["requests_sent"], wrk_closes_sent=s["closes_sent"],
        mean_response_bytes=mean_bytes,
        think_ms_mean=(s.get("think_ms_mean") if s.get("think_ms_mean") is not None
                       else math.nan),
        requests_per_connection=(s["requests_sent_window"] / s["closes_sent_window"]
                                 if s["closes_sent_window"] else math.nan),
        command=" ".join(w.cmd), warnings=list(w.warnings))
    for line in out.splitlines():
        if line.startswith(_QUANTILES_MARK):
            row["latency_quantiles"] = json.loads(line[len(_QUANTILES_MARK):])
    for k, v in row["response_ms"].items():
        row[f"response_ms_{k}"] = v
    for k, v in sorted(errors.items()):
        row[f"errors.{k}"] = v
    if row["client_saturated"]:
        row["warnings"].append("the client saturated: this point measures the client")
    return row


def run_httpload_wrk(host: str, port: int, clients: int, duration: float, warmup: float = 0.0,
                     *, start_at: float | None = None, **kwargs) -> dict:
    """Run SEDA's HttpLoad model on wrk for ``warmup`` + ``duration`` s; one result dict.

    The keyword arguments are ``start_httpload_wrk``'s (``requests_per_conn``, ``think_time``,
    ``paths`` (a trace file, a list of paths or a ``RequestMix``), ``seed``, ``threads``,
    ``cpu``, ``addresses``, ``close_scheme``, ``timeout``). The client's CPU is read from
    /proc/<wrk's pid>/stat at the window's edges. Raises ``WrkNotFound`` (naming the install
    command) when wrk is missing; never falls back to another client.
    """
    if duration <= 0 or warmup < 0:
        raise ValueError(f"duration must be > 0 and warmup >= 0, got {duration}, {warmup}")
    require_wrk()
    if start_at is not None:
        time.sleep(max(0.0, start_at - time.time()))
    t0 = time.time()
    window = (t0 + warmup, t0 + warmup + duration)
    return measure_window(start_httpload_wrk(host, port, clients, window, **kwargs), window)


def measure_window(w: _Wrk, window: tuple[float, float]) -> dict:
    """A started HttpLoad wrk's result over ``window`` (wall-clock start, end): its CPU read at
    both edges; on any failure (or Ctrl-C) wrk is killed and its files removed."""
    try:
        _sleep_until(window[0], w)
        cpu0 = w.cpu()
        _sleep_until(window[1], w)
        cpu1 = w.cpu()
    except BaseException:
        w.kill()
        shutil.rmtree(w.tmp, ignore_errors=True)
        raise
    return httpload_result(w, cpu0, cpu1)


def _sleep_until(t: float, w: _Wrk) -> None:
    while True:
        left = t - time.time()
        if left <= 0:
            return
        msg = w.failed()
        if msg is not None:
            raise RuntimeError(msg)
        time.sleep(min(left, 0.1))
