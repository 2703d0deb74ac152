"""Document roots for the server tests, written from a description (``Tree``), not by hand.

Every server test serves a directory: which files, with which bytes, what sits beside the root
(what must never be served) and which symlinks lead out of it. A ``Tree`` says that once and
writes it under a fresh base directory (``Tree(...)(base)`` gives the root's path as a string,
what every server's ``start`` takes). ``SHARED`` is the root the shared server tests, the
hostile clients and the fuzzer serve; a test module that serves something else names its own
``DOCROOT`` (a ``Tree``, or any function of the base directory) and the ``docroot`` fixture in
``tests/conftest.py`` builds it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

BODY = bytes(range(256)) * 32     # the 8 KiB file, every byte value
INDEX = b"<h1>whyevents</h1>\n"
DOCS = b"<h1>docs</h1>\n"
SMALL = b"small\n"
SECRET = b"TOP-SECRET-OUTSIDE-THE-ROOT"

#: A file's content: bytes, or a function giving them when the tree is written (fresh random
#: bytes for each root, say).
Content = bytes | Callable[[], bytes]


@dataclass(frozen=True)
class Tree:
    """A document root: ``files`` inside it (relative path: content), ``outside`` beside it
    (name: content), ``links`` inside it pointing outside (relative path: outside name)."""

    files: Mapping[str, Content]
    outside: Mapping[str, Content] = field(default_factory=dict)
    links: Mapping[str, str] = field(default_factory=dict)

    def __call__(self, base: str | os.PathLike) -> str:
        """Write the tree as ``base/www`` (and its neighbours in ``base``); the root's path."""
        base = Path(base)
        root = base / "www"
        root.mkdir(parents=True)
        for where, entries in ((root, self.files), (base, self.outside)):
            for name, content in entries.items():
                path = where / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content() if callable(content) else content)
        for name, target in self.links.items():
            os.symlink(base / target, root / name)
        return str(root)


#: The root every shared server test serves, with a secret beside it and a symlink out of it.
SHARED = Tree(
    files={
        "file8k": BODY,
        "index.html": INDEX,
        "docs/index.html": DOCS,
        "sub/small.txt": SMALL,
        "sub/a.html": b"A" * 3000,               # fetched by one test only: a miss
        "big.bin": lambda: os.urandom(4 << 20),
    },
    outside={"secret.txt": SECRET},
    links={"escape": "secret.txt"},
)
