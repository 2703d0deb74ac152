"""May-block analysis: which functions may switch to another green thread, and the evidence.

One primitive is given: a greenlet ``switch`` (the only way the CPU moves from one green thread
to another). Everything else is derived from source by the same analysis: the runtime's
``Hub.park`` and ``Hub.yield_`` switch; ``WaitQueue.park`` calls ``hub.park``; ``Lock.acquire``
parks on a wait queue; ``socket.recv`` waits on the poller; ``threads.sleep`` yields or parks;
``time.sleep`` after ``monkey.patch_all()`` is ``monkey.sleep``, which calls it. ``primitives()``
lists what the runtime's public API comes to.

Verdicts, per function (the worst over its calls, transitively):

* ``BLOCKS``: some call chain reaches a switch; ``chain(f)`` is that chain, call by call.
* ``UNKNOWN``: no chain is known to switch, but some call could not be resolved (a callable
  computed at run time, a method of an object of unknown type that no analysed class defines,
  an instance called as a function); ``chain(f)`` leads to it. Never reported as clean.
* ``CLEAN``: every call resolves, and none may switch.

Trust: inside the runtime (``whyevents.threads``) and the stdlib, unresolved calls are not
propagated (only switches are): their callbacks are the caller's own functions, which the
caller's analysis sees where it passes them. Callables passed to code without source (``map``,
``sorted(key=)``, C extensions) are assumed to be called there.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass

from .resolve import RUNTIME, Func, Project, Target, _own_nodes

__all__ = ["CLEAN", "UNKNOWN", "BLOCKS", "VERDICTS", "Call", "Analysis"]

CLEAN, UNKNOWN, BLOCKS = 0, 1, 2
VERDICTS = {CLEAN: "clean", UNKNOWN: "unknown", BLOCKS: "may block"}
_STDLIB_DIRS = tuple({p for p in sys.path if "python3" in p and "site-packages" not in p})


@dataclass(eq=False)
class Call:
    """A call site: where, its text, and the targets it may call."""

    node: ast.Call
    func: Func
    targets: list

    @property
    def line(self) -> int:
        return self.node.lineno

    @property
    def where(self) -> str:
        return f"{self.func.file}:{self.node.lineno}"

    @property
    def text(self) -> str:
        s = ast.unparse(self.node.func)
        return s if len(s) <= 60 else s[:57] + "..."


class Analysis:
    """The may-block analysis of a ``Project`` (computed on demand, then cached)."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self._calls: dict[Func, list[Call]] = {}
        self.verdict: dict[Func, int] = {}
        self.witness: dict[Func, tuple[Call, Target]] = {}

    # -- call sites -----------------------------------------------------------------------------

    def calls(self, f: Func) -> list[Call]:
        out = self._calls.get(f)
        if out is None:
            out = self._calls[f] = []
            body = f.node.body if isinstance(f.node, ast.Lambda) else f.node
            nodes = [body] if isinstance(f.node, ast.Lambda) else []
            nodes += list(_own_nodes(f.node)) if not isinstance(f.node, ast.Lambda) else \
                list(ast.walk(body))
            for n in nodes:
                if isinstance(n, ast.Call):
                    out.append(Call(n, f, self.targets(f, n)))
            out.sort(key=lambda c: (c.node.lineno, c.node.col_offset))
        return out

    def targets(self, f: Func, call: ast.Call) -> list[Target]:
        p = self.project
        vals = p.values(call.func, f, f.module)
        text = ast.unparse(call.func)
        if not vals:
            exprs = _follow_local(p, f, call.func)
            if exprs and all(isinstance(e, ast.Attribute) for e in exprs) \
                    and not self._stdlib(f):
                return [t for e in exprs for t in self._by_name(f, e.attr, text)]
            return [Target("unknown", name=f"{text}(): a callable computed at run time")]
        out: list[Target] = []
        for v in vals:
            kind = v[0]
            if kind == "func":
                out.append(Target("func", v[1]))
            elif kind == "class":
                init = next((c.methods["__init__"] for c in p.mro(v[1])
                             if "__init__" in c.methods), None)
                if init is not None:
                    out.append(Target("func", init))
                else:
                    out.append(Target("ext", name=f"{v[1].qualname}()"))
            elif kind == "inst":
                meth = next((c.methods["__call__"] for c in p.mro(v[1])
                             if "__call__" in c.methods), None)
                out.append(Target("func", meth) if meth else
                           Target("unknown", name=f"{text}(): calls a {v[1].name} instance"))
            elif kind == "ext":
                if v[1].startswith("greenlet.") and v[1].endswith(".switch"):
                    out.append(Target("switch", name="greenlet.switch"))
                else:
                    out.append(Target("ext", name=v[1]))
                    out += self._callbacks(f, call)
            else:
                if isinstance(call.func, ast.Attribute) and not self._stdlib(f):
                    return self._by_name(f, call.func.attr, text)
                out.append(Target("unknown", name=f"{text}(): calls a {kind} value"))
        return out

    def _by_name(self, f: Func, attr: str, text: str) -> list[Target]:
        if attr == "switch":
            return [Target("switch", name="greenlet.switch")]
        out = []
        for kind, x in self.project.by_name(attr):
            if kind == "method":
                out.append(Target("func", x, by_name=True))
            else:
                for v in self.project.field_values(x, attr, 0):
                    if v[0] == "func":
                        out.append(Target("func", v[1], by_name=True))
                    elif v[0] == "class" and "__init__" in v[1].methods:
                        out.append(Target("func", v[1].methods["__init__"], by_name=True))
        if not out:
            out.append(Target("unknown", name=f"{text}(): receiver of unknown type, and no "
                                              f"analysed class defines {attr!r}"))
        return out

    def _callbacks(self, f: Func, call: ast.Call) -> list[Target]:
        """Functions passed to code without source: assume it calls them."""
        out = []
        for a in list(call.args) + [k.value for k in call.keywords]:
            if isinstance(a, (ast.Name, ast.Attribute, ast.Lambda)):
                for v in self.project.values(a, f, f.module):
                    if v[0] == "func":
                        out.append(Target("func", v[1]))
        return out

    # -- verdicts -------------------------------------------------------------------------------

    def trusted(self, f: Func) -> bool:
        """Unresolved calls inside the runtime and the stdlib do not make callers unknown."""
        return f.module.name.startswith(RUNTIME) or self._stdlib(f)

    @staticmethod
    def _stdlib(f: Func) -> bool:
        return f.module.file.startswith(_STDLIB_DIRS)

    def solve(self, roots) -> None:
        """Compute verdicts for ``roots`` and everything they may call."""
        todo = [f for f in roots if f not in self.verdict]
        seen = set(todo)
        order = []
        while todo:
            f = todo.pop()
            order.append(f)
            self.verdict[f] = CLEAN
            for c in self.calls(f):
                for t in c.targets:
                    g = t.func
                    if g is not None and g not in self.verdict and g not in seen:
                        seen.add(g)
                        todo.append(g)
        changed = True
        while changed:
            changed = False
            for f in order:
                best, why = self.verdict[f], self.witness.get(f)
                for c in self.calls(f):
                    for t in c.targets:
                        v = self._target_verdict(f, t, c)
                        if v > best:
                            best, why = v, (c, t)
                if best != self.verdict[f]:
                    self.verdict[f] = best
                    self.witness[f] = why
                    changed = True

    def _target_verdict(self, f: Func, t: Target, call: Call | None = None) -> int:
        if t.kind == "switch":
            return BLOCKS
        if t.kind == "unknown":
            return CLEAN if self.trusted(f) else UNKNOWN
        if t.kind == "func":
            if call is not None and _nonblocking_form(call.node, t.func):
                return CLEAN
            v = self.verdict.get(t.func, CLEAN)
            if v == UNKNOWN and self.trusted(f):
                return CLEAN
            return v
        return CLEAN

    def of(self, f: Func) -> int:
        if f not in self.verdict:
            self.solve([f])
        return self.verdict[f]

    def call_verdict(self, c: Call) -> tuple[int, Target | None]:
        """The worst a call site may do, and the target responsible."""
        self.solve([t.func for t in c.targets if t.func is not None])
        best, why = CLEAN, None
        for t in c.targets:
            v = self._target_verdict(c.func, t, c) if t.kind != "unknown" else UNKNOWN
            if v > best:
                best, why = v, t
        return best, why

    # -- evidence -------------------------------------------------------------------------------

    def chain(self, f: Func, limit: int = 12) -> list[str]:
        """``["f (file:line)", "g (file:line)", ..., "threads.sleep", "greenlet.switch"]``:
        the calls that make ``f`` block (or unknown), stopping at the runtime's API."""
        steps, seen = [], set()
        while f is not None and f not in seen and len(steps) < limit:
            seen.add(f)
            w = self.witness.get(f)
            if w is None:
                break
            call, t = w
            label = f"{call.text}() at {_short(call.where)}"
            steps.append(label)
            if t.kind != "func":
                steps.append(t.describe())
                break
            if t.func.module.name.startswith(RUNTIME):
                steps.append(f"{runtime_name(t.func)} [runtime: may switch threads]"
                             + (" (by method name)" if t.by_name else "")
                             if self.verdict.get(t.func) == BLOCKS else t.describe())
                break
            f = t.func
        return steps

    def target_chain(self, c: Call, t: Target) -> list[str]:
        head = f"{c.text}() at {_short(c.where)}"
        if t.kind != "func":
            return [head, t.describe()]
        if t.func.module.name.startswith(RUNTIME):
            return [head, f"{runtime_name(t.func)} [runtime: may switch threads]"
                    + (" (by method name)" if t.by_name else "")]
        return [head] + self.chain(t.func)

    def primitives(self) -> dict[str, int]:
        """Public functions and methods of the runtime -> verdict (what user code calls)."""
        p = self.project
        funcs = [f for m in p.modules.values() if m is not None and m.name.startswith(RUNTIME)
                 for f in m.functions]
        self.solve(funcs)
        out = {}
        for f in funcs:
            parts = f.qualname[len(RUNTIME) + 1:].split(".")
            if any(x.startswith("_") and x != "__init__" for x in parts[1:]) \
                    or parts[0] == "monkey" and parts[-1].startswith("patch"):
                continue
            out[runtime_name(f)] = self.verdict[f]
        return out

    def patched_primitives(self) -> dict[str, int]:
        """Each stdlib name ``monkey.patch_all()`` replaces -> the verdict of its replacement
        (for a class: whether any of its methods may block)."""
        p = self.project
        out = {}
        for name, (mod, qual, how) in sorted(p.patched.items()):
            vals = p._qualified(mod, qual, 0)
            funcs = []
            for v in vals:
                if v[0] == "func":
                    funcs.append(v[1])
                elif v[0] == "class" and how == "object":
                    funcs += [m for c in p.mro(v[1]) for m in c.methods.values()]
            self.solve(funcs)
            out[name] = max((self.verdict[f] for f in funcs), default=CLEAN)
        return out


