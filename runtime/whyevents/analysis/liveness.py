"""Live state at blocking points: which locals a thread's frame holds while it is parked.

The paper (section 4, "Live State Management"): a compiler could purge dead state before a call,
and "could also warn the programmer of cases where large amounts of state might be held across a
blocking call". CPython purges nothing: a parked frame keeps every local it has bound, live or
not. For every blocking point of a function (a call ``mayblock`` says may switch threads, or an
``await``) this module computes, from the function's AST:

* **live across the call**: locals read after the call returns, on some path, before they are
  assigned again (a backward liveness analysis over the function's control flow: statements in
  order, both arms of a branch, loops to a fixpoint, ``break``/``continue``/``return`` to where
  they go, any statement of a ``try`` body to its handlers, ``finally`` after all of them).
  These are the thread's continuation: what an event handler would have to carry in its state
  object ("stack ripping").
* **pinned though dead**: locals possibly bound at the call (a parameter, or assigned earlier in
  the function or anywhere in a loop around the call) that are not live: the frame keeps them
  alive for nothing. A compiler could drop them; by hand, ``del`` them or narrow their scope.

**The large-state heuristic** (what a warning means). A local is *possibly large* when one of its
assignments makes a fresh, unbounded buffer or collection: a ``recv``/``read``/``pread``-style
call (received or read bytes), ``bytes()``/``bytearray()``/``list()``/``dict()``/``set()``/
``sorted()``/``.join()``/``.split()``/``.copy()``, a list, dict or set display or comprehension,
a repetition (``x * n``), or an accumulation (``x += ...``, ``x = x + ...``). Constants, scalars
and objects returned by other calls are not flagged (their size is not visible in the source;
the run-time probe ``threads.livestate`` measures them). A possibly-large local live across a
blocking call is warned as *held*; one pinned though dead as *pinned*. The warning is advice, as
the paper's compiler's would be: it never changes the exit status.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from .mayblock import BLOCKS, Analysis, _short
from .resolve import Func

__all__ = ["BlockingPoint", "live_state", "function_points", "format_points", "LARGE_CALLS"]

#: calls whose result is a fresh buffer or collection of unbounded size (by callee name)
LARGE_CALLS = frozenset({
    "recv", "recvfrom", "recvmsg", "read", "readline", "readlines", "read1", "readall",
    "pread", "preadv", "bytes", "bytearray", "list", "dict", "set", "sorted", "join", "split",
    "splitlines", "copy", "deepcopy", "getvalue", "encode", "decode", "tobytes", "tolist",
    "frombytes", "fromkeys", "items", "values", "keys",
})


@dataclass
class BlockingPoint:
    """One blocking call (or ``await``) and the state its frame holds while parked there."""

    func: Func
    node: ast.AST                      # the Call or Await
    what: str                          # "recv()" / "await ..."
    live: list = field(default_factory=list)
    pinned: list = field(default_factory=list)
    large: dict = field(default_factory=dict)     # local -> why it may be large

    @property
    def where(self) -> str:
        return f"{self.func.file}:{self.node.lineno}:{self.node.col_offset + 1}"

    def warnings(self) -> list[str]:
        out = []
        for name in self.live:
            if name in self.large:
                out.append(f"{_short_where(self)}: warning: large state held across a blocking "
                           f"call: {name!r} ({self.large[name]}) is live across {self.what} "
                           f"in {self.func.qualname}")
        for name in self.pinned:
            if name in self.large:
                out.append(f"{_short_where(self)}: warning: large state pinned across a "
                           f"blocking call though dead: {name!r} ({self.large[name]}) at "
                           f"{self.what} in {self.func.qualname}: del it before the call")
        return out

    def note(self) -> str:
        return (f"{_short_where(self)}: note: {self.func.qualname}: {self.what} [may block]: "
                f"live {', '.join(self.live) or '-'}; pinned though dead "
                f"{', '.join(self.pinned) or '-'}")


def _short_where(p: BlockingPoint) -> str:
    return f"{_short(f'{p.func.file}:{p.node.lineno}')}:{p.node.col_offset + 1}"


# ---------------------------------------------------------------------------------------------
# Uses and definitions
# ---------------------------------------------------------------------------------------------

def _loads(node: ast.AST | None) -> set:
    """Names read by an expression (names bound by its comprehensions excluded)."""
    if node is None:
        return set()
    loads, bound = set(), set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
            loads.add(n.id)
        elif isinstance(n, ast.comprehension):
            bound |= {t.id for t in ast.walk(n.target) if isinstance(t, ast.Name)}
        elif isinstance(n, ast.arg):
            bound.add(n.arg)                         # a lambda's parameters
    return loads - bound


def _targets(t: ast.AST) -> tuple[set, set]:
    """(names a target binds, names it reads: subscript and attribute bases)."""
    if isinstance(t, ast.Name):
        return {t.id}, set()
    if isinstance(t, (ast.Tuple, ast.List)):
        d, u = set(), set()
        for e in t.elts:
            d2, u2 = _targets(e)
            d |= d2
            u |= u2
        return d, u
    if isinstance(t, ast.Starred):
        return _targets(t.value)
    return set(), _loads(t)


def _simple(s: ast.stmt) -> tuple[set, set]:
    """(uses, defs) of a simple statement."""
    if isinstance(s, ast.Assign):
        d, u = set(), _loads(s.value)
        for t in s.targets:
            d2, u2 = _targets(t)
            d |= d2
            u |= u2
        return u | _walrus(s.value), d | _walrus(s.value)
    if isinstance(s, ast.AugAssign):
        d, u = _targets(s.target)
        return u | d | _loads(s.value), d
    if isinstance(s, ast.AnnAssign):
        if s.value is None:
            return set(), set()
        d, u = _targets(s.target)
        return u | _loads(s.value), d
    if isinstance(s, ast.Delete):
        d, u = set(), set()
        for t in s.targets:
            d2, u2 = _targets(t)
            d |= d2
            u |= u2
        return u, d
    if isinstance(s, (ast.Import, ast.ImportFrom)):
        return set(), {(a.asname or a.name).split(".")[0] for a in s.names}
    if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        uses = set()
        for n in ast.walk(s):
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
                uses.add(n.id)                       # free names: held by the closure
        return uses, {s.name}
    if isinstance(s, (ast.Global, ast.Nonlocal, ast.Pass, ast.Break, ast.Continue)):
        return set(), set()
    uses = set()
    for child in ast.iter_child_nodes(s):
        uses |= _loads(child)
    return uses, _walrus(s)


def _walrus(node: ast.AST) -> set:
    return {n.target.id for n in ast.walk(node) if isinstance(n, ast.NamedExpr)}


# ---------------------------------------------------------------------------------------------
# Backward liveness over structured control flow
# ---------------------------------------------------------------------------------------------

class _Liveness:
    """``after[id(host)] = (live after the host's expressions are evaluated, names the host
    then binds)`` for every simple statement and compound header of one function."""

    def __init__(self) -> None:
        self.after: dict[int, tuple[frozenset, frozenset, ast.AST]] = {}
        self.loops: list[tuple[frozenset, frozenset]] = []   # (break target, continue target)
        self.exc: frozenset = frozenset()                     # live at the enclosing handlers
        self.ret: frozenset = frozenset()                     # live where return goes

    def block(self, stmts, out: frozenset) -> frozenset:
        live = out
        for s in reversed(stmts):
            live = self.stmt(s, live)
        return live

    def _host(self, host: ast.AST, out: frozenset, defs=frozenset()) -> None:
        self.after[id(host)] = (out, frozenset(defs), host)

    def stmt(self, s: ast.stmt, out: frozenset) -> frozenset:
        exc = self.exc
        if isinstance(s, ast.If):
            branches = self.block(s.body, out) | self.block(s.orelse, out)
            self._host(s.test, branches)
            return branches | _loads(s.test) | exc
        if isinstance(s, ast.While):
            head = frozenset()
            for _ in range(50):
                self.loops.append((out, head))
                body = self.block(s.body, head)
                self.loops.pop()
                new = frozenset(_loads(s.test) | body | self.block(s.orelse, out) | exc)
                if new == head:
                    break
                head = new
            self._host(s.test, head - _loads(s.test) | self.block(s.body, head))
            return head
        if isinstance(s, (ast.For, ast.AsyncFor)):
            tdefs, tuses = _targets(s.target)
            orelse = self.block(s.orelse, out)
            head = frozenset()
            for _ in range(50):
                self.loops.append((out, head))
                body = self.block(s.body, head)
                self.loops.pop()
                new = frozenset((body - tdefs) | tuses | orelse | exc)
                if new == head:
                    break
                head = new
            self._host(s.iter, head)               # an `async for` blocks at its head
            self._host(s.target, head | self.block(s.body, head), tdefs)
            return head | _loads(s.iter)
        if isinstance(s, (ast.With, ast.AsyncWith)):
            body = self.block(s.body, out)
            defs, uses = set(), set()
            for item in s.items:
                if item.optional_vars is not None:
                    d, u = _targets(item.optional_vars)
                    defs |= d
                    uses |= u
            after = frozenset((body - defs) | uses)
            for item in s.items:
                self._host(item.context_expr, after, defs)
            return after | set().union(*(_loads(i.context_expr) for i in s.items)) | exc
        if isinstance(s, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            fin = self.block(s.finalbody, out) if s.finalbody else out
            saved_ret, saved_exc = self.ret, self.exc
            if s.finalbody:
                self.ret = self.block(s.finalbody, saved_ret)
            handlers = frozenset()
            self.exc = (self.block(s.finalbody, exc) | exc) if s.finalbody else exc
            for h in s.handlers:
                hb = self.block(h.body, fin)
                handlers |= (hb - ({h.name} if h.name else set())) | _loads(h.type)
            self.exc = handlers | self.exc
            orelse = self.block(s.orelse, fin)
            body = self.block(s.body, orelse)
            self.ret, self.exc = saved_ret, saved_exc
            return body | handlers
        if isinstance(s, ast.Match):
            live = out
            for case in s.cases:
                live = live | self.block(case.body, out) | _loads(case.guard)
            self._host(s.subject, live)
            return live | _loads(s.subject) | exc
        if isinstance(s, ast.Return):
            self._host(s, self.ret)
            return frozenset(_loads(s.value) | self.ret)
        if isinstance(s, ast.Raise):
            self._host(s, exc)
            return frozenset(_loads(s.exc) | _loads(s.cause) | exc)
        if isinstance(s, ast.Break):
            return self.loops[-1][0] if self.loops else out
        if isinstance(s, ast.Continue):
            return self.loops[-1][1] if self.loops else out
        uses, defs = _simple(s)
        self._host(s, out | exc, defs)
        return frozenset(uses | (out - defs) | exc)


class _Bound:
    """Forward may-analysis: ``before[id(host)]`` = locals possibly bound when the host's
    expressions are evaluated (``del`` unbinds; loops to a fixpoint; handlers see anything
    bound in their ``try`` body)."""

    def __init__(self) -> None:
        self.before: dict[int, frozenset] = {}
        self.loops: list[list] = []          # [[sets at break], [sets at continue]]

    def block(self, stmts, b: frozenset) -> frozenset | None:
        for s in stmts:
            if b is None:
                return None                  # unreachable
            b = self.stmt(s, b)
        return b

    def _hosts(self, nodes, b: frozenset) -> None:
        for n in nodes:
            if n is not None:
                self.before[id(n)] = b

    def stmt(self, s: ast.stmt, b: frozenset):
        U = _union
        if isinstance(s, ast.If):
            self._hosts([s.test], b)
            return U(self.block(s.body, b), self.block(s.orelse, b))
        if isinstance(s, (ast.While, ast.For, ast.AsyncFor)):
            head = b
            tdefs = _targets(s.target)[0] if not isinstance(s, ast.While) else set()
            for _ in range(50):
                self._hosts([getattr(s, "test", None), getattr(s, "iter", None), s], head)
                self.loops.append([[], []])
                end = self.block(s.body, head | tdefs)
                brk, cont = self.loops.pop()
                new = U(head, end, *cont)
                if new == head:
                    break
                head = new
            return U(self.block(s.orelse, head), *brk)
        if isinstance(s, (ast.With, ast.AsyncWith)):
            self._hosts([i.context_expr for i in s.items] + [s], b)
            defs = set().union(*(_targets(i.optional_vars)[0] for i in s.items
                                 if i.optional_vars is not None))
            return self.block(s.body, b | defs)
        if isinstance(s, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            inside = b | _stores(s.body)
            end = self.block(s.orelse, self.block(s.body, b)) if s.orelse else \
                self.block(s.body, b)
            for h in s.handlers:
                end = U(end, self.block(h.body, inside | ({h.name} if h.name else set())))
            if s.finalbody:
                fin = self.block(s.finalbody, U(end, inside | _stores(s.handlers)))
                return fin if end is not None else None
            return end
        if isinstance(s, ast.Match):
            self._hosts([s.subject], b)
            return U(b, *(self.block(c.body, b | _stores([c.pattern])) for c in s.cases))
        if isinstance(s, (ast.Return, ast.Raise)):
            self._hosts([s], b)
            return None
        if isinstance(s, ast.Break):
            if self.loops:
                self.loops[-1][0].append(b)
            return None
        if isinstance(s, ast.Continue):
            if self.loops:
                self.loops[-1][1].append(b)
            return None
        self._hosts([s], b)
        uses, defs = _simple(s)
        return (b - defs) if isinstance(s, ast.Delete) else (b | defs)


def _union(*sets):
    real = [x for x in sets if x is not None]
    return frozenset().union(*real) if real else None


def _stores(nodes) -> set:
    out = set()
    for node in nodes:
        for n in ast.walk(node):
            if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load):
                out.add(n.id)
            elif isinstance(n, ast.MatchAs | ast.MatchStar) and n.name:
                out.add(n.name)
    return out


# ---------------------------------------------------------------------------------------------
# Blocking points of a function
# ---------------------------------------------------------------------------------------------

def _locals(node) -> tuple[set, set]:
    """(parameters, every local name) of a function node."""
    a = node.args
    params = {x.arg for x in a.posonlyargs + a.args + a.kwonlyargs}
    params |= {x.arg for x in (a.vararg, a.kwarg) if x is not None}
    declared = set()
    names = set(params)
    for n in _own(node):
        if isinstance(n, (ast.Global, ast.Nonlocal)):
            declared |= set(n.names)
        elif isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load):
            names.add(n.id)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
                and n is not node:
            names.add(n.name)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            names |= {(x.asname or x.name).split(".")[0] for x in n.names}
        elif isinstance(n, ast.ExceptHandler) and n.name:
            names.add(n.name)
    return params, names - declared


def _own(node):
    """Nodes of a function's body, not of functions or classes nested in it (their own
    defining statement is yielded; comprehension scopes are included)."""
    todo = list(ast.iter_child_nodes(node))
    while todo:
        n = todo.pop()
        yield n
        if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            todo.extend(ast.iter_child_nodes(n))


def _pos(n: ast.AST) -> tuple[int, int]:
    return (n.lineno, n.col_offset)


def _end(n: ast.AST) -> tuple[int, int]:
    return (n.end_lineno, n.end_col_offset)


def _large_defs(node, names: set) -> dict:
    """local -> why it may be large (the heuristic in the module docstring)."""
    out: dict[str, str] = {}
    buffers = set()
    for n in _own(node):
        if isinstance(n, ast.Assign) and _is_buffer(n.value):
            buffers |= {t.id for t in n.targets if isinstance(t, ast.Name)}
    for n in _own(node):
        if isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name) \
                and isinstance(n.op, (ast.Add, ast.Mult)) and (
                    n.target.id in buffers or _large_value(n.value, []) is not None):
            out.setdefault(n.target.id, f"accumulated with an augmented assignment at "
                                        f"line {n.lineno}")
        elif isinstance(n, (ast.Assign, ast.AnnAssign, ast.NamedExpr)) and n.value is not None:
            tgts = n.targets if isinstance(n, ast.Assign) else [n.target]
            why = _large_value(n.value, tgts)
            if why:
                for t in tgts:
                    if isinstance(t, ast.Name) and t.id in names:
                        out.setdefault(t.id, f"{why} at line {n.lineno}")
    return out


def _is_buffer(v: ast.AST) -> bool:
    """A bytes/str/list/dict/set value, empty or not (what ``+=`` then grows)."""
    if isinstance(v, ast.Constant):
        return isinstance(v.value, (bytes, str))
    if isinstance(v, (ast.List, ast.Dict, ast.Set, ast.JoinedStr)):
        return True
    return isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and v.func.id in (
        "bytes", "bytearray", "list", "dict", "set", "str")


def _large_value(v: ast.AST, targets) -> str | None:
    if isinstance(v, ast.Await):
        v = v.value
    if isinstance(v, (ast.List, ast.Dict, ast.Set)) and (
            getattr(v, "elts", None) or getattr(v, "keys", None)):
        return f"a {type(v).__name__.lower()} display"
    if isinstance(v, (ast.ListComp, ast.DictComp, ast.SetComp)):
        return "a comprehension"
    if isinstance(v, ast.BinOp) and isinstance(v.op, ast.Mult) \
            and not all(isinstance(x, ast.Constant) and isinstance(x.value, int)
                        for x in (v.left, v.right)):
        return "a repetition"
    if isinstance(v, ast.BinOp) and isinstance(v.op, ast.Add):
        names = {t.id for t in targets if isinstance(t, ast.Name)}
        if any(isinstance(x, ast.Name) and x.id in names for x in ast.walk(v)):
            return "accumulated with +"
    if isinstance(v, ast.Call):
        f = v.func
        name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
        if name in LARGE_CALLS and (v.args or v.keywords or name in ("readlines", "read",
                                                                      "readall", "getvalue",
                                                                      "copy", "tolist")):
            return f"from {name}()"
    return None


def function_points(a: Analysis, f: Func) -> list[BlockingPoint]:
    """The blocking points of ``f`` with the locals live across each and those pinned."""
    node = f.node
    if isinstance(node, ast.Lambda) or not isinstance(node, (ast.FunctionDef,
                                                              ast.AsyncFunctionDef)):
        return []
    sites = []
    for c in a.calls(f):
        verdict, _ = a.call_verdict(c)
        if verdict == BLOCKS:
            sites.append((c.node, f"{c.text}()"))
    for n in _own(node):
        if isinstance(n, ast.Await):
            sites.append((n, "await " + _clip(ast.unparse(n.value))))
        elif isinstance(n, (ast.AsyncFor, ast.AsyncWith)):
            sites.append((n, "async " + ("for" if isinstance(n, ast.AsyncFor) else "with")))
    awaited = {id(n.value) for n, _ in sites if isinstance(n, ast.Await)}
    sites = [(n, w) for n, w in sites if id(n) not in awaited]
    if not sites:
        return []
    lv = _Liveness()
    lv.block(node.body, frozenset())
    params, names = _locals(node)
    hosts = {}
    for out, defs, host in lv.after.values():
        for n in ast.walk(host):
            if isinstance(n, (ast.Call, ast.Await)):
                hosts.setdefault(id(n), (out, defs, host))
        hosts.setdefault(id(host), (out, defs, host))
    fb = _Bound()
    fb.block(node.body, frozenset(params))
    bound_at = {}
    for host_id, b in fb.before.items():
        bound_at[host_id] = b
    for _out, _defs, host in lv.after.values():
        b = fb.before.get(id(host))
        if b is not None:
            for n in ast.walk(host):
                bound_at.setdefault(id(n), b)
    large = _large_defs(node, names)
    points = []
    for site, what in sorted(sites, key=lambda s: _pos(s[0])):
        out, defs, host = hosts.get(id(site), (frozenset(), frozenset(), site))
        later = {n.id for n in ast.walk(host) if isinstance(n, ast.Name)
                 and isinstance(n.ctx, ast.Load) and _pos(n) >= _end(site)}
        if isinstance(host, (ast.Assign, ast.AugAssign)):
            for t in (host.targets if isinstance(host, ast.Assign) else [host.target]):
                later |= _targets(t)[1]
        live = ((out - defs) | later) & names
        bound = bound_at.get(id(site), frozenset(params))
        bound = bound | _walrus_before(host, site)
        pinned = (bound & names) - live
        points.append(BlockingPoint(f, site, what, sorted(live), sorted(pinned),
                                    {k: v for k, v in large.items() if k in live | pinned}))
    return points


def _walrus_before(host: ast.AST, site: ast.AST) -> set:
    return {n.target.id for n in ast.walk(host) if isinstance(n, ast.NamedExpr)
            and _end(n) <= _pos(site)}


def _clip(s: str) -> str:
    return s if len(s) <= 40 else s[:37] + "..."


def live_state(a: Analysis) -> list[BlockingPoint]:
    """Every blocking point of every function of the checked modules."""
    funcs = [f for m in a.project.checked for f in m.functions]
    a.solve(funcs)
    out = []
    for f in funcs:
        out += function_points(a, f)
    return out


def format_points(points: list[BlockingPoint], notes: bool = True) -> list[str]:
    """Report lines: a note per blocking point (``notes``), then the warnings."""
    lines = [p.note() for p in points] if notes else []
    for p in points:
        lines += p.warnings()
    return lines
