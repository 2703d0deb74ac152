"""``python -m whyevents.accel.build`` (``make build-compiled``): build the compiled twins.

Compiles every module of ``accel.MODULES`` with Cython in pure-Python mode (the ``.py`` as it
is, a ``.pxd`` beside it if there is one) and one C compiler with one set of flags, for the
thread runtime and the event side alike, into ``whyevents/_compiled/`` with a manifest naming
each module's source hash, Cython's version, the directives and the flags. ``accel`` then loads
them in place of the ``.py`` (``WHYEVENTS_PURE_PYTHON=1`` forces the ``.py``).

Never breaks anything: without Cython or without a working C compiler it says so and exits 0,
leaving the interpreted build as it was. A module that fails to compile is left out (said so)
and runs interpreted. ``--clean`` removes the build; ``--check`` exits 0 if a compiled build
is usable here, 1 if not (for the Makefile's second test pass).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import shutil
import sys
import sysconfig
import tempfile

from whyevents import accel

__all__ = ["main", "DIRECTIVES", "EXTRA_COMPILE_ARGS"]

#: Cython directives, the same for every module. ``annotation_typing=False``: the annotations are
#: documentation here (``n: int`` must not turn into a C long that rejects a numpy integer);
#: types come only from ``.pxd`` files.
DIRECTIVES = {
    "language_level": 3,
    "annotation_typing": False,
    "binding": True,            # functions behave as Python functions (descriptors, __name__...)
    "embedsignature": False,
    "profile": False,
    "linetrace": False,
}
#: Added to Python's own compile flags (sysconfig CFLAGS), the same for every module.
EXTRA_COMPILE_ARGS = ["-O2"]


def _say(msg: str) -> None:
    print(f"whyevents compiled build: {msg}", file=sys.stderr)


def _have_compiler() -> str | None:
    """The C compiler's name if one runs here, else None."""
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    return shutil.which(cc) or shutil.which("cc") or shutil.which("gcc")


def build(modules: list[str] | None = None, verbose: bool = False) -> int:
    """Build the compiled twins; returns how many were built (0: none, for a reason said)."""
    try:
        import Cython
        from Cython.Build import cythonize
    except ImportError:
        _say("Cython is not installed (pip install 'cython>=3.0'); the interpreted build stays")
        return 0
    if _have_compiler() is None:
        _say("no C compiler found; the interpreted build stays")
        return 0
    from setuptools import Distribution, Extension
    from setuptools.command.build_ext import build_ext

    wanted = [m for m, _ in accel.MODULES if modules is None or m in modules]
    os.makedirs(accel.COMPILED_DIR, exist_ok=True)
    init = os.path.join(accel.COMPILED_DIR, "__init__.py")
    if not os.path.exists(init):
        with open(init, "w") as f:
            f.write('"""Compiled twins of library modules (whyevents.accel): build products."""\n')
    old = accel._manifest()
    entries = dict(old.get("modules", {})) if old.get("abi") == accel._abi() else {}
    built = 0
    with tempfile.TemporaryDirectory(prefix="whyevents-cython-") as tmp:
        for module in wanted:
            src = accel.source_path(module)
            digest = accel.source_sha256(module)
            ext = Extension(module, [src], extra_compile_args=list(EXTRA_COMPILE_ARGS))
            try:
                exts = cythonize([ext], compiler_directives=DIRECTIVES, build_dir=tmp,
                                 quiet=not verbose, force=True)
                dist = Distribution({"ext_modules": exts, "name": "whyevents-compiled"})
                cmd = build_ext(dist)
                cmd.build_lib = os.path.join(tmp, "lib")
                cmd.build_temp = os.path.join(tmp, "temp")
                cmd.ensure_finalized()
                cmd.run()
                out = cmd.get_ext_fullpath(module)
            except BaseException as e:  # noqa: BLE001 - Cython/compiler errors: say, go on
                if isinstance(e, KeyboardInterrupt):
                    raise
                _say(f"{module}: not compiled ({type(e).__name__}: {str(e)[:300]}); "
                     "it runs interpreted")
                entries.pop(module, None)
                continue
            name = module + accel._abi()
            shutil.copyfile(out, os.path.join(accel.COMPILED_DIR, name))
            entries[module] = {"file": name, "source_sha256": digest,
                               "pxd": os.path.exists(src[:-3] + ".pxd"),
                               "side": dict(accel.MODULES)[module]}
            built += 1
            if verbose:
                _say(f"{module}: compiled")
    manifest = {
        "abi": accel._abi(),
        "python": sys.version.split()[0],
        "cython": Cython.__version__,
        "directives": DIRECTIVES,
        "compiler_flags": {"cc": sysconfig.get_config_var("CC"),
                           "cflags": sysconfig.get_config_var("CFLAGS"),
                           "extra": EXTRA_COMPILE_ARGS},
        "built_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "modules": entries,
    }
    with open(accel.MANIFEST, "w") as f:
        json.dump(manifest, f, indent=1)
    _say(f"{built} of {len(wanted)} modules compiled into {accel.COMPILED_DIR} "
         f"(Cython {Cython.__version__}); WHYEVENTS_PURE_PYTHON=1 runs the .py")
    return built


