"""Knot: the paper's threaded static web server, on green threads or kernel threads.

Von Behren, Condit and Brewer (HotOS 2003, section 5) wrote Knot, "a 700-line test web
server", in "a clear, straightforward threaded style" on their user-level thread package, and
showed it matching SEDA's event-driven Haboob (Figure 3). This is that server:

    from whyevents import knot

    with knot.start("/srv/www", policy="C") as server:   # Knot-C on green threads, epoll
        print(server.url, server.stats())

What it does: HTTP/1.1 and 1.0 GET/HEAD of static files, keep-alive and pipelining, a page
cache of pre-built responses (header and body sent with one ``sendall``), TCP_NODELAY, 304 on
``If-None-Match``/``If-Modified-Since``, 4xx for bad requests, 408 for a request that stalls,
nothing ever served from outside the document root. All HTTP is ``whyevents.http``, shared with
the other servers, so the experiments compare concurrency models, not HTTP code.

How it is laid out, each module one job:

* ``connection``: ``serve_connection``, one connection read-parse-answer to completion. The hot
  path, written once in blocking style.
* ``policies``: Knot-C (``threads`` threads each accept -> serve -> accept; favours active
  connections) and Knot-A (one acceptor, a thread per connection; favours accepting), and the
  EMFILE back-off they share.
* ``backends``: what that code needs of a thread package (socket module, threads, sleep, file
  reads), for ``whyevents.threads`` (green) and ``whyevents.threads.kernel_threads`` (OS
  threads).
* ``server``: ``start``, argument checks, what runs on which OS thread, and how it stops.

``whyevents serve knot-c|knot-a`` runs it from the command line (through
``server_common.serve_cli(start, ...)``).

What it costs: ``whyevents bench servers --servers knot-c,knot-a`` prints, for each at 50,
1,000 and 10,000 wrk connections, req/s and the server process's CPU per request split into
user and system time (medians of interleaved repetitions, with their spread); without
``--servers`` it adds the peers (uvloop, gevent, nginx, ...). Where that time goes, as the
structure of the code has it: system time is the response's ``sendall`` on loopback (which also
delivers it to wrk), the ``recv`` that reads the request, and an ``epoll_wait`` shared by every
connection that became ready in the same batch; user time is the HTTP parse (skipped for a
repeated request when the request memo, ``connection``, is on), Knot's own loop with the
handler's cached answer and the counters, and the green runtime's park, wake and switch. Two
costs the runtime does not pay per request: the ``recv`` that would fail with EAGAIN before each
park (a short read marks the socket drained, so the next ``recv`` waits for readability first,
as nginx does: ``threads.socket``), and arming a timer on every park (a thread keeps one timer
entry across parks, re-armed only when it fires early: ``sched_fifo.FifoHub.park``). With many
connections user time per request grows: each epoll batch wakes many threads whose stacks,
frames and parsers no longer fit in the caches. ``threads=`` for Knot-C: with fewer threads
than clients the extra clients wait in the backlog (with 1,000 wrk connections the default 256
threads serve 256 of them; the other 744 get no answer during the run).
"""

from .backends import BACKENDS, Backend
from .connection import RECV_BYTES, serve_connection
from .policies import POLICIES, accept_connection, knot_a_acceptor, knot_c_worker
from .server import DEFAULT_THREADS, Knot, start

DESCRIPTION = ("Knot, the paper's threaded web server: Knot-C favours active connections "
               "(a fixed pool of threads, each accept -> serve to completion), Knot-A favours "
               "accepting (a thread per connection); green or kernel threads")

__all__ = [
    "start", "Knot", "DESCRIPTION", "DEFAULT_THREADS", "BACKENDS", "Backend", "POLICIES",
    "RECV_BYTES", "serve_connection", "accept_connection", "knot_c_worker", "knot_a_acceptor",
]
