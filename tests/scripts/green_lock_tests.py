"""CPython's own lock tests (``test.lock_tests``) against whyevents' primitives, patched.

Run by ``tests/test_lock_tests.py`` in a subprocess, because ``monkey.patch_all()`` changes the
whole process. ``argv[1]`` is a JSON object ``{"Class.test_name": "reason"}`` of tests to skip.
Prints one line ``LOCK_TESTS_RESULT {json}``: per test id, its outcome (pass, fail, error, skip,
xfail, xpass) and detail (the skip reason, or the traceback). Exit status 0 unless it crashed.
"""

from whyevents.threads import monkey

monkey.patch_all()                  # first, before the tests import threading helpers

import json  # noqa: E402
import sys  # noqa: E402
import unittest  # noqa: E402

from outcomes import OutcomeResult  # noqa: E402 - beside this script
from test import lock_tests  # noqa: E402

from whyevents import threads  # noqa: E402


class BargingLock(threads.Lock):
    """``Lock`` with hand-off off: release unlocks and wakes one waiter, which competes."""

    __slots__ = ()
    handoff = False


_SUITES = [
    (lock_tests.LockTests, "locktype", threads.Lock),
    (lock_tests.LockTests, "locktype", BargingLock),
    (lock_tests.RLockTests, "locktype", threads.RLock),
    (lock_tests.EventTests, "eventtype", threads.Event),
    (lock_tests.ConditionTests, "condtype", threads.Condition),
    (lock_tests.SemaphoreTests, "semtype", threads.Semaphore),
    (lock_tests.BoundedSemaphoreTests, "semtype", threads.BoundedSemaphore),
    (lock_tests.BarrierTests, "barriertype", threads.Barrier),
]


def build_suite(skips: dict[str, str]) -> unittest.TestSuite:
    suite = unittest.TestSuite()
    loader = unittest.TestLoader()
    for base, attr, factory in _SUITES:
        name = base.__name__
        if factory is BargingLock:
            name = "BargingLockTests"
        cls = type(name, (base,), {attr: staticmethod(factory), "__module__": __name__})
        for test_id, reason in skips.items():
            cls_name, _, method = test_id.partition(".")
            if cls_name == cls.__name__:
                setattr(cls, method, unittest.skip(reason)(getattr(base, method)))
        suite.addTests(loader.loadTestsFromTestCase(cls))
    return suite


def main() -> int:
    skips = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    result = OutcomeResult()
    build_suite(skips).run(result)
    print("LOCK_TESTS_RESULT " + json.dumps({"outcomes": result.outcomes,
                                             "testsRun": result.testsRun}))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
