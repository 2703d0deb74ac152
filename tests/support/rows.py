"""Synthetic experiment rows and stored runs, for the tests of the claims and what reads them.

The rows are shaped like the experiments' own (the columns the claims read) and, by default,
pass every claim the way the paper's results would; each builder takes the series to change, so
a test says only what differs ("fifo sags", "one graph edge missed"). ``store_rows`` writes them
as a finished run in a temporary store, for the tests of the store-reading commands (claims,
margins, the runner's reports).
"""

from __future__ import annotations

from whyevents.repro.store import Run

TASKS = [100, 1000, 3000, 10000, 30000, 100000]
CLIENTS = [64, 256, 1024, 4096, 16384]
#: the web profiles' also: groups of Knot-C on poll, as their rows name them (``paired_group``)
ALSO_LABELS = ("knot-c/poll@1024+knot-c/poll@4096/interpreted",
               "knot-c/poll@1024+knot-c/poll@4096+knot-c/poll@16384/interpreted")


def series(xs, ys, x="tasks", y="throughput_rps", **fields):
    return [{**fields, x: xv, y: yv} for xv, yv in zip(xs, ys, strict=True)]


def pipeline(fifo=None, event=None, pth=None, kernel=None):
    """Pipeline rows: flat fifo/event at ~20k req/s, pth ∝ 1/N, kernel collapsing."""
    fifo = fifo or [20000.0] * len(TASKS)
    event = event or [21000.0] * len(TASKS)
    pth = pth or [2e7 / max(n, 1000) for n in TASKS]
    kernel = kernel or [15000.0, 12000.0, 6000.0, 2000.0, 0.0, 0.0]
    rows = series(TASKS, fifo, backend="whyevents", scheduler="fifo")
    rows += series(TASKS, event, backend="event", scheduler="-")
    rows += series(TASKS, pth, backend="whyevents", scheduler="pth")
    rows += series(TASKS, kernel, backend="kernel", scheduler="-")
    return rows


def web(knot_c=None, knot_a_poll=None, knot_a_epoll=None, seda=None, seda_ctx=6.0,
        eventloop=None, knot_c_async=None, knot_c_async_cpu=9.5):
    rows = []
    cfg = [("knot-c", "poll", knot_c or [100, 400, 700, 690, 680], 1.0, 10.0),
           ("knot-c", "epoll", knot_c or [100, 400, 700, 690, 680], 1.0, 10.0),
           ("eventloop", "epoll", eventloop or [100, 400, 720, 700, 690], 1.0, 9.0),
           ("knot-a", "poll", knot_a_poll or [100, 400, 700, 500, 300], 1.0, 12.0),
           ("knot-a", "epoll", knot_a_epoll or [100, 400, 700, 690, 680], 1.0, 10.0),
           ("seda", "poll", seda or [90, 350, 500, 480, 450], seda_ctx, 16.0),
           ("knot-c-async", "epoll", knot_c_async or [100, 400, 715, 700, 690], 1.0,
            knot_c_async_cpu)]
    for server, poller, mbit, ctx, cpu in cfg:
        for c, m in zip(CLIENTS, mbit, strict=True):
            rows.append({"server": server, "poller": poller, "clients": c, "mbit_s": float(m),
                         "ctx_switches_per_request": ctx,
                         "own_ctx_switches_per_request": ctx, "cpu_us_per_request": cpu,
                         "errors": 0})
    # Knot-C on poll at its plateau's client counts once more, at once (each profile's also:
    # group, experiments/web.py): the points C3.5 reads
    knot_c_poll = {r["clients"]: r for r in rows[:len(CLIENTS)]}
    for label in ALSO_LABELS:
        for c in (int(m.partition("@")[2]) for m in label.partition("/interpreted")[0].split("+")):
            rows.append({**knot_c_poll[c], "paired_group": label})
    return rows


def compiler(missed=0, wrong=0, knot_bytes=5000.0, coro=(0.9, 0.9, 0.9),
             coro_bytes=(400.0, 410.0, 420.0)):
    """Rows of the compiler experiment: 3 servers' graphs, 5 atomic cases, live state at one
    connection count, coro vs event at 1k/10k/100k tasks, coro bytes at 1k/10k/100k threads."""
    rows = []
    for i in range(1, 4):
        rows += [{"kind": "graph", "series": "recorded", "n": i, "count": 8},
                 {"kind": "graph", "series": "predicted", "n": i,
                  "count": 8 - (missed if i == 1 else 0)}]
    for i in range(1, 6):
        rows += [{"kind": "atomic", "series": "right", "n": i,
                  "count": 0 if i <= wrong else 1},
                 {"kind": "atomic", "series": "cases", "n": i, "count": 1}]
    rows += [{"kind": "live_state", "subject": "knot-c", "n": 100, "bytes_per_conn": knot_bytes},
             {"kind": "live_state", "subject": "eventloop", "n": 100, "bytes_per_conn": 1800.0}]
    for n, r, b in zip((1000, 10000, 100000), coro, coro_bytes, strict=True):
        rows += [{"kind": "pipeline", "backend": "event", "tasks": n, "throughput_rps": 1e5},
                 {"kind": "pipeline", "backend": "coro", "tasks": n, "throughput_rps": r * 1e5},
                 {"kind": "scaling", "backend": "coro", "threads": n, "bytes_per_thread": b}]
    return rows


def store_rows(root, experiment, rows, profile="quick"):
    """A closed stored run of ``experiment`` under ``root`` holding ``rows``."""
    run = Run.create(experiment, {}, profile, 1, root=root)
    for r in rows:
        run.append(r)
    run.close()
    return run
