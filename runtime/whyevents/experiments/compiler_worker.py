"""The measurements of the ``compiler`` experiment (section 4), one function per kind of point.

* ``graph_point(server)``: the static blocking graph (``whyevents.analysis``) against the graph
  ``duality.blocking_graph`` records on the same traffic (keep-alive requests, a page-cache
  miss, a 404, a pipelined pair, a close): how many recorded edges, how many of them predicted.
* ``atomic_point(case)``: a seeded atomic-section violation (a switch hidden three calls deep,
  a wait on an empty queue) or a clean variant, checked statically (``whyevents check``) and run
  under ``threads.run`` (``AtomicViolation`` or not); right when both say what was seeded.
* ``live_point(server, connections)``: ``connections`` keep-alive clients each send one request
  and stay connected; then Knot-C's threads are parked at their blocking point (``recv`` for the
  next request) and the event twin holds one state record per connection. Knot-C: bytes per
  connection thread (``threads.livestate``: frames, saved C stack, private objects); the twin:
  bytes per connection record (same private-object rule) plus its slot in the loop's table.
* ``stack_point()``: the static stack bound of Knot-C's thread function and of
  ``serve_connection`` (resolved calls only when some call is unresolved; the live-state rows
  carry the deepest frame chain observed at the blocking point, to set beside it).
"""

from __future__ import annotations

import importlib.util
import queue
import socket
import sys
import tempfile
import textwrap
import time
from pathlib import Path

__all__ = ["graph_point", "atomic_point", "live_point", "stack_point", "CASES", "SERVERS",
           "traffic", "read_response", "quiet"]

SERVERS = ("knot-c", "knot-a", "eventloop")
_RUNTIME = Path(__file__).resolve().parent.parent

_AUDIT = '''
from whyevents import threads

stock = {"widgets": 5}
counter = {"n": 0}


def audit(msg):
    _log(msg)


def _log(msg):
    _flush(msg)


def _flush(msg):
    threads.sleep(0)          # a cooperative flush: the yield nobody sees from the caller
'''

#: case -> (seeded violation?, source; ``case()`` is what runs)
CASES: dict[str, tuple[bool, str]] = {
    "check-then-act": (True, _AUDIT + '''

def case():
    with threads.atomic():
        if stock["widgets"] > 0:
            audit("sold")
            stock["widgets"] -= 1
'''),
    "counter": (True, _AUDIT + '''

@threads.atomic
def case():
    v = counter["n"]
    audit("incremented")
    counter["n"] = v + 1
'''),
    "empty-queue": (True, '''
from whyevents import threads

q = threads.Queue()


def case():
    threads.spawn(q.put, 1)
    with threads.atomic():
        return q.get()
'''),
    "clean-counter": (False, '''
import collections
from whyevents import threads

counter = {"n": 0}
log = collections.deque(maxlen=100)


def case():
    with threads.atomic():
        v = counter["n"]
        log.append(("incremented", v))
        counter["n"] = v + 1
'''),
    "clean-nonblocking": (False, '''
from whyevents import threads

lock = threads.Lock()
q = threads.Queue()


def case():
    with threads.atomic():
        got = lock.acquire(False)
        try:
            item = q.get(block=False)
        except threads.Empty:
            item = None
        if got:
            lock.release()
        return item
'''),
}


# ---------------------------------------------------------------------------------------------
# Servers and traffic
# ---------------------------------------------------------------------------------------------

def _docroot() -> Path:
    root = Path(tempfile.mkdtemp(prefix="whyevents-compiler-"))
    for i in range(2):
        (root / f"f{i}.txt").write_text(f"file {i}\n" * 100)
    return root


