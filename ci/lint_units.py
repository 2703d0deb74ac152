"""Lint: no measured numbers in docstrings and comments (run by ``make test`` and ``make lint``).

Why: a timing, a rate or a memory figure written into the code is true of one machine on one day
and goes stale without anyone noticing (docs/DESIGN.md: measured numbers do not live in the
code). The code states the property in words and the command that measures it; the numbers live
in benchmark outputs and published runs, dated by their provenance. This script finds the
numbers that slipped back in.

What it reads: every ``.py`` file under the given paths; in each, the string statements (module,
class and function docstrings, attribute docstrings; found with ``ast``, scanned as their source
lines) and the comments (found with ``tokenize``). Code and other string literals are not read.

What it flags, on one physical line (a number is ``68``, ``1,880``, ``2.3``, ``68k``, ``1.3M``):

* a **rate**: a number followed by anything ``/s`` or ``per second`` (``68k req/s``,
  ``400k tasks/s``, ``3 Gbit/s``, ``1,000 switches per second``);
* a **short duration**: a number in ``us``, ``µs``, ``ns``, micro- or nanoseconds (what a call or
  a request costs; no parameter of this project is that small);
* **memory per unit of work or growth**: a size (``B``, bytes, ``KB``, ``KiB``, ``MB``, ...)
  per (``/``, ``per``, ``a``, ``each``) thread, request, task, connection, client, ...
  (``7.26 KB/thread``), "each holds/takes/uses/costs" a size, a size after "RSS", "grew",
  "grows";
* a **speed ratio**: ``1.3x``, ``2 ×``/``3 times`` followed by faster/slower/more/less/fewer/as,
  a percentage followed by faster/slower/more/less/fewer/lower/higher;
* **hardware counts**: a number of cycles, instructions or cache misses;
* a number in seconds, minutes, hours, a size or a percentage followed by "here" or "on this
  machine" (``35 s here``);
* a **measurement word** (measured, median, mean, average, p50/p90/p99, timeit, A/B, ``costs``,
  ``took``, ``saves``/``saved``, ``spends``) on the line or the line before it in the same
  docstring or comment block, together with a number in seconds, milliseconds, minutes or a
  percentage on the line.

What it leaves alone: a number with a unit that is a parameter or a bound, the common case
("an 8 KiB file", "a 2 s linger bound", "a timeout of 120 s", "RLIMIT_NOFILE at 20,000"), unless
one of the rules above applies; and the text of a quotation in double quotes (up to 400
characters, across lines), the words of the source quoted (the paper's numbers, not ours).

Opt-out, for a genuine parameter a rule catches (keep them rare): the marker ``unit-ok:`` and a
reason on the same physical line; in a comment ``# unit-ok: parameter``, in a docstring the text
``(unit-ok: parameter)``. A finding that is a measurement is fixed, not marked: say the property
in words and the command that measures it (e.g. "``whyevents bench servers`` prints each
server's CPU per request").

Usage: ``python ci/lint_units.py PATH [PATH ...]`` (directories are walked for ``*.py``). Prints
``path:line: text  [rule]`` for each finding; exits 1 if there is any, 0 if none, 2 on a usage
error. Stdlib only.
"""

from __future__ import annotations

import ast
import io
import re
import sys
import tokenize
from pathlib import Path

OPT_OUT = "unit-ok:"

_NUM = r"(?<![\w.])\d[\d,]*(?:\.\d+)?(?:\s?[kKMG](?!\w))?"   # 68, 1,880, 2.3, 68k, 1.3M
_SIZE = r"(?:B|bytes?|[kK]B|KiB|MB|MiB|GB|GiB)(?!\w)"
_WORK = (r"(?:parked\s+|green\s+|kernel\s+|idle\s+|open\s+)?(?:thread|request|task|connection|"
         r"conn|client|coroutine|greenlet|round\s+trip|switch|entry|object|wait(?:er)?)s?\b")
_WORDS = r"(?:[A-Za-z%]+(?:[ -][A-Za-z]+)?\s*)?"                 # "req", "tasks", "round trips"
_COMPARED = r"(?:faster|slower|more|less|fewer|as|longer|shorter|higher|lower)\b"


def _any(*alternatives: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{a})" for a in alternatives))


