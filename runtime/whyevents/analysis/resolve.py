"""Modules, functions and classes from source, and what a call in them may call.

The may-block analysis needs one thing from Python source: for each call site, the functions it
may call. This module answers that without running the code, from the AST:

* **Modules** are found as the import system would find them (``importlib.util.find_spec``) and
  parsed on first use: the paths given to the checker, the package they belong to, the runtime
  (``whyevents.threads``) and any stdlib module that has Python source. Modules without source
  (C extensions, builtins) are *external*: their callables run C code.
* **Names** resolve through the module's imports, top-level definitions and simple aliases
  (``x = y``), including ``from m import *`` and package ``__init__`` re-exports.
* **Values** are tracked just far enough to resolve method calls: ``self`` in a method, locals
  bound once from a constructor or a literal, parameters annotated with a class, attributes that
  ``__init__`` (or any method) assigns, dataclass-style fields whose values come from the
  constructor calls found anywhere in the analysed code.
* **By name**: a method call on a receiver whose type is unknown resolves to every method or
  callable field of that name in the *name universe* (the analysed packages and the runtime),
  marked as such in the evidence. A name defined nowhere there is **unknown**, never silently
  harmless.
* **Monkey-patched names** (``monkey.patch_all()``): ``time.sleep``, ``threading.Lock``,
  ``socket.socket``, ... resolve to the runtime's replacements, so code written against the
  stdlib is analysed as it runs under patching. The list comes from running ``patch_all()`` in
  a child process and reading ``monkey.patched()`` (see ``patched_names``).

A resolved callee is a ``Target``: ``func`` (source to analyse), ``ext`` (no source: C code),
``unknown`` (with the reason) or ``switch`` (a greenlet switch: the one primitive that moves the
CPU to another green thread; everything else that blocks is derived from the runtime's source).
"""

from __future__ import annotations

import ast
import builtins
import importlib.machinery
import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from functools import cache, lru_cache

__all__ = ["Project", "Func", "ClassInfo", "Module", "Target", "patched_names"]

RUNTIME = "whyevents.threads"
_BUILTIN_TYPES = {ast.Dict: "dict", ast.List: "list", ast.Set: "set", ast.Tuple: "tuple",
                  ast.DictComp: "dict", ast.ListComp: "list", ast.SetComp: "set",
                  ast.JoinedStr: "str", ast.GeneratorExp: "generator"}
#: stdlib C modules whose functions return C objects (``select.poll()``), never checked code's
_C_FACTORIES = frozenset({"select", "socket", "os", "time", "zlib", "hashlib", "mmap", "array",
                          "struct", "fcntl", "_thread", "ssl"})


@dataclass(eq=False)
class Module:
    name: str
    file: str
    tree: ast.Module
    is_package: bool
    symbols: dict = field(default_factory=dict)      # name -> ("def"|"class"|"import"|"alias", x)
    star: list = field(default_factory=list)         # modules imported with *
    functions: list = field(default_factory=list)    # every Func defined in it

    @property
    def package(self) -> str:
        return self.name if self.is_package else self.name.rpartition(".")[0]


@dataclass(eq=False)
class ClassInfo:
    name: str
    qualname: str
    module: Module
    node: ast.ClassDef
    methods: dict = field(default_factory=dict)      # name -> Func
    attrs: dict = field(default_factory=dict)        # name -> [(expr, Func|None)]
    fields: list = field(default_factory=list)       # annotated class-level names, in order
    scanned: bool = False                            # attrs completed from the methods

    def __repr__(self) -> str:
        return f"<class {self.qualname}>"


@dataclass(eq=False)
class Func:
    name: str
    qualname: str
    module: Module
    node: ast.AST
    cls: ClassInfo | None = None
    _env: dict | None = None

    @property
    def file(self) -> str:
        return self.module.file

    @property
    def line(self) -> int:
        return self.node.lineno

    @property
    def where(self) -> str:
        return f"{self.module.file}:{self.node.lineno}"

    def __repr__(self) -> str:
        return f"<func {self.qualname}>"


@dataclass(frozen=True)
class Target:
    """What a call site may call: kind is "func", "ext", "unknown" or "switch"."""

    kind: str
    func: Func | None = None
    name: str = ""
    by_name: bool = False       # resolved only by the method's name (receiver type unknown)

    def describe(self) -> str:
        if self.kind == "func":
            return self.func.qualname + (" (by method name)" if self.by_name else "")
        return self.name


