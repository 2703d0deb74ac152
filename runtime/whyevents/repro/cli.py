"""The ``whyevents`` command line.

One argparse subcommand per activity, one sub-subcommand per target, so adding a benchmark is one
entry in ``BENCH_TARGETS``: the module that implements it provides ``DESCRIPTION``, ``EPILOG``,
``add_arguments(parser)`` and ``main_from_args(args, parser) -> int``, and imports only the
standard library at module level (the frameworks it measures are imported in its worker
subprocesses), so building the whole parser stays fast. A target whose module fails to import is
still listed; running it reports the import error instead of breaking the other commands.

    whyevents bench runtime [--quick|--full] [--only OP,...] [--peers P,...] [--repeat K] ...
    whyevents serve {knot-c,knot-a,seda,eventloop} --root DIR [--port N] [--threads N] ...
    whyevents fileset --root DIR --clients N [--seed S] [--scale X]
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

#: ``whyevents serve NAME``: name -> (module, keyword arguments fixed by the name, help).
SERVERS: dict[str, tuple[str, dict, str]] = {
    "knot-c": ("whyevents.knot", {"policy": "C"},
               "Knot-C: N threads each accept and serve a connection to completion"),
    "knot-a": ("whyevents.knot", {"policy": "A"},
               "Knot-A: one accept loop spawning a thread per connection"),
    "seda": ("whyevents.seda", {}, "Haboob-like staged event-driven server on kernel threads"),
    "eventloop": ("whyevents.eventloop", {}, "Knot's event-driven twin: one epoll loop"),
}

DESCRIPTION = """\
whyevents: reproducing "Why Events Are A Bad Idea (for high-concurrency servers)"
(von Behren, Condit, Brewer, HotOS IX, 2003) in Python on greenlet.
"""

EPILOG = """\
commands:
  bench TARGET    run a benchmark; targets: {targets}
  serve SERVER    run a web server until Ctrl-C/SIGTERM; servers: {servers}
  fileset         build the SPECweb99-like file set and request mix

examples:
  whyevents bench runtime                  runtime vs peers, quick profile (< 2 minutes)
  whyevents bench runtime --full --skip million
  whyevents bench runtime --help           the benchmark's options and operations
  whyevents fileset --root /tmp/www --clients 64 --scale 0.05
  whyevents serve knot-c --root /tmp/www --port 8080 --threads 256
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


def _add_serve(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser(
        "serve", help="run a web server (" + ", ".join(SERVERS) + ")",
        description="Serve a document root over HTTP/1.1 until SIGINT/SIGTERM, then stop cleanly "
                    "and print the server's counters as JSON. Binds 127.0.0.1 by default.")
    serve.add_argument("server", choices=list(SERVERS), metavar="SERVER",
                       help="; ".join(f"{k}: {v[2]}" for k, v in SERVERS.items()))
    serve.add_argument("--root", required=True, metavar="DIR", help="document root")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    serve.add_argument("--port", type=int, default=8080, help="port (default %(default)s; 0: any)")
    serve.add_argument("--threads", type=int, default=None, metavar="N",
                       help="threads (Knot-C: accepting threads; SEDA: threads per stage); "
                            "default: the server's own")
    serve.add_argument("--poller", choices=["epoll", "poll"], default="epoll",
                       help="readiness mechanism (default %(default)s)")
    serve.add_argument("--scheduler", choices=["fifo", "pth"], default=None,
                       help="green-thread scheduler for Knot (default fifo)")
    serve.add_argument("--backend", default=None, metavar="NAME",
                       help="Knot: green (default) or kernel; SEDA: kernel; eventloop: event")
    serve.add_argument("--cache-bytes", type=int, default=64 << 20, metavar="B",
                       help="page-cache bound in bytes (default %(default)s)")
    serve.add_argument("--request-timeout", type=float, default=30.0, metavar="S",
                       help="seconds before a partial request gets 408 (default %(default)s)")
    serve.set_defaults(_run=_serve, _parser=serve)


def _serve(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from whyevents import serving

    module, fixed, _ = SERVERS[args.server]
    mod = importlib.import_module(module)
    kwargs = dict(fixed, root=args.root, host=args.host, port=args.port, threads=args.threads,
                  poller=args.poller, cache_bytes=args.cache_bytes,
                  request_timeout=args.request_timeout)
    if args.scheduler is not None:
        kwargs["scheduler"] = args.scheduler
    if args.backend is not None:
        kwargs["backend"] = args.backend
    try:
        return serving.serve_cli(mod.start, args.server, **kwargs)
    except (ValueError, OSError) as e:
        parser.error(str(e))
        return 2


def _add_fileset(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fileset", add_help=False,
                       help="build the SPECweb99-like file set (see 'whyevents fileset --help')")
    p.add_argument("argv", nargs=argparse.REMAINDER)
    p.set_defaults(_run=lambda a, _p: _fileset_main(a.argv), _parser=p)


def _fileset_main(argv: list[str]) -> int:
    from whyevents.http import fileset

    return fileset.main(argv)


def _unavailable(module: str, error: Exception):
    def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
        parser.error(f"cannot import {module}: {type(error).__name__}: {error}")
        return 2
    return run


def build_parser() -> argparse.ArgumentParser:
    """The whole command line (also used by the tests and by ``--help``)."""
    parser = argparse.ArgumentParser(
        prog="whyevents", description=DESCRIPTION,
        epilog=EPILOG.format(targets=", ".join(BENCH_TARGETS), servers=", ".join(SERVERS)),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"whyevents {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_bench(sub)
    _add_serve(sub)
    _add_fileset(sub)
    parser.set_defaults(_parser=parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point: ``whyevents ...``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["fileset"]:           # its own parser, so its --help is its own
        return _fileset_main(argv[1:])
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
