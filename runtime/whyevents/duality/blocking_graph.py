"""Blocking graphs, recorded from a running server: the event loop, or a green-thread server.

The paper (section 2.1): Lauer and Needham "implicitly use a graph that we call a blocking graph.
[...] Each node in this graph represents a blocking or yielding point, and each edge represents
the code that is executed between two such points. The Lauer-Needham duality argument essentially
says that duals have the same graph." This module records that graph from both sides so the claim
can be checked on our two duals, Knot and the event twin.

What a node is, on each side
----------------------------
* **Threads** (``record_green``): a blocking point is a call into the thread package that may
  block, as Capriccio recorded it (at the call, whether or not it ends up parking): ``accept``,
  ``recv``, ``send``/``sendall``/``sendmsg``, and ``Handler.resolve`` (the start of the cold path
  of a page-cache miss, whose read may park on the disk pool), plus ``close``, where the thread's
  path for that connection ends. Recording wraps those methods of the socket class (and of
  ``Handler``) only while the ``with`` block runs; outside it nothing is installed, so nothing
  costs anything.
  ``points="parks"`` records instead where threads *really* parked, by wrapping ``Hub.park``;
  a node is then ``"<runtime call>@<function>:<line>"`` of the code that blocked (e.g.
  ``"recv@serve_connection:95"``): the program points Capriccio's graph is drawn over.
* **Events** (``record_event_loop``): the dual points are where the loop starts an operation
  that may have to wait for the next event: ``accept``, ``recv``, ``send`` (a new batch of
  responses; resuming a partial write is the same node, as a ``sendall`` that parks is one call),
  ``load`` (a page-cache miss goes to the disk) and ``close``. The loop calls the recorder at
  those points through ``EventServer._trace``, one ``is not None`` test each when off.

Paths are kept per connection: the listener's path is its ``accept`` calls; an accepted
connection's path starts at ``accept`` (on the thread side, the ``accept`` that returned its
socket). For Knot-A, whose thread per connection serves exactly one socket, that is the
thread's own path. A path's first node has an edge from ``START``.

``CANONICAL`` maps both vocabularies onto one (``accept``, ``read``, ``write``, ``disk``,
``close``); ``BlockingGraph.relabel`` applies it, after which the duals can be compared with
``shape()`` (the set of edges) or edge by edge.

Output: ``BlockingGraph.as_dict()`` (``{"a -> b": count}``, JSON-ready) and ``to_dot()``
(Graphviz, edges labelled with counts, nodes with visits).
"""

from __future__ import annotations

import _thread
import os
import sys
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

__all__ = [
    "START", "CANONICAL", "BlockingGraph", "Recorder", "record_event_loop", "record_green",
    "canonical",
]

#: The pseudo-node every path starts from.
START = "start"

#: Raw node names (both sides) -> the shared vocabulary.
CANONICAL: dict[str, str] = {
    START: START,
    # the event loop's points
    "accept": "accept", "recv": "read", "send": "write", "load": "disk", "close": "close",
    # the thread package's calls
    "recv_into": "read", "recvfrom": "read", "recvmsg": "read", "sendall": "write",
    "sendmsg": "write", "sendfile": "write", "resolve": "disk",
}


def canonical(node: str) -> str:
    """A raw node's canonical name; ``"recv@serve:12"`` (parks mode) maps by its call."""
    name = CANONICAL.get(node)
    if name is None:
        name = CANONICAL.get(node.split("@", 1)[0], node)
    return name


# ---------------------------------------------------------------------------------------------
# The graph
# ---------------------------------------------------------------------------------------------

class BlockingGraph:
    """Edges ``(from, to) -> count`` and node visits ``node -> count``; immutable by use."""

    def __init__(self, edges: Mapping[tuple[str, str], int],
                 visits: Mapping[str, int] | None = None) -> None:
        self.edges: dict[tuple[str, str], int] = dict(edges)
        if visits is None:
            visits = Counter()
            for (_, b), n in self.edges.items():
                visits[b] += n
        self.visits: dict[str, int] = dict(visits)

    @property
    def nodes(self) -> set[str]:
        return {n for edge in self.edges for n in edge}

    def shape(self) -> frozenset[tuple[str, str]]:
        """The set of edges, without counts: what the duality says must be equal."""
        return frozenset(self.edges)

    def relabel(self, mapping: Mapping[str, str] | None = None) -> BlockingGraph:
        """Rename nodes (default: ``canonical``), merging edges that become the same."""
        rename = canonical if mapping is None else (lambda n: mapping.get(n, n))
        edges: Counter = Counter()
        for (a, b), n in self.edges.items():
            edges[(rename(a), rename(b))] += n
        visits: Counter = Counter()
        for node, n in self.visits.items():
            visits[rename(node)] += n
        return BlockingGraph(edges, visits)

    def without(self, *nodes: str) -> BlockingGraph:
        """The graph with ``nodes`` and their edges removed."""
        drop = set(nodes)
        return BlockingGraph({e: n for e, n in self.edges.items() if not drop & set(e)},
                             {v: n for v, n in self.visits.items() if v not in drop})

    def as_dict(self) -> dict[str, int]:
        """``{"a -> b": count}``, sorted: JSON-ready."""
        return {f"{a} -> {b}": n for (a, b), n in sorted(self.edges.items())}

    def to_dot(self, name: str = "blocking_graph") -> str:
        """Graphviz DOT: edges labelled with how often that code ran, nodes with visits."""
        def q(s: str) -> str:        # node names never hold a backslash; labels use \n
            return '"' + s.replace('"', '\\"') + '"'

        lines = [f"digraph {q(name)} {{", "  rankdir=LR;", "  node [shape=box];"]
        for node in sorted(self.nodes):
            visits = self.visits.get(node, 0)
            label = node if node == START else f"{node}\\n{visits}"
            lines.append(f"  {q(node)} [label={q(label)}];")
        for (a, b), n in sorted(self.edges.items()):
            lines.append(f"  {q(a)} -> {q(b)} [label=\"{n}\"];")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BlockingGraph):
            return NotImplemented
        return self.edges == other.edges

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<BlockingGraph {len(self.nodes)} nodes, {len(self.edges)} edges>"


