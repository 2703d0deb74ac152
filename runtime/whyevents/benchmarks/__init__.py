"""whyevents.benchmarks: micro-benchmarks and their peers (``whyevents bench TARGET``).

The paper's experiments are in ``whyevents.experiments``; these measure the pieces against other
frameworks, peers measured in the same run, and never assert a time (a target is MET or MISSED).

``runtime``            ``whyevents bench runtime``: the green-thread runtime against gevent,
                       asyncio, uvloop, trio and raw greenlet. Planning, aggregation, report and
                       command line; the pieces:
``runtime_ops``          the operations (title, unit, target, implementations, sizes): a table.
``runtime_workloads``    whyevents' workloads and the drivers every implementation shares.
``runtime_worker``       the worker subprocess protocol (one implementation per process).
``peers_<name>``         each peer's workloads (asyncio/uvloop, gevent, greenlet, trio), one
                         module per peer, so a worker imports only the framework it measures.
``servers``            ``whyevents bench servers``: the servers under wrk against uvloop,
                       asyncio, gevent, pywsgi and nginx; req/s and server CPU per request.
``servers_http``         the served file and the correctness check before measuring.
``servers_peers``        the Python peer servers (same pre-built response as Knot).
``servers_nginx``        nginx with one worker from a generated config.
``results``            where a benchmark's JSON goes: ``data/results/bench-<target>/<stamp>/``.

Each module imports only the standard library at module level (the CLI builds every benchmark's
parser), the frameworks it measures in its subprocesses.
"""
