"""Where the runtime's overhead arises, counted (issue 11, item 1): regression bounds, no timing.

The measuring code is ``whyevents.benchmarks.overhead`` (shared with ``whyevents bench runtime``,
which prints the same counts); its docstring says what each count is. Each bound sits a little
above what the code does today, so a change that puts calls back on a hot path fails here, with
the per-function table in the message. In the compiled build (``whyevents.build_info()``)
compiled functions make no profile events, so the counts only go down and the bounds still hold.
"""

from __future__ import annotations

import os

import pytest

import whyevents
from whyevents import threads  # noqa: F401 - imported before build_info() is read
from whyevents.benchmarks import overhead
from whyevents.benchmarks.overhead import knot_calls, pipeline_calls, saved_stack, table

pytestmark = pytest.mark.runtime

CONFIGS = list(overhead.CONFIGS)
IDS = [f"{s}-{p}" for s, p in CONFIGS]

#: Bounds (calls per task / per request) for the fifo scheduler; see the module docstring.
PIPELINE_CALLS_FIFO = overhead.PIPELINE_CALLS_TARGET
#: of which ~13 are the HTTP parser and handler (application code); the level-triggered poller
#: rebuilds its set and wakes through the queue on every poll, a few calls more
KNOT_CALLS_FIFO = {"epoll": 18.5, "poll": 23.5}
#: greenlet's saved C stack per parked pipeline worker, bytes (greenlet 3.x, CPython 3.11):
#: 1,480 interpreted (the worker greenlet's body is a plain function called without arguments:
#: hub._worker); the compiled build's runtime keeps its call chain on the C stack (Cython
#: functions are C frames; 3.11's interpreted frames live in the frame-stack chunk), 2,936.
COMPILED_RUNTIME = bool(whyevents.build_info()["modules"]["whyevents.threads.hub"]["in_use"])
SAVED_STACK_BYTES = 3584 if COMPILED_RUNTIME else 1600


@pytest.fixture(scope="module")
def cached_file(tmp_path_factory):
    fd = overhead.cached_file(str(tmp_path_factory.mktemp("overhead")))
    yield fd
    os.close(fd)


#: The ``docroot`` fixture's: ``/file8k`` under ``base/www``, as ``bench runtime`` serves it.
DOCROOT = overhead.docroot


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_pipeline_calls_per_task(cached_file, config):
    scheduler, poller = config
    tasks = 3000
    r = pipeline_calls(cached_file, scheduler, poller, workers=100, tasks=tasks)
    assert r["completed"] == tasks and r["short_reads"] == 0
    assert r["bytes"] == r["total_completed"] * 8192
    per, calls = r["per_task"], r["calls"]
    print(f"\n{scheduler}-{poller}: {per:.2f} Python calls per pipeline task\n"
          + table(calls, tasks))
    # the workload's own calls: issue, complete, pread (the experiment's own loop, counted)
    assert calls["pipeline_worker.py:threaded.<locals>.issue"] == tasks
    assert calls["pipeline_worker.py:Meter.complete"] == tasks
    if scheduler == "fifo":
        assert per <= PIPELINE_CALLS_FIFO, table(calls, tasks)
    else:
        # pth goes through its scheduler thread and scans on every switch: more calls, by
        # design, but still a bounded number per task
        assert per <= 3 * PIPELINE_CALLS_FIFO, table(calls, tasks)


def test_saved_stack_bytes_per_parked_worker(cached_file):
    """greenlet copies a parked thread's slice of the C stack to the heap; count the bytes."""
    n = 1000
    r = saved_stack(cached_file, n)
    assert r["parked"] >= n - 1                    # every worker parked on its channel
    print(f"\ngreenlet saved stack per parked pipeline worker: {r['per_thread']:.0f} bytes "
          f"(min {r['min']}, max {r['max']})")
    assert 0 < r["per_thread"] <= SAVED_STACK_BYTES


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_knot_keep_alive_request_costs(docroot, config):
    scheduler, poller = config
    r = knot_calls(docroot, scheduler, poller, short=50, long=250)
    assert r["served"] == (50, 250)
    n = 200
    per, calls = r["per_request"], r["calls"]
    print(f"\n{scheduler}-{poller}: {per:.2f} Python calls per keep-alive request\n"
          + table(calls, n))
    failed = r["c_exceptions"]
    print(f"C calls that raised (the 250-request run): {failed}")
    # no recv that fails with EAGAIN per request: at most a few in a whole session
    assert r["failed_recv_per_session"] <= 3, failed
    # no timer armed and cancelled per park: the request timeout is armed lazily
    assert r["timer_add_per_request"] < 0.05, table(calls, n)
    assert r["timer_cancel_per_request"] < 0.05, table(calls, n)
    if scheduler == "fifo":
        assert per <= KNOT_CALLS_FIFO[poller], table(calls, n)