def clean() -> None:
    if os.path.isdir(accel.COMPILED_DIR):
        shutil.rmtree(accel.COMPILED_DIR)
    _say("removed; the interpreted build is what runs")


def check() -> bool:
    """A compiled build that this interpreter can use, with no module stale."""
    manifest = accel._manifest()
    usable, stale = accel._usable(manifest) if manifest else ({}, [])
    return bool(usable) and not stale


#: the builds an experiment can ask for, per point (``builds`` parameter): the interpreted one
#: (the ``.py``; its subprocess gets ``WHYEVENTS_PURE_PYTHON=1``) and the compiled one
BUILDS = ("interpreted", "compiled")


def check_builds(value: object, name: str = "builds") -> list[str]:
    """An experiment's ``builds`` parameter (a list, or ``"a,b"``), normalized and checked:
    ``ValueError`` naming ``name`` for an unknown or empty value, or for ``compiled`` when no
    usable compiled build is here."""
    if isinstance(value, str):
        value = [p for p in (s.strip() for s in value.split(",")) if p]
    if not isinstance(value, list | tuple):
        raise ValueError(f"{name}: {value!r} is not a list")
    out: list[str] = []
    for item in value:
        b = str(item).strip()
        if b not in BUILDS:
            raise ValueError(f"{name}: {item!r} is not one of {', '.join(BUILDS)}")
        if b not in out:
            out.append(b)
    if not out:
        raise ValueError(f"{name}: empty: choose interpreted, compiled or both")
    if "compiled" in out and not check():
        raise ValueError(f"{name}: 'compiled' asked, but there is no usable compiled build "
                         "here (make build-compiled; a stale one is rebuilt by it too)")
    return out


def build_env(build: str, env: dict | None = None) -> dict:
    """The environment of a subprocess that must run ``build``: ``WHYEVENTS_PURE_PYTHON=1``
    for the interpreted one, unset for the compiled one."""
    out = dict(os.environ if env is None else env)
    out.pop(accel.ENV_PURE, None)
    if build == "interpreted":
        out[accel.ENV_PURE] = "1"
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m whyevents.accel.build",
                                description=__doc__.splitlines()[0])
    g = p.add_mutually_exclusive_group()
    g.add_argument("--clean", action="store_true", help="remove the compiled build")
    g.add_argument("--check", action="store_true",
                   help="exit 0 if a usable compiled build is here (no module stale), else 1")
    p.add_argument("--only", metavar="MODULE[,MODULE]",
                   help="compile only these modules (dotted names from whyevents.accel.MODULES)")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    if args.clean:
        clean()
        return 0
    if args.check:
        return 0 if check() else 1
    only = args.only.split(",") if args.only else None
    if only:
        unknown = sorted(set(only) - {m for m, _ in accel.MODULES})
        if unknown:
            p.error(f"--only: {', '.join(unknown)} not in whyevents.accel.MODULES")
    build(only, args.verbose)
    return 0


if __name__ == "__main__":
    sys.exit(main())