def read_response(s, buf: bytes) -> bytes:
    """Read one response off ``s`` (after ``buf``); returns what follows it."""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    length = int([h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")][0]
                 .split(b":")[1])
    while len(rest) < length:
        rest += s.recv(65536)
    return rest[length:]


def traffic(address, connections: int = 2) -> bytes:
    """The graph points' traffic: per connection two hits, a 404 and two pipelined requests (the
    recorded and the static graph are compared on it); returns what was left unread (b"")."""
    left = b""
    for i in range(connections):
        with socket.create_connection(address[:2], timeout=10) as s:
            buf = b""
            for target in (f"/f{i}.txt", f"/f{i}.txt", "/missing"):
                s.sendall(f"GET {target} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
                buf = read_response(s, buf)
            s.sendall(b"GET /f0.txt HTTP/1.1\r\nHost: t\r\n\r\n" * 2)
            left += read_response(s, read_response(s, buf))
    return left


def quiet(handle, timeout: float = 10.0) -> bool:
    """Wait until ``handle``'s server holds no connection; whether it got there in time."""
    end = time.monotonic() + timeout
    while handle.stats()["connections_open"]:
        if time.monotonic() >= end:
            return False
        time.sleep(0.01)
    return True


# ---------------------------------------------------------------------------------------------
# Kinds of points
# ---------------------------------------------------------------------------------------------

def graph_point(server: str) -> dict:
    from whyevents import eventloop, knot
    from whyevents.analysis import Analysis, Project, static_graph
    from whyevents.duality import blocking_graph

    root = _docroot()
    if server == "eventloop":
        paths = [str(_RUNTIME / "eventloop" / n) for n in ("loop.py", "state.py", "pool.py")]
        predicted = static_graph(Analysis(Project(paths, patched=False))).relabel().shape()
        with eventloop.start(root) as handle:
            with blocking_graph.record_event_loop(handle) as rec:
                traffic(handle.address)
                quiet(handle)
    else:
        predicted = static_graph(Analysis(Project([str(_RUNTIME / "knot")]))).relabel().shape()
        handle = None
        try:
            with blocking_graph.record_green() as rec:
                handle = knot.start(root, policy=server[-1].upper(), threads=4)
                traffic(handle.address)
                quiet(handle)
        finally:
            if handle is not None:
                handle.stop()
    recorded = rec.graph().relabel().shape()
    missed = sorted(recorded - predicted)
    return {"recorded": len(recorded), "predicted": len(recorded & predicted),
            "static_edges": len(predicted), "missed": "; ".join(f"{a}->{b}" for a, b in missed),
            # the edges themselves, for drawing (figures.parse_edges reads them back)
            "static_edge_list": "; ".join(f"{a}->{b}" for a, b in sorted(predicted)),
            "recorded_edge_list": "; ".join(f"{a}->{b}" for a, b in sorted(recorded))}


def atomic_point(case: str) -> dict:
    from whyevents import threads
    from whyevents.analysis import run_check

    seeded, source = CASES[case]
    tmp = Path(tempfile.mkdtemp(prefix="whyevents-atomic-"))
    name = "seeded_" + case.replace("-", "_")
    path = tmp / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    status, findings, summary = run_check([str(path)])
    static = summary["errors"] > 0
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    caught: list = []

    def main():
        other = threads.spawn(threads.sleep, 0)        # someone to switch to
        try:
            mod.case()
        except threads.AtomicViolation as e:
            caught.append(str(e))
        other.join()

    threads.run(main)
    sys.modules.pop(name, None)
    runtime = bool(caught)
    return {"seeded": int(seeded), "static_caught": int(static), "runtime_caught": int(runtime),
            "right": int(static == seeded and runtime == seeded),
            "finding": findings[0].format()[:300] if findings else "",
            "runtime_error": caught[0][:300] if caught else ""}


def _clients(address, n: int) -> list:
    socks = []
    for i in range(n):
        s = socket.create_connection(address[:2], timeout=30)
        s.sendall(f"GET /f{i % 2}.txt HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        socks.append(s)
    for s in socks:
        read_response(s, b"")
    return socks


def live_point(server: str, connections: int) -> dict:
    from whyevents import eventloop, knot
    from whyevents.threads import livestate

    root = _docroot()
    socks: list = []
    if server == "eventloop":
        with eventloop.start(root) as handle:
            try:
                socks = _clients(handle.address, connections)
                srv = handle.server
                _wait(lambda: len(srv.conns) >= connections)
                conns = list(srv.conns.values())
                sizes, shared = livestate.object_state(conns)
                slot = sys.getsizeof(srv.conns) / max(1, len(conns))
                per = [s + slot for s in sizes]
                extra = {"frames_max": 0, "frame_bytes_median": 0, "c_stack_bytes_median": 0}
            finally:
                for s in socks:
                    s.close()
    else:
        handle = knot.start(root, policy="C", threads=connections + 4)
        try:
            socks = _clients(handle.address, connections)
            k = handle.knot
            _wait(lambda: k.counters.requests >= connections)
            out: queue.SimpleQueue = queue.SimpleQueue()
            hub = k.counters.hub

            def probe():
                mine = [t for t in list(k.live) if any(
                    f.f_code.co_name == "serve_connection"
                    for f in livestate.thread_frames(t))]
                out.put(livestate.measure_threads(mine, exclude=[k]))

            from whyevents import threads
            hub.call_threadsafe(threads.spawn, probe)
            rows, shared = out.get(timeout=60)
            per = [r["bytes"] for r in rows]
            fr = livestate.summarize([r["frame_bytes"] for r in rows])
            cs = livestate.summarize([r["c_stack_bytes"] for r in rows])
            extra = {"frames_max": max((r["frames"] for r in rows), default=0),
                     "frame_bytes_median": fr["median"], "c_stack_bytes_median": cs["median"],
                     "object_bytes_median": livestate.summarize(
                         [r["object_bytes"] for r in rows])["median"]}
        finally:
            for s in socks:
                s.close()
            handle.stop()
    st = livestate.summarize(per)
    return {"measured_conns": st["n"], "bytes_per_conn": st["median"],
            "bytes_per_conn_p90": st["p90"], "bytes_per_conn_max": st["max"],
            "shared_bytes": shared, **extra}


def stack_point() -> dict:
    from whyevents.analysis import Analysis, Project, stack_bounds

    a = Analysis(Project([str(_RUNTIME / "knot")]))
    bounds = stack_bounds(a)
    # the green Knot-C's thread (knot/coro.py has a serve_connection too: named exactly)
    worker = next(b for f, b in bounds.items()
                  if f.qualname == "whyevents.knot.policies.knot_c_worker")
    serve = next(b for f, b in bounds.items()
                 if f.qualname == "whyevents.knot.connection.serve_connection")
    return {"stack_status": worker.status, "stack_bound_bytes": worker.bytes,
            "stack_bound_frames": worker.frames, "serve_status": serve.status,
            "serve_bound_frames": serve.frames,
            "stack_reason": " -> ".join(worker.reason)[:400],
            "bounded_functions": sum(b.bounded for b in bounds.values()),
            "functions": len(bounds)}


def _wait(pred, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise TimeoutError("the server did not reach the expected state")
        time.sleep(0.01)

