"""The outcome of every test of a unittest run, by test id: the result class both patched-suite
scripts use (``green_lock_tests.py``, ``green_cpython_tests.py``).

Import it after ``monkey.patch_all()``, as the scripts do. Each test is announced on stdout
(``CPYTHON_TEST_START <id>``, flushed) so that a process killed by its time-out names the test
that hung, and a test still running after ``WHYEVENTS_CPYTHON_TEST_TIMEOUT`` seconds (default
120) ends the process at once (``faulthandler``: the stacks go to stderr, exit 1).
"""

import faulthandler
import os
import unittest

_TEST_TIMEOUT = float(os.environ.get("WHYEVENTS_CPYTHON_TEST_TIMEOUT", "120"))


class OutcomeResult(unittest.TestResult):
    """Records one outcome per test id (``Class.test_name``), announcing each test first."""

    def __init__(self) -> None:
        super().__init__()
        self.outcomes: dict[str, dict] = {}
        self._ids: list[tuple[object, str]] = []   # (test, id), kept: identity, not id()

    def _id(self, test) -> str:
        for seen, tid in self._ids:
            if seen is test:
                return tid
        name = getattr(test, "_testMethodName", None)
        if name is None:             # a class or module fixture that failed (_ErrorHolder)
            return str(test)
        if name == "runTest":        # doctests: one DocTestCase per docstring, named by id()
            tid = f"{type(test).__name__}.{test.id()}"
        else:
            tid = f"{type(test).__name__}.{name}"
        n = 1
        while (f"{tid}#{n}" if n > 1 else tid) in {t for _, t in self._ids}:
            n += 1                   # the same test twice (test_threading_local's doctests)
        tid = f"{tid}#{n}" if n > 1 else tid
        self._ids.append((test, tid))
        return tid

    def _put(self, test, outcome: str, detail: str = "") -> None:
        tid = self._id(test)
        if tid in self.outcomes and outcome == "pass":
            return                   # a subtest failure already decided this test
        if tid in self.outcomes and self.outcomes[tid]["outcome"] in ("fail", "error"):
            self.outcomes[tid]["detail"] += "\n" + detail
            return
        self.outcomes[tid] = {"outcome": outcome, "detail": detail}

    def startTest(self, test):  # noqa: N802 - unittest's names
        super().startTest(test)
        print(f"CPYTHON_TEST_START {self._id(test)}", flush=True)
        # a kernel-level watchdog: fires even while a hung test blocks the hub in C
        faulthandler.dump_traceback_later(_TEST_TIMEOUT, exit=True)

    def stopTest(self, test):  # noqa: N802
        faulthandler.cancel_dump_traceback_later()
        super().stopTest(test)

    def addSuccess(self, test):  # noqa: N802
        super().addSuccess(test)
        self._put(test, "pass")

    def addFailure(self, test, err):  # noqa: N802
        super().addFailure(test, err)
        self._put(test, "fail", self.failures[-1][1])

    def addError(self, test, err):  # noqa: N802
        super().addError(test, err)
        self._put(test, "error", self.errors[-1][1])

    def addSubTest(self, test, subtest, err):  # noqa: N802
        super().addSubTest(test, subtest, err)
        if err is not None:
            kind = "fail" if issubclass(err[0], test.failureException) else "error"
            listed = self.failures if kind == "fail" else self.errors
            self._put(test, kind, f"{subtest}: {listed[-1][1]}")

    def addSkip(self, test, reason):  # noqa: N802
        super().addSkip(test, reason)
        self._put(test, "skip", reason)

    def addExpectedFailure(self, test, err):  # noqa: N802
        super().addExpectedFailure(test, err)
        self._put(test, "xfail")

    def addUnexpectedSuccess(self, test):  # noqa: N802
        super().addUnexpectedSuccess(test)
        self._put(test, "xpass")