# ---------------------------------------------------------------------------------------------
# Monkey-patched stdlib names
# ---------------------------------------------------------------------------------------------

_PATCHED_SCRIPT = r"""
import json, sys
from whyevents.threads import monkey
monkey.patch_all()
out = {}
for mod, attrs in monkey.patched().items():
    m = sys.modules[mod]
    for a in attrs:
        v = getattr(m, a)
        target = v if callable(v) and hasattr(v, "__qualname__") else type(v)
        out[mod + "." + a] = [getattr(target, "__module__", ""), target.__qualname__,
                              "instance" if target is not v else "object"]
print(json.dumps(out))
"""


@lru_cache(maxsize=1)
def patched_names() -> dict[str, tuple[str, str, str]]:
    """``{"time.sleep": (module, qualname, "object"|"instance")}``: what ``patch_all()`` puts
    in place of each stdlib name, read from ``monkey.patched()`` in a child process (patching
    changes the interpreter for good, so it is not done here)."""
    env = dict(os.environ)
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = here + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", _PATCHED_SCRIPT], capture_output=True,
                         text=True, env=env, timeout=60, check=True).stdout
    return {k: tuple(v) for k, v in json.loads(out).items()}


# ---------------------------------------------------------------------------------------------
# The project: modules loaded on demand
# ---------------------------------------------------------------------------------------------

