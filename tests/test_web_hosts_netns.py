"""The web sweep with its clients on other hosts (issue 23), built on one machine.

Three network namespaces stand for three machines, joined by a bridge on the project's own
test addresses, 10.213.7.0/24 (a private /24 nothing else here uses; the test skips if any
interface already holds it): 10.213.7.1 is the bridge in this (the root) namespace, where the
Dask scheduler listens and this test runs the sweep; 10.213.7.2 is the server's namespace;
10.213.7.3 and 10.213.7.4 are two client namespaces. One Dask worker per namespace
(``--nthreads 1 --resources machine=1``, as on a real cluster), entered with ``nsenter
--net=/run/netns/NS`` rather than ``ip netns exec``: the latter also remounts /sys, which hides
the cgroup file system and so the server's CPU cap; nsenter changes the network namespace only,
so the server runs under the same cap as in the one-host run. All traffic is between the
namespaces and the bridge this test creates; every name carries this run's tag, and the
namespaces, the bridge and the processes are removed in the fixture's teardown, failure or not.
A run killed before its teardown (``make test`` stopped with SIGKILL) would leave them, and the
next run would skip on "already in use": so the bridge carries its owner (``ip link ... alias``:
the creating process's pid and start time), and on import this module first removes the
namespaces, veths and bridge of any owner that is no longer running (``_sweep_stale``).

What is compared, and why: a short sweep (one server, two client counts, a window of seconds)
runs once on this machine's loopback and once with the server in its namespace and the load
split over the two client namespaces. Requests completed in the window must agree within 10%:
at these client counts the server is not the limit (each closed-loop client waits 20 ms after
every response), so completions are set by clients / (think time + response time), the same on
both arrangements; bandwidth is printed beside them but not asserted, because each host walks
the request trace from its own seed and the SPECweb99 mix's large files make a few seconds'
bytes vary more than its requests. Errors must be 0 in both. Skipped, with the reason, where
namespaces cannot be made (not root, no ``ip``/``nsenter``, no wrk, no dask.distributed).
"""

from __future__ import annotations

import importlib.util
import os
import re
import secrets
import select
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

SUBNET = "10.213.7"          # the project's test addresses: 10.213.7.0/24
BRIDGE_IP = f"{SUBNET}.1"
SERVER_IP = f"{SUBNET}.2"
CLIENT_IPS = (f"{SUBNET}.3", f"{SUBNET}.4")
RUNTIME = str(Path(__file__).resolve().parent.parent / "runtime")
STEP_TIMEOUT = 30.0          # seconds for any one ip / nsenter / process start-up step
#: one server, two client counts the server is not the limit at, windows of seconds
PARAMS = {"servers": "knot-c/epoll", "clients": "4,16", "reps": "1", "warmup": "1.5",
          "duration": "3.0"}


#: a bridge's alias naming the test process that made it: "whyevents-test <pid> <start time>"
OWNER = "whyevents-test"


def _started(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (/proc/PID/stat field 22),
    so a pid reused by another process is not taken for the owner; None if it is not running."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _owner_mark(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    return f"{OWNER} {pid} {_started(pid)}"


def _sweep_stale() -> list[str]:
    """Remove what a killed run of this test left: for each ``wybr<tag>`` bridge whose alias
    names an owner that is not running any more, the ``whyev-<tag>-*`` namespaces (their veth
    ends go with them), the ``wy<tag>*`` veths and the bridge. Returns what it removed."""
    links = subprocess.run(["ip", "-o", "link", "show", "type", "bridge"], capture_output=True,
                           text=True, timeout=STEP_TIMEOUT).stdout
    spaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                            timeout=STEP_TIMEOUT).stdout.split()
    removed = []
    for m in re.finditer(rf"^\d+: wybr(\w+)[:@].*?alias {OWNER} (\d+) (\S+)", links, re.M):
        tag, pid, started = m.group(1), int(m.group(2)), m.group(3)
        if _started(pid) == started:
            continue                                      # its owner still runs: not stale
        for ns in spaces:
            if ns.startswith(f"whyev-{tag}-"):
                subprocess.run(["ip", "netns", "del", ns], capture_output=True,
                               timeout=STEP_TIMEOUT)
                removed.append(ns)
        for short in ("srv", "c1", "c2"):
            subprocess.run(["ip", "link", "del", f"wy{tag}{short}"], capture_output=True,
                           timeout=STEP_TIMEOUT)
        subprocess.run(["ip", "link", "del", f"wybr{tag}"], capture_output=True,
                       timeout=STEP_TIMEOUT)
        removed.append(f"wybr{tag}")
    return removed


