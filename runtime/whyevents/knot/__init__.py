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

Measured (2 vCPUs shared with other work: medians of 3 interleaved runs, +-20% between
sessions; server pinned to CPU 0, ``wrk -t1 -d5s`` pinned to CPU 1, 8 KiB file, keep-alive; CPU
is the server process's user + system time over the requests it counted)::

                                  50 connections                1,000 connections
    Knot-C green epoll (1024 t)   68k req/s  13.5 us (6.6+6.9)    42k req/s  23.5 us (13.1+10.4)
    Knot-A green epoll            77k req/s  13.0 us (6.6+6.4)    41k req/s  24.4 us (14.5+9.9)
    Knot-C kernel      (1024 t)   75k req/s  13.3 us (3.9+9.4)    32k req/s  31.3 us (10.9+20.4)

Where the time goes, Knot-C green (A/B against prototypes, 14 interleaved pairs; py-spy cannot
see across greenlet switches reliably): system time ~7 us (the 8 KiB send on loopback, which
also delivers it to wrk; the successful recv; the recv that fails with EAGAIN before each park;
one epoll_wait per ~48 requests at 50 connections, per ~500 at 1,000). User time ~6.5 us: the
httptools parse ~2 us (the request memo, ``connection``, removes it); Knot's own loop, the
handler's cached answer and the counters ~2 us (the kernel backend's whole user time is 4 us);
the green runtime the rest: park/wake/switch, the socket timeout's timer on every park, and the
EAGAIN exception (a runtime that skipped the recv after a short read, as nginx does, and armed
no timer per park saved 2.3 us per request at 50 connections and 3.5 us at 1,000; with the memo
too: 10.0 and 14.7 us). At 1,000 connections user time doubles: each epoll batch wakes ~500
threads whose stacks, frames and parsers no longer fit in the caches. ``threads=`` for Knot-C:
with fewer threads than clients the extra clients wait in the backlog (at 1,000 wrk connections
the default 256 threads serve 256 of them; the other 744 get no answer during the run).
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
