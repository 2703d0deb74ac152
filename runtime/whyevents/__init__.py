"""whyevents: the systems of *Why Events Are A Bad Idea* (HotOS 2003), rebuilt in Python.

Subpackages: ``threads`` (the green-thread runtime), ``http``, ``knot``, ``seda``, ``eventloop``,
``loadgen``, ``bench`` and ``repro``. See ``DESIGN.md`` in the repository for the map from the
paper's sections to these modules.
"""

__version__ = "0.1.0"
