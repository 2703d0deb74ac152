"""One point of the thread-scaling experiment, run in a fresh subprocess (see ``scaling``).

Why a separate module and a separate process:

* **RSS deltas need a fresh heap.** ``bytes_per_thread`` is (RSS with N threads parked - RSS
  before) / N; in a process that has already grown and freed a heap the delta means nothing.
* **Kernel threads and frameworks leak state.** 30,000 kernel threads, gevent's hub or an
  asyncio loop must not outlive the point; the process ending is the cleanup that cannot fail.
* **A crash is a data point.** The worker writes what it has measured after every phase to a JSON
  file (atomically), so a point killed by the timeout or the OOM killer still tells the parent
  how far it got.

This module imports only the framework it measures (``whyevents.threads``, ``threading``,
``gevent``, ``asyncio`` or ``whyevents.threads.coro``) and nothing else of the package, so a
peer's numbers carry no whyevents baggage.

Phases, the same for every backend (each one's figures written when it ends):

1. warm-up: 100 threads park and are woken (loads the code paths, fills the allocator's pools);
2. spawn: N threads are started and each parks (on one shared condition, or each in ``recv`` on
   its own socketpair); ``spawn_us`` is wall time / N until all N are parked and
   ``bytes_per_thread`` the RSS delta / N (socketpairs are made before the clock starts: the
   thread is measured, not the socket);
3. yield: ``runnable`` extra threads yield in a loop (``sleep(0)``) for ``yield_window_s`` while the
   N stay parked: ``yields_per_s`` is the scheduler's switch rate with N threads alive, the O(1)
   property that let the paper's modified Pth "scale to 100,000 threads";
4. wake: all N are woken and run to the end; ``wake_all_s`` is the time until the last finished
   (at most ``wake_timeout_s``: beyond it the row says how many had finished, ``wake_cut``).

Between 2 and 3, green threads (``whyevents``) report their stack growth (``stack_figures``: the
C stack greenlet saved and the Python frame bytes per parked thread, median/p99/max, and what a
fixed-size stack would need for the worst), kernel threads the fixed stack each was given.

Kernel threads are started until the OS refuses (``RuntimeError``/``MemoryError`` at thread k)
or a safety cap (pid_max minus the threads the machine already runs minus a margin) is reached;
either way the k started threads are measured, woken and joined, and the point says why it
stopped. No system limit is ever raised (the optional ``rlimit_as_mb`` can only lower this
process's address-space limit).

Protocol: ``python -m whyevents.experiments.scaling_worker SPEC`` with SPEC JSON holding backend,
park, threads, runnable, yield_window_s, cap, kernel_stack_kib, rlimit_as_mb, cpu and out (the
result file).
"""

from __future__ import annotations

import gc
import json
import os
import resource
import sys
import traceback
from time import perf_counter

from whyevents.harness.procs import rss_bytes

WARMUP = 100
#: fds kept free for the interpreter, epoll, pipes and the result file in park=socket mode
FD_RESERVE = 400
#: pids left to the rest of the machine when capping kernel threads
PID_MARGIN = 2000


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def system_threads() -> int | None:
    """Kernel scheduling entities on the machine now (the 4th field of /proc/loadavg)."""
    try:
        with open("/proc/loadavg") as f:
            return int(f.read().split()[3].split("/")[1])
    except (OSError, ValueError, IndexError):
        return None


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def _mem_available() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def kernel_cap(margin: int = PID_MARGIN) -> tuple[int, str]:
    """How many more kernel threads this process may safely start, and why that many."""
    pid_max = _read_int("/proc/sys/kernel/pid_max") or 32768
    threads_max = _read_int("/proc/sys/kernel/threads-max")
    now = system_threads() or 0
    caps = [(pid_max - now - margin,
             f"pid_max {pid_max:,} - {now:,} threads already running - {margin:,} margin")]
    if threads_max:
        caps.append((threads_max - now - margin,
                     f"threads-max {threads_max:,} - {now:,} running - {margin:,} margin"))
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[0]
    if nproc != resource.RLIM_INFINITY and os.geteuid() != 0:
        caps.append((nproc - now - margin, f"RLIMIT_NPROC {nproc:,} - {now:,} running - margin"))
    cap, why = min(caps)
    return max(cap, 0), why


