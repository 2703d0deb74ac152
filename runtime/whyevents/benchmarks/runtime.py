"""``whyevents bench runtime``: the runtime's micro-benchmarks against its peers, in one run.

Why this shape:

* **Every measurement runs in a subprocess** that imports only the framework it measures (gevent's
  hub and monkey state, uvloop's policy, trio's run state and each allocator's high-water mark stay
  in that process). Light timing operations (yield, spawn, wake, read) share one process per
  (implementation, repetition); memory and scale operations get a fresh process each, because an
  RSS delta means nothing in a heap that has already grown.
* **Configurations are interleaved**: repetition 1 runs every implementation, then repetition 2
  runs them all again in a rotated order, and so on (A B C A B C ...), so that the machine's drift
  (large on shared 2-vCPU machines) spreads over all of them
  instead of favouring whichever ran in a quiet minute. Results are medians with the spread (min-max
  and the inter-quartile range) of every trial; a difference inside those spreads is noise.
* **Workers are pinned to one core** (``os.sched_setaffinity``) when the machine has more than one,
  so a green-thread switch is never a migration; the parent (progress bar, bookkeeping) keeps the
  others. The pinning is recorded in the provenance.
* **Nothing asserts a time.** Each operation has the target the runtime aims at; the report says
  per row whether whyevents meets it and how it compares with the best peer measured in the same
  run, and the command exits 0 either way.

Raw greenlet is a floor, not a peer: it shows what the substrate costs with no scheduler at all, so
it is shown but never counts as "the best peer".

The pieces: ``runtime_ops`` (the operations, their targets and sizes: a table),
``runtime_workloads`` (whyevents' workloads and the drivers every implementation shares),
``runtime_worker`` (the subprocess protocol), ``peers_<name>`` (each peer's workloads); this
module plans the jobs, runs them, aggregates, reports and holds the command line.
"""


from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter

from whyevents.harness import args as _args
from whyevents.harness import progress as _progress
from whyevents.harness import provenance as _provenance
from whyevents.harness.procs import pick_cpu
from whyevents.harness.stats import fmt, median_of, summary

from .overhead import format_counts
from .results import default_json_path, write_json
from .runtime_ops import (
    FRAMEWORK_PEERS,
    IMPLS,
    NEEDS,
    OPERATIONS,
    PEERS,
    PROFILES,
    SHORT,
    Operation,
    how,
    op_params,
    title,
)

__all__ = [
    "OPERATIONS", "IMPLS", "PEERS", "Config", "run_benchmark", "format_table", "add_arguments",
    "main_from_args", "config_from_args", "plan_jobs", "run_job", "aggregate", "op_params",
]


# ---------------------------------------------------------------------------------------------
# The parent: plan, run, aggregate, report
# ---------------------------------------------------------------------------------------------

@dataclass
class Config:
    """What ``whyevents bench runtime`` was asked to do."""

    profile: str = "quick"
    ops: list[str] = field(default_factory=lambda: list(OPERATIONS))
    peers: list[str] = field(default_factory=lambda: list(PEERS))
    repeat: int | None = None
    scale: float = 1.0
    json_path: Path | None = None
    pin: bool = True
    progress: bool = True
    job_timeout: float | None = None
    counts: bool = True

    @property
    def repetitions(self) -> int:
        return self.repeat if self.repeat is not None else PROFILES[self.profile]["repeat"]


def _available(impl: str) -> bool:
    mod = NEEDS.get(impl)
    return mod is None or importlib.util.find_spec(mod) is not None


def plan_jobs(cfg: Config, impls: Sequence[str], params: dict) -> list[dict]:
    """Interleaved jobs: for each repetition, every implementation (order rotated per rep)."""
    light = [k for k in cfg.ops if OPERATIONS[k].light]
    heavy = [k for k in cfg.ops if not OPERATIONS[k].light]
    jobs = []
    for rep in range(cfg.repetitions):
        order = list(impls[rep % len(impls):]) + list(impls[:rep % len(impls)])
        for impl in order:
            ops = [k for k in light if impl in OPERATIONS[k].impls]
            if ops:
                jobs.append({"impl": impl, "ops": ops, "rep": rep})
        for k in heavy:
            op = OPERATIONS[k]
            if op.max_repeat is not None and rep >= op.max_repeat:
                continue
            for impl in order:
                if impl in op.impls:
                    jobs.append({"impl": impl, "ops": [k], "rep": rep})
    for j in jobs:
        j["params"] = {k: params[k] for k in j["ops"]}
    return jobs


