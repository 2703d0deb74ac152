"""Property-based fuzzing of the request path (issue 13 item 4): the parser, then every server.

Inputs are raw request bytes: valid requests (GET/HEAD, HTTP/1.0 and 1.1, keep-alive or close,
extra headers, a small body), mutated at the byte level (flips, insertions, deletions, repeats,
truncation, bare LF, tokens that parsers get wrong: smuggling headers, huge lengths, HTTP/2's
preface, NULs, 9 KB of target), several pipelined in one stream, and cut at random points into
separate reads.

The parser (``http.parser.RequestParser``), pure:

* ``feed`` never raises; an error is one of the statuses the parser documents, and final;
* the same bytes give the same requests and the same error however they are split across feeds;
* an unmutated stream of valid requests gives exactly those requests, and no error.

Every registered server (one live server each, module scope, loopback only): a client sends
the chunks (one ``send`` each), shuts down writing and reads to the end, within ``GUARD``
seconds (a hang fails). The server must answer, in order, one well-formed response per request
the reference parser finds in the same bytes (status below 500, ``Connection: close`` exactly
when the request ends the connection), then, if the reference parser stopped on an error, an
error reply with that status, then close: nothing else. A reset is accepted only where the
client sent bytes after a request that closed the connection (the server closes with them
unread; lingering close is for error replies). After every case the server still serves the
8 KiB file correctly on a new connection, and at the end it holds no connection and counted no
internal error.

Cases: ``FUZZ_EXAMPLES`` per server (200) and 5x that for the parser, so the normal suite
stays fast; ``-m fuzz`` runs ``FUZZ_EXAMPLES_MANY`` (5,000) each, and the environment variable
``WHYEVENTS_FUZZ_EXAMPLES`` sets the count either way. Each test prints how many cases it ran.
"""

from __future__ import annotations

import io
import os
import socket
import string
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support import wait_for
from support.http import connect, fetch, read_response
from support.trees import BODY
from whyevents import servers
from whyevents.http import RequestParser

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(1800)]

FUZZ_EXAMPLES = 200
FUZZ_EXAMPLES_MANY = 5000
#: What the parser may answer bad bytes with (its module docstring).
PARSER_STATUSES = {400, 405, 413, 414, 431, 505}


def examples(request, scale: int = 1) -> int:
    """How many cases to run: the environment variable, else many under ``-m fuzz``."""
    env = os.environ.get("WHYEVENTS_FUZZ_EXAMPLES")
    if env:
        return int(env) * scale
    many = "fuzz" in (request.config.getoption("markexpr") or "")
    return (FUZZ_EXAMPLES_MANY if many else FUZZ_EXAMPLES) * scale


def run_cases(request, strategy, check, scale: int = 1) -> int:
    """Run ``check(case)`` on cases drawn from ``strategy``, as many as ``examples`` says;
    returns how many ran (shrinking included)."""
    ran = Counter()

    def counted(case):
        ran["cases"] += 1
        check(case)

    many = examples(request) > FUZZ_EXAMPLES
    # (the long run keeps what it finds in .hypothesis/, git-ignored, to replay it)
    settings(max_examples=examples(request, scale), deadline=None,
             database=settings.default.database if many else None, print_blob=True,
             suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])(
        given(strategy)(counted))()
    return ran["cases"]


# ---------------------------------------------------------------------------------------------
# Strategies: valid requests, mutations, pipelining, splits
# ---------------------------------------------------------------------------------------------

TARGETS = [b"/file8k", b"/", b"/sub/small.txt", b"/docs/", b"/nope", b"/sub/../file8k",
           b"/%2e%2e/secret.txt", b"/escape", b"/file8k?x=1", b"/sub/a.html"]
HEADER_NAMES = [b"Accept", b"User-Agent", b"X-Fuzz", b"If-None-Match", b"If-Modified-Since",
                b"Range", b"Cookie", b"Accept-Encoding"]
