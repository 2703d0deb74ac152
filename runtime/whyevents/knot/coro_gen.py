"""Knot on generator threads: ``knot.coro``'s own source, with ``await`` compiled as ``yield from``.

The paper's section 4 says the compiler can transform threads into continuations, so the thread
keeps its straight-line code. CPython's compiler does that transform twice over: to a native
coroutine for an ``async def``, and, as every coroutine library did before Python 3.5, to a
generator for a ``def`` whose waits are ``yield from``. The second is the floor of the first (a
generator is the bare continuation; a coroutine is a generator with a type of its own), and issue
20 asks what, if anything, the ``async def`` form pays above it. To answer that, the two forms
must run the same connection loop, not two copies that could drift apart. So there is no third
copy of Knot here: this module is a compiler pass over ``knot/coro.py``'s source, done at import:

* parse ``whyevents.knot.coro`` with ``ast``; take every ``async def`` in it (the module's
  functions and ``AsyncKnot``'s methods), rewrite ``async def`` -> ``def`` and ``await X`` ->
  ``(yield from X)``, keep every node's line number and compile with ``coro.py``'s file name, so
  a traceback from a generated function shows the real line of ``coro.py``;
* execute the result in a copy of ``knot.coro``'s globals (the HTTP module, ``connection``,
  ``server_common``, the counters' classes are the same objects), where the generated functions
  take the place of the native ones, so ``serve_connection`` calls the generated
  ``_answer_all``, ``knot_a_acceptor`` the generated ``accept_connection``, and ``POLICIES``
  maps to the generated policies;
* mark each generated function with ``types.coroutine``: it stays a generator function, its code
  object gains ``CO_ITERABLE_COROUTINE``, so it may ``yield from`` a native coroutine (the
  socket's ``sendall``, ``send_rest``) and be awaited by one.

A ``yield from`` compiles to the same ``SEND`` loop as an ``await``; the two forms differ only in
the instruction that gets the iterator (``GET_YIELD_FROM_ITER`` against ``GET_AWAITABLE``) and in
the type of the object a call to one of these functions creates (generator against coroutine),
which happens once per connection, not per request. The per-request park is the same in both:
``wait_readable`` is already a generator (``types.coroutine``), one object per park, two frames
deep in Knot's threads (``serve_connection`` -> ``wait_readable``). The one thing
only a generator could do, a bare ``yield`` in ``serve_connection`` instead of a call, is not done:
the two forms would no longer share a source. The loop (``threads.coro_io.IOScheduler``) resumes
either with ``send(None)`` and files the waiter list it yields, so the generated threads run on it
unchanged, beside the sockets' native coroutines.

Line numbers and names match ``knot.coro``; a global of ``knot.coro`` rebound after this module
is imported is not seen here (tests patch the modules the code reads through, e.g.
``server_common``'s lingering bounds, which both forms see).

``AsyncKnot`` and its argument checks are ``knot.coro``'s; ``GenKnot`` only renames the server
and takes the generated ``_main``; ``start`` is ``knot.coro.start`` building a ``GenKnot``:

    from whyevents.knot import coro_gen

    with coro_gen.start("/srv/www", policy="C") as server:      # Knot-C on generator threads
        print(server.url, server.stats())

``whyevents serve knot-c-gen|knot-a-gen`` runs it; ``whyevents bench servers --servers
knot-c-gen,knot-c-async,eventloop`` measures its CPU per request beside the ``async def`` form
and the event twin, ``whyevents bench yardstick --backends none --servers
knot-c-gen,knot-c-async,eventloop`` its instructions per request.
"""

from __future__ import annotations

import ast
import importlib
import types

from ..server_common import ServerHandle, raise_fd_limit
from . import coro

__all__ = ["start", "GenKnot", "serve_connection", "accept_connection",
           "knot_a_acceptor", "linger", "POLICIES", "GENERATED", "transform", "DEFAULT_THREADS"]

DEFAULT_THREADS = coro.DEFAULT_THREADS


class _AwaitToYieldFrom(ast.NodeTransformer):
    """``async def`` -> ``def``, ``await X`` -> ``yield from X``; anything else async is refused
    (it has no one-line generator form)."""

    def __init__(self) -> None:
        self.depth = 0

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.FunctionDef:
        if self.depth:
            raise NotImplementedError(f"line {node.lineno}: a nested async def ({node.name}) "
                                      "would not be marked types.coroutine")
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1
        return ast.copy_location(
            ast.FunctionDef(**{f: getattr(node, f) for f in node._fields}), node)

    def visit_Await(self, node: ast.Await) -> ast.YieldFrom:
        self.generic_visit(node)
        return ast.copy_location(ast.YieldFrom(value=node.value), node)

    def _refuse(self, node: ast.AST) -> None:
        raise NotImplementedError(f"line {node.lineno}: {type(node).__name__} has no "
                                  "generator form here")

    visit_AsyncFor = visit_AsyncWith = _refuse