# ---------------------------------------------------------------------------------------------
# The recorder
# ---------------------------------------------------------------------------------------------

class Recorder:
    """Counts transitions between consecutive blocking points of each path (one per key).

    ``visit(key, node)`` adds the edge from the key's previous node (``START`` at first);
    ``born(key, node)`` starts a path as if it had just visited ``node`` (an accepted
    connection is born at ``accept``); ``end(key)`` forgets it. A lock makes it usable from
    kernel threads too; on one OS thread it is never contended.
    """

    def __init__(self) -> None:
        self._last: dict = {}
        self._lock = _thread.allocate_lock()
        self.edges: Counter = Counter()
        self.visits: Counter = Counter()
        self.transitions: Counter = Counter()     # (state, event, next): event loop only

    def transition(self, before: str, event: str, after: str) -> None:
        with self._lock:
            self.transitions[(before, event, after)] += 1

    def visit(self, key, node: str) -> None:
        with self._lock:
            last = self._last
            self.edges[(last.get(key, START), node)] += 1
            self.visits[node] += 1
            last[key] = node

    def born(self, key, node: str) -> None:
        with self._lock:
            self._last[key] = node

    def end(self, key) -> None:
        with self._lock:
            self._last.pop(key, None)

    def knows(self, key) -> bool:
        return key in self._last

    def graph(self) -> BlockingGraph:
        with self._lock:
            return BlockingGraph(self.edges, self.visits)

    def state_graph(self) -> BlockingGraph:
        """The connection state machine as exercised: ``(state, next state) -> count``."""
        edges: Counter = Counter()
        with self._lock:
            for (before, _, after), n in self.transitions.items():
                edges[(before, after)] += n
        return BlockingGraph(edges)

    def __repr__(self) -> str:
        return f"<Recorder {sum(self.edges.values())} transitions, {len(self._last)} live paths>"


# ---------------------------------------------------------------------------------------------
# The event loop
# ---------------------------------------------------------------------------------------------

_recording_states = _thread.allocate_lock()


@contextmanager
def record_event_loop(server) -> Iterator[Recorder]:
    """Record an ``EventServer`` (or the ``ServerHandle`` that ``eventloop.start`` returned).

    Besides the blocking graph, ``rec.transitions`` counts the state machine's own transitions
    ``(state, event, next state)`` (``rec.state_graph()`` draws them): ``Connection.fire`` is
    wrapped on the loop's connection class for the duration, so only one event-loop recording
    may run at a time in a process. Visits happen on the loop's thread; read the graphs after
    the block, once the traffic you care about has been served (``connections_open`` back to 0).
    """
    from ..eventloop.loop import _Conn

    server = getattr(server, "server", server)
    if not hasattr(server, "_trace"):
        raise TypeError(f"{server!r} is not an eventloop.EventServer or its handle")
    if not _recording_states.acquire(blocking=False):
        raise RuntimeError("an event-loop blocking-graph recording is already running")
    rec = Recorder()
    fire = _Conn.fire

    def traced_fire(self, event: str, _fire=fire) -> str:
        before = self.state
        after = _fire(self, event)
        rec.transition(before, event, after)
        return after

    patches: list[tuple[type, str, object]] = []
    try:
        _install(patches, _Conn, "fire", traced_fire)
        server._trace = rec
        yield rec
    finally:
        server._trace = None
        for cls, name, old in patches:
            if old is None:
                delattr(cls, name)
            else:
                setattr(cls, name, old)
        _recording_states.release()


# ---------------------------------------------------------------------------------------------
# Green threads
# ---------------------------------------------------------------------------------------------

_READS = ("accept", "recv", "recv_into", "recvfrom", "recvmsg")
_WRITES = ("send", "sendall", "sendmsg", "sendfile")
_RUNTIME_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep + "threads"
_recording_green = _thread.allocate_lock()


