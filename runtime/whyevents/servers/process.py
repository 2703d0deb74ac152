"""One web server in a process of its own, driven over stdin/stdout: ``ServerProcess``.

Used by the web sweep (``experiments.web``: a fresh server per point) and by the wrk benchmark
(``benchmarks.servers``: a fresh server per cell). Why a process of its own:

* **Clean accounting.** Server CPU seconds and context switches come from ``getrusage`` (or
  ``/proc/<pid>/stat``) of the server's process; sharing a process with the caller's bookkeeping,
  or with a previous server, would mix other work into them. A fresh process starts every counter
  at zero and leaves no warmed caches, threads or descriptors behind.
* **Exact windows.** The parent asks for a snapshot (``stats`` -> one JSON line) at the start and
  at the end of its measured window, so the figures are deltas over exactly that window. The
  child's reader costs one wake-up per request line: noise against a loaded server's switches.
* **Pinned.** The process is pinned to ``cpu`` before the interpreter starts (``preexec_fn``), so
  every thread the server creates (green hub, SEDA stage pools, disk-read pools) inherits the
  core and the load generator gets the other one. Its soft descriptor limit is raised to the hard
  one.
* **No orphans.** The kernel kills the child when its parent dies (``PR_SET_PDEATHSIG``, set both
  before exec and again in the child, which exits if the parent is already gone); the child
  stops the server when stdin closes; it ignores SIGINT (Ctrl-C is the parent's to handle, and
  it runs in its own process group), so neither a crashed run nor a Ctrl-C leaves a server
  listening, and no server dies half-way through a window.

Protocol: ``python -m whyevents.servers.process SPEC``, SPEC being JSON with ``root`` and either
``server`` (a name in ``whyevents.servers.SERVERS``) with ``kwargs`` for its ``start``, or
``start`` (``"module:function"``, called as ``function(*args, **kwargs)``: the benchmark's peer
servers). The child prints ``{"ready": true, "host", "port", "pid", "threads", "fd_limit",
"affinity"}`` once listening (or ``{"ready": false, "error"}`` and exits 1), then answers each
stdin line: ``stats`` -> the server's ``stats()`` snapshot as one JSON line (with
``server_error`` if the server thread failed); ``stop`` (or end of input) -> stops the server,
prints the final snapshot (``stop_error`` if it would not stop cleanly) and exits 0 without
interpreter teardown (10,000 threads' objects need none).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any

from whyevents.harness import procs

__all__ = ["ServerProcess", "ServerStartError", "start_in_process", "main"]

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
STATS_TIMEOUT = 10.0


class ServerStartError(RuntimeError):
    """The server process did not report ready (its reason is the message)."""


# ---------------------------------------------------------------------------------------------
# The child
# ---------------------------------------------------------------------------------------------

def start_in_process(spec: dict[str, Any]):
    """Start the server ``spec`` describes in this process; returns its ``ServerHandle``."""
    kwargs = dict(spec.get("kwargs") or {})
    if spec.get("start"):
        import importlib

        module, _, func = spec["start"].partition(":")
        return getattr(importlib.import_module(module), func)(*spec.get("args", []), **kwargs)
    from whyevents import servers

    return servers.start(spec["server"], spec["root"], **kwargs)


def _say(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, default=str) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    """The child's entry point (see the module docstring for the protocol)."""
    argv = sys.argv[1:] if argv is None else argv
    procs.die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    procs.raise_fd_limit()
    try:
        spec = json.loads(argv[0])
        procs.pin(spec.get("cpu"))
        handle = start_in_process(spec)
    except Exception as e:  # noqa: BLE001 - reported to the parent as one line
        _say({"ready": False, "error": f"{type(e).__name__}: {e}".splitlines()[0]})
        return 1
    host, port = handle.address[:2]
    _say({"ready": True, "host": host, "port": port, "pid": os.getpid(),
          "threads": getattr(getattr(handle, "knot", None), "threads", None),
          "fd_limit": list(procs.fd_limit()), "affinity": sorted(os.sched_getaffinity(0)),
          "build": _build_used()})
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "stats":
            snap = handle.stats()
            if getattr(handle, "error", None) is not None:
                snap["server_error"] = repr(handle.error)
            _say(snap)
        elif cmd == "stop":
            break
        elif cmd:
            _say({"error": f"unknown command {cmd!r}"})
    try:
        final = handle.stop(STOP_TIMEOUT)
    except Exception as e:  # noqa: BLE001 - the parent only needs the counters
        final = dict(handle.stats(), stop_error=repr(e))
    _say(final)
    os._exit(0)


