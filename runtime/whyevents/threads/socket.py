"""Cooperative sockets: the stdlib ``socket`` module, where blocking parks one green thread.

``from whyevents.threads import socket`` is a drop-in for ``import socket``: every name of the
stdlib module is here (constants, exceptions, helpers), and the ones that block or create sockets
are replaced. The ``socket`` class subclasses the stdlib's, so ``isinstance`` checks, ``makefile``,
``dup``, ``send_fds``/``recv_fds`` and the context-manager protocol all keep working.

The protocol (docs/DESIGN.md, "The runtime"): *try the system call first; only on EAGAIN park*. The
descriptor is always non-blocking underneath; the C-level timeout is 0, so a call that would block
raises ``BlockingIOError`` at once. Only then does the thread park with
``get_hub().poller.wait_read(fd, remaining)`` (or ``wait_write``) and retry when woken. A call that
can be answered at once never touches the hub: no registration, no timer, no switch. The poller
registers each descriptor once (``poll_epoll``) and forgets it when the socket closes.

The timeout the user sees is emulated, with the stdlib's meaning. ``settimeout(None)`` (the
default) blocks forever; ``settimeout(0.0)``/``setblocking(False)`` never parks and raises
``BlockingIOError`` like a non-blocking stdlib socket; ``settimeout(t)`` raises ``TimeoutError``
("timed out", alias ``socket.timeout``) when the whole call (``sendall`` included, as in the
stdlib since 3.5) takes longer than ``t`` seconds. Spurious wake-ups are harmless: the call is
simply retried with the time that remains.

Facts and decisions the rest depends on:

* **Close wakes waiters with EBADF.** ``close`` (really ``_real_close``, which the stdlib defers
  while ``makefile`` objects hold the socket) calls ``poller.forget(fd)`` *before* the descriptor
  is closed: threads parked on it get ``OSError(EBADF)``, and a new descriptor that reuses the
  number never inherits stale poller state. A socket dropped without ``close`` does the same from
  ``__del__``. ``detach`` forgets too (and puts the descriptor back in blocking mode if the
  socket's timeout was None, as the stdlib would have left it). A descriptor closed behind our
  back (``os.close(sock.fileno())``) is the one case we cannot see.
* **Baton passing for readers.** With edge-triggered epoll one event wakes one waiting reader.
  A reader that was woken and then succeeds (or fails, or is killed) calls
  ``poller.after_read(fd)``, which wakes the next reader if the descriptor may still be readable.
  That is what lets N threads ``accept`` on one listening socket (Knot-C) without a thundering
  herd and without leaving a thread asleep while connections are queued. Writers get no baton
  (two threads writing one stream is rare and interleaves bytes anyway).
* **The poller that knows a socket is remembered** (``_poller``, set on the first wait), so the
  socket is forgotten by the hub that registered it even if another OS thread closes it. A socket
  should be waited on by one hub (OS thread) at a time.
* **Names.** ``getaddrinfo`` answers numeric hosts (and ``None``) directly, with
  ``AI_NUMERICHOST``, and sends real names to the kernel-thread pool (``threadpool.blocking``),
  as do ``gethostbyname``, ``gethostbyname_ex``, ``gethostbyaddr``, ``getnameinfo`` (unless both
  NI_NUMERIC flags are given) and ``getfqdn``. ``connect``/``connect_ex`` resolve a non-numeric
  host that way before connecting (the C ``connect`` would resolve it on the hub's thread);
  ``bind`` and ``sendto`` with a host name still resolve in C: give them numeric addresses.
* **sendfile** uses ``os.sendfile`` on the non-blocking socket, parking on EAGAIN, and falls back
  to ``send`` for what is not a regular file (the stdlib's own fallback, cooperative here). A
  ``sendfile`` whose file pages are not cached still blocks the hub while the disk reads.

**A short read drains** (as the event loop's twin, ``eventloop.loop``, has it). A stream
socket's ``recv(n)`` that returns fewer than ``n`` bytes (and more than 0) emptied the receive
buffer, just as an EAGAIN would have shown; so the poller's readiness record for the descriptor
(``poller.readiness(fd)``, kept on the socket from its first wait or short read) is marked not
readable, and the next ``recv`` waits for readability *first* instead of making a system call
that fails with EAGAIN and raising and catching ``BlockingIOError`` (a keep-alive server's every
request).
Data that arrives after the short read is a new edge for epoll, which marks the record readable
again, so a ``recv`` after it reads at once; the level-triggered pollers check the real state
on each poll. Not after an edge that reported EOF or an error (``rd.hup``): a FIN that came with
the last data shares its edge, and no edge would come for the EOF left to read. Datagram
sockets, ``recv`` with flags and non-blocking sockets keep the plain protocol.

Hot path: ``recv``/``send`` are one Python frame around the C method, bound at import
(``_recv = _socket.socket.recv``); the ``try`` costs nothing unless EAGAIN is raised, so
``sendall``+``recv`` on a socket with data waiting costs little more than the bare C methods.
A call that must wait adds the runtime's share: parking, waking, switching and the hub loop, on
top of the system calls (a 1-byte ping-pong between two green threads pays, per round trip, 2
sends, 2 polls, 2 parks and 4 switches beside its recvs). What a request costs the runtime under
load is what ``whyevents bench servers --servers knot-c`` prints (server CPU per request, user
and system), and ``whyevents bench runtime --only yield,wake`` prints a switch and a wake-up.
"""

