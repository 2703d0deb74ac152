"""What the notebooks show of the code itself, not of a stored run: 04's and 05's helpers.

Why here: notebooks import ``repro`` only (docs/DESIGN.md, "Layers"), yet ``04_duality`` shows
the duality table, records the blocking graph of both servers and counts their lines, and
``05_compiler_support`` draws the static blocking graph and tabulates the static analyses. Those
reach below ``repro`` (``duality``, ``eventloop``, ``knot``, ``analysis``), so they live in this
module, tested (tests/test_notebook_helpers.py), and ``repro.notebook`` re-exports them for the
notebooks (``nb.blocking_graphs()``). Each lower module is imported inside the function that
needs it: importing ``repro.notebook`` loads no server and no analysis.

The traffic ``blocking_graphs`` serves is 04's own (keep-alive GETs of one file, one of them a
page-cache miss), not the compiler experiment's (``experiments.compiler_worker.traffic``, which
adds a 404 and a pipelined pair): 04's claims cell compares the two recorded graphs on it.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

# the compiler experiment's wait for a server to close every connection (stdlib only at import)
from whyevents.experiments.compiler_worker import quiet

__all__ = ["traffic", "quiet", "blocking_graphs", "duality_table", "code_lines", "package_lines",
           "server_sizes", "static_edges", "static_live_state", "static_stack_bounds", "RUNTIME"]

#: the installed package's source tree (what the static analyses read)
RUNTIME = Path(__file__).resolve().parent.parent

#: 04's file: 8 KiB, served over and over by ``traffic``
_FILE, _BODY = "f8k.bin", bytes(range(256)) * 32


def traffic(address, connections: int = 2, requests: int = 3) -> None:
    """``connections`` keep-alive connections to ``address``, each GETting 04's file
    ``requests`` times and checking every response (status 200, the whole body)."""
    import http.client

    for _ in range(connections):
        conn = http.client.HTTPConnection(*address[:2], timeout=10)
        try:
            for _ in range(requests):
                conn.request("GET", f"/{_FILE}")
                response = conn.getresponse()
                body = response.read()
                assert response.status == 200 and len(body) == len(_BODY), (response.status,
                                                                              len(body))
        finally:
            conn.close()


def blocking_graphs(docroot: str | Path | None = None):
    """The blocking graphs recorded on the same ``traffic`` served by the event twin and by
    Knot-A on green threads, relabelled onto the shared vocabulary: ``(events, threads)``.

    ``docroot``: where 04's file is written (default: a fresh temporary directory).
    """
    import tempfile

    from whyevents import eventloop, knot
    from whyevents.duality import blocking_graph

    root = Path(docroot) if docroot is not None else Path(
        tempfile.mkdtemp(prefix="whyevents-duality-"))
    (root / _FILE).write_bytes(_BODY)
    with eventloop.start(root) as handle:
        with blocking_graph.record_event_loop(handle) as rec:
            traffic(handle.address)
            quiet(handle)
    events = rec.graph().relabel()
    handle = None
    try:
        with blocking_graph.record_green() as rec:      # before Knot binds its sockets' methods
            handle = knot.start(root, policy="A")
            traffic(handle.address)
            quiet(handle)
    finally:
        if handle is not None:
            handle.stop()                               # after: closing the listener is not traffic
    return events, rec.graph().relabel()


def duality_table() -> str:
    """Figure 1 with the code that plays each part, as Markdown; raises if a reference in the
    table no longer resolves (renamed or removed code)."""
    from whyevents import duality

    broken = duality.missing()
    if broken:
        raise LookupError(f"duality table names code that is gone: {broken}")
    return duality.as_markdown()


def code_lines(module_name: str) -> int:
    """Lines of code of one module: non-blank, not a comment, not in a docstring."""
    src = inspect.getsource(importlib.import_module(module_name))
    doc_lines: set[int] = set()
    for node in ast.walk(ast.parse(src)):
        if (isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                and ast.get_docstring(node)):
            d = node.body[0]
            doc_lines.update(range(d.lineno, d.end_lineno + 1))
    return sum(1 for i, line in enumerate(src.splitlines(), 1)
               if line.strip() and not line.strip().startswith("#") and i not in doc_lines)


def package_lines(pkg: str) -> dict[str, int]:
    """``code_lines`` of a package and of each of its direct modules, by module name."""
    mod = importlib.import_module(pkg)
    names = [pkg] + [f"{pkg}.{m.name}" for m in pkgutil.iter_modules(mod.__path__)]
    return {n: code_lines(n) for n in names}


def server_sizes() -> dict[str, int]:
    """Lines of code of each server's own modules: Knot's and the event twin's (leaving out any
    duality or blocking-graph module, which belongs to neither)."""
    twin = {k: v for k, v in package_lines("whyevents.eventloop").items()
            if not k.endswith(("duality", "blocking_graph"))}
    return {**package_lines("whyevents.knot"), **twin}


def static_edges(server: str) -> frozenset | set:
    """The static blocking graph of ``server`` ("eventloop", "knot-c" or "knot-a"), predicted
    from source and relabelled onto the run-time vocabulary: its set of edges. 05 draws it for
    a run stored before rows carried their edges."""
    from whyevents.analysis import Analysis, Project, static_graph

    if server == "eventloop":
        paths = [str(RUNTIME / "eventloop" / n) for n in ("loop.py", "state.py", "pool.py")]
        return static_graph(Analysis(Project(paths, patched=False))).relabel().shape()
    return static_graph(Analysis(Project([str(RUNTIME / "knot")]))).relabel().shape()


def static_live_state():
    """``whyevents check --live-state`` on Knot's connection code, as a DataFrame: per blocking
    call, the locals live across it, those pinned though dead, and the large ones."""
    import pandas as pd

    from whyevents.analysis import Analysis, Project, live_state

    points = live_state(Analysis(Project([str(RUNTIME / "knot" / "connection.py")])))
    return pd.DataFrame([{"function": p.func.qualname.rpartition(".")[2], "line": p.node.lineno,
                          "call": p.what, "live": ", ".join(p.live),
                          "pinned though dead": ", ".join(p.pinned),
                          "large": ", ".join(f"{k} ({v})" for k, v in p.large.items())}
                         for p in points])


def static_stack_bounds():
    """``whyevents check --stack`` on Knot, as a DataFrame sorted by function: each function's
    frame, its bound with its deepest resolved callee, and why a bound is unknown."""
    import pandas as pd

    from whyevents.analysis import Analysis, Project, stack_bounds

    bounds = stack_bounds(Analysis(Project([str(RUNTIME / "knot")])))
    table = pd.DataFrame([{"function": f.qualname.replace("whyevents.knot.", ""),
                           "status": b.status, "frame B": b.frame, "bound B": b.bytes,
                           "frames": b.frames, "why": " -> ".join(b.unknown or b.reason)[:110]}
                          for f, b in bounds.items()])
    return table.sort_values("function")
