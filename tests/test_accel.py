"""The optional compiled build (``whyevents.accel``, ``make build-compiled``): choosing, forcing
pure Python, stale twins, a build step that never breaks an install, provenance.

Runs in both passes of ``make test``; the tests that need a compiled build skip without one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import whyevents
from whyevents import accel
from whyevents.accel import build as accel_build
from whyevents.harness import provenance

pytestmark = pytest.mark.runtime

HAVE_BUILD = accel.build_info()["compiled_available"]
needs_build = pytest.mark.skipif(not HAVE_BUILD, reason="no compiled build here "
                                 "(make build-compiled)")


def _py(code: str, **env) -> subprocess.CompletedProcess:
    e = {k: v for k, v in os.environ.items() if k != accel.ENV_PURE}
    e.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=e, timeout=120)


PROBE = """
import json, whyevents
from whyevents import threads
import whyevents.threads.hub as hub, whyevents.eventloop.loop as loop
assert threads.run(lambda: 6 * 7) == 42
info = whyevents.build_info()
print(json.dumps({"info": info, "hub_file": hub.__file__, "hub_module": hub.Hub.__module__,
                  "loop_file": loop.__file__}))
"""


def test_build_info_names_every_module_and_side():
    info = whyevents.build_info()
    assert info["build"] in ("interpreted", "compiled", "mixed")
    assert set(info["modules"]) == {m for m, _ in accel.MODULES}
    sides = {m["side"] for m in info["modules"].values()}
    assert sides == {"threads", "events"}          # both sides of every comparison
    assert "whyevents.eventloop.loop" in info["modules"]
    assert "whyevents.experiments.pipeline_evloop" in info["modules"]
    assert isinstance(info["summary"], str) and info["build"] in info["summary"]


def test_pure_python_forced_runs_every_py():
    r = _py(PROBE, **{accel.ENV_PURE: "1"})
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    info = out["info"]
    assert info["pure_python_forced"] and info["build"] == "interpreted"
    assert out["hub_file"].endswith("threads/hub.py")
    assert out["loop_file"].endswith("eventloop/loop.py")
    assert not any(m["in_use"] for m in info["modules"].values())


@needs_build
def test_compiled_build_is_used_by_default_under_the_same_module_names():
    r = _py(PROBE)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    info = out["info"]
    assert info["build"] == "compiled", info["summary"]
    assert os.path.dirname(out["hub_file"]) == accel.COMPILED_DIR
    assert os.path.dirname(out["loop_file"]) == accel.COMPILED_DIR
    assert out["hub_module"] == "whyevents.threads.hub"      # one module, not two
    used = {m for m, v in info["modules"].items() if v["in_use"]}
    assert {"whyevents.threads.hub", "whyevents.threads.sched_fifo",
            "whyevents.eventloop.loop"} <= used


def test_a_twin_built_from_another_source_is_stale_and_not_used(tmp_path):
    """An edited .py runs as written: its twin's source hash no longer matches."""
    so = tmp_path / "x.so"
    so.write_bytes(b"")
    module = "whyevents.threads.timers"
    manifest = {"abi": accel._abi(), "modules": {
        module: {"file": os.path.relpath(so, accel.COMPILED_DIR), "source_sha256": "0" * 64}}}
    usable, stale = accel._usable(manifest)
    assert usable == {} and stale == [module]
    manifest["modules"][module]["source_sha256"] = accel.source_sha256(module)
    usable, stale = accel._usable(manifest)
    assert usable == {module: os.path.normpath(
        os.path.join(accel.COMPILED_DIR, manifest["modules"][module]["file"]))}
    manifest["abi"] = ".cpython-0-other.so"     # another interpreter's build: never loaded
    assert accel._usable(manifest) == ({}, [])


def test_build_without_cython_says_so_and_changes_nothing():
    code = """
import sys
sys.modules["Cython"] = None            # as if not installed
from whyevents import accel
from whyevents.accel import build as accel_build
before = accel._manifest()
assert accel_build.build() == 0
assert accel._manifest() == before
"""
    r = _py(code)
    assert r.returncode == 0, r.stderr
    assert "Cython is not installed" in r.stderr and "interpreted build stays" in r.stderr


def test_check_exit_status_says_whether_a_build_is_usable():
    r = subprocess.run([sys.executable, "-m", "whyevents.accel.build", "--check"],
                       capture_output=True, timeout=60)
    assert r.returncode == (0 if accel_build.check() else 1)


def test_provenance_records_the_build():
    for prov in (provenance.benchmark({}), provenance.collect({}, "quick", None)):
        b = prov["build"]
        assert b["build"] in ("interpreted", "compiled", "mixed")
        assert set(b["modules"]) == {m for m, _ in accel.MODULES}


@needs_build
def test_a_list_forces_only_the_modules_named():
    r = _py(PROBE, **{accel.ENV_PURE: "whyevents.threads.hub,whyevents.threads.sched_fifo"})
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    mods = out["info"]["modules"]
    assert out["info"]["build"] == "mixed" and not out["info"]["pure_python_forced"]
    assert out["hub_file"].endswith("threads/hub.py")
    assert not mods["whyevents.threads.sched_fifo"]["in_use"]
    assert mods["whyevents.eventloop.loop"]["in_use"]
