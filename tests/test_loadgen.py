"""whyevents.loadgen: exact counts against a server whose answers are known, errors by kind,
the loopback and fd-limit guards, and wrk's report parser. Traffic goes to 127.0.0.1 only."""

from __future__ import annotations

import os
import resource
import shutil
import socket
import socketserver
import threading
import time
from collections import Counter

import pytest

from whyevents.http.fileset import RequestMix
from whyevents.loadgen import (
    SATURATED_WARNING,
    LoadResult,
    jain_fairness,
    parse_wrk_output,
    run_load,
    run_load_processes,
    run_wrk,
    wrk_command,
)

BODY = b"x" * 1000
OK = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: text/plain\r\n\r\n" % len(BODY) + BODY
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found"


class _Handler(socketserver.BaseRequestHandler):
    """Keep-alive HTTP by hand: /missing -> 404, /drop -> close unanswered, else OK."""

    def handle(self) -> None:
        log = self.server.log
        buf = b""
        while True:
            while b"\r\n\r\n" not in buf:
                try:
                    data = self.request.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                buf += data
            head, buf = buf.split(b"\r\n\r\n", 1)
            path = head.split(b" ", 2)[1].decode()
            with self.server.lock:
                log.append((path, self.client_address[0]))
            if path == "/drop":
                return
            self.request.sendall(NOT_FOUND if path == "/missing" else OK)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


@pytest.fixture
def server():
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.log = []
    srv.lock = threading.Lock()
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _load(srv, clients, limit, **kw):
    kw.setdefault("think_time", 0)
    return run_load("127.0.0.1", srv.server_address[1], clients=clients, duration=20,
                    max_requests_per_client=limit, **kw)


def test_exact_counts_bytes_and_fairness(server):
    r = _load(server, clients=8, limit=7, requests_per_conn=5)
    assert r.completed == 8 * 7
    assert r.per_client == [7] * 8
    assert r.bytes == 8 * 7 * len(OK)
    assert r.fairness == 1.0
    assert r.errors == {}
    assert r.connections == 8 * 2                 # 5 + 2 requests: two connections each
    assert len(server.log) == 8 * 7
    assert r.duration_s < 20                       # ended when every client had stopped
    p = r.response_ms
    assert 0 < p["p50"] <= p["p90"] <= p["p99"] <= p["max"]


def test_unequal_service_fairness_exact(server):
    limits = [1, 2, 3, 4, 10]
    r = _load(server, clients=5, limit=limits)
    assert r.per_client == limits
    assert r.fairness == pytest.approx(20 ** 2 / (5 * (1 + 4 + 9 + 16 + 100)), rel=1e-12)
    assert r.fairness < 1


def test_jain_fairness_bounds():
    assert jain_fairness([3, 3, 3]) == 1.0
    assert jain_fairness([5, 0, 0, 0]) == pytest.approx(0.25)


def test_paths_per_client_and_source_addresses(server):
    r = _load(server, clients=8, limit=3, paths_per_client=[f"/c{i}" for i in range(8)],
              source_addresses=4)
    assert r.completed == 24
    assert Counter(p for p, _ in server.log) == {f"/c{i}": 3 for i in range(8)}
    assert {ip for _, ip in server.log} == {"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"}


def test_request_mix_is_seeded(server):
    mix = RequestMix(directories=3)
    _load(server, clients=4, limit=20, paths=mix, seed=7)
    first = sorted(p for p, _ in server.log)
    server.log.clear()
    _load(server, clients=4, limit=20, paths=mix, seed=7)
    assert sorted(p for p, _ in server.log) == first
    assert all(mix.probability(p) > 0 for p in first)
    assert len(set(first)) > 1
    server.log.clear()
    _load(server, clients=4, limit=20, paths=mix, seed=8)
    assert sorted(p for p, _ in server.log) != first


def test_bad_status_counted_by_code(server):
    r = _load(server, clients=3, limit=4, paths="/missing")
    assert r.completed == 0
    assert r.errors == {"bad_status:404": 12}
    assert r.bytes == 0


def test_server_closing_connection_counted(server):
    r = _load(server, clients=3, limit=2, paths=["/drop"])
    assert r.completed == 0
    assert r.errors == {"closed": 6}
    assert r.connections == 6                      # each failure reconnects


def test_connect_refused():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()                                      # nothing listens on this port now
    r = run_load("127.0.0.1", port, clients=2, duration=20, think_time=0,
                 max_requests_per_client=3)
    assert r.errors == {"connect_refused": 6}
    assert r.connection_failures == 6
    assert r.completed == 0 and r.connections == 0


