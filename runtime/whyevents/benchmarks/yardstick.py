"""``whyevents bench yardstick``: the marginal cost of a task and of a request, counted, not timed.

Why a second yardstick beside the clock. On a shared 2-vCPU VM another tenant can slow a core for
minutes, and the wall-clock ratio between the green-thread runtime and the event server moves from
hour to hour with it (the project's runs record such swings; ``whyevents margins`` shows them).
Counted work does not move: cachegrind runs the program on a simulated CPU and counts the
instructions it executes (``Ir``), its data reads and writes (``Dr``, ``Dw``) and the misses of a
*stated* two-level cache model (first-level ``I1``/``D1``, last-level ``LL``), whatever else the
host is doing. So the counts *explain* a gap (the runtime executes so many more instructions per
task, touches so much more memory, misses so much more often) and *guard* it (a test bounds the
instructions per task, and a change that adds work fails it on any machine, loaded or not). They
do not *decide* a claim: the paper's claims are about time on real hardware, where branch
prediction, the real caches and prefetchers, the kernel and frequency scaling all count, and a
simulated cycle estimate weighs none of them. The clock decides; the yardstick tells why and
keeps the code honest between runs.

How the noise is taken out:

* **Marginal cost over two windows.** Each workload runs twice from the same start: the same
  start-up (interpreter, imports, spawning the N threads, the cached file) and the same warm-up,
  then ``n1`` or ``n2`` units (task completions, requests). ``(cost(n2) - cost(n1)) / (n2 - n1)``
  cancels everything but the per-unit cost, with no timer and no window edges.
* **The same program each time.** Address-space randomization off (``setarch <arch> -R``), string
  hashing fixed (``PYTHONHASHSEED=0``), no bytecode written (``PYTHONDONTWRITEBYTECODE=1``, so
  the first run does not compile what the second then loads), the interpreted build unless asked.
* **A stated cache model.** The sizes come from this machine's sysfs (``cache_model``) and are
  passed to cachegrind explicitly (``--I1 --D1 --LL``), so the counts do not depend on
  valgrind's own detection, and the model is recorded with every result. The last level modelled
  is the core's own unified L2, not a shared L3: on a VM the L3 is shared with the host's other
  tenants (what share a process gets is unknowable) and cachegrind needs a power-of-two set
  count, which a hypervisor's L3 often does not have.
* **Cycles, estimated.** ``L1 hits + 5 x LL hits + 35 x RAM hits`` (iai-callgrind's published
  weights), with ``L1 hits = Ir + Dr + Dw - (I1 + D1 misses)``, ``LL hits = (I1 + D1 misses) -
  LL misses`` and ``RAM hits = LL misses``: one number that weighs memory traffic beside
  instructions, for ranking, not for predicting time.

The workloads:

* **The task pipeline** (``experiments.pipeline``'s closed loop, N tasks in flight, one cached
  8 KiB read per task) through the worker's public entry point ``pipeline_worker.run_point`` in
  its count mode (``tasks_total`` > 0: issue exactly that many tasks, then return), for the event
  server (``event``: the deque of callbacks), green threads (``fifo``), the substrate floor
  (``greenlet``) and ``async def`` threads (``coro``). The windows are whole rounds of N
  completions after the first round, so the first time each worker runs stays in the start-up.
* **A server on a fixed request trace**: a registered server (Knot-C, green threads; its
  event-loop twin) in its own process under cachegrind, speaking ``whyevents.servers.process``'s
  protocol, fed by a client in *this* process (outside valgrind, so its cost is not counted):
  ``warmup`` keep-alive GETs of the 8 KiB file, then ``n1`` or ``n2`` more, one at a time on one
  connection, each sent only once every thread of the server is asleep (``/proc``): so each
  request takes the same path (wake, read, respond, park) whatever the timing. A request sent
  as soon as the last response arrived would often be waiting when the server came back to read,
  skipping the park and the wake-up, as often as the machine's load decides; pipelining would
  let batch sizes, and so the counts, depend on timing too.
* **The same server over K connections** (``--server-conns``): one connection keeps one thread's
  (or one connection record's) state hot, so it cannot show what a parked thread costs in cache.
  Under wrk each request finds the state of its connection where many others have been since,
  and whether the state of all of them fits the last level decides how much of it comes from
  memory. So the client opens K keep-alive connections (one at a time, each once the server is
  idle), warms them in whole rounds (every thread has served and parked once) and sends the
  measured requests round robin, still one at a time on an idle server: each wakes the thread
  served least recently, with K - 1 others' work in the simulated caches since. K = 1 is the
  one-connection trace above. Knot-C's pool is sized as ``whyevents bench servers`` sizes it,
  and the servers' idle timeout is lifted (a connection waits through every other one's turn,
  which cachegrind makes slow). Such a run ends on SIGTERM once the server is idle, not with a
  graceful stop: killing thousands of parked threads under cachegrind can outlast the server's
  stop timeout, and a shutdown cut short wherever the clock decides would differ between the
  two windows by as much as many requests cost.

* **Connections replaced as HttpLoad replaces them** (``--requests-per-conn R``): the web sweep's
  clients send ``Connection: close`` on every R-th request of a connection (HttpLoad's 5) and
  reconnect, so each request there also pays a fifth of an accept, a close and, for Knot-A, a
  thread's birth and death. With R > 0 the trace does the same: a connection's R-th request
  asks to close, the client reads the response and the server's end of file, closes, waits
  until the server has closed its socket (its socket count in ``/proc``) and is idle, then
  connects anew and waits until the server has accepted (one socket more) and is idle again.
  So every close and accept takes the same path whatever the timing, and the marginal cost
  per request includes 1/R of a connection's life. The warm-up and both windows are whole
  rounds of R requests on every connection.

Only the standard library is imported at module level (the CLI builds every benchmark's parser);
the runtime and the servers are imported in the measured subprocesses. Re-measure with
``whyevents bench yardstick`` (``--json`` for the file); the regression bounds live in
``tests/test_yardstick.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = [
    "EVENTS", "PIPELINE_BACKENDS", "SERVERS", "YardstickUnavailable", "cache_model",
    "cachegrind_command", "valgrind_version", "parse_cachegrind", "derive", "estimated_cycles",
    "run_cachegrind", "marginal", "pipeline_program", "server_program", "run_benchmark",
    "flat_rows", "latest_result", "stored_results", "format_table", "model_text", "measured_env",
    "pipeline_spec", "window_error",
    "add_arguments", "main_from_args", "DESCRIPTION", "EPILOG",
]

#: cachegrind's events with ``--cache-sim=yes``, in the order of its ``events:`` line.
EVENTS = ("Ir", "I1mr", "ILmr", "Dr", "D1mr", "DLmr", "Dw", "D1mw", "DLmw")
#: the pipeline backends measured: name -> (pipeline_worker backend, scheduler).
PIPELINE_BACKENDS: dict[str, tuple[str, str]] = {
    "event": ("event", "fifo"),
    "fifo": ("whyevents", "fifo"),
    "greenlet": ("greenlet", "fifo"),
    "coro": ("coro", "fifo"),
    "gen": ("gen", "fifo"),
}
#: the servers measured by default: the green-thread server and its event-driven twin.
SERVERS = ("knot-c", "eventloop")
#: the event side every ratio is taken against.
EVENT_SIDE = {"pipeline": "event", "server": "eventloop"}
#: iai-callgrind's weights: an LL hit costs 5 L1 hits, a RAM access 35.
LL_HIT_WEIGHT = 5
RAM_WEIGHT = 35

_SYSFS_CACHE = Path("/sys/devices/system/cpu/cpu0/cache")
_START_TIMEOUT = 300.0          # a server's start-up under cachegrind (imports, threads)
_REQUEST_TIMEOUT = 60.0
_RUN_TIMEOUT = 1800.0
#: the servers' ``request_timeout`` with more than one connection: a connection waits through
#: every other connection's request between two of its own, which under cachegrind can outlast
#: the default timeout (the connection would be closed); a day never expires within a run.
_IDLE_TIMEOUT = 86400.0


class YardstickUnavailable(RuntimeError):
    """valgrind (or setarch) is not installed, or the cache model cannot be read."""


# ---------------------------------------------------------------------------------------------
# The cache model and the command
# ---------------------------------------------------------------------------------------------

def _size_bytes(text: str) -> int:
    text = text.strip().upper()
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
    return int(text.rstrip("KMG")) * mult


def _pow2_floor(n: int) -> int:
    return 1 << (max(1, n).bit_length() - 1)


def cache_model(sysfs: str | os.PathLike = _SYSFS_CACHE) -> dict:
    """This machine's caches as cachegrind will simulate them, read from sysfs (cpu0).

    Returns ``{"I1": {...}, "D1": {...}, "LL": {...}, "source", "not_modelled", "adjusted"}``,
    each level ``{"size", "assoc", "line", "level", "sets"}`` in bytes. I1 and D1 are the
    level-1 instruction and data caches; LL is the core's level-2 unified cache (the highest
    level if there is no L2). A level whose set count is not a power of two (cachegrind's
    requirement) keeps its associativity and line and is shrunk to the next power-of-two set
    count; ``adjusted`` says so. Raises ``YardstickUnavailable`` if sysfs has no cache entries.
    """
    base = Path(sysfs)
    levels = []
    for d in sorted(base.glob("index*")):
        try:
            rd = {k: (d / k).read_text().strip() for k in
                  ("level", "type", "size", "ways_of_associativity", "coherency_line_size")}
        except OSError:
            continue
        levels.append({"level": int(rd["level"]), "type": rd["type"],
                       "size": _size_bytes(rd["size"]),
                       "assoc": int(rd["ways_of_associativity"] or 1),
                       "line": int(rd["coherency_line_size"])})
    if not levels:
        raise YardstickUnavailable(f"no cache description under {base}")

    def pick(level: int, kinds: tuple[str, ...]) -> dict | None:
        for c in levels:
            if c["level"] == level and c["type"] in kinds:
                return c
        return None

    i1 = pick(1, ("Instruction", "Unified"))
    d1 = pick(1, ("Data", "Unified"))
    unified = [c for c in levels if c["type"] == "Unified" and c["level"] >= 2]
    ll = pick(2, ("Unified",)) or (max(unified, key=lambda c: c["level"]) if unified else None)
    if i1 is None or d1 is None or ll is None:
        raise YardstickUnavailable(f"sysfs under {base} lacks an L1i, L1d or unified L2+ cache")
    model: dict = {"source": str(base), "adjusted": [], "not_modelled": []}
    for name, c in (("I1", i1), ("D1", d1), ("LL", ll)):
        sets = c["size"] // (c["assoc"] * c["line"])
        if sets != _pow2_floor(sets):
            sets = _pow2_floor(sets)
            model["adjusted"].append(f"{name}: {c['size']} B has no power-of-two set count; "
                                     f"modelled as {sets * c['assoc'] * c['line']} B")
        model[name] = {"size": sets * c["assoc"] * c["line"], "assoc": c["assoc"],
                       "line": c["line"], "level": c["level"], "sets": sets}
    for c in levels:
        if c["level"] > model["LL"]["level"]:
            model["not_modelled"].append(
                f"L{c['level']} {c['type']} {c['size']} B, {c['assoc']}-way: shared beyond the "
                f"core (on a VM, with other tenants); the core's own L{model['LL']['level']} is "
                f"the last level modelled")
    return model


def model_text(model: dict) -> str:
    """One line: ``I1 32 KiB 8-way 64 B lines, D1 ..., LL ...``."""
    return ", ".join(f"{k} {model[k]['size'] // 1024} KiB {model[k]['assoc']}-way "
                     f"{model[k]['line']} B lines" for k in ("I1", "D1", "LL"))


def valgrind_version() -> str | None:
    """``valgrind --version`` (e.g. ``valgrind-3.19.0``), None if valgrind is not installed."""
    exe = shutil.which("valgrind")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def cachegrind_command(argv: Sequence[str], out_file: str | os.PathLike,
                       model: dict | None = None, cache_sim: bool = True) -> list[str]:
    """``setarch <arch> -R valgrind --tool=cachegrind --cache-sim=yes --I1 --D1 --LL ...
    --cachegrind-out-file=OUT -- argv``. ``cache_sim=False`` counts instructions only (about
    twice as fast: what a guard on ``Ir`` needs). Raises ``YardstickUnavailable`` without
    valgrind or setarch."""
    valgrind, setarch = shutil.which("valgrind"), shutil.which("setarch")
    if valgrind is None:
        raise YardstickUnavailable("valgrind is not installed (apt-get install -y valgrind)")
    if setarch is None:
        raise YardstickUnavailable("setarch is not installed (util-linux)")
    model = cache_model() if model is None else model
    geo = [f"--{k}={model[k]['size']},{model[k]['assoc']},{model[k]['line']}"
           for k in ("I1", "D1", "LL")]
    return [setarch, platform.machine(), "-R", valgrind, "--tool=cachegrind",
            f"--cache-sim={'yes' if cache_sim else 'no'}", *geo,
            f"--cachegrind-out-file={os.fspath(out_file)}", "--", *argv]


# ---------------------------------------------------------------------------------------------
# Parsing and arithmetic
# ---------------------------------------------------------------------------------------------

def parse_cachegrind(path: str | os.PathLike) -> dict[str, int]:
    """The program's totals from a cachegrind output file: its ``events:`` line names the
    columns of its ``summary:`` line. Every event of ``EVENTS`` is present (0 if the file lacks
    it). Raises ``ValueError`` if the file has no events or summary line."""
    events: list[str] | None = None
    summary: list[int] | None = None
    with open(path) as f:
        for line in f:
            if line.startswith("events:"):
                events = line.split(":", 1)[1].split()
            elif line.startswith("summary:"):
                summary = [int(x) for x in line.split(":", 1)[1].split()]
    if events is None or summary is None:
        raise ValueError(f"{path}: no 'events:' or 'summary:' line (not a cachegrind out file)")
    if len(summary) != len(events):
        raise ValueError(f"{path}: summary has {len(summary)} counts for {len(events)} events")
    counts = dict.fromkeys(EVENTS, 0)
    counts.update(zip(events, summary, strict=True))
    return counts


def estimated_cycles(c: dict) -> float:
    """iai-callgrind's estimate: ``L1 hits + 5 x LL hits + 35 x RAM hits``."""
    return derive(c)["est_cycles"]


