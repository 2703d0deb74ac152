"""Every path the project uses, built from the repository root in one place.

Why one module: notebooks, the command line, the benchmarks and the tests all read and write the
same folders; building those paths here (as showyourwork's ``paths.py`` does) means a notebook run
from ``notebooks/`` and a benchmark run from anywhere agree on where results live.

The root is ``$WHYEVENTS_ROOT`` when set (a copy of the data somewhere else, or a test's temporary
tree); otherwise the work tree this package is installed from (editable install:
``<root>/runtime/whyevents/repro/paths.py``), recognised by its ``pyproject.toml``; otherwise the
current directory. Functions that write take an explicit ``root`` too, so tests never touch these.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "ROOT", "DATA", "RESULTS", "PUBLISHED", "REFERENCE", "REFERENCE_CSV", "PAPER", "CLAIMS_YAML",
    "NOTEBOOKS", "find_root",
]


def find_root() -> Path:
    """The repository root: ``$WHYEVENTS_ROOT``, else the tree holding this package, else cwd."""
    env = os.environ.get("WHYEVENTS_ROOT")
    if env:
        return Path(env).expanduser().resolve()
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file() and (parent / "runtime" / "whyevents").is_dir():
            return parent
    return Path.cwd().resolve()


ROOT: Path = find_root()
DATA: Path = ROOT / "data"
#: every run made on this machine (git-ignored): ``results/<experiment>/<run-id>/``
RESULTS: Path = DATA / "results"
#: the full-profile runs the committed report was built from (committed, small)
PUBLISHED: Path = DATA / "published"
#: the original papers' figures as numbers
REFERENCE: Path = DATA / "reference"
REFERENCE_CSV: Path = REFERENCE / "paper_figures_digitized.csv"
PAPER: Path = ROOT / "paper"
CLAIMS_YAML: Path = PAPER / "claims.yaml"
NOTEBOOKS: Path = ROOT / "notebooks"
