"""whyevents.harness: the small harness every layer above the runtime shares.

It imports only the standard library, so the servers, the load generator, the experiments, the
benchmarks and their worker subprocesses may all import it (and import it cheaply).

``procs``        CPU pinning (``pick_cpu``, ``pick_cpus``, ``pin``), the child death signal
                 (``die_with_parent``, ``child_preexec``: ``PR_SET_PDEATHSIG``), ``rss_bytes``,
                 ``proc_cpu_times``, the descriptor limit (``fd_limit``, ``raise_fd_limit``,
                 ``hard_fd_limit``), ``port_range``.
``stats``        medians with the inter-quartile range (``summary``, ``median_of``) and how the
                 benchmarks print numbers (``fmt``, ``cell_text``).
``progress``     the benchmarks' progress bar (tqdm, or numbered lines without it).
``args``         argparse validators whose messages name the parameter.
``provenance``   where a result came from: ``collect``/``finish`` for the results store,
                 ``benchmark`` for a ``whyevents bench`` JSON.
``cpu_quota``    CPU quotas for measured processes (see that module).
"""