def derive(c: dict) -> dict:
    """The table's columns from raw counts (totals or per-unit: the arithmetic is linear):
    ``instructions``, ``data_refs`` (Dr + Dw), ``d1_misses`` (D1mr + D1mw), ``ll_misses``
    (DLmr + DLmw + ILmr), ``l1_hits``, ``ll_hits``, ``ram_hits`` and ``est_cycles``."""
    l1_misses = c["I1mr"] + c["D1mr"] + c["D1mw"]
    ll_misses = c["ILmr"] + c["DLmr"] + c["DLmw"]
    l1_hits = c["Ir"] + c["Dr"] + c["Dw"] - l1_misses
    ll_hits = l1_misses - ll_misses
    return {"instructions": c["Ir"], "data_refs": c["Dr"] + c["Dw"],
            "d1_misses": c["D1mr"] + c["D1mw"], "ll_misses": ll_misses,
            "l1_hits": l1_hits, "ll_hits": ll_hits, "ram_hits": ll_misses,
            "est_cycles": l1_hits + LL_HIT_WEIGHT * ll_hits + RAM_WEIGHT * ll_misses}


# ---------------------------------------------------------------------------------------------
# Running under cachegrind
# ---------------------------------------------------------------------------------------------

def measured_env(build: str = "interpreted", env: dict | None = None) -> dict:
    """The environment of a measured process: this one's, with the hash seed fixed, no bytecode
    written, and ``WHYEVENTS_PURE_PYTHON=1`` for the interpreted build (unset for compiled)."""
    out = dict(os.environ if env is None else env)
    out["PYTHONHASHSEED"] = "0"
    out["PYTHONDONTWRITEBYTECODE"] = "1"
    out.pop("WHYEVENTS_PURE_PYTHON", None)
    if build == "interpreted":
        out["WHYEVENTS_PURE_PYTHON"] = "1"
    elif build != "compiled":
        raise ValueError(f"build={build!r}: must be interpreted or compiled")
    return out


