"""SEDA's SPECweb99-like static file set and request mix, at any scale, from a seed.

The paper's Figure 3 (Knot vs Haboob) reuses the workload of SEDA (Welsh et al., SOSP 2001,
the Haboob evaluation), which is the static part of SPECweb99: SEDA's load generator `HttpLoad`
requests SPECweb99's files with SPECweb99's frequencies. This module writes that file set and
samples that request mix, so the whyevents servers are measured the same way.

The file set (SPECweb99, inherited from SPECweb96's workload description)
-------------------------------------------------------------------------
* Directories `dir00000`, `dir00001`, ... each hold 36 files `class<c>_<k>`, c = 0..3, k = 0..8
  (the names SPECweb99 and HttpLoad use).
* File `class<c>_<k>` has (k + 1) * 1024 * 10**c / 10 bytes, rounded down: class 0 is
  102, 204, 307, ... 921 B (tenths of a KiB), class 1 1,024 .. 9,216 B, class 2 10,240 ..
  92,160 B, class 3 102,400 .. 921,600 B. (SPECweb96's table prints class 0 as "102, 204, ...,
  922": the sizes are 0.1 KiB multiples and tables round them differently; plain 102 * k would
  end at 918.) One directory holds 5,119,484 bytes.
* The number of directories follows SPECweb99's rule, as HttpLoad computes it:
  `int(25 + (400000 / 122000) * connections / 5)` -- e.g. 696 directories, 3.32 GiB, at 1,024
  clients: the 3.31 GB file set of SEDA's 1,024-client Haboob runs (Ruan et al., USENIX 2006,
  sum up the Haboob and Knot setup as "a 3GB data set and 1024 simultaneous connections", with
  5 requests per connection).
* `scale` multiplies the directory count (at least one directory is kept) so CI and laptops can
  run the same mix over a file set that fits in memory; the mix's shape (classes, Zipf ranks)
  does not change with scale, only how many directories the Zipf tail spreads over.

The request mix
---------------
* Class frequencies 35 / 50 / 14 / 1 % (SPECweb96/99 Table 1).
* Directory: Zipf with exponent 1 over directories, directory d chosen with probability
  proportional to 1 / (d + 1).
* File within the class: Zipf with exponent 1 over popularity ranks, and rank r names file
  `FILE_ORDER[r]` = 4, 3, 5, 2, 6, 1, 7, 8, 0 (HttpLoad's `FILE_ORDER`, i.e. SPECweb99's
  35.3 / 17.7 / 11.8 / 8.8 / 7.1 / 5.9 / 5.0 / 4.4 / 3.9 % for files 4, 3, 5, 2, 6, 1, 7, 8, 0).
  HttpLoad itself builds its file Zipf table over 8 ranks (`NUMFILES = 8`), so it never requests
  `class<c>_0`; we use all 9 files, as SPECweb99 does, and say so here because it shifts about
  4 % of requests within each class.

Everything random is drawn from `random.Random(seed)`: the same seed gives the same file bytes
and the same request trace on every machine with the same Python. File contents are
printable ASCII (a header line naming the file, then filler) so a human can `curl` them.

Formats: `fileset.json` at the root records the parameters and the mix; a request trace
(`RequestMix.write_trace`) is one URL path per line, readable by `read_trace` or by any load
generator that takes a URL list.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import random
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from whyevents.harness.args import positive_float, positive_int

__all__ = [
    "CLASS_FREQUENCIES",
    "FILE_ORDER",
    "FILES_PER_CLASS",
    "FileSet",
    "MANIFEST",
    "NUM_CLASSES",
    "RequestMix",
    "build_fileset",
    "directory_bytes",
    "file_size",
    "main",
    "read_trace",
    "spec_directories",
]

NUM_CLASSES = 4
FILES_PER_CLASS = 9
CLASS_FREQUENCIES: tuple[float, ...] = (0.35, 0.50, 0.14, 0.01)
FILE_ORDER: tuple[int, ...] = (4, 3, 5, 2, 6, 1, 7, 8, 0)
MANIFEST = "fileset.json"
_FORMAT = "whyevents-fileset/1"
_FILLER_BLOCK = 4096
_ALPHABET = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


# ---------------------------------------------------------------------------------------------
# Sizes and counts
# ---------------------------------------------------------------------------------------------


def file_size(cls: int, k: int) -> int:
    """Bytes in `class<cls>_<k>`: (k + 1) tenths of 1 KiB * 10**cls, rounded down."""
    if not (0 <= cls < NUM_CLASSES and 0 <= k < FILES_PER_CLASS):
        raise ValueError(f"no SPECweb99 file class{cls}_{k}")
    return (k + 1) * 1024 * 10**cls // 10


def directory_bytes() -> int:
    """Bytes in one directory of the file set (5,119,484)."""
    return sum(file_size(c, k) for c in range(NUM_CLASSES) for k in range(FILES_PER_CLASS))


def spec_directories(clients: int) -> int:
    """SPECweb99's directory count for `clients` simultaneous connections (HttpLoad's formula)."""
    if clients < 1:
        raise ValueError(f"clients must be at least 1, got {clients}")
    return int(25 + (400000.0 / 122000.0) * clients / 5)


def scaled_directories(clients: int, scale: float) -> int:
    """`spec_directories(clients)` times `scale`, rounded down, and never below one."""
    if not (scale > 0 and math.isfinite(scale)):
        raise ValueError(f"scale must be a positive finite number, got {scale}")
    return max(1, int(spec_directories(clients) * scale))


def _zipf_cumulative(n: int) -> list[float]:
    """Cumulative weights of Zipf(1) over ranks 1..n (for `random.choices(cum_weights=...)`)."""
    return list(itertools.accumulate(1.0 / rank for rank in range(1, n + 1)))


# ---------------------------------------------------------------------------------------------
# Request mix
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestMix:
    """The SPECweb99 static request distribution over `directories` directories.

    `sample(n, rng)` draws n URL paths; `probability(path)` is the exact chance of one path (for
    tests and for weighting analyses). The mix is a pure description: it holds no file set and
    can be saved (`save`) and restored (`load`) as a few lines of JSON.
    """

    directories: int
    class_frequencies: tuple[float, ...] = CLASS_FREQUENCIES
    file_order: tuple[int, ...] = FILE_ORDER
    _dir_cum: list[float] = field(init=False, repr=False, compare=False)
    _file_cum: list[float] = field(init=False, repr=False, compare=False)
    _class_cum: list[float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.directories < 1:
            raise ValueError(f"directories must be at least 1, got {self.directories}")
        freqs = self.class_frequencies
        if len(freqs) != NUM_CLASSES or abs(sum(freqs) - 1) > 1e-9:
            raise ValueError(f"class_frequencies must be {NUM_CLASSES} numbers summing to 1")
        if sorted(self.file_order) != list(range(FILES_PER_CLASS)):
            raise ValueError(f"file_order must be a permutation of 0..{FILES_PER_CLASS - 1}")
        object.__setattr__(self, "_dir_cum", _zipf_cumulative(self.directories))
        object.__setattr__(self, "_file_cum", _zipf_cumulative(FILES_PER_CLASS))
        object.__setattr__(self, "_class_cum", list(itertools.accumulate(self.class_frequencies)))

    @staticmethod
    def path(directory: int, cls: int, k: int) -> str:
        """The URL path of one file, e.g. `/dir00012/class1_4`."""
        return f"/dir{directory:05d}/class{cls}_{k}"

    def sample(self, n: int, rng: random.Random) -> list[str]:
        """`n` URL paths drawn independently from the mix using `rng` (deterministic per seed)."""
        dirs = rng.choices(range(self.directories), cum_weights=self._dir_cum, k=n)
        classes = rng.choices(range(NUM_CLASSES), cum_weights=self._class_cum, k=n)
        ranks = rng.choices(range(FILES_PER_CLASS), cum_weights=self._file_cum, k=n)
        order = self.file_order
        return [f"/dir{d:05d}/class{c}_{order[r]}"
                for d, c, r in zip(dirs, classes, ranks, strict=True)]

    def trace(self, n: int, seed: int) -> list[str]:
        """`sample(n, random.Random(seed))`: the reproducible request sequence for a seed."""
        return self.sample(n, random.Random(seed))

    def probability(self, path: str) -> float:
        """The exact probability that one draw is `path` (0.0 for paths outside the set)."""
        parsed = _parse_path(path)
        if parsed is None or parsed[0] >= self.directories:
            return 0.0
        d, c, k = parsed
        harmonic_dirs = self._dir_cum[-1]
        harmonic_files = self._file_cum[-1]
        rank = self.file_order.index(k)
        return ((1.0 / (d + 1)) / harmonic_dirs * self.class_frequencies[c]
                * (1.0 / (rank + 1)) / harmonic_files)

    def class_of(self, path: str) -> int:
        """The size class (0..3) of a file-set path; ValueError for other paths."""
        parsed = _parse_path(path)
        if parsed is None:
            raise ValueError(f"not a file-set path: {path!r}")
        return parsed[1]

    def mean_response_bytes(self) -> float:
        """Expected body bytes per request: 14,727 B, the "roughly 14 KB" SPECweb99 is known for."""
        ranks = [1.0 / (r + 1) / self._file_cum[-1] for r in range(FILES_PER_CLASS)]
        return sum(
            self.class_frequencies[c] * ranks[r] * file_size(c, self.file_order[r])
            for c in range(NUM_CLASSES) for r in range(FILES_PER_CLASS)
        )

    def to_json(self) -> dict[str, object]:
        """The mix as plain JSON data (what `save` writes)."""
        return {
            "directories": self.directories,
            "class_frequencies": list(self.class_frequencies),
            "file_order": list(self.file_order),
            "directory_zipf_exponent": 1.0,
            "file_zipf_exponent": 1.0,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> RequestMix:
        """Inverse of `to_json`; ValueError naming the field that is wrong."""
        try:
            directories = int(data["directories"])  # type: ignore[call-overload]
            freqs = tuple(float(x) for x in data["class_frequencies"])  # type: ignore[attr-defined]
            order = tuple(int(x) for x in data["file_order"])  # type: ignore[attr-defined]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"bad request-mix data: {exc!r}") from None
        return cls(directories, freqs, order)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the mix as JSON."""
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"format": _FORMAT, "mix": self.to_json()}, f, indent=1)
            f.write("\n")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RequestMix:
        """Read a mix written by `save` (or a file set's `fileset.json`)."""
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if not isinstance(data, dict) or "mix" not in data:
            raise ValueError(f"{os.fspath(path)!r} is not a whyevents request-mix file")
        return cls.from_json(data["mix"])

    def write_trace(self, path: str | os.PathLike[str], n: int, seed: int) -> None:
        """Write `trace(n, seed)` one URL path per line."""
        with open(path, "w", encoding="ascii") as f:
            for url in self.trace(n, seed):
                f.write(url)
                f.write("\n")


