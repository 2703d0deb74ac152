"""The install paths agree (issue 14, item 3): pyproject.toml, the Makefile, environment.yml,
ci/ensure_tools.sh and the README's first screen say the same thing.

* environment.yml's Python is pyproject's floor (``requires-python``);
* environment.yml installs the package with pip, editable, with the extras the Makefile installs
  (``EXTRAS``) and the README names, each of them defined in pyproject;
* every package ci/ensure_tools.sh installs is named on the README's first screen, and
  ``make test`` / ``make reproduce`` run it.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _extras(text: str) -> list[str]:
    return [e.strip() for e in text.split(",") if e.strip()]


def _env() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def _readme_first_screen() -> str:
    text = (ROOT / "README.md").read_text()
    return text.split("\n## ", 1)[0]


def _makefile_extras() -> list[str]:
    m = re.search(r"^EXTRAS\s*\?=\s*(\S+)\s*$", (ROOT / "Makefile").read_text(), re.M)
    assert m, "Makefile: no EXTRAS ?= line"
    return _extras(m.group(1))


def test_environment_yml_python_is_pyprojects_floor():
    floor = re.fullmatch(r">=\s*(\d+\.\d+)", _pyproject()["project"]["requires-python"].strip())
    assert floor, "requires-python is not a plain floor"
    pythons = [d for d in _env()["dependencies"] if isinstance(d, str) and d.startswith("python")]
    assert len(pythons) == 1, pythons
    m = re.fullmatch(r"python\s*(?:=|==|>=)\s*(\d+\.\d+)(?:\.\*)?", pythons[0].replace(" ", ""))
    assert m and m.group(1) == floor.group(1), (pythons[0], floor.group(0))


def test_environment_yml_installs_the_extras_make_and_the_readme_do():
    pip = next(d["pip"] for d in _env()["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert "pip" in _env()["dependencies"]
    (editable,) = [p for p in pip if p.startswith("-e")]
    m = re.fullmatch(r"-e\s+\.\[([^\]]*)\]", editable.strip())
    assert m, editable
    extras = _extras(m.group(1))
    defined = set(_pyproject()["project"]["optional-dependencies"])
    assert set(extras) <= defined, set(extras) - defined
    assert sorted(extras) == sorted(_makefile_extras())
    readme = _readme_first_screen()
    named = re.findall(r"-e '?\.\[([^\]]*)\]", readme)
    assert named, "the README's first screen does not say which extras are installed"
    assert all(sorted(_extras(n)) == sorted(extras) for n in named), named


def test_readme_first_screen_names_every_tool_ensure_tools_installs():
    script = (ROOT / "ci" / "ensure_tools.sh").read_text()
    packages = set(re.findall(r"pkgs\+=\(([\w.-]+)\)", script))
    assert {"wrk", "apache2-utils", "curl", "nginx-light", "chromium"} <= packages, packages
    readme = _readme_first_screen()
    assert "make test" in readme and "make reproduce" in readme
    assert not [p for p in packages if f"`{p}`" not in readme]
    makefile = (ROOT / "Makefile").read_text()
    for target, arg in (("test", "test"), ("reproduce", "reproduce")):
        body = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", makefile, re.M)
        assert body and f"ci/ensure_tools.sh {arg}" in body.group(1), target
    assert "ci/ensure_tools.sh" in (ROOT / ".ci" / "run").read_text()
