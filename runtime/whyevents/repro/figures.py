"""The figures, drawn from stored rows, beside the original papers' curves.

Why here and not in each notebook: the experiment notebooks, the report notebook and
``whyevents report`` draw the same figures; one function per figure keeps them identical and
keeps the notebooks about the argument rather than about matplotlib.

Every figure has two kinds of panel: ours in absolute units (what this machine measured), and a
*shape* panel where each curve, ours and the paper's (from ``data/reference/``), is divided by its
own peak. Twenty years and a different language apart, the absolute numbers are not comparable;
the shapes — flat, collapsing, levelling out — are what the paper claims.

Rows whose ``status`` is not ``ok`` are left out of the lines and marked with an ``x`` on the
axis, so a kernel-thread point the OS refused is visible rather than silently missing.

Axes a reader can trust: where a claim is about flatness (throughput, bandwidth, switch rate,
bytes per thread), the value axis is linear and starts at zero, so a few percent of noise looks
like a few percent (on a log axis a few percent of a switch rate looked like a collapse and a
recovery); a
panel that stays logarithmic says why in its title. The comparison series are drawn whatever the
profile: kernel threads and the peers beside whyevents; one a run does not hold is named on the
figure ("not in this run: ...") rather than silently absent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "frame", "pipeline_figure", "scaling_figure", "web_figure", "web_cost_figure",
    "web_bound_figure", "web_bound_table", "save_figures", "FIGURES", "label_pipeline",
    "label_web", "web_dashes", "stack_growth_table", "stack_growth_figure", "blocking_graph_figure",
    "parse_edges",
]


def frame(rows: Sequence[Mapping[str, Any]]):
    """Rows as a DataFrame; ``ok`` is True where the point succeeded."""
    import pandas as pd

    df = pd.DataFrame(list(rows))
    if df.empty:
        return df
    if "status" not in df:
        df["status"] = "ok"
    df["status"] = df["status"].fillna("ok")
    df["ok"] = df["status"] == "ok"
    return df


def label_pipeline(df):
    """The pipeline figure's series names: ``backend`` or ``backend (scheduler)``; the raw
    greenlet program is ``greenlet (floor)``: a floor under green threads, not a peer."""
    sched = df.get("scheduler")
    if sched is None:
        sched = ["-"] * len(df)
    return ["greenlet (floor)" if b == "greenlet" else "gen (generator threads)" if b == "gen"
            else b if s in (None, "-", "") or not isinstance(s, str) else f"{b} ({s})"
            for b, s in zip(df["backend"].astype(str), sched, strict=True)]


def label_web(df):
    """The web figures' series names: ``server (poller)``. Knot on ``async def`` threads keeps
    its registry name (``knot-c-async (epoll)``), a series of its own beside the green Knot."""
    return [f"{s} ({p})" if isinstance(p, str) and p else str(s)
            for s, p in zip(df["server"], df.get("poller", [""] * len(df)), strict=True)]


def web_dashes(series) -> dict[str, Any]:
    """A line style per web series: dashed for a server on ``async def`` threads (its registry
    name ends in ``-async``), solid for the rest, so each form of thread reads apart from its
    green-thread namesake even where two colours are close."""
    return {s: ((4, 1.5) if str(s).split(" ", 1)[0].endswith("-async") else "")
            for s in sorted(set(series))}


def _median(df, by: list[str], y: str):
    ok = df[df["ok"] & df[y].notna()]
    return ok.groupby(by, as_index=False)[y].median()


def _styled(dashes) -> dict:
    """seaborn's arguments for a line style per series (none: colour only)."""
    return {"style": "series", "dashes": dashes} if dashes else {}


def _shape(ax, ours, x: str, y: str, ref, ref_label: str, xlabel: str,
           dashes: dict | None = None) -> None:
    """Each series over its own peak; the paper's as dashed lines."""
    import seaborn as sns

    if not ours.empty:
        norm = ours.copy()
        norm[y] = norm[y] / norm.groupby("series")[y].transform("max")
        sns.lineplot(data=norm, x=x, y=y, hue="series", marker="o", ax=ax, **_styled(dashes))
    if ref is not None and not ref.empty:
        for name, part in ref.groupby("series"):
            ax.plot(part["x"], part["y"], linestyle="--", marker=".", alpha=0.7,
                    label=f"{ref_label}: {name}")
    ax.set_xscale("log")
    ax.set_ylim(0, 1.15)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fraction of own peak")
    ax.legend(fontsize="small")


