"""The command line: ``whyevents check PATH...`` (and ``python -m whyevents.analysis PATH...``).

Output: one line per finding (``file:line:col: error|warning: ...``, see ``check``), then a
summary line. ``--blocking`` lists every checked function that may block or is unknown, with
its chain; ``--primitives`` what the runtime's API and ``patch_all()``'s stdlib names come to;
``--graph`` the static blocking graph (``--dot`` as Graphviz); ``--live-state`` the locals live
across and pinned at each blocking call, with warnings where large state may be held
(``liveness``); ``--stack`` each function's stack bound (``stack``). Exit status: 0 clean, 1 an
atomic section may block (or calls something unresolved, with ``--strict``), 2 bad usage or path;
the live-state warnings and stack notes are advice and never change it.
"""

from __future__ import annotations

import argparse
import os
import sys

__all__ = ["add_arguments", "main", "run"]


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("paths", nargs="+", metavar="PATH", help="Python files or directories")
    ap.add_argument("--strict", action="store_true",
                    help="unresolved calls in atomic sections are errors too")
    ap.add_argument("--blocking", action="store_true",
                    help="list the checked functions that may block or are unknown, with chains")
    ap.add_argument("--primitives", action="store_true",
                    help="what the runtime's public API and patch_all()'s names come to")
    ap.add_argument("--graph", action="store_true", help="print the static blocking graph")
    ap.add_argument("--dot", action="store_true", help="with --graph: Graphviz DOT")
    ap.add_argument("--live-state", action="store_true",
                    help="locals live across / pinned at each blocking call; warn where large "
                         "state may be held")
    ap.add_argument("--warnings-only", action="store_true",
                    help="with --live-state: only the large-state warnings")
    ap.add_argument("--stack", action="store_true",
                    help="each function's stack bound (bytes, frames) or why it is unbounded")
    ap.add_argument("--unpatched", action="store_true",
                    help="analyse as running without monkey.patch_all() (stdlib names keep "
                         "their own meaning)")


def run(args: argparse.Namespace) -> int:
    from .check import run_check
    from .mayblock import BLOCKS, UNKNOWN, VERDICTS

    for path in args.paths:
        if not os.path.exists(path):
            print(f"whyevents check: {path}: no such file or directory", file=sys.stderr)
            return 2
    status, findings, summary, analysis = run_check(args.paths, args.strict, full=True,
                                                   patched=not args.unpatched)
    for f in findings:
        print(f.format())
    if args.blocking:
        for m in analysis.project.checked:
            for f in m.functions:
                v = analysis.verdict.get(f)
                if v in (BLOCKS, UNKNOWN):
                    print(f"{f.where}: {VERDICTS[v]}: {f.qualname}: "
                          + " -> ".join(analysis.chain(f)))
    if args.primitives:
        for name, v in sorted(analysis.primitives().items()):
            print(f"runtime {VERDICTS[v]}: {name}")
        for name, v in analysis.patched_primitives().items():
            print(f"patch_all {VERDICTS[v]}: {name}")
    if args.graph:
        from .graph import static_graph

        g = static_graph(analysis)
        if args.dot:
            print(g.relabel().to_dot("static_blocking_graph"), end="")
        else:
            for edge in sorted(g.relabel().edges):
                print(f"edge: {edge[0]} -> {edge[1]}")
    if args.live_state:
        from .liveness import format_points, live_state

        for line in format_points(live_state(analysis), notes=not args.warnings_only):
            print(line)
    if args.stack:
        from .stack import format_bounds, stack_bounds

        for line in format_bounds(stack_bounds(analysis)):
            print(line)
    print(f"checked {summary['modules']} modules, {summary['functions']} functions: "
          f"{summary['may_block']} may block, {summary['unknown']} unknown; "
          f"{summary['atomic_sections']} atomic sections: {summary['errors']} errors, "
          f"{summary['warnings']} warnings")
    return status


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="whyevents check",
        description="May-block analysis and atomic-section check (the paper's section 4).")
    add_arguments(ap)
    return run(ap.parse_args(argv))