def socket_cap() -> tuple[int, str]:
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return (max((soft - FD_RESERVE) // 2, 0),
            f"park=socket needs 2 fds per thread: RLIMIT_NOFILE {soft:,} - {FD_RESERVE} reserved,"
            " halved")


def diagnose_refusal(k: int, exc: BaseException) -> str:
    """One line: thread k was refused, and which limit it was nearest to."""
    pid_max = _read_int("/proc/sys/kernel/pid_max")
    threads_max = _read_int("/proc/sys/kernel/threads-max")
    now = system_threads()
    parts, near = [], []
    if now is not None and pid_max:
        parts.append(f"{now:,} threads on the machine, pid_max {pid_max:,}")
        if now >= 0.95 * pid_max:
            near.append("pid_max")
    if now is not None and threads_max:
        parts.append(f"threads-max {threads_max:,}")
        if now >= 0.95 * threads_max:
            near.append("threads-max")
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[0]
    if nproc != resource.RLIM_INFINITY:
        root = os.geteuid() == 0
        parts.append(f"RLIMIT_NPROC {nproc:,}{' (not enforced for root)' if root else ''}")
        if not root and now is not None and now >= 0.95 * nproc:
            near.append("RLIMIT_NPROC")
    as_soft = resource.getrlimit(resource.RLIMIT_AS)[0]
    vm = _status_kib("VmSize")
    if as_soft != resource.RLIM_INFINITY and vm is not None:
        parts.append(f"VmSize {vm / 2**20:.2f} GiB of RLIMIT_AS {as_soft / 2**30:.2f} GiB")
        if vm * 1024 >= 0.9 * as_soft:
            near.append("RLIMIT_AS (address space)")
    avail = _mem_available()
    if avail is not None:
        parts.append(f"MemAvailable {avail / 2**30:.1f} GiB")
        if avail < 256 * 2**20:
            near.append("memory")
    why = " or ".join(near) if near else "no limit near: errno EAGAIN from clone()"
    return (f"OS refused thread {k + 1:,} after {k:,} started ({type(exc).__name__}: {exc}); "
            f"likely {why} [{'; '.join(parts)}]")


#: most threads whose frames the stack figures walk (a stride sample above it): reading
#: ``gr_frame``/``f_back`` materializes a frame object per frame, memory for every thread walked
FRAME_SAMPLE = 100_000
PAGE = 4096


def stack_default() -> int | None:
    """The stack a kernel thread gets by default (``threading.stack_size()`` 0): glibc gives a
    new pthread RLIMIT_STACK's soft limit; None when that is unlimited (glibc's built-in size)."""
    soft = resource.getrlimit(resource.RLIMIT_STACK)[0]
    return None if soft == resource.RLIM_INFINITY else soft


def _dist(values: list[int]) -> tuple:
    if not values:
        return None, None, None
    s = sorted(values)
    n = len(s)
    return s[n // 2], s[min(n - 1, (99 * n) // 100)], s[-1]


def stack_figures(greenlets: list) -> dict:
    """Stack growth of parked green threads, measured after the fact (nothing on a switch path).

    ``c_stack_*``      bytes of C stack greenlet copied to the heap for the thread when another
                       one needed its stack region (``_stack_saved``), every thread;
    ``frame_bytes_*``  the thread's Python frames at its blocking point (``sys.getsizeof`` of
                       each, ``gr_frame`` up the ``f_back`` chain), every thread up to
                       ``FRAME_SAMPLE`` and a stride sample of that many above;
    ``stack_needed_bytes``  what a fixed-size stack would have to be for the worst observed
                       thread: max C stack + max frame bytes, rounded up to a 4 KiB page (an
                       upper bound of any one thread's sum);
    ``stack_default_bytes`` a kernel thread's default stack here (``stack_default``)."""
    n = len(greenlets)
    stride = max(1, -(-n // FRAME_SAMPLE))
    cs, fr = [], []
    getsize = sys.getsizeof
    for i, g in enumerate(greenlets):
        cs.append(int(getattr(g, "_stack_saved", 0) or 0))
        if i % stride == 0:
            b, f = 0, g.gr_frame
            while f is not None:
                b += getsize(f)
                f = f.f_back
            fr.append(b)
    c_med, c_p99, c_max = _dist(cs)
    f_med, f_p99, f_max = _dist(fr)
    need = None
    if c_max is not None and f_max is not None:
        need = -(-(c_max + f_max) // PAGE) * PAGE
    return {"c_stack_median": c_med, "c_stack_p99": c_p99, "c_stack_max": c_max,
            "frame_bytes_median": f_med, "frame_bytes_p99": f_p99, "frame_bytes_max": f_max,
            "stack_sampled": len(fr), "stack_needed_bytes": need,
            "stack_default_bytes": stack_default()}


class Result:
    """The point's figures so far, rewritten atomically after every phase."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.data: dict = {"status": "running", "phase": "start", "pid": os.getpid()}

    def update(self, **kw) -> None:
        self.data.update(kw)
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.data, f)
        os.replace(tmp, self.path)


# ---------------------------------------------------------------------------------------------
# Backends written in blocking style: whyevents, kernel, gevent share one driver
# ---------------------------------------------------------------------------------------------

class _Sync:
    """What the blocking-style driver needs from a backend (subclasses fill every method)."""

    name = ""

    def spawn(self, fn, *args):
        raise NotImplementedError

    def yield_(self) -> None:
        raise NotImplementedError

    def sleep(self, s: float) -> None:
        raise NotImplementedError

    def wait_until(self, pred) -> None:
        raise NotImplementedError

    def gate(self):
        raise NotImplementedError

    def socketpair(self):
        raise NotImplementedError

    def wait_parked(self, parked: list, k: int, handles: list) -> None:
        self.wait_until(lambda: len(parked) >= k)

    def run(self, main):
        return main()

    def alive(self) -> int | None:
        return None

    def finish(self, handles) -> None:
        """Reap the threads after they were woken (kernel threads are joined)."""


class _CondGate:
    """N threads park on one condition until ``open``; the idiom of threading.Condition."""

    def __init__(self, condition_cls) -> None:
        self.cond = condition_cls()
        self.go = False

    def wait(self, parked: list) -> None:
        cond = self.cond
        with cond:
            parked.append(1)
            while not self.go:
                cond.wait()

    def open(self) -> None:
        with self.cond:
            self.go = True
            self.cond.notify_all()


class _EventGate:
    """gevent has no Condition: its idiom for "park until told" is ``gevent.event.Event``."""

    def __init__(self, event_cls) -> None:
        self.ev = event_cls()

    def wait(self, parked: list) -> None:
        parked.append(1)
        self.ev.wait()

    def open(self) -> None:
        self.ev.set()


class _Whyevents(_Sync):
    name = "whyevents"

    def __init__(self) -> None:
        from whyevents import threads
        from whyevents.threads import socket as gsocket
        self.th, self.gsocket = threads, gsocket

    def spawn(self, fn, *args):
        return self.th.spawn(fn, *args)

    def yield_(self) -> None:
        self.th.sleep(0)

    def sleep(self, s: float) -> None:
        self.th.sleep(s)

    def wait_until(self, pred) -> None:
        sleep = self.th.sleep
        while not pred():
            sleep(0)

    def gate(self):
        return _CondGate(self.th.Condition)

    def socketpair(self):
        return self.gsocket.socketpair()

    def run(self, main):
        return self.th.run(main)

    def alive(self) -> int | None:
        return self.th.stats()["threads"]

    def stack_figures(self, handles: list) -> dict:
        """Stack growth (paper section 4) of the parked threads: the C stack greenlet saved for
        each (``_stack_saved``) and its Python frames' bytes, as distributions; see
        ``stack_figures``."""
        return stack_figures([t._g for t in handles])


class _Kernel(_Sync):
    name = "kernel"

    def __init__(self, stack_kib: int) -> None:
        import socket
        import threading
        import time
        self.threading, self.socket, self.time = threading, socket, time
        if stack_kib:
            threading.stack_size(stack_kib * 1024)
        import signal
        self._starting, self._started, self._seen = False, 0, -1
        signal.signal(signal.SIGALRM, self._watchdog)
        signal.setitimer(signal.ITIMER_REAL, 2.0, 2.0)

    def spawn(self, fn, *args):
        t = self.threading.Thread(target=fn, args=args, daemon=True)
        self._starting = True
        t.start()               # RuntimeError("can't start new thread") when the OS refuses
        self._starting = False
        self._started += 1
        return t

    def _watchdog(self, signum, frame) -> None:
        """SIGALRM every 2 s: a ``start()`` that has made no progress since the last tick is
        hung (the new thread died in its bootstrap, e.g. MemoryError under RLIMIT_AS, and
        ``threading`` waits forever for it to say it started): raise in the main thread."""
        if self._starting and self._started == self._seen:
            self._starting = False
            raise RuntimeError(f"thread {self._started + 1:,} was created but never ran "
                               "(its bootstrap failed: MemoryError?)")
        self._seen = self._started

    def wait_parked(self, parked: list, k: int, handles: list) -> None:
        """As the others, but a thread that died before parking (MemoryError in its body)
        fails the point instead of hanging it."""
        sleep, i = self.time.sleep, 0
        while len(parked) < k:
            sleep(0.0005)
            i += 1
            if i % 400 == 0:
                dead = sum(1 for t in handles if not t.is_alive())
                if dead and len(parked) < k:
                    raise _Refused(f"{dead:,} of {k:,} kernel threads died before parking "
                                   "(see the worker's stderr; MemoryError?)")

    def yield_(self) -> None:
        self.time.sleep(0)      # releases the GIL: the other runnable threads get it

    def sleep(self, s: float) -> None:
        self.time.sleep(s)

    def wait_until(self, pred) -> None:
        sleep = self.time.sleep
        while not pred():
            sleep(0.0005)

    def gate(self):
        return _CondGate(self.threading.Condition)

    def socketpair(self):
        return self.socket.socketpair()

    def alive(self) -> int | None:
        return self.threading.active_count()

    def stack_figures(self, handles: list) -> dict:
        """A kernel thread's stack is fixed when it starts: what each of these was given."""
        size = self.threading.stack_size()
        return {"stack_fixed_bytes": size or stack_default(), "stack_default_bytes":
                stack_default()}

    def finish(self, handles) -> None:
        for t in handles:
            t.join(5.0)


class _Gevent(_Sync):
    name = "gevent"

    def __init__(self) -> None:
        import gevent
        import gevent.event
        import gevent.socket
        self.gevent = gevent

    def spawn(self, fn, *args):
        return self.gevent.spawn(fn, *args)

    def yield_(self) -> None:
        self.gevent.sleep(0)

    def sleep(self, s: float) -> None:
        self.gevent.sleep(s)

    def wait_until(self, pred) -> None:
        sleep = self.gevent.sleep
        while not pred():
            sleep(0)

    def gate(self):
        return _EventGate(self.gevent.event.Event)

    def socketpair(self):
        return self.gevent.socket.socketpair()


def _parker_cond(gate, parked: list, done: list) -> None:
    gate.wait(parked)
    done.append(1)


def _parker_sock(sock, parked: list, done: list) -> None:
    parked.append(1)
    sock.recv(1)
    done.append(1)


def _yielder(b: _Sync, counts: list, i: int, stop: list) -> None:
    y = b.yield_
    while not stop[0]:
        counts[i] += 1
        y()


def _spawn_parkers(b: _Sync, n: int, pairs: list, gate, parked: list,
                   done: list) -> tuple[list, BaseException | None]:
    """Start ``n`` parkers (each in ``recv`` on its socketpair's far end when ``gate`` is None,
    else on ``gate``); returns the handles of those started and the refusal that stopped the
    loop early (None when all started)."""
    handles: list = []
    try:
        for i in range(n):
            if gate is None:
                handles.append(b.spawn(_parker_sock, pairs[i][1], parked, done))
            else:
                handles.append(b.spawn(_parker_cond, gate, parked, done))
    except (RuntimeError, MemoryError) as e:
        return handles, e
    return handles, None


def _stack_phase(b: _Sync, handles: list, out: dict, res: Result) -> None:
    """Stack growth, measured with the parked threads after the clock and RSS were read (green
    threads: what greenlet saved and the frames; kernel threads: the stack each was given)."""
    figures = getattr(b, "stack_figures", None)
    if figures is not None and handles:
        out.update(figures(handles))
        res.update(phase="stack", **out)


def _yield_phase(b: _Sync, spec: dict, handles: list, out: dict) -> None:
    """The scheduler's switch rate with the parked threads alive: ``runnable`` yielders loop on
    ``yield_`` for ``yield_window_s``; their yields over the window's wall time."""
    k = len(handles)
    R = spec["runnable"]
    counts, stop = [0] * R, [False]
    ys = []
    try:
        for i in range(R):
            ys.append(b.spawn(_yielder, b, counts, i, stop))
    except (RuntimeError, MemoryError) as e:
        out["refused"] = out.get("refused") or (
            f"{k:,} threads parked, then yielder {len(ys) + 1} refused: "
            + diagnose_refusal(k + len(ys), e))
    if len(ys) == R:
        window = spec["yield_window_s"]
        b.sleep(min(0.05, window / 5))          # warm-up: every yielder has run
        alive = b.alive()
        if alive is None:           # gevent keeps no registry: count the handles
            alive = sum(1 for h in handles + ys if _alive(h))
        out["runtime_alive"] = alive
        c0, w0 = sum(counts), perf_counter()
        b.sleep(window)
        c1, w1 = sum(counts), perf_counter()
        out.update(yields_per_s=(c1 - c0) / (w1 - w0), yields=c1 - c0)
    stop[0] = True
    b.wait_until(lambda: all(not _alive(y) for y in ys))


def _wake_all(b: _Sync, spec: dict, pairs: list, gate, done: list, k: int) -> float | None:
    """Wake every parker (a byte on each socketpair, or ``gate`` opened) and wait until the
    ``k`` have run to the end, or ``wake_timeout_s`` passed; returns that limit (None: none)."""
    if gate is None:
        for a, _ in pairs:
            a.send(b"x")
    else:
        gate.open()
    # bounded: N kernel threads woken on one core convoy on the GIL and the condition's
    # lock, superlinearly in N (tens of seconds at 10,000, many minutes at twice that)
    limit = spec.get("wake_timeout_s")
    cut_at = perf_counter() + limit if limit else None
    b.wait_until(lambda: len(done) >= k or (cut_at is not None and perf_counter() > cut_at))
    return limit


def _woken_figures(done: list, k: int, limit: float | None, t2: float) -> dict:
    """The wake phase's figures: the time until the last parker finished, or how many had when
    the wait was cut at ``limit``."""
    if len(done) >= k:
        return {"wake_all_s": perf_counter() - t2, "woken": len(done)}
    return {"wake_all_s": None, "woken": len(done),
            "wake_cut": f"{len(done):,} of {k:,} threads had run to the end "
                        f"{limit:g} s after the wake: the wake phase was cut short"}


def _sync_point(b: _Sync, spec: dict, res: Result, target: int) -> dict:
    """The four phases (module docstring) for a blocking-style backend; returns the figures."""
    socket_mode = spec["park"] == "socket"
    out: dict = {}

    def cycle(n: int, phase: bool) -> None:
        parked: list = []
        done: list = []
        pairs = [b.socketpair() for _ in range(n)] if socket_mode else []
        gate = None if socket_mode else b.gate()
        if phase:
            gc.collect()
            r0, t0 = rss_bytes(), perf_counter()
        handles, refusal = _spawn_parkers(b, n, pairs, gate, parked, done)
        if refusal is not None:
            if not phase:           # refused during the warm-up: nothing to measure
                raise _Refused("during the warm-up: "
                               + diagnose_refusal(len(handles), refusal)) from refusal
            out["refused"] = diagnose_refusal(len(handles), refusal)
        k = len(handles)
        b.wait_parked(parked, k, handles)
        if phase:
            t1, r1 = perf_counter(), rss_bytes()
            out.update(started=k, parked=len(parked), spawn_s=t1 - t0,
                       spawn_us=(t1 - t0) / k * 1e6 if k else None, rss_before=r0,
                       rss_bytes=r1, bytes_per_thread=(r1 - r0) / k if k else None)
            res.update(phase="spawned", **out)
            _stack_phase(b, handles, out, res)
            _yield_phase(b, spec, handles, out)
            res.update(phase="yielded", **out)
            t2 = perf_counter()
        limit = _wake_all(b, spec, pairs, gate, done, k)
        if phase:
            out.update(_woken_figures(done, k, limit, t2))
            res.update(phase="woken", **out)
        if len(done) < k:
            return                  # the rest stay blocked; the worker exits without them
        b.finish(handles)
        for a, c in pairs:
            a.close()
            c.close()

    def main() -> None:
        res.update(phase="warm-up")
        cycle(WARMUP, False)
        cycle(target, True)

    b.run(main)
    return out


class _Refused(RuntimeError):
    """The OS refused a thread where nothing can be measured (the message says why)."""


def _alive(h) -> bool:
    f = getattr(h, "is_alive", None)
    if f is not None:
        return f()
    return not h.dead            # gevent Greenlet


# ---------------------------------------------------------------------------------------------
# asyncio: the same phases in coroutine style
# ---------------------------------------------------------------------------------------------

async def _aio_park_cond(cond, state: list, parked: list, done: list) -> None:
    async with cond:
        parked.append(1)
        while not state[0]:
            await cond.wait()
    done.append(1)


async def _aio_park_sock(loop, sock, parked: list, done: list) -> None:
    parked.append(1)
    await loop.sock_recv(sock, 1)
    done.append(1)


async def _aio_yielder(sleep, counts: list, i: int, stop: list) -> None:
    while not stop[0]:
        counts[i] += 1
        await sleep(0)


async def _aio_wait_until(sleep, pred) -> None:
    while not pred():
        await sleep(0)


def _aio_socketpairs(n: int) -> list:
    """``n`` non-blocking socketpairs, made before the clock starts (the socket is not measured)."""
    import socket

    pairs = []
    for _ in range(n):
        a, c = socket.socketpair()
        a.setblocking(False)
        c.setblocking(False)
        pairs.append((a, c))
    return pairs


async def _aio_yield_phase(spec: dict, out: dict) -> None:
    """The loop's switch rate with the parked tasks alive: ``runnable`` yielder tasks, each
    ``await sleep(0)`` in a loop, over ``yield_window_s``."""
    import asyncio

    sleep = asyncio.sleep
    create = asyncio.get_running_loop().create_task
    R = spec["runnable"]
    counts, stop = [0] * R, [False]
    ys = [create(_aio_yielder(sleep, counts, i, stop)) for i in range(R)]
    window = spec["yield_window_s"]
    await sleep(min(0.05, window / 5))
    out["runtime_alive"] = len(asyncio.all_tasks())
    c0, w0 = sum(counts), perf_counter()
    await sleep(window)
    c1, w1 = sum(counts), perf_counter()
    stop[0] = True
    await asyncio.gather(*ys)
    out.update(yields_per_s=(c1 - c0) / (w1 - w0), yields=c1 - c0)


def _asyncio_point(spec: dict, res: Result, target: int) -> dict:
    """The four phases for asyncio: tasks park on one ``asyncio.Condition`` (or each in
    ``sock_recv`` on its socketpair); the rest as ``_sync_point``."""
    import asyncio

    socket_mode = spec["park"] == "socket"
    out: dict = {}
    sleep = asyncio.sleep

    async def cycle(n: int, phase: bool) -> None:
        loop = asyncio.get_running_loop()
        parked: list = []
        done: list = []
        pairs = _aio_socketpairs(n) if socket_mode else []
        cond, state = asyncio.Condition(), [False]
        if phase:
            gc.collect()
            r0, t0 = rss_bytes(), perf_counter()
        create = loop.create_task
        if socket_mode:
            tasks = [create(_aio_park_sock(loop, pairs[i][1], parked, done)) for i in range(n)]
        else:
            tasks = [create(_aio_park_cond(cond, state, parked, done)) for _ in range(n)]
        await _aio_wait_until(sleep, lambda: len(parked) >= n)
        if phase:
            t1, r1 = perf_counter(), rss_bytes()
            out.update(started=n, parked=len(parked), spawn_s=t1 - t0, spawn_us=(t1 - t0) / n * 1e6,
                       rss_before=r0, rss_bytes=r1, bytes_per_thread=(r1 - r0) / n)
            res.update(phase="spawned", **out)
            await _aio_yield_phase(spec, out)
            res.update(phase="yielded", **out)
            t2 = perf_counter()
        if socket_mode:
            for a, _ in pairs:
                a.send(b"x")
        else:
            async with cond:
                state[0] = True
                cond.notify_all()
        await _aio_wait_until(sleep, lambda: len(done) >= n)
        if phase:
            out.update(wake_all_s=perf_counter() - t2, woken=len(done))
            res.update(phase="woken", **out)
        await asyncio.gather(*tasks)
        for a, c in pairs:
            a.close()
            c.close()

    async def main():
        res.update(phase="warm-up")
        await cycle(WARMUP, False)
        await cycle(target, True)

    asyncio.run(main())
    return out


# ---------------------------------------------------------------------------------------------
# Compiler-transformed threads (threads.coro): the same phases, async def on an O(1) loop
# ---------------------------------------------------------------------------------------------

def _coro_point(spec: dict, res: Result, target: int) -> dict:
    from whyevents.threads import coro

    if spec["park"] == "socket":
        raise _Refused("coro has no poller: park=socket cannot be measured (park=condition)")
    out: dict = {}

    async def parker(cond, state, parked, done):
        parked.append(1)
        while not state[0]:
            await cond.wait()
        done.append(1)

    async def yielder(counts, i, stop):
        sleep = coro.sleep
        while not stop[0]:
            counts[i] += 1
            await sleep(0)

    async def wait_until(pred):
        while not pred():
            await coro.sleep(0)

    async def cycle(n: int, phase: bool) -> None:
        parked: list = []
        done: list = []
        cond, state = coro.Condition(), [False]
        if phase:
            gc.collect()
            r0, t0 = rss_bytes(), perf_counter()
        spawn = coro.spawn
        for _ in range(n):
            spawn(parker(cond, state, parked, done))
        await wait_until(lambda: len(parked) >= n)
        if phase:
            t1, r1 = perf_counter(), rss_bytes()
            out.update(started=n, parked=len(parked), spawn_s=t1 - t0, spawn_us=(t1 - t0) / n * 1e6,
                       rss_before=r0, rss_bytes=r1, bytes_per_thread=(r1 - r0) / n)
            res.update(phase="spawned", **out)
            R = spec["runnable"]
            counts, stop = [0] * R, [False]
            for i in range(R):
                spawn(yielder(counts, i, stop))
            window = spec["yield_window_s"]
            await coro.sleep(min(0.05, window / 5))
            out["runtime_alive"] = n + R + 1
            c0, w0 = sum(counts), perf_counter()
            await coro.sleep(window)
            c1, w1 = sum(counts), perf_counter()
            stop[0] = True
            await coro.sleep(0)
            out.update(yields_per_s=(c1 - c0) / (w1 - w0), yields=c1 - c0)
            res.update(phase="yielded", **out)
            t2 = perf_counter()
        state[0] = True
        cond.notify_all()
        await wait_until(lambda: len(done) >= n)
        if phase:
            out.update(wake_all_s=perf_counter() - t2, woken=len(done))
            res.update(phase="woken", **out)

    async def main():
        res.update(phase="warm-up")
        await cycle(WARMUP, False)
        await cycle(target, True)

    coro.run(main())
    return out


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------

def run_point(spec: dict, res: Result) -> None:
    backend, n = spec["backend"], spec["threads"]
    caps: list[tuple[int, str]] = []
    if spec.get("cap"):
        caps.append((spec["cap"], f"cap parameter {spec['cap']:,}"))
    elif backend == "kernel":
        caps.append(kernel_cap())
    if spec["park"] == "socket":
        caps.append(socket_cap())
    target, why = min(caps) if caps else (n, "")
    target = min(target, n)
    capped = target < n
    res.update(phase="setup", target=target, cap=target if capped else None,
               cap_reason=why if capped else None, affinity=sorted(os.sched_getaffinity(0)))
    if target < 1:
        res.update(status="failed", error=f"no {backend} thread may be started: {why}")
        return
    if backend == "asyncio":
        out = _asyncio_point(spec, res, target)
    elif backend == "coro":
        out = _coro_point(spec, res, target)
    else:
        if backend == "whyevents":
            b: _Sync = _Whyevents()
        elif backend == "kernel":
            b = _Kernel(spec.get("kernel_stack_kib", 64))
        elif backend == "gevent":
            b = _Gevent()
        else:
            raise ValueError(f"backend: unknown {backend!r}")
        out = _sync_point(b, spec, res, target)
    error = None
    if out.get("refused"):
        error = out["refused"]
    elif capped:
        error = (f"stopped at {target:,} of {n:,} {backend} threads (cap: {why}); "
                 "no system limit is raised")
    res.update(status="failed" if error else "ok", error=error, phase="done", **out)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    spec = json.loads(argv[0])
    res = Result(spec["out"])
    try:
        cpu = spec.get("cpu")
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
        if spec.get("rlimit_as_mb"):
            lim = spec["rlimit_as_mb"] * 2**20
            hard = resource.getrlimit(resource.RLIMIT_AS)[1]
            if hard != resource.RLIM_INFINITY:
                lim = min(lim, hard)        # only ever lowered
            resource.setrlimit(resource.RLIMIT_AS, (lim, hard))
        run_point(spec, res)
    except _Refused as e:
        res.update(status="failed", error=str(e)[:600])
    except BaseException as e:  # noqa: BLE001 - recorded; the parent turns it into a failed row
        tb = traceback.format_exc(limit=6)
        res.update(status="failed", traceback=tb,
                   error=f"{type(e).__name__} during {res.data.get('phase')}: {e}"[:600])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)     # no teardown of a million objects: the results are on disk


if __name__ == "__main__":
    main()
