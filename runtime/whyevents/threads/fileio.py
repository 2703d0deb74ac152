"""Disk reads that block only on a page-cache miss: ``pread``, ``preadinto``, ``read_file``.

A regular file is always "readable" to ``epoll``/``poll``, so the socket trick (try, park on
EAGAIN) cannot work for disk I/O. Linux 4.14+ offers the next best thing: ``preadv2`` with
``RWF_NOWAIT`` reads what is in the page cache and fails with ``EAGAIN`` instead of waiting for the
disk. So each read first tries ``os.preadv(fd, [buf], offset, os.RWF_NOWAIT)``: on a hit (one
system call, the common case for the paper's 8 KiB cached-file workload) the green thread never
leaves the CPU. Only on a miss does the read go to the kernel-thread pool (``threadpool.blocking``,
a round trip to another OS thread, many times the hit's cost, plus the disk), which parks just
the caller.

Facts this relies on:

* ``RWF_NOWAIT`` may return a *short* read when only part of the range is cached (and a short
  read also means end of file). We then try the rest the same way: 0 means EOF, EAGAIN means go
  to the pool for the remainder. So ``pread`` returns ``n`` bytes unless the file ends first,
  as ``os.pread`` does for regular files.
* Filesystems without ``RWF_NOWAIT`` support (some FUSE and network filesystems, old kernels)
  fail with ``EOPNOTSUPP`` (or ``EINVAL``). That is remembered per descriptor, together with the
  descriptor's device, so it is not retried on every call; each later fallback re-checks the
  device inside the pool job (one ``fstat`` beside the read), so a recycled descriptor number on
  a filesystem that does support it gets the fast path back.
* On a miss the pool reads into its own buffer, copied into the caller's after it resumes, so a
  killed caller never has its buffer written behind its back.

``open`` and ``fstat`` in ``read_file`` run on the hub's thread (a dentry-cache miss blocks it;
Linux's ``RESOLVE_CACHED`` is not reachable from Python).

What a hit costs: the ``preadv`` itself, plus for ``pread`` a zeroed ``bytearray`` and the copy
to ``bytes`` (``preadinto`` into a reused ``bytearray`` skips both), a little more than a plain
``os.pread``, which could block. ``whyevents bench runtime --only read`` prints the cost per
8 KiB read against the peers' non-blocking file APIs. A miss costs one pool round trip plus the
disk.
"""

from __future__ import annotations

import errno
import os

from .threadpool import blocking

__all__ = ["pread", "preadinto", "read_file", "stats", "reset_stats", "NOWAIT_SUPPORTED"]

_preadv = os.preadv
_pread = os.pread
_fstat = os.fstat
_RWF_NOWAIT = getattr(os, "RWF_NOWAIT", 0)

#: Whether this Python/OS offers ``RWF_NOWAIT`` at all (if not, every read goes to the pool).
NOWAIT_SUPPORTED = bool(_RWF_NOWAIT)

#: errnos meaning "this descriptor's filesystem (or kernel) does not do RWF_NOWAIT".
_REFUSALS = frozenset({errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS})

_refused: dict[int, int] = {}      # fd -> st_dev, where RWF_NOWAIT was refused
_refused_devs: set[int] = set()     # devices (filesystems) that refused it


class _Counters:
    __slots__ = ("nowait_hits", "nowait_misses", "nowait_refused", "pool_reads")

    def __init__(self) -> None:
        self.nowait_hits = 0       # reads answered entirely from the page cache
        self.nowait_misses = 0     # RWF_NOWAIT said EAGAIN: (part of) the range was not cached
        self.nowait_refused = 0    # the filesystem refused RWF_NOWAIT (remembered per fd)
        self.pool_reads = 0        # reads (or remainders) done by the kernel-thread pool


_c = _Counters()


def stats() -> dict:
    """Counters: nowait hits, misses, refusals, pool fallbacks; descriptors known to refuse."""
    return {"nowait_hits": _c.nowait_hits, "nowait_misses": _c.nowait_misses,
            "nowait_refused": _c.nowait_refused, "pool_reads": _c.pool_reads,
            "refusing_fds": len(_refused)}


def reset_stats() -> None:
    """Zero the counters (between benchmark runs)."""
    _c.__init__()


# ---------------------------------------------------------------------------------------------
# The fast path
# ---------------------------------------------------------------------------------------------

