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
  reads), for ``whyevents.threads`` (green) and ``whyevents.threads.kernel`` (OS threads).
* ``server``: ``start``, argument checks, what runs on which OS thread, and how it stops.

``whyevents serve knot-c|knot-a`` runs it from the command line (through
``serving.serve_cli(start, ...)``).
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
