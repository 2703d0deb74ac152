"""Knot on generator threads (``knot.coro_gen``): ``knot.coro``, ``await`` as ``yield from``.

What every server must do is in ``test_servers_shared.py`` (it runs ``knot-c-gen`` and
``knot-a-gen`` through the registry); here, what the compiler pass itself promises: the generated
functions are generators marked ``CO_ITERABLE_COROUTINE``, every ``async def`` of ``knot/coro.py``
is among them (a new one cannot be left out), their bytecode is the ``async def`` form's but for
the instruction that gets the iterator, ``knot.coro`` is left as it was, tracebacks name the real
source line; then the server: the same bytes as ``knot-c-async`` on a keep-alive session, the
400 with its lingering close, the 408 and the idle close.
"""

from __future__ import annotations

import ast
import dis
import inspect
import re
import socket
import traceback
import types

import pytest

from support import wait_for
from support.http import at_eof, connect, read_response, read_to_eof, req
from support.trees import BODY
from whyevents import servers
from whyevents.knot import coro, coro_gen

pytestmark = pytest.mark.timeout(120)

CO_ITERABLE_COROUTINE = inspect.CO_ITERABLE_COROUTINE


def _async_defs_in_source() -> list[str]:
    """Every ``async def`` of ``knot/coro.py``, by qualified name, read with ``ast``."""
    with open(coro.__file__, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    names = []
    for node in tree.body:
        if isinstance(node, ast.AsyncFunctionDef):
            names.append(node.name)
        elif isinstance(node, ast.ClassDef):
            names += [f"{node.name}.{m.name}" for m in node.body
                      if isinstance(m, ast.AsyncFunctionDef)]
    # none nested deeper (the pass refuses those), so these are all of them
    assert len(names) == sum(isinstance(n, ast.AsyncFunctionDef) for n in ast.walk(tree))
    return names


def _native(qualname: str):
    obj = coro
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


# ---------------------------------------------------------------------------------------------
# The compiler pass
# ---------------------------------------------------------------------------------------------

def test_every_async_def_of_knot_coro_is_generated():
    assert list(coro_gen.GENERATED) == _async_defs_in_source()
    assert {"serve_connection", "accept_connection", "knot_a_acceptor", "linger",
            "AsyncKnot._main"} <= set(coro_gen.GENERATED)


@pytest.mark.parametrize("qualname", list(coro_gen.GENERATED))
def test_generated_functions_are_generators_marked_iterable_coroutine(qualname):
    fn = coro_gen.GENERATED[qualname]
    assert inspect.isgeneratorfunction(fn) and not inspect.iscoroutinefunction(fn)
    assert fn.__code__.co_flags & CO_ITERABLE_COROUTINE
    assert fn.__qualname__ == fn.__code__.co_qualname == qualname
    assert fn.__code__.co_filename == coro.__file__
    native = _native(qualname)
    assert inspect.iscoroutinefunction(native)            # knot.coro is left as it was
    assert fn.__code__.co_firstlineno == native.__code__.co_firstlineno


@pytest.mark.parametrize("qualname", list(coro_gen.GENERATED))
def test_bytecode_is_the_async_forms_but_for_getting_the_iterator(qualname):
    gen = [i.opname for i in dis.get_instructions(coro_gen.GENERATED[qualname])]
    native = [i.opname for i in dis.get_instructions(_native(qualname))]
    assert "GET_AWAITABLE" not in gen and "SEND" in gen
    assert [op.replace("GET_AWAITABLE", "GET_YIELD_FROM_ITER") for op in native] == gen


def test_the_generated_functions_call_each_other_and_knot_coro_keeps_its_own():
    assert coro_gen.POLICIES == {"C": coro_gen.serve_connection, "A": coro_gen.knot_a_acceptor}
    assert coro_gen.GenKnot._main is coro_gen.GENERATED["AsyncKnot._main"]
    g = coro_gen.serve_connection.__globals__
    assert g["POLICIES"] is coro_gen.POLICIES and g["_answer_all"] is coro_gen.GENERATED[
        "_answer_all"] and g["__name__"] == "whyevents.knot.coro_gen"
    # the same HTTP module, counters and socket layer: one copy of each
    assert g["answer_batch"] is coro.answer_batch and g["Socket"] is coro.Socket
    assert coro.POLICIES["C"] is not coro_gen.serve_connection
    assert inspect.iscoroutinefunction(coro.POLICIES["C"])
    assert vars(coro)["serve_connection"] is not coro_gen.serve_connection


def test_a_traceback_from_generated_code_names_the_line_of_knot_coro():
    thread = coro_gen.serve_connection(None, None, None)
    with pytest.raises(AttributeError) as info:
        thread.send(None)
    last = traceback.extract_tb(info.value.__traceback__)[-1]
    assert last.filename == coro.__file__ and last.filename.endswith("knot/coro.py")
    assert last.name == "serve_connection"
    assert last.line == "counters = knot.counters"


def _module(tmp_path, source: str) -> types.SimpleNamespace:
    path = tmp_path / "toy.py"
    path.write_text(source)
    return types.SimpleNamespace(__file__=str(path))


def test_the_pass_runs_a_toy_module_and_refuses_what_it_cannot_transform(tmp_path):
    toy = _module(tmp_path, "async def twice(x):\n    return 2 * await x\n\n"
                            "class K:\n    async def m(self, x):\n        return await x\n")

    @types.coroutine
    def value():
        yield "parked"
        return 21

    out = coro_gen.transform(toy, {})
    for fn in out.values():
        assert inspect.isgeneratorfunction(fn) and fn.__code__.co_flags & CO_ITERABLE_COROUTINE
    for name, want in (("twice", 42), ("K.m", 21)):
        thread = out[name](*([None] if "." in name else []), value())
        assert thread.send(None) == "parked"
        with pytest.raises(StopIteration) as stop:
            thread.send(None)
        assert stop.value.value == want
    for bad in ("async def f(x):\n    async for y in x:\n        pass\n",
                "async def f(x):\n    async with x:\n        pass\n",
                "async def f():\n    async def g():\n        pass\n",
                "class K:\n    async def m(self):\n        await super().m()\n"):
        with pytest.raises(NotImplementedError, match="line"):
            coro_gen.transform(_module(tmp_path, bad), {})


# ---------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------

_DATE = re.compile(rb"\r\nDate: [^\r]*\r\n")


def _exchange(s: socket.socket, request: bytes) -> bytes:
    """One request, its response's raw bytes (framed by Content-Length)."""
    s.sendall(request)
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(65536)
    head, _, body = buf.partition(b"\r\n\r\n")
    length = int(re.search(rb"\r\nContent-Length: (\d+)", head, re.I).group(1))
    while len(body) < length:
        body += s.recv(65536)
    assert len(body) == length
    return head + b"\r\n\r\n" + body


def _session(name: str, docroot: str) -> tuple[list[bytes], dict]:
    """A keep-alive session (hits, a miss, a 404, a reply larger than the send buffer, then a
    pipelined batch with a HEAD that closes); its responses without their Date, and the stats."""
    with servers.start(name, docroot, threads=4) as srv:
        with connect(srv) as s:
            out = [_exchange(s, req(path))
                   for path in ("/file8k", "/file8k", "/sub/small.txt", "/nope", "/big.bin",
                                "/file8k")]
            s.sendall(req("/index.html") + req("/docs/index.html") + req("/file8k", "HEAD")
                      + req("/sub/small.txt", extra="Connection: close\r\n"))
            out.append(read_to_eof(s))
        assert wait_for(lambda: srv.stats()["connections_open"] == 0)
        stats = srv.stats()
    return [_DATE.sub(b"\r\nDate: -\r\n", r) for r in out], stats


def test_a_keep_alive_session_gets_the_same_bytes_as_knot_c_async(docroot):
    gen, gen_stats = _session("knot-c-gen", docroot)
    native, native_stats = _session("knot-c-async", docroot)
    assert gen == native
    assert gen[0].endswith(BODY) and len(gen[4]) > 4 << 20
    assert gen_stats["server"] == "knot-c-gen" and native_stats["server"] == "knot-c-async"
    for key in ("requests", "bytes_sent", "errors", "connections_total", "client_aborts"):
        assert gen_stats[key] == native_stats[key], key
    assert gen_stats["requests"] == 10 and gen_stats["errors"] == {"404": 1}


@pytest.mark.parametrize("name", ["knot-c-gen", "knot-a-gen"])
def test_a_bad_request_gets_400_and_a_lingering_close(docroot, name):
    with servers.start(name, docroot) as srv:
        with connect(srv) as s, s.makefile("rb") as f:
            s.sendall(b"\x16\x03\x01 not HTTP\r\n\r\n")
            r = read_response(f)
            assert r.status == 400 and r.headers["connection"] == "close"
            s.sendall(b"more bytes the server discards\r\n")       # read, not reset
            s.shutdown(socket.SHUT_WR)
            assert at_eof(s)
        assert wait_for(lambda: srv.stats()["connections_open"] == 0)
        stats = srv.stats()
        assert stats["errors"] == {"400": 1} and stats["lingering_closes"] == 1
        assert stats["client_aborts"] == 0 and stats["server"] == name


@pytest.mark.parametrize("name", ["knot-c-gen", "knot-a-gen"])
def test_a_partial_request_gets_408_and_an_idle_connection_closes(docroot, name):
    with servers.start(name, docroot, request_timeout=0.5) as srv:
        with connect(srv) as idle, connect(srv) as partial, partial.makefile("rb") as f:
            idle.sendall(req())
            assert read_response(idle.makefile("rb")).body == BODY
            partial.sendall(b"GET /file8k HTTP/1.1\r\n")
            r = read_response(f)
            assert r.status == 408 and r.headers["connection"] == "close"
            assert at_eof(idle) and at_eof(partial)
        assert wait_for(lambda: srv.stats()["connections_open"] == 0)
        stats = srv.stats()
        assert stats["timeouts_408"] == 1 and stats["idle_closes"] == 1
        assert stats["errors"] == {"408": 1} and stats["requests"] == 1
