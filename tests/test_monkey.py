"""monkey.patch_all(): unmodified stdlib threaded code runs on green threads.

Patching changes the whole process, so every test that patches runs a small program in a
subprocess (``patched_program``) that prints one ``RESULT <json>`` line; the test asserts on that.
``local`` and the cooperative ``select`` functions are also tested in-process, unpatched.
Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import gc
import json
import socket
import subprocess
import sys
import textwrap
import weakref

import pytest

from whyevents import threads
from whyevents.threads import select as gselect
from whyevents.threads.local import local as green_local

pytestmark = pytest.mark.runtime

PATCH = "from whyevents.threads import monkey\nmonkey.patch_all()\n"


def run_program(tmp_path, body: str, *, patch: bool = True, timeout: float = 60):
    """Run ``body`` as a plain script (``patch_all()`` first unless ``patch`` is False)."""
    script = tmp_path / "program.py"
    script.write_text((PATCH if patch else "") + textwrap.dedent(body))
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=timeout)


def patched_program(tmp_path, body: str, **kw) -> dict:
    """Run the program; it must exit 0 and print ``RESULT <json>``; return that object."""
    proc = run_program(tmp_path, body, **kw)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, f"no RESULT line\n{proc.stdout}\n{proc.stderr}"
    return json.loads(lines[-1][len("RESULT "):])


# ---------------------------------------------------------------------------------------------
# Real-world stdlib servers and pools
# ---------------------------------------------------------------------------------------------

def test_threading_http_server_serves_50_concurrent_green_urllib_clients(tmp_path):
    r = patched_program(tmp_path, """
        import http.server, json, threading, time, urllib.request
        from whyevents import threads

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                time.sleep(0.02)                 # every request is in flight at once
                body = f"hello {self.path}".encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        port = server.server_address[1]
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        got = {}
        def client(i):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/c{i}", timeout=30) as resp:
                got[i] = [resp.status, resp.read().decode()]
        clients = [threading.Thread(target=client, args=(i,)) for i in range(50)]
        for c in clients:
            c.start()
        for c in clients:
            c.join()
        server.shutdown()
        server.server_close()
        print("RESULT " + json.dumps({"got": got, "native": threading.get_native_id(),
                                      "spawns": threads.stats()["spawns"]}))
    """)
    assert r["got"] == {str(i): [200, f"hello /c{i}"] for i in range(50)}
    assert r["spawns"] >= 100        # 50 clients + 50 handler threads, all green


def test_socketserver_threading_tcp_server_echoes(tmp_path):
    r = patched_program(tmp_path, """
        import json, socket, socketserver, threading

        class Echo(socketserver.BaseRequestHandler):
            def handle(self):
                self.request.sendall(self.request.recv(100).upper())

        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        out = []
        def client(i):
            with socket.create_connection(server.server_address, timeout=30) as c:
                c.sendall(b"abc%d" % i)
                out.append(c.recv(100).decode())
        cs = [threading.Thread(target=client, args=(i,)) for i in range(20)]
        [c.start() for c in cs]
        [c.join() for c in cs]
        server.shutdown()
        server.server_close()
        print("RESULT " + json.dumps(sorted(out)))
    """)
    assert r == sorted(f"ABC{i}" for i in range(20))


def test_thread_pool_executor_map_submit_shutdown(tmp_path):
    r = patched_program(tmp_path, """
        import json, threading, time
        from concurrent.futures import ThreadPoolExecutor

        def square(x):
            time.sleep(0.001)
            return x * x, threading.get_ident()

        with ThreadPoolExecutor(max_workers=8) as ex:
            results = list(ex.map(square, range(100)))
            fut = ex.submit(square, 12)
            value = fut.result(timeout=10)[0]
            failing = ex.submit(lambda: 1 / 0)
            error = type(failing.exception(timeout=10)).__name__
        ex.shutdown(wait=True)
        print("RESULT " + json.dumps({
            "squares": [v for v, _ in results], "value": value, "error": error,
            "workers": len({ident for _, ident in results}),
            "main": threading.get_ident()}))
    """)
    assert r["squares"] == [x * x for x in range(100)]
    assert r["value"] == 144
    assert r["error"] == "ZeroDivisionError"
    assert 1 <= r["workers"] <= 8


def test_threading_timer_fires_and_cancels(tmp_path):
    r = patched_program(tmp_path, """
        import json, threading, time
        fired = []
        t0 = time.monotonic()
        timer = threading.Timer(0.05, lambda: fired.append(time.monotonic() - t0))
        timer.start()
        cancelled = threading.Timer(0.05, lambda: fired.append("cancelled one fired"))
        cancelled.start()
        cancelled.cancel()
        timer.join()
        cancelled.join()
        print("RESULT " + json.dumps(fired))
    """)
    assert len(r) == 1 and r[0] >= 0.04


# ---------------------------------------------------------------------------------------------
# threading, _thread, time, queue
# ---------------------------------------------------------------------------------------------

def test_threading_local_is_per_green_thread_and_freed_when_it_ends(tmp_path):
    r = patched_program(tmp_path, """
        import json, threading, time, weakref
        from whyevents import threads

        data = threading.local()
        data.where = "main"
        refs, seen = [], {}

        class Payload:
            pass

        def work(i):
            assert not hasattr(data, "where")         # nothing leaks in from other threads
            data.i = i
            p = data.payload = Payload()
            refs.append(weakref.ref(p))
            del p
            time.sleep(0.001 * (i % 7))               # interleave the 100 threads
            seen[i] = data.i

        ts = [threading.Thread(target=work, args=(i,)) for i in range(100)]
        [t.start() for t in ts]
        [t.join() for t in ts]
        spawned = [threads.spawn(work, 100 + i) for i in range(20)]
        [t.join() for t in spawned]

        class WithInit(threading.local):
            def __init__(self, base):
                self.value = base + threads.current().ident
        init = WithInit(1000)
        other = threads.spawn(lambda: init.value).get()

        print("RESULT " + json.dumps({
            "ok": all(seen[i] == i for i in range(120)),
            "alive": sum(r() is not None for r in refs),
            "main": data.where, "main_has_i": hasattr(data, "i"),
            "init_main": init.value, "init_other": other,
            "local_is_ours": type(data).__module__}))
    """)
    assert r["ok"]
    assert r["alive"] == 0           # each thread's attributes died with it
    assert r["main"] == "main" and not r["main_has_i"]
    assert r["init_other"] != r["init_main"] and r["init_other"] > 1000
    assert r["local_is_ours"] == "whyevents.threads.local"


def test_time_sleep_in_100_threads_overlaps(tmp_path):
    r = patched_program(tmp_path, """
        import json, threading, time
        nap = 0.05
        t0 = time.monotonic()
        ts = [threading.Thread(target=time.sleep, args=(nap,)) for _ in range(100)]
        [t.start() for t in ts]
        [t.join() for t in ts]
        print("RESULT " + json.dumps({"elapsed": time.monotonic() - t0,
                                      "serial": 100 * nap}))
    """)
    assert r["elapsed"] < 0.5 * r["serial"]


def test_threading_api_on_green_threads(tmp_path):
    r = patched_program(tmp_path, """
        import _thread, json, threading, time
        from whyevents import threads

        out = {}
        gate = threading.Event()
        def worker():
            me = threading.current_thread()
            out["name"] = me.name
            out["ident_matches"] = me.ident == threading.get_ident() == _thread.get_ident()
            out["daemon"] = me.daemon
            gate.wait()

        t = threading.Thread(target=worker, name="worker-1", daemon=True)
        t.start()
        out["alive"] = t.is_alive()
        out["enumerate"] = sorted(x.name for x in threading.enumerate())
        out["active_count"] = threading.active_count()
        gate.set()
        t.join(5)
        out["alive_after"] = t.is_alive()
        out["main_is_main"] = threading.current_thread() is threading.main_thread()
        out["main_ident"] = threading.get_ident() == threading.main_thread().ident

        lock = _thread.allocate_lock()
        out["lock_types"] = [type(lock).__module__, isinstance(lock, _thread.LockType),
                             type(threading.Lock()).__module__,
                             type(threading.RLock()).__module__,
                             type(_thread.RLock()).__module__]
        done = threading.Event()
        lock.acquire()
        def release_it():
            lock.release()
            done.set()
        _thread.start_new_thread(release_it, ())
        out["started_via__thread"] = done.wait(5) and lock.acquire(timeout=5)

        # primitives from threading are ours and park green threads
        cond = threading.Condition()
        sem = threading.BoundedSemaphore(2)
        barrier = threading.Barrier(3)
        order = []
        def party(i):
            with sem:
                order.append(("in", i))
                time.sleep(0.01)
            barrier.wait()
            with cond:
                cond.wait_for(lambda: len(order) >= 6)
        ps = [threading.Thread(target=party, args=(i,)) for i in range(3)]
        [p.start() for p in ps]
        for i in range(3):
            with cond:
                order.append(("main", i))
                cond.notify_all()
        [p.join() for p in ps]
        out["order_len"] = len(order)
        # a green thread the threading module did not start
        out["spawned_current"] = threads.spawn(
            lambda: [threading.current_thread().name, threading.current_thread().is_alive(),
                     threading.get_ident() in threading._active]).get()
        print("RESULT " + json.dumps(out))
    """)
    assert r["name"] == "worker-1" and r["ident_matches"] and r["daemon"]
    assert r["alive"] and not r["alive_after"]
    assert r["enumerate"] == ["MainThread", "worker-1"] and r["active_count"] == 2
    assert r["main_is_main"] and r["main_ident"]
    assert r["lock_types"] == ["whyevents.threads.sync", True, "whyevents.threads.sync",
                               "whyevents.threads.sync", "whyevents.threads.sync"]
    assert r["started_via__thread"]
    assert r["order_len"] == 6
    name, alive, registered = r["spawned_current"]
    assert name.startswith("Thread-") and alive and not registered   # no _active leak


def test_queue_classes_are_green_and_block_cooperatively(tmp_path):
    r = patched_program(tmp_path, """
        import json, queue, threading, time
        out = {"types": [queue.Queue.__module__, queue.LifoQueue.__module__,
                         queue.PriorityQueue.__module__, queue.SimpleQueue.__module__]}
        q, sq, got, ticks = queue.Queue(maxsize=2), queue.SimpleQueue(), [], []
        def producer():
            for i in range(6):
                q.put(i)                         # blocks while the queue is full
            sq.put("done")
        def ticker():
            for _ in range(5):
                ticks.append(1)
                time.sleep(0.001)
        threading.Thread(target=producer).start()
        threading.Thread(target=ticker).start()
        time.sleep(0.01)
        while len(got) < 6:
            got.append(q.get(timeout=5))
        out["got"] = got
        out["simple"] = sq.get(timeout=5)
        try:
            queue.Queue().get(timeout=0.01)
        except queue.Empty:
            out["empty"] = True
        lq, pq = queue.LifoQueue(), queue.PriorityQueue()
        for x in (2, 3, 1):
            lq.put(x)
            pq.put(x)
        out["lifo"] = [lq.get() for _ in range(3)]
        out["prio"] = [pq.get() for _ in range(3)]
        out["ticks"] = len(ticks)
        print("RESULT " + json.dumps(out))
    """)
    assert r["types"] == ["whyevents.threads.queue"] * 4
    assert r["got"] == list(range(6)) and r["simple"] == "done" and r["empty"]
    assert r["lifo"] == [1, 3, 2] and r["prio"] == [1, 2, 3]
    assert r["ticks"] == 5


# ---------------------------------------------------------------------------------------------
# The main thread: a plain script, no run()
# ---------------------------------------------------------------------------------------------

def test_plain_script_main_sleeps_while_green_threads_run_and_exit_joins(tmp_path):
    proc = run_program(tmp_path, """
        import threading, time
        from whyevents import threads
        log = []
        def worker(name, n):
            for i in range(n):
                log.append((name, i))
                time.sleep(0.01)
        threading.Thread(target=worker, args=("a", 5)).start()
        threads.spawn(worker, "b", 5)
        time.sleep(0.02)                       # the script itself parks: a and b run
        print("during", len(log))
        def last():
            time.sleep(0.05)
            print("non-daemon thread finished at exit", flush=True)
        threading.Thread(target=last).start()
        threads.spawn(lambda: (time.sleep(0.08), print("spawned thread finished at exit")))
        print("end of script", flush=True)
    """)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    during = int(lines[0].split()[1])
    assert during >= 2                         # other threads ran while main slept
    assert lines[1:] == ["end of script", "non-daemon thread finished at exit",
                         "spawned thread finished at exit"]
    assert proc.stderr == ""


def test_exit_with_forever_blocked_thread_reports_deadlock_not_hang(tmp_path):
    proc = run_program(tmp_path, """
        import threading
        threading.Thread(target=threading.Event().wait, name="stuck").start()
        print("end of script")
    """, timeout=30)
    assert proc.returncode == 0
    assert "can never finish" in proc.stderr and "stuck" in proc.stderr


def test_patch_after_kernel_thread_started_raises_hub_error(tmp_path):
    r = patched_program(tmp_path, """
        import json, threading
        from whyevents.threads import HubError, monkey
        release = threading.Event()
        t = threading.Thread(target=release.wait, name="early-kernel-thread")
        t.start()
        try:
            monkey.patch_all()
            message = None
        except HubError as e:
            message = str(e)
        patched = monkey.patched()
        release.set()
        t.join()
        print("RESULT " + json.dumps({"message": message, "patched": patched}))
    """, patch=False)
    assert "patch before starting threads" in r["message"]
    assert "early-kernel-thread" in r["message"]
    assert r["patched"] == {}                  # refused before touching anything


def test_queries_originals_and_patch_all_twice(tmp_path):
    r = patched_program(tmp_path, """
        import json, select, selectors, socket, time, _thread, threading, queue
        from whyevents.threads import monkey
        before = [monkey.is_module_patched("time"), monkey.is_object_patched("time", "sleep")]
        orig_sleep, orig_socket = time.sleep, socket.socket
        monkey.patch_all()
        first = monkey.patched()
        monkey.patch_all()                           # a no-op
        print("RESULT " + json.dumps({
            "before": before,
            "after": [monkey.is_module_patched(m) for m in
                      ("socket", "time", "threading", "_thread", "select", "selectors",
                       "queue")],
            "objects": [monkey.is_object_patched("time", "sleep"),
                        monkey.is_object_patched("socket", "socket"),
                        monkey.is_object_patched("select", "epoll"),
                        monkey.is_object_patched("os", "read")],
            "originals": [monkey.get_original("time", "sleep") is orig_sleep,
                          monkey.get_original("socket", "socket") is orig_socket,
                          monkey.get_original("time", ["sleep", "monotonic"])
                          == [orig_sleep, time.monotonic],
                          time.sleep is not orig_sleep],
            "same_twice": monkey.patched() == first,
            "patched": first,
            "selector": selectors.DefaultSelector.__module__,
        }))
    """, patch=False)
    assert r["before"] == [False, False]
    assert all(r["after"])
    assert r["objects"] == [True, True, False, False]
    assert all(r["originals"])
    assert r["same_twice"]
    assert "sleep" in r["patched"]["time"] and "socket" in r["patched"]["socket"]
    assert {"Lock", "RLock", "Condition", "Event", "local", "get_ident"} <= \
        set(r["patched"]["threading"])
    assert r["selector"] == "whyevents.threads.select"


def test_select_poll_and_selectors_park_only_the_caller(tmp_path):
    r = patched_program(tmp_path, """
        import json, select, selectors, socket, threading, time
        ticks = []
        running = True
        def ticker():
            while running:
                ticks.append(1)
                time.sleep(0.002)
        threading.Thread(target=ticker, daemon=True).start()
        a, b = socket.socketpair()
        def write_later():
            time.sleep(0.05)
            b.send(b"x")
        out = {}
        def check(name, wait):
            threading.Thread(target=write_later).start()
            n0 = len(ticks)
            ready = wait()
            out[name] = [bool(ready), len(ticks) - n0 > 3]   # others ran while it waited
            a.recv(1)
        check("select", lambda: select.select([a], [], [], 5)[0] == [a])
        p = select.poll()
        p.register(a, select.POLLIN)
        check("poll", lambda: p.poll(5000) == [(a.fileno(), select.POLLIN)])
        sel = selectors.DefaultSelector()
        sel.register(a, selectors.EVENT_READ, "data")
        check("selector", lambda: [k.data for k, _ in sel.select(5)] == ["data"])
        ps = selectors.PollSelector()
        ps.register(a, selectors.EVENT_READ)
        check("pollselector", lambda: len(ps.select(5)) == 1)
        out["timeouts"] = [select.select([a], [], [], 0.02), p.poll(20), sel.select(0.02)]
        running = False
        print("RESULT " + json.dumps(out))
    """)
    for name in ("select", "poll", "selector", "pollselector"):
        assert r[name] == [True, True], name
    assert r["timeouts"] == [[[], [], []], [], []]


def test_coro_io_imported_after_patching_still_locks_across_os_threads(tmp_path):
    """``coro_io``'s foreign-call lock must be a kernel lock even when the module is first
    imported after ``patch_all()`` (the package does not import it): it took
    ``_thread.allocate_lock`` at import, by then the green ``Lock``. Eight kernel threads then
    call into the loop at once; every call arrives."""
    r = patched_program(tmp_path, """
        import json
        from whyevents.threads.originals import original
        from whyevents.threads import coro, coro_io

        kernel_lock_type = type(original("_thread", "allocate_lock")())
        start = original("_thread", "start_new_thread")
        sched = coro_io.IOScheduler()
        sched.expect_foreign()
        got = []
        done = coro.Event()
        THREADS, CALLS = 8, 300

        def arrive(i):
            got.append(i)
            if len(got) == THREADS * CALLS:
                done.set()

        def caller(k):
            for j in range(CALLS):
                sched.call_threadsafe(arrive, k * CALLS + j)

        async def main():
            for k in range(THREADS):
                start(caller, (k,))
            await done.wait()
            return len(got), len(set(got))

        try:
            calls = coro.run(main(), scheduler=sched)
        finally:
            sched.close()
        print("RESULT " + json.dumps({
            "lock_is_kernel": type(sched._wake_lock) is kernel_lock_type,
            "calls": calls}))
    """)
    assert r["lock_is_kernel"]
    assert r["calls"] == [8 * 300, 8 * 300]


def test_patched_program_under_every_scheduler_and_poller(tmp_path):
    # The poll and pth pollers call select.poll() inside the hub greenlet: they must get the
    # original, not the cooperative one.
    r = patched_program(tmp_path, """
        import json, socket, select, threading, time
        from whyevents import threads
        def main():
            a, b = socket.socketpair()
            threading.Thread(target=lambda: (time.sleep(0.02), b.send(b"y"))).start()
            ok = select.select([a], [], [], 5)[0] == [a]
            ts = [threading.Thread(target=time.sleep, args=(0.02,)) for _ in range(20)]
            t0 = time.monotonic()
            [t.start() for t in ts]
            [t.join() for t in ts]
            return [ok, time.monotonic() - t0 < 0.2,
                    threading.current_thread() is threading.main_thread()]
        out = {f"{s}/{p}": threads.run(main, scheduler=s, poller=p)
               for s, p in [("fifo", "epoll"), ("fifo", "poll"), ("pth", "poll")]}
        print("RESULT " + json.dumps(out))
    """)
    for config, checks in r.items():
        assert checks == [True, True, True], config


# ---------------------------------------------------------------------------------------------
# In-process, unpatched: local and the cooperative select functions used directly
# ---------------------------------------------------------------------------------------------

def test_local_in_run_isolates_and_frees(run):
    data = green_local()

    class Payload:
        pass

    refs = []

    def work(i):
        data.i = i
        p = Payload()
        data.p = p
        refs.append(weakref.ref(p))
        del p
        threads.sleep(0)
        return data.i, data.__dict__.keys() == {"i", "p"}

    def main():
        data.x = "main"
        ts = [threads.spawn(work, i) for i in range(50)]
        values = [t.get() for t in ts]
        return values, data.x, hasattr(data, "i")

    values, x, main_has_i = run(main)
    gc.collect()
    assert values == [(i, True) for i in range(50)]
    assert x == "main" and not main_has_i
    assert all(r() is None for r in refs)


def test_local_rejects_args_without_init_and_dict_assignment():
    with pytest.raises(TypeError):
        green_local(1)
    data = green_local()
    with pytest.raises(AttributeError):
        data.__dict__ = {}
    with pytest.raises(AttributeError):
        del data.missing


def test_cooperative_select_directly(run):
    a, b = socket.socketpair()

    def main():
        log = []

        def writer():
            log.append("writer")
            threads.sleep(0.01)
            b.send(b"z")

        threads.spawn(writer)
        r, w, x = gselect.select([a], [], [], 5)
        log.append("selected")
        return r == [a], log

    try:
        ok, log = run(main)
        assert ok and log == ["writer", "selected"]
    finally:
        a.close()
        b.close()


def test_cooperative_select_rejects_negative_timeout():
    with pytest.raises(ValueError):
        gselect.select([], [], [], -1)
