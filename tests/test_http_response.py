"""Responses: headers present and right, HEAD, 304 logic, Date refresh, error pages."""

from __future__ import annotations

import http.client
import io
from email.utils import parsedate_to_datetime

import pytest

from whyevents.http import response as response_mod
from whyevents.http.response import (
    DateCache,
    StaticResponse,
    content_type_for,
    error_response,
    http_date,
    make_etag,
    not_modified_matches,
)

MTIME = 1_000_000_000.0  # Sun, 09 Sep 2001 01:46:40 GMT


def split(raw: bytes) -> tuple[bytes, dict[bytes, bytes], bytes]:
    """(status line, {lower name: value}, body) of one response; duplicate names fail."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, "no end of header block"
    status, *lines = head.split(b"\r\n")
    headers: dict[bytes, bytes] = {}
    for line in lines:
        name, colon, value = line.partition(b": ")
        assert colon, line
        assert name.lower() not in headers, f"duplicate {name!r}"
        headers[name.lower()] = value
    return status, headers, body


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """A settable clock behind the module's DateCache."""
    now = [2_000_000_000.0]
    monkeypatch.setattr(response_mod, "_DATES", DateCache(clock=lambda: now[0]))
    return now


def test_get_response_headers(clock: list[float]) -> None:
    body = b"<html>hello</html>"
    entry = StaticResponse(body, MTIME, "/site/index.html")
    status, headers, got_body = split(entry.response())
    assert status == b"HTTP/1.1 200 OK"
    assert got_body == body
    assert headers[b"content-length"] == str(len(body)).encode()
    assert headers[b"content-type"] == b"text/html; charset=utf-8"
    assert headers[b"server"] == b"whyevents"
    assert headers[b"connection"] == b"keep-alive"
    assert headers[b"date"] == http_date(clock[0])
    assert parsedate_to_datetime(headers[b"last-modified"].decode()).timestamp() == MTIME
    assert headers[b"etag"] == make_etag(len(body), MTIME)
    assert entry.size == len(body)
    assert bytes(entry.body) == body


def test_head_has_headers_and_no_body(clock: list[float]) -> None:
    entry = StaticResponse(b"x" * 5000, MTIME, "/a.txt")
    get_status, get_headers, _ = split(entry.response(head=False))
    raw = entry.response(head=True)
    status, headers, body = split(raw)
    assert body == b""
    assert raw.endswith(b"\r\n\r\n")
    assert status == get_status and headers == get_headers
    assert headers[b"content-length"] == b"5000"


def test_close_variant(clock: list[float]) -> None:
    entry = StaticResponse(b"abc" * 100, MTIME)
    _, headers, body = split(entry.response(keep_alive=False))
    assert headers[b"connection"] == b"close" and body == b"abc" * 100
    _, headers, body = split(entry.response(head=True, keep_alive=False))
    assert headers[b"connection"] == b"close" and body == b""


def test_keep_alive_response_is_prebuilt_one_object(clock: list[float]) -> None:
    entry = StaticResponse(b"z" * 1000, MTIME)
    assert entry.response() is entry.response()  # no per-request building
    assert entry.nbytes >= len(entry.response()) + len(entry.response(head=True))


def test_date_refreshes_once_per_second(clock: list[float]) -> None:
    body = bytes(range(256)) * 10
    entry = StaticResponse(body, MTIME)
    first = entry.response()
    clock[0] += 0.5
    assert entry.response() is first  # same second: same object
    clock[0] += 1.0
    second = entry.response()
    assert second is not first and len(second) == len(first)
    _, headers, got = split(second)
    assert got == body
    assert headers[b"date"] == http_date(clock[0])
    assert split(entry.response(head=True))[1][b"date"] == http_date(clock[0])


def test_date_cache_returns_same_object_within_a_second() -> None:
    now = [100.2]
    dates = DateCache(clock=lambda: now[0])
    a = dates.current()
    now[0] = 100.9
    assert dates.current() is a
    now[0] = 101.0
    assert dates.current() == b"Thu, 01 Jan 1970 00:01:41 GMT"


def test_content_length_is_body_length_for_many_sizes(clock: list[float]) -> None:
    for size in (0, 1, 102, 1024, 65536 + 7):
        _, headers, body = split(StaticResponse(b"q" * size, MTIME).response())
        assert int(headers[b"content-length"]) == len(body) == size