def run_job(job: dict, cpu: int | None, workdir: Path, timeout: float) -> dict:
    """Run one worker subprocess; returns ``{op: result, "_meta": {...}}`` (results written
    before a crash or timeout survive it)."""
    out = workdir / f"job-{job['impl']}-{'+'.join(job['ops'])}-{job['rep']}.json"
    spec = {"impl": job["impl"], "ops": job["ops"], "params": job["params"], "out": str(out),
            "cpu": cpu}
    cmd = [sys.executable, "-c",
           "from whyevents.benchmarks.runtime_worker import main; main()", json.dumps(spec)]
    problem = None
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            problem = (f"worker exited with status {proc.returncode}: "
                       f"{proc.stderr.strip()[-1500:]}")
    except subprocess.TimeoutExpired:
        problem = f"worker timed out after {timeout:.0f} s"
    results = {}
    if out.exists():
        with open(out) as f:
            results = json.load(f)
    meta = results.pop("_meta", {})
    if problem:
        meta["problem"] = problem
    results["_meta"] = meta
    for op in job["ops"]:
        if op not in results:
            results[op] = {"status": "error", "reason": problem or "worker wrote no result"}
    return results


def run_counts_job(workdir: Path, timeout: float) -> dict:
    """The call counts and saved-stack bytes (``overhead.run_counts``) in a subprocess of their
    own (deterministic counts, not timings: nothing to interleave)."""
    out = workdir / "counts.json"
    cmd = [sys.executable, "-m", "whyevents.benchmarks.overhead", "--json", str(out)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": "error", "reason": f"timed out after {timeout:.0f} s"}
    if proc.returncode != 0 or not out.exists():
        return {"status": "error",
                "reason": f"exit status {proc.returncode}: {proc.stderr.strip()[-1500:]}"}
    with open(out) as f:
        counts = json.load(f)
    counts["status"] = "ok"
    return counts


def _meets(op: Operation, value: float | None) -> bool | None:
    if op.target is None or value is None:
        return None
    return value <= op.target if op.better == "lower" else value >= op.target


def aggregate(cfg: Config, impls: Sequence[str], skipped: dict, params: dict,
              job_results: list[tuple[dict, dict]]) -> tuple[list[dict], list[dict]]:
    """Rows per (operation, implementation) and a verdict per operation."""
    acc: dict[tuple[str, str], dict] = {}
    for job, res in job_results:
        for k in job["ops"]:
            a = acc.setdefault((k, job["impl"]), {"samples": [], "rep_medians": [],
                                                  "extras": [], "statuses": [], "reasons": []})
            r = res.get(k, {})
            a["statuses"].append(r.get("status", "error"))
            if r.get("status") == "ok" and r.get("samples"):
                a["samples"].extend(r["samples"])
                a["rep_medians"].append(statistics.median(r["samples"]))
                a["extras"].append(r.get("extra", {}))
            elif r.get("reason"):
                a["reasons"].append(r["reason"])
    rows = []
    for k in cfg.ops:
        op = OPERATIONS[k]
        for impl in IMPLS:
            if impl not in op.impls:
                continue
            row = {"operation": k, "implementation": impl, "title": title(op, params[k]),
                   "unit": op.unit, "better": op.better, "target": op.target}
            if impl in skipped:
                row.update(status="skipped", reason=skipped[impl], **summary([]))
            elif impl not in impls:
                continue
            else:
                a = acc.get((k, impl))
                if a is None:
                    continue
                st = summary(a["samples"])
                if st["n"]:
                    status = "ok" if all(s == "ok" for s in a["statuses"]) else "partial"
                elif "n/a" in a["statuses"]:
                    status = "n/a"
                else:
                    status = "error"
                row.update(status=status, **st, rep_medians=a["rep_medians"],
                           samples=a["samples"], extra=a["extras"])
                if a["reasons"]:
                    row["reason"] = a["reasons"][0]
            row["target_met"] = _meets(op, row["median"])
            rows.append(row)
    verdicts = [_verdict(OPERATIONS[k], [r for r in rows if r["operation"] == k])
                for k in cfg.ops]
    return rows, verdicts


def _verdict(op: Operation, rows: list[dict]) -> dict:
    by = {r["implementation"]: r for r in rows}
    we = by.get("whyevents", {})
    v = {"operation": op.key, "target": op.target, "better": op.better,
         "whyevents": we.get("median"), "status": we.get("status"),
         "target_met": we.get("target_met")}
    peers = [r for r in rows if r["implementation"] in FRAMEWORK_PEERS
             and r.get("median") is not None]
    if peers:
        pick = min if op.better == "lower" else max
        best = pick(peers, key=lambda r: r["median"])
        v["best_peer"] = best["implementation"]
        v["best_peer_median"] = best["median"]
        if we.get("median") and best["median"]:
            v["ratio_vs_best_peer"] = we["median"] / best["median"]
            # > 1 means whyevents is better by that factor, < 1 worse
            v["advantage_vs_best_peer"] = (best["median"] / we["median"] if op.better == "lower"
                                           else we["median"] / best["median"])
    floor = by.get("greenlet")
    if floor and floor.get("median") and we.get("median"):
        v["ratio_vs_raw_greenlet"] = we["median"] / floor["median"]
    return v


def _cell(row: dict | None) -> str:
    if row is None:
        return ""
    st = row["status"]
    if st == "skipped":
        return "skipped"
    if st == "n/a":
        return "n/a (module missing)"
    if row.get("median") is None:
        return st
    cell = fmt(row["median"])
    if row["n"] > 1:
        cell += f" [{fmt(row['p25'])}-{fmt(row['p75'])}]"
    if st == "partial":
        cell += " partial"
    return cell


def _verdict_text(v: dict) -> str:
    if v.get("status") == "n/a":
        text = "n/a"
    elif v.get("target") is None:
        text = "no target"
    elif v.get("target_met") is None:
        text = "not measured"
    else:
        text = "MET" if v["target_met"] else "MISSED"
    adv = v.get("advantage_vs_best_peer")
    if adv is not None:
        if 1 / 1.15 < adv < 1.15:
            text += f"; on par with {v['best_peer']} ({adv:.2f}x, within noise)"
        elif adv >= 1:
            text += f"; {adv:.2g}x better than {v['best_peer']}"
        else:
            text += f"; {1 / adv:.2g}x worse than {v['best_peer']}"
    return text


def format_table(result: dict) -> str:
    """The human report: one line per operation, medians (min-max), target verdict."""
    rows, verdicts = result["rows"], {v["operation"]: v for v in result["verdicts"]}
    impls = ["whyevents"] + [p for p in PEERS if p in result["parameters"]["peers"]]
    header = ["operation", "unit", "target", *impls, "verdict (whyevents)"]
    lines = []
    for k in result["parameters"]["ops"]:
        op_rows = {r["implementation"]: r for r in rows if r["operation"] == k}
        if not op_rows:
            continue
        any_row = next(iter(op_rows.values()))
        lines.append([any_row["title"], OPERATIONS[k].unit, OPERATIONS[k].target_text,
                      *[_cell(op_rows.get(i)) for i in impls], _verdict_text(verdicts[k])])
    widths = [max(len(str(c)) for c in col) for col in zip(header, *lines, strict=True)]
    widths[0] = min(widths[0], 66)

    def fmt_line(cells):
        out = []
        for i, c in enumerate(cells):
            c = str(c)
            if i == 0 and len(c) > widths[0]:
                c = c[: widths[0] - 1] + "~"
            out.append(c.ljust(widths[i]))
        return " | ".join(out).rstrip()

    text = [fmt_line(header), "-+-".join("-" * w for w in widths)]
    text += [fmt_line(line) for line in lines]
    text.append("")
    text.append("cells: median [inter-quartile range] over all trials of all repetitions "
                "(min-max in the JSON); raw greenlet is a floor (no scheduler), never the "
                "'best peer'; differences under ~15% are noise on this kind of machine.")
    counts = result.get("counts")
    if counts is not None:
        text.append("")
        if counts.get("status") == "ok":
            text += format_counts(counts)
        else:
            text.append(f"call counts: {counts.get('status')}: {counts.get('reason', '')}")
    text += _notes(result)
    return "\n".join(text)


def _span(extras: list[dict], small: str, large: str) -> str:
    """``median(small) -> median(large)`` over the repetitions' extras."""
    return f"{fmt(median_of(extras, small))} -> {fmt(median_of(extras, large))}"


def _note_million(impl: str, extras: list[dict]) -> str | None:
    e = extras[0]
    if "n" not in e:
        return None
    if e.get("extrapolated"):
        return (f"million: EXTRAPOLATED from {e['n']:,} parked threads "
                f"({e['bytes_per_thread']:.0f} B/thread + {e['rss_before'] / 2**20:.0f} MiB "
                "baseline); --full measures a real 1,000,000")
    return (f"million: measured with {e['n']:,} parked threads, park {e['park_s']:.1f} s, "
            f"wake all {e['wake_all_s']:.1f} s")


def _note_pth(impl: str, extras: list[dict]) -> str | None:
    if "fifo_ratio" not in extras[0]:
        return None
    pth = _span(extras, "pth_small_yields_per_s", "pth_large_yields_per_s")
    return (f"pth: scheduler='pth' {pth} yields/s; scheduler='fifo' "
            f"{_span(extras, 'fifo_small_yields_per_s', 'fifo_large_yields_per_s')} "
            f"(ratio {fmt(median_of(extras, 'fifo_ratio'))})")


def _note_read(impl: str, extras: list[dict]) -> str | None:
    e = extras[0]
    if impl != "whyevents" or "floor" not in e:
        return None
    return f"read: whyevents uses {e.get('api')}; syscall floor " + ", ".join(
        f"{k} {v:.2f} us" for k, v in e["floor"].items())


def _note_timeouts(impl: str, extras: list[dict]) -> str | None:
    if median_of(extras, "small_cpu_us_per_waiter") is None:
        return None
    late = any(x.get("large_late") for x in extras)
    return (f"timeouts/{impl}: CPU us per waiter "
            f"{_span(extras, 'small_cpu_us_per_waiter', 'large_cpu_us_per_waiter')} (spawn+park "
            f"{_span(extras, 'small_park_cpu_us', 'large_park_cpu_us')}, expire+drain "
            f"{_span(extras, 'small_expire_cpu_us', 'large_expire_cpu_us')})"
            + (" (some waiters expired before all had parked)" if late else ""))


def _note_yield_scale(impl: str, extras: list[dict]) -> str | None:
    if median_of(extras, "small_yields_per_s") is None:
        return None
    return (f"yield-scale/{impl}: {_span(extras, 'small_yields_per_s', 'large_yields_per_s')} "
            "yields/s")


#: operation -> the note under the table that says what its ratio is made of
_NOTE_WRITERS = {"million": _note_million, "pth": _note_pth, "read": _note_read,
                 "timeouts": _note_timeouts, "yield-scale": _note_yield_scale}


def _notes(result: dict) -> list[str]:
    """The lines under the table: pinning, why a cell is empty, what a ratio is made of."""
    notes = []
    prov = result["provenance"]
    pin = result["parameters"].get("pinned_cpu")
    notes.append(f"workers pinned to CPU {pin}" if pin is not None
                 else "workers not pinned (one CPU allowed, or --no-pin)")
    for r in result["rows"]:
        if r["status"] in ("skipped", "n/a", "error", "partial") and r.get("reason"):
            notes.append(f"{r['operation']}/{r['implementation']}: {r['status']}: "
                         f"{r['reason'].strip().splitlines()[-1][:200]}")
    for r in result["rows"]:
        extras = r.get("extra") or []
        writer = _NOTE_WRITERS.get(r["operation"])
        note = writer(r["implementation"], extras) if extras and writer else None
        if note:
            notes.append(note)
    notes.append(f"commit {prov.get('git_commit') or 'unknown'}"
                 f"{' (dirty)' if prov.get('git_dirty') else ''}, Python {prov['python']}, "
                 f"{prov['cpu_model']}, {prov['kernel'].split(' #')[0]}")
    return ["notes:"] + [f"  - {n}" for n in notes]


def run_benchmark(cfg: Config) -> dict:
    """Run every requested operation for whyevents and each peer; returns the result dict and
    writes it (after every job, so an interrupted run keeps what it measured)."""
    skipped = {p: f"{NEEDS[p]} is not installed" for p in cfg.peers if not _available(p)}
    impls = ["whyevents"] + [p for p in PEERS if p in cfg.peers and p not in skipped]
    params = {k: op_params(k, cfg.profile, cfg.scale) for k in cfg.ops}
    cpu = pick_cpu() if cfg.pin else None
    jobs = plan_jobs(cfg, impls, params)
    timeout = cfg.job_timeout or PROFILES[cfg.profile]["job_timeout"]
    json_path = cfg.json_path or default_json_path("bench-runtime")
    parameters = {"profile": cfg.profile, "ops": cfg.ops, "peers": cfg.peers,
                  "repeat": cfg.repetitions, "scale": cfg.scale, "pinned_cpu": cpu,
                  "pin_requested": cfg.pin, "job_timeout_s": timeout, "jobs": len(jobs),
                  "op_parameters": params, "gc": "enabled (collected before each trial)",
                  "counts": cfg.counts}
    result = {"schema": "whyevents.bench.runtime/1", "complete": False,
              "provenance": _provenance.benchmark(parameters), "parameters": parameters,
              "operations": {k: {"title": title(OPERATIONS[k], params[k]),
                                 "unit": OPERATIONS[k].unit, "target": OPERATIONS[k].target,
                                 "better": OPERATIONS[k].better,
                                 "how": how(OPERATIONS[k], params[k])}
                             for k in cfg.ops},
              "jobs": [], "rows": [], "verdicts": []}
    bar = _progress.bar(len(jobs), cfg.progress)
    done: list[tuple[dict, dict]] = []
    t_start = perf_counter()
    with tempfile.TemporaryDirectory(prefix="whyevents-bench-") as tmp:
        if cfg.counts:
            bar.set_description("call counts")
            result["counts"] = run_counts_job(Path(tmp), timeout)
            write_json(json_path, result)
        for job in jobs:
            label = f"{job['impl']} {'+'.join(job['ops'])} rep {job['rep'] + 1}"
            bar.set_description(label)
            t0 = perf_counter()
            res = run_job(job, cpu, Path(tmp), timeout)
            meta = res.pop("_meta", {})
            done.append((job, res))
            result["jobs"].append({"impl": job["impl"], "ops": job["ops"], "rep": job["rep"],
                                   "seconds": round(perf_counter() - t0, 3),
                                   "worker_affinity": meta.get("affinity"),
                                   "problem": meta.get("problem"),
                                   "statuses": {k: v.get("status") for k, v in res.items()}})
            result["rows"], result["verdicts"] = aggregate(cfg, impls, skipped, params, done)
            write_json(json_path, result)
            bar.update(1)
    bar.close()
    result["complete"] = True
    result["provenance"]["elapsed_s"] = round(perf_counter() - t_start, 1)
    result["provenance"]["time_end_utc"] = _dt.datetime.now(_dt.UTC).isoformat(
        timespec="seconds")
    result["provenance"]["loadavg_end"] = os.getloadavg()
    result["json_path"] = str(json_path)
    write_json(json_path, result)
    with open(json_path.parent / "table.txt", "w") as f:
        f.write(format_table(result) + "\n")
    return result


# ---------------------------------------------------------------------------------------------
# Command line (``whyevents bench runtime``; the parser lives in whyevents.repro.cli)
# ---------------------------------------------------------------------------------------------

_OP_HELP = "\n".join(f"  {k:<12} {SHORT[k]}" for k in OPERATIONS)

DESCRIPTION = f"""\
Micro-benchmarks of the green-thread runtime (whyevents.threads) against gevent, asyncio,
uvloop, trio and raw greenlet, measured in the same run: every implementation in its own
subprocess pinned to one core, repetitions interleaved (A B A B ...), medians with IQR.
Prints a table with a target verdict per row and, under it, the call counts (Python calls per
pipeline task and per Knot keep-alive request, greenlet's saved stack per parked thread:
deterministic, from whyevents.benchmarks.overhead, which tests/test_overhead.py bounds), and
writes JSON with provenance. Never fails on a missed target: the exit status is 0 unless a
whyevents worker crashed.

operations (--only / --skip):
{_OP_HELP}
"""

EPILOG = """\
examples:
  whyevents bench runtime                              quick profile, < 2 minutes
  whyevents bench runtime --only yield,spawn --repeat 1
  whyevents bench runtime --full --skip million       the table's N, without 1M threads
  whyevents bench runtime --peers gevent,trio --json /tmp/r.json
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``whyevents bench runtime``."""
    prof = p.add_mutually_exclusive_group()
    prof.add_argument("--quick", dest="profile", action="store_const", const="quick",
                      help="small N, 3 repetitions, < 2 minutes (the default)")
    prof.add_argument("--full", dest="profile", action="store_const", const="full",
                      help="the table's N (100,000 threads, 80,000 waiters, 1,000,000 parked "
                           "threads), 5 repetitions: ~17 minutes on 2 vCPUs; the million row "
                           "alone needs ~7 GiB and ~40 s")
    p.set_defaults(profile="quick")
    ops = ",".join(OPERATIONS)
    op_list = _args.csv_choice("operation", list(OPERATIONS))
    p.add_argument("--only", metavar="OP[,OP]", type=op_list,
                   help=f"run only these operations (of {ops})")
    p.add_argument("--skip", metavar="OP[,OP]", type=op_list,
                   default=[], help="leave these operations out")
    p.add_argument("--peers", metavar="PEER[,PEER]",
                   type=_args.csv_choice("peer", list(PEERS), allow_none=True), default=list(PEERS),
                   help=f"peers to measure beside whyevents (default: {','.join(PEERS)}; "
                        "'none' for whyevents alone); peers not installed are skipped with a "
                        "note")
    p.add_argument("--repeat", metavar="K", type=_args.positive_int("--repeat"),
                   help="repetitions per configuration (default: 3 quick, 5 full)")
    p.add_argument("--scale", metavar="F", type=_args.positive_float("--scale"), default=1.0,
                   help="multiply every N by F (e.g. 0.01 for a smoke test); default 1")
    p.add_argument("--json", metavar="PATH", type=Path, dest="json_path",
                   help="where to write the results (default: "
                        "data/results/bench-runtime/<timestamp>/results.json)")
    p.add_argument("--no-pin", dest="pin", action="store_false",
                   help="do not pin the benchmark subprocesses to one core")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bar on stderr")
    p.add_argument("--no-counts", dest="counts", action="store_false",
                   help="leave out the call counts (Python calls per pipeline task and per Knot "
                        "keep-alive request, saved-stack bytes per parked thread: "
                        "whyevents.benchmarks.overhead, a few seconds)")
    p.add_argument("--job-timeout", metavar="SECONDS", type=_args.positive_float("--job-timeout"),
                   help="kill a worker after this long (default: 240 quick, 1200 full)")


def config_from_args(args: argparse.Namespace) -> Config:
    wanted = set(args.only) if args.only else set(OPERATIONS)
    ops = [k for k in OPERATIONS if k in wanted and k not in (args.skip or [])]   # table order
    return Config(profile=args.profile, ops=ops, peers=list(args.peers), repeat=args.repeat,
                  scale=args.scale, json_path=args.json_path, pin=args.pin,
                  progress=args.progress, job_timeout=args.job_timeout,
                  counts=getattr(args, "counts", True))


def main_from_args(args: argparse.Namespace, parser: argparse.ArgumentParser | None = None) -> int:
    """Run ``whyevents bench runtime`` with parsed arguments; print the table; exit status."""
    cfg = config_from_args(args)
    if not cfg.ops:
        msg = "argument --skip: nothing left to run"
        if parser is not None:
            parser.error(msg)
        print(msg, file=sys.stderr)
        return 2
    if cfg.json_path is not None and cfg.json_path.exists() and cfg.json_path.is_dir():
        msg = f"argument --json: {cfg.json_path} is a directory; give a file path"
        if parser is not None:
            parser.error(msg)
        print(msg, file=sys.stderr)
        return 2
    if cfg.profile == "full" and "million" in cfg.ops:
        print("note: --full includes 1,000,000 parked threads (~7 GiB RSS, ~1 minute); "
              "--skip million leaves it out", file=sys.stderr)
    result = run_benchmark(cfg)
    print(format_table(result))
    print(f"\nresults: {result['json_path']}")
    crashed = [r for r in result["rows"]
               if r["implementation"] == "whyevents" and r["status"] == "error"]
    if crashed:
        print("whyevents workers failed: " + ", ".join(r["operation"] for r in crashed),
              file=sys.stderr)
        return 1
    return 0