def run_cachegrind(argv: Sequence[str], env: dict | None = None, *, model: dict | None = None,
                   cache_sim: bool = True, timeout: float = _RUN_TIMEOUT) -> dict[str, int]:
    """Run ``argv`` to completion under cachegrind (ASLR off, the stated cache model) and return
    its totals (``parse_cachegrind``). ``env`` is the whole environment (None: this one's).
    Raises ``RuntimeError`` with the tail of its stderr if it fails."""
    with tempfile.TemporaryDirectory(prefix="whyevents-yardstick-") as tmp:
        out = Path(tmp) / "cachegrind.out"
        cmd = cachegrind_command(argv, out, model, cache_sim)
        p = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=timeout)
        if p.returncode != 0 or not out.exists():
            tail = (p.stdout + p.stderr).decode(errors="replace")[-1500:]
            raise RuntimeError(f"{argv[:3]} under cachegrind exited {p.returncode}: {tail}")
        return parse_cachegrind(out)


def marginal(program: Callable[[int], dict], n1: int, n2: int) -> dict:
    """The per-unit cost: ``program(n)`` runs n units after the same start-up and warm-up and
    returns its totals; the result is ``(cost(n2) - cost(n1)) / (n2 - n1)`` per event plus the
    derived columns (``derive``), with the two totals kept under ``totals``."""
    if not 0 <= n1 < n2:
        raise ValueError(f"windows: need 0 <= n1 < n2, got n1={n1}, n2={n2}")
    c1, c2 = program(n1), program(n2)
    per = {k: (c2[k] - c1[k]) / (n2 - n1) for k in EVENTS}
    return {**per, **derive(per), "n1": n1, "n2": n2, "totals": {str(n1): c1, str(n2): c2}}


# ---------------------------------------------------------------------------------------------
# The pipeline
# ---------------------------------------------------------------------------------------------

_PIPELINE_CHILD = ("from whyevents.benchmarks.yardstick import _pipeline_child; "
                   "_pipeline_child()")


def _no_percentiles(samples: list[float], qs=(50, 90, 99)) -> dict:
    return dict.fromkeys(qs)