def transform(module: types.ModuleType, namespace: dict) -> dict[str, types.FunctionType]:
    """Every ``async def`` of ``module`` (its functions and its classes' methods) as a generator
    function marked ``types.coroutine``, executed in ``namespace``: ``{qualified name: function}``
    (``"serve_connection"``, ``"AsyncKnot._main"``). Line numbers and file are the source's."""
    filename = module.__file__
    if not filename.endswith(".py"):                    # e.g. a compiled extension
        raise ImportError(f"{filename}: the pass reads the module's Python source")
    with open(filename, encoding="utf-8") as f:
        tree = ast.parse(f.read(), filename)
    picked: list[tuple[str, ast.AsyncFunctionDef]] = []
    for node in tree.body:
        if isinstance(node, ast.AsyncFunctionDef):
            picked.append((node.name, node))
        elif isinstance(node, ast.ClassDef):
            picked += [(f"{node.name}.{m.name}", m) for m in node.body
                       if isinstance(m, ast.AsyncFunctionDef)]
    rewrite = _AwaitToYieldFrom()
    body = []
    for qualname, node in picked:
        fn = rewrite.visit(node)
        if "." in qualname:                             # a method compiles as a plain function
            _check_method(qualname, fn)
            fn.name = qualname.replace(".", "__")
        body.append(fn)
    futures = 0                                         # the source's future statements
    features = importlib.import_module("__future__")
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            for alias in node.names:
                futures |= getattr(features, alias.name).compiler_flag
    code = compile(ast.Module(body=body, type_ignores=[]), filename, "exec", flags=futures,
                   dont_inherit=True)
    exec(code, namespace)
    out = {}
    for qualname, node in picked:
        fn = namespace.pop(qualname.replace(".", "__")) if "." in qualname else namespace[qualname]
        fn.__code__ = fn.__code__.replace(co_name=node.name, co_qualname=qualname)
        fn.__name__ = node.name
        fn.__qualname__ = qualname
        out[qualname] = types.coroutine(fn)
    return out


def _check_method(qualname: str, node: ast.FunctionDef) -> None:
    """A method compiled outside its class must not need the class: no ``super()`` (its
    ``__class__`` cell) and no private names (mangled only inside a class body)."""
    for n in ast.walk(node):
        name = n.id if isinstance(n, ast.Name) else n.attr if isinstance(n, ast.Attribute) else ""
        if name == "super" or name == "__class__" or (
                name.startswith("__") and not name.endswith("__")):
            raise NotImplementedError(f"line {n.lineno}: {qualname} uses {name}, which needs "
                                      "its class")


_ns = {k: v for k, v in vars(coro).items() if k not in ("__all__", "__doc__")}
_ns["__name__"] = __name__
#: ``knot.coro``'s ``async def`` functions, generated: ``{qualified name: generator function}``.
GENERATED = transform(coro, _ns)
POLICIES = _ns["POLICIES"] = {k: GENERATED[fn.__qualname__] for k, fn in coro.POLICIES.items()}

serve_connection = GENERATED["serve_connection"]
accept_connection = GENERATED["accept_connection"]
knot_a_acceptor = GENERATED["knot_a_acceptor"]
linger = GENERATED["linger"]


class GenKnot(coro.AsyncKnot):
    """``AsyncKnot`` whose threads are the generated generators (``_main`` spawns
    ``POLICIES`` of this module)."""

    _main = GENERATED["AsyncKnot._main"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.name = self.counters.server = f"knot-{self.policy.lower()}-gen"

    def __repr__(self) -> str:
        return (f"<Knot-{self.policy} generator threads={self.threads} "
                f"conns={len(self.conns)}>")


def start(root, *, policy: str = "C", host: str = "127.0.0.1", port: int = 0,
          threads: int | None = None, poller: str = "epoll", scheduler: str = "coro",
          backend: str = "coro", cache_bytes: int = 64 << 20, backlog: int | None = None,
          request_timeout: float = 30.0) -> ServerHandle:
    """Start Knot on generator threads serving ``root``: ``knot.coro.start``'s signature, checks
    and meaning; ``handle.knot`` is the ``GenKnot``."""
    policy, threads = coro._check(root, policy, host, port, threads, poller, scheduler, backend,
                                  cache_bytes, backlog, request_timeout)
    raise_fd_limit()
    knot = GenKnot(root, policy, host, port, threads, poller, scheduler, coro.ASYNC, cache_bytes,
                   backlog, float(request_timeout))
    handle = ServerHandle(knot.name, knot.counters, knot.run)
    handle.knot = knot
    return handle
