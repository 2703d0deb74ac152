"""RequestParser: table-driven cases, limits at their edges, and Hypothesis properties."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from whyevents.http.parser import HTTPError, Limits, ParserState, Request, RequestParser

ERROR_STATUSES = {400, 405, 413, 414, 431, 505}


def parse_all(data: bytes, limits: Limits | None = None) -> tuple[list[Request], RequestParser]:
    parser = RequestParser(limits) if limits is not None else RequestParser()
    return parser.feed(data), parser


def summary(requests: list[Request]) -> list[tuple[str, bytes, str, bool]]:
    return [(r.method, r.target, r.version, r.keep_alive) for r in requests]


# ---------------------------------------------------------------------------------------------
# Table: bytes -> requests (method, target, version, keep_alive) and final error status
# ---------------------------------------------------------------------------------------------

G11 = ("GET", b"/", "1.1", True)
CASES = [
    ("simple 1.1", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", [G11], None),
    ("head", b"HEAD /x HTTP/1.1\r\n\r\n", [("HEAD", b"/x", "1.1", True)], None),
    ("1.0 closes by default", b"GET / HTTP/1.0\r\n\r\n", [("GET", b"/", "1.0", False)], None),
    ("1.0 keep-alive", b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
     [("GET", b"/", "1.0", True)], None),
    ("1.0 Keep-Alive any case", b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
     [("GET", b"/", "1.0", True)], None),
    ("1.1 close", b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
     [("GET", b"/", "1.1", False)], None),
    ("1.1 close among tokens", b"GET / HTTP/1.1\r\nConnection: foo, close\r\n\r\n",
     [("GET", b"/", "1.1", False)], None),
    ("query kept in target", b"GET /a?b=c HTTP/1.1\r\n\r\n", [("GET", b"/a?b=c", "1.1", True)],
     None),
    ("absolute form", b"GET http://h/p HTTP/1.1\r\n\r\n", [("GET", b"http://h/p", "1.1", True)],
     None),
    ("leading CRLFs ignored", b"\r\n\r\nGET / HTTP/1.1\r\n\r\n", [G11], None),
    ("pipelined three",
     b"GET /1 HTTP/1.1\r\n\r\nHEAD /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n",
     [("GET", b"/1", "1.1", True), ("HEAD", b"/2", "1.1", True), ("GET", b"/3", "1.1", True)],
     None),
    ("small body discarded",
     b"GET / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /2 HTTP/1.1\r\n\r\n",
     [G11, ("GET", b"/2", "1.1", True)], None),
    ("chunked body discarded",
     b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", [G11], None),
    ("upgrade served then closed", b"GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: ws\r\n\r\n"
     b"GET /next HTTP/1.1\r\n\r\n", [("GET", b"/", "1.1", False)], None),
    ("bytes after close ignored", b"GET / HTTP/1.1\r\nConnection: close\r\n\r\nGARBAGE\r\n\r\n",
     [("GET", b"/", "1.1", False)], None),
    # errors
    ("POST", b"POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx", [], 405),
    ("PUT", b"PUT / HTTP/1.1\r\n\r\n", [], 405),
    ("DELETE", b"DELETE / HTTP/1.1\r\n\r\n", [], 405),
    ("CONNECT", b"CONNECT a:1 HTTP/1.1\r\n\r\n", [], 405),
    ("OPTIONS", b"OPTIONS * HTTP/1.1\r\n\r\n", [], 405),
    ("unknown method token", b"FOO / HTTP/1.1\r\n\r\n", [], 400),
    ("lower-case method", b"get / HTTP/1.1\r\n\r\n", [], 400),
    ("HTTP/2.0", b"GET / HTTP/2.0\r\n\r\n", [], 505),
    ("HTTP/0.9 with version", b"GET / HTTP/0.9\r\n\r\n", [], 505),
    ("HTTP/0.9 simple request", b"GET /\r\n\r\n", [], 505),
    ("HTTP/1.2", b"GET / HTTP/1.2\r\n\r\n", [], 505),
    ("HTTP/3.0", b"GET / HTTP/3.0\r\n\r\n", [], 505),
    ("h2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", [], 505),
    ("bare LF", b"GET / HTTP/1.1\nHost: a\n\n", [], 400),
    ("space in target", b"GET /a b HTTP/1.1\r\n\r\n", [], 400),
    ("NUL in target", b"GET /\x00 HTTP/1.1\r\n\r\n", [], 400),
    ("obs-fold", b"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", [], 400),
    ("space before colon", b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", [], 400),
    ("control char in value", b"GET / HTTP/1.1\r\nX: \x01\r\n\r\n", [], 400),
    ("duplicate Content-Length",
     b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", [], 400),
    ("bad Transfer-Encoding", b"GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", [], 400),
    ("a response, not a request", b"HTTP/1.1 200 OK\r\n\r\n", [], 400),
    ("good then bad", b"GET /ok HTTP/1.1\r\n\r\nPOST / HTTP/1.1\r\n\r\nGET /never HTTP/1.1\r\n\r\n",
     [("GET", b"/ok", "1.1", True)], 405),
]


@pytest.mark.parametrize(("data", "expected", "status"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_table(data: bytes, expected: list, status: int | None) -> None:
    requests, parser = parse_all(data)
    assert summary(requests) == expected
    if status is None:
        assert parser.error is None
    else:
        assert isinstance(parser.error, HTTPError)
        assert parser.error.status == status
        assert parser.state == ParserState.ERROR


@pytest.mark.parametrize(("data", "expected", "status"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_table_byte_by_byte(data: bytes, expected: list, status: int | None) -> None:
    parser = RequestParser()
    requests: list[Request] = []
    for i in range(len(data)):
        requests += parser.feed(data[i:i + 1])
    assert summary(requests) == expected
    assert (parser.error.status if parser.error else None) == status


def test_headers_lowercased_in_order_and_values_trimmed() -> None:
    (req,), _ = parse_all(b"GET / HTTP/1.1\r\nHost:  example  \r\nX-A: 1\r\nx-a: 2\r\n\r\n")
    assert req.headers == [(b"host", b"example"), (b"x-a", b"1"), (b"x-a", b"2")]
    assert req.header(b"x-a") == b"1"
    assert req.header(b"missing") is None
    assert req.conditional is False


def test_conditional_flag() -> None:
    (req,), _ = parse_all(b'GET / HTTP/1.1\r\nIf-None-Match: "x"\r\n\r\n')
    assert req.conditional is True
    assert req.header(b"if-none-match") == b'"x"'


def test_connection_close_makes_parser_closed_and_ignores_rest() -> None:
    parser = RequestParser()
    assert len(parser.feed(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")) == 1
    assert parser.closed and parser.error is None
    assert parser.feed(b"GET / HTTP/1.1\r\n\r\n") == []
    assert parser.state == ParserState.CLOSED


def test_no_parsing_after_error() -> None:
    parser = RequestParser()
    assert parser.feed(b"BREW / HTTP/1.1\r\n\r\n") == []
    first = parser.error
    assert first is not None and first.status == 400
    assert parser.feed(b"GET / HTTP/1.1\r\n\r\n") == []
    assert parser.error is first and parser.closed


def test_in_progress_tracks_partial_requests() -> None:
    parser = RequestParser()
    assert not parser.in_progress
    parser.feed(b"GE")
    assert parser.in_progress and parser.state == ParserState.HEAD
    parser.feed(b"T / HTTP/1.1\r\nContent-Length: 2\r\n\r\n")
    assert parser.in_progress and parser.state == ParserState.BODY
    assert len(parser.feed(b"xy")) == 1
    assert not parser.in_progress and parser.state == ParserState.IDLE


# ---------------------------------------------------------------------------------------------
# Limits, at the boundary
# ---------------------------------------------------------------------------------------------

SMALL = Limits(max_request_line=100, max_header_bytes=200, max_headers=5, max_body_bytes=10)


def test_target_length_limit_edge() -> None:
    longest = 100 - len("GET  HTTP/1.1")
    ok = b"GET /" + b"a" * (longest - 1) + b" HTTP/1.1\r\n\r\n"
    assert len(parse_all(ok, SMALL)[0]) == 1
    too_long = b"GET /" + b"a" * longest + b" HTTP/1.1\r\n\r\n"
    requests, parser = parse_all(too_long, SMALL)
    assert requests == [] and parser.error is not None and parser.error.status == 414


def test_default_request_line_limit_is_apache_8190() -> None:
    line_ok = b"GET /" + b"a" * (8190 - 14) + b" HTTP/1.1"
    assert len(line_ok) == 8190
    assert len(parse_all(line_ok + b"\r\n\r\n")[0]) == 1
    requests, parser = parse_all(b"GET /" + b"a" * (8190 - 13) + b" HTTP/1.1\r\n\r\n")
    assert parser.error is not None and parser.error.status == 414


def test_header_count_limit_edge() -> None:
    five = b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 5 + b"\r\n"
    assert len(parse_all(five, SMALL)[0]) == 1
    six = b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 6 + b"\r\n"
    _, parser = parse_all(six, SMALL)
    assert parser.error is not None and parser.error.status == 431


def test_header_bytes_limit_edge() -> None:
    # Each header counts len(name) + len(value) + 4 (": " and CRLF).
    fits = b"GET / HTTP/1.1\r\nX: " + b"v" * (200 - 5) + b"\r\n\r\n"
    assert len(parse_all(fits, SMALL)[0]) == 1
    over = b"GET / HTTP/1.1\r\nX: " + b"v" * (200 - 4) + b"\r\n\r\n"
    _, parser = parse_all(over, SMALL)
    assert parser.error is not None and parser.error.status == 431


def test_default_header_block_limit_is_16k() -> None:
    data = b"GET / HTTP/1.1\r\n" + b"X-Fill: " + b"v" * (17 * 1024) + b"\r\n\r\n"
    _, parser = parse_all(data)
    assert parser.error is not None and parser.error.status == 431


def test_body_limits_content_length_and_chunked() -> None:
    ok = b"GET / HTTP/1.1\r\nContent-Length: 10\r\n\r\n" + b"b" * 10
    assert len(parse_all(ok, SMALL)[0]) == 1
    declared = b"GET / HTTP/1.1\r\nContent-Length: 11\r\n\r\n"  # refused before the body
    _, parser = parse_all(declared, SMALL)
    assert parser.error is not None and parser.error.status == 413
    chunked = b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n6\r\nabcdef\r\n"
    _, parser = parse_all(chunked, SMALL)
    assert parser.error is not None and parser.error.status == 413


def test_endless_header_across_feeds_is_bounded() -> None:
    parser = RequestParser()
    parser.feed(b"GET / HTTP/1.1\r\nX: ")
    fed = 0
    while parser.error is None and fed < 10 * 1024 * 1024:
        parser.feed(b"a" * 4096)
        fed += 4096
    assert parser.error is not None and parser.error.status == 431
    assert fed <= 16 * 1024 + 8190 + 4096


def test_callback_bug_is_not_disguised_as_400() -> None:
    class Broken(RequestParser):
        __slots__ = ()

        def on_url(self, part: bytes) -> None:
            raise ZeroDivisionError("bug")

    with pytest.raises(ZeroDivisionError):
        Broken().feed(b"GET / HTTP/1.1\r\n\r\n")


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------

TCHAR = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-!#$&'*+.^_`|~"
TOKEN = st.text(alphabet=TCHAR, min_size=1, max_size=12)
FIELD_VALUE = st.text(alphabet="".join(chr(c) for c in range(0x21, 0x7F)), max_size=20)
PATH = st.lists(st.text(alphabet="abcXYZ019-._~%", min_size=1, max_size=6), max_size=4).map(
    lambda segs: "/" + "/".join(segs))


@st.composite
def requests(draw: st.DrawFn, last: bool = False) -> tuple[bytes, tuple[str, bytes, str, bool]]:
    method = draw(st.sampled_from(["GET", "HEAD"]))
    target = draw(PATH).encode() + draw(st.sampled_from([b"", b"?q=1", b"?a&b"]))
    version = draw(st.sampled_from(["1.0", "1.1"]))
    headers = draw(st.lists(st.tuples(TOKEN, FIELD_VALUE), max_size=5))
    headers = [(n, v) for n, v in headers
               if n.lower() not in ("connection", "content-length", "transfer-encoding", "upgrade")]
    connection = draw(st.sampled_from([None, "keep-alive", "close"])) if last else (
        None if version == "1.1" else "keep-alive")
    lines = [f"{method} {target.decode()} HTTP/{version}"]
    lines += [f"{n}: {v}" for n, v in headers]
    if connection:
        lines.append(f"Connection: {connection}")
    keep_alive = connection != "close" and (version == "1.1" or connection == "keep-alive")
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode()
    return raw, (method, target, version, keep_alive)


@st.composite
def pipelines(draw: st.DrawFn) -> tuple[bytes, list[tuple[str, bytes, str, bool]]]:
    count = draw(st.integers(1, 4))
    items = [draw(requests(last=(i == count - 1))) for i in range(count)]
    return b"".join(raw for raw, _ in items), [expected for _, expected in items]


def feed_in_pieces(data: bytes, cuts: list[int]) -> tuple[list[Request], RequestParser, list]:
    """Feed `data` split at `cuts`; also record what came out after the error was set."""
    parser = RequestParser()
    out: list[Request] = []
    after_error: list[Request] = []
    start = 0
    for cut in sorted(set(cuts)) + [len(data)]:
        piece = data[start:cut]
        start = cut
        erred = parser.error is not None
        got = parser.feed(piece)
        (after_error if erred else out).extend(got)
    return out, parser, after_error


PROPERTY_SETTINGS = settings(max_examples=150, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(pipelines(), st.data())
def test_split_anywhere_equals_one_feed(pipeline, data) -> None:
    raw, expected = pipeline
    whole, parser = parse_all(raw)
    assert parser.error is None
    assert summary(whole) == expected
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=8))
    pieces, split_parser, _ = feed_in_pieces(raw, cuts)
    assert pieces == whole
    assert split_parser.state == parser.state


def mutate(raw: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    data = bytearray(raw)
    for kind, pos, byte in edits:
        if not data:
            data.append(byte)
            continue
        pos %= len(data) + (kind == 0)
        if kind == 0:
            data.insert(pos, byte)
        elif kind == 1:
            del data[pos]
        else:
            data[pos] = byte
    return bytes(data)


INTERESTING_BYTES = st.one_of(st.integers(0, 255), st.sampled_from(b" \r\n:/%.HTTP01"))


EDITS = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 10_000), INTERESTING_BYTES),
                 min_size=1, max_size=6)


@PROPERTY_SETTINGS
@given(pipelines(), EDITS, st.data())
def test_mutated_requests_give_requests_or_http_error(pipeline, edits, data) -> None:
    raw = mutate(pipeline[0], edits)
    whole, parser = parse_all(raw)
    assert all(isinstance(r, Request) and r.method in ("GET", "HEAD") for r in whole)
    if parser.error is not None:
        assert isinstance(parser.error, HTTPError)
        assert parser.error.status in ERROR_STATUSES
        assert parser.feed(b"GET / HTTP/1.1\r\n\r\n") == []
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=6))
    pieces, split_parser, after_error = feed_in_pieces(raw, cuts)
    assert pieces == whole
    assert after_error == []
    assert (split_parser.error and split_parser.error.status) == (parser.error and
                                                                 parser.error.status)


@PROPERTY_SETTINGS
@given(st.binary(max_size=300), st.lists(st.integers(0, 300), max_size=5))
def test_garbage_never_raises(garbage: bytes, cuts: list[int]) -> None:
    pieces, parser, after_error = feed_in_pieces(garbage, [c for c in cuts if c <= len(garbage)])
    assert all(isinstance(r, Request) for r in pieces)
    assert after_error == []
    if parser.error is not None:
        assert parser.error.status in ERROR_STATUSES


def test_state_table_final_states_have_no_exits() -> None:
    from whyevents.http.parser import _TRANSITIONS

    sources = {state for row in _TRANSITIONS.values() for state in row}
    assert ParserState.CLOSED not in sources and ParserState.ERROR not in sources
    assert _TRANSITIONS["error"] == {s: ParserState.ERROR for s in ("IDLE", "HEAD", "BODY")}