from __future__ import annotations

# -- Standard Library
import _socket
import errno as _errno
import io as _io
import operator as _operator
import os as _os
import socket as _stdsocket
from time import monotonic as _monotonic

# -- whyevents
from .hub_local import get_hub as _get_hub
from .hub_local import tls as _tls
from .threadpool import blocking as _blocking

# Everything the stdlib module exports (and the private names other stdlib modules reach for,
# such as http.client's ``socket._GLOBAL_DEFAULT_TIMEOUT``); the definitions below replace the
# names that block or create sockets.
globals().update({name: getattr(_stdsocket, name) for name in _stdsocket.__all__})
globals().update({name: getattr(_stdsocket, name) for name in (
    "SocketIO", "AddressInfo", "MsgFlag", "EBADF", "EAGAIN", "EWOULDBLOCK", "_LOCALHOST",
    "_LOCALHOST_V6", "_intenum_converter") if hasattr(_stdsocket, name)})
_GLOBAL_DEFAULT_TIMEOUT = _stdsocket._GLOBAL_DEFAULT_TIMEOUT
_GiveupOnSendfile = _stdsocket._GiveupOnSendfile
_blocking_errnos = _stdsocket._blocking_errnos

__all__ = list(_stdsocket.__all__)

# -- the stdlib and C originals, bound once ---------------------------------------------------
# Bound at import, never looked up in the stdlib module at call time: once ``monkey`` has put
# this module's names into ``socket``, a call-time lookup would find us and recurse.
_StdSocket = _stdsocket.socket
_std_create_server = _stdsocket.create_server
_std_gethostbyname = _stdsocket.gethostbyname
_std_gethostbyname_ex = _stdsocket.gethostbyname_ex
_std_gethostbyaddr = _stdsocket.gethostbyaddr
_std_getnameinfo = _stdsocket.getnameinfo
_std_getfqdn = _stdsocket.getfqdn
_gaierror = _stdsocket.gaierror
_ss = _socket.socket
_recv = _ss.recv
_recv_into = _ss.recv_into
_recvfrom = _ss.recvfrom
_recvfrom_into = _ss.recvfrom_into
_recvmsg = _ss.recvmsg
_recvmsg_into = _ss.recvmsg_into
_send = _ss.send
_sendto = _ss.sendto
_sendmsg = _ss.sendmsg
_accept = _ss._accept
_connect = _ss.connect
_connect_ex = _ss.connect_ex
_fileno = _ss.fileno
_getsockopt = _ss.getsockopt
_c_gettimeout = _ss.gettimeout
_c_setblocking = _ss.setblocking
_c_family = _ss.family.__get__
_c_type = _ss.type.__get__
_c_proto = _ss.proto.__get__
_c_del = _ss.__del__
_os_sendfile = getattr(_os, "sendfile", None)