VALUE = st.text(alphabet=string.ascii_letters + string.digits + " -_/.,;=*", max_size=40)
TOKENS = [
    b"\r\n", b"\n", b"\r", b" ", b":", b"\x00", b"\t", b"\r\n\r\n", b"\xff\xfe", b"%00",
    b"HTTP/1.1", b"HTTP/2.0", b"HTTP/0.9", b"HTTP/1.2", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    b"Content-Length: 5\r\n", b"Content-Length: -1\r\n", b"Content-Length: 0x10\r\n",
    b"Content-Length: 99999999999999999999\r\n", b"Content-Length: 3\r\nContent-Length: 4\r\n",
    b"Transfer-Encoding: chunked\r\n", b"Transfer-Encoding: gzip, chunked\r\n", b"0\r\n\r\n",
    b"5\r\nhello\r\n", b"ffffffffffffffff\r\n", b"Connection: close\r\n", b" folded\r\n",
    b"Upgrade: h2c\r\n", b"Expect: 100-continue\r\n", b"POST", b"CONNECT", b"FOO", b"GET",
    b"%2e%2e/", b"\\..\\", b"A" * 9000, b"X-Big: " + b"b" * 4000 + b"\r\n",
]


@st.composite
def valid_request(draw) -> bytes:
    method = draw(st.sampled_from([b"GET", b"HEAD"]))
    version = draw(st.sampled_from([b"1.1", b"1.1", b"1.0"]))
    lines = [b"%s %s HTTP/%s" % (method, draw(st.sampled_from(TARGETS)), version),
             b"Host: 127.0.0.1"]
    connection = draw(st.sampled_from([None, b"keep-alive", b"close"]))
    if connection is not None:
        lines.append(b"Connection: " + connection)
    for name, value in draw(st.lists(st.tuples(st.sampled_from(HEADER_NAMES), VALUE),
                                     max_size=4)):
        lines.append(name + b": " + value.strip().encode())
    body = draw(st.one_of(st.just(b""), st.binary(min_size=1, max_size=64)))
    if body:
        lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


@st.composite
def mutated(draw, raw: bytes) -> bytes:
    data = bytearray(raw)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "repeat", "token", "truncate",
                                   "bare-lf"]))
        at = draw(st.integers(0, len(data)))
        if op == "flip" and data:
            at = min(at, len(data) - 1)
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 16))]
        elif op == "repeat":
            data[at:at] = data[at:at + draw(st.integers(1, 32))] * draw(st.integers(2, 8))
        elif op == "token":
            data[at:at] = draw(st.sampled_from(TOKENS))
        elif op == "truncate":
            del data[at:]
        elif op == "bare-lf":
            data = bytearray(bytes(data).replace(b"\r\n", b"\n", draw(st.integers(1, 3))))
    return bytes(data)


