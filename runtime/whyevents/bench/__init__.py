"""whyevents.bench: the workloads behind the experiments.

``runtime``    micro-benchmarks of the green-thread runtime against its peers (gevent, asyncio,
               uvloop, trio, raw greenlet), each peer in its own subprocess: ``whyevents bench
               runtime``. The peers' workloads live in ``peers_<name>.py``, one module per peer,
               so a worker process imports only the framework it measures.

A benchmark is a function of parameters that returns rows; nothing here asserts a time.
"""