_AF_INET = _stdsocket.AF_INET
_AF_INET6 = _stdsocket.AF_INET6
_SOL_SOCKET = _stdsocket.SOL_SOCKET
_SO_ERROR = _stdsocket.SO_ERROR
_EINPROGRESS = _errno.EINPROGRESS
_SOCK_STREAM = _stdsocket.SOCK_STREAM
_SOCK_TYPE_MASK = 0xF            # the type without SOCK_NONBLOCK/SOCK_CLOEXEC
_TIMED_OUT = -1                  # _connect's "the timeout expired" (never a real errno)


def _timed_out() -> TimeoutError:
    return TimeoutError("timed out")


def _check_timeout(value) -> float | None:
    """The stdlib's validation of a timeout (None, or a non-negative int or float)."""
    if value is None:
        return None
    t = value if isinstance(value, float) else float(_operator.index(value))
    if t != t:
        raise ValueError("Invalid value NaN (not a number)")
    if t < 0:
        raise ValueError("Timeout value out of range")
    return t


# ---------------------------------------------------------------------------------------------
# The socket class
# ---------------------------------------------------------------------------------------------

class socket(_StdSocket):  # noqa: N801 - the stdlib's name
    """``socket.socket`` whose blocking methods park only the calling green thread."""

    __slots__ = ("_timeout", "_poller", "_rd")

    def __init__(self, family=-1, type=-1, proto=-1, fileno=None) -> None:  # noqa: A002
        _StdSocket.__init__(self, family, type, proto, fileno)
        self._poller = None
        self._rd = None     # the poller's readiness record of a stream socket (see recv)
        # The C layer chose the stdlib's initial timeout (the default timeout, or 0 for a
        # SOCK_NONBLOCK type): that is the user's; underneath we are always non-blocking.
        timeout = _c_gettimeout(self)
        self._timeout = timeout
        if timeout != 0.0:
            _c_setblocking(self, False)

    # -- the user-visible timeout ----------------------------------------------------------------

    def settimeout(self, value) -> None:
        self._timeout = _check_timeout(value)

    def gettimeout(self) -> float | None:
        return self._timeout

    def setblocking(self, flag: bool) -> None:
        self._timeout = None if flag else 0.0

    def getblocking(self) -> bool:
        return self._timeout != 0.0

    @property
    def timeout(self) -> float | None:
        return self._timeout

    # -- parking ---------------------------------------------------------------------------------

    def _retry(self, fn, args: tuple, reading: bool):
        """``fn(self, *args)`` said EAGAIN: park until ready and retry, within the timeout.

        Callers call it after their ``except BlockingIOError`` block, never inside it: a thread
        parked inside an except block keeps the exception, its traceback and a frame object
        alive for as long as it waits (a server's every idle connection and accepting thread),
        and the cyclic garbage collector walks them all on every full collection."""
        fd = _fileno(self)
        poller = (getattr(_tls, "hub", None) or _get_hub()).poller
        self._poller = poller
        if reading and self._rd is None and _c_type(self) & _SOCK_TYPE_MASK == _SOCK_STREAM:
            self._rd = poller.readiness(fd)
        wait = poller.wait_read if reading else poller.wait_write
        timeout = self._timeout
        deadline = None if timeout is None else _monotonic() + timeout
        remaining = None
        while True:
            if deadline is not None:
                remaining = deadline - _monotonic()
                if remaining <= 0:
                    raise _timed_out()
            try:
                ready = wait(fd, remaining)
            except BaseException:
                if reading:
                    poller.after_read(fd)    # killed or closed: don't take the baton with us
                raise
            if not ready:
                raise _timed_out()
            try:
                result = fn(self, *args)
            except BlockingIOError:
                continue                     # spurious wake-up, or another reader was first
            except BaseException:
                if reading:
                    poller.after_read(fd)
                raise
            if reading:
                poller.after_read(fd)        # pass the baton: more may be queued
            return result

    def _wait_writable(self, timeout: float | None) -> None:
        poller = _get_hub().poller
        self._poller = poller
        if not poller.wait_write(_fileno(self), timeout):
            raise _timed_out()

    # -- receiving -------------------------------------------------------------------------------

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        rd = self._rd
        if rd is None or flags or self._timeout == 0.0:
            # The plain protocol. A stream socket gets its readiness record at its first wait
            # (_retry) or its first short read, whichever comes first, so that the read after
            # a short one waits instead of failing with EAGAIN.
            try:
                data = _recv(self, bufsize, flags)
            except BlockingIOError:
                if self._timeout == 0.0:
                    raise
                data = None
            if data is None:                 # wait outside the except block (see _retry)
                data = self._retry(_recv, (bufsize, flags), True)
                rd = self._rd
            elif (rd is None and not flags and 0 < len(data) < bufsize
                  and self._timeout != 0.0
                  and _c_type(self) & _SOCK_TYPE_MASK == _SOCK_STREAM):
                poller = self._poller = (getattr(_tls, "hub", None) or _get_hub()).poller
                rd = self._rd = poller.readiness(_fileno(self))
            if rd is not None and 0 < len(data) < bufsize and not flags and not rd.hup:
                rd.readable = False          # a short read drained the socket: wait next time
            return data
        if rd.readable:
            try:
                data = _recv(self, bufsize)
            except BlockingIOError:
                pass
            else:
                if 0 < len(data) < bufsize and not rd.hup:
                    rd.readable = False
                return data
        # Drained by the last read (or EAGAIN just now): wait for readability, then read. This is
        # ``_retry`` for a stream socket's plain recv, inlined: a keep-alive server's every
        # request comes through here.
        fd = _fileno(self)
        hub = getattr(_tls, "hub", None) or _get_hub()
        poller = self._poller = hub.poller
        # epoll's record is its own per-descriptor state, with the readers' queue: park on it
        # here (``wait_read`` inlined) if it is this hub's poller's
        q = rd.readers
        if q is not None and q.poller is not poller:
            q = None
        timeout = remaining = self._timeout
        deadline = None     # the first wait's, which park records (t._deadline): read if needed
        while True:
            try:
                if q is None:
                    ready = poller.wait_read(fd, remaining)
                else:
                    rd.readable = False
                    q._q[hub.current] = None
                    poller.waiting += 1
                    ready = hub.park(q, remaining)
            except BaseException:
                poller.after_read(fd)        # killed or closed: don't take the baton with us
                raise
            if not ready:
                raise _timed_out()
            try:
                data = _recv(self, bufsize)
            except BlockingIOError:
                # a spurious wake-up, or another reader was first: wait again, within the time
                if timeout is not None:
                    if deadline is None:
                        deadline = hub.current._deadline
                    remaining = deadline - _monotonic()
                    if remaining <= 0:
                        raise _timed_out() from None
                continue
            except BaseException:
                poller.after_read(fd)
                raise
            if 0 < len(data) < bufsize and not rd.hup:
                rd.readable = False          # drained: no baton to pass either
            else:
                poller.after_read(fd)        # more may be queued: pass the baton
            return data

    def recv_into(self, buffer, nbytes: int = 0, flags: int = 0) -> int:
        try:
            return _recv_into(self, buffer, nbytes, flags)
        except BlockingIOError:
            if self._timeout == 0.0:
                raise
        return self._retry(_recv_into, (buffer, nbytes, flags), True)

    def recvfrom(self, bufsize: int, flags: int = 0):
        try:
            return _recvfrom(self, bufsize, flags)
        except BlockingIOError:
            if self._timeout == 0.0:
                raise
        return self._retry(_recvfrom, (bufsize, flags), True)

    def recvfrom_into(self, buffer, nbytes: int = 0, flags: int = 0):
        try:
            return _recvfrom_into(self, buffer, nbytes, flags)
        except BlockingIOError:
            if self._timeout == 0.0:
                raise
        return self._retry(_recvfrom_into, (buffer, nbytes, flags), True)

    def recvmsg(self, *args):
        try:
            return _recvmsg(self, *args)
        except BlockingIOError:
            if self._timeout == 0.0:
                raise
        return self._retry(_recvmsg, args, True)

    def recvmsg_into(self, *args):
        try:
            return _recvmsg_into(self, *args)
        except BlockingIOError:
            if self._timeout == 0.0:
                raise
        return self._retry(_recvmsg_into, args, True)

    def accept(self):
        """Wait for a connection; returns ``(socket, address)`` with a socket of this module."""
        try:
            fd, addr = _accept(self)
        except BlockingIOError:
            if self._timeout == 0.0:
                raise
            fd = None
        if fd is None:                       # wait outside the except block (see _retry)
            fd, addr = self._retry(_accept, (), True)
        return socket(_c_family(self), _c_type(self), _c_proto(self), fd), addr

    # -- sending ---------------------------------------------------------------------------------

    def send(self, data, flags: int = 0) -> int:
        try:
            return _send(self, data, flags)
        except BlockingIOError:
            if self._timeout == 0.0:
                raise
        return self._retry(_send, (data, flags), False)

    def sendall(self, data, flags: int = 0) -> None:
        """Send all of ``data``; the timeout bounds the whole call, as in the stdlib."""
        try:
            sent = _send(self, data, flags)
        except BlockingIOError:
            if self._timeout == 0.0:
                raise
            sent = 0
        else:
            cls = data.__class__
            if sent == len(data) and (cls is bytes or cls is bytearray):
                return None
        with memoryview(data) as view, view.cast("B") as byteview:
            total = len(byteview)
            if sent >= total:
                return None
            timeout = self._timeout
            deadline = None if timeout is None else _monotonic() + timeout
            remaining = None
            poller = None
            while True:
                try:
                    sent += _send(self, byteview[sent:], flags)
                except BlockingIOError:
                    if timeout == 0.0:
                        raise
                else:
                    if sent >= total:
                        return None
                    continue
                if poller is None:
                    fd = _fileno(self)
                    poller = self._poller = _get_hub().poller
                if deadline is not None:
                    remaining = deadline - _monotonic()
                    if remaining <= 0:
                        raise _timed_out()
                if not poller.wait_write(fd, remaining):
                    raise _timed_out()

    def sendto(self, *args) -> int:
        """``sendto(data, address)`` or ``sendto(data, flags, address)``."""
        try:
            return _sendto(self, *args)
        except BlockingIOError:
            if self._timeout == 0.0:
                raise
        return self._retry(_sendto, args, False)

    def sendmsg(self, *args) -> int:
        try:
            return _sendmsg(self, *args)
        except BlockingIOError:
            if self._timeout == 0.0:
                raise
        return self._retry(_sendmsg, args, False)

    if _os_sendfile is not None:
        def _sendfile_use_sendfile(self, file, offset=0, count=None):
            """``os.sendfile`` on the non-blocking socket, parking on EAGAIN.

            The stdlib's ``sendfile`` calls this first and falls back to ``send`` on
            ``_GiveupOnSendfile``; the timeout applies to each wait, as in the stdlib.
            """
            self._check_sendfile_params(file, offset, count)
            sockno = _fileno(self)
            try:
                fileno = file.fileno()
            except (AttributeError, _io.UnsupportedOperation) as err:
                raise _GiveupOnSendfile(err) from None   # not a regular file
            try:
                fsize = _os.fstat(fileno).st_size
            except OSError as err:
                raise _GiveupOnSendfile(err) from None
            if not fsize:
                return 0
            blocksize = min(count or fsize, 2 ** 30)     # bpo-38319: avoid OverflowError
            timeout = self._timeout
            if timeout == 0:
                raise ValueError("non-blocking sockets are not supported")
            total_sent = 0
            try:
                while True:
                    if count:
                        blocksize = count - total_sent
                        if blocksize <= 0:
                            break
                    try:
                        sent = _os_sendfile(sockno, fileno, offset, blocksize)
                    except BlockingIOError:
                        self._wait_writable(timeout)
                        continue
                    except OSError as err:
                        if total_sent == 0:
                            raise _GiveupOnSendfile(err) from None   # e.g. not mmap-able
                        raise err from None
                    if sent == 0:
                        break                                     # end of file
                    offset += sent
                    total_sent += sent
                return total_sent
            finally:
                if total_sent > 0 and hasattr(file, "seek"):
                    file.seek(offset)

    # -- connecting ------------------------------------------------------------------------------

    def connect(self, address) -> None:
        if self._timeout == 0.0:
            return _connect(self, _resolve_address(self, address))
        err = self._connect(address)
        if err:
            if err == _TIMED_OUT:
                raise _timed_out()
            raise OSError(err, _os.strerror(err))   # the OSError subclass for err
        return None

    def connect_ex(self, address) -> int:
        if self._timeout == 0.0:
            return _connect_ex(self, _resolve_address(self, address))
        err = self._connect(address)
        return _errno.EAGAIN if err == _TIMED_OUT else err

    def _connect(self, address) -> int:
        """Start the connection; on EINPROGRESS wait until writable and read SO_ERROR."""
        err = _connect_ex(self, _resolve_address(self, address))
        if err != _EINPROGRESS:
            return err                              # 0: connected at once; else it failed
        poller = self._poller = _get_hub().poller
        if not poller.wait_write(_fileno(self), self._timeout):
            return _TIMED_OUT
        return _getsockopt(self, _SOL_SOCKET, _SO_ERROR)

    # -- closing ---------------------------------------------------------------------------------

    def _forget(self, _fileno=_fileno) -> None:
        # (globals are bound as defaults: this also runs from __del__ at interpreter exit)
        poller = self._poller
        self._rd = None
        if poller is not None:
            self._poller = None
            fd = _fileno(self)
            if fd >= 0:
                poller.forget(fd)

    def _real_close(self, _ss=_socket.socket) -> None:
        # Waiters get EBADF and the poller drops the descriptor *before* its number is free.
        self._forget()
        _ss.close(self)

    def detach(self) -> int:
        self._forget()
        if self._timeout is None and _fileno(self) >= 0:
            _c_setblocking(self, True)    # hand the descriptor back as the stdlib would
        return _StdSocket.detach(self)

    def __del__(self) -> None:
        # Dropped without close(): the C finalizer will close the descriptor, so forget it
        # first, for the same reason as in _real_close.
        try:
            if self._poller is not None:     # not already forgotten (closed): a call saved
                self._forget()
        except Exception:  # noqa: BLE001 - interpreter shutdown, half-initialised object
            pass
        _c_del(self)