class Project:
    """Every module the analysis has looked at, and how to resolve names in them.

    ``roots``: files or directories to analyse (the checked code). Their packages (found by
    walking up ``__init__.py`` files) and the runtime form the *name universe* used for method
    calls on receivers of unknown type.
    """

    def __init__(self, roots: list[str], patched: bool = True) -> None:
        self.modules: dict[str, Module | None] = {}
        self.by_file: dict[str, Module] = {}
        self.classes: list[ClassInfo] = []
        self.patched = patched_names() if patched else {}
        self.checked: list[Module] = []
        self._ctor_sites: dict | None = None
        self._by_name: dict | None = None
        universe: set[str] = {RUNTIME}
        for path in roots:
            for file in _py_files(path):
                mod = self.load_file(file)
                self.checked.append(mod)
                universe.add(mod.name.partition(".")[0])
        self.universe = universe
        self.checked_names = {m.name for m in self.checked}
        for top in sorted(universe):       # the name universe is loaded whole, in a fixed order
            self._load_package(top)

    # -- loading --------------------------------------------------------------------------------

    def load_file(self, file: str) -> Module:
        file = os.path.abspath(file)
        if file in self.by_file:
            return self.by_file[file]
        name, is_pkg = _module_name(file)
        if name in self.modules and self.modules[name] is not None:
            return self.modules[name]
        return self._parse(name, file, is_pkg)

    def module(self, name: str) -> Module | None:
        """The module called ``name``, parsed, or None if it has no Python source."""
        if name in self.modules:
            return self.modules[name]
        self.modules[name] = None               # guards import cycles while we look
        parent, _, _ = name.rpartition(".")
        path = None
        if parent:
            pmod = self.module(parent)
            if pmod is None or not pmod.is_package:
                return None
            path = [os.path.dirname(pmod.file)]
        try:                          # neither finds by importing (parents are found here)
            spec = (importlib.machinery.PathFinder.find_spec(name, path) if parent
                    else importlib.util.find_spec(name))
        except (ImportError, ValueError, AttributeError):
            spec = None
        origin = getattr(spec, "origin", None)
        if not origin or not origin.endswith(".py") or not os.path.exists(origin):
            return None
        is_pkg = spec.submodule_search_locations is not None
        return self._parse(name, origin, is_pkg)

    def _load_package(self, top: str) -> None:
        mod = self.module(top)
        if mod is None or not mod.is_package:
            return
        base = os.path.dirname(mod.file)
        for file in _py_files(base):
            rel = os.path.relpath(file, os.path.dirname(base))[:-3].replace(os.sep, ".")
            name = rel[:-len(".__init__")] if rel.endswith(".__init__") else rel
            parent = top.rpartition(".")[0]
            name = f"{parent}.{name}" if parent else name
            if name not in self.modules:
                self._parse(name, file, file.endswith("__init__.py"))

    def _parse(self, name: str, file: str, is_pkg: bool) -> Module:
        with open(file, "rb") as f:
            source = f.read()
        try:
            tree = ast.parse(source, file)
        except SyntaxError:
            tree = ast.Module(body=[], type_ignores=[])
        mod = Module(name, file, tree, is_pkg)
        self.modules[name] = mod
        self.by_file[os.path.abspath(file)] = mod
        self._index(mod)
        return mod

    def _index(self, mod: Module) -> None:
        sym = mod.symbols
        for node in mod.tree.body:
            self._index_stmt(mod, node, sym)

    def _index_stmt(self, mod: Module, node: ast.stmt, sym: dict) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            sym[node.name] = ("def", self._func(mod, node, None, node.name))
        elif isinstance(node, ast.ClassDef):
            sym[node.name] = ("class", self._class(mod, node))
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    sym[a.asname] = ("module", a.name)
                else:
                    top = a.name.partition(".")[0]
                    sym[top] = ("module", top)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(mod, node.module, node.level)
            for a in node.names:
                if a.name == "*":
                    mod.star.append(base)
                else:
                    sym[a.asname or a.name] = ("from", base, a.name)
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    sym[t.id] = ("alias", node.value)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
            sym[node.target.id] = ("alias", node.value)
        elif isinstance(node, (ast.If, ast.Try)):
            for body in (node.body, getattr(node, "orelse", []),
                         *[h.body for h in getattr(node, "handlers", [])]):
                for s in body:
                    if not (isinstance(s, (ast.Import, ast.ImportFrom, ast.Assign))
                            and _symbol_names(s) & sym.keys()):
                        self._index_stmt(mod, s, sym)     # first definition wins

    def _func(self, mod: Module, node, cls: ClassInfo | None, qual: str) -> Func:
        f = Func(node.name, f"{mod.name}.{qual}", mod, node, cls)
        mod.functions.append(f)
        for inner in _nested_defs(node):
            self._func(mod, inner, None, f"{qual}.{inner.name}")
        return f

    def _class(self, mod: Module, node: ast.ClassDef) -> ClassInfo:
        c = ClassInfo(node.name, f"{mod.name}.{node.name}", mod, node)
        self.classes.append(c)
        self._by_name = None
        for s in node.body:
            if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)):
                c.methods[s.name] = self._func(mod, s, c, f"{node.name}.{s.name}")
            elif isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name):
                c.fields.append(s.target.id)
                if s.value is not None:
                    c.attrs.setdefault(s.target.id, []).append((s.value, None))
            elif isinstance(s, ast.Assign):
                for t in s.targets:
                    if isinstance(t, ast.Name):
                        c.attrs.setdefault(t.id, []).append((s.value, None))
        return c

    def attrs(self, c: ClassInfo) -> dict:
        """``c.attrs`` completed with what its methods assign to ``self.x`` (on first use)."""
        if c.scanned:
            return c.attrs
        c.scanned = True
        for m in c.methods.values():
            for n in ast.walk(m.node):
                if isinstance(n, (ast.Assign, ast.AnnAssign)):
                    targets = n.targets if isinstance(n, ast.Assign) else [n.target]
                    for t in targets:
                        if (isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name)
                                and t.value.id == "self" and n.value is not None):
                            c.attrs.setdefault(t.attr, []).append((n.value, m))
        return c.attrs

    # -- the name universe ----------------------------------------------------------------------

    def in_universe(self, mod: Module) -> bool:
        return mod.name.partition(".")[0] in self.universe or mod.name.startswith(RUNTIME)

    def by_name(self, attr: str) -> list:
        """Methods and callable fields called ``attr`` of the runtime's and the checked modules'
        classes (the whole package would make ``x.get()`` mean any ``get`` anywhere)."""
        if self._by_name is None:
            index: dict = {}
            for c in self.classes:
                name = c.module.name
                if not (name.startswith(RUNTIME) or name in self.checked_names):
                    continue
                for name, m in c.methods.items():
                    index.setdefault(name, []).append(("method", m))
                for name in c.fields:
                    index.setdefault(name, []).append(("field", c))
            self._by_name = index
        return self._by_name.get(attr, [])

    def ctor_sites(self, cls: ClassInfo) -> list:
        """``(call node, Func|None, Module)`` for each call of ``cls`` in the name universe."""
        if self._ctor_sites is None:
            sites: dict = {}
            self._ctor_sites = {}              # while indexing, fields resolve to unknown
            names = {c.name for c in self.classes if self.in_universe(c.module)}
            for mod in list(self.modules.values()):
                if mod is None or not self.in_universe(mod):
                    continue
                owners: dict = {}
                for f in mod.functions:
                    for n in ast.walk(f.node):
                        owners.setdefault(id(n), f)
                for n in ast.walk(mod.tree):
                    if isinstance(n, ast.Call) and _callee_name(n.func) in names:
                        owner = owners.get(id(n))
                        for v in self.values(n.func, owner, mod, depth=2):
                            if v[0] == "class":
                                sites.setdefault(v[1], []).append((n, owner, mod))
            self._ctor_sites = sites
        return self._ctor_sites.get(cls, [])

    # -- resolving names and expressions --------------------------------------------------------

    def lookup(self, mod: Module, name: str, depth: int = 0) -> list:
        """Values of top-level ``name`` in ``mod`` (``[]`` if unknown)."""
        if depth > 12:
            return []
        s = mod.symbols.get(name)
        if s is None:
            for star in mod.star:
                m = self.module(star)
                if m is not None and name in m.symbols:
                    return self.lookup(m, name, depth + 1)
            if hasattr(builtins, name):
                return [("ext", f"builtins.{name}")]
            return []
        kind = s[0]
        if kind == "def":
            return [("func", s[1])]
        if kind == "class":
            return [("class", s[1])]
        if kind == "module":
            return [("module", s[1])]
        if kind == "from":
            return self.member(s[1], s[2], depth + 1)
        if kind == "alias":
            return self.values(s[1], None, mod, depth + 1)
        return []

    def member(self, modname: str, attr: str, depth: int = 0) -> list:
        """Values of ``modname.attr``, after monkey-patching if ``patch_all()`` replaces it."""
        patched = self.patched.get(f"{modname}.{attr}")
        if patched is not None:
            pmod, qual, how = patched
            vals = self._qualified(pmod, qual, depth)
            if how == "instance":
                vals = [("inst", v[1]) for v in vals if v[0] == "class"]
            if vals:
                return vals
        mod = self.module(modname)
        if mod is None:
            sub = self.module(f"{modname}.{attr}")
            if sub is not None:
                return [("module", sub.name)]
            return [("ext", f"{modname}.{attr}")]
        if attr in mod.symbols or any(attr in (self.module(s) or mod).symbols for s in mod.star):
            found = self.lookup(mod, attr, depth + 1)
            if found:
                return found
        if mod.is_package and self.module(f"{modname}.{attr}") is not None:
            return [("module", f"{modname}.{attr}")]
        return []

    def _qualified(self, modname: str, qual: str, depth: int) -> list:
        head, _, rest = qual.partition(".")
        vals = self.member(modname, head, depth + 1)
        while rest and vals:
            head, _, rest = rest.partition(".")
            vals = [v for val in vals for v in self.attribute(val, head, depth + 1)]
        return vals

    def attribute(self, val: tuple, attr: str, depth: int = 0) -> list:
        kind = val[0]
        if attr == "__dict__":
            return [("extinst", "builtins.dict")]
        if kind == "module":
            return self.member(val[1], attr, depth + 1)
        if kind in ("class", "inst"):
            for c in self.mro(val[1]):
                if attr in c.methods:
                    return [("func", c.methods[attr])]
                attrs = self.attrs(c)
                if attr in attrs:
                    out = []
                    for expr, owner in attrs[attr]:
                        if (isinstance(expr, ast.Name) and owner is not None
                                and expr.id in _params(owner.node)):
                            out += self.param_values(owner, expr.id, depth + 1)
                        else:
                            out += self.values(expr, owner, c.module, depth + 1)
                    if c.fields and attr in c.fields and kind == "inst":
                        out += self.field_values(c, attr, depth + 1)
                    return out
                if attr in c.fields and kind == "inst":
                    return self.field_values(c, attr, depth + 1)
            ext = self.external_base(val[1])
            if ext:
                return [("ext", f"{ext}.{attr}")]
            return []
        if kind in ("ext", "extinst"):
            return [("ext", f"{val[1]}.{attr}")]
        return []

    def mro(self, c: ClassInfo, seen=None) -> list[ClassInfo]:
        seen = seen if seen is not None else set()
        if c in seen:
            return []
        seen.add(c)
        out = [c]
        for b in c.node.bases:
            for v in self.values(b, None, c.module, 3):
                if v[0] == "class":
                    out += self.mro(v[1], seen)
        return out

    def external_base(self, c: ClassInfo) -> str | None:
        """The first base class without source (``_socket.socket``), if any."""
        for k in self.mro(c):
            for b in k.node.bases:
                for v in self.values(b, None, k.module, 3):
                    if v[0] == "ext":
                        return v[1]
        return None

    def field_values(self, c: ClassInfo, attr: str, depth: int) -> list:
        """Values passed for field ``attr`` at ``c``'s constructor calls (dataclass order)."""
        if depth > 8 or not self._ctor_sites and self._ctor_sites is not None:
            return []
        index = c.fields.index(attr)
        out = []
        for call, owner, mod in self.ctor_sites(c):
            expr = None
            for kw in call.keywords:
                if kw.arg == attr:
                    expr = kw.value
            if expr is None and index < len(call.args):
                expr = call.args[index]
            if expr is not None:
                out += self.values(expr, owner, mod, depth + 1)
        return out

    def param_values(self, f: Func, param: str, depth: int) -> list:
        """A parameter's annotation, else (for ``__init__``) the arguments its callers pass."""
        ann = _param_annotation(f.node, param)
        if ann is not None:
            return [("inst", v[1]) if v[0] == "class" else v
                    for v in self.values(ann, None, f.module, depth + 1) if v[0] != "module"]
        if f.cls is None or f.name != "__init__" or depth > 8 or (
                self._ctor_sites is not None and not self._ctor_sites):
            return []
        names = _params(f.node)
        index = names.index(param) - 1           # without self
        out = []
        for call, owner, mod in self.ctor_sites(f.cls):
            expr = None
            for kw in call.keywords:
                if kw.arg == param:
                    expr = kw.value
            if expr is None and 0 <= index < len(call.args):
                expr = call.args[index]
            if expr is not None:
                out += self.values(expr, owner, mod, depth + 1)
        return out

    def env(self, f: Func) -> dict:
        """Local name -> [value expressions] for ``f`` (flow-insensitive)."""
        if f._env is None:
            env: dict = {}
            for n in _own_nodes(f.node):
                if isinstance(n, ast.Assign):
                    for t in n.targets:
                        _bind(env, t, n.value)
                elif isinstance(n, (ast.AnnAssign, ast.AugAssign)) and n.value is not None:
                    _bind(env, n.target, n.value if isinstance(n, ast.AnnAssign) else None)
                elif isinstance(n, ast.NamedExpr):
                    _bind(env, n.target, n.value)
                elif isinstance(n, (ast.For, ast.AsyncFor, ast.comprehension)):
                    _bind(env, n.target, None)
                elif isinstance(n, (ast.With, ast.AsyncWith)):
                    for item in n.items:
                        if item.optional_vars is not None:
                            _bind(env, item.optional_vars, None)
                elif isinstance(n, ast.ExceptHandler) and n.name:
                    env.setdefault(n.name, []).append(None)
                elif isinstance(n, (ast.Import, ast.ImportFrom)):
                    for a in n.names:
                        env.setdefault((a.asname or a.name).partition(".")[0], []).append(n)
                elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
                        and n is not f.node:
                    env.setdefault(n.name, []).append(n)
            f._env = env
        return f._env

    def values(self, expr: ast.AST | None, f: Func | None, mod: Module, depth: int = 0) -> list:
        """Abstract values ``expr`` may have: ``("func", Func)``, ``("class", ClassInfo)``,
        ``("inst", ClassInfo)``, ``("module", name)``, ``("ext", dotted)``, ``("extinst",
        type)``. ``[]`` means unknown."""
        if expr is None or depth > 14:
            return []
        if isinstance(expr, ast.Name):
            name = expr.id
            if f is not None:
                if f.cls is not None and name == _first_param(f.node) and not _is_static(f):
                    return [("inst", f.cls)]
                env = self.env(f)
                if name in env:
                    return self._local(f, name, env[name], mod, depth)
                if name in _params(f.node):
                    return self.param_values(f, name, depth + 1)
                outer = self._enclosing(f)
                if outer is not None:
                    return self.values(expr, outer, mod, depth + 1)
            return self.lookup(mod, name, depth + 1)
        if isinstance(expr, ast.Attribute):
            if expr.attr == "__dict__":
                return [("extinst", "builtins.dict")]
            out = []
            for v in self.values(expr.value, f, mod, depth + 1):
                out += self.attribute(v, expr.attr, depth + 1)
            return _dedup(out)
        if isinstance(expr, ast.Call):
            out = []
            for v in self.values(expr.func, f, mod, depth + 1):
                if v[0] == "class":
                    out.append(("inst", v[1]))
                elif v[0] == "ext" and (_is_external_class(v[1])
                                        or v[1].partition(".")[0] in _C_FACTORIES):
                    out.append(("extinst", v[1]))       # select.poll(): a C object
                elif v[0] == "func":
                    out += self._returns(v[1], depth + 1)
            return _dedup(out)
        if isinstance(expr, ast.Constant):
            return [("extinst", f"builtins.{type(expr.value).__name__}")]
        if type(expr) in _BUILTIN_TYPES:
            return [("extinst", f"builtins.{_BUILTIN_TYPES[type(expr)]}")]
        if isinstance(expr, ast.Lambda):
            return [("func", self._lambda(expr, f, mod))]
        if isinstance(expr, ast.IfExp):
            return _dedup(self.values(expr.body, f, mod, depth + 1)
                          + self.values(expr.orelse, f, mod, depth + 1))
        if isinstance(expr, ast.BoolOp):
            return _dedup([v for e in expr.values for v in self.values(e, f, mod, depth + 1)])
        if isinstance(expr, ast.NamedExpr):
            return self.values(expr.value, f, mod, depth + 1)
        return []

    def _local(self, f: Func, name: str, exprs: list, mod: Module, depth: int) -> list:
        out = []
        for e in exprs:
            if e is None:
                return []                          # bound by a loop, with, except: unknown
            if isinstance(e, (ast.FunctionDef, ast.AsyncFunctionDef)):
                out += [("func", g) for g in mod.functions if g.node is e]
            elif isinstance(e, (ast.Import, ast.ImportFrom)):
                for a in e.names:
                    if (a.asname or a.name).partition(".")[0] != name:
                        continue
                    if isinstance(e, ast.Import):
                        out.append(("module", a.name if a.asname else name))
                    else:
                        out += self.member(_absolute(mod, e.module, e.level), a.name, depth)
            elif isinstance(e, ast.ClassDef):
                return []
            else:
                vals = self.values(e, f, mod, depth + 1)
                if not vals:
                    return []                      # one unknown binding: the name is unknown
                out += vals
        return _dedup(out)

    def _enclosing(self, f: Func) -> Func | None:
        qual = f.qualname.rpartition(".")[0]
        for g in f.module.functions:
            if g.qualname == qual and g.cls is None:
                return g
        return None

    def _returns(self, f: Func, depth: int) -> list:
        """Instances a function returns, when every ``return`` builds one (else unknown)."""
        if depth > 6:
            return []
        out = []
        rets = [n for n in _own_nodes(f.node) if isinstance(n, ast.Return)]
        for r in rets:
            vals = [v for v in self.values(r.value, f, f.module, depth + 1)
                    if v[0] in ("inst", "extinst")]
            if not vals:
                return []
            out += vals
        return _dedup(out)

    _lambdas: dict = {}

    def _lambda(self, node: ast.Lambda, f: Func | None, mod: Module) -> Func:
        key = id(node)
        lam = self._lambdas.get(key)
        if lam is None:
            qual = f"{f.qualname if f else mod.name}.<lambda>:{node.lineno}"
            lam = Func("<lambda>", qual, mod, node, None)
            self._lambdas[key] = lam
        return lam


