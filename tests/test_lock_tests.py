"""CPython's own lock tests (``test.lock_tests``) pass against our primitives under patching.

The tests run in a subprocess (``scripts/green_lock_tests.py``) because ``monkey.patch_all()``
changes the whole process. Every skip must be listed here with the reason it cannot apply to
green threads; anything else that does not pass fails this test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.runtime

pytest.importorskip("test.lock_tests", reason="CPython's test package (test.lock_tests) is not "
                                              "installed with this Python")

SCRIPT = Path(__file__).parent / "scripts" / "green_lock_tests.py"

#: test id -> why it cannot apply to whyevents' green primitives.
SKIPS = {
    "EventTests.test_at_fork_reinit": (
        "inspects threading.Event's private _cond (the Condition inside CPython's Event); "
        "whyevents' Event parks threads on a wait queue directly and has no Condition, and "
        "fork() of a process running green threads is out of scope"),
}

#: The suites the script runs; each must have run at least one test.
SUITES = ("LockTests", "BargingLockTests", "RLockTests", "EventTests", "ConditionTests",
          "SemaphoreTests", "BoundedSemaphoreTests", "BarrierTests")


@pytest.fixture(scope="module")
def outcomes() -> dict:
    proc = subprocess.run([sys.executable, str(SCRIPT), json.dumps(SKIPS)],
                          capture_output=True, text=True, timeout=120)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("LOCK_TESTS_RESULT ")]
    assert proc.returncode == 0 and lines, (
        f"lock test script failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n"
        f"{proc.stderr[-3000:]}")
    return json.loads(lines[-1].split(" ", 1)[1])["outcomes"]


def test_every_suite_ran(outcomes):
    ran = {test_id.split(".")[0] for test_id in outcomes}
    assert ran == set(SUITES)
    assert len(outcomes) >= 90


def test_no_failures_or_errors(outcomes):
    bad = {tid: o for tid, o in outcomes.items() if o["outcome"] in ("fail", "error", "xpass")}
    assert not bad, "\n\n".join(f"{tid}: {o['outcome']}\n{o['detail']}" for tid, o in bad.items())


def test_every_skip_is_listed_with_its_reason(outcomes):
    skipped = {tid: o["detail"] for tid, o in outcomes.items() if o["outcome"] == "skip"}
    unexpected = {tid: why for tid, why in skipped.items() if SKIPS.get(tid) != why}
    assert not unexpected, f"skips not on the list (or with another reason): {unexpected}"
    assert set(skipped) == set(SKIPS), f"listed skips that did not happen: " \
                                       f"{set(SKIPS) - set(skipped)}"