SocketType = _stdsocket.SocketType


# ---------------------------------------------------------------------------------------------
# Module-level functions that create sockets
# ---------------------------------------------------------------------------------------------

def _adopt(sock) -> socket:
    """A stdlib socket object turned into one of ours (same descriptor)."""
    family, type_, proto = _c_family(sock), _c_type(sock), _c_proto(sock)
    return socket(family, type_, proto, sock.detach())


def socketpair(family=None, type=_stdsocket.SOCK_STREAM, proto=0):  # noqa: A002
    """A connected pair of cooperative sockets (AF_UNIX by default), as ``socket.socketpair``."""
    if family is None:
        family = _stdsocket.AF_UNIX
    a, b = _socket.socketpair(family, type, proto)
    return _adopt(a), _adopt(b)


def fromfd(fd: int, family, type, proto: int = 0) -> socket:  # noqa: A002
    """A cooperative socket on a duplicate of ``fd``, as ``socket.fromfd``."""
    return socket(family, type, proto, _socket.dup(fd))


def create_server(address, *, family=_stdsocket.AF_INET, backlog=None, reuse_port=False,
                  dualstack_ipv6=False) -> socket:
    """``socket.create_server`` returning a cooperative listening socket (nothing here blocks)."""
    return _adopt(_std_create_server(address, family=family, backlog=backlog,
                                     reuse_port=reuse_port, dualstack_ipv6=dualstack_ipv6))


