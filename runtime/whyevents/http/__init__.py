"""HTTP/1.x for every whyevents server: parsing, responses, paths, page cache, file set. No I/O.

The threaded (Knot), staged (Haboob-like) and event-loop servers all speak HTTP through this
package, so the experiments compare concurrency architectures, not HTTP code. Nothing here opens
a socket; only `cache.read_file`/`load_entry`, `Handler.load`/`serve`/`resolve` and `fileset`
touch the file system, and servers choose whether to call them.

A server's whole use of it, per connection:

    parser = RequestParser()
    for request in parser.feed(data):
        result = handler.respond(request)        # bytes, or a Miss to read from disk first
        ...
    if parser.error is not None:
        send(error_response(parser.error.status)); close()
"""

from .cache import CacheStats, PageCache, load_entry, make_entry, read_file
from .handler import Handler, Miss
from .parser import DEFAULT_LIMITS, HTTPError, Limits, ParserState, Request, RequestParser
from .paths import normalize_target, real_root, resolve_path, safe_path
from .response import DateCache, StaticResponse, content_type_for, error_response, http_date

# The file-set generator is a tool (`whyevents fileset`), not server code: imported on first use,
# so servers do not pay for argparse/json and `python -m whyevents.http.fileset` runs cleanly.
_FILESET_NAMES = frozenset(("FileSet", "RequestMix", "build_fileset", "read_trace"))


def __getattr__(name: str) -> object:
    if name in _FILESET_NAMES:
        from . import fileset

        return getattr(fileset, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "CacheStats",
    "DEFAULT_LIMITS",
    "DateCache",
    "FileSet",
    "HTTPError",
    "Handler",
    "Limits",
    "Miss",
    "PageCache",
    "ParserState",
    "Request",
    "RequestMix",
    "RequestParser",
    "StaticResponse",
    "build_fileset",
    "content_type_for",
    "error_response",
    "http_date",
    "load_entry",
    "make_entry",
    "normalize_target",
    "read_file",
    "read_trace",
    "real_root",
    "resolve_path",
    "safe_path",
]
