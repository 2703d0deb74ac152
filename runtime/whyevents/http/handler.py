"""The one call every server makes per request: `Request` in, response bytes (or a `Miss`) out.

A server that must not block (the event loop, a SEDA stage, a green thread that wants to use
`preadv(RWF_NOWAIT)` first) cannot let the handler read files. So `respond` never touches the
disk: on a page-cache hit it returns the bytes to send, and on a miss a `Miss` naming the cache
key. The server then does the file work wherever it does disk I/O and finishes with one more
pure call:

    result = handler.respond(request)
    if result.__class__ is Miss:                  # cold path
        try:
            path = handler.resolve(result)         # realpath + stat: file-system syscalls
            body, st = my_disk_read(path)          # the server's own way; see cache.read_file
        except HTTPError as err:
            result = handler.fail(result, err.status)
        else:
            result = handler.finish(result, body, st)   # builds, caches, answers
    send(result)

`handler.load(miss)` and `handler.serve(request)` do the same with blocking reads, for servers
(and tests) that do not care.

Connection rule for servers: close after answering iff `request.keep_alive` is false or the
parser reported an error. Handler-level errors (400 for a malformed target, 404) keep the
connection as the request asked, because the HTTP framing is still intact.

Cost of the hot path
--------------------
On a warm cache `Handler.respond` is a dict lookup of the raw target in a bounded memo, the LRU
`lookup`, the Date identity test and returning the pre-built bytes: a small fraction of
`RequestParser.feed`, and both together a small fraction of a request's server CPU on loopback,
most of which is kernel time. `whyevents bench servers` measures the whole (server CPU µs per
request, user and system); time `feed` and `respond` with `timeit` on this machine before
changing them.
"""

from __future__ import annotations

import errno
import os

from .cache import PageCache, make_entry, read_file
from .parser import HTTPError, Request
from .paths import normalize_target, real_root, resolve_path
from .response import StaticResponse, error_response

__all__ = ["Handler", "Miss", "NOT_FOUND_ERRNOS"]

#: ``open()`` errors that mean "no such document" (404) rather than a server fault (500); every
#: server that opens files on a cache miss answers by this one set.
NOT_FOUND_ERRNOS = frozenset((errno.ENOENT, errno.ENOTDIR, errno.EACCES, errno.EPERM,
                              errno.ELOOP, errno.ENAMETOOLONG, errno.EISDIR))


class Miss:
    """A request whose file is not in the page cache: the server must read it, then `finish`.

    `key` is the normalised path (the cache key); `path` is set by `Handler.resolve` to the real
    file path to read.
    """

    __slots__ = ("request", "key", "path")

    def __init__(self, request: Request, key: str) -> None:
        self.request = request
        self.key = key
        self.path: str | None = None

    def __repr__(self) -> str:
        return f"Miss({self.request.method} {self.key!r}, path={self.path!r})"


class Handler:
    """Static-file answering over one document root and one `PageCache`.

    Shared by all of a server's threads/stages: its only mutable state is the cache (see its
    thread-safety note) and a bounded memo from raw target bytes to cache keys, which saves
    re-normalising the same target on every request; the memo is simply cleared when it reaches
    `memo_size` entries (a SPECweb99 set at 1,024 clients has 25,056 distinct targets).
    """

    __slots__ = ("root", "cache", "_keys", "_memo_size")

    def __init__(self, root: str | os.PathLike[str], cache: PageCache | None = None, *,
                 memo_size: int = 65536) -> None:
        self.root = real_root(root)
        self.cache = cache if cache is not None else PageCache()
        self._keys: dict[bytes, str] = {}
        self._memo_size = memo_size

    # -- hot path -------------------------------------------------------------------------------

    def respond(self, request: Request) -> bytes | Miss:
        """Bytes to send for `request`, or a `Miss` if its file must first be read from disk."""
        target = request.target
        key = self._keys.get(target)
        if key is None:
            try:
                key = normalize_target(target)
            except HTTPError as err:
                return self.fail(request, err.status)
            if len(self._keys) >= self._memo_size:
                self._keys.clear()
            self._keys[target] = key
        entry = self.cache.lookup(key)
        if entry is None:
            return Miss(request, key)
        return self._answer(request, entry)

    def _answer(self, request: Request, entry: StaticResponse) -> bytes:
        if request.conditional and entry.is_not_modified(
                request.header(b"if-none-match"), request.header(b"if-modified-since")):
            return entry.not_modified(request.keep_alive)
        return entry.response(request.method == "HEAD", request.keep_alive)

    # -- cold path: the server does the disk I/O between these -----------------------------------

    def resolve(self, miss: Miss) -> str:
        """Real path of the file `miss` names (file-system syscalls); raises `HTTPError(404)`."""
        path = resolve_path(self.root, miss.key)
        miss.path = path
        return path

    def finish(self, miss: Miss, body: bytes, st: os.stat_result) -> bytes:
        """Build the entry from bytes read for `miss`, cache it if it fits, and answer."""
        entry = make_entry(body, st, miss.path or miss.key)
        self.cache.insert(miss.key, entry)
        return self._answer(miss.request, entry)

    def fail(self, miss: Miss | Request, status: int) -> bytes:
        """An error answer for a request (or its miss) that keeps the connection as asked."""
        request = miss.request if isinstance(miss, Miss) else miss
        return error_response(status, head=request.method == "HEAD",
                              keep_alive=request.keep_alive)

    # -- blocking conveniences ------------------------------------------------------------------

    def load(self, miss: Miss) -> bytes:
        """Resolve, read (blocking) and finish `miss`; errors become 404 or 500 answers."""
        try:
            path = self.resolve(miss)
            body, st = read_file(path)
        except HTTPError as err:
            return self.fail(miss, err.status)
        except OSError as err:
            return self.fail(miss, 404 if err.errno in NOT_FOUND_ERRNOS else 500)
        return self.finish(miss, body, st)

    def serve(self, request: Request) -> bytes:
        """`respond`, then `load` on a miss: the whole answer, reading files if need be."""
        result = self.respond(request)
        if result.__class__ is Miss:
            return self.load(result)  # type: ignore[arg-type]
        return result  # type: ignore[return-value]

    def __repr__(self) -> str:
        return f"<Handler root={self.root!r} {self.cache!r}>"
