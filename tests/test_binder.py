"""Binder / repo2docker files (issue 22 item 5) agree with what the project installs itself.

``apt.txt`` must name every Debian package ``ci/ensure_tools.sh`` installs (read from its
``pkgs+=(...)`` lines), chromium excepted (the browser tests only; a snap on Binder's Ubuntu);
``environment.yml``'s pip line installs the package with the extras the Makefile installs, each
one defined in pyproject.toml; ``postBuild`` installs the same and registers the kernel
``ci/lab.sh`` registers.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _apt() -> set[str]:
    lines = (ROOT / "apt.txt").read_text().splitlines()
    return {ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")}


def _extras(spec: str) -> list[str]:
    m = re.search(r"\.\[([^\]]*)\]", spec)
    assert m, f"no extras in {spec!r}"
    return [e.strip() for e in m.group(1).split(",")]


def test_apt_txt_lists_what_ensure_tools_installs():
    script = (ROOT / "ci" / "ensure_tools.sh").read_text()
    installed = set(re.findall(r"pkgs\+=\(([\w.-]+)\)", script))
    assert {"wrk", "nginx-light", "chromium"} <= installed    # the parse found the list
    assert installed - {"chromium"} == _apt()


def test_environment_yml_installs_the_package_with_the_makefile_extras():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    editable = [p for p in pip if p.startswith("-e .")]
    assert len(editable) == 1, pip
    extras = _extras(editable[0])
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert set(extras) <= set(project["optional-dependencies"]), extras
    make = re.search(r"^EXTRAS \?= (.+)$", (ROOT / "Makefile").read_text(), re.M).group(1)
    assert extras == make.strip().split(",")
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    minimum = project["requires-python"].removeprefix(">=")
    assert tuple(map(int, python.split("=")[-1].split("."))) >= tuple(map(int, minimum.split(".")))


def test_postbuild_installs_the_same_and_registers_the_kernel():
    post = ROOT / "postBuild"
    assert post.stat().st_mode & 0o111, "postBuild must be executable"
    text = post.read_text()
    make = re.search(r"^EXTRAS \?= (.+)$", (ROOT / "Makefile").read_text(), re.M).group(1)
    install = next(ln for ln in text.splitlines() if "pip install" in ln)
    assert _extras(install) == make.strip().split(",")
    lab = (ROOT / "ci" / "lab.sh").read_text()
    kernel = re.search(r"ipykernel install --user (--name \S+ --display-name \"[^\"]+\")", lab)
    assert kernel and kernel.group(1) in text