@pytest.mark.parametrize(("name", "expected"), [
    ("/a/index.html", b"text/html; charset=utf-8"),
    ("/a/INDEX.HTM", b"text/html; charset=utf-8"),
    ("/x.css", b"text/css; charset=utf-8"),
    ("/img.PNG", b"image/png"),
    ("/dir00001/class1_3", b"application/octet-stream"),
    ("/dir.d/noext", b"application/octet-stream"),
    ("/.profile", b"application/octet-stream"),
    ("/archive.unknown", b"application/octet-stream"),
])
def test_content_type_for(name: str, expected: bytes) -> None:
    assert content_type_for(name) == expected


# ---------------------------------------------------------------------------------------------
# 304 logic
# ---------------------------------------------------------------------------------------------

ETAG = make_etag(10, MTIME)
LM = http_date(MTIME)


@pytest.mark.parametrize(("inm", "ims", "expected"), [
    (ETAG, None, True),
    (b"W/" + ETAG, None, True),  # weak comparison for GET
    (b'"nope", ' + ETAG, None, True),
    (b"*", None, True),
    (b'"nope"', None, False),
    (b'"nope"', LM, False),  # If-None-Match present: If-Modified-Since ignored
    (None, LM, True),  # not modified since exactly mtime
    (None, http_date(MTIME + 3600), True),
    (None, http_date(MTIME - 1), False),  # modified after the client's copy
    (None, b"not a date", False),
    (None, b"", False),
    (None, None, False),
])
def test_not_modified_matches(inm: bytes | None, ims: bytes | None, expected: bool) -> None:
    assert not_modified_matches(inm, ims, ETAG, MTIME) is expected


def test_not_modified_response(clock: list[float]) -> None:
    entry = StaticResponse(b"0123456789", MTIME, "/f.txt")
    assert entry.etag == ETAG
    assert entry.is_not_modified(ETAG, None)
    raw = entry.not_modified()
    status, headers, body = split(raw)
    assert status == b"HTTP/1.1 304 Not Modified"
    assert body == b"" and raw.endswith(b"\r\n\r\n")
    assert b"content-length" not in headers
    assert headers[b"etag"] == ETAG and headers[b"last-modified"] == LM
    assert headers[b"date"] == http_date(clock[0])
    assert split(entry.not_modified(keep_alive=False))[1][b"connection"] == b"close"


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("status", [400, 404, 405, 408, 413, 414, 431, 500, 505])
def test_error_responses(status: int) -> None:
    raw = error_response(status)
    line, headers, body = split(raw)
    assert line.startswith(b"HTTP/1.1 %d " % status)
    assert headers[b"connection"] == b"close"
    assert int(headers[b"content-length"]) == len(body) > 0
    assert body.startswith(b"%d " % status)
    assert (b"allow" in headers) == (status == 405)
    if status == 405:
        assert headers[b"allow"] == b"GET, HEAD"
    _, head_headers, head_body = split(error_response(status, head=True))
    assert head_body == b"" and head_headers[b"content-length"] == headers[b"content-length"]


def test_error_response_keep_alive_and_unknown_status() -> None:
    assert split(error_response(404, keep_alive=True))[1][b"connection"] == b"keep-alive"
    assert split(error_response(418))[0].startswith(b"HTTP/1.1 500 ")


def test_error_detail_cannot_inject_headers() -> None:
    raw = error_response(400, detail="bad\r\nSet-Cookie: x=1")
    _, headers, body = split(raw)
    assert b"set-cookie" not in headers
    assert int(headers[b"content-length"]) == len(body)


class _Stream(io.BytesIO):
    """One connection's bytes; http.client closes its file after each body, we keep reading."""

    def close(self) -> None:
        pass


class _FakeSocket:
    def __init__(self, stream: io.BytesIO) -> None:
        self._stream = stream

    def makefile(self, mode: str) -> io.BytesIO:
        return self._stream


@pytest.mark.parametrize("keep_alive", [True, False])
def test_stdlib_client_reads_our_responses_back_to_back(keep_alive: bool) -> None:
    """http.client, an independent parser, sees exactly our framing (no stray bytes)."""
    body = b"stdlib" * 1000
    entry = StaticResponse(body, MTIME, "/x.txt")
    wire = entry.response(keep_alive=keep_alive) + error_response(404, keep_alive=True)
    stream = _Stream(wire)
    first = http.client.HTTPResponse(_FakeSocket(stream), method="GET")  # type: ignore[arg-type]
    first.begin()
    assert first.status == 200 and first.read() == body
    assert first.getheader("Content-Type") == "text/plain; charset=utf-8"
    assert first.will_close is (not keep_alive)
    second = http.client.HTTPResponse(_FakeSocket(stream), method="GET")  # type: ignore[arg-type]
    second.begin()
    assert second.status == 404 and second.read().startswith(b"404 Not Found")
    assert stream.read() == b""
