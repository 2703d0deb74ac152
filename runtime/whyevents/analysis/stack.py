"""Stack growth: an upper bound on the stack each function needs, from the call graph.

The paper (section 4, "Dynamic Stack Growth"): "Using a compiler analysis, we can provide an
upper bound on the amount of stack space needed when calling each function; furthermore, we can
determine which call sites may require stack growth. Recursive functions and function pointers
produce additional challenges."

A green thread's Python frames live in the interpreter's frame stack (CPython 3.11+: one chunk
per greenlet, saved and restored on a switch) and what C code runs under them in the C stack
slice greenlet copies out when the thread parks. This module bounds the Python part:

* **Frame size** of a function: compiled from its source (``compile``, never run), the size of
  its frame as ``sys.getsizeof`` reports it for a live frame of the same code: a fixed header
  (measured once, on this interpreter) plus one pointer per local, cell, free variable and
  value-stack slot (``co_nlocals``, ``co_cellvars``, ``co_freevars``, ``co_stacksize``).
* **Bound** of a function: its frame plus the largest bound among its call sites' targets, in
  bytes and in frames (the call chain's depth). Targets are what ``mayblock`` resolves, in the
  checked code, the runtime or the stdlib where their source is available. A call into code
  without source (a C function, a builtin) adds no Python frame (it is counted under ``c_calls``:
  its C frames are in greenlet's C stack slice, measured at run time by ``threads.livestate``).
* **Unbounded**: a function on a cycle of the call graph (recursion, direct or mutual), or one
  that calls such a function; the cycle is given as a chain.
* **Unknown**: a function that calls something unresolved (a callable computed at run time: the
  paper's "function pointers"; a method of a receiver of unknown type), or calls such a function.
  Its bound covers the resolved calls only (a lower bound on the true one), and the first
  unresolved call is given, as ``mayblock`` gives it. It is never reported as bounded. A cycle
  closed only by a method matched by name (``mayblock``'s fallback) is unknown, not recursion.
* A function handed to ``greenlet(run=...)`` runs on its own stack: not counted in its creator's.

The call sites whose target is unbounded or unknown are the ones that "may require stack
growth" (``growth_sites``). Output: ``file:line: note: stack bounded|unknown|unbounded ...``.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field

from .mayblock import Analysis, _short
from .resolve import Func

__all__ = ["StackBound", "stack_bounds", "frame_bytes", "FRAME_HEADER", "format_bounds"]


def _calibrate() -> int:
    def probe(a):
        b = a
        return sys._getframe(), b

    frame, _ = probe(0)
    c = probe.__code__
    slots = c.co_nlocals + len(c.co_cellvars) + len(c.co_freevars) + c.co_stacksize
    return sys.getsizeof(frame) - 8 * slots


#: bytes of a frame with no locals and no value stack, on this interpreter
FRAME_HEADER = _calibrate()


def frame_bytes(code) -> int:
    """``sys.getsizeof`` of a frame running ``code`` (header + a pointer per slot)."""
    return FRAME_HEADER + 8 * (code.co_nlocals + len(code.co_cellvars) + len(code.co_freevars)
                               + code.co_stacksize)


@dataclass
class StackBound:
    func: Func
    frame: int                          # this function's own frame, bytes
    bytes: int | None = None            # None: unbounded (recursion)
    frames: int | None = None
    reason: list = field(default_factory=list)    # the cycle, or the deepest chain
    unknown: list | None = None         # the first unresolved call's chain (bound is partial)
    c_calls: int = 0                    # call sites into code without source
    growth_sites: list = field(default_factory=list)   # call sites whose target is unbounded

    @property
    def bounded(self) -> bool:
        return self.bytes is not None and self.unknown is None

    @property
    def status(self) -> str:
        return "unbounded" if self.bytes is None else "unknown" if self.unknown else "bounded"

    def format(self) -> str:
        where = _short(f"{self.func.file}:{self.func.line}")
        head = f"{where}: note: stack {self.status}: {self.func.qualname} (frame {self.frame} B)"
        if self.bytes is None:
            return f"{head}: " + " -> ".join(self.reason)
        out = f"{head}: {self.bytes:,} B in {self.frames} frames"
        if self.reason:
            out += ": " + " -> ".join(self.reason)
        if self.unknown:
            out += "; resolved calls only, unresolved: " + " -> ".join(self.unknown)
        return out


class _Codes:
    """Code objects of the analysed modules, by (file, first line, name)."""

    def __init__(self) -> None:
        self.by_file: dict[str, dict] = {}

    def code(self, f: Func):
        file = f.module.file
        table = self.by_file.get(file)
        if table is None:
            table = self.by_file[file] = {}
            try:
                with open(file, encoding="utf-8") as fh:
                    top = compile(fh.read(), file, "exec", dont_inherit=True)
            except (OSError, SyntaxError, ValueError):
                top = None
            todo = [top] if top is not None else []
            while todo:
                c = todo.pop()
                table[(c.co_firstlineno, c.co_name)] = c
                todo += [k for k in c.co_consts if hasattr(k, "co_code")]
        node = f.node
        name = "<lambda>" if isinstance(node, ast.Lambda) else node.name
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        return table.get((first, name)) or table.get((node.lineno, name))


def stack_bounds(a: Analysis, funcs: list[Func] | None = None) -> dict[Func, StackBound]:
    """A ``StackBound`` for each of ``funcs`` (default: every checked function)."""
    if funcs is None:
        funcs = [f for m in a.project.checked for f in m.functions]
    codes = _Codes()
    out: dict[Func, StackBound] = {}
    busy: list[Func] = []

    def visit(f: Func) -> StackBound:
        if f in out:
            return out[f]
        code = codes.code(f)
        b = StackBound(f, frame_bytes(code) if code is not None else FRAME_HEADER)
        if f in busy:                              # a cycle: the caller marks it
            return b
        busy.append(f)
        best, best_chain, cycle_chain, unknown = 0, [], None, None
        depth = 0
        for c in a.calls(f):
            here = f"{c.text}() at {_short(c.where)}"
            other_stack = any(t.kind in ("ext", "switch") and (t.name or "").startswith(
                "greenlet") for t in c.targets)
            for t in c.targets:
                if other_stack and t.kind == "func":
                    continue                   # greenlet(run=f): f runs on its own stack
                if t.kind == "unknown":
                    unknown = unknown or [here, t.describe()]
                    b.growth_sites.append(c.where)
                    continue
                if t.kind != "func":
                    b.c_calls += 1
                    continue
                g = t.func
                if g in busy and t.by_name:
                    unknown = unknown or [here, f"{t.describe()}: a cycle only by method name"]
                    b.growth_sites.append(c.where)
                    continue
                if g in busy:
                    cycle = busy[busy.index(g):] + [g]
                    cycle_chain = cycle_chain or ["recursion: " + " -> ".join(
                        x.qualname.rpartition(".")[2] for x in cycle) + f" at {_short(c.where)}"]
                    b.growth_sites.append(c.where)
                    continue
                sub = visit(g)
                if sub.bytes is None:
                    cycle_chain = cycle_chain or [here] + sub.reason
                    b.growth_sites.append(c.where)
                    continue
                if sub.unknown:
                    unknown = unknown or [here] + sub.unknown
                    b.growth_sites.append(c.where)
                if sub.bytes > best:
                    best, depth = sub.bytes, sub.frames
                    best_chain = [here] + sub.reason
        busy.pop()
        if cycle_chain is not None:
            b.reason = cycle_chain
        else:
            b.bytes, b.frames, b.reason = b.frame + best, 1 + depth, best_chain
            b.unknown = unknown
        out[f] = b
        return b

    a.solve(funcs)
    for f in funcs:
        visit(f)
    return {f: out[f] for f in funcs if f in out}


def format_bounds(bounds: dict[Func, StackBound]) -> list[str]:
    return [b.format() for b in bounds.values()]
