"""Section 2.1 of the paper, apart from either server: the duality and the blocking graph.

Lauer and Needham's duality says an event system and a thread system are duals, with the same
blocking graph and, implemented equally well, the same performance. This package holds the two
things that compare the duals and belong to neither: ``table`` (the duality's pairs, each mapped to
the functions that play it in the event twin, ``whyevents.eventloop``, and in Knot on green
threads, ``whyevents.knot``), and ``blocking_graph`` (the graph recorded at run time from either
server). The static graph, predicted from source, is ``whyevents.analysis.graph``.

Importing this package loads neither server: ``table`` names the code by ``"module:qualname"``
strings, and ``blocking_graph`` imports a server's module only when asked to record it.
"""

from .table import DUALITY, STATE_DUALS, Dual, as_markdown, as_rows, lookup, missing

__all__ = ["Dual", "DUALITY", "STATE_DUALS", "lookup", "missing", "as_markdown", "as_rows",
           "blocking_graph", "table"]


def __getattr__(name: str):
    # ``duality.blocking_graph`` without importing it up front
    if name == "blocking_graph":
        import importlib
        return importlib.import_module(f"{__name__}.blocking_graph")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
