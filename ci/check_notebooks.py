"""Structural checks on the committed notebooks (run by ``make test`` before nbval).

Why: nbval only compares cells tagged ``nbval-check-output`` (``--nbval-lax``), so it cannot see a
notebook that lost its claims cell, a claim no notebook checks, or numbers and plots committed by
accident. This script fails on each of those:

* the first code cell is tagged ``parameters`` (papermill injects after it) and its text is
  the template rendered for this notebook (``repro.notebook.parameters_cell``; ``--write`` puts
  the rendered cell back), so no notebook's parameters drift from the others';
* only cells tagged ``nbval-check-output`` carry outputs (``make strip`` removes the rest:
  ``nbstripout --keep-count``, keeping cells whose metadata says ``keep_output``);
* every claim in ``paper/claims.yaml`` is checked in the notebook the claim names: that notebook
  exists, takes its claims from claims.yaml by its own name (``nb.notebook_claims("NN_name")``,
  no claim id typed in a code cell), a checked cell calls ``check_claims``, and the checked
  cells' expected output has the claim's line (what nbval compares the run against);
* a checked cell carries its expected output and no error;
* code cells import only ``repro``, the experiments' public names and the display libraries
  (``ALLOWED_IMPORTS``; docs/DESIGN.md, "Layers"): what sits below ``repro`` is reached through it.

Usage: ``python ci/check_notebooks.py [--write] [NOTEBOOK ...]`` (default: notebooks/*.ipynb).
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECK = "nbval-check-output"
#: what a notebook's code cells may import (a module or a submodule of one of these)
ALLOWED_IMPORTS = ("whyevents.repro", "whyevents.experiments", "pandas", "seaborn", "matplotlib",
                   "IPython")
_CLAIM_ID = re.compile(r"""["']C\d+\.\d+["']""")
_OWN_CLAIMS = re.compile(r"""\bnotebook_claims\(\s*["']([^"']+)["']""")
_CHECKS = re.compile(r"\bcheck_(claims|verdicts)\(")


def _rendered(path: Path) -> str:
    from whyevents.repro.notebook import parameters_cell

    return parameters_cell(path.name)


def _allowed(module: str) -> bool:
    return any(module == a or module.startswith(a + ".") for a in ALLOWED_IMPORTS)


def import_problems(source: str) -> list[str]:
    """Modules a code cell imports outside ``ALLOWED_IMPORTS`` (IPython magics skipped)."""
    code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())
    try:
        tree = ast.parse(code)
    except SyntaxError as e:
        return [f"does not parse ({e.msg}, line {e.lineno})"]
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            bad += [a.name for a in node.names if not _allowed(a.name)]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                bad.append("." * node.level + (node.module or ""))
            elif node.module == "whyevents":        # from whyevents import repro / duality
                bad += [f"whyevents.{a.name}" for a in node.names
                        if not _allowed(f"whyevents.{a.name}")]
            elif not _allowed(node.module or ""):
                bad.append(node.module or "")
    return [f"imports {m} (notebooks import repro only: reach it through whyevents.repro)"
            for m in bad]


def problems(paths: list[Path], claims: list[dict]) -> list[str]:
    out: list[str] = []
    checked: dict[str, str] = {}                  # notebook name -> source of its checked cells
    printed: dict[str, list[str]] = {}            # notebook name -> its checked cells' lines
    own: dict[str, set[str]] = {}                 # notebook name -> notebook_claims("...") args
    for path in paths:
        nb = json.loads(path.read_text())
        cells = nb.get("cells", [])
        code = [c for c in cells if c.get("cell_type") == "code"]
        if not code or "parameters" not in code[0].get("metadata", {}).get("tags", []):
            out.append(f"{path.name}: the first code cell must be tagged 'parameters'")
        else:
            try:
                want = _rendered(path)
            except KeyError as e:
                out.append(f"{path.name}: {e.args[0]}")
            else:
                if "".join(code[0].get("source", "")).rstrip("\n") != want.rstrip("\n"):
                    out.append(f"{path.name}: the parameters cell differs from the template "
                               "(repro.notebook.parameters_cell; `python ci/check_notebooks.py "
                               "--write` renders it)")
        sources, lines = [], []
        own[path.name] = set()
        for i, cell in enumerate(cells):
            if cell.get("cell_type") != "code":
                continue
            tags = cell.get("metadata", {}).get("tags", [])
            outputs = cell.get("outputs", [])
            src = "".join(cell.get("source", ""))
            out += [f"{path.name}: cell {i} {p}" for p in import_problems(src)]
            if _CLAIM_ID.search(src):
                out.append(f"{path.name}: cell {i} types a claim id (take them from "
                           "claims.yaml: nb.notebook_claims(\"NN_name\"))")
            own[path.name].update(Path(a).stem for a in _OWN_CLAIMS.findall(src))
            if CHECK in tags:
                sources.append(src)
                for o in outputs:
                    text = o.get("text", "")
                    lines += ("".join(text) if isinstance(text, list) else text).splitlines()
                if not outputs:
                    out.append(f"{path.name}: checked cell {i} has no expected output "
                               "(run the notebook, then `make strip`)")
                if any(o.get("output_type") == "error" for o in outputs):
                    out.append(f"{path.name}: checked cell {i} was committed with an error")
            elif outputs:
                out.append(f"{path.name}: cell {i} has outputs but is not tagged {CHECK} "
                           "(run `make strip`)")
        checked[path.name] = "\n".join(sources)
        printed[path.name] = lines
    names = {p.name for p in paths}
    for c in claims:
        nb_name = c.get("notebook")
        if not nb_name:
            out.append(f"claim {c['id']}: names no notebook")
        elif nb_name not in names:
            out.append(f"claim {c['id']}: its notebook {nb_name} does not exist")
        elif not _CHECKS.search(checked[nb_name]):
            out.append(f"claim {c['id']}: no {CHECK} cell of {nb_name} checks it "
                       "(none calls nb.check_claims)")
        elif not any(line.startswith(f"{c['id']} ") for line in printed[nb_name]):
            out.append(f"claim {c['id']}: no {CHECK} cell of {nb_name} checks it (its expected "
                       "output has no line for it: run the notebook, then `make strip`)")
    for nb_name in sorted({c.get("notebook") for c in claims} & names):
        if own[nb_name] != {Path(nb_name).stem}:
            out.append(f"{nb_name}: takes its claims with nb.notebook_claims(\"{nb_name[:-6]}\") "
                       f"and no other notebook's (found: {sorted(own[nb_name]) or 'none'})")
    return out


def write_parameters(paths: list[Path]) -> list[Path]:
    """Put the rendered parameters cell into each notebook whose cell differs; the ones changed."""
    changed = []
    for path in paths:
        nb = json.loads(path.read_text())
        cell = next((c for c in nb.get("cells", []) if c.get("cell_type") == "code"), None)
        if cell is None or "parameters" not in cell.get("metadata", {}).get("tags", []):
            continue
        want = _rendered(path).rstrip("\n")
        if "".join(cell.get("source", "")).rstrip("\n") != want:
            cell["source"] = want.splitlines(keepends=True)
            path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
            changed.append(path)
    return changed


def main(argv: list[str]) -> int:
    import yaml

    write = "--write" in argv
    argv = [a for a in argv if a != "--write"]
    paths = [Path(a) for a in argv] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    if write:
        for p in write_parameters(paths):
            print(f"{p}: parameters cell rendered")
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