# ---------------------------------------------------------------------------------------------
# AST helpers
# ---------------------------------------------------------------------------------------------

def _py_files(path: str) -> list[str]:
    if os.path.isfile(path):
        return [os.path.abspath(path)]
    out = []
    for d, dirs, files in os.walk(path):
        dirs[:] = sorted(x for x in dirs if not x.startswith((".", "__pycache__")))
        out += [os.path.abspath(os.path.join(d, f)) for f in sorted(files) if f.endswith(".py")]
    return out


def _module_name(file: str) -> tuple[str, bool]:
    """Dotted name of ``file``, walking up while directories are packages."""
    d, base = os.path.split(os.path.abspath(file))
    is_pkg = base == "__init__.py"
    parts = [] if is_pkg else [base[:-3]]
    while os.path.exists(os.path.join(d, "__init__.py")):
        d, pkg = os.path.split(d)
        parts.insert(0, pkg)
    return ".".join(parts) or base[:-3], is_pkg


def _absolute(mod: Module, name: str | None, level: int) -> str:
    if not level:
        return name or ""
    base = mod.package
    for _ in range(level - 1):
        base = base.rpartition(".")[0]
    return f"{base}.{name}" if name else base


def _symbol_names(s: ast.stmt) -> set[str]:
    if isinstance(s, ast.Assign):
        return {t.id for t in s.targets if isinstance(t, ast.Name)}
    return {(a.asname or a.name).partition(".")[0] for a in s.names}


