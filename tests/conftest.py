"""Shared fixtures: every runtime test runs under each scheduler/poller combination."""

from __future__ import annotations

import importlib.util

import pytest

from whyevents import threads

_HAS_PTH = importlib.util.find_spec("whyevents.threads.sched_pth") is not None

CONFIGS = [("fifo", "epoll"), ("fifo", "poll")]
if _HAS_PTH:
    CONFIGS.append(("pth", "poll"))


@pytest.fixture(params=CONFIGS, ids=[f"{s}-{p}" for s, p in CONFIGS])
def run(request):
    """``run(main, *args)`` under one scheduler/poller configuration."""
    scheduler, poller = request.param

    def _run(main, *args, **kwargs):
        return threads.run(main, *args, scheduler=scheduler, poller=poller, **kwargs)

    _run.scheduler = scheduler
    _run.poller = poller
    return _run


def settle(rounds: int = 5) -> None:
    """Let every runnable thread run until it blocks (yield a few batches)."""
    for _ in range(rounds):
        threads.sleep(0)
