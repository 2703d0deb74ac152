"""The sweep runner and the run/claims/report commands, on a fake experiment module.

The fake module follows the experiment contract (repro/runner.py) and records which points it
measured, so resume and interruption can be checked exactly.
"""

from __future__ import annotations

import contextlib
import json
import sys
import types

import pytest

from support.rows import compiler, pipeline, web
from whyevents.repro import claims, cli, runner, store
from whyevents.repro.report import write_report


def _fake_module(fail_at: int | None = None, interrupt_at: int | None = None):
    mod = types.ModuleType("whyevents_fake_experiment")
    mod.EXPERIMENT = "pipeline"
    mod.DESCRIPTION = "A fake sweep for the runner's tests.\nSecond line."
    mod.KEY_FIELDS = ("backend", "scheduler", "tasks")
    mod.SUMMARY_FIELDS = ("throughput_rps",)
    mod.PROFILES = {
        "quick": {"tasks": [1, 10, 100], "scale": 1.0, "reps": 1, "label": "q",
                  "verbose": False},
        "full": {"tasks": [1, 10, 100, 1000], "scale": 1.0, "reps": 3, "label": "f",
                 "verbose": False},
    }
    mod.PARAM_HELP = {"tasks": "task counts", "scale": "a factor", "reps": "repetitions",
                      "label": "a name", "verbose": "talk"}
    mod.measured = []
    mod.prepared = []

    def check_params(p):
        if any(t < 1 for t in p["tasks"]):
            raise ValueError(f"tasks: {p['tasks']} has a value below 1")
        return p

    def points(p):
        return [{"backend": "whyevents", "scheduler": s, "tasks": t}
                for t in p["tasks"] for s in ("fifo", "pth")]

    @contextlib.contextmanager
    def prepare(p):
        mod.prepared.append("in")
        yield {"ctx": True}
        mod.prepared.append("out")

    def measure(point, p, *, ctx=None, progress=None):
        assert ctx == {"ctx": True}
        n = len(mod.measured)
        if interrupt_at is not None and n == interrupt_at:
            raise KeyboardInterrupt
        mod.measured.append((point["scheduler"], point["tasks"]))
        if progress is not None:
            progress({"live": n})
        if fail_at is not None and n == fail_at:
            return [{**point, "status": "failed", "error": "refused"}]
        return [{**point, "throughput_rps": 1000.0 * p["scale"], "latency_p50_ms": 1.0}]

    def limits(p):
        return {"why": "test cap", "cap": 100}

    mod.check_params, mod.points, mod.prepare = check_params, points, prepare
    mod.measure, mod.limits = measure, limits
    return mod


@pytest.fixture
def fake(monkeypatch):
    def install(**kw):
        mod = _fake_module(**kw)
        monkeypatch.setitem(sys.modules, mod.__name__, mod)
        monkeypatch.setitem(runner.EXPERIMENTS, "fake", mod.__name__)
        return mod
    return install


def test_params_are_coerced_to_the_profile_types(fake):
    mod = fake()
    p = runner.resolve_params(mod, "quick", {"tasks": "2,20", "scale": "0.5", "reps": "2",
                                             "verbose": "yes", "label": "x"})
    assert p == {"tasks": [2, 20], "scale": 0.5, "reps": 2, "label": "x", "verbose": True}
    assert runner.resolve_params(mod, "full", {"tasks": "[5, 6]"})["tasks"] == [5, 6]


@pytest.mark.parametrize("overrides, named", [
    ({"bogus": "1"}, "bogus"), ({"reps": "two"}, "reps"), ({"scale": "nan"}, "scale"),
    ({"verbose": "maybe"}, "verbose"), ({"tasks": "1,x"}, "tasks"), ({"tasks": "0"}, "tasks"),
])
def test_bad_parameters_are_named(fake, overrides, named):
    with pytest.raises(ValueError, match=named):
        runner.resolve_params(fake(), "quick", overrides)


def test_override_list_parsing():
    assert runner.parse_overrides(["a=1,2", "b="]) == {"a": "1,2", "b": ""}
    with pytest.raises(ValueError, match="key=value"):
        runner.parse_overrides(["novalue"])


def test_run_stores_every_point_with_provenance(fake, tmp_path):
    mod = fake(fail_at=1)
    seen = []
    run = runner.run_experiment("fake", "quick", {"scale": "2"}, progress=False, root=tmp_path,
                                on_row=seen.append)
    rows = run.rows()
    assert len(rows) == 6 == len(seen) and run.status == "complete"
    assert [r["status"] for r in rows].count("failed") == 1
    assert all(r["throughput_rps"] == 2000.0 for r in rows if r["status"] == "ok")
    prov = json.loads((run.dir / "provenance.json").read_text())
    assert prov["parameters"]["scale"] == 2.0 and prov["profile"] == "quick"
    assert prov["limits"] == {"why": "test cap", "cap": 100}
    assert mod.prepared == ["in", "out"]