def create_connection(address, timeout=_GLOBAL_DEFAULT_TIMEOUT, source_address=None, *,
                      all_errors: bool = False) -> socket:
    """``socket.create_connection``: resolve (in the pool for names), try each address."""
    host, port = address
    exceptions = []
    for af, socktype, proto, _canonname, sa in getaddrinfo(host, port, 0,
                                                           _stdsocket.SOCK_STREAM):
        sock = None
        try:
            sock = socket(af, socktype, proto)
            if timeout is not _GLOBAL_DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sa)
            exceptions.clear()       # break the reference cycle, as the stdlib does
            return sock
        except OSError as exc:
            if not all_errors:
                exceptions.clear()
            exceptions.append(exc)
            if sock is not None:
                sock.close()
    if exceptions:
        try:
            if not all_errors:
                raise exceptions[0]
            raise ExceptionGroup("create_connection failed", exceptions)
        finally:
            exceptions.clear()
    raise OSError("getaddrinfo returns an empty list")


def close(fd: int) -> None:
    """``socket.close(fd)``: forget ``fd`` in this OS thread's hub, then close it."""
    hub = getattr(_tls, "hub", None)
    if hub is not None and not hub.closed:
        hub.poller.forget(fd)
    _socket.close(fd)


# ---------------------------------------------------------------------------------------------
# Name resolution: numeric at once, names in the kernel-thread pool
# ---------------------------------------------------------------------------------------------

