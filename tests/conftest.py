"""The suite's shared fixtures; the shared plain helpers are in ``tests/support``.

Fixtures live here because pytest hands them to every test module without an import; nothing
imports this module by name (a test module that did would get a second copy of it). Helpers that
are plain functions or data (``wait_for``, ``settle``, the HTTP client, the server
configurations, document-root contents) live in ``support`` and are imported where used.

* ``run``: every runtime test runs under each scheduler/poller combination;
* ``make_docroot``: a factory, ``make_docroot(tree)`` writes a fresh document root (a
  ``support.trees.Tree`` or any function of a new base directory) and gives its path, for a test
  that changes its root or needs one of its own;
* ``docroot``: the one document root of a test module, built once per module: the module's
  ``DOCROOT`` if it names one, else ``support.trees.SHARED``, the root the shared server tests
  serve.
"""

from __future__ import annotations

import importlib.util

import pytest

from support.trees import SHARED
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


@pytest.fixture(scope="session")
def make_docroot(tmp_path_factory):
    """``make_docroot(tree=SHARED)``: ``tree`` written under a new temporary base directory;
    what ``tree`` returns (a ``Tree`` returns the root's path as a string)."""

    def make(tree=SHARED):
        return tree(tmp_path_factory.mktemp("docroot"))

    return make


@pytest.fixture(scope="module")
def docroot(request, make_docroot):
    """The module's document root, shared by its tests (so none of them may change it): the
    module's ``DOCROOT`` (a ``Tree`` or a function of a base directory), else ``SHARED``."""
    return make_docroot(getattr(request.module, "DOCROOT", SHARED))
