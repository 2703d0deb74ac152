"""LICENSE and CITATION.cff (issue 22 item 1): present, well-formed, citing the paper.

``cffconvert`` (the Citation File Format's validator) pins ``jsonschema<4``, which JupyterLab's
stack cannot use, so it is not a dependency: when it is on PATH its ``--validate`` runs too;
otherwise the keys CFF 1.2.0 requires, and the types of the ones used here, are checked below.
"""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CFF = ROOT / "CITATION.cff"
#: CFF 1.2.0: required at the top level, and the keys a reference must have
REQUIRED = ("cff-version", "message", "title", "authors")
REFERENCE_REQUIRED = ("type", "title", "authors")
PAPER = "Why Events Are A Bad Idea (for high-concurrency servers)"


def _cff() -> dict:
    return yaml.safe_load(CFF.read_text())


def _person_ok(a: dict) -> bool:
    return isinstance(a, dict) and bool(a.get("family-names") or a.get("name"))


def test_citation_cff_has_the_required_keys_and_cites_the_paper():
    doc = _cff()
    missing = [k for k in REQUIRED if k not in doc]
    assert not missing, f"CITATION.cff lacks {missing}"
    assert str(doc["cff-version"]) == "1.2.0"
    assert doc.get("type", "software") in ("software", "dataset")
    assert doc["authors"] and all(_person_ok(a) for a in doc["authors"])
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert str(doc["version"]) == project["version"]
    assert doc["license"] == project["license"]
    papers = [r for r in doc.get("references", []) if r.get("title") == PAPER]
    assert len(papers) == 1, "the paper is not among CITATION.cff's references"
    paper = papers[0]
    assert all(k in paper for k in REFERENCE_REQUIRED)
    assert paper["type"] == "conference-paper" and paper["year"] == 2003
    assert [a["family-names"] for a in paper["authors"]] == ["Behren", "Condit", "Brewer"]
    assert paper["authors"][0]["name-particle"] == "von"
    assert "HotOS IX" in paper["collection-title"] and paper["conference"]["name"] == "HotOS IX"


def test_citation_cff_validates_with_cffconvert_when_installed():
    exe = shutil.which("cffconvert")
    if exe is None:
        pytest.skip("cffconvert not on PATH (it needs jsonschema<4; the key checks above ran)")
    done = subprocess.run([exe, "--validate", "-i", str(CFF)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_license_covers_code_and_data_not_the_paper():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert "data/published/" in text and "CC BY 4.0" in text
    assert "is not included in this repository" in text
