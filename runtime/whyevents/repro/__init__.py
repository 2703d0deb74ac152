"""whyevents.repro: running experiments reproducibly, and the ``whyevents`` command line.

``cli``   the ``whyevents`` command (argparse, one subcommand per activity: ``bench ...``).

Results go under ``data/results/<experiment>/<run-id>/`` with their provenance (git commit and
dirty flag, parameters, package versions, Python, CPU, kernel, time); a run never overwrites an
earlier one.
"""