@st.composite
def over_a_limit(draw) -> bytes:
    """A well-formed request the parser must refuse: each of its statuses, 405 to 505."""
    kind = draw(st.sampled_from(["method", "body", "line", "count", "bytes", "version"]))
    method, target, version, headers = b"GET", b"/file8k", b"1.1", [b"Host: 127.0.0.1"]
    if kind == "method":
        method = draw(st.sampled_from([b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH"]))
    elif kind == "body":
        headers.append(b"Content-Length: %d" % draw(st.integers(8193, 1 << 40)))
    elif kind == "line":
        target = b"/" + b"a" * draw(st.integers(8200, 12000))
    elif kind == "count":
        headers += [b"X-%d: v" % i for i in range(draw(st.integers(101, 300)))]
    elif kind == "bytes":
        headers += [b"X-Long-%d: " % i + b"v" * 4000 for i in range(draw(st.integers(5, 8)))]
    else:
        version = draw(st.sampled_from([b"2.0", b"3.0", b"1.2"]))
    return b"%s %s HTTP/%s\r\n" % (method, target, version) + b"\r\n".join(headers) + b"\r\n\r\n"


REQUEST = st.one_of(valid_request(), valid_request().flatmap(mutated), over_a_limit())
#: A stream: 1-4 pipelined requests, some mutated, or now and then bytes from nowhere.
STREAM = st.one_of(st.lists(REQUEST, min_size=1, max_size=4).map(b"".join),
                   st.binary(min_size=1, max_size=300))


@st.composite
def split(draw, raw: bytes) -> list[bytes]:
    """``raw`` cut at up to 8 random points (every byte kept, in order)."""
    cuts = sorted(set(draw(st.lists(st.integers(1, max(1, len(raw) - 1)), max_size=8))))
    bounds = [0, *cuts, len(raw)]
    return [raw[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


CASE = STREAM.flatmap(lambda raw: split(raw).map(lambda chunks: (raw, chunks)))


def reference(raw: bytes):
    """What the parser makes of ``raw`` fed at once: (requests, error status or None, parser)."""
    parser = RequestParser()
    requests = parser.feed(raw)
    return requests, (parser.error.status if parser.error is not None else None), parser


# ---------------------------------------------------------------------------------------------
# The parser
# ---------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_parser_never_raises_and_ignores_how_bytes_are_split(request, capsys):
    def check(case):
        raw, chunks = case
        requests, status, whole = reference(raw)
        parser = RequestParser()
        got = []
        for chunk in chunks:
            got += parser.feed(chunk)
        assert got == requests
        assert (parser.error.status if parser.error else None) == status
        if status is not None:
            assert status in PARSER_STATUSES and parser.closed
            assert parser.feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == []    # final
        for r in got:
            assert r.method in ("GET", "HEAD") and r.version in ("1.0", "1.1")

    n = run_cases(request, CASE, check, scale=5)
    with capsys.disabled():
        print(f"\nfuzz: parser: {n} cases, 0 failures")


@pytest.mark.slow
def test_valid_pipelined_requests_parse_exactly(request, capsys):
    def check(reqs):
        raw = b"".join(reqs)
        requests, status, _ = reference(raw)
        assert status is None
        # Stops after the first request that closes the connection, as the parser documents.
        expect = next((i + 1 for i, r in enumerate(requests) if not r.keep_alive), len(reqs))
        assert len(requests) == expect
        assert [r.target for r in requests] == [q.split(b" ")[1] for q in reqs[:expect]]

    n = run_cases(request, st.lists(valid_request(), min_size=1, max_size=5), check, scale=5)
    with capsys.disabled():
        print(f"\nfuzz: parser, valid streams: {n} cases, 0 failures")


# ---------------------------------------------------------------------------------------------
# Every live server
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module", params=servers.names())
def live(request, docroot):
    handle = servers.start(request.param, docroot)
    handle.label = request.param
    yield handle
    handle.stop()


def exchange(server, chunks: list[bytes]) -> tuple[bytes, bool]:
    """Send ``chunks`` (one send each), shut down writing, read to the end: (bytes, reset)."""
    got = []
    with connect(server) as s:
        try:
            for chunk in chunks:
                s.sendall(chunk)
            s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass          # closed early (EPIPE, ECONNRESET, ENOTCONN): what it sent is readable
        try:
            while data := s.recv(65536):      # socket.timeout (GUARD s): a hang
                got.append(data)
        except ConnectionResetError:
            return b"".join(got), True
    return b"".join(got), False


def check_answers(raw: bytes, data: bytes, reset: bool, statuses: Counter) -> None:
    """The server's bytes against what the reference parser finds in ``raw``."""
    requests, status, _ = reference(raw)
    if reset:      # only a non-error close with bytes sent after it may reset
        assert status is None and requests and not requests[-1].keep_alive
    expected = [(r.method == "HEAD", r.keep_alive) for r in requests]
    f = io.BytesIO(data)
    for head, keep_alive in expected:
        if reset and f.tell() == len(data):
            return                            # (a close with unread input: see docstring)
        r = read_response(f, head=head)
        statuses[r.status] += 1
        assert r.status < 500, r
        assert r.headers["connection"] == ("keep-alive" if keep_alive else "close")
    if status is not None:
        r = read_response(f)
        statuses[r.status] += 1
        assert r.status == status and r.headers["connection"] == "close"
    assert f.read() == b"", "bytes after the last answer"


def test_every_server_survives_fuzzed_requests(live, request, capsys):
    statuses = Counter()
    resets = Counter()

    def check(case):
        raw, chunks = case
        data, reset = exchange(live, chunks)
        resets[reset] += 1
        check_answers(raw, data, reset, statuses)
        r = fetch(live)                       # and it still serves the 8 KiB file
        assert r.status == 200 and r.body == BODY

    n = run_cases(request, CASE, check)
    assert live.error is None                 # the server thread did not die
    assert wait_for(lambda: live.stats()["connections_open"] == 0)
    stats = live.stats()
    assert stats.get("internal_errors", 0) == 0
    with capsys.disabled():
        print(f"\nfuzz: {live.label}: {n} cases, 0 crashes, 0 hangs; answers by status "
              f"{dict(sorted(statuses.items()))}; resets after a close {resets[True]}; "
              f"lingering closes {stats['lingering_closes']}")
