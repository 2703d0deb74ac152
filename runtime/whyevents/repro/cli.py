"""The ``whyevents`` command line.

One argparse subcommand per activity, one sub-subcommand per target, so adding a benchmark is one
entry in ``BENCH_TARGETS``: the module that implements it provides ``DESCRIPTION``, ``EPILOG``,
``add_arguments(parser)`` and ``main_from_args(args, parser) -> int``, and imports only the
standard library at module level (the frameworks it measures are imported in its worker
subprocesses), so building the whole parser stays fast. A target whose module fails to import is
still listed; running it reports the import error instead of breaking the other commands.

    whyevents bench {runtime,servers} [--quick|--full] ...
    whyevents bench yardstick [--tasks N] [--requests N1,N2] [--json PATH]
    whyevents serve {knot-c,knot-a,seda,eventloop} --root DIR [--port N] [--threads N] ...
    whyevents fileset --root DIR --clients N [--seed S] [--scale X]
    whyevents run {pipeline,scaling,web,compiler} [--profile quick|full] [-p KEY=VALUE ...]
                  [--resume [ID]] [--cluster ADDRESS]
    whyevents claims [--profile quick|full] [--run latest|ID] [--strict]
    whyevents margins [--profile quick|full] [--root DIR ...] [--since UTC] [--runs] [--out F]
    whyevents report [--profile quick|full] [--out paper/REPORT.md]
    whyevents compare [--profile quick|full] [--root DIR] [--against data/published] [--out F]
    whyevents check PATH... [--live-state] [--stack] [--graph]
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from whyevents import __version__
from whyevents.servers import SERVERS

#: ``whyevents bench TARGET``: target -> (module, one-line help).
BENCH_TARGETS: dict[str, tuple[str, str]] = {
    "runtime": ("whyevents.benchmarks.runtime",
                "green-thread runtime micro-benchmarks (yield, spawn, wake, memory, lock "
                "timeouts, file read, scaling) against gevent, asyncio, uvloop, trio, greenlet"),
    "servers": ("whyevents.benchmarks.servers",
                "web servers under wrk (8 KiB file, keep-alive): Knot and its twins against "
                "uvloop, asyncio, gevent and nginx; req/s and server CPU us/request"),
    "yardstick": ("whyevents.benchmarks.yardstick",
                  "the marginal cost of a pipeline task and a server request under cachegrind: "
                  "instructions, data refs, cache misses, est. cycles (needs valgrind)"),
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
  run EXPERIMENT  run an experiment sweep into data/results/ (pipeline, scaling, web, compiler)
  claims          check the paper's claims against stored results (verdicts and values)
  margins         each claim over every stored run: passes, values, distance to the threshold
  report          write paper/REPORT.md and paper/figures/ from stored results
  compare         this machine's latest runs against the published ones: same verdicts?
  check PATH...   section 4's static checks: atomic sections never block (exit 1 if one may),
                  live state at blocking points, stack bounds, the blocking graph

examples:
  whyevents bench runtime                  runtime vs peers, quick profile (< 2 minutes)
  whyevents bench runtime --full --skip million
  whyevents bench runtime --help           the benchmark's options and operations
  whyevents fileset --root /tmp/www --clients 64 --scale 0.05
  whyevents serve knot-c --root /tmp/www --port 8080 --threads 256
  whyevents run pipeline                   Figure 2, quick profile (about 2 minutes)
  whyevents run web --profile full -p clients=1024,4096 --resume
  whyevents run scaling --cluster local:2  the points on a Dask cluster (here: two workers)
  whyevents claims                         verdicts of the latest quick runs
  whyevents margins --root data/results --root data/published --since 2026-12-05
  whyevents compare --profile full         the latest full runs here against the published
  whyevents check runtime/whyevents/knot   may-block analysis and atomic sections of Knot
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
                       help="; ".join(f"{k}: {v.help}" for k, v in SERVERS.items()))
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
    from whyevents import server_common

    server = SERVERS[args.server]
    kwargs = dict(server.fixed, root=args.root, host=args.host, port=args.port,
                  threads=args.threads, poller=args.poller, cache_bytes=args.cache_bytes,
                  request_timeout=args.request_timeout)
    if args.scheduler is not None:
        kwargs["scheduler"] = args.scheduler
    if args.backend is not None:
        kwargs["backend"] = args.backend
    try:
        start = importlib.import_module(server.module).start
        return server_common.serve_cli(start, args.server, **kwargs)
    except (ValueError, OSError) as e:
        parser.error(str(e))
        return 2


def _add_fileset(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fileset", add_help=False,
                       help="build the SPECweb99-like file set (see 'whyevents fileset --help')")
    p.add_argument("argv", nargs=argparse.REMAINDER)
    p.set_defaults(_run=lambda a, _p: _fileset_main(a.argv), _parser=p)


def _add_check(sub: argparse._SubParsersAction) -> None:
    from whyevents.analysis import cli as check_cli

    p = sub.add_parser("check", help="may-block analysis, atomic sections, static blocking graph",
                       description=check_cli.__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    check_cli.add_arguments(p)
    p.set_defaults(_run=lambda a, _p: check_cli.run(a), _parser=p)


def _fileset_main(argv: list[str]) -> int:
    from whyevents.http import fileset

    return fileset.main(argv)


def _add_run(sub: argparse._SubParsersAction) -> None:
    from whyevents.repro import runner

    run = sub.add_parser(
        "run", help="run an experiment sweep (" + ", ".join(runner.EXPERIMENTS) + ")",
        description="Run one experiment's sweep and store every point, as it finishes, under "
                    "data/results/<experiment>/<run-id>/ with provenance.json. Ctrl-C keeps "
                    "the points measured; --resume continues the run.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    targets = run.add_subparsers(dest="experiment", metavar="EXPERIMENT")
    for name in runner.EXPERIMENTS:
        try:
            mod = runner.load(name)
        except Exception as e:  # noqa: BLE001 - reported when the experiment is used
            p = targets.add_parser(name, help=f"[unavailable: {e}]")
            p.set_defaults(_run=_unavailable(runner.EXPERIMENTS[name], e), _parser=p)
            continue
        p = targets.add_parser(
            name, help=mod.DESCRIPTION.strip().splitlines()[0],
            description=mod.DESCRIPTION,
            epilog="parameters (-p KEY=VALUE; lists as 1,2,3) [quick default (full)]:\n"
                   + runner.describe(mod),
            formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--profile", choices=runner.PROFILE_NAMES, default="quick",
                       help="parameter set: quick (minutes, what CI runs) or full (the "
                            "paper's range); default %(default)s")
        p.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                       help="override one parameter (repeatable)")
        p.add_argument("--resume", nargs="?", const="latest", default=None, metavar="RUN_ID",
                       help="continue a run (default: the latest), skipping stored points")
        p.add_argument("--root", type=Path, default=None,
                       help="results root (default data/results)")
        p.add_argument("--no-progress", action="store_true", help="no progress bar")
        p.add_argument("--cluster", default=None, metavar="ADDRESS",
                       help="measure the points on a Dask cluster (tcp://host:8786; 'local' or "
                            "'local:N' starts one here), one point per machine at a time; "
                            "workers: dask worker ADDRESS --nthreads 1 --resources machine=1 "
                            "(needs the [cluster] extra)")
        p.set_defaults(_run=_run_experiment, _parser=p)
    run.set_defaults(_parser=run)


def _run_experiment(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from whyevents.repro import runner, store

    try:
        overrides = runner.parse_overrides(args.param)
        result = runner.run_experiment(
            args.experiment, args.profile, overrides,
            resume=False if args.resume is None else
            (True if args.resume == "latest" else args.resume),
            progress=not args.no_progress, root=args.root, cluster=args.cluster)
    except (ValueError, store.RunNotFound) as e:
        parser.error(str(e))
        return 2
    rows = result.rows()
    bad = [r for r in rows if r.get("status", "ok") != "ok"]
    print(f"{args.experiment} ({args.profile}): {len(rows)} rows in {result.dir}"
          + (f"; {len(bad)} not ok ({', '.join(sorted({str(r.get('status')) for r in bad}))})"
             if bad else ""))
    if result.status == "interrupted":
        print(f"run {result.run_id} is interrupted: points cut short from outside are not done; "
              f"--resume {result.run_id} measures them again")
    return 0


def _add_claims(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "claims", help="check the paper's claims against stored results",
        description="Evaluate every claim in paper/claims.yaml from stored results only (no "
                    "measuring) and print one line per claim with its measured value. Exit "
                    "status 1 when a claim fails or its data is missing.")
    p.add_argument("--profile", choices=("quick", "full"), default="quick",
                   help="which runs and tolerances (default %(default)s)")
    p.add_argument("--run", default="latest", metavar="latest|RUN_ID",
                   help="run to use for every experiment (default: each one's latest)")
    p.add_argument("--root", type=Path, default=None, help="results root (default data/results)")
    p.add_argument("--strict", action="store_true", help="error out on missing data")
    p.set_defaults(_run=_claims_cmd, _parser=p)


def _claims_cmd(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from whyevents.repro import claims
    from whyevents.repro.report import format_value

    try:
        verdicts = claims.evaluate_all(args.profile, args.run, root=args.root,
                                       strict=args.strict)
    except (claims.MissingData, ValueError) as e:
        parser.error(str(e))
        return 2
    diverging = {c.id for c in claims.load_claims() if c.divergence}
    for v in verdicts:
        extra = "" if v.value is None else \
            f"   (measured {format_value(v.value)}, 95% interval " \
            f"{claims.format_interval(v)}, threshold {format_value(v.threshold)}, " \
            f"run {v.run_id})"
        note = " [known divergence: see paper/claims.yaml]" if v.id in diverging else ""
        print(f"{v.message}{extra}{note}")
    passed = sum(v.passed for v in verdicts)
    unexpected = [v.id for v in verdicts if not v.passed and v.id not in diverging]
    print(f"{passed}/{len(verdicts)} claims pass ({args.profile} profile)"
          + (f"; {len(verdicts) - passed - len(unexpected)} of the others are known divergences"
             if len(verdicts) - passed > len(unexpected) else ""))
    return 0 if not unexpected else 1


def _add_margins(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "margins", help="each claim over every stored run: passes, values, smallest margin",
        description="Evaluate every claim of a profile on every complete stored run of its "
                    "experiment and print, per claim, how many runs passed, the measured values "
                    "and the smallest margin (relative distance from the threshold, tolerance "
                    "included, in the passing direction: negative fails), and how many machines "
                    "(CPU model and kernel release) the runs come from. Nothing is measured. "
                    "Exit status 1 when a claim that is not a known divergence failed in any run.")
    p.add_argument("--profile", choices=("quick", "full"), default="quick",
                   help="which runs and tolerances (default %(default)s)")
    p.add_argument("--root", type=Path, action="append", default=None, metavar="DIR",
                   help="a results root; repeat for several (default data/results)")
    p.add_argument("--since", default=None, metavar="UTC",
                   help="only runs started at or after this time (ISO 8601, e.g. 2026-12-05 "
                        "or 2026-12-05T19:00)")
    p.add_argument("--claim", action="append", default=None, metavar="ID",
                   help="only this claim; repeat for several")
    p.add_argument("--runs", action="store_true",
                   help="also list every run's value and machine per claim")
    p.add_argument("--out", type=Path, default=None, help="also write the tables (Markdown) here")
    p.set_defaults(_run=_margins_cmd, _parser=p)


def _margins_cmd(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from whyevents.repro import margins

    since = args.since
    if since is not None:
        import datetime as _dt
        try:
            _dt.datetime.fromisoformat(since)
        except ValueError:
            parser.error(f"--since: {since!r} is not an ISO 8601 time (e.g. 2026-12-05T19:00)")
            return 2
        since = since.replace(" ", "T")
    roots = args.root or [None]
    missing = [str(r) for r in roots if r is not None and not r.is_dir()]
    if missing:
        parser.error(f"--root: no such directory: {', '.join(missing)}")
        return 2
    try:
        measured = margins.collect(args.profile, roots, since=since, claim_ids=args.claim)
    except ValueError as e:
        parser.error(str(e))
        return 2
    if args.claim:
        from whyevents.repro import claims
        known = {c.id for c in claims.load_claims()}
        unknown = sorted(set(args.claim) - known)
        if unknown:
            parser.error(f"--claim: no claim {', '.join(unknown)} in paper/claims.yaml")
            return 2
    summary = margins.summarize(measured)
    if not summary:
        print(f"no complete {args.profile} runs under {', '.join(map(str, roots))}"
              + (f" since {since}" if since else ""))
        return 1
    text = margins.format_table(summary, measured if args.runs else None)
    print(text, end="")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(f"# Claim margins, {args.profile} profile\n\n" + text)
        print(f"wrote {args.out}")
    bad = [r["claim"] for r in summary if r["passed"] < r["runs"] and not r["divergence"]]
    if bad:
        print(f"failed in at least one run: {', '.join(bad)}")
    return 1 if bad else 0


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report", help="write paper/REPORT.md and paper/figures/ from stored results",
        description="Evaluate every claim on the latest stored runs of a profile, draw the "
                    "figures and write the Markdown report (nothing is measured); with the "
                    "default --out, also paper/ARTIFACT.md (the artifact appendix, from the "
                    "published runs).")
    p.add_argument("--profile", choices=("quick", "full"), default="quick",
                   help="which runs and tolerances (default %(default)s)")
    p.add_argument("--out", type=Path, default=None, help="report path (default paper/REPORT.md)")
    p.add_argument("--root", type=Path, default=None, help="results root (default data/results)")
    p.add_argument("--no-figures", action="store_true", help="skip drawing the figures")
    p.set_defaults(_run=_report_cmd, _parser=p)


def _report_cmd(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from whyevents.repro.report import write_report

    path, verdicts = write_report(args.profile, out=args.out, root=args.root,
                                  draw=not args.no_figures)
    passed = sum(v.passed for v in verdicts)
    print(f"wrote {path}: {passed}/{len(verdicts)} claims pass ({args.profile} profile)")
    if args.out is None:
        from whyevents.repro import paths
        print(f"wrote {paths.PAPER / 'ARTIFACT.md'}: the artifact appendix, from data/published")
    return 0


def _add_compare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare", help="this machine's latest runs against the published ones: same verdicts?",
        description="Decide every claim of a profile on the latest stored runs here and on the "
                    "published ones (nothing is measured) and print, per claim, both verdicts "
                    "and values, whether they agree, how far apart the values are in units of "
                    "the claim's tolerance, and intervals where the claims give them. Exit "
                    "status 0 when every verdict agrees, 1 otherwise.")
    p.add_argument("--profile", choices=("quick", "full"), default="quick",
                   help="which runs and tolerances (default %(default)s)")
    p.add_argument("--root", type=Path, default=None,
                   help="one's own results root (default data/results)")
    p.add_argument("--against", type=Path, default=None, metavar="DIR",
                   help="the results root to compare with (default data/published)")
    p.add_argument("--out", type=Path, default=None, metavar="FILE.md",
                   help="also write the comparison (Markdown) here")
    p.set_defaults(_run=_compare_cmd, _parser=p)


def _compare_cmd(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from whyevents.repro import compare, paths

    against = args.against if args.against is not None else paths.PUBLISHED
    root = args.root if args.root is not None else paths.RESULTS
    if not Path(against).is_dir():
        parser.error(f"--against: no such directory: {against}")
        return 2
    rows = compare.compare(args.profile, root=args.root, against=against)
    text = compare.format_markdown(rows, args.profile, "here", "published")
    print(f"comparing {root} with {against}")
    print(text, end="")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(f"# This machine against the published runs, {args.profile} "
                            f"profile\n\nHere: `{root}`; published: `{against}`.\n\n" + text)
        print(f"wrote {args.out}")
    return 0 if compare.agreed(rows) else 1


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
    _add_run(sub)
    _add_claims(sub)
    _add_margins(sub)
    _add_report(sub)
    _add_compare(sub)
    _add_check(sub)
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
