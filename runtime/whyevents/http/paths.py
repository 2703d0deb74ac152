"""Request target -> file under the document root, safely. Nothing outside the root, ever.

Two steps, split by whether they touch the file system:

1. `normalize_target(target)` is pure string work, done on every request before the page-cache
   lookup: strip the query and fragment, accept absolute-form (`http://host/p`), check and undo
   percent-encoding, refuse what has no business in a path, and remove dot segments. Its result is
   the page cache's key, so `/a/./b`, `/a//b` and `/a/%62` share one cache entry.
2. `resolve_path(root, key)` is done only on a cache miss, where the server does disk I/O anyway:
   `realpath` resolves symlinks, the result must still be inside the real root, a directory
   becomes its `index.html` (checked again: it may be a symlink too), and only regular files
   are served.

Both raise only `HTTPError`: 400 for a malformed target (bad percent-encoding, invalid UTF-8, a
target that is not a path), 404 for anything unsafe or missing. Unsafe is answered like missing
on purpose, so a probe learns nothing about what exists outside the root.

What is refused (404), and why
------------------------------
* A `..` that would climb above the root (`/../etc/passwd`, `/%2e%2e/x`). RFC 3986 section 5.2.4
  would clamp it to `/etc/passwd` under the root, which is safe too; Apache answers 400. We
  refuse, because only an attacker or a broken client sends one.
* An encoded slash or backslash (`%2f`, `%5c`) and any backslash: decoding `..%2f..%2f` after
  splitting would smuggle separators into a segment. Apache's `AllowEncodedSlashes Off` answers
  404 the same way.
* NUL and other control characters, raw or encoded (`%00`): C APIs truncate at NUL, and
  control characters in names only serve log injection.
* A symlink whose target is outside the root, found by `realpath`; one inside the root is fine.

What is left to the operating system: between `resolve_path` and the server's `open` a local
user with write access to the root could swap a checked path for a symlink (a TOCTOU race).
`read_file` in `cache` opens with `O_NOFOLLOW`, which closes the race for the last component; a
fully race-free walk needs `openat2(RESOLVE_BENEATH)`, which Python does not expose. A document
root writable by untrusted users is out of scope.
"""

from __future__ import annotations

import os
import re
import stat
from urllib.parse import unquote_to_bytes

from .parser import HTTPError

__all__ = ["INDEX_FILE", "normalize_target", "real_root", "resolve_path", "safe_path"]

INDEX_FILE = "index.html"

# A '%' not followed by two hex digits is malformed encoding (400).
_BAD_PERCENT = re.compile(rb"%(?![0-9A-Fa-f]{2})")
# Decoded bytes refused in a path: NUL and other C0 controls, DEL, and the backslash.
_FORBIDDEN = re.compile(rb"[\x00-\x1f\x7f\\]")
# Encoded separators: %2f (/) and %5c (\), any case.
_ENCODED_SEPARATOR = re.compile(rb"%(?:2[fF]|5[cC])")
# The common case needs none of the work below: plain segments of unreserved characters, no
# dot-only segment, no empty segment except a trailing slash. Checked once, then trusted.
_SIMPLE = re.compile(rb"(?:/(?!\.\.?(?:/|\Z))[A-Za-z0-9_.~-]+)*/?")


def normalize_target(target: bytes) -> str:
    """The cache key for a request target: a decoded, dot-free absolute path such as `/a/b`.

    A trailing slash is kept (`/dir/` names the directory, `/dir` may name a file). Raises
    `HTTPError(400)` for malformed targets and `HTTPError(404)` for unsafe ones.
    """
    if target[:1] != b"/":
        target = _strip_absolute_form(target)
    for sep in (b"?", b"#"):
        cut = target.find(sep)
        if cut >= 0:
            target = target[:cut]
    if _SIMPLE.fullmatch(target):
        return target.decode("ascii")
    if b"%" in target:
        if _BAD_PERCENT.search(target):
            raise HTTPError(400, "malformed percent-encoding")
        if _ENCODED_SEPARATOR.search(target):
            raise HTTPError(404, "encoded separator")
        target = unquote_to_bytes(target)
    if _FORBIDDEN.search(target):
        raise HTTPError(404, "forbidden character")
    try:
        text = target.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPError(400, "target is not UTF-8") from None
    segments: list[str] = []
    for segment in text.split("/"):
        if segment == "" or segment == ".":
            continue
        if segment == "..":
            if not segments:
                raise HTTPError(404, "path escapes the document root")
            segments.pop()
            continue
        segments.append(segment)
    last = text.rsplit("/", 1)[-1]
    trailing = text.endswith("/") or last in (".", "..")
    path = "/" + "/".join(segments)
    if trailing and segments:
        path += "/"
    return path


def _strip_absolute_form(target: bytes) -> bytes:
    """`http://host:port/p?q` -> `/p?q` (RFC 9112 section 3.2.2); anything else not a path: 400."""
    lowered = target[:8].lower()
    for scheme in (b"http://", b"https://"):
        if lowered.startswith(scheme):
            slash = target.find(b"/", len(scheme))
            return target[slash:] if slash >= 0 else b"/"
    # "*" (asterisk-form, OPTIONS only) and "host:port" (authority-form, CONNECT only).
    raise HTTPError(400, "request target is not a path")


def real_root(root: str | os.PathLike[str]) -> str:
    """The document root's real path, computed once per server. Raises if it is not a directory."""
    real = os.path.realpath(os.fspath(root))
    if not os.path.isdir(real):
        raise NotADirectoryError(f"document root {os.fspath(root)!r} is not a directory")
    return real


def _inside(path: str, root: str) -> bool:
    if root == os.sep:
        return path.startswith(os.sep)
    return path == root or path.startswith(root + os.sep)


def resolve_path(root: str, key: str) -> str:
    """The real path of the regular file that `key` names under `root` (a `real_root` result).

    Does file-system syscalls (`lstat` per component inside `realpath`, then `stat`), so servers
    call it on a cache miss, on whatever thread or stage does their disk I/O. Raises only
    `HTTPError(404)`.
    """
    try:
        real = os.path.realpath(os.path.join(root, key.lstrip("/")))
        if not _inside(real, root):
            raise HTTPError(404, "outside the document root")
        st = os.stat(real)
        if stat.S_ISDIR(st.st_mode):
            real = os.path.realpath(os.path.join(real, INDEX_FILE))
            if not _inside(real, root):
                raise HTTPError(404, "outside the document root")
            st = os.stat(real)
        if not stat.S_ISREG(st.st_mode):
            raise HTTPError(404, "not a regular file")
    except HTTPError:
        raise
    except (OSError, ValueError):
        # ENOENT, ENOTDIR, EACCES, ELOOP, ENAMETOOLONG; ValueError: embedded NUL/bad encoding.
        raise HTTPError(404, "not found") from None
    return real


def safe_path(root: str, target: bytes) -> str:
    """`resolve_path(root, normalize_target(target))`: target bytes to a real file path."""
    return resolve_path(root, normalize_target(target))
