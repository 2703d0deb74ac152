"""The results store: atomic provenance, points that survive a kill, resume, no overwrite."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from whyevents.harness import provenance
from whyevents.repro import paths, store
from whyevents.repro.store import Run


def _create(tmp_path: Path, experiment: str = "pipeline", profile: str = "quick") -> Run:
    return Run.create(experiment, {"tasks": [1, 2]}, profile, 7, root=tmp_path)


# -- provenance ---------------------------------------------------------------------------------

def test_provenance_fields_present(tmp_path):
    run = _create(tmp_path)
    prov = json.loads((run.dir / "provenance.json").read_text())
    for key in ("git_commit", "git_dirty", "git_changed_paths", "parameters", "profile", "seed",
                "packages", "python", "python_implementation", "cpu_model", "cpu_count",
                "kernel", "memory_bytes", "rlimit_nofile", "sysctl", "time_start_utc"):
        assert key in prov, key
    assert prov["parameters"] == {"tasks": [1, 2]}
    assert prov["profile"] == "quick" and prov["seed"] == 7
    assert prov["status"] == "running" and prov["experiment"] == "pipeline"
    assert prov["run_id"] == run.run_id
    for name in ("whyevents", "greenlet", "httptools", "psutil", "pandas"):
        assert prov["packages"][name], name
    run.close()
    prov = json.loads((run.dir / "provenance.json").read_text())
    assert prov["status"] == "complete" and prov["duration_s"] >= 0 and prov["time_end_utc"]


def test_git_state_ignores_data_and_keeps_first_path_whole(tmp_path):
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "a.txt").write_text("one")
    subprocess.run([*git, "add", "a.txt"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "x"], check=True)
    state = provenance.git_state(tmp_path)
    assert state["git_dirty"] is False and len(state["git_commit"]) == 40
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "r.csv").write_text("x")
    assert provenance.git_state(tmp_path)["git_dirty"] is False
    (tmp_path / "a.txt").write_text("two")  # porcelain line " M a.txt": leading space matters
    state = provenance.git_state(tmp_path)
    assert state["git_dirty"] is True and state["git_changed_paths"] == ["a.txt"]


def test_finish_adds_end_and_duration():
    prov = provenance.collect({}, "full", None)
    out = provenance.finish(prov)
    assert out is prov and prov["duration_s"] >= 0 and prov["time_end_utc"] >= prov[
        "time_start_utc"]


# -- atomic writes ------------------------------------------------------------------------------

def test_provenance_valid_after_every_write(tmp_path):
    run = _create(tmp_path)
    for i in range(3):
        run.provenance["note"] = i
        run._write_provenance()
        assert json.loads((run.dir / "provenance.json").read_text())["note"] == i
    assert not [p for p in run.dir.iterdir() if p.name.endswith(".tmp")]


def test_crash_mid_write_leaves_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "provenance.json"
    store.atomic_write_json(target, {"generation": 1})

    def torn_dump(obj, f, **kw):
        f.write('{"generation": 2, "half')  # the process "dies" mid-write
        raise KeyboardInterrupt

    monkeypatch.setattr(store.json, "dump", torn_dump)
    with pytest.raises(KeyboardInterrupt):
        store.atomic_write_json(target, {"generation": 2})
    monkeypatch.undo()
    assert json.loads(target.read_text()) == {"generation": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["provenance.json"]


def test_crash_before_replace_leaves_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "p.json"
    store.atomic_write_json(target, {"generation": 1})

    def no_replace(src, dst):
        raise OSError("power cut")

    monkeypatch.setattr(store.os, "replace", no_replace)
    with pytest.raises(OSError):
        store.atomic_write_json(target, {"generation": 2})
    monkeypatch.undo()
    assert json.loads(target.read_text()) == {"generation": 1}


# -- never overwrite ----------------------------------------------------------------------------

def test_two_runs_never_share_a_directory(tmp_path, monkeypatch):
    ids = iter(["20260101T000000Z-aaaa", "20260101T000000Z-aaaa", "20260101T000000Z-bbbb"])
    monkeypatch.setattr(store, "_new_run_id", lambda: next(ids))
    first = _create(tmp_path)
    first.append({"tasks": 1, "throughput_rps": 5.0})
    second = _create(tmp_path)
    assert first.dir != second.dir and second.run_id.endswith("bbbb")
    assert first.rows() == [{"tasks": 1, "throughput_rps": 5.0}]
    assert second.rows() == []


def test_create_gives_up_rather_than_overwrite(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "_new_run_id", lambda: "20260101T000000Z-aaaa")
    run = _create(tmp_path)
    run.append({"x": 1})
    with pytest.raises(FileExistsError):
        _create(tmp_path)
    assert run.rows() == [{"x": 1}]


def test_run_ids_are_timestamps_with_suffix(tmp_path):
    run = _create(tmp_path)
    stamp, suffix = run.run_id.split("-")
    assert len(stamp) == 16 and stamp.endswith("Z") and len(suffix) == 4
    assert run.dir.parent == tmp_path / "pipeline"


# -- rows, CSV, resume --------------------------------------------------------------------------

def test_append_rows_frame_and_csv(tmp_path):
    run = _create(tmp_path)
    run.append({"backend": "event", "tasks": 1000, "throughput_rps": 10.5})
    run.append({"backend": "event", "tasks": 2000, "throughput_rps": 11.0})
    assert run.rows()[1] == {"backend": "event", "tasks": 2000, "throughput_rps": 11.0}
    with open(run.dir / "results.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [r["tasks"] for r in table] == ["1000", "2000"]
    df = run.frame()
    assert list(df.columns) == ["backend", "tasks", "throughput_rps"]
    assert df["tasks"].tolist() == [1000, 2000]


def test_new_column_rewrites_csv_with_union(tmp_path):
    run = _create(tmp_path)
    run.append({"tasks": 1, "throughput_rps": 1.0})
    run.append({"tasks": 2, "throughput_rps": 2.0, "status": "EMFILE"})
    run.append({"tasks": 3, "throughput_rps": 3.0})
    with open(run.dir / "results.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == ["tasks", "throughput_rps", "status"]
    assert [r["status"] for r in table] == ["", "EMFILE", ""]
    assert run.rows()[1]["status"] == "EMFILE" and "status" not in run.rows()[2]


def test_append_rejects_empty_row(tmp_path):
    with pytest.raises(ValueError):
        _create(tmp_path).append({})


_KILLED = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from whyevents.repro.store import Run
    run = Run.create("sweep", {"n": 5}, "quick", 1, root=Path(sys.argv[1]))
    print(run.run_id, flush=True)
    for i in range(5):
        if i == 3:
            with open(run.dir / "rows.jsonl", "a") as f:   # die in the middle of a line
                f.write('{"tasks": 3, "thr')
            os.kill(os.getpid(), signal.SIGKILL)
        run.append({"tasks": i, "throughput_rps": float(i)})
    run.close()
""")


