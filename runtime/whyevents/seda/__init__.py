"""SEDA: a staged event framework on kernel threads, and a Haboob-like web server built on it.

``stage.Stage`` is SEDA's unit (Welsh, Culler and Brewer, SOSP 2001): an event handler behind a
bounded, observable queue, run by its own small pool of kernel threads taking events in batches.
``start(root, ...)`` (``server.py``) runs the paper's comparison point for Knot (``haboob.py``):
aSocket (an epoll/poll thread) -> HttpParse -> PageCache -> CacheMiss (file I/O pool) -> HttpSend,
every arrow a queue.
"""

from .haboob import DEFAULT_FILE_THREADS, DEFAULT_QUEUE_CAPACITY, DEFAULT_THREADS, STAGES
from .server import start
from .stage import DEFAULT_BATCH, DEFAULT_CAPACITY, QueueFull, Stage, StageStopped

__all__ = [
    "DEFAULT_BATCH",
    "DEFAULT_CAPACITY",
    "DEFAULT_FILE_THREADS",
    "DEFAULT_QUEUE_CAPACITY",
    "DEFAULT_THREADS",
    "QueueFull",
    "STAGES",
    "Stage",
    "StageStopped",
    "start",
]