def runtime_name(f: Func) -> str:
    """``threads.sleep``, ``threads.sync.Lock.acquire``: a runtime function, short."""
    mod = f.module.name
    qual = f.qualname[len(mod) + 1:]
    short = "threads" + mod[len(RUNTIME):] if mod.startswith(RUNTIME) else mod
    return f"{short}.{qual}"


def _short(where: str) -> str:
    import os

    file, _, line = where.rpartition(":")
    try:
        rel = os.path.relpath(file)
    except ValueError:
        rel = file
    return f"{file if rel.startswith('..') else rel}:{line}"


def _follow_local(p: Project, f: Func, expr: ast.AST, depth: int = 0) -> list[ast.AST]:
    """The expressions a callee stands for: a local bound once (``recv = conn.recv``),
    both arms of ``a if c else b``, every operand of ``a or b``."""
    if depth > 5:
        return [expr]
    if isinstance(expr, ast.IfExp):
        return _follow_local(p, f, expr.body, depth + 1) + \
            _follow_local(p, f, expr.orelse, depth + 1)
    if isinstance(expr, ast.BoolOp):
        return [e for v in expr.values for e in _follow_local(p, f, v, depth + 1)]
    if isinstance(expr, ast.Name):
        bound = p.env(f).get(expr.id)
        if bound and len(bound) == 1 and isinstance(bound[0], ast.expr):
            return _follow_local(p, f, bound[0], depth + 1)
    return [expr]


#: Parameter names by which the threading/queue API asks for a non-blocking call
#: (``acquire(False)``, ``get(block=False)``, ``put(item, False)``).
_BLOCKING_PARAMS = ("blocking", "block")


def _nonblocking_form(call: ast.Call, callee: Func) -> bool:
    """``lock.acquire(False)``, ``q.get(block=False)``: the callee's own "do not wait" flag,
    passed as the constant False, on a runtime function."""
    if not callee.module.name.startswith(RUNTIME) or isinstance(callee.node, ast.Lambda):
        return False
    params = [a.arg for a in callee.node.args.posonlyargs + callee.node.args.args]
    for name in _BLOCKING_PARAMS:
        if name not in params:
            continue
        for kw in call.keywords:
            if kw.arg == name:
                return isinstance(kw.value, ast.Constant) and kw.value.value is False
        index = params.index(name) - (1 if callee.cls is not None else 0)
        if 0 <= index < len(call.args):
            a = call.args[index]
            return isinstance(a, ast.Constant) and a.value in (False, 0)
    return False
