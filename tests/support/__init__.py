"""The test suite's shared helpers: plain functions and data, imported by test modules by name.

Test modules never import one another or ``conftest``: whatever two of them share lives here,
and the shared fixtures (``run``, ``make_docroot``, ``docroot``) live in ``tests/conftest.py``,
which pytest hands to every test without an import. ``tests/`` is on ``sys.path`` while the
suite runs (pytest's default import mode, no ``__init__.py`` in ``tests/``), so a test writes
``from support import wait_for`` or ``from support.http import fetch``.

* this module: ``wait_for`` (poll a condition; a time-out fails the test) and ``settle`` (let
  every runnable green thread run until it blocks);
* ``support.http``: a raw-socket HTTP/1.1 client, every socket with a time-out;
* ``support.trees``: document roots (``Tree``) and the bytes the server tests serve;
* ``support.servers``: every registered server in each of its configurations;
* ``support.rows``: synthetic experiment rows and stored runs for the claims' tests.

``wait_for`` raises when its time runs out rather than returning false, so a bare call is as
strict as ``assert wait_for(...)`` and no caller can forget to check the result; it returns
true, so ``assert wait_for(...)`` reads as before.
"""

from __future__ import annotations

import inspect
import time

from whyevents import threads

GUARD = 10.0        # seconds: only a broken server or a lost wake-up makes a test wait this long


def wait_for(predicate, timeout: float = GUARD, interval: float = 0.01,
             what: str | None = None) -> bool:
    """Poll ``predicate`` every ``interval`` seconds until it is true; ``True``.

    Raises ``AssertionError`` naming ``what`` (else the predicate's source) if it is still false
    after ``timeout`` seconds; it is asked once more at the deadline, so a condition that came
    true while the caller slept is not reported as a time-out.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            if predicate():
                break
            what = _describe(predicate, what)
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
    return True


def _describe(predicate, what: str | None) -> str:
    if what is not None:
        return what
    try:
        return inspect.getsource(predicate).strip()
    except (OSError, TypeError):
        return repr(predicate)


def settle(rounds: int = 5) -> None:
    """Let every runnable green thread run until it blocks (yield a few batches)."""
    for _ in range(rounds):
        threads.sleep(0)
