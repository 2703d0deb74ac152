"""The optional compiled build: which library modules have a Cython-compiled twin, and using it.

The interpreted build is the default and the reference. ``make build-compiled`` (which runs
``python -m whyevents.accel.build``) compiles the library modules in ``MODULES`` with Cython in
pure-Python mode (the ``.py`` unchanged; a ``.pxd`` beside it may declare types) and the same
compiler flags, for both sides of every comparison: the thread runtime's hot modules and the
event side's loops (``eventloop/loop.py``, the task pipeline's event loop). Application code
(HTTP, Knot's handler, the twin's state machine, the workloads' bodies) stays interpreted.

How the compiled twin is chosen (after gevent's ``import_c_accel``, but decided before the module
runs, so each module exists once): the extension of ``whyevents.threads.hub`` is built under
that same module name but stored apart, as ``whyevents/_compiled/whyevents.threads.hub.<abi>.so``,
where the ordinary import system never looks. ``install()`` (called by ``whyevents/__init__``)
puts a finder in front of ``sys.meta_path`` that loads it in place of the ``.py`` when

* ``WHYEVENTS_PURE_PYTHON`` is unset, empty or ``0`` (``1`` forces the ``.py`` everywhere, in
  this process and in the subprocesses it starts, which inherit the environment; a comma list
  of module names forces those only, for finding which compiled module costs or pays), and
* the build's manifest (``_compiled/manifest.json``) lists the module with the SHA-256 of the
  very ``.py`` it was compiled from: an edited ``.py`` runs as written (the stale extension is
  ignored, and ``build_info()`` says so) until the next ``make build-compiled``.

Without a build (no Cython or no C compiler: the build step says so and stops), nothing changes.
``build_info()`` says, per module, whether a compiled twin exists and whether it is the one in
use; the provenance of every result records it.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import sys

__all__ = ["MODULES", "build_info", "install", "pure_python_forced", "COMPILED_DIR"]

#: The modules the compiled build compiles: (module, side). "threads" is the runtime the green
#: threads run on; "events" is the event side's library (its loops and their readers).
MODULES: tuple[tuple[str, str], ...] = (
    ("whyevents.threads.timers", "threads"),
    ("whyevents.threads.waitq", "threads"),
    ("whyevents.threads.hub_local", "threads"),
    ("whyevents.threads.hub", "threads"),
    ("whyevents.threads.sched_fifo", "threads"),
    ("whyevents.threads.pollers", "threads"),
    ("whyevents.threads.poll_epoll", "threads"),
    ("whyevents.threads.sync", "threads"),
    ("whyevents.threads.queue", "threads"),
    ("whyevents.threads.socket", "threads"),
    ("whyevents.threads.fileio", "threads"),
    ("whyevents.eventloop.loop", "events"),
    ("whyevents.experiments.pipeline_evloop", "events"),
)
_SIDES = dict(MODULES)

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMPILED_DIR = os.path.join(PACKAGE_DIR, "_compiled")
MANIFEST = os.path.join(COMPILED_DIR, "manifest.json")
ENV_PURE = "WHYEVENTS_PURE_PYTHON"


def pure_python_forced() -> bool:
    """``WHYEVENTS_PURE_PYTHON`` forces every module: set, and not empty, ``0`` or a list."""
    v = os.environ.get(ENV_PURE, "")
    return v not in ("", "0") and not v.startswith("whyevents.")


def _forced_modules() -> set[str]:
    """The modules a comma list in ``WHYEVENTS_PURE_PYTHON`` forces to their ``.py``."""
    v = os.environ.get(ENV_PURE, "")
    return {m.strip() for m in v.split(",") if m.strip()} if v.startswith("whyevents.") else set()


def source_path(module: str) -> str:
    """The ``.py`` of a package module, from its dotted name (without importing it)."""
    parts = module.split(".")
    assert parts[0] == "whyevents"
    return os.path.join(PACKAGE_DIR, *parts[1:]) + ".py"


def source_sha256(module: str) -> str | None:
    try:
        with open(source_path(module), "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None


def _manifest() -> dict:
    try:
        with open(MANIFEST) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


class _Finder:
    """Loads a module's compiled twin (see the module docstring), or lets the import go on."""

    def __init__(self, usable: dict[str, str]) -> None:
        self.usable = usable        # module -> path of its extension

    def find_spec(self, fullname, path=None, target=None):
        so = self.usable.get(fullname)
        if so is None:
            return None
        loader = importlib.machinery.ExtensionFileLoader(fullname, so)
        return importlib.util.spec_from_file_location(fullname, so, loader=loader)


