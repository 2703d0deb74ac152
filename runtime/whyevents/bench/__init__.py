"""whyevents.bench: the workloads behind the experiments and the benchmarks.

Experiments (run by ``whyevents.repro.runner``: ``whyevents run NAME``; each module implements the
experiment contract documented in ``repro/runner.py`` and writes the columns ``repro.claims``
reads):

``pipeline``   SEDA's task pipeline, the paper's Figure 2: N tasks in flight, each an 8 KiB cached
               read; green threads (fifo, pth), kernel threads, the event server, peers.
               Worker side: ``pipeline_worker``.
``scaling``    threads by the hundred thousand: spawn cost, bytes per parked thread, switch rate
               with N alive, wake-all time; kernel threads until the OS refuses.
               Worker side: ``scaling_worker``.
``sweep``      the web sweep, the paper's Figure 3: bandwidth vs simultaneous clients for Knot-C,
               Knot-A (poll, epoll), the SEDA server and the event twin, with server-side CPU and
               context switches per request. Server side: ``sweep_server``.

Benchmarks (``whyevents bench TARGET``; peers measured in the same run):

``runtime``    the runtime's micro-benchmarks against gevent, asyncio, uvloop, trio and raw
               greenlet; peers' workloads in ``peers_<name>.py``, one module per peer, so a worker
               process imports only the framework it measures.
``web``        the servers under wrk against uvloop, asyncio, gevent, pywsgi and nginx
               (``peers_web``, ``web_nginx``): req/s and server CPU µs per request.

A benchmark is a function of parameters that returns rows; nothing here asserts a time.
"""