def _from_zero(ax) -> None:
    """A linear value axis from zero (flatness reads true), with room above the highest line."""
    ax.set_yscale("linear")
    top = ax.get_ylim()[1]
    ax.set_ylim(0, top * 1.1 if top > 0 else 1.0)


def _absent(fig, df, column: str, wanted: Sequence[str]) -> None:
    """Name the comparison series (kernel threads, the peers) this run holds no row of."""
    have = set(df[column].astype(str)) if column in df else set()
    missing = [w for w in wanted if w not in have]
    if missing:
        fig.text(0.5, -0.02, f"not in this run: {', '.join(missing)} (the run's parameters left "
                 f"them out; the comparison needs them)", ha="center", va="top",
                 fontsize="small", color="darkred")


#: the series every pipeline / scaling figure compares whyevents with
PIPELINE_SERIES = ("whyevents", "kernel", "event", "gevent", "asyncio")
SCALING_SERIES = ("whyevents", "kernel", "gevent", "asyncio")


def _failed_marks(ax, df, x: str, label_col: str = "series") -> None:
    bad = df[~df["ok"]]
    if bad.empty:
        return
    ax.scatter(bad[x], [ax.get_ylim()[0]] * len(bad), marker="x", color="black",
               clip_on=False, zorder=5, label="failed / refused point")
    ax.legend(fontsize="small")


def _reference(figure: str):
    from whyevents.repro import store

    try:
        return store.reference(figure, normalize=True)
    except (OSError, KeyError):
        return None


def _canvas(rows: Sequence[Mapping[str, Any]], shape: tuple[int, int], size: tuple[float, float],
            what: str):
    """The rows as a frame and a figure of ``shape`` axes; an empty frame gets a figure that says
    so (the caller returns it as is)."""
    import matplotlib.pyplot as plt

    df = frame(rows)
    fig, axes = plt.subplots(*shape, figsize=size)
    if df.empty:
        fig.suptitle(f"{what}: no rows")
    return df, fig, axes


def _rate_panel(ax, data, df, x: str, y: str, xlabel: str, ylabel: str, title: str | None = None,
                marks: bool = True, dashes: dict | None = None) -> None:
    """One series per hue against a log x axis, the values on a linear axis from zero (a flat
    line is what a flatness claim asks for); failed points marked unless ``marks`` is off;
    ``dashes``: a line style per series (``web_dashes``)."""
    import seaborn as sns

    if data is not None:
        sns.lineplot(data=data, x=x, y=y, hue="series", marker="o", ax=ax, **_styled(dashes))
    ax.set(xscale="log", xlabel=xlabel, ylabel=ylabel, **({"title": title} if title else {}))
    _from_zero(ax)
    if marks:
        _failed_marks(ax, df, x)


def pipeline_figure(rows: Sequence[Mapping[str, Any]]):
    """Figure 2: throughput and latency vs concurrent tasks; shapes beside the paper's."""
    import seaborn as sns

    df, fig, axes = _canvas(rows, (1, 3), (16, 4.6), "task pipeline")
    if df.empty:
        return fig
    df["series"] = label_pipeline(df)
    thr = _median(df, ["series", "tasks"], "throughput_rps")
    _rate_panel(axes[0], thr, df, "tasks", "throughput_rps", "concurrent tasks", "tasks/s",
                "throughput (this machine; from 0: flat is a claim)")
    if "latency_p50_ms" in df:
        lat = _median(df, ["series", "tasks"], "latency_p50_ms")
        sns.lineplot(data=lat, x="tasks", y="latency_p50_ms", hue="series", marker="o",
                     ax=axes[1])
    axes[1].set(xscale="log", yscale="log", xlabel="concurrent tasks",
                ylabel="median latency (ms)",
                title="latency (log: it grows with N tasks in flight by design)")
    _shape(axes[2], thr, "tasks", "throughput_rps", _reference("hotos03_fig2"),
           "paper Fig. 2", "concurrent tasks")
    axes[2].set_title("shape vs the paper's Figure 2")
    _absent(fig, df, "backend", PIPELINE_SERIES)
    fig.tight_layout()
    return fig