def read_trace(path: str | os.PathLike[str]) -> list[str]:
    """URL paths from a trace file, one per line; blank lines and `#` comments are skipped."""
    with open(path, encoding="ascii") as f:
        return [line.strip() for line in f if line.strip() and not line.startswith("#")]


def _parse_path(path: str) -> tuple[int, int, int] | None:
    """`/dir00012/class1_4` -> (12, 1, 4); None if it is not a file-set path."""
    parts = path.split("/")
    if len(parts) != 3 or parts[0] != "" or not parts[1].startswith("dir"):
        return None
    name = parts[2]
    if len(name) != 8 or not name.startswith("class") or name[6] != "_":
        return None
    digits = parts[1][3:]
    if not (digits.isdigit() and digits.isascii() and name[5].isdigit() and name[7].isdigit()):
        return None
    c, k = int(name[5]), int(name[7])
    if c >= NUM_CLASSES or k >= FILES_PER_CLASS:
        return None
    return int(digits), c, k


# ---------------------------------------------------------------------------------------------
# File set
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileSet:
    """A written file set: where, for which load and seed, and the request mix that goes with it."""

    root: str
    clients: int
    seed: int
    scale: float
    directories: int
    mix: RequestMix

    @property
    def files(self) -> int:
        """Number of files (36 per directory)."""
        return self.directories * NUM_CLASSES * FILES_PER_CLASS

    @property
    def total_bytes(self) -> int:
        """Bytes of all files together."""
        return self.directories * directory_bytes()

    def paths(self) -> Iterator[str]:
        """Every file's URL path, directory by directory."""
        for d in range(self.directories):
            for c in range(NUM_CLASSES):
                for k in range(FILES_PER_CLASS):
                    yield RequestMix.path(d, c, k)

    def expected_size(self, path: str) -> int:
        """The size a file-set path must have; ValueError for paths outside the set."""
        parsed = _parse_path(path)
        if parsed is None or parsed[0] >= self.directories:
            raise ValueError(f"{path!r} is not in this file set")
        return file_size(parsed[1], parsed[2])

    def to_json(self) -> dict[str, object]:
        """What `fileset.json` records."""
        return {
            "format": _FORMAT,
            "clients": self.clients,
            "seed": self.seed,
            "scale": self.scale,
            "directories": self.directories,
            "files": self.files,
            "total_bytes": self.total_bytes,
            "mix": self.mix.to_json(),
        }