def _pipeline_child() -> None:
    """Measured process: one count-mode pipeline point, its row checked, then ``os._exit``."""
    spec = json.loads(sys.argv[1])
    from whyevents.experiments import pipeline_worker

    # The row's latency percentiles sort every task's latency: timsort's work depends on the
    # order of those floats, which depends on timing, so it would put the machine's load back
    # into the counts. The yardstick wants no percentiles; the stub leaves that sort out.
    pipeline_worker.percentiles = _no_percentiles
    row = pipeline_worker.run_point(spec)
    if row.get("status") != "ok" or row.get("total_completed") != spec["tasks_total"]:
        sys.stderr.write(f"pipeline point failed: {json.dumps(row, default=str)[:1000]}\n")
        os._exit(1)
    sys.stdout.flush()
    os._exit(0)


def pipeline_spec(backend: str, tasks: int, total: int, path: str,
                  read_bytes: int = 8192, file_bytes: int = 1 << 20) -> dict:
    """The ``pipeline_worker.run_point`` spec of a count-mode point: ``tasks`` in flight,
    exactly ``total`` completions."""
    impl, scheduler = PIPELINE_BACKENDS[backend]
    return {"backend": impl, "scheduler": scheduler, "poller": "epoll", "tasks": tasks,
            "tasks_total": total, "read_bytes": read_bytes, "file_bytes": file_bytes,
            "warmup_s": 0.0, "warmup_rounds": 0, "window_s": 0.0, "window_rounds": 0,
            "path": path, "out": os.devnull}


def pipeline_program(backend: str, tasks: int, path: str, *, build: str = "interpreted",
                     model: dict | None = None, cache_sim: bool = True
                     ) -> Callable[[int], dict]:
    """``n -> totals`` of the pipeline with ``tasks`` in flight, ``tasks`` + n completions
    (the first round is start-up: each worker's first run), reading the cached file ``path``."""
    if backend not in PIPELINE_BACKENDS:
        raise ValueError(f"backend={backend!r}: must be one of {', '.join(PIPELINE_BACKENDS)}")
    env = measured_env(build)

    def program(n: int) -> dict:
        spec = pipeline_spec(backend, tasks, tasks + n, path)
        return run_cachegrind([sys.executable, "-c", _PIPELINE_CHILD, json.dumps(spec)], env,
                              model=model, cache_sim=cache_sim)

    return program


# ---------------------------------------------------------------------------------------------
# A server on a fixed request trace
# ---------------------------------------------------------------------------------------------

def _readline(proc: subprocess.Popen, timeout: float) -> dict:
    fd = proc.stdout.fileno()
    buf = b""
    deadline = time.monotonic() + timeout
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no line from the server within {timeout:g} s")
        r, _, _ = select.select([fd], [], [], left)
        if r:
            chunk = os.read(fd, 1)
            if not chunk:
                raise RuntimeError("the server under cachegrind exited early")
            buf += chunk
    return json.loads(buf)


def _measured_pid(pid: int) -> int:
    """The process valgrind runs the program in: ``setarch`` execs valgrind, which execs its
    tool in the same process, so it is ``pid`` itself (checked: its threads are listed)."""
    if not Path(f"/proc/{pid}/task").is_dir():
        raise RuntimeError(f"the measured process {pid} is gone")
    return pid


def _wait_idle(pid: int, timeout: float = _REQUEST_TIMEOUT) -> None:
    """Return once every thread of process ``pid`` is asleep (state S in /proc): the server has
    finished with the last response and parked. Sending the next request only then keeps each
    request on the same path (wake from the poller, read, respond, park) however fast the client
    is: a request already waiting when the server comes back to read would skip the park and
    the wake-up, and how often that happens depends on the machine's load."""
    deadline = time.monotonic() + timeout
    task_dir = Path(f"/proc/{pid}/task")
    while True:
        states = []
        for t in task_dir.iterdir():
            with contextlib.suppress(OSError):
                states.append((t / "stat").read_text().rsplit(")", 1)[1].split()[0])
        if states and all(st == "S" for st in states):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the server (pid {pid}) did not go idle within {timeout:g} s")
        time.sleep(0.0002)


def _end_by_signal(proc: subprocess.Popen, pid: int) -> dict:
    """End a many-connection run: the server's request count (``stats``), then, once it is
    idle, SIGTERM, on which valgrind still writes the counts. A graceful stop would close every
    connection and kill every parked thread, which under cachegrind can outlast the server's
    stop timeout, so the run would end part-way through its shutdown, wherever the clock cut it:
    a cost as large as many requests, different in each window."""
    _wait_idle(pid)         # the last request counted (the client has its response already)
    proc.stdin.write(b"stats\n")
    proc.stdin.flush()
    snap = _readline(proc, _START_TIMEOUT)
    _wait_idle(pid)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=_START_TIMEOUT)
    return snap


