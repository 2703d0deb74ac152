"""The event-driven twin of Knot: one OS thread, one epoll loop, a state machine per connection.

The paper (section 2.1) leans on Lauer and Needham's duality: an event system and a thread system
are duals, with the same blocking graph and, implemented equally well, the same performance. To
test that, this package serves exactly what Knot serves, through the same ``whyevents.http``
code, the same ``server_common`` listener, counters and handle, and the same ``start``
signature, but written the other way round:

    from whyevents import eventloop

    with eventloop.start("/srv/www") as server:          # epoll, edge-triggered
        print(server.url, server.stats())

Modules, each one job:

* ``state``: a connection as a pure state machine (READING, WRITING, DISK, CLOSED; transitions
  named in one table, h11-style). No sockets.
* ``loop``: ``EventServer`` and ``start``: the readiness loop (``epoll`` registered once, or
  ``poll`` rebuilt per wait), accept with EMFILE back-off, timers, all the socket I/O.
* ``pool``: kernel threads that read page-cache misses and report through an eventfd.

The blocking graph recorder and the duality table compare this server with Knot and belong to
neither: they are ``whyevents.duality``.
"""

from .loop import NAME, POLLERS, RECV_BYTES, EventServer, start
from .pool import DEFAULT_DISK_THREADS, DiskPool
from .state import (
    TRANSITIONS,
    Connection,
    ConnectionStateError,
    ConnEvent,
    ConnState,
    PendingDisk,
    transition_table,
)

DESCRIPTION = ("event-driven twin of Knot: one OS thread, one epoll (or poll) loop, a state "
               "machine per connection, a kernel-thread pool for disk misses")

__all__ = [
    "start", "EventServer", "NAME", "POLLERS", "RECV_BYTES", "DESCRIPTION",
    "DiskPool", "DEFAULT_DISK_THREADS",
    "Connection", "ConnectionStateError", "ConnEvent", "ConnState", "PendingDisk",
    "TRANSITIONS", "transition_table",
]
