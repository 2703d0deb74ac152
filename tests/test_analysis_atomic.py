"""Atomic sections (the paper's section 4), statically and at run time, on real races.

The seeded race: a check-then-act (and a read-modify-write counter) whose "act" calls a logging
helper that, three calls down, yields with ``sleep(0)``. Run without a section, green threads
interleave at that hidden yield and updates are lost; inside ``threads.atomic()`` the static
check names the chain and the run time refuses the switch.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from whyevents import threads
from whyevents.analysis import run_check

RACY = textwrap.dedent('''
    from whyevents import threads

    stock = {"widgets": 0}
    counter = {"n": 0}


    def audit(msg):
        _log(msg)


    def _log(msg):
        _flush(msg)


    def _flush(msg):
        threads.sleep(0)          # a cooperative flush: the yield nobody sees from sell()


    def sell():
        with threads.atomic():
            if stock["widgets"] > 0:
                audit("sold")
                stock["widgets"] -= 1


    @threads.atomic
    def increment():
        v = counter["n"]
        audit("incremented")
        counter["n"] = v + 1
''')

CLEAN = textwrap.dedent('''
    import collections
    from whyevents import threads

    stock = {"widgets": 0}
    log = collections.deque(maxlen=100)
    lock = threads.Lock()


    def audit(msg):
        log.append(msg)           # no yield: a deque append


    def sell():
        with threads.atomic():
            if stock["widgets"] > 0:
                audit("sold")
                stock["widgets"] -= 1
                lock.acquire(False)   # the non-blocking form never waits
                lock.release()


    @threads.atomic
    def restock(n):
        stock["widgets"] += n
        audit("restocked")


    def elsewhere():
        threads.sleep(0)          # blocking outside any section is fine
''')

UNKNOWN = textwrap.dedent('''
    from whyevents import threads


    def run_hook(hook):
        with threads.atomic():
            hook()                # whatever the caller passes: cannot be resolved
''')


def _write(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / name
    path.write_text(source)
    return path


def test_seeded_race_three_calls_deep_is_caught_with_its_chain(tmp_path) -> None:
    path = _write(tmp_path, "racy.py", RACY)
    status, findings, summary = run_check([str(path)])
    assert status == 1
    errors = [f for f in findings if f.level == "error"]
    assert [f.where for f in errors] == [f"{path}:21:5", f"{path}:27:2"]   # with, decorator
    chain = errors[0].chain
    assert chain[0].startswith(f"audit() at {path}:23")
    assert [step.split("()")[0] for step in chain[1:4]] == ["_log", "_flush", "threads.sleep"]
    assert chain[-1].startswith("threads.hub.sleep [runtime: may switch threads]")
    line = errors[0].format()
    assert line.startswith(f"{path}:21:5: error: atomic section may block: audit() at ")
    assert summary["atomic_sections"] == 2 and summary["errors"] == 2


def test_clean_sections_are_accepted(tmp_path) -> None:
    path = _write(tmp_path, "clean.py", CLEAN)
    status, findings, summary = run_check([str(path)])
    assert (status, findings) == (0, [])
    assert summary["atomic_sections"] == 2
    assert summary["may_block"] == 1           # elsewhere(): found, but outside any section


def test_unresolvable_calls_are_reported_not_called_clean(tmp_path) -> None:
    path = _write(tmp_path, "hook.py", UNKNOWN)
    status, findings, _ = run_check([str(path)])
    assert status == 0
    assert [f.level for f in findings] == ["warning"]
    assert "hook(): a callable computed at run time" in findings[0].format()
    assert run_check([str(path)], strict=True)[0] == 1


def test_cli_prints_file_line_and_exits_1(tmp_path) -> None:
    path = _write(tmp_path, "racy.py", RACY)
    out = subprocess.run([sys.executable, "-m", "whyevents.analysis", str(path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith(f"{path}:21:5: error: atomic section may block:")
    assert lines[-1].endswith("2 atomic sections: 2 errors, 0 warnings")
    clean = _write(tmp_path, "clean.py", CLEAN)
    out = subprocess.run([sys.executable, "-m", "whyevents.analysis", str(clean)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    missing = subprocess.run([sys.executable, "-m", "whyevents.analysis", str(tmp_path / "no")],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2


# ---------------------------------------------------------------------------------------------
# Run time
# ---------------------------------------------------------------------------------------------

def _load(tmp_path: Path, name: str, source: str):
    import importlib.util

    path = _write(tmp_path, f"{name}.py", source)
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_seeded_race_is_real_without_a_section(tmp_path) -> None:
    mod = _load(tmp_path, "racy_rt", RACY)

    def unprotected():
        if mod.stock["widgets"] > 0:
            mod.audit("sold")
            mod.stock["widgets"] -= 1

    def main():
        mod.stock["widgets"] = 1
        ts = [threads.spawn(unprotected) for _ in range(4)]
        for t in ts:
            t.join()
        return mod.stock["widgets"]

    assert threads.run(main) == -3         # every thread saw one widget: sold four


def test_run_time_refuses_the_hidden_switch_naming_call_and_section(tmp_path) -> None:
    mod = _load(tmp_path, "racy_rt2", RACY)

    def main():
        mod.stock["widgets"] = 1
        ts = [threads.spawn(mod.sell) for _ in range(3)]
        ts.append(threads.spawn(mod.increment))
        for t in ts:
            t.join()
        return [t.exception for t in ts], mod.stock["widgets"], threads.in_atomic()

    errors, widgets, inside = threads.run(main)
    assert widgets == 1 and inside is False          # nothing sold, nothing half-done
    for err in errors[:3]:
        assert isinstance(err, threads.AtomicViolation)
        assert err.call == "sleep"
        assert err.where == f"{tmp_path / 'racy_rt2.py'}:17"
        assert err.section == f"{tmp_path / 'racy_rt2.py'}:21"
        assert "inside the atomic section entered at" in str(err)
    assert errors[3].section == f"{tmp_path / 'racy_rt2.py'}:27"   # the decorated function


def test_clean_sections_run_and_the_hub_is_restored(tmp_path) -> None:
    mod = _load(tmp_path, "clean_rt", CLEAN)

    def main():
        hub = threads.get_hub()
        cls = type(hub)
        mod.stock["widgets"] = 0
        mod.restock(3)
        ts = [threads.spawn(mod.sell) for _ in range(5)]
        for t in ts:
            t.join()
        return cls, type(hub), [t.exception for t in ts], mod.stock["widgets"]

    before, after, errors, widgets = threads.run(main)
    assert before is after and errors == [None] * 5 and widgets == 0


def test_a_refused_wait_leaves_the_primitive_usable() -> None:
    def main():
        ev = threads.Event()
        lock = threads.Lock()
        lock.acquire()
        with pytest.raises(threads.AtomicViolation, match=r"wait\(\) at .*test_analysis"):
            with threads.atomic():
                ev.wait(5)
        with pytest.raises(threads.AtomicViolation, match=r"acquire\(\)"):
            with threads.atomic():
                with threads.atomic():        # nested: the outer section is reported
                    lock.acquire()
        assert not threads.in_atomic()
        helper = threads.spawn(lambda: (ev.set(), lock.release()))
        assert ev.wait(5) and lock.acquire(timeout=5)   # the refused waits left no trace
        helper.join()
        return True

    assert threads.run(main)


def test_atomic_outside_a_hub_is_a_no_op() -> None:
    with threads.atomic():
        assert not threads.in_atomic()


def test_whyevents_check_subcommand(tmp_path, capsys) -> None:
    from whyevents.repro.cli import main

    assert main(["check", str(_write(tmp_path, "racy.py", RACY))]) == 1
    assert ": error: atomic section may block: audit() at " in capsys.readouterr().out
    assert main(["check", str(_write(tmp_path, "clean.py", CLEAN))]) == 0
