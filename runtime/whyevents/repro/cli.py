"""The ``whyevents`` command line.

One argparse subcommand per activity, one sub-subcommand per target, so adding a benchmark is one
entry in ``BENCH_TARGETS``: the module that implements it provides ``DESCRIPTION``, ``EPILOG``,
``add_arguments(parser)`` and ``main_from_args(args, parser) -> int``, and imports only the
standard library at module level (the frameworks it measures are imported in its worker
subprocesses), so building the whole parser stays fast. A target whose module fails to import is
still listed; running it reports the import error instead of breaking the other commands.

    whyevents bench runtime [--quick|--full] [--only OP,...] [--peers P,...] [--repeat K] ...
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from whyevents import __version__

#: ``whyevents bench TARGET``: target -> (module, one-line help).
BENCH_TARGETS: dict[str, tuple[str, str]] = {
    "runtime": ("whyevents.bench.runtime",
                "green-thread runtime micro-benchmarks (yield, spawn, wake, memory, lock "
                "timeouts, file read, scaling) against gevent, asyncio, uvloop, trio, greenlet"),
}

DESCRIPTION = """\
whyevents: reproducing "Why Events Are A Bad Idea (for high-concurrency servers)"
(von Behren, Condit, Brewer, HotOS IX, 2003) in Python on greenlet.
"""

EPILOG = """\
commands:
  bench TARGET    run a benchmark; targets: {targets}

examples:
  whyevents bench runtime                  runtime vs peers, quick profile (< 2 minutes)
  whyevents bench runtime --full --skip million
  whyevents bench runtime --help           the benchmark's options and operations
"""


def _add_bench(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser(
        "bench", help="run a benchmark (targets: " + ", ".join(BENCH_TARGETS) + ")",
        description="Run one of the benchmarks. Results are printed as a table and written as "
                    "JSON with provenance under data/results/.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    targets = bench.add_subparsers(dest="target", metavar="TARGET")
    for name, (module, help_text) in BENCH_TARGETS.items():
        try:
            mod = importlib.import_module(module)
        except Exception as e:  # noqa: BLE001 - reported when the target is used
            p = targets.add_parser(name, help=f"{help_text} [unavailable: {e}]")
            p.set_defaults(_run=_unavailable(module, e), _parser=p)
            continue
        p = targets.add_parser(name, help=help_text, description=getattr(mod, "DESCRIPTION", None),
                               epilog=getattr(mod, "EPILOG", None),
                               formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.main_from_args, _parser=p)
    bench.set_defaults(_parser=bench)


def _unavailable(module: str, error: Exception):
    def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
        parser.error(f"cannot import {module}: {type(error).__name__}: {error}")
        return 2
    return run


def build_parser() -> argparse.ArgumentParser:
    """The whole command line (also used by the tests and by ``--help``)."""
    parser = argparse.ArgumentParser(
        prog="whyevents", description=DESCRIPTION,
        epilog=EPILOG.format(targets=", ".join(BENCH_TARGETS)),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"whyevents {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_bench(sub)
    parser.set_defaults(_parser=parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point: ``whyevents ...``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    run = getattr(args, "_run", None)
    if run is None:                       # a command without its target: show what exists
        args._parser.print_help(sys.stderr)
        return 2
    try:
        return run(args, args._parser)
    except KeyboardInterrupt:
        print("\ninterrupted; results written so far are kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