def test_killed_sweep_keeps_points_and_resumes(tmp_path):
    proc = subprocess.run([sys.executable, "-c", _KILLED, str(tmp_path)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    run_id = proc.stdout.strip()
    stored = Run.open(tmp_path / "sweep" / run_id)
    assert stored.status == "running"  # never closed: it was killed
    assert [r["tasks"] for r in stored.rows()] == [0, 1, 2]

    run = Run.resume("sweep", "latest", root=tmp_path)
    assert run.run_id == run_id and run.status == "running"
    assert run.provenance["resumed"][0]["rows_before"] == 3
    done = run.done_keys(["tasks"])
    assert done == {(0,), (1,), (2,)}
    measured = []
    for i in range(5):
        if (i,) in done:
            continue
        measured.append(i)
        run.append({"tasks": i, "throughput_rps": float(i)})
    run.close()
    assert measured == [3, 4]
    assert [r["tasks"] for r in run.rows()] == [0, 1, 2, 3, 4]
    assert (run.dir / "rows.jsonl").read_text().count("thr\n") == 0
    with open(run.dir / "results.csv", newline="") as f:
        assert [r["tasks"] for r in csv.DictReader(f)] == ["0", "1", "2", "3", "4"]
    assert Run.open(run.dir).status == "complete"


def test_done_keys_ignores_rows_lacking_a_field(tmp_path):
    run = _create(tmp_path)
    run.append({"backend": "event", "tasks": 1})
    run.append({"backend": "event", "error": "boom"})
    assert run.done_keys(["backend", "tasks"]) == {("event", 1)}


def test_with_block_marks_interrupted(tmp_path):
    with pytest.raises(KeyboardInterrupt), _create(tmp_path) as run:
        run.append({"x": 1})
        raise KeyboardInterrupt
    assert Run.open(run.dir).status == "interrupted"
    with _create(tmp_path) as ok:
        ok.append({"x": 2})
    assert Run.open(ok.dir).status == "complete"


# -- finding runs -------------------------------------------------------------------------------

def test_latest_and_list_runs(tmp_path, monkeypatch):
    ids = iter(["20260101T000000Z-0001", "20260102T000000Z-0002", "20260103T000000Z-0003"])
    monkeypatch.setattr(store, "_new_run_id", lambda: next(ids))
    a = _create(tmp_path, profile="full")
    b = _create(tmp_path, profile="quick")
    c = _create(tmp_path, profile="full")
    b.close()
    assert [r.run_id for r in store.list_runs("pipeline", root=tmp_path)] == [
        a.run_id, b.run_id, c.run_id]
    assert store.latest("pipeline", root=tmp_path).run_id == c.run_id
    assert store.latest("pipeline", profile="quick", root=tmp_path).run_id == b.run_id
    assert store.latest("pipeline", status="complete", root=tmp_path).run_id == b.run_id
    assert store.list_runs("nothing", root=tmp_path) == []
    with pytest.raises(store.RunNotFound, match="web"):
        store.latest("web", root=tmp_path)
    with pytest.raises(store.RunNotFound, match="profile=smoke"):
        store.latest("pipeline", profile="smoke", root=tmp_path)
    assert Run.resume("pipeline", b.run_id, root=tmp_path).run_id == b.run_id


# -- paths and reference data -------------------------------------------------------------------

def test_paths_from_root_and_env(tmp_path):
    assert (paths.ROOT / "pyproject.toml").is_file()
    assert paths.RESULTS == paths.ROOT / "data" / "results"
    assert paths.CLAIMS_YAML == paths.ROOT / "paper" / "claims.yaml"
    out = subprocess.run(
        [sys.executable, "-c", "from whyevents.repro import paths; print(paths.RESULTS)"],
        capture_output=True, text=True, env={**os.environ, "WHYEVENTS_ROOT": str(tmp_path)},
        check=True, timeout=60)
    assert Path(out.stdout.strip()) == tmp_path.resolve() / "data" / "results"


def test_reference_loader():
    df = store.reference("hotos03_fig2", "event")
    assert set(df["series"]) == {"event"} and len(df) > 5
    assert list(df.columns[:7]) == ["figure", "series", "x", "y", "x_unit", "y_unit", "source"]
    norm = store.reference("hotos03_fig3", normalize=True)
    assert set(norm["series"]) == {"Knot-C", "Knot-A", "Haboob"}
    peaks = norm.groupby("series")["y"].max()
    assert all(abs(p - 1.0) < 1e-12 for p in peaks)
    assert (norm["y_raw"] >= norm["y"]).all() and set(norm["y_unit"]) == {"fraction_of_peak"}
    with pytest.raises(KeyError, match="hotos03_fig2"):
        store.reference("no_such_figure")
    with pytest.raises(KeyError, match="Haboob"):
        store.reference("hotos03_fig3", ["Knot-C", "Nope"])
