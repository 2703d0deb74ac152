"""One of CPython's own test modules (``test.<name>``) run under ``monkey.patch_all()``.

Run by ``tests/test_cpython_patched.py``, one module per subprocess (``patch_all()`` changes the
whole process, and a module that hangs must not take the others with it)::

    python tests/scripts/green_cpython_tests.py test_queue ['{"Class.test": "reason"}']

``argv[2]`` is a JSON object of tests to skip (each a known hang or crash of the process, with
its reason): they are reported as skips with that reason. Before each test a line
``CPYTHON_TEST_START <id>`` goes to stdout, flushed, so that a module killed by its time-out names
the test that hung; and a test still running after ``WHYEVENTS_CPYTHON_TEST_TIMEOUT`` seconds
(default 120) ends the process at once (``outcomes.OutcomeResult``). At the end one line
``CPYTHON_TESTS_RESULT {json}``: per test id (``Class.test_name``) its outcome (pass, fail,
error, skip, xfail, xpass) and detail (the skip reason, or the traceback); ``testsRun``; and
``patched`` (``monkey.patched()``), the proof that the module ran patched. Exit status 0 unless
the script itself crashed.
"""

from whyevents.threads import monkey

monkey.patch_all()                  # first, before the test module imports threading or socket

import importlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import unittest  # noqa: E402

from outcomes import OutcomeResult  # noqa: E402 - beside this script


def _skip_listed(suite: unittest.TestSuite, skips: dict[str, str]) -> None:
    """Replace each listed test's method by a skip with its reason (the test is never run)."""
    for test in suite:
        if isinstance(test, unittest.TestSuite):
            _skip_listed(test, skips)
            continue
        name = getattr(test, "_testMethodName", None)
        reason = skips.get(f"{type(test).__name__}.{name}")
        if reason is not None:
            setattr(test, name, unittest.skip(reason)(lambda: None))


def _green_queue_suites(module) -> None:
    """test_queue imports the stdlib's ``queue`` afresh (``py_queue``, ``c_queue``), so its own
    classes test the stdlib queues on patched ``threading``, not whyevents' queues. Each of its
    suites is added once more with ``queue`` = the patched module (``GreenQueueTest``, ...):
    whyevents' ``Queue``, ``LifoQueue``, ``PriorityQueue`` and ``SimpleQueue``."""
    import queue as patched_queue

    class GreenSimpleQueueTest(module.BaseSimpleQueueTest, unittest.TestCase):
        queue = patched_queue

        def setUp(self):
            self.type2test = self.queue.SimpleQueue
            super().setUp()

    for base in ("QueueTest", "LifoQueueTest", "PriorityQueueTest", "FailingQueueTest"):
        name = f"Green{base}"
        setattr(module, name, type(name, (getattr(module, base), unittest.TestCase),
                                   {"queue": patched_queue, "__module__": module.__name__}))
    GreenSimpleQueueTest.__module__ = module.__name__
    module.GreenSimpleQueueTest = GreenSimpleQueueTest


_EXTRA = {"test_queue": _green_queue_suites}


def main() -> int:
    name = sys.argv[1]
    skips = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    module = importlib.import_module(f"test.{name}")
    if name in _EXTRA:
        _EXTRA[name](module)
    suite = unittest.defaultTestLoader.loadTestsFromModule(module)
    _skip_listed(suite, skips)
    result = OutcomeResult()
    suite.run(result)
    print("CPYTHON_TESTS_RESULT " + json.dumps({
        "module": name, "testsRun": result.testsRun, "outcomes": result.outcomes,
        "patched": monkey.patched()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
