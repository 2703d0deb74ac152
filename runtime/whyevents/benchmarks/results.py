"""Where a benchmark writes its results: ``data/results/<benchmark>/<UTC stamp>/results.json``.

The JSON is rewritten (atomically) after every job, so an interrupted run keeps what it measured.
Standard library only.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path

from whyevents.harness.provenance import repo_root

__all__ = ["default_json_path", "write_json"]


def default_json_path(benchmark: str) -> Path:
    """data/results/<benchmark>/<UTC timestamp>/results.json, never an existing run's."""
    root = repo_root() or Path.cwd()
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    base = root / "data" / "results" / benchmark
    path = base / stamp
    i = 2
    while path.exists():
        path = base / f"{stamp}-{i}"
        i += 1
    return path / "results.json"


def write_json(path: Path, result: dict) -> None:
    """Write ``result`` to ``path`` atomically (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    with open(tmp, "w") as f:
        json.dump(result, f, indent=1, default=str)
    os.replace(tmp, path)