RULES: list[tuple[str, re.Pattern[str]]] = [
    ("rate", _any(
        _NUM + r"\s*" + _WORDS + r"/\s?(?:s|sec|second)\b",                  # 68k req/s
        _NUM + r"\s*" + _WORDS + r"\s(?:per|a|each)\s+second\b(?!\s+time)")),  # 30 per second
    ("duration", _any(
        _NUM + r"\s*(?:us|µs|μs|ns|usec|nsec|microseconds?|nanoseconds?)\b")),
    ("memory per unit", _any(
        _NUM + r"\s*" + _SIZE + r"\s*(?:/|per|a|each)\s*(?:[\d,.]+k?\s+)?" + _WORK,
        _NUM + r"\s*" + _SIZE + r"\s+each\b",                                  # 6 KB each
        r"\beach\s+(?:holds|takes|uses|costs)\s+~?\d[\d,.]*\s*" + _SIZE,
        r"\b(?:grew|grows|RSS)\b[^.;:]{0,30}?" + _NUM + r"\s*" + _SIZE)),
    ("ratio", _any(
        r"(?<![\w.])\d+(?:\.\d+)?(?:-\d+(?:\.\d+)?)?[x×](?![\w])",            # 1.4x, 30-50x
        _NUM + r"\s*(?:×|times)\s+" + _COMPARED,                              # 6 times as
        _NUM + r"\s*%\s+" + _COMPARED)),                                      # 4% slower
    ("here", _any(
        _NUM + r"\s*(?:s|sec|seconds?|ms|min|minutes?|h|hours?|%|" + _SIZE + r")"
        r"\s+(?:here|on\s+this\s+machine)\b")),                                # 35 s here
    ("hardware count", _any(_NUM + r"\s*(?:cycles|instructions|cache[ -]misses)\b")),
]

_MEASURE_WORD = re.compile(
    r"\b(?:[Mm]easured|[Mm]edians?|[Mm]ean|[Aa]verage[sd]?|p50|p90|p99|timeit|A/B|costs?|took|"
    r"saves|saved|spends?|spent)\b")
_QUANTITY = re.compile(
    _NUM + r"\s*(?:s|sec|secs|seconds?|ms|msec|milliseconds?|min|minutes?|%)(?!\w)")

_QUOTATION = re.compile(r'"[^"]{1,400}"')


def _mask_quotations(lines: list[str]) -> list[str]:
    """The block's lines with the text of each "quotation" blanked (newlines kept)."""
    text = "\n".join(lines).replace('"""', "   ")
    text = _QUOTATION.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), text)
    return text.split("\n")


def findings_in_text(lines: list[str]) -> list[tuple[int, str]]:
    """(index, rule) for each line of one docstring or comment block that holds a measurement."""
    out: list[tuple[int, str]] = []
    raw, lines = lines, _mask_quotations(lines)
    for i, line in enumerate(lines):
        if OPT_OUT in raw[i]:
            continue
        for name, rule in RULES:
            if rule.search(line):
                out.append((i, name))
                break
        else:
            if _QUANTITY.search(line) and (
                    _MEASURE_WORD.search(line) or (i and _MEASURE_WORD.search(lines[i - 1]))):
                out.append((i, "measured"))
    return out


def _string_statements(tree: ast.AST):
    """Each string statement (docstrings included): (first line, first col, last line, last col)."""
    for node in ast.walk(tree):
        if (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)):
            v = node.value
            yield v.lineno, v.col_offset, v.end_lineno, v.end_col_offset


def _comment_blocks(source: str) -> list[list[tuple[int, str]]]:
    """Comments grouped into blocks of consecutive lines: [(line number, text), ...]."""
    blocks: list[list[tuple[int, str]]] = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type != tokenize.COMMENT:
            continue
        row = tok.start[0]
        if blocks and blocks[-1][-1][0] == row - 1:
            blocks[-1].append((row, tok.string))
        else:
            blocks.append([(row, tok.string)])
    return blocks


def check_source(source: str) -> list[tuple[int, str, str]]:
    """(line number, rule, text) of each finding in one file's source."""
    src_lines = source.splitlines()
    blocks: list[list[tuple[int, str]]] = _comment_blocks(source)
    for first, col, last, end_col in _string_statements(ast.parse(source)):
        rows = list(range(first, last + 1))
        texts = [src_lines[r - 1] for r in rows]
        texts[-1] = texts[-1][:end_col]
        texts[0] = texts[0][col:]
        blocks.append(list(zip(rows, texts, strict=True)))
    found = []
    for block in blocks:
        rows = [r for r, _ in block]
        for i, rule in findings_in_text([t for _, t in block]):
            row = rows[i]
            if OPT_OUT in src_lines[row - 1]:           # a trailing comment on a docstring line
                continue
            found.append((row, rule, src_lines[row - 1].strip()))
    return sorted(set(found))


def python_files(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        files.extend(sorted(p.rglob("*.py")) if p.is_dir() else [p])
    return files


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python ci/lint_units.py PATH [PATH ...]", file=sys.stderr)
        return 2
    bad = 0
    for path in python_files(argv):
        for row, rule, text in check_source(path.read_text(encoding="utf-8")):
            print(f"{path}:{row}: {text}  [{rule}]")
            bad += 1
    if bad:
        print(f"{bad} measured number(s) in docstrings or comments: state the property in words "
              f"and the command that measures it (see ci/lint_units.py)", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
