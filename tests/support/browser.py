"""Chromium for the browser tests (JupyterLab, the book): where it is, how it is started, and
what is missing when it cannot be.

Both tests drive Debian's Chromium through Playwright for Python (no browser download); as root
on a closed network it needs the flags below.
"""

from __future__ import annotations

import importlib.util
import os

CHROMIUM = os.environ.get("WHYEVENTS_CHROMIUM", "/usr/bin/chromium")
#: Chromium on a closed network, as root
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]


def missing(modules: tuple[tuple[str, str], ...]) -> str | None:
    """Why the browser test cannot run here (a module of ``(import name, what)`` pairs, or
    Chromium itself), with the command that installs it; None when everything is here."""
    for module, what in (("playwright", "Playwright for Python"), *modules):
        if importlib.util.find_spec(module) is None:
            return f"{what} is not installed: .venv/bin/pip install -e '.[lab]' (make test does)"
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return (f"Chromium not found at {CHROMIUM}: apt-get install chromium (as root; "
                "make test does it through ci/ensure_tools.sh)")
    return None