def _nested_defs(node: ast.AST):
    """Function definitions directly inside ``node``'s body (not inside deeper functions)."""
    stack = list(ast.iter_child_nodes(node))
    while stack:
        n = stack.pop()
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield n
        elif not isinstance(n, (ast.ClassDef, ast.Lambda)):
            stack.extend(ast.iter_child_nodes(n))


def _own_nodes(node: ast.AST):
    """Nodes of a function's body, not descending into nested functions, classes or lambdas
    (their definitions themselves are yielded)."""
    stack = list(ast.iter_child_nodes(node))
    while stack:
        n = stack.pop()
        yield n
        if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            stack.extend(ast.iter_child_nodes(n))


def _bind(env: dict, target: ast.AST, value: ast.AST | None) -> None:
    if isinstance(target, ast.Name):
        env.setdefault(target.id, []).append(value)
    elif isinstance(target, (ast.Tuple, ast.List)):
        for t in target.elts:
            _bind(env, t, None)
    elif isinstance(target, ast.Starred):
        _bind(env, target.value, None)


def _params(node: ast.AST) -> list[str]:
    a = node.args
    names = [p.arg for p in a.posonlyargs + a.args]
    if a.vararg:
        names.append(a.vararg.arg)
    names += [p.arg for p in a.kwonlyargs]
    if a.kwarg:
        names.append(a.kwarg.arg)
    return names


