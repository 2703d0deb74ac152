"""Sweeps survive faults (issue 13, item 4): SIGKILL of the runner, of a server process and of a
load process in the middle of a real web sweep, then ``whyevents run web --resume``.

What must hold after the resume: every point finished before the fault is still there, byte for
byte (no finished point lost); every point's key appears once in rows.jsonl (no point
duplicated); the point the fault cut short is measured again and stored ``ok``; the run closes
``complete``. A killed server or load process leaves a row with status ``interrupted`` (not done:
the run closes ``interrupted`` and the CLI names ``--resume``), which the resume moves into the
provenance (``resumed[-1]["set_aside"]``); a killed runner leaves nothing of the cut point, and
its server and load processes die with it (PR_SET_PDEATHSIG).

A cheap configuration: one server (Knot-C on epoll), 1, 4 and 16 clients, a small file set, no
CPU quota, a 0.5 s warm-up and a 3 s window, so each point lasts a few seconds and the fault
lands inside the second point. The processes are found through the runner's process tree
(psutil). Nothing here asserts a time.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

CLIENT = "wrk" if shutil.which("wrk") else "python"
PARAMS = {"servers": "knot-c/epoll", "clients": "1,4,16", "warmup": "0.5", "duration": "3.0",
          "server_cores": "0", "scale": "0.002", "fileset_clients": "16", "reps": "1",
          "client": CLIENT}
KEYS = [("knot-c", "epoll", c, 0) for c in (1, 4, 16)]
WAIT = 240.0     # generous: the machine may be busy (a deadline for a condition, not a measure)


def _cmd(root: Path, *extra: str) -> list[str]:
    cmd = [sys.executable, "-m", "whyevents.repro.cli", "run", "web", "--root", str(root),
           "--no-progress", *extra]
    for k, v in PARAMS.items():
        cmd += ["-p", f"{k}={v}"]
    return cmd


def _run_dir(root: Path) -> Path | None:
    runs = sorted((root / "web").glob("*/provenance.json"))
    return runs[0].parent if runs else None


def _lines(root: Path) -> list[str]:
    d = _run_dir(root)
    if d is None or not (d / "rows.jsonl").exists():
        return []
    return [ln for ln in (d / "rows.jsonl").read_text().splitlines(keepends=True)
            if ln.endswith("\n")]


def _provenance(root: Path) -> dict:
    return json.loads((_run_dir(root) / "provenance.json").read_text())


def _role(p: psutil.Process) -> str | None:
    try:
        cmd = " ".join(p.cmdline())
        name = p.name()
    except psutil.Error:
        return None
    if "whyevents.servers.process" in cmd:
        return "server"
    if name == "wrk" or "whyevents.loadgen" in cmd:
        return "load"
    return None


def _until(what: str, cond, proc: subprocess.Popen):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        if proc.poll() is not None:
            raise AssertionError(f"the sweep ended (exit {proc.returncode}) before {what}: "
                                 f"{proc.stdout.read() if proc.stdout else ''}")
        time.sleep(0.05)
    raise AssertionError(f"no {what} within {WAIT:g} s")


def _second_point_processes(root: Path, sweep: subprocess.Popen) -> dict[str, psutil.Process]:
    """The server and load processes of the second point, once both run (first point stored)."""
    runner = psutil.Process(sweep.pid)

    def ready():
        if len(_lines(root)) != 1:
            return None
        found: dict[str, psutil.Process] = {}
        for p in runner.children(recursive=True):
            role = _role(p)
            if role is not None:
                found.setdefault(role, p)
        return found if {"server", "load"} <= set(found) else None

    found = _until("the second point's server and load processes", ready, sweep)
    time.sleep(0.3)                   # inside the 0.5 s warm-up + 3 s window of that point
    assert len(_lines(root)) == 1, "the second point ended before the fault could be injected"
    return found


def _start(root: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(_cmd(root), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)


def _resume(root: Path) -> str:
    out = subprocess.run(_cmd(root, "--resume"), capture_output=True, text=True, timeout=WAIT)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def _key(row: dict) -> tuple:
    return (row["server"], row["poller"], row["clients"], row["rep"])


def _check_resumed(root: Path, before: list[str]) -> list[dict]:
    """No finished point lost (byte for byte), none duplicated, all measured, run complete."""
    after = _lines(root)
    finished = [ln for ln in before if json.loads(ln)["status"] != "interrupted"]
    assert after[:len(finished)] == finished
    rows = [json.loads(ln) for ln in after]
    keys = [_key(r) for r in rows]
    assert len(keys) == len(set(keys)), f"a point is stored twice: {keys}"
    assert sorted(keys) == sorted(KEYS)
    assert [r["status"] for r in rows] == ["ok"] * len(KEYS), [r.get("error") for r in rows]
    prov = _provenance(root)
    assert prov["status"] == "complete" and prov["rows"] == len(KEYS)
    with open(_run_dir(root) / "results.csv", newline="") as f:   # the table agrees
        table = list(csv.DictReader(f))
    assert [(t["server"], t["poller"], int(t["clients"]), int(t["rep"])) for t in table] == keys
    return rows


def test_runner_killed_mid_point_resumes(tmp_path):
    sweep = _start(tmp_path)
    try:
        victims = _second_point_processes(tmp_path, sweep)
        os.kill(sweep.pid, signal.SIGKILL)
        sweep.wait(timeout=WAIT)
    finally:
        if sweep.poll() is None:
            sweep.kill()
            sweep.wait()
    # its server and load processes do not outlive it
    gone, alive = psutil.wait_procs(list(victims.values()), timeout=30)
    assert not alive, f"orphans of the killed runner: {alive}"
    before = _lines(tmp_path)
    assert len(before) == 1
    assert _provenance(tmp_path)["status"] == "running"       # killed outright: never closed
    _resume(tmp_path)
    rows = _check_resumed(tmp_path, before)
    assert [_key(r) for r in rows][1] == KEYS[1]              # the cut point, measured anew
    record = _provenance(tmp_path)["resumed"][-1]
    assert record["previous_status"] == "running" and record["rows_before"] == 1
    assert "set_aside" not in record


@pytest.mark.parametrize("role", ["server", "load"])
def test_server_or_load_killed_mid_point_resumes(tmp_path, role):
    sweep = _start(tmp_path)
    try:
        victim = _second_point_processes(tmp_path, sweep)[role]
        victim.send_signal(signal.SIGKILL)
        out, _ = sweep.communicate(timeout=WAIT)
    finally:
        if sweep.poll() is None:
            sweep.kill()
            sweep.wait()
    assert sweep.returncode == 0, out
    before = _lines(tmp_path)
    rows = [json.loads(ln) for ln in before]
    # the sweep went on past the fault; the cut point is marked, not counted as measured
    assert [_key(r) for r in rows] == KEYS
    assert [r["status"] for r in rows] == ["ok", "interrupted", "ok"], rows[1].get("error")
    assert f"{role} process (pid {victim.pid}) killed by SIGKILL" in rows[1]["error"]
    assert _provenance(tmp_path)["status"] == "interrupted"
    assert "--resume" in out
    _resume(tmp_path)
    after = _check_resumed(tmp_path, before)
    assert [_key(r) for r in after] == [KEYS[0], KEYS[2], KEYS[1]]
    record = _provenance(tmp_path)["resumed"][-1]
    assert record["previous_status"] == "interrupted" and record["rows_before"] == 3
    assert [_key(r) for r in record["set_aside"]] == [KEYS[1]]
    assert record["set_aside"][0]["status"] == "interrupted"
    # a second resume finds nothing to do and changes nothing
    again = _lines(tmp_path)
    _resume(tmp_path)
    assert _lines(tmp_path) == again
