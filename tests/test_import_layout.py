"""The package's import graph, read statically: no cycle, and the runtime imports only itself.

Why a static check: an import cycle works or fails depending on which module a program happens to
import first (``hub`` and ``waitq`` used to import each other, and the hub imported its default
scheduler at its last line so that the scheduler could register itself), and a cycle that works
today breaks the day a module-level name is read one line earlier. Reading the sources with
``ast`` sees every import whatever a test run happens to load, and costs no process.

What counts as an edge: an ``import`` or ``from ... import`` executed when a module is imported
(at module level, in module-level ``if``/``try`` blocks and class bodies) from one module of
``whyevents`` to another; ``from . import x`` is an edge to ``x`` when ``x`` is a module, else
to the package. A package's ``__init__`` that Python runs before a submodule is not counted: it
would make every package a cycle with its own modules. Imports inside functions run later, when
every module is complete, so they are kept apart (``function_imports``): they may close a loop
(a lazy import is how a lower layer reaches a higher one on demand) but never the layer rule.

The layer rule checked (docs/DESIGN.md, "Layers"): ``threads/`` imports nothing else of the
package, at module level or in functions, and its registry's rows name modules of ``threads/``.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

import pytest

PKG_DIR = Path(__file__).resolve().parents[1] / "runtime" / "whyevents"
PKG = "whyevents"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PKG_DIR.rglob("*.py"))
            if "_compiled" not in p.relative_to(PKG_DIR).parts}


MODULES = _modules()


def _targets(node: ast.stmt, module: str, is_package: bool) -> list[str]:
    """The package modules an import statement in ``module`` loads."""
    out = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            name = alias.name
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name:
                out.append(name)
        return out
    assert isinstance(node, ast.ImportFrom)
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if target != PKG and not target.startswith(PKG + "."):
        return out
    for alias in node.names:
        sub = f"{target}.{alias.name}"
        out.append(sub if sub in MODULES else target)
    return out


def _imports(path: Path, module: str) -> tuple[set[str], set[str]]:
    """(module-level imports, imports inside functions) of one module, as package modules."""
    is_package = path.name == "__init__.py"
    top: set[str] = set()
    late: set[str] = set()

    def walk(nodes, in_function: bool) -> None:
        for node in nodes:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                (late if in_function else top).update(_targets(node, module, is_package))
                continue
            inner = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                     ast.Lambda))
            walk(ast.iter_child_nodes(node), inner)

    walk(ast.parse(path.read_text(), str(path)).body, False)
    top.discard(module)
    late.discard(module)
    return top, late - top


def _graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    top, late = {}, {}
    for module, path in MODULES.items():
        top[module], late[module] = _imports(path, module)
    return top, late


GRAPH, FUNCTION_IMPORTS = _graph()


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path ``[a, b, ..., a]``, or None (iterative DFS)."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(graph, WHITE)
    for root in sorted(graph):
        if colour[root] != WHITE:
            continue
        stack = [(root, iter(sorted(graph[root])))]
        path = [root]
        colour[root] = GREY
        while stack:
            node, children = stack[-1]
            for child in children:
                if colour.get(child, BLACK) == GREY:
                    return path[path.index(child):] + [child]
                if colour.get(child) == WHITE:
                    colour[child] = GREY
                    path.append(child)
                    stack.append((child, iter(sorted(graph[child]))))
                    break
            else:
                colour[node] = BLACK
                path.pop()
                stack.pop()
    return None


def test_the_graph_sees_the_package():
    assert "whyevents.threads.hub" in GRAPH
    assert "whyevents.threads.hub_local" in GRAPH["whyevents.threads.hub"]
    assert "whyevents.threads.hub_local" in GRAPH["whyevents.threads.waitq"]
    # a function-level import is an edge of its own kind, not a module-level one
    assert "whyevents.threads.livestate" in FUNCTION_IMPORTS["whyevents.threads.debug"]
    assert "whyevents.threads.livestate" not in GRAPH["whyevents.threads.debug"]


def test_no_cycle_among_module_level_imports():
    cycle = find_cycle(GRAPH)
    assert cycle is None, "module-level import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_reports_the_path():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_threads_imports_nothing_else_of_the_package():
    inside = "whyevents.threads"
    bad = sorted(f"{m} -> {t}" for graph in (GRAPH, FUNCTION_IMPORTS)
                 for m, targets in graph.items() if m == inside or m.startswith(inside + ".")
                 for t in targets if t != inside and not t.startswith(inside + "."))
    assert not bad, "threads/ imports other parts of whyevents: " + ", ".join(bad)


def _private_reads(source: str, module: str, is_package: bool = False) -> list[str]:
    """Module-level private names (``_x``) of other package modules that ``module`` reads:
    ``from .hub import _tls`` or ``from . import hub as h`` ... ``h._tls``."""
    tree = ast.parse(source)
    out = []
    bound: dict[str, str] = {}          # local name -> the package module it is bound to
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        loads = _targets(node, module, is_package)
        if not loads:                   # not the package's: the stdlib, greenlet...
            continue
        for alias, loaded in zip(node.names, loads, strict=True):
            if loaded.endswith("." + alias.name):           # a module: remember its name
                bound[alias.asname or alias.name] = loaded
            elif alias.name.startswith("_") and not alias.name.startswith("__"):
                out.append(f"{module}:{node.lineno} imports {alias.name} from {loaded}")
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in bound and node.attr.startswith("_")
                and not node.attr.startswith("__")):
            out.append(f"{module}:{node.lineno} reads {bound[node.value.id]}.{node.attr}")
    return out


def test_the_private_name_check_sees_both_spellings():
    source = "from . import hub as _h\nfrom .hub import _tls, get_hub\nx = _h._SCHEDULERS\n"
    assert _private_reads(source, "whyevents.threads.waitq") == [
        "whyevents.threads.waitq:2 imports _tls from whyevents.threads.hub",
        "whyevents.threads.waitq:3 reads whyevents.threads.hub._SCHEDULERS"]


def test_threads_reads_no_private_name_of_another_module():
    found = [r for m, p in MODULES.items() if m.startswith("whyevents.threads")
             for r in _private_reads(p.read_text(), m, p.name == "__init__.py")]
    assert not found, "\n".join(found)


def test_registry_rows_name_classes_of_the_runtime():
    from whyevents.threads import registry
    from whyevents.threads.hub import Hub
    from whyevents.threads.pollers import Poller

    for table, base in ((registry.SCHEDULERS, Hub), (registry.POLLERS, Poller)):
        for name, where in table.items():
            module, _, attr = where.partition(":")
            dotted = f"whyevents.threads.{module}"
            assert dotted in MODULES, f"{name}: {dotted} is not a module of threads/"
            if importlib.util.find_spec(dotted) is None:
                continue                # left out of this installation (sched_pth may be)
            assert issubclass(getattr(importlib.import_module(dotted), attr), base)
    with pytest.raises(ValueError, match=r"^scheduler='x': choose one of \['fifo', 'pth'\]$"):
        registry.scheduler_class("x")
    with pytest.raises(ValueError, match=r"^poller='x': choose 'epoll' or 'poll'$"):
        registry.poller_class("x")
