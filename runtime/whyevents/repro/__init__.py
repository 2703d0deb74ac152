"""whyevents.repro: running experiments reproducibly, and the ``whyevents`` command line.

``paths``       every path, built from the repository root in one place.
``provenance``  what a run records about where it came from (git, packages, machine, limits).
``store``       ``data/results/<experiment>/<run-id>/``: rows appended as they finish (a killed
                sweep keeps its points and resumes), provenance written atomically, never
                overwritten; the paper's digitized figures from ``data/reference/``.
``claims``      ``paper/claims.yaml`` evaluated from stored results only, one stable line each.
``cli``         the ``whyevents`` command (``bench``, ``serve``, ``fileset``).
"""