# ---------------------------------------------------------------------------------------------
# The parent
# ---------------------------------------------------------------------------------------------

def _build_used() -> str:
    """What this child runs: ``compiled``, ``interpreted`` or ``mixed`` (``whyevents.accel``)."""
    from whyevents.accel import build_info
    return build_info()["build"]


class ServerProcess:
    """The parent's side: ``start()`` -> the ready line; ``ask``/``stats`` snapshots;
    ``cpu_times()``; ``stop()`` -> the final snapshot; ``kill()``. A context manager that always
    kills what it started.

    ``spec`` is the child's SPEC (see the module docstring); ``cpu`` pins the process.
    """

    def __init__(self, spec: dict[str, Any], cpu: int | None = None,
                 start_timeout: float = START_TIMEOUT, env: dict | None = None) -> None:
        self.spec = dict(spec)
        self.cpu = cpu
        self.env = env                  # the child's environment (None: this one's)
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self.address: tuple | None = None
        self.info: dict = {}
        self._buf = b""
        self._eof = False
        self._err = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def start(self) -> dict:
        """Launch the child and wait for its ready line; returns it. Raises
        ``ServerStartError`` (and kills the child) if it does not get ready in time."""
        self._err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "whyevents.servers.process", json.dumps(self.spec)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err,
            preexec_fn=procs.child_preexec(self.cpu, raise_fds=True), process_group=0,
            env=self.env)
        try:
            info = self.reply(self.start_timeout)
        except (RuntimeError, TimeoutError, ValueError) as e:
            self.kill()
            raise ServerStartError(str(e)) from None
        if not info.get("ready"):
            self.kill()
            raise ServerStartError(str(info.get("error")))
        self.info = info
        self.address = (info["host"], info["port"])
        return info

    def _readline(self, timeout: float) -> str | None:
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                self._eof = True
                return None
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode()

    def reply(self, timeout: float = STATS_TIMEOUT) -> dict:
        """The child's next JSON line: ``TimeoutError`` if none comes in ``timeout`` seconds,
        ``RuntimeError`` (saying why, from its stderr) if the child has ended."""
        line = self._readline(timeout)
        if line is None:
            if self._eof:
                raise RuntimeError(self.died())
            raise TimeoutError(f"no answer from the server within {timeout:g} s")
        return json.loads(line)

    def ask(self, command: str, timeout: float = STATS_TIMEOUT) -> dict:
        """Send ``command`` and return the answer (raises as ``reply``)."""
        try:
            self.proc.stdin.write(command.encode() + b"\n")
            self.proc.stdin.flush()
        except OSError:
            raise RuntimeError(self.died()) from None
        return self.reply(timeout)

    def stats(self, timeout: float = STATS_TIMEOUT) -> dict | None:
        """The server's counters, or None if it does not answer."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        try:
            return self.ask("stats", timeout)
        except (RuntimeError, TimeoutError, ValueError):
            return None

    def cpu_times(self) -> tuple[float, float]:
        """(user, system) CPU seconds the server process has used so far (all threads)."""
        return procs.proc_cpu_times(self.proc.pid)

    def stderr_tail(self, limit: int = 1500) -> str:
        """The end of what the child wrote on stderr."""
        if self._err is None or self._err.closed:
            return ""
        with contextlib.suppress(OSError, ValueError):
            self._err.seek(0)
            return self._err.read()[-limit:].decode(errors="replace").strip()
        return ""

    def died(self) -> str:
        """Why the child ended: its exit status and the last line of its stderr."""
        try:
            code = self.proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            code = None
        tail = [ln for ln in self.stderr_tail().splitlines() if ln.strip()]
        last = tail[-1][:300] if tail else "no message"
        return f"server process ended (exit {code}): {last}"

    def stop(self, timeout: float = STOP_TIMEOUT + 5) -> dict | None:
        """Stop the server cleanly (its final counters, or None) and reap the process."""
        if self.proc is None:
            return None
        final = None
        try:
            if self.proc.poll() is None:
                final = self.ask("stop", timeout)
                self.proc.wait(timeout=5.0)
        except (OSError, RuntimeError, TimeoutError, ValueError, subprocess.TimeoutExpired):
            final = None
        finally:
            self.kill()
        return final

    def kill(self) -> None:
        """Kill and reap the process, close its pipes (idempotent)."""
        if self.proc is not None:
            procs.reap(self.proc)

    def close(self) -> None:
        """``kill`` and drop the stderr file."""
        self.kill()
        if self._err is not None:
            self._err.close()

    def __enter__(self) -> ServerProcess:
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()


if __name__ == "__main__":
    sys.exit(main())
