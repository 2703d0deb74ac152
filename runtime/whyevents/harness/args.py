"""Argument validators for the command lines (argparse ``type=`` functions), one copy each.

Each is a factory taking the parameter's name, so the message says which parameter was wrong
and what it accepts even where argparse does not prefix it: ``positive_int("--repeat")("0")``
raises ``ArgumentTypeError("--repeat must be at least 1, got 0")``. Standard library only.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence

__all__ = ["positive_int", "positive_float", "number_between", "int_list", "csv_choice"]


def _int(name: str, text: str) -> int:
    try:
        return int(text.strip().replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name} must be an integer, got {text!r}") from None


def positive_int(name: str) -> Callable[[str], int]:
    """An integer >= 1."""
    def parse(text: str) -> int:
        value = _int(name, text)
        if value < 1:
            raise argparse.ArgumentTypeError(f"{name} must be at least 1, got {value}")
        return value
    parse.__name__ = name
    return parse


def positive_float(name: str) -> Callable[[str], float]:
    """A finite number > 0."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
        if not (value > 0 and math.isfinite(value)):
            raise argparse.ArgumentTypeError(f"{name} must be a positive finite number, "
                                             f"got {text}")
        return value
    parse.__name__ = name
    return parse


def number_between(name: str, lo: float, hi: float, unit: str = "") -> Callable[[str], float]:
    """A number in ``[lo, hi]``."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{name} must be {lo:g}..{hi:g}{unit}, got {text}")
        return value
    parse.__name__ = name
    return parse


def int_list(name: str, minimum: int = 1) -> Callable[[str], list[int]]:
    """``50,1000,10_000`` -> ``[50, 1000, 10000]`` (duplicates dropped, order kept)."""
    def parse(text: str) -> list[int]:
        items = [s for s in text.split(",") if s.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"{name}: empty list, e.g. 50,1000,10000")
        out = []
        for s in items:
            value = _int(name, s)
            if value < minimum:
                raise argparse.ArgumentTypeError(f"{name} values must be >= {minimum}, "
                                                 f"got {value}")
            out.append(value)
        return list(dict.fromkeys(out))
    parse.__name__ = name
    return parse


def csv_choice(name: str, choices: Sequence[str],
               allow_none: bool = False) -> Callable[[str], list[str]]:
    """``a,b`` -> ``["a", "b"]``, each one of ``choices`` (``none`` -> [] if ``allow_none``)."""
    def parse(text: str) -> list[str]:
        items = [s.strip() for s in text.split(",") if s.strip()]
        if allow_none and items in (["none"], []):
            return []
        if not items:
            raise argparse.ArgumentTypeError(f"empty {name} list; choose from "
                                             f"{', '.join(choices)}")
        bad = [s for s in items if s not in choices]
        if bad:
            raise argparse.ArgumentTypeError(
                f"unknown {name} {', '.join(repr(b) for b in bad)}; choose from "
                f"{', '.join(choices)}")
        return list(dict.fromkeys(items))
    parse.__name__ = name
    return parse
