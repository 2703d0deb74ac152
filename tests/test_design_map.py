"""Every module of the package is in the design's map (docs/DESIGN.md), so a newcomer finds it.

A module counts as mapped when its path below ``runtime/whyevents/`` (``threads/hub.py``) or, for a
package's ``__init__.py``, the package's folder with its trailing slash appears in the design
document. Checked both ways: a path the design names must exist, so a rename cannot leave a stale
row behind.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "runtime" / "whyevents"
DESIGN = ROOT / "docs" / "DESIGN.md"


def _modules(pkg: Path = PKG) -> list[str]:
    out = []
    for p in sorted(pkg.rglob("*.py")):
        rel = p.relative_to(pkg).as_posix()
        if rel.startswith("_compiled/") or p.name == "__main__.py":
            continue
        if p.name == "__init__.py":
            rel = rel[: -len("__init__.py")] or "whyevents/"
            if rel == "whyevents/":
                continue
        out.append(rel)
    return out


def test_every_module_is_in_the_design_map():
    text = DESIGN.read_text()
    missing = [m for m in _modules() if m not in text]
    assert not missing, f"modules not named in docs/DESIGN.md: {missing}"


def test_every_module_path_the_design_names_exists():
    text = DESIGN.read_text()
    named = set(re.findall(r"`((?:[a-z_]+/)+[a-z_0-9]+\.py)`", text))
    stale = sorted(n for n in named
                   if not (PKG / n).exists() and not (ROOT / n).exists())
    assert not stale, f"docs/DESIGN.md names modules that do not exist: {stale}"


def test_the_check_sees_a_module_the_map_leaves_out(tmp_path):
    # the first test can fail: a new module is listed, and the design does not name it
    (tmp_path / "threads").mkdir()
    (tmp_path / "threads" / "brand_new.py").write_text('"""x"""\n')
    (tmp_path / "threads" / "__init__.py").write_text('"""x"""\n')
    assert _modules(tmp_path) == ["threads/", "threads/brand_new.py"]
    assert "threads/brand_new.py" not in DESIGN.read_text()
