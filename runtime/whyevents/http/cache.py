"""The page cache: normalised path -> pre-built `StaticResponse`, LRU, bounded in bytes.

Knot and Haboob each kept a page cache of ready responses, so with a warm cache a request costs
a lookup and a send; the paper's Figure 3 runs are cache-dominated. This one is shared by all
whyevents servers so they differ only in how they do concurrency, including how they fill the
cache: the cache never reads files itself on the serving path. A server that misses does the disk
I/O its own way (a green thread on `preadv(RWF_NOWAIT)` plus a thread pool, a SEDA file-I/O
stage, an event loop's helper threads), then builds the entry with `make_entry` from the bytes and
`os.fstat` result it got, and calls `insert`. `read_file` and `load_entry` are the blocking
convenience for servers and tests that do not care.

Bound and eviction
------------------
The bound is on bytes, not entries, because SPECweb99 files span four orders of magnitude
(102 B .. 900 KB): an entry count bound would be meaningless. An entry costs `entry.nbytes`
(its GET response plus its HEAD response). Inserting evicts least-recently-used entries until the
new one fits; an entry larger than `max_entry_bytes` (default: a quarter of the cache) is not
cached at all, so one huge file cannot flush everything else, and is simply served uncached.

LRU order is an `OrderedDict`: `lookup` is `get` + `move_to_end`, eviction `popitem(last=False)`,
all O(1) and each a single C call, so under kernel threads (the staged server's pools) the dict
stays consistent without a lock on the lookup path; `insert` takes a lock because evicting and
accounting are several steps. The hit/miss counters are plain integer increments: exact on one OS
thread (green threads, the event loop), and under kernel threads an increment can very rarely be
lost, which `stats()` tolerates rather than paying a lock per lookup.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass

from .response import StaticResponse

__all__ = ["CacheStats", "PageCache", "load_entry", "make_entry", "read_file"]


@dataclass(frozen=True, slots=True)
class CacheStats:
    """A snapshot of the cache's counters (frozen: safe to store beside benchmark rows)."""

    hits: int
    misses: int
    inserts: int
    evictions: int
    rejected: int
    entries: int
    bytes: int
    max_bytes: int

    @property
    def hit_ratio(self) -> float:
        """Hits over lookups; 0.0 before the first lookup."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


class PageCache:
    """Pre-built responses by normalised path, at most `max_bytes` of them in total.

    `lookup(key)` returns the entry (and marks it recently used) or None. `insert(key, entry)`
    stores it, evicting LRU entries as needed, and returns False when the entry is too big to
    cache. `len()` is the number of entries; `key in cache` tests without touching LRU order or
    counters.
    """

    __slots__ = ("max_bytes", "max_entry_bytes", "_entries", "_bytes", "_lock",
                 "hits", "misses", "inserts", "evictions", "rejected")

    def __init__(self, max_bytes: int = 256 * 1024 * 1024, max_entry_bytes: int | None = None):
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self.max_bytes = max_bytes
        self.max_entry_bytes = max_bytes // 4 if max_entry_bytes is None else max_entry_bytes
        self._entries: OrderedDict[str, StaticResponse] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.inserts = 0
        self.evictions = 0
        self.rejected = 0

    def lookup(self, key: str) -> StaticResponse | None:
        """The cached entry for `key`, now most recently used; None (a miss) otherwise."""
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        try:
            self._entries.move_to_end(key)
        except KeyError:  # evicted by another kernel thread between get and move
            pass
        self.hits += 1
        return entry

    def insert(self, key: str, entry: StaticResponse) -> bool:
        """Cache `entry` under `key` (replacing any old one); False if it is too big to cache."""
        size = entry.nbytes
        if size > self.max_entry_bytes or size > self.max_bytes:
            self.rejected += 1
            return False
        entries = self._entries
        with self._lock:
            old = entries.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            while self._bytes + size > self.max_bytes and entries:
                _, victim = entries.popitem(last=False)
                self._bytes -= victim.nbytes
                self.evictions += 1
            entries[key] = entry
            self._bytes += size
            self.inserts += 1
        return True

    def load(self, key: str, path: str) -> StaticResponse:
        """Blocking convenience: read `path`, build its entry, cache it under `key`, return it.

        Raises `OSError` as `read_file` does. The entry is returned even if too big to cache.
        """
        entry = load_entry(path)
        self.insert(key, entry)
        return entry

    def invalidate(self, key: str) -> bool:
        """Drop `key` if cached (e.g. the file changed); True if it was there."""
        with self._lock:
            old = self._entries.pop(key, None)
            if old is None:
                return False
            self._bytes -= old.nbytes
            return True

    def clear(self) -> None:
        """Drop every entry; counters keep counting."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    @property
    def bytes(self) -> int:
        """Bytes currently held, by the entries' own accounting."""
        return self._bytes

    def keys(self) -> list[str]:
        """Cached keys, least recently used first (a copy: for tests and `dump`-style views)."""
        return list(self._entries)

    def stats(self) -> CacheStats:
        """A frozen snapshot of counters and occupancy."""
        return CacheStats(self.hits, self.misses, self.inserts, self.evictions, self.rejected,
                          len(self._entries), self._bytes, self.max_bytes)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __repr__(self) -> str:
        return (f"<PageCache {len(self._entries)} entries, {self._bytes}/{self.max_bytes} B, "
                f"{self.hits} hits, {self.misses} misses, {self.evictions} evictions>")


# ---------------------------------------------------------------------------------------------
# Building entries
# ---------------------------------------------------------------------------------------------


def make_entry(body: bytes, st: os.stat_result, name: str = "") -> StaticResponse:
    """An entry from bytes the server already read and the `os.fstat` of the same open file.

    Content-Length is `len(body)`, not `st.st_size`: if the file changed between the stat and the
    read, the response must still describe the bytes it carries. `name` (the resolved path) picks
    the Content-Type by extension.
    """
    return StaticResponse(body, st.st_mtime, name)


def read_file(path: str) -> tuple[bytes, os.stat_result]:
    """Blocking read of a whole file and its `fstat`, opened with `O_NOFOLLOW` (see `paths`)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    try:
        st = os.fstat(fd)
        chunks = []
        remaining = st.st_size
        while True:
            chunk = os.read(fd, max(remaining, 65536))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    finally:
        os.close(fd)
    return body, st


def load_entry(path: str) -> StaticResponse:
    """Blocking convenience: `make_entry(*read_file(path), name=path)`."""
    body, st = read_file(path)
    return make_entry(body, st, path)
