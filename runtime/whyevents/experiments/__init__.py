"""whyevents.experiments: the paper's experiments, each beside the worker it runs in subprocesses.

Run by ``whyevents.repro.runner`` (``whyevents run NAME``) into the results store; the claims
(``repro.claims``) read the columns they write.

``pipeline``   SEDA's task pipeline, the paper's Figure 2: N tasks in flight, each an 8 KiB cached
               read; green threads (fifo, pth), kernel threads, the event server, peers.
               Worker side: ``pipeline_worker``.
``scaling``    threads by the hundred thousand: spawn cost, bytes per parked thread, switch rate
               with N alive, wake-all time; kernel threads until the OS refuses.
               Worker side: ``scaling_worker``.
``web``        the web sweep, the paper's Figure 3: bandwidth vs simultaneous clients for Knot-C,
               Knot-A (poll, epoll), the SEDA server and the event twin, with server-side CPU and
               context switches per request. Server side: ``whyevents.servers.process``.

The experiment contract (checked by ``runner.load``): a module defines ``EXPERIMENT`` (its stored
name), ``DESCRIPTION``, ``KEY_FIELDS`` (what identifies a point, for resuming),
``SUMMARY_FIELDS`` (shown after each point), ``PROFILES`` (``quick`` and ``full`` parameter
sets), ``PARAM_HELP``, ``check_params(params) -> params``, ``points(params) -> [point]`` and
``measure(point, params, *, ctx, progress) -> [row]``; optionally ``prepare(params)`` (a
context manager building what every point shares) and ``limits(params)`` (the machine limits
that capped the sweep, for the provenance). It knows what to measure and nothing about files,
progress bars or resuming; a failed point is a row with a status, never an exception.
"""
