"""Lauer and Needham's duality, pair by pair, as the code that plays each part in our two duals.

The paper's Figure 1 paraphrases Lauer and Needham (1978): an event (message-passing) system
and a thread (procedure-oriented) system are duals, concept for concept. ``DUALITY`` below maps
each of the figure's five pairs to the functions that embody it in this package's event server
(``whyevents.eventloop``) and in Knot on green threads (``whyevents.knot`` over
``whyevents.threads``), with one sentence on how. ``STATE_DUALS`` does the same for the
blocking points themselves: each state of ``state.Connection`` and the call a Knot thread is
blocked in while its connection is in that state, which is what makes the two blocking graphs
(``blocking_graph``) the same.

References are ``"module:qualname"`` strings, so the table stays importable on its own and
``missing()`` can tell the duality notebook (and the tests) when a rename has left one stale.
``as_markdown()`` and ``as_rows()`` render it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

__all__ = ["Dual", "DUALITY", "STATE_DUALS", "lookup", "missing", "as_markdown", "as_rows"]


@dataclass(frozen=True)
class Dual:
    """One pair of Figure 1: the event notion, its thread dual, and the code for each."""

    events: str
    threads: str
    event_code: tuple[str, ...]
    thread_code: tuple[str, ...]
    how: str


_L = "whyevents.eventloop.loop:"
_ST = "whyevents.eventloop.state:"
_P = "whyevents.eventloop.pool:"
_K = "whyevents.knot."
_T = "whyevents.threads."

DUALITY: tuple[Dual, ...] = (
    Dual(
        "event handlers", "monitors",
        (_L + "EventServer._on_readable", _L + "EventServer._on_writable",
         _L + "EventServer._on_acceptable", _L + "EventServer._on_wake",
         _L + "EventServer._conn_timer"),
        (_K + "connection:serve_connection", _K + "policies:accept_connection",
         _T + "hub:Hub"),
        "A handler runs to completion on the loop's one OS thread, so it touches connection "
        "and cache state without locks; a green thread likewise runs without interruption "
        "between two blocking points (the hub switches only there), so each stretch of "
        "serve_connection is a monitor-protected procedure body, the hub being the monitor "
        "lock.",
    ),
    Dual(
        "events accepted by a handler", "functions exported by a module",
        (_ST + "TRANSITIONS", _ST + "Connection.fire", _ST + "Connection.receive",
         _L + "EventServer._loop"),
        (_T + "socket:socket.accept", _T + "socket:socket.recv", _T + "socket:socket.sendall",
         "whyevents.http.handler:Handler.respond"),
        "A connection accepts the events named in TRANSITIONS (sent_all, send_blocked, miss, "
        "peer_closed, ...), and the loop dispatches readiness to the handler whose state "
        "wants it; a Knot thread instead calls the functions its modules export (accept, "
        "recv, sendall, respond) and the call's return is the event.",
    ),
    Dual(
        "SendMessage / AwaitReply", "procedure call, or fork/join",
        (_P + "DiskPool.submit", _L + "EventServer._load", _L + "EventServer._on_acceptable"),
        (_K + "connection:load", _K + "backends:green_read_file", _T + "fileio:pread",
         _T + "threadpool:blocking", _K + "policies:knot_a_acceptor", _T + "hub:spawn"),
        "A page-cache miss is a message to the disk pool (submit) and the connection awaits "
        "the reply in state DISK; Knot calls read_file, which parks its thread in "
        "threadpool.blocking until the pool returns. Accepting forks: the loop makes a new "
        "Connection, Knot-A spawns a thread.",
    ),
    Dual(
        "SendReply", "return from procedure",
        (_P + "DiskPool._worker", _L + "EventServer._on_wake"),
        (_T + "threadpool:_complete", _T + "hub:Hub.wake"),
        "A pool worker replies by appending to `done` and poking the eventfd, and _on_wake "
        "delivers the reply to the waiting connection; for Knot the same pool completion "
        "wakes the parked thread, and blocking() simply returns the file's bytes.",
    ),
    Dual(
        "waiting for messages", "waiting on condition variables",
        (_L + "EventServer._epoll_wait", _L + "EventServer._poll_wait",
         _L + "EventServer._conn_timer"),
        (_T + "hub:Hub.park", _T + "poll_epoll:EpollPoller.wait_read",
         _T + "poll_epoll:EpollPoller.wait_write", _T + "pollers:FdQueue"),
        "The loop waits for its next messages in epoll_wait/poll, for all connections at "
        "once; a Knot thread waits on its own condition (an FdQueue of one descriptor) in "
        "Hub.park, and the hub's epoll_wait signals those conditions. A request timeout is "
        "a timer message here and a timed wait (socket timeout) there.",
    ),
)


#: (connection state, the Knot call its thread is blocked in, blocking-graph canonical node)
STATE_DUALS: tuple[tuple[str, str, str], ...] = (
    ("READING", _T + "socket:socket.recv", "read"),
    ("WRITING", _T + "socket:socket.sendall", "write"),
    ("DISK", _T + "threadpool:blocking", "disk"),
    ("CLOSED", _K + "connection:serve_connection", "close"),
)


def lookup(ref: str) -> object:
    """The object a ``"module:qualname"`` reference names; raises LookupError if it is gone."""
    module_name, _, qualname = ref.partition(":")
    try:
        obj: object = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise LookupError(f"duality reference {ref!r} does not resolve: {exc}") from exc
    return obj


def _refs() -> list[str]:
    refs = [r for d in DUALITY for r in d.event_code + d.thread_code]
    refs += [knot_call for _, knot_call, _ in STATE_DUALS]
    return refs


def missing() -> list[str]:
    """References in the tables that no longer resolve (renamed or removed code)."""
    out = []
    for ref in _refs():
        try:
            lookup(ref)
        except LookupError:
            out.append(ref)
    return out


def _short(ref: str) -> str:
    module, _, qualname = ref.partition(":")
    return f"{module.removeprefix('whyevents.')}.{qualname}"


def as_rows() -> list[dict]:
    """One dict per pair (for a pandas DataFrame in the duality notebook)."""
    return [{"events": d.events, "threads": d.threads,
             "event server": ", ".join(_short(r) for r in d.event_code),
             "Knot": ", ".join(_short(r) for r in d.thread_code),
             "how": d.how} for d in DUALITY]


def as_markdown() -> str:
    """Figure 1 with a column of code for each side, as a Markdown table."""
    lines = ["| Events | Threads | Event server | Knot |", "|---|---|---|---|"]
    for row in as_rows():
        code_e = "<br>".join(f"`{c}`" for c in row["event server"].split(", "))
        code_t = "<br>".join(f"`{c}`" for c in row["Knot"].split(", "))
        lines.append(f"| {row['events']} | {row['threads']} | {code_e} | {code_t} |")
    lines += ["", "| Connection state | Knot thread blocked in | Blocking-graph node |",
              "|---|---|---|"]
    for state, call, node in STATE_DUALS:
        lines.append(f"| {state} | `{_short(call)}` | {node} |")
    return "\n".join(lines) + "\n"