def _first_param(node: ast.AST) -> str | None:
    if isinstance(node, ast.Lambda):
        return None
    a = node.args
    ps = a.posonlyargs + a.args
    return ps[0].arg if ps else None


def _is_static(f: Func) -> bool:
    return any(isinstance(d, ast.Name) and d.id == "staticmethod"
               for d in getattr(f.node, "decorator_list", []))


def _param_annotation(node: ast.AST, param: str) -> ast.AST | None:
    a = node.args
    for p in a.posonlyargs + a.args + a.kwonlyargs:
        if p.arg == param and p.annotation is not None:
            ann = p.annotation
            if isinstance(ann, ast.Constant) and isinstance(ann.value, str):
                try:
                    ann = ast.parse(ann.value, mode="eval").body
                except SyntaxError:
                    return None
            if isinstance(ann, ast.BinOp):       # X | None
                ann = ann.left
            return ann
    return None


@cache
def _is_external_class(dotted: str) -> bool:
    """Whether a callable without source is a class (stdlib and builtins only are imported)."""
    modname, _, attr = dotted.rpartition(".")
    if not modname or modname.partition(".")[0] not in sys.stdlib_module_names:
        return False
    try:
        obj = importlib.import_module(modname)
        return isinstance(getattr(obj, attr, None), type)
    except Exception:  # noqa: BLE001 - an unimportable module: not a class we know
        return False


def _callee_name(expr: ast.AST) -> str | None:
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        return expr.attr
    return None


def _dedup(vals: list) -> list:
    seen, out = set(), []
    for v in vals:
        key = (v[0], id(v[1]) if not isinstance(v[1], str) else v[1])
        if key not in seen:
            seen.add(key)
            out.append(v)
    return out
