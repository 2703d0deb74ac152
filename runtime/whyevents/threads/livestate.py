"""Live state of parked threads, measured: the bytes a thread holds while it waits.

The static side (``whyevents.analysis.liveness``) says which locals a frame holds across a
blocking call; this probe measures what they come to. It is a function called on demand, so it
costs nothing when unused (nothing is added to any switch or park path). Per thread:

``frames``        Python frames in the thread's chain at its blocking point (``gr_frame`` and
                  ``f_back`` up to the thread's first frame);
``frame_bytes``   their sizes (``sys.getsizeof`` of each frame: header, locals, value stack);
``c_stack_bytes`` the slice of C stack greenlet copied out when the thread switched away
                  (greenlet's ``_stack_saved``; 0 where greenlet does not say);
``object_bytes``  the objects the frames' locals reach that belong to this thread alone (below);
``bytes``         the sum, plus the thread and greenlet objects themselves.

**Private objects.** From each frame's locals (and a bound method's ``__self__``) the probe walks
containers, instance ``__dict__``/``__slots__`` and sizes each object once (``sys.getsizeof``),
bounded in depth (``depth``) and count (``limit``). It does not enter modules, classes,
functions, code objects or other frames. An object reached from more than one measured thread
(the server, its page cache, a shared counter) is shared state, not this thread's: it is left
out of every thread's bytes and reported once as ``shared_bytes``. So with many threads of one
server, ``bytes`` is what each connection costs on its own: the thread's continuation. The same
walk sizes any other per-connection object (``object_state``), such as an event loop's state
record, so the two duals can be set side by side in bytes.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterable

__all__ = ["thread_frames", "measure_threads", "object_state", "summarize"]

_SKIP = (types.ModuleType, type, types.FunctionType, types.CodeType, types.FrameType,
         types.BuiltinFunctionType, types.MethodWrapperType, types.WrapperDescriptorType)
_CONTAINERS = (list, tuple, set, frozenset)


def thread_frames(t) -> list:
    """The frames of green thread ``t`` (or a greenlet), innermost first."""
    g = getattr(t, "_g", t)
    frame = getattr(g, "gr_frame", None) if g is not None else None
    out = []
    while frame is not None:
        out.append(frame)
        frame = frame.f_back
    return out


def _reach(roots: Iterable, depth: int, limit: int) -> dict[int, object]:
    """id -> object for everything ``roots`` reach (bounded), roots included."""
    seen: dict[int, object] = {}
    level = [r for r in roots if r is not None]
    for _ in range(depth + 1):
        nxt = []
        for o in level:
            i = id(o)
            if i in seen or isinstance(o, _SKIP) or len(seen) >= limit:
                continue
            seen[i] = o
            if isinstance(o, dict):
                nxt.extend(o.keys())
                nxt.extend(o.values())
            elif isinstance(o, _CONTAINERS):
                nxt.extend(o)
            elif isinstance(o, types.MethodType):
                nxt.append(o.__self__)
            else:
                d = getattr(o, "__dict__", None)
                if isinstance(d, dict):
                    nxt.append(d)
                for cls in type(o).__mro__:
                    for s in cls.__dict__.get("__slots__", ()):
                        if isinstance(s, str) and s not in ("__dict__", "__weakref__"):
                            nxt.append(getattr(o, s, None))
                self_ = getattr(o, "__self__", None)      # builtin bound method
                if self_ is not None and not isinstance(self_, types.ModuleType):
                    nxt.append(self_)
        level = nxt
        if not level:
            break
    return seen


def _roots_of(frames: list) -> list:
    roots = []
    for f in frames:
        roots.extend(f.f_locals.values())
    return roots


def measure_threads(threads: Iterable, *, depth: int = 6, limit: int = 20000,
                    exclude: Iterable = ()) -> tuple[list[dict], int]:
    """Per-thread records (see the module docstring) and the bytes of shared objects.

    ``exclude``: objects whose reach is shared by construction (the server object): left out of
    every thread's private bytes."""
    excluded = set(_reach(exclude, depth, limit * 4)) if exclude else set()
    per = []
    count: dict[int, int] = {}
    for t in threads:
        frames = thread_frames(t)
        reach = _reach(_roots_of(frames), depth, limit)
        for i in list(reach):
            if i in excluded:
                del reach[i]
            else:
                count[i] = count.get(i, 0) + 1
        per.append((t, frames, reach))
    out, shared = [], {}
    for t, frames, reach in per:
        own = 0
        for i, o in reach.items():
            if count[i] == 1:
                own += sys.getsizeof(o)
            else:
                shared[i] = o
        g = getattr(t, "_g", t)
        fb = sum(sys.getsizeof(f) for f in frames)
        cs = int(getattr(g, "_stack_saved", 0) or 0)
        objs = sys.getsizeof(g) + (sys.getsizeof(t) if t is not g else 0)
        out.append({"name": getattr(t, "name", repr(g)), "frames": len(frames),
                    "frame_bytes": fb, "c_stack_bytes": cs, "object_bytes": own,
                    "bytes": fb + cs + own + objs,
                    "where": _where(frames)})
    return out, sum(sys.getsizeof(o) for o in shared.values())


def object_state(objects: Iterable, *, depth: int = 6, limit: int = 20000,
                 exclude: Iterable = ()) -> tuple[list[int], int]:
    """Private bytes of each of ``objects`` (e.g. per-connection state records), with the same
    sharing rule as ``measure_threads``; and the shared bytes."""
    excluded = set(_reach(exclude, depth, limit * 4)) if exclude else set()
    reaches = []
    count: dict[int, int] = {}
    for o in objects:
        r = {i: x for i, x in _reach([o], depth, limit).items() if i not in excluded}
        for i in r:
            count[i] = count.get(i, 0) + 1
        reaches.append(r)
    shared = {}
    out = []
    for r in reaches:
        own = 0
        for i, x in r.items():
            if count[i] == 1:
                own += sys.getsizeof(x)
            else:
                shared[i] = x
        out.append(own)
    return out, sum(sys.getsizeof(x) for x in shared.values())


def _where(frames: list) -> str:
    if not frames:
        return "?"
    f = frames[0]
    return f"{f.f_code.co_filename}:{f.f_lineno} in {f.f_code.co_name}"


def summarize(values: list[float]) -> dict:
    """min / median / p90 / max / mean of a list (empty: all None)."""
    if not values:
        return {k: None for k in ("n", "min", "median", "p90", "max", "mean")}
    s = sorted(values)
    n = len(s)
    return {"n": n, "min": s[0], "median": s[n // 2], "p90": s[min(n - 1, (9 * n) // 10)],
            "max": s[-1], "mean": sum(s) / n}
