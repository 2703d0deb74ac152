"""nginx as the C reference point of ``whyevents bench servers``: one worker, a generated config.

Why this shape: nginx is the event-driven server the paper's argument is usually tested against,
and the ceiling a Python server is measured from. It runs the way the other servers do, one
process on one core: ``master_process off`` (so the process started is the one that serves, and
its /proc CPU accounting is the server's), ``worker_processes 1``, ``daemon off``, bound to
127.0.0.1, with a config generated in a temporary directory that also holds its pid file, error
log and temp paths (nothing under /etc, /var or /run is read or written). The config is the
common tuned one (sendfile, tcp_nodelay, an open-file cache, no access log) plus
``keepalive_requests`` large enough that nginx never closes a wrk connection mid-run (its
default, 1,000 requests, would make it reconnect every few milliseconds), and
a ``stub_status`` location (when the build has it) so the benchmark can count requests
server-side as it does for the other servers, and ``worker_connections`` sized so that the
connection count stays under the 15/16 of it beyond which nginx starts closing idle keep-alive
connections.

nginx is optional: ``nginx_binary()`` looks on PATH only (CI installs the apt package; a PATH
without it is how the tests simulate its absence) and the benchmark reports "unavailable".
``NginxProcess`` starts it (pinned, dying with the parent) and counts its requests through
stub_status. Only the standard library is used.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import time

from whyevents.harness import procs

from .servers_http import CheckFailed, read_responses

__all__ = ["nginx_binary", "nginx_has_stub_status", "nginx_config", "nginx_command",
           "free_port", "CONTENT_TYPES"]

#: What nginx types the benchmark's file as (Knot's table says the same for .html).
CONTENT_TYPES = {"html": "text/html", "bin": "application/octet-stream"}


def nginx_binary() -> str | None:
    """The nginx executable on PATH, or None."""
    return shutil.which("nginx")


def nginx_has_stub_status(binary: str) -> bool:
    """Whether this nginx was built with the stub_status module (request counter)."""
    try:
        r = subprocess.run([binary, "-V"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return "stub_status" in r.stdout + r.stderr


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (nginx needs a number in its config; the caller
    retries if another process takes it first)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def nginx_config(tmpdir: str, root: str, port: int, connections: int, backlog: int = 4096,
                 host: str = "127.0.0.1", status_path: str | None = None) -> str:
    """The text of nginx.conf for one measurement: one worker, ``connections`` clients;
    ``status_path``, if given, serves stub_status (the request counter) there."""
    if not os.path.isdir(root):
        raise ValueError(f"root={root!r}: not an existing directory")
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"port={port!r}: must be an integer 1..65535")
    if not isinstance(connections, int) or connections < 1:
        raise ValueError(f"connections={connections!r}: must be a positive integer")
    t = os.path.abspath(tmpdir)
    # nginx starts closing idle keep-alive connections ("worker_connections are not enough,
    # reusing connections") once fewer than 1/16 of its connection slots are free: an eighth
    # more than the clients, plus the listener and spare.
    worker_connections = connections + connections // 8 + 64
    status = (f"\n        location = {status_path} {{ stub_status; }}" if status_path else "")
    types = "\n".join(f"        {v} {k};" for k, v in CONTENT_TYPES.items())
    return f"""\
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile {worker_connections + 64};
pid {t}/nginx.pid;
error_log {t}/error.log warn;

events {{
    worker_connections {worker_connections};
    use epoll;
}}

http {{
    access_log off;
    types {{
{types}
    }}
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65s;
    keepalive_requests 1000000000;
    open_file_cache max=64 inactive=60s;
    client_body_temp_path {t}/client_body;
    proxy_temp_path {t}/proxy;
    fastcgi_temp_path {t}/fastcgi;
    uwsgi_temp_path {t}/uwsgi;
    scgi_temp_path {t}/scgi;

    server {{
        listen {host}:{port} backlog={backlog};
        server_name localhost;
        root {os.path.abspath(root)};
        location / {{ }}{status}
    }}
}}
"""


def nginx_command(binary: str, tmpdir: str, conf_path: str) -> list[str]:
    """argv for nginx with its prefix and startup error log in ``tmpdir``."""
    t = os.path.abspath(tmpdir)
    return [binary, "-p", t + "/", "-e", f"{t}/error.log", "-c", os.path.abspath(conf_path)]


class NginxUnavailable(Exception):
    """nginx is not on PATH."""


class NginxProcess:
    """nginx serving ``root`` from a config generated in ``workdir``: ``start()``, ``.info``,
    ``.pid``, ``cpu_times()``, ``stats()`` (always None), ``request_count()``, ``stop()``."""

    def __init__(self, root: str, connections: int, workdir: str, cpu: int | None = None,
                 start_timeout: float = 60.0) -> None:
        self.root, self.connections, self.workdir = root, connections, workdir
        self.cpu, self.start_timeout = cpu, start_timeout
        self.proc: subprocess.Popen | None = None
        self.address: tuple | None = None
        self.info: dict = {}
        self._stderr_path = os.path.join(workdir, "nginx.stderr")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _popen(self, cmd: list[str]) -> None:
        with open(self._stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                preexec_fn=procs.child_preexec(self.cpu, raise_fds=True))

    def stderr_tail(self) -> str:
        try:
            with open(self._stderr_path, "rb") as f:
                return f.read()[-1500:].decode(errors="replace").strip()
        except OSError:
            return ""

    def start(self) -> NginxProcess:
        from whyevents.server_common import somaxconn

        binary = nginx_binary()
        if binary is None:
            raise NginxUnavailable("nginx is not on PATH (apt-get install nginx-light)")
        status_path = "/__nginx_status" if nginx_has_stub_status(binary) else None
        problem = ""
        for _attempt in range(3):                # the free port may be taken before nginx binds
            port = free_port()
            conf = os.path.join(self.workdir, "nginx.conf")
            with open(conf, "w") as f:
                f.write(nginx_config(self.workdir, self.root, port, self.connections,
                                     backlog=somaxconn(), status_path=status_path))
            self._popen(nginx_command(binary, self.workdir, conf))
            deadline = time.monotonic() + self.start_timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                except OSError:
                    time.sleep(0.02)
                    continue
                self.address = ("127.0.0.1", port)
                self.info = {"port": port, "pid": self.proc.pid, "config": conf,
                             "binary": binary, "status_path": status_path}
                return self
            problem = self.stderr_tail()
            with contextlib.suppress(OSError):
                with open(os.path.join(self.workdir, "error.log")) as f:
                    problem += f.read()[-1000:]
            self.close()
        raise RuntimeError(f"nginx did not start: {problem.strip()}")

    def cpu_times(self) -> tuple[float, float]:
        return procs.proc_cpu_times(self.proc.pid)

    def stats(self, timeout: float = 10.0) -> None:
        return None

    def request_count(self) -> int | None:
        """Requests answered so far by stub_status (which counts itself too), or None."""
        path = self.info.get("status_path")
        if not path:
            return None
        try:
            with socket.create_connection(self.address, timeout=5) as sock:
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                (status, _h, text), = read_responses(sock, 1, 5)
        except (OSError, CheckFailed, ValueError):
            return None
        m = re.search(rb"\n\s*(\d+)\s+(\d+)\s+(\d+)\s*\n", text)
        return int(m.group(3)) if status == 200 and m else None

    def stop(self) -> None:
        self.close()
        return None

    def close(self) -> None:
        """Kill and reap nginx (idempotent)."""
        if self.proc is not None:
            procs.reap(self.proc)
