"""CPU cap through the cgroup CPU controller (``harness.cpu_quota``).

The "unavailable" cases use fake cgroup roots (missing, without a CPU controller); the real cap
runs only where a writable controller exists (root with cgroup v1 ``cpu`` or v2 ``cpu``) and
asserts membership, throttling and clean removal, not a CPU figure's exact value.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from whyevents.harness import cpu_quota as Q

AVAILABLE, WHY = Q.availability()
needs_cgroup = pytest.mark.skipif(not AVAILABLE, reason=f"no CPU cap here: {WHY}")

_SPIN = ("import threading\n"
         "def spin():\n"
         "    while True: pass\n"
         "for _ in range(2): threading.Thread(target=spin, daemon=True).start()\n"
         "spin()\n")


def test_unavailable_without_cgroup_root(tmp_path) -> None:
    ok, why = Q.availability(str(tmp_path / "nowhere"))
    assert not ok and "no cgroup file system" in why
    with pytest.raises(Q.CpuQuotaUnavailable, match="no cgroup file system"):
        Q.CpuQuota(0.5, root=str(tmp_path / "nowhere"))


def test_unavailable_without_cpu_controller(tmp_path) -> None:
    (tmp_path / "memory").mkdir()
    (tmp_path / "cgroup.controllers").write_text("memory io pids\n")     # v2 without cpu
    ok, why = Q.availability(str(tmp_path))
    assert not ok and "no cgroup CPU controller" in why


def test_unavailable_when_not_writable(tmp_path, monkeypatch) -> None:
    cpu = tmp_path / "cpu"
    cpu.mkdir()
    (cpu / "cpu.cfs_quota_us").write_text("-1\n")
    monkeypatch.setattr(Q.os, "access", lambda path, mode: False)      # root can write anyway
    ok, why = Q.availability(str(tmp_path))
    assert not ok and "not writable" in why


def test_arguments_checked() -> None:
    with pytest.raises(ValueError, match="cores"):
        Q.CpuQuota(0)
    with pytest.raises(ValueError, match="period_s"):
        Q.CpuQuota(0.5, period_s=5.0)
    with pytest.raises(ValueError, match="minimum quota"):
        Q.CpuQuota(0.5, period_s=0.001)          # 500 us < the kernel's 1 ms


@needs_cgroup
def test_cap_holds_all_threads_and_is_removed() -> None:
    proc = subprocess.Popen([sys.executable, "-c", _SPIN])
    try:
        os.sched_setaffinity(proc.pid, {0})
        time.sleep(0.3)                          # the spinning threads exist
        cap = Q.CpuQuota(0.2, period_s=0.01)
        path = cap.path
        try:
            cap.add(proc.pid)
            tids = {int(t) for t in os.listdir(f"/proc/{proc.pid}/task")}
            assert len(tids) >= 3 and tids <= cap.members()
            s0 = cap.stats()
            time.sleep(1.0)
            s1 = cap.stats()
            assert s1["periods"] > s0["periods"]
            assert s1["throttled_periods"] > s0["throttled_periods"]   # it wanted more
            used = (s1["cpu_s"] - s0["cpu_s"]) / (s1["time"] - s0["time"])
            assert used < 0.6                    # three spinning threads, held near 0.2 core
            assert cap.describe()["quota_us"] == 2000
        finally:
            cap.close()
        assert not os.path.exists(path)
        assert proc.poll() is None               # moved back, still running
    finally:
        proc.kill()
        proc.wait()