def scaling_figure(rows: Sequence[Mapping[str, Any]]):
    """Spawn cost, bytes per thread and switch rate vs live threads."""
    df, fig, axes = _canvas(rows, (1, 3), (16, 4.6), "thread scaling")
    if df.empty:
        return fig
    df["series"] = df["backend"].astype(str)
    if "park" in df:
        df["series"] = [f"{b} ({p})" if isinstance(p, str) and p != "condition" else b
                        for b, p in zip(df["backend"], df["park"], strict=True)]
    for ax, (y, label) in zip(axes, (("spawn_us", "µs to spawn and park one thread"),
                                     ("bytes_per_thread", "bytes per parked thread"),
                                     ("yields_per_s", "yields/s with N threads alive")),
                              strict=True):
        _rate_panel(ax, _median(df, ["series", "threads"], y) if y in df else None, df,
                    "threads", y, "threads", label)
    fig.suptitle("green threads by the hundred thousand (values from 0: flat in N is the claim)")
    _absent(fig, df, "backend", SCALING_SERIES)
    fig.tight_layout()
    return fig


def web_figure(rows: Sequence[Mapping[str, Any]]):
    """Figure 3: bandwidth vs simultaneous clients; shapes beside the paper's."""
    df, fig, axes = _canvas(rows, (1, 2), (14, 4.8), "web bandwidth")
    if df.empty:
        return fig
    df["series"] = label_web(df)
    bw = _median(df, ["series", "clients"], "mbit_s")
    dashes = web_dashes(bw["series"])
    _rate_panel(axes[0], bw, df, "clients", "mbit_s", "simultaneous clients", "Mbit/s",
                "bandwidth (this machine; from 0; dashed: async def threads)", dashes=dashes)
    _shape(axes[1], bw, "clients", "mbit_s", _reference("hotos03_fig3"), "paper Fig. 3",
           "simultaneous clients", dashes=dashes)
    axes[1].set_title("shape vs the paper's Figure 3")
    fig.tight_layout()
    return fig


def web_cost_figure(rows: Sequence[Mapping[str, Any]]):
    """What each request costs the server: CPU µs and kernel context switches."""
    df, fig, axes = _canvas(rows, (1, 2), (14, 4.4), "web cost")
    if df.empty:
        return fig
    df["series"] = label_web(df)
    dashes = web_dashes(df.loc[df["ok"], "series"])
    # the servers' own switches (C3.6's), not those their CPU quota forced; runs from before
    # the quota's were counted have only all of them
    ctx = ("own_ctx_switches_per_request", "own kernel context switches per request")
    if ctx[0] not in df:
        ctx = ("ctx_switches_per_request", "kernel context switches per request")
    for ax, (y, label) in zip(axes, (("cpu_us_per_request", "server CPU µs per request"), ctx),
                              strict=True):
        _rate_panel(ax, _median(df, ["series", "clients"], y) if y in df else None, df,
                    "clients", y, "simultaneous clients", label, marks=False, dashes=dashes)
    fig.suptitle("dashed: Knot on async def threads", fontsize="small")
    fig.tight_layout()
    return fig


def _flagged(df):
    """The points that succeeded but may not decide a bandwidth claim (not server-bound)."""
    if "claim_eligible" not in df:
        return df.iloc[0:0]
    elig = df["claim_eligible"].map(lambda v: str(v).strip().lower() in ("true", "1"))
    known = df["claim_eligible"].notna()
    return df[df["ok"] & known & ~elig]


def web_bound_table(rows: Sequence[Mapping[str, Any]]):
    """Per server and client count (medians over reps): bandwidth, server utilization of its
    allotment, client utilization of its core, capacity (Mbit per server CPU-second), the
    saturated-point check (bandwidth / (capacity x allotment)), server and client CPU us per
    request, and the flag of a point that is not server-bound (empty: claim-eligible)."""
    import pandas as pd

    df = frame(rows)
    if df.empty:
        return df
    df = df[df["ok"]].copy()
    df["series"] = label_web(df)
    cols = [c for c in ("mbit_s", "server_util_of_allotment", "client_util_of_core",
                        "capacity_mbit_per_cpu_s", "bandwidth_over_capacity",
                        "cpu_us_per_request", "client_cpu_us_per_request") if c in df]
    out = df.groupby(["series", "clients"])[cols].median()
    if "capacity_agrees" in df:
        agree = df.groupby(["series", "clients"])["capacity_agrees"].agg(
            lambda v: "" if v.isna().all() else ("yes" if v.dropna().astype(bool).all()
                                                 else "NO"))
        out["capacity_agrees"] = agree
    if "flag" in df:
        out["flag"] = df.groupby(["series", "clients"])["flag"].agg(
            lambda v: "; ".join(sorted({str(x) for x in v if isinstance(x, str) and x})))
    return pd.DataFrame(out)


