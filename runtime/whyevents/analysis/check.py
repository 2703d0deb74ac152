"""``whyevents check``: atomic sections proven not to block, and the may-block report.

An atomic section is the body of ``with threads.atomic():`` (any spelling that resolves to
``whyevents.threads.atomic.atomic``, or a bare ``atomic()`` that cannot be resolved) or of a
function decorated ``@threads.atomic``. The paper (section 4): "calls within an atomic section
cannot yield or block (even indirectly)". Each call in the section (not in functions merely
defined there) is analysed with ``mayblock``; the findings are printed one per line, in the
format compilers use, so editors and CI can jump to them::

    path:line:col: error: atomic section may block: log() at path:12 -> flush() at path:5
        -> sleep() at path:8 -> threads.hub.sleep [runtime: may switch threads]
    path:line:col: warning: atomic section calls something unresolved: cb() at path:14 ->
        cb(): a callable computed at run time

(the line and column are the section's start: the ``with`` or the decorator). Exit status:
0 no error (warnings allowed), 1 some atomic section may block (or, with ``strict``, calls
something unresolved), 2 a path could not be read.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from .mayblock import BLOCKS, UNKNOWN, Analysis
from .resolve import RUNTIME, Func, Module, Project, _own_nodes

__all__ = ["Finding", "AtomicSection", "atomic_sections", "check_atomic", "run_check"]

ATOMIC = f"{RUNTIME}.atomic.atomic"


@dataclass
class AtomicSection:
    module: Module
    func: Func | None          # the function the section is in (or decorates)
    node: ast.AST              # the With statement or the decorator
    body: list                 # statements of the section

    @property
    def where(self) -> str:
        return f"{self.module.file}:{self.node.lineno}:{self.node.col_offset + 1}"


@dataclass
class Finding:
    level: str                 # "error" | "warning"
    where: str                 # file:line:col of the section
    message: str
    chain: list

    def format(self) -> str:
        return f"{self.where}: {self.level}: {self.message}: " + " -> ".join(self.chain)


def _is_atomic(p: Project, expr: ast.AST, f: Func | None, mod: Module) -> bool:
    target = expr.func if isinstance(expr, ast.Call) else expr
    for v in p.values(target, f, mod):
        if v[0] == "func" and v[1].qualname == ATOMIC:
            return True
    name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", None)
    return name == "atomic" and not p.values(target, f, mod)


def atomic_sections(p: Project, mod: Module) -> list[AtomicSection]:
    out = []
    for f in mod.functions:
        for d in getattr(f.node, "decorator_list", []):
            if _is_atomic(p, d, None, mod):
                out.append(AtomicSection(mod, f, d, f.node.body))
        for n in _own_nodes(f.node):
            if isinstance(n, (ast.With, ast.AsyncWith)):
                if any(isinstance(i.context_expr, ast.Call)
                       and _is_atomic(p, i.context_expr, f, mod) for i in n.items):
                    out.append(AtomicSection(mod, f, n, n.body))
    for n in mod.tree.body:                         # module level
        if isinstance(n, ast.With) and any(
                isinstance(i.context_expr, ast.Call) and _is_atomic(p, i.context_expr, None, mod)
                for i in n.items):
            out.append(AtomicSection(mod, None, n, n.body))
    out.sort(key=lambda s: s.node.lineno)
    return out


def _section_calls(a: Analysis, s: AtomicSection):
    """The call sites of the section's own statements, in order."""
    ids = set()
    for stmt in s.body:
        ids.add(id(stmt))
        for n in _walk_own(stmt):
            ids.add(id(n))
    if s.func is None:
        owner = Func("<module>", f"{s.module.name}.<module>", s.module, s.module.tree)
        calls = [c for c in a.calls(owner)]
    else:
        calls = a.calls(s.func)
    return [c for c in calls if id(c.node) in ids]


def _walk_own(node: ast.AST):
    yield node
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
        return
    for child in ast.iter_child_nodes(node):
        yield from _walk_own(child)


def check_atomic(a: Analysis, s: AtomicSection) -> list[Finding]:
    findings = []
    for c in _section_calls(a, s):
        verdict, t = a.call_verdict(c)
        if verdict == BLOCKS:
            findings.append(Finding("error", s.where, "atomic section may block",
                                    a.target_chain(c, t)))
        elif verdict == UNKNOWN:
            findings.append(Finding("warning", s.where,
                                    "atomic section calls something unresolved",
                                    a.target_chain(c, t)))
    return findings


def run_check(paths: list[str], strict: bool = False, full: bool = False,
              patched: bool = True):
    """Check every atomic section under ``paths``: (exit status, findings, summary), and the
    ``Analysis`` too if ``full``."""
    p = Project(paths, patched=patched)
    a = Analysis(p)
    findings: list[Finding] = []
    sections = 0
    funcs = [f for m in p.checked for f in m.functions]
    a.solve(funcs)
    for m in p.checked:
        for s in atomic_sections(p, m):
            sections += 1
            findings += check_atomic(a, s)
    errors = sum(f.level == "error" for f in findings)
    warnings = len(findings) - errors
    summary = {
        "modules": len(p.checked), "functions": len(funcs),
        "may_block": sum(a.verdict[f] == BLOCKS for f in funcs),
        "unknown": sum(a.verdict[f] == UNKNOWN for f in funcs),
        "atomic_sections": sections, "errors": errors, "warnings": warnings,
    }
    status = 1 if errors or (strict and warnings) else 0
    return (status, findings, summary, a) if full else (status, findings, summary)