def _why_not() -> str | None:
    if importlib.util.find_spec("distributed") is None:
        return "dask.distributed not installed: pip install -e '.[cluster]'"
    if shutil.which("wrk") is None:
        return "wrk is not installed (apt-get install -y wrk)"
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "nsenter"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (iproute2 / util-linux)"
    _sweep_stale()
    shown = subprocess.run(["ip", "-4", "addr", "show"], capture_output=True, text=True,
                           timeout=STEP_TIMEOUT)
    if f" {SUBNET}." in shown.stdout:
        return f"{SUBNET}.0/24 is already in use on this machine"
    probe = f"whyev-probe-{secrets.token_hex(3)}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True,
                          timeout=STEP_TIMEOUT)
    if made.returncode != 0:
        return f"cannot create a network namespace: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], timeout=STEP_TIMEOUT)
    return None


_REASON = _why_not() if sys.platform == "linux" else "network namespaces are Linux only"
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600),
              pytest.mark.skipif(_REASON is not None, reason=_REASON or "")]


def _ip(*args: str, ns: str | None = None) -> None:
    cmd = ["ip", *args] if ns is None else ["ip", "-n", ns, *args]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=STEP_TIMEOUT)


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [
        RUNTIME, os.environ.get("PYTHONPATH")])), WHYEVENTS_PURE_PYTHON="1")


def _read_address(proc: subprocess.Popen, pattern: str, what: str) -> str:
    """The first match of ``pattern`` in ``proc``'s stderr within STEP_TIMEOUT."""
    deadline = time.monotonic() + STEP_TIMEOUT
    fd = proc.stderr.fileno()
    buf = b""
    while time.monotonic() < deadline and proc.poll() is None:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            buf += os.read(fd, 65536)
            m = re.search(pattern, buf.decode(errors="replace"))
            if m:
                return m.group(1)
    raise RuntimeError(f"{what} did not start within {STEP_TIMEOUT:g} s: "
                       f"{buf.decode(errors='replace')[-2000:]}")


def _drain(pipe) -> None:
    while pipe.read(65536):
        pass


@pytest.fixture
def hosts():
    """Three namespaces on a bridge, a scheduler on the bridge, a worker in each namespace."""
    tag = secrets.token_hex(3)
    bridge = f"wybr{tag}"
    spaces = {"srv": (f"whyev-{tag}-srv", SERVER_IP), "c1": (f"whyev-{tag}-c1", CLIENT_IPS[0]),
              "c2": (f"whyev-{tag}-c2", CLIENT_IPS[1])}
    procs: list[subprocess.Popen] = []
    drain = None
    made_ns: list[str] = []
    made_links: list[str] = []
    try:
        _ip("link", "add", bridge, "type", "bridge")
        made_links.append(bridge)
        _ip("link", "set", "dev", bridge, "alias", _owner_mark())
        _ip("addr", "add", f"{BRIDGE_IP}/24", "dev", bridge)
        _ip("link", "set", bridge, "up")
        for short, (ns, addr) in spaces.items():
            _ip("netns", "add", ns)
            made_ns.append(ns)
            outer, inner = f"wy{tag}{short}", f"wi{tag}{short}"
            _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
            made_links.append(outer)
            _ip("link", "set", inner, "netns", ns)
            _ip("link", "set", outer, "master", bridge)
            _ip("link", "set", outer, "up")
            _ip("addr", "add", f"{addr}/24", "dev", inner, ns=ns)
            _ip("link", "set", inner, "up", ns=ns)
            _ip("link", "set", "lo", "up", ns=ns)
        sched = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", BRIDGE_IP,
             "--port", "0", "--no-dashboard", "--idle-timeout", "600"],
            env=_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)
        procs.append(sched)
        address = _read_address(sched, r"Scheduler at:\s+(tcp://\S+)", "the scheduler")
        drain = threading.Thread(target=_drain, args=(sched.stderr,), daemon=True)
        drain.start()                                     # its log must not fill the pipe
        for short, (ns, addr) in spaces.items():
            procs.append(subprocess.Popen(
                ["nsenter", f"--net=/run/netns/{ns}", sys.executable, "-m",
                 "distributed.cli.dask_worker", address, "--nthreads", "1", "--resources",
                 "machine=1", "--no-nanny", "--host", addr, "--name", short, "--no-dashboard",
                 "--death-timeout", "60"],
                env=_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL))
        from distributed import Client

        with Client(address, timeout=STEP_TIMEOUT) as client:
            client.wait_for_workers(3, timeout=STEP_TIMEOUT * 2)
        yield {"scheduler": address, "server_host": SERVER_IP,
               "client_hosts": ",".join(CLIENT_IPS), "namespaces": [ns for ns, _ in
                                                                    spaces.values()]}
    finally:
        for p in reversed(procs):             # the workers first, then the scheduler
            if p.poll() is None:
                p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=15.0)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=15.0)
        if drain is not None:
            drain.join(timeout=STEP_TIMEOUT)
        for p in procs:
            if p.stderr is not None:
                p.stderr.close()
        for ns in made_ns:                    # removes the veth ends inside (and their peers)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=STEP_TIMEOUT)
        for link in made_links:
            subprocess.run(["ip", "link", "del", link], capture_output=True,
                           timeout=STEP_TIMEOUT)


def _rows(run) -> dict:
    return {(r["server"], r["clients"]): r for r in run.rows()}