def web_bound_figure(rows: Sequence[Mapping[str, Any]]):
    """Is the server the limit? Per server against clients: bandwidth, the server's utilization
    of its CPU allotment (the client's of its core dashed), capacity (Mbit per server
    CPU-second, which the client cannot distort) and CPU us per request, server (solid) beside
    client (dashed). Points that are not server-bound (excluded from bandwidth claims) are
    marked with a black x on the first three panels (CPU per request claims use every point)."""
    import seaborn as sns

    df, fig, axes = _canvas(rows, (2, 2), (14, 9), "web")
    if df.empty:
        return fig
    df["series"] = label_web(df)
    flagged = _flagged(df)
    panels = (
        (axes[0][0], "mbit_s", None, "Mbit/s", "bandwidth"),
        (axes[0][1], "server_util_of_allotment", "client_util_of_core",
         "fraction of allotment (client: of its core)", "server utilization (client dashed)"),
        (axes[1][0], "capacity_mbit_per_cpu_s", None, "Mbit per server CPU-second",
         "capacity"),
        (axes[1][1], "cpu_us_per_request", "client_cpu_us_per_request", "CPU us per request",
         "CPU per request: server (solid), client (dashed)"),
    )
    for ax, y, y2, ylabel, title in panels:
        if y in df and df[y].notna().any():
            sns.lineplot(data=_median(df, ["series", "clients"], y), x="clients", y=y,
                         hue="series", marker="o", ax=ax)
        if y2 is not None and y2 in df and df[y2].notna().any():
            sns.lineplot(data=_median(df, ["series", "clients"], y2), x="clients", y=y2,
                         hue="series", marker=".", linestyle="--", ax=ax, legend=False)
        if y in flagged and not flagged.empty and y != "cpu_us_per_request":
            ax.scatter(flagged["clients"], flagged[y], marker="x", color="black", s=50,
                       zorder=5, label="flagged: not server-bound")
        ax.set(xscale="log", xlabel="simultaneous clients", ylabel=ylabel, title=title)
        if y != "cpu_us_per_request":
            _from_zero(ax)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
    axes[1][1].set_yscale("log")          # 1 client costs far more than a loaded server's request
    axes[1][1].set_title("CPU per request: server (solid), client (dashed); log: one "
                         "client costs far more per request", fontsize="medium")
    util_ax = axes[0][1]
    util_ax.axhline(0.9, color="grey", linewidth=0.8, linestyle=":")
    util_ax.set_ylim(0, 1.15)
    _failed_marks(axes[0][0], df, "clients")
    fig.tight_layout()
    return fig


#: file stem -> (experiment, drawing function)
FIGURES = {
    "fig2_task_pipeline": ("pipeline", pipeline_figure),
    "threads_scaling": ("scaling", scaling_figure),
    "fig3_web_bandwidth": ("web", web_figure),
    "web_cost_per_request": ("web", web_cost_figure),
    "web_server_bound": ("web", web_bound_figure),
}


# ---------------------------------------------------------------------------------------------
# Section 4: stack growth and the blocking graph
# ---------------------------------------------------------------------------------------------

_STACK_Q = (("c_stack_median", "median"), ("c_stack_p99", "max"), ("c_stack_max", "max"),
            ("frame_bytes_median", "median"), ("frame_bytes_p99", "max"),
            ("frame_bytes_max", "max"), ("stack_needed_bytes", "max"),
            ("stack_default_bytes", "first"))


