"""The one server registry (``whyevents.servers``) and the server-process protocol.

Every registered server starts (in this process and in a subprocess through
``servers.process.ServerProcess``), answers a GET with the file, reports its counters and stops;
``whyevents serve --help`` lists exactly the registry's names.
"""

from __future__ import annotations

import http.client
import subprocess
import sys

import pytest

from support.trees import Tree
from whyevents import servers
from whyevents.servers.process import ServerProcess, ServerStartError

BODY = b"registry test\n" * 100
DOCROOT = Tree({"index.html": BODY})      # the ``docroot`` fixture's


def _get(address) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(address[0], address[1], timeout=10)
    try:
        conn.request("GET", "/index.html")
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_registry_names_and_entries():
    assert servers.names() == ["knot-c", "knot-a", "seda", "eventloop", "knot-c-async",
                               "knot-a-async", "knot-c-gen", "knot-a-gen"]
    for name, s in servers.SERVERS.items():
        assert s.name == name and s.help and s.pollers
        # Knot on async def (and generator) threads has coro_io's epoll set only
        assert set(s.pollers) == ({"epoll"} if name.endswith(("-async", "-gen"))
                                  else {"epoll", "poll"})
    assert servers.SERVERS["seda"].pollers[0] == "poll"      # the paper's Haboob ran on poll()
    with pytest.raises(ValueError, match="knot-c"):
        servers.start("apache", "/")


@pytest.mark.parametrize("name", list(servers.SERVERS))
def test_every_server_starts_answers_and_stops_in_process(name, docroot):
    handle = servers.start(name, docroot, port=0)
    try:
        status, body = _get(handle.address)
        assert status == 200 and body == BODY
        assert "requests" in handle.stats()
    finally:
        final = handle.stop()
    assert final["requests"] >= 1


@pytest.mark.parametrize("name", list(servers.SERVERS))
def test_every_server_runs_in_a_server_process(name, docroot):
    spec = {"server": name, "root": docroot, "kwargs": {"poller": "epoll"}}
    with ServerProcess(spec) as proc:
        assert proc.info["ready"] and proc.info["pid"] == proc.pid
        status, body = _get(proc.address)
        assert status == 200 and body == BODY
        assert "requests" in proc.ask("stats")
        user, system = proc.cpu_times()
        assert user + system > 0
        final = proc.stop()
    assert final is not None and final["requests"] >= 1
    assert proc.proc.poll() is not None


def test_server_process_reports_start_errors(docroot):
    proc = ServerProcess({"server": "apache", "root": docroot})
    with pytest.raises(ServerStartError, match="apache"):
        proc.start()
    assert proc.proc.poll() is not None
    proc.close()


def test_serve_help_lists_the_registry():
    r = subprocess.run([sys.executable, "-m", "whyevents.repro.cli", "serve", "--help"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split()).replace("- ", "-")   # argparse wraps the help
    for name, s in servers.SERVERS.items():
        assert f"{name}: {s.help}" in text