def _thread_key():
    """The running green thread if this OS thread has a hub, else the OS thread's ident."""
    from ..threads.hub_local import tls

    hub = getattr(tls, "hub", None)
    if hub is not None and not hub.closed:
        return hub.current
    return _thread.get_ident()


@contextmanager
def record_green(points: str = "calls", socket_class: type | None = None,
                 handler_class: type | None = None) -> Iterator[Recorder]:
    """Record the blocking graph of a threaded server while the block runs.

    ``points="calls"`` (default): wrap the blocking methods of ``socket_class`` (default:
    ``whyevents.threads.socket.socket``; pass the stdlib ``socket.socket`` for Knot on kernel
    threads) and ``handler_class.resolve`` (default: ``whyevents.http.Handler``); paths are per
    connection (see the module docstring). Start recording before the server binds its
    sockets' methods (Knot binds ``conn.recv`` once per connection).
    ``points="parks"``: wrap ``Hub.park`` (and any scheduler's override); paths are per green
    thread, nodes are ``"<runtime call>@<function>:<line>"``.

    Everything is restored when the block exits. Only one green recording at a time.
    """
    if points not in ("calls", "parks"):
        raise ValueError(f"points={points!r}: choose 'calls' or 'parks'")
    if not _recording_green.acquire(blocking=False):
        raise RuntimeError("a green blocking-graph recording is already running")
    rec = Recorder()
    patches: list[tuple[type, str, object]] = []
    try:
        if points == "calls":
            _patch_calls(rec, patches, socket_class, handler_class)
        else:
            _patch_parks(rec, patches)
        yield rec
    finally:
        for cls, name, old in reversed(patches):
            if old is None:
                delattr(cls, name)
            else:
                setattr(cls, name, old)
        _recording_green.release()


def _install(patches: list, cls: type, name: str, wrapper) -> None:
    old = cls.__dict__.get(name)     # None: inherited, so delete ours to restore
    wrapper.__wrapped__ = getattr(cls, name)
    setattr(cls, name, wrapper)
    patches.append((cls, name, old))


def _patch_calls(rec: Recorder, patches: list, socket_class, handler_class) -> None:
    if socket_class is None:
        from ..threads.socket import socket as socket_class
    if handler_class is None:
        from ..http import Handler as handler_class
    current_sock: dict = {}         # thread key -> the socket it last used (for resolve)

    def make(name: str, method):
        if name == "accept":
            def wrapper(self, *args, **kwargs):
                rec.visit(self, "accept")
                current_sock[_thread_key()] = self
                result = method(self, *args, **kwargs)
                rec.born(result[0], "accept")
                return result
        else:
            def wrapper(self, *args, **kwargs):
                rec.visit(self, name)
                current_sock[_thread_key()] = self
                return method(self, *args, **kwargs)
        wrapper.__name__ = name
        return wrapper

    for name in _READS + _WRITES:
        method = getattr(socket_class, name, None)
        if method is not None:
            _install(patches, socket_class, name, make(name, method))

    close = socket_class.close

    def close_wrapper(self, *args, **kwargs):
        if rec.knows(self):
            rec.visit(self, "close")
            rec.end(self)
        return close(self, *args, **kwargs)

    _install(patches, socket_class, "close", close_wrapper)

    resolve = handler_class.resolve

    def resolve_wrapper(self, miss):
        sock = current_sock.get(_thread_key())
        if sock is not None:
            rec.visit(sock, "resolve")
        return resolve(self, miss)

    _install(patches, handler_class, "resolve", resolve_wrapper)


def _blocking_site(frame) -> str:
    """``"<outermost runtime function>@<caller function>:<line>"`` for a frame inside park."""
    call = "park"
    while frame is not None and frame.f_code.co_filename.startswith(_RUNTIME_DIR):
        call = frame.f_code.co_name
        frame = frame.f_back
    if frame is None:
        return call
    return f"{call}@{frame.f_code.co_name}:{frame.f_lineno}"


def _patch_parks(rec: Recorder, patches: list) -> None:
    """Wrap the method every park goes through: ``Hub.park``, or a scheduler's ``_park``."""
    from ..threads import registry
    from ..threads.hub import Hub

    classes = {Hub}
    for scheduler in registry.SCHEDULER_NAMES:
        try:
            classes.add(registry.scheduler_class(scheduler))
        except ImportError:           # a scheduler's module left out of this installation
            pass
    for cls in classes:
        # pth's park() and its poller both call _park(): wrapping _park counts each park once.
        name = "_park" if "_park" in cls.__dict__ else "park"
        if name not in cls.__dict__:
            continue                 # inherits a method wrapped on its base
        method = cls.__dict__[name]

        def wrapper(self, waitobj, timeout=None, *rest, _method=method):
            rec.visit(self.current, _blocking_site(sys._getframe(1)))
            return _method(self, waitobj, timeout, *rest)

        wrapper.__name__ = name
        _install(patches, cls, name, wrapper)
