"""The stdlib's own objects, as they were before ``monkey.patch_all()`` replaced them.

Kernel-thread pools, the watchdog, the SEDA server's stages and a server's own OS thread must run
on real kernel threads, locks and sockets even in a patched process, and whether they are imported
before or after the patch. This one function answers "what was ``module.attr`` originally?"
without importing ``monkey`` (which would be a cost for programs that never patch).
"""

from __future__ import annotations

import importlib
import sys

__all__ = ["original"]


def original(module: str, attr: str):
    """``module.attr`` before ``whyevents.threads.monkey`` patched it (the current value if not)."""
    monkey = sys.modules.get("whyevents.threads.monkey")
    if monkey is not None:
        return monkey.get_original(module, attr)
    return getattr(importlib.import_module(module), attr)
