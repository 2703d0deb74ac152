"""Does pairing survive a host slowdown? A slowed core, paired vs unpaired measurement.

Why this exists (issue 21): another tenant on this kind of machine slows a core by half for
minutes, and a sweep that measures the two sides of a comparison one after the other puts the
slowdown on one side only. This script measures the task pipeline's fifo/event throughput ratio
at one N in two ways, each with and without a slowdown of the measured core:

* ``unpaired``: the two points one after the other, as ``pairing=none`` does; the slowdown
  lasts the second point (event) only.
* ``sliced``: the two points as one group time-sliced on the core (``pairing=tasks``); the
  slowdown lasts the middle third of the slices.

The slowdown (``--slowdown``) is the measured processes' CPU quota halved (``quota``, the
default: a cgroup at one core whose quota drops to half a core, the same for every trial) or a
process spinning on the measured core (``hog``: the kernel shares the core between it and the
measured process, so its effect depends on what else runs there).

For the sliced trials it prints the per-cycle paired ratio's 95% bootstrap interval (the cycles
resampled, as ``repro.claims.interval`` resamples a pair's slices). The property to look for: the
sliced ratio under the slowdown stays inside the interval of the sliced ratio without it, while
the unpaired ratio under the slowdown moves far outside the spread of the unpaired ratio without it.

Run: ``WHYEVENTS_PURE_PYTHON=1 python ci/pairing_check.py [--trials 3] [--tasks 1000]``
(about half a minute per trial on one core; it uses the core ``pipeline`` measures on).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time

from whyevents.experiments import pipeline

_HOG = "import os, sys; os.sched_setaffinity(0, {int(sys.argv[1])})\nwhile True: pass"


class Hog:
    """A spinning process pinned to ``cpu`` from ``start`` to ``stop`` seconds after ``go``
    (or until ``halt``)."""

    def __init__(self, cpu: int, start: float, stop: float) -> None:
        self.cpu, self.start, self.stop = cpu, start, stop
        self.thread: threading.Thread | None = None
        self.halted = threading.Event()

    def go(self) -> None:
        def run() -> None:
            if self.halted.wait(self.start):
                return
            p = subprocess.Popen([sys.executable, "-c", _HOG, str(self.cpu)])
            self.halted.wait(self.stop - self.start)
            p.kill()
            p.wait()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def halt(self) -> None:
        self.halted.set()
        self.join()

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join()


class Quota(Hog):
    """The measured processes' CPU quota halved (one core -> half a core) from ``start`` to
    ``stop`` seconds after ``go``: this process joins a cgroup at one core, its children inherit
    it, and the quota is lowered and restored in place (``harness.cpu_quota``)."""

    group = None

    @classmethod
    def enter(cls) -> None:
        from whyevents.harness.cpu_quota import CpuQuota

        cls.group = CpuQuota(1.0, period_s=0.01)
        cls.group.__enter__()
        cls.group.add(os.getpid())

    def _set(self, cores: float) -> None:
        g = self.group
        quota = round(cores * g.period_us)
        if os.path.exists(os.path.join(g.path, "cpu.cfs_quota_us")):
            g._write("cpu.cfs_quota_us", str(quota))
        else:
            g._write("cpu.max", f"{quota} {g.period_us}")

    def go(self) -> None:
        def run() -> None:
            if self.halted.wait(self.start):
                return
            self._set(0.5)
            self.halted.wait(self.stop - self.start)
            self._set(1.0)

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()


SLOWDOWN = Hog


def _params(tasks: int, pairing: str, window_s: float) -> dict:
    return pipeline.check_params({"tasks": [tasks], "backends": ["fifo", "event"], "reps": 1,
                                  "pairing": pairing, "window_s": window_s})


def unpaired(tasks: int, hog: bool, window_s: float) -> dict:
    params = _params(tasks, "none", window_s)
    pts = pipeline.points(params)
    with pipeline.prepare(params) as ctx:
        fifo = pipeline.measure(pts[0], params, ctx=ctx)[0]
        h = SLOWDOWN(pipeline.pick_cpu(), 0.0, 3600.0)
        if hog:
            h.go()
            time.sleep(0.2)
        event = pipeline.measure(pts[1], params, ctx=ctx)[0]
        h.halt()
    return {"ratio": fifo["throughput_rps"] / event["throughput_rps"],
            "fifo": fifo["throughput_rps"], "event": event["throughput_rps"]}


def sliced(tasks: int, hog: bool, window_s: float, slice_s: float = 0.2) -> dict:
    params = {**_params(tasks, "tasks", window_s), "slice_s": slice_s}
    (group,) = pipeline.points(params)
    cycles = max(2, round(window_s / slice_s))
    slicing = cycles * 2 * slice_s
    warm = 1.5                             # about the group's warm-up, side by side
    h = SLOWDOWN(pipeline.pick_cpu(), warm + slicing / 3, warm + 2 * slicing / 3)
    with pipeline.prepare(params) as ctx:
        if hog:
            h.go()
        rows = pipeline.measure(group, params, ctx=ctx)
        h.join()
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
            "cycle_ratios": [round(a / b, 3) for a, b in zip(fs, es, strict=False) if b],
            "fifo_slices": [round(v) for v in fs], "event_slices": [round(v) for v in es]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--tasks", type=int, default=1000)
    ap.add_argument("--window", type=float, default=3.0)
    ap.add_argument("--slowdown", choices=("hog", "quota"), default="quota",
                    help="a spinning process on the core, or the CPU quota halved (cgroup; "
                         "needs a writable CPU controller)")
    args = ap.parse_args()
    global SLOWDOWN
    if args.slowdown == "quota":
        Quota.enter()
        SLOWDOWN = Quota
    out = []
    for t in range(args.trials):
        for mode in ("unpaired", "sliced"):
            for hog in (False, True):
                fn = unpaired if mode == "unpaired" else sliced
                r = {"trial": t, "mode": mode, "hog": hog, **fn(args.tasks, hog, args.window)}
                out.append(r)
                short = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()
                         if not k.endswith(("_ratios", "_slices"))}
                if "interval" in r:
                    short["interval"] = [round(v, 3) for v in r["interval"]]
                print(json.dumps(short), flush=True)
    for mode in ("unpaired", "sliced"):
        for hog in (False, True):
            rs = [r["ratio"] for r in out if r["mode"] == mode and r["hog"] == hog]
            print(f"{mode:9s} hog={hog!s:5s} ratios {', '.join(f'{v:.3f}' for v in rs)}")


if __name__ == "__main__":
    main()
