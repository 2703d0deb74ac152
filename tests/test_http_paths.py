"""Path safety: a traversal corpus, symlinks, normalisation, and a property over random targets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whyevents.http.parser import HTTPError
from whyevents.http.paths import normalize_target, real_root, resolve_path, safe_path


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """base/{secret.txt, etc/passwd, root/{...}}: root has files, dirs, and symlinks both ways."""
    base = tmp_path_factory.mktemp("paths")
    (base / "secret.txt").write_text("secret")
    (base / "etc").mkdir()
    (base / "etc" / "passwd").write_text("root:x:0:0")
    root = base / "root"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "c.txt").write_text("c")
    (root / "a" / "index.html").write_text("index")
    (root / "noindex").mkdir()
    (root / "file.txt").write_text("file")
    (root / "sp ace.txt").write_text("space")
    (root / "caf\u00e9.txt").write_text("utf8")
    (root / "%41.txt").write_text("literal percent")
    (root / "back\\slash").write_text("a backslash in a Linux name")
    (root / "new\nline").write_text("a newline in a name")
    (root / "etc").mkdir()  # a decoy: /etc/passwd under the root does not exist
    (root / "out").symlink_to(base / "secret.txt")
    (root / "outdir").symlink_to(base / "etc")
    (root / "in").symlink_to(root / "file.txt")
    (root / "loop").symlink_to(root / "loop")
    (root / "idxlink").mkdir()
    (root / "idxlink" / "index.html").symlink_to(base / "secret.txt")
    os.mkfifo(root / "fifo")
    return {"base": str(base), "root": real_root(root)}


def outcome(root: str, target: bytes) -> str | int:
    """The real path served, or the HTTPError status. Any other exception fails the test."""
    try:
        return safe_path(root, target)
    except HTTPError as err:
        return err.status


def inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root + os.sep)


TRAVERSAL = [
    b"/../secret.txt", b"/../../../../etc/passwd", b"/a/../../secret.txt",
    b"/%2e%2e/secret.txt", b"/%2E%2E/secret.txt", b"/%2e%2e%2fsecret.txt",
    b"/..%2fsecret.txt", b"/..%2Fsecret.txt", b"/a/..%2f..%2fsecret.txt", b"/%2fetc/passwd",
    b"//etc/passwd", b"///etc//passwd", b"/..\\secret.txt", b"/a\\..\\..\\secret.txt",
    b"/%5c..%5csecret.txt", b"/..%5csecret.txt", b"/file.txt%00.html", b"/%00", b"/a/%00/../..",
    b"/.%2e/secret.txt", b"/%2e./secret.txt", b"/a/b/../../../secret.txt", b"/./../secret.txt",
    b"/out", b"/outdir/passwd", b"/outdir/", b"/idxlink/", b"/idxlink", b"/loop", b"/fifo",
    b"/%252e%252e/secret.txt", b"/%c0%ae%c0%ae/secret.txt", b"/..;/secret.txt", b"/a/%0a",
    b"http://evil/../secret.txt", b"*", b"evil.com:443", b"../secret.txt", b"",
]


@pytest.mark.parametrize("target", TRAVERSAL, ids=[t.decode("latin-1") for t in TRAVERSAL])
def test_traversal_corpus_never_leaves_root(tree: dict[str, str], target: bytes) -> None:
    result = outcome(tree["root"], target)
    assert isinstance(result, int), f"{target!r} was served as {result!r}"
    assert result in (400, 404)


@pytest.mark.parametrize(("target", "status"), [
    (b"/../secret.txt", 404), (b"/%2e%2e/secret.txt", 404), (b"/..%2fsecret.txt", 404),
    (b"/%2f", 404), (b"/%00", 404), (b"/a\\b", 404), (b"/out", 404),
    (b"/%zz", 400), (b"/%4", 400), (b"/%", 400), (b"/%ff", 400), (b"*", 400),
    (b"/missing", 404), (b"/noindex/", 404), (b"/fifo", 404), (b"/loop", 404),
    # Policy, not only safety: these would name real files if decoded or clamped.
    (b"/a%2fb/c.txt", 404), (b"/a%2Fb%2fc.txt", 404), (b"/../file.txt", 404),
    (b"/a/../../file.txt", 404), (b"/%2e%2e/file.txt", 404), (b"/back\\slash", 404),
    (b"/back%5cslash", 404), (b"/back%5Cslash", 404), (b"/new%0aline", 404),
])
def test_specific_statuses(tree: dict[str, str], target: bytes, status: int) -> None:
    assert outcome(tree["root"], target) == status


@pytest.mark.parametrize(("target", "relative"), [
    (b"/file.txt", "file.txt"),
    (b"/a/b/c.txt", "a/b/c.txt"),
    (b"/a/./b/../b/c.txt", "a/b/c.txt"),
    (b"/a//b///c.txt", "a/b/c.txt"),
    (b"/a/b/c.txt?x=../../secret.txt", "a/b/c.txt"),
    (b"/a/b/c.txt#frag", "a/b/c.txt"),
    (b"/%61/%62/c%2Etxt", "a/b/c.txt"),
    (b"/sp%20ace.txt", "sp ace.txt"),
    (b"/caf%C3%A9.txt", "caf\u00e9.txt"),
    (b"/%2541.txt", "%41.txt"),
    (b"/a/", "a/index.html"),
    (b"/a", "a/index.html"),
    (b"/in", "file.txt"),  # a symlink inside the root to a file inside the root is fine
    (b"http://host:8080/file.txt", "file.txt"),
    (b"HTTP://HOST/a/b/c.txt", "a/b/c.txt"),
])
def test_allowed_targets(tree: dict[str, str], target: bytes, relative: str) -> None:
    assert outcome(tree["root"], target) == os.path.join(tree["root"], relative)


@pytest.mark.parametrize(("target", "key"), [
    (b"/", "/"), (b"/a", "/a"), (b"/a/", "/a/"), (b"/a/.", "/a/"), (b"/a/b/..", "/a/"),
    (b"/a/..", "/"), (b"//a", "/a"), (b"/a?q", "/a"), (b"/.hidden", "/.hidden"),
    (b"/..a", "/..a"), (b"/a..", "/a.."), (b"/x/%7E", "/x/~"), (b"http://h", "/"),
])
def test_normalize_target(target: bytes, key: str) -> None:
    assert normalize_target(target) == key


def test_resolve_path_rejects_lexical_escape_in_key(tree: dict[str, str]) -> None:
    # Keys come from normalize_target, but resolve_path must not trust them either.
    with pytest.raises(HTTPError) as info:
        resolve_path(tree["root"], "/../secret.txt")
    assert info.value.status == 404


def test_real_root_requires_directory(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(NotADirectoryError):
        real_root(tmp_path / "f")


TARGET_BYTES = st.lists(
    st.sampled_from([b"/", b".", b"..", b"%2e", b"%2f", b"%5c", b"\\", b"%00", b"%", b"a",
                     b"b", b"out", b"outdir", b"secret.txt", b"etc", b"passwd", b"?", b"%25",
                     b"file.txt", b"in", b"idxlink", b"%2E%2E", b"//", b"\x00", b"\xff"]),
    max_size=12,
).map(b"".join)


@settings(max_examples=400, deadline=None)
@given(TARGET_BYTES)
def test_property_never_outside_root(tree: dict[str, str], target: bytes) -> None:
    result = outcome(tree["root"], b"/" + target)
    if isinstance(result, int):
        assert result in (400, 404)
    else:
        real = os.path.realpath(result)
        assert inside(real, tree["root"]), (target, result)
        assert os.path.isfile(real)
        assert "secret" not in Path(real).read_text()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40))
def test_property_arbitrary_bytes_only_http_errors(tree: dict[str, str], target: bytes) -> None:
    result = outcome(tree["root"], target)
    if not isinstance(result, int):
        assert inside(os.path.realpath(result), tree["root"])