def test_interrupted_sweep_keeps_points_and_resumes(fake, tmp_path):
    fake(interrupt_at=3)
    with pytest.raises(KeyboardInterrupt):
        runner.run_experiment("fake", "quick", progress=False, root=tmp_path)
    run = store.latest("pipeline", root=tmp_path)
    assert run.status == "interrupted" and len(run.rows()) == 3
    mod = fake()
    resumed = runner.run_experiment("fake", "quick", resume=True, progress=False, root=tmp_path)
    assert resumed.run_id == run.run_id and resumed.status == "complete"
    assert len(mod.measured) == 3                      # only the three missing points
    keys = {(r["scheduler"], r["tasks"]) for r in resumed.rows()}
    assert len(keys) == 6 == len(resumed.rows())


def test_resume_refuses_other_parameters(fake, tmp_path):
    fake()
    first = runner.run_experiment("fake", "quick", progress=False, root=tmp_path)
    with pytest.raises(ValueError, match="scale"):
        runner.run_experiment("fake", "quick", {"scale": "3"}, resume=first.run_id,
                              progress=False, root=tmp_path)
    assert len(store.Run.open(first.dir).rows()) == 6


def test_module_breaking_the_contract_is_named(monkeypatch):
    broken = types.ModuleType("whyevents_broken_experiment")
    monkeypatch.setitem(sys.modules, broken.__name__, broken)
    monkeypatch.setitem(runner.EXPERIMENTS, "broken", broken.__name__)
    with pytest.raises(TypeError, match="whyevents_broken_experiment.*EXPERIMENT"):
        runner.load("broken")
    with pytest.raises(ValueError, match="unknown experiment"):
        runner.load("nope")


def test_cli_run_and_errors(fake, tmp_path, capsys):
    fake()
    assert cli.main(["run", "fake", "--root", str(tmp_path), "--no-progress",
                     "-p", "tasks=3,4"]) == 0
    out = capsys.readouterr().out
    assert "4 rows" in out
    with pytest.raises(SystemExit) as e:
        cli.main(["run", "fake", "--root", str(tmp_path), "-p", "bogus=1"])
    assert e.value.code == 2
    assert "bogus" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["run", "fake", "--help"])
    assert "task counts" in capsys.readouterr().out


def _store(root, experiment, rows, profile="quick"):
    with store.Run.create(experiment, {}, profile, 0, root=root) as run:
        for r in rows:
            run.append(r)
    return run


def _scaling_rows():
    return [{"backend": "whyevents", "threads": n, "spawn_us": 1.0, "bytes_per_thread": 7000,
             "yields_per_s": 1e6} for n in (1000, 10000, 100000)]


def test_claims_command_exit_status(tmp_path, capsys):
    _store(tmp_path, "pipeline", pipeline())
    _store(tmp_path, "scaling", _scaling_rows())
    _store(tmp_path, "web", web())
    _store(tmp_path, "compiler", compiler())
    assert cli.main(["claims", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    n = sum(c.applies("quick") for c in claims.load_claims())
    assert "C2.1 PASS" in out and "measured" in out and f"{n}/{n} claims pass" in out
    _store(tmp_path, "web", web(seda_ctx=1.5))                    # a newer, failing web run
    assert cli.main(["claims", "--root", str(tmp_path)]) == 1
    assert "C3.6 FAIL" in capsys.readouterr().out


@pytest.mark.slow
def test_report_lists_every_claim_and_the_runs(tmp_path):
    _store(tmp_path, "pipeline", pipeline())
    _store(tmp_path, "web", web())
    _store(tmp_path, "compiler", compiler())
    out = tmp_path / "paper" / "REPORT.md"
    path, verdicts = write_report("quick", out=out, root=tmp_path)
    text = path.read_text()
    for v in verdicts:
        assert f"| {v.id} |" in text
    assert "**MISSING**" in text                                    # no scaling run stored
    n = sum(c.applies("quick") for c in claims.load_claims())
    assert "**PASS**" in text and f"{n - 1} of {n} claims pass" in text
    assert "Not checked at the quick profile" in text and "C3.3" in text
    assert (tmp_path / "paper" / "figures" / "fig2_task_pipeline.png").stat().st_size > 0
    assert "figures/fig3_web_bandwidth.png" in text