def test_warmup_excludes_early_completions(server):
    r = _load(server, clients=2, limit=3, warmup=10)   # finishes long before the window opens
    assert len(server.log) == 6
    assert r.completed == 0 and r.bytes == 0


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_run_ends_thinking_clients_and_closes_their_sockets(server):
    before = _open_fds()
    r = run_load("127.0.0.1", server.server_address[1], clients=4, duration=0.5,
                 think_time=30)                  # one request each, then a long think
    assert r.completed == 4
    assert r.duration_s < 5
    deadline = time.monotonic() + 5             # the server threads see EOF and close theirs
    while _open_fds() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _open_fds() <= before


@pytest.mark.parametrize("host", ["192.0.2.1", "10.0.0.1"])
def test_non_loopback_refused(host):
    with pytest.raises(ValueError, match="loopback"):
        run_load(host, 80, clients=1, duration=1)
    with pytest.raises(ValueError, match="loopback"):
        run_wrk(f"http://{host}:80/", connections=1, duration=1)


def test_fd_limit_refused_naming_clients():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    too_many = max(soft, 0 if hard == resource.RLIM_INFINITY else hard) + 1
    if hard == resource.RLIM_INFINITY:
        pytest.skip("no fd limit")
    with pytest.raises(ValueError, match=rf"clients={too_many}.*RLIMIT_NOFILE is \d+"):
        run_load("127.0.0.1", 1, clients=too_many, duration=1)


def test_as_row_is_flat_and_saturation_flag(server):
    r = _load(server, clients=2, limit=2)
    row = r.as_row()
    assert all(isinstance(v, int | float | str | bool) for v in row.values())
    assert row["completed"] == 4 and row["clients"] == 2
    busy = LoadResult(clients=1, duration_s=2.0, completed=10, bytes=0, response_ms={},
                      errors={}, connection_failures=0, connections=1, per_client=[10],
                      fairness=1.0, client_cpu_s=1.95, client_cpu_user_s=1.0,
                      client_cpu_system_s=0.95)
    assert busy.client_saturated
    assert not r.client_saturated or SATURATED_WARNING in r.warnings


def test_processes_merge_all_clients(server):
    limits = [1, 2, 3, 4, 5, 6]
    r = run_load_processes("127.0.0.1", server.server_address[1], clients=6, duration=20,
                           processes=2, think_time=0, max_requests_per_client=limits)
    assert r.per_client == limits
    assert r.completed == 21 and r.bytes == 21 * len(OK)
    assert r.fairness == pytest.approx(21 ** 2 / (6 * 91), rel=1e-12)
    assert r.processes == 2


WRK_SAMPLE = """\
Running 1s test @ http://127.0.0.1:37499/f8k
  1 threads and 10 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   245.98us  256.84us   2.58ms   85.53%
    Req/Sec    49.21k    15.09k   70.99k    63.64%
  Latency Distribution
     50%  158.00us
     75%  229.00us
     90%  667.00us
     99%    1.15ms
  53757 requests in 1.10s, 431.77MB read
  Socket errors: connect 3, read 1, write 0, timeout 17
  Non-2xx or 3xx responses: 12
Requests/sec:  48864.71
Transfer/sec:    392.47MB
"""


def test_parse_wrk_output():
    out = parse_wrk_output(WRK_SAMPLE)
    assert out["requests"] == 53757
    assert out["duration_s"] == pytest.approx(1.10)
    assert out["bytes_read"] == pytest.approx(431.77 * 2 ** 20)
    assert out["requests_per_s"] == pytest.approx(48864.71)
    assert out["transfer_bytes_per_s"] == pytest.approx(392.47 * 2 ** 20)
    assert out["latency_ms"]["p50"] == pytest.approx(0.158)
    assert out["latency_ms"]["p99"] == pytest.approx(1.15)
    assert out["latency_ms"]["max"] == pytest.approx(2.58)
    assert out["thread_req_per_s"]["mean"] == pytest.approx(49210)
    assert out["socket_errors"] == {"connect": 3, "read": 1, "write": 0, "timeout": 17}
    assert out["non_2xx_3xx"] == 12
    assert (out["threads"], out["connections"]) == (1, 10)
    with pytest.raises(ValueError):
        parse_wrk_output("wrk: command failed\n")


def test_wrk_command_pins():
    cmd = wrk_command("http://127.0.0.1:1/", 100, 2, threads=2, cpu=1)
    assert cmd[:3] == ["taskset", "-c", "1"]
    assert "-c100" in cmd and "-t2" in cmd and "--latency" in cmd


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk not installed")
def test_wrk_live_against_eventloop(tmp_path):
    from whyevents import eventloop

    (tmp_path / "f").write_bytes(b"y" * 4096)
    with eventloop.start(str(tmp_path)) as srv:
        out = run_wrk(srv.url + "f", connections=4, duration=1)
    assert out["requests"] > 0
    assert out["bytes_read"] >= out["requests"] * 4096 * 0.99
    assert out["socket_errors"]["connect"] == 0
    assert out["non_2xx_3xx"] == 0
