"""The static blocking graph: blocking points found in source, and the code paths between them.

The paper (section 2.1, after Lauer and Needham): "Each node in this graph represents a blocking
or yielding point, and each edge represents the code that is executed between two such points."
``duality.blocking_graph`` records that graph from a running server; this module predicts it
from the source, so the two can be compared (every recorded edge must be a predicted one).

Nodes are call sites in the checked code (``"recv@knot/connection.py:140"``):

* a call that may switch threads (``mayblock``: a lock wait, a green socket read, a sleep...);
* an I/O operation the dual event loop waits around even though it never blocks: a socket
  method ``accept``/``recv*``/``send*``/``close`` (``close`` ends a connection's path, as the
  recorder counts it), a disk read (``pread``, ``preadv``) or a hand-off to the disk pool
  (``submit``), named ``load`` as the event loop's recorder names a page-cache miss.

Edges come from following control flow: statements in order, both arms of every branch, loops
around their back edges, ``break``/``continue``/``return`` to where they go (through
``finally``), and an exception from any point of a ``try`` body to its handlers. Calls of
functions in the checked code are followed into their bodies (a summary per function: its first
nodes, the nodes it may end on, whether it may pass through none); calls elsewhere are nodes or
nothing. An exception leaving a function is not followed into its caller (it ends the thread in
the servers analysed here). Functions nothing in the checked code calls are the roots: their
first nodes get an edge from ``start``. Unresolved calls are not nodes: the graph says what the
resolved code does, and ``mayblock`` lists the unresolved calls.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass, field

from .mayblock import BLOCKS, Analysis, _follow_local
from .resolve import Func, _own_nodes

__all__ = ["static_graph", "StaticGraph", "ENTRY"]

ENTRY = "start"
_METHOD_IO = {"accept": "accept", "_accept": "accept", "recv": "recv", "recv_into": "recv_into",
              "recvfrom": "recvfrom", "recvmsg": "recvmsg", "send": "send",
              "sendall": "sendall", "sendmsg": "sendmsg", "sendfile": "sendfile",
              "close": "close"}
_DISK = {"pread": "load", "preadv": "load", "preadinto": "load", "submit": "load"}


@dataclass
class Summary:
    first: frozenset = frozenset()
    exits: frozenset = frozenset({ENTRY})


@dataclass
class _Walk:
    func: Func
    first: set = field(default_factory=set)
    exits: set = field(default_factory=set)
    loops: list = field(default_factory=list)       # [(breaks, continues)]
    catch: list = field(default_factory=list)       # frontier sets seen inside try bodies
    finals: list = field(default_factory=list)      # enclosing finally bodies


class StaticGraph:
    """Builds the graph of the checked modules of an ``Analysis``."""

    def __init__(self, analysis: Analysis) -> None:
        self.a = analysis
        self.checked = {m.name for m in analysis.project.checked}
        self.funcs = [f for m in analysis.project.checked for f in m.functions]
        self.edges: set = set()
        self.summaries: dict[Func, Summary] = {}
        self._busy: set = set()
        self.called: set = set()

    def build(self):
        from ..duality.blocking_graph import BlockingGraph

        for _ in range(12):
            before = (len(self.edges), dict(self.summaries))
            for f in self.funcs:
                self.summaries[f] = self._summarize(f)
            if before == (len(self.edges), self.summaries):
                break
        for f in self.funcs:
            if f not in self.called:
                for n in self.summaries[f].first:
                    self.edges.add((ENTRY, n))
        return BlockingGraph({e: 1 for e in self.edges})

    # -- per function ---------------------------------------------------------------------------

    def _summary(self, f: Func) -> Summary:
        if f in self._busy or f in self.summaries:
            return self.summaries.get(f, Summary())
        return self._summarize(f)

    def _summarize(self, f: Func) -> Summary:
        self._busy.add(f)
        try:
            w = _Walk(f)
            self._calls_of = {id(c.node): c for c in self.a.calls(f)}
            calls_of = self._calls_of
            body = [f.node.body] if isinstance(f.node, ast.Lambda) else f.node.body
            out = self._stmts(w, body, frozenset({ENTRY}), calls_of)
            w.exits |= out
            s = Summary(frozenset(w.first), frozenset(w.exits))
            self.summaries[f] = s
            return s
        finally:
            self._busy.discard(f)

    def _stmts(self, w: _Walk, body, F: frozenset, calls_of) -> frozenset:
        for s in body:
            if not F:
                break                      # unreachable after return/raise/break/continue
            F = self._stmt(w, s, F, calls_of)
        return F

    def _stmt(self, w: _Walk, s, F: frozenset, calls_of) -> frozenset:
        if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return F
        if isinstance(s, ast.Return):
            F = self._expr(w, s.value, F, calls_of)
            for final in reversed(w.finals):
                F = self._stmts(w, final, F, calls_of)
            w.exits |= F
            return frozenset()
        if isinstance(s, ast.Raise):
            F = self._expr(w, s.exc, F, calls_of)
            self._seen(w, F)
            return frozenset()
        if isinstance(s, ast.Break):
            if w.loops:
                w.loops[-1][0].update(F)
            return frozenset()
        if isinstance(s, ast.Continue):
            if w.loops:
                w.loops[-1][1].update(F)
            return frozenset()
        if isinstance(s, ast.If):
            F = self._expr(w, s.test, F, calls_of)
            return self._stmts(w, s.body, F, calls_of) | self._stmts(w, s.orelse, F, calls_of)
        if isinstance(s, (ast.While, ast.For, ast.AsyncFor)):
            return self._loop(w, s, F, calls_of)
        if isinstance(s, (ast.With, ast.AsyncWith)):
            for item in s.items:
                F = self._expr(w, item.context_expr, F, calls_of)
            return self._stmts(w, s.body, F, calls_of)
        if isinstance(s, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            return self._try(w, s, F, calls_of)
        if isinstance(s, ast.Match):
            F = self._expr(w, s.subject, F, calls_of)
            return frozenset().union(*(self._stmts(w, c.body, F, calls_of) for c in s.cases)) | F
        return self._expr(w, s, F, calls_of)

    def _loop(self, w: _Walk, s, F: frozenset, calls_of) -> frozenset:
        infinite = isinstance(s, ast.While) and isinstance(s.test, ast.Constant) and s.test.value
        head = frozenset(F)
        while True:
            brk, cont = set(), set()
            w.loops.append((brk, cont))
            entry = self._expr(w, s.test if isinstance(s, ast.While) else s.iter, head,
                               calls_of)
            out = self._stmts(w, s.body, entry, calls_of)
            w.loops.pop()
            new = head | out | frozenset(cont)
            if new == head:
                break
            head = new
        after = frozenset(brk)
        if not infinite:
            after |= self._stmts(w, s.orelse, entry, calls_of)
        return after

    def _try(self, w: _Walk, s, F: frozenset, calls_of) -> frozenset:
        seen: set = set(F)
        w.catch.append(seen)
        if s.finalbody:
            w.finals.append(s.finalbody)
        out = self._stmts(w, s.body, F, calls_of)
        w.catch.pop()
        out = self._stmts(w, s.orelse, out, calls_of) if out else out
        raised = frozenset(seen)
        for h in s.handlers:
            out |= self._stmts(w, h.body, raised, calls_of)
        if s.finalbody:
            w.finals.pop()
            return self._stmts(w, s.finalbody, out | raised, calls_of)
        return out

    def _seen(self, w: _Walk, F) -> None:
        for seen in w.catch:
            seen.update(F)

    # -- calls ----------------------------------------------------------------------------------

    def _expr(self, w: _Walk, node, F: frozenset, calls_of) -> frozenset:
        if node is None or not F:
            return F
        calls = [n for n in _walk_expr(node) if isinstance(n, ast.Call)]
        calls.sort(key=lambda n: (n.end_lineno, n.end_col_offset))   # inner calls first
        for n in calls:
            c = calls_of.get(id(n))
            if c is not None:
                F = self._call(w, c, F)
                self._seen(w, F)
        return F

    def _call(self, w: _Walk, c, F: frozenset) -> frozenset:
        name = _callee_name(self.a, w.func, c.node.func)
        e = _follow_local(self.a.project, w.func, c.node.func)[0]
        method = isinstance(e, ast.Attribute) and not any(
            v[0] == "module" for v in self.a.project.values(e.value, w.func, w.func.module))
        raw = _DISK.get(name) or (_METHOD_IO.get(name) if method else None)
        if raw is None:
            inline = [t.func for t in c.targets if t.func is not None
                      and t.func.module.name in self.checked]
            others = [t for t in c.targets if t.func is None
                      or t.func.module.name not in self.checked]
            blocks = others and self._blocks(c, others)
            if inline:
                out: frozenset = frozenset()
                for g in inline:
                    self.called.add(g)
                    out |= self._apply(w, self._summary(g), F)
                if blocks:
                    out |= self._node(w, f"{name}()@{_site(c)}", F)
                elif others or not inline:
                    out |= F
                return out
            if not blocks:
                return F
            raw = f"{name}()"
        return self._node(w, f"{raw}@{_site(c)}", F)

    def _blocks(self, c, targets) -> bool:
        self.a.solve([t.func for t in targets if t.func is not None])
        return any(t.kind == "switch" or t.func is not None and
                   self.a._target_verdict(c.func, t, c) == BLOCKS for t in targets)

    def _node(self, w: _Walk, node: str, F: frozenset) -> frozenset:
        for x in F:
            if x == ENTRY:
                w.first.add(node)
            else:
                self.edges.add((x, node))
        self._seen(w, F)
        return frozenset({node})

    def _apply(self, w: _Walk, s: Summary, F: frozenset) -> frozenset:
        for n in s.first:
            self._node(w, n, F)
        out = s.exits - {ENTRY}
        if ENTRY in s.exits:
            out |= F
        return frozenset(out)


def _walk_expr(node):
    yield node
    if isinstance(node, (ast.Lambda, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.stmt):
            continue
        yield from _walk_expr(child)


def _callee_name(a: Analysis, f: Func, expr) -> str:
    e = _follow_local(a.project, f, expr)[0]
    if isinstance(e, ast.Attribute):
        return e.attr
    if isinstance(e, ast.Name):
        return e.id
    return "call"


def _site(c) -> str:
    return f"{os.path.basename(c.func.file)}:{c.node.lineno}"


def static_graph(analysis: Analysis):
    """The static blocking graph of the analysis's checked modules (a ``BlockingGraph`` whose
    raw node names relabel onto the recorder's: ``graph.relabel()``)."""
    return StaticGraph(analysis).build()


_ = _own_nodes
