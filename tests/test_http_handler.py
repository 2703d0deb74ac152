"""Handler: miss -> read -> finish, hits, HEAD, 304, errors, and the connection rule."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from whyevents.http.cache import PageCache, read_file
from whyevents.http.handler import Handler, Miss
from whyevents.http.parser import Request, RequestParser
from whyevents.http.response import http_date


def split(raw: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status, *lines = head.split(b"\r\n")
    headers = dict(line.split(b": ", 1) for line in lines)
    return int(status.split()[1]), {k.lower(): v for k, v in headers.items()}, body


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "dir00000").mkdir()
    (tmp_path / "dir00000" / "class1_2").write_bytes(b"B" * 3072)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.html").write_bytes(b"<h1>docs</h1>")
    (tmp_path.parent / "outside.txt").write_text("secret")
    (tmp_path / "leak").symlink_to(tmp_path.parent / "outside.txt")
    return tmp_path


def request(target: bytes, method: str = "GET", keep_alive: bool = True,
            headers: list[tuple[bytes, bytes]] | None = None) -> Request:
    headers = headers or []
    return Request(method, target, "1.1", headers, keep_alive,
                   any(n.startswith(b"if-") for n, _ in headers))


def test_miss_then_load_then_hit(site: Path) -> None:
    handler = Handler(site, PageCache(1 << 20))
    first = handler.respond(request(b"/dir00000/class1_2"))
    assert isinstance(first, Miss) and first.key == "/dir00000/class1_2"
    answer = handler.load(first)
    status, headers, body = split(answer)
    assert status == 200 and body == b"B" * 3072
    assert headers[b"content-length"] == b"3072"
    hit = handler.respond(request(b"/dir00000/class1_2"))
    assert hit == answer
    stats = handler.cache.stats()
    assert (stats.hits, stats.misses, stats.entries) == (1, 1, 1)


def test_aliases_share_one_entry(site: Path) -> None:
    handler = Handler(site)
    handler.serve(request(b"/dir00000/class1_2"))
    for alias in (b"/dir00000/./class1_2", b"//dir00000/class1_2", b"/dir00000/class1%5F2",
                  b"/dir00000/class1_2?cachebust=1", b"/docs/../dir00000/class1_2"):
        assert isinstance(handler.respond(request(alias)), bytes), alias
    assert len(handler.cache) == 1


def test_server_driven_disk_io(site: Path) -> None:
    """The non-blocking protocol: resolve and read outside the handler, then finish."""
    handler = Handler(site)
    miss = handler.respond(request(b"/docs/", method="HEAD"))
    assert isinstance(miss, Miss)
    path = handler.resolve(miss)
    assert path == os.path.join(handler.root, "docs", "index.html") and miss.path == path
    body, st = read_file(path)
    status, headers, got = split(handler.finish(miss, body, st))
    assert status == 200 and got == b""
    assert headers[b"content-type"].startswith(b"text/html")
    assert headers[b"content-length"] == b"13"


def test_head_and_conditional_get(site: Path) -> None:
    handler = Handler(site)
    full = handler.serve(request(b"/dir00000/class1_2"))
    _, headers, _ = split(full)
    etag, last_modified = headers[b"etag"], headers[b"last-modified"]
    status, _, body = split(handler.serve(request(b"/dir00000/class1_2", method="HEAD")))
    assert status == 200 and body == b""
    for cond in ([(b"if-none-match", etag)], [(b"if-modified-since", last_modified)]):
        status, h, body = split(handler.serve(request(b"/dir00000/class1_2", headers=cond)))
        assert status == 304 and body == b"" and h[b"etag"] == etag
    stale = [(b"if-modified-since", http_date(0))]
    assert split(handler.serve(request(b"/dir00000/class1_2", headers=stale)))[0] == 200
    other = [(b"if-none-match", b'"other"')]
    assert split(handler.serve(request(b"/dir00000/class1_2", headers=other)))[0] == 200


def test_conditional_on_the_miss_path(site: Path) -> None:
    handler = Handler(site)
    etag = split(handler.serve(request(b"/docs/index.html")))[1][b"etag"]
    fresh = Handler(site)  # empty cache: the 304 must come from finish()
    got = fresh.serve(request(b"/docs/index.html", headers=[(b"if-none-match", etag)]))
    assert split(got)[0] == 304


@pytest.mark.parametrize(("target", "status"), [
    (b"/missing", 404), (b"/leak", 404), (b"/../outside.txt", 404), (b"/%zz", 400),
    (b"*", 400),
])
def test_errors_keep_connection_as_requested(site: Path, target: bytes, status: int) -> None:
    handler = Handler(site)
    got, headers, body = split(handler.serve(request(target)))
    assert got == status and headers[b"connection"] == b"keep-alive" and body
    got, headers, body = split(handler.serve(request(target, method="HEAD", keep_alive=False)))
    assert got == status and headers[b"connection"] == b"close" and body == b""


def test_close_requests_get_close_responses(site: Path) -> None:
    handler = Handler(site)
    handler.serve(request(b"/dir00000/class1_2"))
    status, headers, body = split(handler.serve(request(b"/dir00000/class1_2", keep_alive=False)))
    assert status == 200 and headers[b"connection"] == b"close" and len(body) == 3072


def test_file_vanishing_between_resolve_and_read(site: Path) -> None:
    handler = Handler(site)
    miss = handler.respond(request(b"/dir00000/class1_2"))
    assert isinstance(miss, Miss)
    handler.resolve(miss)
    os.unlink(site / "dir00000" / "class1_2")
    assert split(handler.load(miss))[0] == 404


def test_uncacheable_file_still_served(site: Path) -> None:
    handler = Handler(site, PageCache(4096))  # max entry 1 KiB: the 3 KiB file never fits
    for _ in range(2):
        status, _, body = split(handler.serve(request(b"/dir00000/class1_2")))
        assert status == 200 and len(body) == 3072
    assert len(handler.cache) == 0 and handler.cache.stats().rejected == 2


def test_target_memo_is_bounded(site: Path) -> None:
    handler = Handler(site, memo_size=8)
    for i in range(50):
        handler.respond(request(b"/nothing%d" % i))
    assert len(handler._keys) <= 8


def test_parser_to_handler_pipeline(site: Path) -> None:
    parser = RequestParser()
    handler = Handler(site)
    wire = (b"GET /dir00000/class1_2 HTTP/1.1\r\nHost: x\r\n\r\n"
            b"HEAD /docs/ HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
            b"GET /docs/index.html HTTP/1.0\r\n\r\n")
    answers = [split(handler.serve(r)) for r in parser.feed(wire)]
    assert [a[0] for a in answers] == [200, 200, 200]
    assert [a[1][b"connection"] for a in answers] == [b"keep-alive", b"keep-alive", b"close"]
    assert [len(a[2]) for a in answers] == [3072, 0, 13]
    assert parser.closed and parser.error is None


def test_package_exports_resolve() -> None:
    import whyevents.http as package

    for name in package.__all__:
        assert getattr(package, name) is not None, name
    with pytest.raises(AttributeError):
        package.no_such_name  # noqa: B018
