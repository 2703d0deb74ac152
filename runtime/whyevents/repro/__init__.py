"""whyevents.repro: running experiments reproducibly, and the ``whyevents`` command line.

``paths``       every path, built from the repository root in one place.
``store``       ``data/results/<experiment>/<run-id>/``: rows appended as they finish (a killed
                sweep keeps its points and resumes), provenance written atomically, never
                overwritten; the paper's digitized figures from ``data/reference/``.
``claims``      ``paper/claims.yaml`` evaluated from stored results only, one stable line each.
``runner``      ``whyevents run NAME``: an experiment's sweep into the store, resumable.
``report``      ``paper/REPORT.md`` and its figures from stored results.
``figures``     the paper's figures drawn from stored rows (notebooks and the report).
``notebook``    the helpers the notebooks share.
``cli``         the ``whyevents`` command (``bench``, ``serve``, ``fileset``, ``run``,
                ``claims``, ``report``).

Where a run came from is recorded by ``whyevents.harness.provenance``.
"""
