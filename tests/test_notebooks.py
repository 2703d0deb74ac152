"""The notebooks: structure (ci/check_notebooks.py), and nbval failing when a claim fails.

The nbval run of the real notebooks is `make test`'s last step (ci/nbval.sh); here we prove the
other direction once: a notebook run with a deliberately broken parameter (a thread sweep that
stops short of the size its claim needs) makes `pytest --nbval-lax` fail on the claims cell,
without editing the committed notebook (papermill injects the parameter into a copy).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
sys.path.insert(0, str(ROOT / "ci"))
import check_notebooks  # noqa: E402


def _claims():
    import yaml

    return yaml.safe_load((ROOT / "paper" / "claims.yaml").read_text())["claims"]


def test_committed_notebooks_pass_the_structure_check():
    paths = sorted(NOTEBOOKS.glob("*.ipynb"))
    assert [p.name for p in paths][:2] == ["00_overview.ipynb", "01_task_pipeline.ipynb"]
    assert check_notebooks.problems(paths, _claims()) == []


def _load(name):
    return json.loads((NOTEBOOKS / name).read_text())


def test_structure_check_catches_stray_outputs_and_unchecked_claims(tmp_path):
    nb = _load("02_hundred_thousand_threads.ipynb")
    bad = copy.deepcopy(nb)
    plain = next(c for c in bad["cells"] if c["cell_type"] == "code"
                 and "nbval-check-output" not in c["metadata"].get("tags", [])
                 and "parameters" not in c["metadata"].get("tags", []))
    plain["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["42\n"]}]
    checked = next(c for c in bad["cells"]
                   if "nbval-check-output" in c["metadata"].get("tags", []))
    checked["source"] = "print('nothing checked')"
    path = tmp_path / "02_hundred_thousand_threads.ipynb"
    path.write_text(json.dumps(bad))
    claims = [c for c in _claims() if c["notebook"] == path.name]
    found = check_notebooks.problems([path], claims)
    assert any("has outputs but is not tagged" in p for p in found)
    assert any("C2.7" in p and "checks it" in p for p in found)
    first = next(c for c in bad["cells"] if c["cell_type"] == "code")
    first["metadata"]["tags"] = []
    path.write_text(json.dumps(bad))
    assert any("parameters" in p for p in check_notebooks.problems([path], claims))


def test_every_notebook_takes_the_profile_parameters():
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        first = next(c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")
        src = "".join(first["source"])
        for name in ("profile", "reuse", "overrides", "results_root"):
            assert f"{name} =" in src, (path.name, name)
    assert "profile: full" in (NOTEBOOKS / "params" / "full.yaml").read_text()


@pytest.mark.skipif(importlib.util.find_spec("nbval") is None, reason="nbval not installed")
@pytest.mark.timeout(600)
def test_nbval_fails_when_a_claim_fails(tmp_path):
    import papermill

    broken = tmp_path / "02_broken.ipynb"
    # Thread counts that stop at 1,000: "10,000 green threads fit and run" cannot be shown.
    papermill.execute_notebook(
        str(NOTEBOOKS / "02_hundred_thousand_threads.ipynb"), str(broken), prepare_only=True,
        parameters={"overrides": {"threads": [100, 1000], "backends": ["whyevents"],
                                  "peers": []},
                    "results_root": str(tmp_path / "results")})
    env = dict(os.environ, MPLBACKEND="Agg")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env",
         "--sanitize-with", str(ROOT / "ci" / "nbval_sanitize.cfg"), "-p", "no:cacheprovider",
         "-o", "addopts=", "--timeout=0", str(broken)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=580)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert "Cell 7" in out or "check_claims" in out, out[-3000:]    # the claims cell, not setup
    assert "ClaimFailed" in out and ": C2.7" in out, out[-3000:]
    # the measured points were kept in the results store the parameter pointed at
    rows = list((tmp_path / "results" / "scaling").glob("*/rows.jsonl"))
    assert rows and rows[0].read_text().count("\n") >= 2