def test_clients_on_two_namespaces_reproduce_the_one_host_rows(hosts, tmp_path, capsys):
    from whyevents.repro.runner import run_experiment

    t0 = time.monotonic()
    local = run_experiment("web", "quick", dict(PARAMS), progress=False, root=tmp_path / "one")
    t1 = time.monotonic()
    split = run_experiment("web", "quick", dict(PARAMS, server_host=hosts["server_host"],
                                                client_hosts=hosts["client_hosts"]),
                           progress=False, root=tmp_path / "split", cluster=hosts["scheduler"])
    t2 = time.monotonic()
    one, two = _rows(local), _rows(split)
    assert set(one) == set(two) == {("knot-c", 4), ("knot-c", 16)}
    with capsys.disabled():
        print(f"\none host {t1 - t0:.1f} s, two client namespaces {t2 - t1:.1f} s")
        print(f"{'clients':>7} {'req (1 host)':>12} {'req (2 ns)':>10} {'Mbit/s (1)':>10} "
              f"{'Mbit/s (2)':>10} {'p50 ms (1)':>10} {'p50 ms (2)':>10} {'server util':>11}")
        for key in sorted(one):
            a, b = one[key], two[key]
            print(f"{key[1]:>7} {a['requests']:>12} {b['requests']:>10} {a['mbit_s']:>10.2f} "
                  f"{b['mbit_s']:>10.2f} {a['latency_p50_ms']:>10.2f} "
                  f"{b['latency_p50_ms']:>10.2f} "
                  f"{a['server_util_of_allotment']:>5.2f}/{b['server_util_of_allotment']:.2f}")
    for key in sorted(one):
        a, b = one[key], two[key]
        assert a["status"] == b["status"] == "ok", (a.get("error"), b.get("error"))
        assert a["errors"] == b["errors"] == 0, (a["error_kinds"], b["error_kinds"])
        assert abs(b["requests"] - a["requests"]) <= 0.10 * a["requests"], (key, a, b)
        assert b["server_host"] == SERVER_IP and b["server_address"] == SERVER_IP
        assert sorted(b["load_hosts"]) == sorted(CLIENT_IPS[:key[1]])
        assert set(b["client_cpu_util_by_host"]) == set(CLIENT_IPS)
        assert sum(h["clients"] for h in b["load_by_host"].values()) == key[1]
        assert b["client_cores"] == 2 and b["server_cap"] == a["server_cap"]
    placement = split.provenance["cluster"]["placement"]
    assert placement["server"]["host"] == SERVER_IP
    assert [c["host"] for c in placement["clients"]] == list(CLIENT_IPS)
    assert set(CLIENT_IPS) <= set(split.provenance["cluster"]["hosts"])
    assert split.provenance["status"] == "complete"


def test_a_client_host_without_a_worker_is_refused_before_the_run(hosts, tmp_path):
    from whyevents.repro import store
    from whyevents.repro.runner import run_experiment

    with pytest.raises(ValueError, match=r"^client_hosts: no worker .*10\.213\.7\.9"):
        run_experiment("web", "quick", dict(PARAMS, server_host=hosts["server_host"],
                                            client_hosts=f"{CLIENT_IPS[0]},{SUBNET}.9"),
                       progress=False, root=tmp_path, cluster=hosts["scheduler"])
    assert not store.list_runs("web", root=tmp_path)


def test_a_killed_runs_namespaces_are_swept_and_a_live_ones_kept():
    """What a run killed before teardown leaves (a marked bridge, a namespace of its tag) is
    removed; the same left by a process still running is not."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead_mark = _owner_mark(dead.pid)     # its start time, or None if it has already ended
    dead.wait()
    if _started(dead.pid) is not None:
        pytest.skip("the finished process's pid was reused at once")
    made = {}
    try:
        for who, mark in (("dead", dead_mark), ("live", _owner_mark())):
            tag = secrets.token_hex(3)
            made[who] = tag
            _ip("link", "add", f"wybr{tag}", "type", "bridge")
            _ip("link", "set", "dev", f"wybr{tag}", "alias", mark)
            _ip("netns", "add", f"whyev-{tag}-srv")
        removed = _sweep_stale()
        spaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                                timeout=STEP_TIMEOUT).stdout
        links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True,
                               timeout=STEP_TIMEOUT).stdout
        d, live = made["dead"], made["live"]
        assert f"whyev-{d}-srv" in removed and f"wybr{d}" in removed
        assert f"whyev-{d}-srv" not in spaces and f"wybr{d}:" not in links
        assert f"whyev-{live}-srv" in spaces and f"wybr{live}:" in links
        assert not any(live in r for r in removed)
    finally:
        for tag in made.values():
            subprocess.run(["ip", "netns", "del", f"whyev-{tag}-srv"], capture_output=True,
                           timeout=STEP_TIMEOUT)
            subprocess.run(["ip", "link", "del", f"wybr{tag}"], capture_output=True,
                           timeout=STEP_TIMEOUT)
