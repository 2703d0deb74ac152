"""``make book`` (``repro.book``): which notebooks it renders, and the site in a real browser.

The browser test builds the site from the executed full-profile notebooks committed under
``data/published/reproduce/`` (a fixed input; ``make book`` itself prefers the newest local
``make reproduce`` run), serves it on a free local port and crawls it in Chromium through
Playwright, as tests/test_lab_browser.py drives JupyterLab: from the index, every internal page
it links to, transitively. On each page: the page answers 200 and raises no console error or
page error, every image has loaded (``naturalWidth > 0``), and every internal link resolves
(pages answer 200; a ``#fragment`` names an element on its page). Skips, saying what to install,
without Playwright, Sphinx/myst-nb or Chromium.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import shutil
import threading
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urldefrag, urlparse

import pytest

from support.browser import CHROMIUM, CHROMIUM_ARGS, missing
from whyevents.repro import book, paths

_IMAGES = """() => [...document.images].map(i => ({src: i.currentSrc || i.src,
                                                  ok: i.complete && i.naturalWidth > 0}))"""
_LINKS = "() => [...document.querySelectorAll('a[href]')].map(a => a.href)"


def _missing() -> str | None:
    return missing((("sphinx", "Sphinx"), ("myst_nb", "myst-nb")))


def _executed(root: Path, name: str, profile: str) -> Path:
    nbs = root / "reproduce" / f"{name}-{profile}" / "notebooks"
    nbs.mkdir(parents=True)
    (nbs / "00_overview.ipynb").write_text("{}")
    return nbs


def test_the_newest_local_reproduce_wins_else_the_published_one(tmp_path):
    results, published = tmp_path / "results", tmp_path / "published"
    pub = _executed(published, "20261205T224719Z", "full")
    assert book.select_notebooks(results, published) == (pub, "published", "full")
    _executed(results, "20261206T010000Z", "full")
    newest = _executed(results, "20261207T010000Z", "quick")
    (results / "reproduce" / "20261208T010000Z-quick" / "notebooks").mkdir(parents=True)
    assert book.select_notebooks(results, published) == (newest, "local", "quick")
    shutil.rmtree(published)
    shutil.rmtree(results)
    with pytest.raises(FileNotFoundError, match="run make reproduce first"):
        book.select_notebooks(results, published)


@contextlib.contextmanager
def _serve(directory: Path):
    handler = functools.partial(_Quiet, directory=str(directory))
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        pass                  # the browser drops a connection when it navigates on: not ours


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


@pytest.mark.browser
@pytest.mark.timeout(900)
def test_book_pages_images_and_links_in_chromium(tmp_path):
    reason = _missing()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    published = sorted((paths.PUBLISHED / "reproduce").glob("*/notebooks"))[-1]
    html = book.build(tmp_path / "book", published, results=tmp_path / "results")
    assert (html / "index.html").is_file()
    assert len(list((html / "notebooks").glob("*.html"))) == len(list(published.glob("*.ipynb")))

    problems: list[str] = []
    with _serve(html) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("response", lambda r: errors.append(f"HTTP {r.status} {r.url}")
                    if r.status >= 400 else None)
            queue, seen, checked = [f"{base}/index.html"], set(), {}
            fragments: list[tuple[str, str, str]] = []
            while queue:
                url = queue.pop(0)
                if url in seen:
                    continue
                seen.add(url)
                errors.clear()
                response = page.goto(url, wait_until="load")
                if response is None or response.status != 200:
                    problems.append(f"{url}: HTTP {response.status if response else 'none'}")
                    continue
                page.wait_for_load_state("networkidle")
                for img in page.evaluate(_IMAGES):
                    if not img["ok"]:
                        problems.append(f"{url}: image did not load: {img['src']}")
                problems += [f"{url}: console: {e}" for e in errors]
                for href in page.evaluate(_LINKS):
                    target, frag = urldefrag(href)
                    if urlparse(target).netloc != urlparse(base).netloc:
                        continue                          # outside the site: not crawled
                    if frag:
                        fragments.append((url, target, frag))
                    if target.endswith(".html") or target.endswith("/"):
                        queue.append(target)
                    elif target not in checked:
                        checked[target] = _status(target)
            for url, target, frag in fragments:
                if target not in seen:
                    continue
                page.goto(target)
                found = page.evaluate("f => !!document.getElementById(f) || "
                                      "!!document.getElementsByName(f).length", frag)
                if not found:
                    problems.append(f"{url}: link to {target}#{frag}: no such anchor")
        finally:
            browser.close()
    problems += [f"broken link: {t} (HTTP {s})" for t, s in checked.items() if s != 200]
    assert not problems, "\n".join(problems[:40])
    pages = {urlparse(u).path for u in seen}
    for want in ("/comparison.html", "/provenance.html", "/paper/REPORT.html",
                 "/paper/full/REPORT.html", "/paper/ARTIFACT.html", "/docs/DESIGN.html",
                 "/notebooks/99_report.html"):
        assert want in pages, f"{want} is not reachable from the index"