def _stack_rows(rows):
    df = frame(rows)
    if df.empty or "c_stack_median" not in df or "backend" not in df:
        return df.iloc[0:0] if not df.empty else df, df
    if "kind" in df:
        df = df[(df["kind"] == "scaling") | df["kind"].isna()]
    green = df[df["ok"] & (df["backend"] == "whyevents") & df["c_stack_median"].notna()]
    return green, df


def stack_growth_table(rows: Sequence[Mapping[str, Any]]):
    """Stack growth per parked green thread (scaling rows, ``backend=whyevents``), by N: the C
    stack greenlet saved and the Python frame bytes (median over reps of the median; p99 and max
    the largest over reps), what a fixed-size stack would have to be for the worst observed
    thread, and kernel threads' fixed stacks beside it (the default, RLIMIT_STACK, and what the
    run's kernel rows were given, if any). Empty when the rows predate the stack columns."""
    import pandas as pd

    green, df = _stack_rows(rows)
    if green.empty:
        return pd.DataFrame()
    cols = {c: how for c, how in _STACK_Q if c in green}
    out = green.groupby("threads").agg(cols)
    out.insert(0, "reps", green.groupby("threads").size())
    out.index = out.index.astype(int)          # rows of other kinds made the column float
    kern = df[(df["backend"] == "kernel") & df.get("stack_fixed_bytes", pd.Series(
        index=df.index, dtype=float)).notna()] if "stack_fixed_bytes" in df else df.iloc[0:0]
    if not kern.empty:
        out["kernel_given_bytes"] = kern["stack_fixed_bytes"].max()
    if "stack_default_bytes" in out:
        out["default_over_needed"] = (out["stack_default_bytes"]
                                      / out["stack_needed_bytes"]).round(0)
    return out


def stack_growth_figure(rows: Sequence[Mapping[str, Any]]):
    """Bytes per parked green thread (C stack saved, Python frames: median, p99, max) against N,
    with the fixed stack the worst thread would need and kernel threads' fixed stacks."""
    import matplotlib.pyplot as plt

    table = stack_growth_table(rows)
    fig, ax = plt.subplots(figsize=(8, 4.6))
    if table.empty:
        ax.set_axis_off()
        fig.suptitle("stack growth: this run has no stack columns (it predates them)")
        return fig
    x = table.index.to_numpy()
    styles = {"median": "-", "p99": "--", "max": ":"}
    for what, colour, label in (("c_stack", "tab:blue", "C stack greenlet saved"),
                                ("frame_bytes", "tab:orange", "Python frames")):
        for q, ls in styles.items():
            col = f"{what}_{q}"
            if col in table:
                ax.plot(x, table[col], linestyle=ls, marker="o", color=colour,
                        label=f"{label} ({q})")
    ax.plot(x, table["stack_needed_bytes"], marker="s", color="black",
            label="fixed stack the worst thread needs (page-rounded)")
    fixed = []
    if "stack_default_bytes" in table and table["stack_default_bytes"].notna().any():
        fixed.append((table["stack_default_bytes"].max(), "kernel thread default (RLIMIT_STACK)"))
    if "kernel_given_bytes" in table:
        fixed.append((table["kernel_given_bytes"].max(), "kernel threads in this run"))
    for (v, label), colour in zip(fixed, ("tab:red", "tab:purple"), strict=False):
        ax.axhline(v, color=colour, linewidth=2, label=f"{label}: {v / 1024:,.0f} KiB")
    ax.set(xscale="log", yscale="log", xlabel="parked threads",
           ylabel="bytes per thread at its blocking point")
    ax.set_title("stack growth: what each green thread holds vs a fixed stack\n(log bytes: "
                 "kilobytes and megabytes on one axis)", fontsize="medium")
    ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return fig


def parse_edges(text) -> set[tuple[str, str]]:
    """``"a->b; c->d"`` (a compiler run's graph rows) as a set of edges; None/NaN: empty."""
    if not isinstance(text, str) or not text:
        return set()
    out = set()
    for part in text.split("; "):
        a, sep, b = part.partition("->")
        if sep:
            out.add((a, b))
    return out


#: the run-time vocabulary of ``duality.blocking_graph``, in the order a request meets it
_IO_ORDER = ("start", "accept", "read", "disk", "write", "close")