_state: dict = {"installed": False, "usable": {}, "stale": [], "manifest": {}}


def _usable(manifest: dict) -> tuple[dict[str, str], list[str]]:
    """The compiled twins that match this interpreter and their ``.py``; and the stale ones."""
    usable: dict[str, str] = {}
    stale: list[str] = []
    if manifest.get("abi") != _abi():
        return usable, stale
    for module, entry in manifest.get("modules", {}).items():
        so = os.path.normpath(os.path.join(COMPILED_DIR, entry.get("file", "")))
        if module not in _SIDES or not os.path.isfile(so):
            continue
        if entry.get("source_sha256") != source_sha256(module):
            stale.append(module)
            continue
        usable[module] = so
    return usable, stale


def _abi() -> str:
    return importlib.machinery.EXTENSION_SUFFIXES[0]


def install() -> None:
    """Put the finder in front of ``sys.meta_path`` (once), unless pure Python is forced or
    there is nothing compiled to use. Modules already imported stay what they are."""
    if _state["installed"]:
        return
    _state["installed"] = True
    if pure_python_forced():
        return                      # not even the manifest is read
    manifest = _state["manifest"] = _manifest()
    if not manifest:
        return
    usable, stale = _usable(manifest)
    _state["stale"] = stale
    for m in _forced_modules():
        usable.pop(m, None)
    if not usable:
        return
    _state["usable"] = usable
    sys.meta_path.insert(0, _Finder(usable))


def build_info() -> dict:
    """Which modules are compiled and whether this process uses the compiled code.

    ``{"build": "compiled" | "interpreted" | "mixed", "pure_python_forced": bool,
    "compiled_available": bool, "modules": {name: {"side", "compiled", "in_use", "stale"}},
    "cython", "compiler_flags", "summary"}``. ``in_use`` is known for imported modules (None
    before the module is imported; "would be" then follows ``compiled`` and the forcing)."""
    manifest = _state["manifest"] or _manifest()
    usable, stale = _usable(manifest) if manifest else ({}, [])
    forced = pure_python_forced()
    modules = {}
    for module, side in MODULES:
        mod = sys.modules.get(module)
        if mod is not None:
            f = getattr(mod, "__file__", "") or ""
            in_use = not f.endswith(".py") and os.path.dirname(f) == COMPILED_DIR
        else:
            in_use = None
        modules[module] = {"side": side, "compiled": module in usable,
                           "stale": module in stale, "in_use": in_use}
    imported = [m for m in modules.values() if m["in_use"] is not None]
    if imported and all(m["in_use"] for m in imported):
        build = "compiled"
    elif any(m["in_use"] for m in imported):
        build = "mixed"
    elif not imported and usable and not forced:
        build = "compiled"          # what imports would give
    else:
        build = "interpreted"
    n_use = sum(1 for m in imported if m["in_use"])
    summary = (f"{build}: {len(usable)} of {len(MODULES)} library modules compiled"
               + (f" ({len(stale)} stale: their .py changed since the build)" if stale else "")
               + (f", {n_use} of {len(imported)} imported ones in use" if imported else "")
               + (f"; {ENV_PURE}=1" if forced else ""))
    return {"build": build, "pure_python_forced": forced, "compiled_available": bool(usable),
            "modules": modules, "cython": manifest.get("cython"),
            "compiler_flags": manifest.get("compiler_flags"),
            "directives": manifest.get("directives"), "summary": summary}