def pread(fd: int, n: int, offset: int) -> bytes:
    """Read up to ``n`` bytes at ``offset``; fewer only at end of file. Parks on a cache miss."""
    if fd in _refused or not _RWF_NOWAIT:
        return _pool_read(fd, n, offset)
    buf = bytearray(n)
    got = 0
    try:
        got = _preadv(fd, [buf], offset, _RWF_NOWAIT)
    except BlockingIOError:
        _c.nowait_misses += 1
    except OSError as e:
        _refuse(fd, e, offset)
    else:
        if got == n or got == 0:          # all of it, or end of file: the common case
            _c.nowait_hits += 1
            return bytes(buf) if got else b""
        got = _nowait_rest(fd, buf, got, n, offset)
        if got >= 0:
            return bytes(buf) if got == n else bytes(memoryview(buf)[:got])
        got = -got - 1
    if not got:
        return _pool_read(fd, n, offset)
    return bytes(memoryview(buf)[:got]) + _pool_read(fd, n - got, offset + got)


def preadinto(fd: int, buf, offset: int) -> int:
    """Fill the writable buffer ``buf`` from ``offset``; returns the bytes read (fewer at EOF)."""
    if buf.__class__ is bytearray:
        view = buf
        n = len(buf)
    else:
        view = memoryview(buf)
        if view.format != "B" or view.ndim != 1:
            view = view.cast("B")
        n = view.nbytes
    got = 0
    if fd not in _refused and _RWF_NOWAIT:
        try:
            got = _preadv(fd, [view], offset, _RWF_NOWAIT)
        except BlockingIOError:
            _c.nowait_misses += 1
        except OSError as e:
            _refuse(fd, e, offset)
        else:
            if got == n or got == 0:
                _c.nowait_hits += 1
                return got
            got = _nowait_rest(fd, view, got, n, offset)
            if got >= 0:
                return got
            got = -got - 1
    rest = _pool_read(fd, n - got, offset + got)
    view[got:got + len(rest)] = rest
    return got + len(rest)


def read_file(path, chunk: int = 1 << 20) -> bytes:
    """The whole file at ``path``; reads are ``pread``'s (page-cache hits never leave the hub)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = _fstat(fd).st_size
        parts = []
        offset = 0
        want = size if size > 0 else chunk
        while True:
            data = pread(fd, want, offset)
            if data:
                parts.append(data)
                offset += len(data)
            if len(data) < want:          # end of file
                break
            want = chunk                  # the file grew, or its size is not known (procfs)
        return parts[0] if len(parts) == 1 else b"".join(parts)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------
# Short reads, refusals and the pool
# ---------------------------------------------------------------------------------------------

def _nowait_rest(fd: int, buf, got: int, n: int, offset: int) -> int:
    """After a short non-blocking read: continue without blocking while the cache has data.

    Returns the total read (>= 0) when done (full or EOF), or ``-(got + 1)`` when the remainder
    must come from the pool.
    """
    if fd in _refused:
        return -(got + 1)
    view = memoryview(buf)
    while got < n:
        try:
            k = _preadv(fd, [view[got:]], offset + got, _RWF_NOWAIT)
        except BlockingIOError:
            _c.nowait_misses += 1
            return -(got + 1)
        except OSError as e:
            _refuse(fd, e, offset)
            return -(got + 1)
        if k == 0:
            break                         # end of file
        got += k
    _c.nowait_hits += 1
    return got


def _refuse(fd: int, e: OSError, offset: int) -> None:
    """RWF_NOWAIT failed other than with EAGAIN: remember a refusal, or re-raise a real error."""
    if e.errno not in _REFUSALS or offset < 0:
        raise e
    try:
        dev = _fstat(fd).st_dev
    except OSError:
        raise e from None
    _c.nowait_refused += 1
    _refused[fd] = dev
    _refused_devs.add(dev)


def _pool_read(fd: int, n: int, offset: int) -> bytes:
    """Read ``n`` bytes (fewer at EOF) in a pool thread, parking the caller."""
    _c.pool_reads += 1
    if fd in _refused:
        data, dev = blocking(_read_full_and_dev, fd, n, offset)
        if dev not in _refused_devs:
            _refused.pop(fd, None)        # the number now names a file elsewhere: try again
        return data
    return blocking(_read_full, fd, n, offset)


def _read_full(fd: int, n: int, offset: int) -> bytes:
    """In a pool thread: ``os.pread`` until ``n`` bytes or end of file."""
    data = _pread(fd, n, offset)
    if len(data) == n or not data:
        return data
    parts = [data]
    got = len(data)
    while got < n:
        more = _pread(fd, n - got, offset + got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _read_full_and_dev(fd: int, n: int, offset: int) -> tuple[bytes, int]:
    return _read_full(fd, n, offset), _fstat(fd).st_dev