_std_getaddrinfo = _stdsocket.getaddrinfo
_AI_NUMERICHOST = _stdsocket.AI_NUMERICHOST
_NI_NUMERIC = _stdsocket.NI_NUMERICHOST | _stdsocket.NI_NUMERICSERV
_inet_pton = _stdsocket.inet_pton


def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):  # noqa: A002
    """``socket.getaddrinfo``; a host that is not numeric is resolved in the thread pool."""
    try:
        return _std_getaddrinfo(host, port, family, type, proto, flags | _AI_NUMERICHOST)
    except _gaierror:
        if flags & _AI_NUMERICHOST:
            raise
    return _blocking(_std_getaddrinfo, host, port, family, type, proto, flags)


def gethostbyname(hostname: str) -> str:
    try:
        _inet_pton(_AF_INET, hostname)
        return hostname
    except (OSError, TypeError, ValueError):
        pass
    return _blocking(_std_gethostbyname, hostname)


def gethostbyname_ex(hostname: str):
    return _blocking(_std_gethostbyname_ex, hostname)


def gethostbyaddr(ip_address: str):
    return _blocking(_std_gethostbyaddr, ip_address)


def getnameinfo(sockaddr, flags: int):
    if flags & _NI_NUMERIC == _NI_NUMERIC:
        return _std_getnameinfo(sockaddr, flags)
    return _blocking(_std_getnameinfo, sockaddr, flags)


def getfqdn(name: str = "") -> str:
    return _blocking(_std_getfqdn, name)


def _resolve_address(sock, address):
    """An (host, port, ...) address whose host is a name, resolved without blocking the hub."""
    family = _c_family(sock)
    if (family != _AF_INET and family != _AF_INET6) or address.__class__ is not tuple \
            or len(address) < 2:
        return address
    host = address[0]
    if host.__class__ is not str or not host or host == "<broadcast>":
        return address
    try:
        _inet_pton(family, host)
        return address
    except (OSError, ValueError):
        pass
    sa = getaddrinfo(host, address[1], family, _c_type(sock))[0][4]
    if len(address) > 2:
        sa = sa[:2] + address[2:]
    return sa
