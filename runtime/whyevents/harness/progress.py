"""The progress bar of a benchmark run: tqdm on stderr, or one line per job without it.

``bar(total, enabled)`` returns an object with ``set_description``, ``update`` and ``close``:
a tqdm bar when tqdm is importable and progress is wanted, otherwise a stand-in that prints
``[k/total] what`` lines (or nothing when progress is off). Standard library only at import.
"""

from __future__ import annotations

import sys

__all__ = ["bar", "NoBar"]


class NoBar:
    """The stand-in for tqdm: numbered lines on stderr when ``enabled``, else silence."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.n, self.enabled = total, 0, enabled

    def set_description(self, text: str) -> None:
        if self.enabled:
            print(f"[{self.n + 1}/{self.total}] {text}", file=sys.stderr, flush=True)

    def update(self, k: int) -> None:
        self.n += k

    def close(self) -> None:
        pass


def bar(total: int, enabled: bool, unit: str = "job"):
    """A progress bar over ``total`` jobs (see the module docstring)."""
    if not enabled:
        return NoBar(total, False)
    try:
        from tqdm import tqdm
    except ImportError:
        return NoBar(total, True)
    return tqdm(total=total, unit=unit, file=sys.stderr, dynamic_ncols=True, leave=True)