def _layout(nodes: set[str]) -> dict[str, tuple[float, float]]:
    """The I/O points on a circle in the order a request meets them (``start`` at the left);
    other blocking calls (``f()@file:line``) in a column to their right."""
    import math

    core = [n for n in _IO_ORDER if n in nodes] + sorted(
        n for n in nodes if "()@" not in n and n not in _IO_ORDER)
    rest = sorted(n for n in nodes if n not in core)
    pos = {}
    for i, n in enumerate(core):
        angle = math.pi - 2 * math.pi * i / max(len(core), 1)
        pos[n] = (1.6 * math.cos(angle), 1.6 * math.sin(angle))
    for i, n in enumerate(rest):
        pos[n] = (3.4, 0.62 * ((len(rest) - 1) / 2 - i))
    return pos


def blocking_graph_figure(graphs: Mapping[str, Mapping[str, Any]]):
    """The blocking graph per server: nodes are blocking points, edges the code between two of
    them. ``graphs``: name -> {"static": edges, "recorded": edges or None}. Static edges
    (``whyevents.analysis``) grey; recorded ones (``duality.blocking_graph`` at run time) drawn
    over them in blue, or red where the static graph did not predict them; a loop on a node is a
    ring beside it."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle, FancyArrowPatch

    names = list(graphs)
    fig, axes = plt.subplots(1, max(len(names), 1), figsize=(6.4 * max(len(names), 1), 6.0),
                             squeeze=False)
    for ax, name in zip(axes[0], names, strict=False):
        static = set(map(tuple, graphs[name].get("static") or ()))
        rec_in = graphs[name].get("recorded")
        recorded = None if rec_in is None else set(map(tuple, rec_in))
        nodes = {n for e in static | (recorded or set()) for n in e}
        ax.set_axis_off()
        if not nodes:
            ax.set_title(f"{name}: no edges")
            continue
        pos = _layout(nodes)
        layers: list[tuple[set, str, float, float]] = [(static, "0.75", 1.0, 1)]
        if recorded is not None:
            layers.append((recorded & static, "tab:blue", 2.2, 2))
            layers.append((recorded - static, "tab:red", 2.2, 3))
        for edges, colour, width, z in layers:
            for a, b in sorted(edges):
                (xa, ya), (xb, yb) = pos[a], pos[b]
                if a == b:
                    r = (xa * xa + ya * ya) ** 0.5 or 1.0    # the ring outside the circle
                    ax.add_patch(Circle((xa + 0.3 * xa / r, ya + 0.3 * ya / r), 0.17,
                                        fill=False, color=colour, linewidth=width, zorder=z))
                    continue
                ax.add_patch(FancyArrowPatch((xa, ya), (xb, yb), arrowstyle="-|>",
                                             mutation_scale=11, shrinkA=14, shrinkB=14,
                                             connectionstyle="arc3,rad=0.12", color=colour,
                                             linewidth=width, zorder=z))
        for n, (x, y) in pos.items():
            label = n.replace("()@", "()\n@")
            ax.text(x, y, label, ha="center", va="center", fontsize=7.5, zorder=4,
                    bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": "0.4"})
        xs = [p[0] for p in pos.values()]
        ys = [p[1] for p in pos.values()]
        ax.set_xlim(min(xs) - 0.7, max(xs) + 0.9)
        ax.set_ylim(min(ys) - 0.7, max(ys) + 0.7)
        ax.set_aspect("equal")
        if recorded is None:
            sub = f"{len(static)} static edges; the run stored no recorded edges"
        else:
            sub = (f"{len(static)} static edges; {len(recorded)} recorded, "
                   f"{len(recorded & static)} predicted")
        ax.set_title(f"{name}\n{sub}", fontsize="medium")
    fig.text(0.5, 0.01, "grey: static (whyevents.analysis)   blue: recorded at run time and "
             "predicted   red: recorded, not predicted   ring: an edge back to the same point",
             ha="center", fontsize="small")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def save_figures(runs: Mapping[str, Any], outdir: Path) -> dict[str, Path]:
    """Draw every figure whose experiment has a run in ``runs`` (experiment -> store.Run)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    written = {}
    for stem, (experiment, draw) in FIGURES.items():
        run = runs.get(experiment)
        if run is None:
            continue
        fig = draw(run.rows())
        path = outdir / f"{stem}.png"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        written[stem] = path
    return written