def file_contents(seed: int, path: str, size: int, block: bytes | None = None) -> bytes:
    """The deterministic bytes of one file: a header line naming it, then printable filler.

    The filler is a seed-derived 4 KiB block, rotated by a per-file offset, so files differ
    from each other and from other seeds while generating gigabytes stays a matter of memcpy.
    """
    if block is None:
        block = _filler_block(seed)
    header = f"whyevents fileset seed={seed} {path} {size} bytes\n".encode("ascii")
    offset = sum(path.encode("ascii")) % len(block)
    reps = (size + offset) // len(block) + 1
    filler = (block * reps)[offset:offset + max(0, size - len(header))]
    return (header + filler)[:size]


def _filler_block(seed: int) -> bytes:
    rng = random.Random(seed)
    return bytes(rng.choices(_ALPHABET, k=_FILLER_BLOCK - 1)) + b"\n"


def build_fileset(root: str | os.PathLike[str], clients: int, seed: int = 0,
                  scale: float = 1.0) -> FileSet:
    """Write the file set for `clients` connections under `root`; return its description.

    Deterministic: the same arguments produce byte-identical files. Re-running over an existing
    set with the same seed rewrites only files whose size is wrong, so growing a set for more
    clients, or repairing a truncated one, is cheap. Directories beyond the new count are left
    alone. Writes `fileset.json` last, so its presence means the set is complete.
    """
    if isinstance(clients, bool) or not isinstance(clients, int) or clients < 1:
        raise ValueError(f"clients must be a positive integer, got {clients!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    directories = scaled_directories(clients, float(scale))
    fs = FileSet(os.fspath(root), clients, seed, float(scale), directories,
                 RequestMix(directories))
    manifest = os.path.join(fs.root, MANIFEST)
    same_seed = _manifest_seed(manifest) == seed
    os.makedirs(fs.root, exist_ok=True)
    block = _filler_block(seed)
    for d in range(directories):
        dirpath = os.path.join(fs.root, f"dir{d:05d}")
        os.makedirs(dirpath, exist_ok=True)
        for c in range(NUM_CLASSES):
            for k in range(FILES_PER_CLASS):
                name = f"class{c}_{k}"
                filepath = os.path.join(dirpath, name)
                size = file_size(c, k)
                if same_seed and _size_or_none(filepath) == size:
                    continue
                data = file_contents(seed, f"/dir{d:05d}/{name}", size, block)
                _write_atomically(filepath, data)
    tmp = manifest + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(fs.to_json(), f, indent=1)
        f.write("\n")
    os.replace(tmp, manifest)
    return fs


def _manifest_seed(manifest: str) -> int | None:
    try:
        with open(manifest, encoding="utf-8") as f:
            data = json.load(f)
        seed = data.get("seed") if isinstance(data, dict) else None
        return seed if isinstance(seed, int) else None
    except (OSError, ValueError):
        return None


def _size_or_none(path: str) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def _write_atomically(path: str, data: bytes) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# Command line: `whyevents fileset ...`
# ---------------------------------------------------------------------------------------------


def _int(name: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            return int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer, got {text!r}") from None
    return parse


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="whyevents fileset",
        description="Write SEDA's SPECweb99-like static file set (4 classes x 9 files per "
                    "directory, SPECweb99's directory count for the client count) and, "
                    "optionally, a request trace drawn from its request mix.",
    )
    parser.add_argument("--root", required=True, metavar="DIR",
                        help="directory to write the file set into (created if missing)")
    parser.add_argument("--clients", required=True, type=positive_int("--clients"),
                        metavar="N", help="simultaneous clients the set is sized for "
                        "(SPECweb99: int(25 + 400000/122000 * N / 5) directories)")
    parser.add_argument("--seed", type=_int("--seed"), default=0, metavar="S",
                        help="seed for file contents and the trace (default: 0)")
    parser.add_argument("--scale", type=positive_float("--scale"), default=1.0, metavar="X",
                        help="multiply the directory count by X, e.g. 0.01 for CI "
                             "(default: 1.0; at least one directory is kept)")
    parser.add_argument("--trace", type=positive_int("--trace"), metavar="N",
                        help="also write N sampled URL paths to DIR/trace.txt")
    parser.add_argument("--dry-run", action="store_true",
                        help="print what would be written, write nothing")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """`whyevents fileset --root DIR --clients N [--seed S] [--scale X] [--trace N]`."""
    parser = _parser()
    args = parser.parse_args(argv)
    directories = scaled_directories(args.clients, args.scale)
    size = directories * directory_bytes()
    summary = (f"{directories} directories, {directories * 36} files, "
               f"{size / 2**20:.1f} MiB for {args.clients} clients "
               f"(seed {args.seed}, scale {args.scale})")
    if args.dry_run:
        print(f"would write {summary} to {args.root}")
        return 0
    try:
        fs = build_fileset(args.root, args.clients, args.seed, args.scale)
        if args.trace:
            fs.mix.write_trace(os.path.join(fs.root, "trace.txt"), args.trace, args.seed)
    except OSError as exc:
        print(f"whyevents fileset: error: cannot write to --root {args.root!r}: {exc}",
              file=sys.stderr)
        return 1
    print(f"wrote {summary} to {fs.root}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
