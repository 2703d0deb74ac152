"""The command line: ``whyevents serve`` starts, serves, stops on SIGTERM and prints its counters;
``whyevents fileset`` builds a file set; bad parameters are named."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.request

import pytest

WHYEVENTS = [sys.executable, "-m", "whyevents.repro.cli"]


def _cli(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*WHYEVENTS, *args], capture_output=True, text=True, timeout=60, **kw)


def test_help_lists_commands():
    out = _cli("--help")
    assert out.returncode == 0
    for word in ("bench", "serve", "fileset", "knot-c", "eventloop"):
        assert word in out.stdout


def test_fileset_builds_and_names_bad_parameters(tmp_path):
    out = _cli("fileset", "--root", str(tmp_path / "www"), "--clients", "4", "--scale", "0.01")
    assert out.returncode == 0, out.stderr
    assert "36 files" in out.stdout
    assert len(list((tmp_path / "www").rglob("*"))) >= 36
    bad = _cli("fileset", "--root", str(tmp_path), "--clients", "-3")
    assert bad.returncode != 0 and "--clients" in bad.stderr


@pytest.mark.parametrize("server", ["knot-c", "knot-a", "seda", "eventloop"])
def test_serve_serves_then_stops_on_sigterm(tmp_path, server):
    (tmp_path / "index.html").write_bytes(b"hello\n")
    p = subprocess.Popen([*WHYEVENTS, "serve", server, "--root", str(tmp_path), "--port", "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert m, f"no address in {line!r} / {p.stderr.read() if p.poll() is not None else ''}"
        url = f"http://127.0.0.1:{m.group(1)}/index.html"
        with urllib.request.urlopen(url, timeout=10) as r:
            assert r.status == 200 and r.read() == b"hello\n"
        p.send_signal(signal.SIGTERM)
        rest, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    counters = json.loads(rest)
    assert counters["requests"] == 1
    assert counters["connections_open"] == 0


def test_serve_names_a_bad_parameter(tmp_path):
    out = _cli("serve", "eventloop", "--root", str(tmp_path / "missing"), "--port", "0")
    assert out.returncode == 2 and "root" in out.stderr
    out = _cli("serve", "eventloop", "--root", str(tmp_path), "--threads", "4", "--port", "0")
    assert out.returncode == 2 and "threads" in out.stderr


