"""Knot's two accept policies: favour the connections you have (C) or the ones waiting (A).

The paper (section 5) ran Knot with two scheduling policies and plotted both in Figure 3:

* **Knot-C** "favors processing of active connections over accepting new ones". Here: a fixed
  pool of ``threads`` threads, each looping *accept, serve that connection to completion,
  accept*. A new connection is accepted only when a thread finishes one, so at saturation the
  listen backlog, not the server, holds the excess: "a natural throttling mechanism". With more
  keep-alive clients than threads, the extra clients wait in the backlog until a thread frees up.
* **Knot-A** "does the reverse" and "was designed to create higher internal concurrency, and it
  more closely matches the policy used by Haboob". Here: one thread accepts as fast as
  connections arrive and spawns a thread per connection; concurrency is bounded only by the
  descriptor limit.

In the threaded style the policy is just which loop the threads run. Both loops share
``accept_connection``, which also applies the EMFILE rule (``whyevents.server_common``): an accept
that fails for lack of descriptors (EMFILE, ENFILE, ENOBUFS, ENOMEM) sleeps ``ACCEPT_BACKOFF``
(a green sleep parks only this thread, so the server keeps serving what it has) and tries again,
counting ``accept_backoffs``. Retrying on a timer matters with edge-triggered epoll: the
connection left in the backlog will raise no new event until another client arrives. Errors that
concern only the connection being accepted (ECONNABORTED...) skip it. Once ``knot.stopping`` is
set, the error that closing the listener causes (EBADF green, EINVAL kernel) ends the loop.
"""

from __future__ import annotations

from ..server_common import ACCEPT_BACKOFF, ACCEPT_ERRNOS, ACCEPT_SKIP_ERRNOS
from .connection import serve_connection

__all__ = ["accept_connection", "knot_c_worker", "knot_a_acceptor", "POLICIES"]


def accept_connection(knot, listener):
    """The next accepted socket, registered in ``knot.conns``; None once the server stops.

    Registration happens here, the moment the socket exists, so that ``stop`` can reach a
    connection whose serving thread has not run yet (``serve_connection`` unregisters it).
    """
    while True:
        try:
            conn, _ = listener.accept()
        except OSError as err:
            if knot.stopping:
                return None
            if err.errno in ACCEPT_ERRNOS:
                knot.counters.accept_backoffs += 1
                knot.backend.sleep(ACCEPT_BACKOFF)
            elif err.errno not in ACCEPT_SKIP_ERRNOS:
                raise
            continue
        knot.conns[conn] = None
        if knot.stopping:            # stop() may have looked at conns before we added this one
            knot.conns.pop(conn, None)
            conn.close()
            return None
        return conn


def knot_c_worker(knot, listener) -> None:
    """Knot-C: one of ``threads`` identical threads: accept, serve to completion, repeat."""
    while (conn := accept_connection(knot, listener)) is not None:
        serve_connection(knot, conn)


def knot_a_acceptor(knot, listener) -> None:
    """Knot-A: accept as fast as clients arrive, one new thread per connection."""
    thread_class = knot.backend.Thread
    live = knot.live
    while (conn := accept_connection(knot, listener)) is not None:
        t = thread_class(target=_connection_thread, args=(knot, conn), daemon=True)
        live[t] = None               # before start: a kernel thread may end at once
        t.start()


def _connection_thread(knot, conn) -> None:
    try:
        serve_connection(knot, conn)
    finally:
        knot.live.pop(knot.backend.threads.current(), None)


#: policy letter -> the function the server's initial threads run (``threads`` of them for C,
#: one for A).
POLICIES = {"C": knot_c_worker, "A": knot_a_acceptor}
