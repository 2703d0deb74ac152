"""whyevents.analysis: the compiler support the paper's section 4 asks for, from Python source.

* ``mayblock``: which functions may block or yield (switch to another green thread), with the
  call chain as evidence; calls that cannot be resolved are "unknown", never "clean".
* ``check``: atomic sections (``with threads.atomic():``, ``@threads.atomic``) proven not to
  block, even indirectly; ``file:line:col: error: ...`` otherwise (exit status 1).
* ``graph``: the static blocking graph (nodes = blocking points, edges = code between them),
  comparable with the graph ``duality.blocking_graph`` records at run time.
* ``liveness``: the locals live across each blocking call and those the frame pins though
  dead; warnings where large state may be held across a blocking call (``--live-state``).
* ``stack``: an upper bound on each function's stack need (bytes, frames), or why there is none
  (recursion; unresolved calls make it partial) (``--stack``).
* ``resolve``: modules, names and call targets from the AST (no code is imported or run, except
  ``monkey.patch_all()`` in a child process to learn which stdlib names it replaces).

    python -m whyevents.analysis PATH... [--blocking] [--graph [--dot]] [--primitives] [--strict]
        [--live-state [--warnings-only]] [--stack]

``threads.atomic`` (``whyevents/threads/atomic.py``) is the run-time side of atomic sections.
"""

from .check import AtomicSection, Finding, atomic_sections, run_check
from .graph import static_graph
from .liveness import BlockingPoint, live_state
from .mayblock import BLOCKS, CLEAN, UNKNOWN, VERDICTS, Analysis
from .resolve import Project
from .stack import StackBound, stack_bounds

__all__ = ["Project", "Analysis", "CLEAN", "UNKNOWN", "BLOCKS", "VERDICTS", "run_check",
           "atomic_sections", "AtomicSection", "Finding", "static_graph", "live_state",
           "BlockingPoint", "stack_bounds", "StackBound"]
