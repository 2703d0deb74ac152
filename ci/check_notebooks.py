"""Structural checks on the committed notebooks (run by ``make test`` before nbval).

Why: nbval only compares cells tagged ``nbval-check-output`` (``--nbval-lax``), so it cannot see a
notebook that lost its claims cell, a claim no notebook checks, or numbers and plots committed by
accident. This script fails on each of those:

* the first code cell is tagged ``parameters`` (papermill injects after it);
* only cells tagged ``nbval-check-output`` carry outputs (``make strip`` removes the rest:
  ``nbstripout --keep-count``, keeping cells whose metadata says ``keep_output``);
* every claim in ``paper/claims.yaml`` is checked (its id appears in a checked cell) in the
  notebook the claim names, and that notebook exists;
* a checked cell carries its expected output (what nbval compares against) and no error.

Usage: ``python ci/check_notebooks.py [NOTEBOOK ...]`` (default: notebooks/*.ipynb).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECK = "nbval-check-output"


def problems(paths: list[Path], claims: list[dict]) -> list[str]:
    out: list[str] = []
    checked: dict[str, str] = {}                  # notebook name -> source of its checked cells
    for path in paths:
        nb = json.loads(path.read_text())
        cells = nb.get("cells", [])
        code = [c for c in cells if c.get("cell_type") == "code"]
        if not code or "parameters" not in code[0].get("metadata", {}).get("tags", []):
            out.append(f"{path.name}: the first code cell must be tagged 'parameters'")
        sources = []
        for i, cell in enumerate(cells):
            if cell.get("cell_type") != "code":
                continue
            tags = cell.get("metadata", {}).get("tags", [])
            outputs = cell.get("outputs", [])
            if CHECK in tags:
                sources.append("".join(cell.get("source", "")))
                if not outputs:
                    out.append(f"{path.name}: checked cell {i} has no expected output "
                               "(run the notebook, then `make strip`)")
                if any(o.get("output_type") == "error" for o in outputs):
                    out.append(f"{path.name}: checked cell {i} was committed with an error")
            elif outputs:
                out.append(f"{path.name}: cell {i} has outputs but is not tagged {CHECK} "
                           "(run `make strip`)")
        checked[path.name] = "\n".join(sources)
    names = {p.name for p in paths}
    for c in claims:
        nb_name = c.get("notebook")
        if not nb_name:
            out.append(f"claim {c['id']}: names no notebook")
        elif nb_name not in names:
            out.append(f"claim {c['id']}: its notebook {nb_name} does not exist")
        elif f'"{c["id"]}"' not in checked[nb_name]:
            out.append(f"claim {c['id']}: no {CHECK} cell of {nb_name} checks it")
    return out


def main(argv: list[str]) -> int:
    import yaml

    paths = [Path(a) for a in argv] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    claims = yaml.safe_load((ROOT / "paper" / "claims.yaml").read_text())["claims"]
    found = problems(paths, claims)
    for p in found:
        print(p, file=sys.stderr)
    if found:
        print(f"{len(found)} notebook problem(s)", file=sys.stderr)
        return 1
    print(f"{len(paths)} notebooks: structure ok, {len(claims)} claims each checked")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
