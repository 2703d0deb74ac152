"""Does pairing survive a host slowdown? A slowed core, paired vs unpaired measurement.

Why this exists (issue 21): another tenant on this kind of machine slows a core by half for
minutes, and a sweep that measures the two sides of a comparison one after the other puts the
slowdown on one side only. This script measures the task pipeline's fifo/event throughput ratio
at one N in two ways, each with and without a slowdown of the measured core:

* ``unpaired``: the two points one after the other, as ``pairing=none`` does; the slowdown
  lasts the second point (event) only.
* ``sliced``: the two points as one group time-sliced on the core (``pairing=tasks``); the
  slowdown lasts the middle third of the recorded cycles (switched at cycle boundaries, as a
  slowdown lasting minutes would be for all but two of its cycles).

The slowdown (``--slowdown``) is the measured processes' CPU quota cut to a quarter of a core
(``quota``, the default: this process joins a cgroup at one core, its children inherit it, and
the quota is lowered and restored in place; a quarter so that it binds even when other tenants
already hold the measured process to part of its core) or a process spinning on the measured
core (``hog``: the kernel shares the core between it and the measured process, so its effect
depends on what else runs there).

For the sliced trials it prints the 95% bootstrap interval of the paired ratio (the cycles
resampled, as ``repro.claims.interval`` resamples a pair's slices). The property to look for: the
sliced ratio under the slowdown stays inside the interval of the sliced ratio without it, while
the unpaired ratio under the slowdown moves far outside the spread of the unpaired ratio without
it. ``tests/test_pairing.py`` checks the same property on two copies of one point.

Run: ``WHYEVENTS_PURE_PYTHON=1 python ci/pairing_check.py [--trials 3] [--tasks 1000]``
(about half a minute per trial; it uses the core ``pipeline`` measures on).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys

from whyevents.experiments import pipeline

_SPIN = "import os, sys; os.sched_setaffinity(0, {int(sys.argv[1])})\nwhile True: pass"


class Hog:
    """A process spinning on the measured core while ``on``."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None

    def on(self) -> None:
        if self.proc is None:
            self.proc = subprocess.Popen([sys.executable, "-c", _SPIN, str(pipeline.pick_cpu())])

    def off(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


class Quota:
    """The measured processes' cgroup quota: one core, a quarter of one while ``on``."""

    SLOW = 0.25

    def __init__(self) -> None:
        from whyevents.harness.cpu_quota import CpuQuota

        self.group = CpuQuota(1.0, period_s=0.01)
        self.group.add(os.getpid())

    def _set(self, cores: float) -> None:
        g = self.group
        q = round(cores * g.period_us)
        if g.kind == "v1":
            g._write("cpu.cfs_quota_us", str(q))
        else:
            g._write("cpu.max", f"{q} {g.period_us}")

    def on(self) -> None:
        self._set(self.SLOW)

    def off(self) -> None:
        self._set(1.0)


def _params(tasks: int, pairing: str, window_s: float) -> dict:
    return pipeline.check_params({"tasks": [tasks], "backends": ["fifo", "event"], "reps": 1,
                                  "pairing": pairing, "window_s": window_s})


def unpaired(tasks: int, slow, window_s: float) -> dict:
    params = _params(tasks, "none", window_s)
    pts = pipeline.points(params)
    with pipeline.prepare(params) as ctx:
        fifo = pipeline.measure(pts[0], params, ctx=ctx)[0]
        if slow is not None:
            slow.on()
        try:
            event = pipeline.measure(pts[1], params, ctx=ctx)[0]
        finally:
            if slow is not None:
                slow.off()
    return {"ratio": fifo["throughput_rps"] / event["throughput_rps"],
            "fifo": fifo["throughput_rps"], "event": event["throughput_rps"]}


def sliced(tasks: int, slow, window_s: float) -> dict:
    params = _params(tasks, "tasks", window_s)
    (group,) = pipeline.points(params)

    def third(c: int, cycles: int) -> None:
        if slow is not None:
            (slow.on if cycles // 3 <= c < 2 * cycles // 3 else slow.off)()

    with pipeline.prepare(params) as ctx:
        try:
            rows = pipeline._measure_group(group["members"], params, ctx["path"], ctx,
                                           on_cycle=third)
        finally:
            if slow is not None:
                slow.off()
    by = {r["backend"]: r for r in rows}
    fs, es = by["whyevents"]["slice_rates"], by["event"]["slice_rates"]
    n = min(len(fs), len(es))
    rng = random.Random(21)
    boot = []
    for _ in range(1000):
        idx = [rng.randrange(n) for _ in range(n)]
        boot.append(statistics.fmean(fs[i] for i in idx) / statistics.fmean(es[i] for i in idx))
    q = statistics.quantiles(boot, n=40, method="inclusive")
    return {"ratio": by["whyevents"]["throughput_rps"] / by["event"]["throughput_rps"],
            "interval": [q[0], q[-1]], "fifo": by["whyevents"]["throughput_rps"],
            "event": by["event"]["throughput_rps"],
            "fifo_slices": [round(v) for v in fs], "event_slices": [round(v) for v in es]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--tasks", type=int, default=1000)
    ap.add_argument("--window", type=float, default=3.0, help="seconds of slices per process")
    ap.add_argument("--slowdown", choices=("hog", "quota"), default="quota")
    ap.add_argument("--slices", action="store_true", help="also print the per-slice rates")
    args = ap.parse_args()
    slow = Quota() if args.slowdown == "quota" else Hog()
    out = []
    try:
        for t in range(args.trials):
            for mode, fn in (("unpaired", unpaired), ("sliced", sliced)):
                for slowed in (False, True):
                    r = {"trial": t, "mode": mode, "slowed": slowed,
                         **fn(args.tasks, slow if slowed else None, args.window)}
                    out.append(r)
                    shown = {k: (round(v, 3) if isinstance(v, float) else v)
                             for k, v in r.items()
                             if args.slices or not k.endswith("_slices")}
                    if "interval" in r:
                        shown["interval"] = [round(v, 3) for v in r["interval"]]
                    print(json.dumps(shown), flush=True)
    finally:
        if isinstance(slow, Quota):
            slow.group.close()
    for mode in ("unpaired", "sliced"):
        for slowed in (False, True):
            rs = [r["ratio"] for r in out if r["mode"] == mode and r["slowed"] == slowed]
            print(f"{mode:9s} slowed={slowed!s:5s} ratios {', '.join(f'{v:.3f}' for v in rs)}")


if __name__ == "__main__":
    main()
