"""PageCache: LRU order, the byte bound, counters; entry building and the blocking loader."""

from __future__ import annotations

import errno
import os
import random
from pathlib import Path

import pytest

from whyevents.http.cache import PageCache, load_entry, make_entry, read_file
from whyevents.http.response import StaticResponse


def entry(size: int) -> StaticResponse:
    return StaticResponse(b"x" * size, 1_000_000_000.0)


def test_lookup_miss_then_hit_counts() -> None:
    cache = PageCache(10_000)
    assert cache.lookup("/a") is None
    e = entry(100)
    assert cache.insert("/a", e)
    assert cache.lookup("/a") is e
    assert cache.lookup("/a") is e
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.inserts, stats.entries) == (2, 1, 1, 1)
    assert stats.bytes == e.nbytes
    assert stats.hit_ratio == pytest.approx(2 / 3)


def test_lru_evicts_least_recently_used() -> None:
    one = entry(500).nbytes
    cache = PageCache(3 * one, max_entry_bytes=3 * one)
    for key in ("/a", "/b", "/c"):
        cache.insert(key, entry(500))
    cache.lookup("/a")  # /b is now the least recently used
    cache.insert("/d", entry(500))
    assert "/b" not in cache
    assert cache.keys() == ["/c", "/a", "/d"]
    assert cache.stats().evictions == 1


def test_big_insert_evicts_several() -> None:
    small = entry(100).nbytes
    cache = PageCache(10 * small, max_entry_bytes=10 * small)
    for i in range(10):
        cache.insert(f"/{i}", entry(100))
    big = entry(small * 3)  # needs room of several small ones
    assert cache.insert("/big", big)
    assert cache.bytes <= cache.max_bytes
    assert "/big" in cache and "/0" not in cache and "/9" in cache
    assert cache.stats().evictions >= 3


def test_oversized_entry_rejected_not_cached() -> None:
    cache = PageCache(10_000)  # max_entry_bytes defaults to a quarter
    cache.insert("/small", entry(100))
    assert not cache.insert("/huge", entry(3000))
    assert "/huge" not in cache and "/small" in cache
    assert cache.stats().rejected == 1


def test_replacing_a_key_keeps_accounting_exact() -> None:
    cache = PageCache(100_000)
    cache.insert("/a", entry(100))
    cache.insert("/a", entry(1000))
    assert len(cache) == 1
    assert cache.bytes == cache.lookup("/a").nbytes  # type: ignore[union-attr]
    assert cache.invalidate("/a") and not cache.invalidate("/a")
    assert cache.bytes == 0


def test_random_workload_respects_bound_and_matches_model() -> None:
    rng = random.Random(7)
    cache = PageCache(50_000, max_entry_bytes=20_000)
    model: dict[str, int] = {}  # key -> nbytes, in LRU order (dicts keep insertion order)
    for _ in range(3000):
        key = f"/{rng.randrange(40)}"
        if rng.random() < 0.5:
            got = cache.lookup(key)
            assert (got is not None) == (key in model)
            if got is not None:
                model[key] = model.pop(key)
        else:
            e = entry(rng.choice([10, 500, 4000, 15000, 30000]))
            stored = cache.insert(key, e)
            assert stored == (e.nbytes <= 20_000)
            if stored:
                model.pop(key, None)
                while sum(model.values()) + e.nbytes > 50_000:
                    del model[next(iter(model))]
                model[key] = e.nbytes
        assert cache.bytes <= 50_000
        assert cache.keys() == list(model)
        assert cache.bytes == sum(model.values())


def test_clear_and_invalid_size() -> None:
    cache = PageCache(1000)
    cache.insert("/a", entry(10))
    cache.clear()
    assert len(cache) == 0 and cache.bytes == 0
    with pytest.raises(ValueError):
        PageCache(0)


def test_read_file_and_make_entry(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    data = bytes(range(256)) * 300  # bigger than one 64 KiB read
    path.write_bytes(data)
    body, st = read_file(str(path))
    assert body == data and st.st_size == len(data)
    built = make_entry(body, st, str(path))
    assert built.size == len(data) and bytes(built.body) == data
    assert built.content_type.startswith(b"text/html")
    assert built.mtime == st.st_mtime
    loaded = load_entry(str(path))
    assert loaded.etag == built.etag


def test_make_entry_trusts_body_length_over_stat(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"12345")
    st = os.stat(path)
    built = make_entry(b"123", st)  # the file shrank between stat and read
    assert built.size == 3
    assert b"Content-Length: 3\r\n" in built.response()


def test_read_file_empty(tmp_path: Path) -> None:
    (tmp_path / "empty").write_bytes(b"")
    assert read_file(str(tmp_path / "empty"))[0] == b""


def test_read_file_refuses_final_symlink(tmp_path: Path) -> None:
    (tmp_path / "target").write_text("t")
    (tmp_path / "link").symlink_to(tmp_path / "target")
    with pytest.raises(OSError) as info:
        read_file(str(tmp_path / "link"))
    assert info.value.errno == errno.ELOOP


def test_cache_load_reads_builds_and_inserts(tmp_path: Path) -> None:
    (tmp_path / "f.css").write_bytes(b"body{}")
    cache = PageCache(1 << 20)
    got = cache.load("/f.css", str(tmp_path / "f.css"))
    assert cache.lookup("/f.css") is got
    assert bytes(got.body) == b"body{}" and got.content_type.startswith(b"text/css")
    with pytest.raises(FileNotFoundError):
        cache.load("/nope", str(tmp_path / "nope"))
    assert "/nope" not in cache
