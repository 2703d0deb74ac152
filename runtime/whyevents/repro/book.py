"""``make book``: the executed notebooks, the reports and the design as a static HTML site.

Why Sphinx with myst-nb (and not Jupyter Book 2): both read MyST Markdown and executed notebooks,
but Jupyter Book 2 is a front end to the Node.js ``mystmd`` tool, which fetches its site theme
from the network when it first builds; Sphinx, myst-parser and myst-nb are pure-Python wheels
whose theme (Sphinx's own ``alabaster``) ships inside them, so ``pip install -e .[lab]`` once and
the build runs with no network at all, which is what a reader on a plane or a CI runner without
egress needs. The site loads nothing from outside either (no widget JavaScript from a CDN, no
MathJax), so it browses offline.

Nothing is executed: ``nb_execution_mode = "off"``; the notebooks are the ones ``make
reproduce`` executed (``ci/reproduce.sh`` stores them under
``data/results/reproduce/<run-id>/notebooks/``), the newest such run, else the executed
full-profile set committed under ``data/published/reproduce/``. Their copies are staged with two
edits, both to outputs only: a progress-bar widget output that has a text fallback keeps the
fallback (the widget's state is not in the page), and the report notebook's figure links, which
point at the machine that ran it, are pointed at the staged ``paper/`` figures.

Pages beside the notebooks: ``paper/REPORT.md`` (quick) and ``paper/full/REPORT.md`` (full),
``paper/ARTIFACT.md``, ``docs/DESIGN.md``, the comparison of this machine's latest runs with the
published ones (``repro.compare``) and each used run's provenance. Everything is staged under
``_build/book/src`` and rendered to ``_build/book/html`` (git-ignored). The build's wall time is
printed by ``make book``.

    python -m whyevents.repro.book [--out _build/book] [--notebooks DIR]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from whyevents.repro import paths

__all__ = ["select_notebooks", "stage", "build", "main", "CONF", "FAVICON"]

#: Sphinx's configuration for the staged tree (written as its conf.py)
CONF = '''\
# written by whyevents.repro.book: the staged book's Sphinx configuration
project = "whyevents"
author = "The whyevents contributors"
extensions = ["myst_nb"]
nb_execution_mode = "off"          # the notebooks were executed by make reproduce
nb_ipywidgets_js = {}              # no widget JavaScript from a CDN: the site works offline
myst_heading_anchors = 3
html_theme = "alabaster"
html_theme_options = {"page_width": "1200px", "body_max_width": "none",
                      "show_powered_by": False}
html_show_sphinx = False           # no links out of the site in every footer
html_favicon = "favicon.svg"       # declared, so browsers do not ask the server for /favicon.ico
html_title = "whyevents: the paper's claims, checked"
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
suppress_warnings = ["myst.header", "myst.xref_missing", "misc.highlighting_failure"]
'''

#: the site's icon: a plain square with a "w", drawn as text so the tree holds no binary
FAVICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
           '<rect width="16" height="16" rx="3" fill="#2c5d8a"/>'
           '<text x="8" y="12" font-size="11" text-anchor="middle" fill="#fff" '
           'font-family="sans-serif">w</text></svg>\n')

_RUN_DIR = re.compile(r"^\d{8}T\d{6}Z")
_FIGURE_LINK = re.compile(r"(!\[[^\]]*\]\()([^)\s]*/)?figures/([\w.-]+)\)")


def select_notebooks(results: Path | None = None,
                     published: Path | None = None) -> tuple[Path, str, str]:
    """(folder of executed notebooks, where it came from, profile): the newest ``make
    reproduce`` run under ``results/reproduce/`` with notebooks, else the newest published one."""
    results = Path(results) if results is not None else paths.RESULTS
    published = Path(published) if published is not None else paths.PUBLISHED
    for base, origin in ((results, "local"), (published, "published")):
        runs = sorted((d for d in (base / "reproduce").glob("*")
                       if _RUN_DIR.match(d.name) and any((d / "notebooks").glob("*.ipynb"))),
                      key=lambda d: d.name)
        if runs:
            run = runs[-1]
            profile = "full" if run.name.endswith("-full") else "quick"
            return run / "notebooks", origin, profile
    raise FileNotFoundError(f"no executed notebooks under {results / 'reproduce'} or "
                            f"{published / 'reproduce'}: run make reproduce first")


def _clean_notebook(nb: dict, figures_rel: str, figures_dir: Path) -> dict:
    """Outputs only: widget views with a text fallback keep the fallback; figure links in
    Markdown outputs point at the staged figures (or become text when the figure is absent)."""
    nb.get("metadata", {}).pop("widgets", None)

    def relink(m: re.Match) -> str:
        name = m.group(3)
        if (figures_dir / name).is_file():
            return f"{m.group(1)}{figures_rel}/{name})"
        return f"(figure {name} is not in this checkout)"

    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            data = out.get("data")
            if not data:
                continue
            widget = "application/vnd.jupyter.widget-view+json"
            if widget in data and len(data) > 1:
                del data[widget]
            if "text/markdown" in data:
                md = data["text/markdown"]
                md = "".join(md) if isinstance(md, list) else md
                data["text/markdown"] = _FIGURE_LINK.sub(relink, md)
    return nb


def _titled(text: str) -> str:
    """A report's title with its profile, so the two reports differ in the site's navigation."""
    m = re.search(r"profile \*\*(\w+)\*\*", text)
    if not m or not text.startswith("# "):
        return text
    first, _, rest = text.partition("\n")
    return f"{first} ({m.group(1)} profile)\n{rest}"


def _provenance_page(profile: str, root: Path, origin: str) -> str:
    from whyevents.repro.report import _provenance_table, latest_runs

    runs = latest_runs(profile, root)
    out = ["# Runs and their provenance", "",
           f"The latest {profile} run of each experiment under `{_show(root)}` ({origin}): what "
           "the notebooks and the report were drawn from. Each run's `provenance.json` in full "
           "below.", ""]
    if not runs:
        return "\n".join(out + [f"No stored {profile} runs under `{_show(root)}`.", ""])
    out += _provenance_table(runs) + [""]
    for exp, run in runs.items():
        out += [f"## {exp}: `{run.run_id}`", "", "```json",
                json.dumps(run.provenance, indent=2, sort_keys=True, default=str), "```", ""]
    return "\n".join(out)


def _show(p: Path) -> str:
    try:
        return Path(p).resolve().relative_to(paths.ROOT.resolve()).as_posix()
    except ValueError:
        return str(p)


def _comparison_page(profile: str, results: Path, published: Path) -> str:
    from whyevents.repro import compare

    rows = compare.compare(profile, root=results, against=published)
    here = [r for r in rows if r.here.status != "MISSING"]
    out = ["# This machine against the published runs", "",
           f"`whyevents compare --profile {profile}`: every claim decided on the latest {profile} "
           f"runs under `{_show(results)}` and under `{_show(published)}`.", ""]
    if not here:
        out += [f"No {profile} runs under `{_show(results)}` decide any claim yet: run `make "
                f"reproduce PROFILE={profile}`, then `make book` again. The published verdicts:",
                ""]
    out.append(compare.format_markdown(rows, profile))
    return "\n".join(out)


def stage(src: Path, notebooks: Path, origin: str, profile: str, *,
          results: Path | None = None, published: Path | None = None) -> Path:
    """The Sphinx source tree under ``src`` (emptied first); returns ``src``."""
    results = Path(results) if results is not None else paths.RESULTS
    published = Path(published) if published is not None else paths.PUBLISHED
    if src.exists():
        shutil.rmtree(src)
    (src / "notebooks").mkdir(parents=True)
    (src / "conf.py").write_text(CONF)
    (src / "favicon.svg").write_text(FAVICON)
    # the reports and their figures, the appendix, the design
    for rel in ("paper/REPORT.md", "paper/full/REPORT.md", "paper/ARTIFACT.md",
                "docs/DESIGN.md"):
        source = paths.ROOT / rel
        if source.is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            (src / rel).write_text(_titled(source.read_text()))
    for rel in ("paper/figures", "paper/full/figures"):
        if (paths.ROOT / rel).is_dir():
            shutil.copytree(paths.ROOT / rel, src / rel, dirs_exist_ok=True)
    figures = "paper/full/figures" if profile == "full" else "paper/figures"
    names = []
    for nb_path in sorted(notebooks.glob("*.ipynb")):
        nb = _clean_notebook(json.loads(nb_path.read_text()), f"../{figures}", src / figures)
        (src / "notebooks" / nb_path.name).write_text(json.dumps(nb, indent=1))
        names.append(nb_path.stem)
    data_root = results if origin == "local" else published
    (src / "provenance.md").write_text(_provenance_page(profile, data_root, origin))
    (src / "comparison.md").write_text(_comparison_page(profile, results, published))
    pages = [("Reports", [p for p in ("paper/REPORT", "paper/full/REPORT", "paper/ARTIFACT")
                          if (src / f"{p}.md").is_file()] + ["comparison", "provenance"]),
             (f"Executed notebooks ({profile} profile)", [f"notebooks/{n}" for n in names]),
             ("Design", ["docs/DESIGN"] if (src / "docs/DESIGN.md").is_file() else [])]
    index = ["# whyevents: the paper's claims, checked", "",
             "A reproduction of von Behren, Condit and Brewer, *Why Events Are A Bad Idea (for "
             "high-concurrency servers)*, HotOS IX, 2003, in Python on greenlet. This site is "
             "rendered by `make book` from stored results only; nothing on it was re-executed.",
             "",
             f"Notebooks: the {origin} `make reproduce` run `{_show(notebooks.parent)}` "
             f"({profile} profile).", ""]
    for caption, docs in pages:
        if docs:
            index += ["```{toctree}", ":maxdepth: 1", f":caption: {caption}", "", *docs, "```",
                      ""]
    (src / "index.md").write_text("\n".join(index))
    return src


def build(out: Path | None = None, notebooks: Path | None = None, *,
          results: Path | None = None, published: Path | None = None,
          quiet: bool = True) -> Path:
    """Stage and render the site; returns the HTML folder (``<out>/html``)."""
    from sphinx.cmd.build import build_main

    out = Path(out) if out is not None else paths.ROOT / "_build" / "book"
    if notebooks is None:
        notebooks, origin, profile = select_notebooks(results, published)
    else:
        notebooks = Path(notebooks)
        origin = "given"
        profile = "full" if notebooks.parent.name.endswith("-full") else "quick"
    src = stage(out / "src", notebooks, origin, profile, results=results, published=published)
    html = out / "html"
    argv = ["-b", "html", "-j", "1", "-d", str(out / "doctrees"), *(["-q"] if quiet else []),
            str(src), str(html)]
    status = build_main(argv)
    if status != 0:
        raise RuntimeError(f"sphinx-build exited with {status} (sources in {src})")
    return html


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m whyevents.repro.book",
                                description="Render the executed notebooks, the reports and the "
                                            "design as a static site (nothing is executed).")
    p.add_argument("--out", type=Path, default=None, help="default _build/book")
    p.add_argument("--notebooks", type=Path, default=None, metavar="DIR",
                   help="executed notebooks to use (default: the newest make reproduce run, "
                        "else the published one)")
    args = p.parse_args(argv)
    t0 = time.monotonic()
    try:
        html = build(args.out, args.notebooks)
    except (FileNotFoundError, RuntimeError) as e:
        print(f"book: {e}", file=sys.stderr)
        return 1
    print(f"book: {html / 'index.html'} in {time.monotonic() - t0:.0f} s; open it in a "
          f"browser, or serve it: python -m http.server -d {html} 8000")
    return 0


if __name__ == "__main__":
    sys.exit(main())
