"""Live state at blocking points and stack bounds (the paper's section 4), from source.

Liveness: which locals are read after a blocking call (live across it) and which the frame pins
though dead; the large-state warnings. Stack: bounded chains, recursion (direct and mutual),
function pointers (unknown), on code whose depth is known.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from whyevents.analysis import Analysis, Project, live_state, stack_bounds
from whyevents.analysis.stack import FRAME_HEADER, frame_bytes

pytestmark = pytest.mark.timeout(120)

LIVE = textwrap.dedent('''
    from whyevents import threads


    def accumulate(sock):
        total = 0
        buf = b""
        while True:
            data = sock.recv(65536)
            if not data:
                break
            buf += data
            total += len(data)
        return buf, total


    def tidy(sock):
        n = 0
        while True:
            data = sock.recv(4096)
            if not data:
                return n
            n += len(data)
            del data


    def branches(sock, flag):
        header = sock.recv(16)
        if flag:
            threads.sleep(0.1)
            return header
        threads.sleep(0.2)
        return flag


    def handled(sock):
        big = [0] * 1000
        try:
            threads.sleep(0)
        except OSError:
            return big
        return None


    async def coro(q):
        items = [1, 2, 3]
        x = await q.get()
        return x + 1
''')

STACK = textwrap.dedent('''
    def leaf(x):
        return x + 1


    def mid(x):
        return leaf(leaf(x))


    def top(x):
        return mid(x) + len([x])


    def fact(n):
        return 1 if n <= 1 else n * fact(n - 1)


    def ping(n):
        return pong(n - 1) if n else 0


    def pong(n):
        return ping(n)


    def pointer(fn):
        return fn(1) + leaf(1)


    def uses_fact():
        return top(fact(3))
''')


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / f"{name}.py"
    p.write_text(text)
    return p


@pytest.fixture(scope="module")
def points(tmp_path_factory):
    path = _write(tmp_path_factory.mktemp("live"), "livemod", LIVE)
    pts = live_state(Analysis(Project([str(path)])))
    return {(p.func.qualname.rpartition(".")[2], p.node.lineno): p for p in pts}, path


def _at(points, func: str, text: str):
    pts, _ = points
    lines = LIVE.splitlines()
    for (f, line), p in pts.items():
        if f == func and text in lines[line - 1]:
            return p
    raise AssertionError(f"no blocking point in {func} on a line with {text!r}: {list(pts)}")


def test_live_across_a_recv_in_a_loop(points):
    p = _at(points, "accumulate", "sock.recv")
    assert p.live == ["buf", "sock", "total"]
    assert p.pinned == ["data"]                   # the previous chunk, dead but held
    warnings = "\n".join(p.warnings())
    assert "large state held across a blocking call: 'buf'" in warnings
    assert "pinned across a blocking call though dead: 'data'" in warnings
    assert "'total'" not in warnings              # a scalar accumulator is not large


def test_del_unbinds(points):
    p = _at(points, "tidy", "sock.recv")
    assert p.live == ["n", "sock"] and p.pinned == []
    assert p.warnings() == []


def test_branches_and_parameters(points):
    first = _at(points, "branches", "threads.sleep(0.1)")
    assert first.live == ["header"] and first.pinned == ["flag", "sock"]
    second = _at(points, "branches", "threads.sleep(0.2)")
    assert second.live == ["flag"] and second.pinned == ["header", "sock"]
    recv = _at(points, "branches", "sock.recv(16)")
    assert recv.live == ["flag"] and recv.pinned == ["sock"]   # never read again


def test_handler_keeps_state_live(points):
    p = _at(points, "handled", "threads.sleep(0)")
    assert p.live == ["big"]                      # the except branch returns it
    assert any("'big' (a repetition" in w for w in p.warnings())


def test_await_is_a_blocking_point(points):
    p = _at(points, "coro", "await q.get()")
    assert p.what.startswith("await") and p.live == [] and p.pinned == ["items", "q"]
    assert sum(1 for (f, _), _p in points[0].items() if f == "coro") == 1   # not twice


def test_cli_live_state(points):
    _, path = points
    out = subprocess.run([sys.executable, "-m", "whyevents.analysis", "--live-state",
                          "--warnings-only", str(path)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    lines = [x for x in out.stdout.splitlines() if ": warning: " in x]
    assert lines and all(x.startswith(str(path)) or "livemod.py:" in x for x in lines)
    assert ": note: " not in out.stdout


def test_knot_pins_the_previous_request_at_recv():
    runtime = Path(__import__("whyevents").__file__).parent
    pts = live_state(Analysis(Project([str(runtime / "knot" / "connection.py")])))
    recv = [p for p in pts
            if p.func.qualname.endswith("serve_connection") and p.what == "conn.recv()"]
    assert len(recv) == 1
    assert "data" in recv[0].pinned and "parser" in recv[0].live


@pytest.fixture(scope="module")
def bounds(tmp_path_factory):
    path = _write(tmp_path_factory.mktemp("stack"), "stackmod", STACK)
    b = stack_bounds(Analysis(Project([str(path)])))
    return {f.qualname.rpartition(".")[2]: v for f, v in b.items()}


def test_stack_bounded_chain(bounds):
    leaf, mid, top = bounds["leaf"], bounds["mid"], bounds["top"]
    assert (leaf.frames, mid.frames, top.frames) == (1, 2, 3)
    assert leaf.bounded and mid.bounded and top.bounded
    assert top.bytes == top.frame + mid.frame + leaf.frame
    assert leaf.bytes >= FRAME_HEADER


def test_stack_recursion_unbounded(bounds):
    assert bounds["fact"].status == "unbounded" and "fact -> fact" in bounds["fact"].reason[0]
    assert bounds["ping"].status == "unbounded" and bounds["pong"].status == "unbounded"
    assert bounds["uses_fact"].status == "unbounded"      # calls a recursive function
    assert bounds["uses_fact"].growth_sites


def test_stack_function_pointer_unknown(bounds):
    p = bounds["pointer"]
    assert p.status == "unknown" and not p.bounded
    assert p.frames == 2                           # the resolved part: leaf
    assert "computed at run time" in p.unknown[-1]


def test_frame_bytes_matches_a_live_frame():
    def f(a, b):
        c = [a, b]
        return sys._getframe(), c

    frame, _ = f(1, 2)
    assert frame_bytes(f.__code__) == sys.getsizeof(frame)