def server_warmup(warmup: int, conns: int, rpc: int = 0) -> int:
    """The warm-up actually sent over ``conns`` connections: ``warmup`` requests rounded up to
    whole rounds of ``conns`` (at least one), so every connection has served (and its thread
    parked) once, and both windows start at connection 0; with connections replaced every
    ``rpc`` requests, whole rounds of ``rpc`` on every connection, so every window starts on
    fresh connections."""
    if conns < 1 or warmup < 0 or rpc < 0:
        raise ValueError(f"conns={conns}, warmup={warmup}, rpc={rpc}: need conns >= 1, "
                         f"warmup >= 0, rpc >= 0")
    step = conns * max(1, rpc)
    return max(1, -(-warmup // step)) * step


def request_schedule(conns: int, warmup: int, n: int, rpc: int = 0) -> list[int]:
    """The connection (0 .. ``conns`` - 1) each request of a run goes to, in order: the warm-up
    (``server_warmup``), then the ``n`` measured ones, round robin from connection 0, so each
    measured request goes to the connection least recently served. With ``rpc`` > 0 (each
    connection replaced after ``rpc`` requests) ``n`` must be whole rounds of ``rpc`` on every
    connection, so each window holds whole connection lives."""
    if (why := window_error(n, conns, rpc)) is not None:
        raise ValueError(f"requests={n}: {why}")
    return [i % conns for i in range(server_warmup(warmup, conns, rpc) + n)]


def window_error(n: int, conns: int, rpc: int) -> str | None:
    """Why a window of ``n`` requests over ``conns`` connections replaced every ``rpc``
    requests does not hold whole connection lives, or None if it does (or ``rpc`` is 0)."""
    if rpc and n % (conns * rpc):
        return (f"with a new connection every {rpc} requests over {conns} connection(s), a "
                f"window is a multiple of {conns * rpc}")
    return None


def _mode(r: dict) -> tuple[int, int]:
    """A server row's (connections, requests per connection; 0: keep-alive), with the
    defaults of a result from before either was a parameter."""
    return r.get("conns", 1), r.get("requests_per_conn", 0)


def _sockets(pid: int) -> int:
    """Sockets process ``pid`` holds open (its listener and connections among them)."""
    n = 0
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        with contextlib.suppress(OSError):
            n += os.readlink(f"{fd_dir}/{fd}").startswith("socket:")
    return n


def _wait_sockets(pid: int, want: int, timeout: float = _REQUEST_TIMEOUT) -> None:
    """Return once process ``pid`` holds ``want`` sockets: it has accepted, or closed, the
    connection the client just opened or closed."""
    deadline = time.monotonic() + timeout
    while (have := _sockets(pid)) != want:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the server (pid {pid}) holds {have} sockets, not {want}, "
                               f"{timeout:g} s after a connect or close")
        time.sleep(0.0002)


def server_program(name: str, root: str, warmup: int, *, build: str = "interpreted",
                   model: dict | None = None, threads: int | None = None,
                   conns: int = 1, cache_sim: bool = True,
                   rpc: int = 0) -> Callable[[int], dict]:
    """``n -> totals`` of server ``name`` (``whyevents.servers``, epoll) under cachegrind,
    serving the warm-up (``server_warmup(warmup, conns)``) + n keep-alive GETs of the 8 KiB
    file over ``conns`` connections opened once it is ready, round robin
    (``request_schedule``), one at a time, from a client in this process (not counted). One
    connection is then closed and the server stopped through its protocol; more end on a signal
    once the server is idle (``_end_by_signal``). Knot's pool gets
    ``threads`` threads (default: ``benchmarks.servers.knot_c_threads(conns)``, what ``whyevents
    bench servers`` gives as many wrk connections); a Knot-C pool smaller than ``conns`` would
    leave connections unserved in the backlog, a ``ValueError``. ``cache_sim=False`` counts
    instructions only (``cachegrind_command``), what the regression guard needs. ``rpc`` > 0:
    each connection is replaced after that many requests, as HttpLoad's clients do (module
    doc); the windows must then be whole rounds of it (``request_schedule``)."""
    from whyevents.harness import procs
    from whyevents.servers import POOLS

    from .servers import knot_c_threads
    from .servers_http import FILE_SIZE, get_request, read_responses

    if conns < 1:
        raise ValueError(f"conns={conns}: at least one connection")
    if warmup == 0:     # the check's 3 requests would then be inside the window
        raise ValueError("warmup: at least 3 requests (the correctness check)")
    kwargs: dict = {"poller": "epoll"}
    if name.startswith("knot-"):
        kwargs["threads"] = knot_c_threads(conns) if threads is None else threads
        if name in POOLS and kwargs["threads"] < conns:
            raise ValueError(f"threads={threads}: Knot-C needs a thread per connection "
                             f"({conns})")
    if rpc < 0:
        raise ValueError(f"rpc={rpc}: requests per connection, 0 for keep-alive throughout")
    if conns > 1:
        kwargs["request_timeout"] = _IDLE_TIMEOUT
    spec = {"server": name, "root": root, "kwargs": kwargs}
    env = measured_env(build)
    warmup = server_warmup(warmup, conns, rpc)

    def program(n: int) -> dict:
        order = request_schedule(conns, warmup, n, rpc)
        if conns > 1:
            procs.raise_fd_limit()
        with tempfile.TemporaryDirectory(prefix="whyevents-yardstick-") as tmp:
            out = Path(tmp) / "cachegrind.out"
            cmd = cachegrind_command([sys.executable, "-m", "whyevents.servers.process",
                                      json.dumps(spec)], out, model, cache_sim)
            err = open(Path(tmp) / "stderr", "w+b")  # noqa: SIM115 - closed below
            proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=err, start_new_session=True)
            socks: list[socket.socket] = []
            try:
                info = _readline(proc, _START_TIMEOUT)
                if not info.get("ready"):
                    raise RuntimeError(f"{name} did not start: {info.get('error')}")
                addr = (info["host"], info["port"])
                server_pid = _measured_pid(proc.pid)
                base = _sockets(server_pid) if rpc else 0

                def connect() -> socket.socket:
                    s = socket.create_connection(addr, timeout=_REQUEST_TIMEOUT)
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    if rpc:                      # accepted: the same path in every run
                        _wait_sockets(server_pid, base + len(socks) + 1)
                    return s

                # One connection opens as it always did; with more, each opens once the server
                # is idle, so that every accept takes the same path in every run.
                for i in range(conns):
                    if i or conns > 1 or rpc:
                        _wait_idle(server_pid)
                    socks.append(connect())
                req = get_request(host=addr[0])
                last_req = req[:-2] + b"Connection: close\r\n\r\n"
                bufs = [bytearray() for _ in socks]
                served = [0] * conns
                for c in order:
                    _wait_idle(server_pid)
                    served[c] += 1
                    last = rpc and served[c] % rpc == 0
                    socks[c].sendall(last_req if last else req)
                    (status, _h, body), = read_responses(socks[c], 1, _REQUEST_TIMEOUT, bufs[c])
                    if status != 200 or len(body) != FILE_SIZE:
                        raise RuntimeError(f"{name}: status {status}, {len(body)} bytes")
                    if last:                     # HttpLoad's reconnect (module doc)
                        if bufs[c] or socks[c].recv(1):
                            raise RuntimeError(f"{name}: bytes after the last response where "
                                               f"the server should close")
                        socks[c].close()
                        _wait_sockets(server_pid, base + conns - 1)
                        _wait_idle(server_pid)
                        socks.pop(c)
                        socks.insert(c, connect())
                        bufs[c] = bytearray()
                if conns == 1:
                    socks[0].close()
                    proc.stdin.write(b"stop\n")
                    proc.stdin.flush()
                    final = _readline(proc, _START_TIMEOUT)
                    proc.wait(timeout=_START_TIMEOUT)
                else:
                    final = _end_by_signal(proc, server_pid)
            except BaseException:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, 9)
                proc.wait()
                err.seek(0)
                sys.stderr.write(err.read().decode(errors="replace")[-1500:])
                raise
            finally:
                for s in socks:
                    s.close()
                err.close()
            if final.get("stop_error"):
                raise RuntimeError(f"{name} did not stop cleanly ({final['stop_error']}): the "
                                   f"counts would hold a shutdown cut short at a moment the "
                                   f"clock chose")
            if final.get("requests") != len(order):
                raise RuntimeError(f"{name} counted {final.get('requests')} requests, the "
                                   f"client sent {len(order)}")
            opened = conns + (len(order) // rpc if rpc else 0)
            if final.get("connections_total", opened) != opened:
                raise RuntimeError(f"{name} counted {final['connections_total']} connections, "
                                   f"the client opened {opened}")
            if not out.exists():
                raise RuntimeError(f"{name}: cachegrind wrote no counts (exit {proc.returncode})")
            return parse_cachegrind(out)

    return program


# ---------------------------------------------------------------------------------------------
# The benchmark: every workload, the ratios, the table
# ---------------------------------------------------------------------------------------------

#: the table's columns: key, header, decimals.
_COLUMNS = (("instructions", "Ir", 0), ("data_refs", "D refs", 0), ("d1_misses", "D1 miss", 2),
            ("ll_misses", "LL miss", 3), ("est_cycles", "est. cycles", 0))
#: the ratios printed (all of ``_COLUMNS``' are in the JSON).
_PRINTED_RATIOS = (("instructions", "Ir x"), ("data_refs", "D x"), ("ll_misses", "LL x"),
                   ("est_cycles", "cyc x"))
_NAME_WIDTH = 13


def _ratios(rows: list[dict]) -> None:
    """Each ok row's ``ratio_to_event``: its per-unit columns over its workload's event side
    (a server's: at the same number of connections); None where the event side has less than
    one event per unit (a warm one-connection server's LL misses: what is left is the
    difference between two start-ups, not a cost, and a ratio to it means nothing)."""
    for r in rows:
        if r["status"] != "ok" or r["workload"] not in EVENT_SIDE:
            continue
        base = next((b for b in rows if b["workload"] == r["workload"] and b["status"] == "ok"
                     and b["name"] == EVENT_SIDE[r["workload"]]
                     and _mode(b) == _mode(r)), None)
        if base is not None:
            r["ratio_to_event"] = {k: (r[k] / base[k] if abs(base[k]) >= 1 else None)
                                   for k, _h, _d in _COLUMNS}


def run_benchmark(cfg: dict, progress: Callable[[str], None] | None = None) -> dict:
    """Measure every backend and server ``cfg`` names; returns the result (also written to
    ``cfg["json_path"]`` or ``data/results/bench-yardstick/<stamp>/results.json``).

    ``cfg``: ``tasks`` (in flight), ``rounds`` ((r1, r2): windows of r1 x tasks and r2 x tasks
    completions after the first round), ``backends``, ``servers``, ``requests`` ((n1, n2)),
    ``warmup_requests``, ``server_conns`` (connection counts, each measured for every server;
    default ``[1]``), ``requests_per_conn`` (0: keep-alive throughout; R: each connection
    replaced after R requests, HttpLoad's churn; each measured for every count and server;
    default ``[0]``), ``build``, ``json_path``.
    """
    from whyevents.harness import provenance as _provenance

    from .results import default_json_path, write_json
    from .servers_http import make_docroot

    say = progress or (lambda _msg: None)
    model = cache_model()
    json_path = Path(cfg["json_path"]) if cfg.get("json_path") else default_json_path(
        "bench-yardstick")
    params = {k: v for k, v in cfg.items() if k != "json_path"}
    result = {"benchmark": "yardstick", "parameters": params,
              "provenance": _provenance.benchmark(params), "valgrind": valgrind_version(),
              "cache_model": model, "cache_model_text": model_text(model),
              "command": cachegrind_command(["PROGRAM"], "OUT", model),
              "env": {"PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
                      "WHYEVENTS_PURE_PYTHON": "1" if cfg["build"] == "interpreted" else None},
              "rows": [], "json_path": str(json_path)}
    t_start = time.monotonic()

    def measure(row: dict, program: Callable[[int], dict], n1: int, n2: int) -> None:
        t0 = time.monotonic()
        try:
            row.update(marginal(program, n1, n2), status="ok")
        except Exception as e:  # noqa: BLE001 - one failed row, the others still measured
            row.update(status="error", error=f"{type(e).__name__}: {e}"[:2000])
        row["wall_s"] = round(time.monotonic() - t0, 1)
        result["rows"].append(row)
        _ratios(result["rows"])
        write_json(json_path, result)
        say(f"{row['workload']} {row['name']}: {row['status']}"
            + (f", {row['instructions']:,.0f} Ir per {row['unit']}" if row["status"] == "ok"
               else f" ({row.get('error')})") + f" ({row['wall_s']} s)")

    tasks, (r1, r2) = cfg["tasks"], cfg["rounds"]
    if cfg["backends"]:
        from whyevents.experiments.pipeline import cached_file

        with cached_file(1 << 20) as path:
            for b in cfg["backends"]:
                row = {"workload": "pipeline", "name": b, "unit": "task", "tasks": tasks}
                measure(row, pipeline_program(b, tasks, path, build=cfg["build"], model=model),
                        r1 * tasks, r2 * tasks)
    if cfg["servers"]:
        from whyevents.servers import POOLS

        from .servers import knot_c_threads

        n1, n2 = cfg["requests"]
        with tempfile.TemporaryDirectory(prefix="whyevents-yardstick-") as tmp:
            root, _body = make_docroot(os.path.join(tmp, "www"))
            for rpc in cfg.get("requests_per_conn") or [0]:
                for conns in cfg.get("server_conns") or [1]:
                    for name in cfg["servers"]:
                        row = {"workload": "server", "name": name, "unit": "request",
                               "conns": conns, "requests_per_conn": rpc,
                               "warmup_requests": server_warmup(cfg["warmup_requests"], conns,
                                                                rpc)}
                        if name in POOLS:
                            row["threads"] = knot_c_threads(conns)
                        measure(row, server_program(name, root, cfg["warmup_requests"],
                                                    build=cfg["build"], model=model,
                                                    conns=conns, rpc=rpc), n1, n2)
    result["elapsed_s"] = round(time.monotonic() - t_start, 1)
    write_json(json_path, result)
    return result


def flat_rows(result: dict) -> list[dict]:
    """The measured rows as flat records (one per backend or server and connection count:
    ``workload``, ``name``, ``unit``, a server's ``conns``, the per-unit columns and
    ``<column>_ratio`` to the event side), for a DataFrame."""
    out = []
    for r in result["rows"]:
        if r["status"] != "ok":
            continue
        rec = {"workload": r["workload"], "name": r["name"], "unit": r["unit"]}
        if r["workload"] == "server":
            rec["conns"] = r.get("conns", 1)
            rec["requests_per_conn"] = r.get("requests_per_conn", 0)
        rec.update({k: r[k] for k, _h, _d in _COLUMNS})
        rec.update({f"{k}_ratio": (r.get("ratio_to_event") or {}).get(k)
                    for k, _h, _d in _COLUMNS})
        out.append(rec)
    return out


def stored_results(root: str | os.PathLike | None = None) -> list[Path]:
    """The stored ``bench-yardstick`` result files under ``root`` (default: the checkout's
    ``data/results``), newest first."""
    if root is None:
        from whyevents.harness.provenance import repo_root

        root = (repo_root() or Path.cwd()) / "data" / "results"
    return sorted(Path(root).glob("bench-yardstick/*/results.json"), reverse=True)


def latest_result(root: str | os.PathLike | None = None) -> dict | None:
    """The newest stored ``bench-yardstick`` result under ``root`` (default: the checkout's
    ``data/results``), None if there is none."""
    runs = stored_results(root)
    if not runs:
        return None
    with open(runs[0]) as f:
        return json.load(f)


def _num(x: float | None, decimals: int) -> str:
    return "-" if x is None else f"{x:,.{decimals}f}"


def format_table(result: dict) -> str:
    """The per-unit table of each workload, ratios to its event side, the model and valgrind."""
    p = result["parameters"]
    lines = [f"yardstick: marginal cost per unit under cachegrind ({result['valgrind']}, "
             f"{p['build']} build, ASLR off)",
             f"cache model: {result['cache_model_text']} (sysfs; passed as --I1/--D1/--LL)"]
    lines += [f"  not modelled: {t}" for t in result["cache_model"]["not_modelled"]]
    lines += [f"  adjusted: {t}" for t in result["cache_model"]["adjusted"]]
    head = (f"{'':<{_NAME_WIDTH}}" + "".join(f"{h:>13}" for _k, h, _d in _COLUMNS)
            + "".join(f"{h:>8}" for _k, h in _PRINTED_RATIOS))
    sections = [("pipeline", None, f"task pipeline, {p['tasks']:,} tasks in flight, per task "
                                   f"(windows of {p['rounds'][0]} and {p['rounds'][1]} rounds "
                                   f"after the first)")]
    for conns, rpc in dict.fromkeys(_mode(r) for r in result["rows"]
                                    if r["workload"] == "server"):
        on = ("on one connection" if conns == 1 else
              f"round robin over {conns:,} connections (each request to the one served least "
              f"recently)")
        kind = ("keep-alive GETs" if not rpc else
                f"GETs, each connection replaced after {rpc} (HttpLoad's churn),")
        warm = server_warmup(p["warmup_requests"], conns, rpc)
        sections.append(("server", (conns, rpc),
                         f"servers, {kind} of one 8 KiB file {on}, per request (windows of "
                         f"{p['requests'][0]:,} and {p['requests'][1]:,} after {warm:,} "
                         f"warm-up)"))
    for workload, key, what in sections:
        rows = [r for r in result["rows"] if r["workload"] == workload
                and (key is None or _mode(r) == key)]
        if not rows:
            continue
        lines += ["", what + f"; ratios to {EVENT_SIDE[workload]}:", head]
        for r in rows:
            if r["status"] != "ok":
                lines.append(f"{r['name']:<{_NAME_WIDTH}}  {r['status']}: "
                             f"{r.get('error', '')[:200]}")
                continue
            rat = r.get("ratio_to_event") or {}
            lines.append(f"{r['name']:<{_NAME_WIDTH}}"
                         + "".join(f"{_num(r[k], d):>13}" for k, _h, d in _COLUMNS)
                         + "".join(f"{_num(rat.get(k), 2):>8}" for k, _h in _PRINTED_RATIOS))
        threads = sorted({r["threads"] for r in rows if r.get("threads")})
        if threads:
            lines.append(f"  (Knot's pool: {', '.join(f'{t:,}' for t in threads)} threads)")
    lines += ["", "Instruction counts are reproducible to a fraction of a percent on a loaded "
                  "machine; est. cycles = L1 hits + 5 x LL hits + 35 x RAM (iai-callgrind's "
                  "weights): they explain and guard a gap, the clock decides the claims."]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------

DESCRIPTION = """\
The marginal cost of a pipeline task and of a server request, counted under valgrind's
cachegrind instead of timed: instructions (Ir), data references (Dr + Dw), simulated first-level
data misses (D1mr + D1mw) and last-level misses (DLmr + DLmw + ILmr) of this machine's own cache
sizes (read from sysfs, passed explicitly), and estimated cycles (L1 hits + 5 x LL hits + 35 x
RAM, iai-callgrind's formula). ASLR off, hash seed fixed; each workload runs twice from the same
start-up and warm-up with two window lengths, and the difference per unit is the marginal cost,
so start-up cancels. Counts do not move with the machine's load: they explain and guard the
thread/event gap; the clock (whyevents run pipeline / web) decides the claims. Needs valgrind.
"""

EPILOG = """\
examples:
  whyevents bench yardstick                          pipeline (event, fifo, greenlet, coro) at
                                                     1,000 tasks and Knot-C vs its twin
  whyevents bench yardstick --tasks 100 --servers none
  whyevents bench yardstick --backends event,fifo --requests 200,600 --json /tmp/y.json
  whyevents bench yardstick --backends none --server-conns 1,1000
                                                     Knot-C vs its twin on one connection, and
                                                     round robin over 1,000 parked ones
  whyevents bench yardstick --backends none --servers knot-c-async,eventloop \
      --requests-per-conn 0,5                        keep-alive, then a new connection every
                                                     5 requests (HttpLoad's churn)
"""


def _csv(choices: Sequence[str], what: str) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        if text == "none":
            return []
        out = [x for x in text.split(",") if x]
        bad = [x for x in out if x not in choices]
        if bad:
            raise argparse.ArgumentTypeError(f"{what} {', '.join(bad)}: choose from "
                                             f"{', '.join(choices)} or none")
        return out
    return parse


def _pair(text: str) -> tuple[int, int]:
    try:
        a, b = (int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give two integers, N1,N2") from None
    if not 0 <= a < b:
        raise argparse.ArgumentTypeError(f"{text!r}: need 0 <= N1 < N2")
    return a, b


def _counts(text: str, least: int, what: str) -> list[int]:
    """A comma-separated option value as distinct integers, each at least ``least``."""
    try:
        out = list(dict.fromkeys(int(x) for x in text.split(",")))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give {what}") from None
    if any(k < least for k in out):
        raise argparse.ArgumentTypeError(f"{text!r}: each count must be "
                                         + ("at least 1" if least == 1 else f"{least} or more"))
    return out


def _conns(text: str) -> list[int]:
    """``--server-conns K[,K]``: distinct connection counts, each at least 1 and within the
    descriptors both ends may open (``benchmarks.servers.fd_budget``, as ``whyevents bench
    servers`` caps its connections)."""
    out = _counts(text, 1, "connection counts, K[,K], e.g. 1,1000")
    from .servers import fd_budget

    limit = fd_budget()["max_connections"]
    if max(out) > limit:
        raise argparse.ArgumentTypeError(f"{text!r}: at most {limit:,} connections fit the "
                                         f"descriptor limit and port range here")
    return out


def _rpcs(text: str) -> list[int]:
    """``--requests-per-conn R[,R]``: distinct counts, each 0 (keep-alive) or more."""
    return _counts(text, 0, "request counts, R[,R], e.g. 0,5")


def _positive(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be at least 1")
    return n


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``whyevents bench yardstick``."""
    from whyevents.servers import names

    p.add_argument("--tasks", type=_positive, default=1000, metavar="N",
                   help="pipeline tasks in flight (default 1000)")
    p.add_argument("--rounds", type=_pair, default=(1, 3), metavar="R1,R2",
                   help="pipeline windows in rounds of N completions, after the first round "
                        "(default 1,3)")
    p.add_argument("--backends", type=_csv(list(PIPELINE_BACKENDS), "backend"),
                   default=list(PIPELINE_BACKENDS), metavar="B[,B]",
                   help=f"pipeline backends (default {','.join(PIPELINE_BACKENDS)}; 'none')")
    p.add_argument("--servers", type=_csv(names(), "server"), default=list(SERVERS),
                   metavar="S[,S]", help=f"servers (default {','.join(SERVERS)}; of "
                                         f"{','.join(names())}; 'none')")
    p.add_argument("--requests", type=_pair, default=(200, 600), metavar="N1,N2",
                   help="server windows in requests (default 200,600)")
    p.add_argument("--warmup-requests", type=_positive, default=50, metavar="W",
                   help="requests before either window (default 50; rounded up to whole "
                        "rounds over the connections)")
    p.add_argument("--server-conns", type=_conns, default=[1], metavar="K[,K]",
                   help="keep-alive connections the server requests go round robin over, each "
                        "count measured for every server (default 1). With K connections each "
                        "request wakes the thread (or connection record) served least recently, "
                        "so the simulated caches hold the working set of K parked "
                        "threads/connections: whether that fits the modelled LL is what the "
                        "counts then show. Knot-C's pool grows to K plus spare, as in "
                        "whyevents bench servers")
    p.add_argument("--requests-per-conn", type=_rpcs, default=[0], metavar="R[,R]",
                   help="requests before the client closes a connection and opens a new one, "
                        "as HttpLoad's clients do (the web sweep's 5); 0 keeps each connection "
                        "for the whole run (default 0); each value measured for every "
                        "connection count and server; the windows must be multiples of R x K")
    p.add_argument("--build", choices=("interpreted", "compiled"), default="interpreted",
                   help="which build the measured processes run (default interpreted)")
    p.add_argument("--json", metavar="PATH", type=Path, dest="json_path",
                   help="where to write the results (default: "
                        "data/results/bench-yardstick/<timestamp>/results.json)")


def main_from_args(args: argparse.Namespace, parser: argparse.ArgumentParser | None = None) -> int:
    """Run ``whyevents bench yardstick``; print the table; 0 if every row was measured."""
    cfg = {"tasks": args.tasks, "rounds": list(args.rounds), "backends": args.backends,
           "servers": args.servers, "requests": list(args.requests),
           "warmup_requests": args.warmup_requests, "server_conns": list(args.server_conns),
           "requests_per_conn": list(args.requests_per_conn),
           "build": args.build, "json_path": args.json_path}
    n1, n2 = cfg["requests"]
    for rpc in cfg["requests_per_conn"] if cfg["servers"] else ():
        for k in cfg["server_conns"]:
            why = window_error(n1, k, rpc) or window_error(n2, k, rpc)
            if why is not None:             # before valgrind starts, naming the options
                msg = f"--requests {n1},{n2}: with --requests-per-conn {rpc}: {why}"
                if parser is not None:
                    parser.error(msg)
                print(msg, file=sys.stderr)
                return 2
    if valgrind_version() is None or shutil.which("setarch") is None:
        print("whyevents bench yardstick needs valgrind and setarch "
              "(apt-get install -y valgrind util-linux)", file=sys.stderr)
        return 2
    result = run_benchmark(cfg, progress=lambda m: print(m, file=sys.stderr, flush=True))
    print(format_table(result))
    print(f"\nresults: {result['json_path']}")
    return 0 if all(r["status"] == "ok" for r in result["rows"]) else 1
