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


def _code(nb, pred):
    return next(c for c in nb["cells"] if c["cell_type"] == "code" and pred(c))


def _planted(tmp_path, name, plant):
    """problems() of a copy of notebook ``name`` with ``plant(nb)`` applied."""
    bad = copy.deepcopy(_load(name))
    plant(bad)
    path = tmp_path / name
    path.write_text(json.dumps(bad))
    return check_notebooks.problems([path], [c for c in _claims() if c["notebook"] == name])


def test_structure_check_catches_a_parameters_cell_that_left_the_template(tmp_path):
    def drift(nb):                     # 04's old mistake: a parameter set twice
        params = _code(nb, lambda c: "parameters" in c["metadata"].get("tags", []))
        params["source"] = "".join(params["source"]) + "\nreuse = True"

    found = _planted(tmp_path, "04_duality.ipynb", drift)
    assert any("parameters cell differs from the template" in p for p in found), found
    assert check_notebooks.write_parameters([tmp_path / "04_duality.ipynb"])
    assert check_notebooks.problems([tmp_path / "04_duality.ipynb"],
                                    [c for c in _claims() if c["notebook"] == "04_duality.ipynb"]
                                    ) == []


def test_structure_check_catches_imports_below_repro(tmp_path):
    def imports(nb):
        cell = _code(nb, lambda c: "import" in "".join(c["source"]))
        cell["source"] = ("%matplotlib inline\nfrom whyevents import duality\n"
                          "import whyevents.eventloop\nfrom whyevents.repro import figures\n"
                          "from IPython.display import display\nimport pandas as pd\n")

    found = _planted(tmp_path, "02_hundred_thousand_threads.ipynb", imports)
    assert sorted(p.split(" imports ")[1].split(" ")[0] for p in found if " imports " in p) == [
        "whyevents.duality", "whyevents.eventloop"], found
    assert check_notebooks.import_problems("import os\nfrom . import x") != []
    assert check_notebooks.import_problems("from whyevents.experiments import web") == []


def test_structure_check_catches_typed_claim_ids_and_another_notebooks_claims(tmp_path):
    def typed(nb):
        cell = _code(nb, lambda c: "notebook_claims" in "".join(c["source"]))
        cell["source"] = 'CLAIMS = ["C2.7"]\nnb.claims_table(CLAIMS, profile, run)'

    found = _planted(tmp_path, "02_hundred_thousand_threads.ipynb", typed)
    assert any("types a claim id" in p for p in found), found
    assert any("notebook_claims(\"02_hundred_thousand_threads\")" in p for p in found), found

    def other(nb):
        cell = _code(nb, lambda c: "notebook_claims" in "".join(c["source"]))
        cell["source"] = "".join(cell["source"]).replace("02_hundred_thousand_threads",
                                                         "01_task_pipeline")

    found = _planted(tmp_path, "02_hundred_thousand_threads.ipynb", other)
    assert any("01_task_pipeline" in p and "takes its claims" in p for p in found), found

    def unprinted(nb):                 # the expected output lost the claim's line
        cell = _code(nb, lambda c: "nbval-check-output" in c["metadata"].get("tags", []))
        cell["outputs"][0]["text"] = ["something else\n"]

    found = _planted(tmp_path, "02_hundred_thousand_threads.ipynb", unprinted)
    assert any("C2.7" in p and "no line for it" in p for p in found), found


def test_every_notebook_takes_the_profile_parameters():
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        first = next(c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")
        src = "".join(first["source"])
        for name in ("profile", "reuse", "overrides", "results_root"):
            assert f"{name} =" in src, (path.name, name)
    assert "profile: full" in (NOTEBOOKS / "params" / "full.yaml").read_text()


@pytest.mark.skipif(importlib.util.find_spec("nbval") is None, reason="nbval not installed")
@pytest.mark.slow
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
