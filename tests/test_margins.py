"""Claim margins over many stored runs (``whyevents margins``, ``repro.margins``)."""

from __future__ import annotations

import math

import pytest

from support.rows import TASKS, pipeline, store_rows
from whyevents.repro import margins
from whyevents.repro.cli import main as cli_main
from whyevents.repro.store import Run


def test_margin_is_relative_and_signed_in_the_passing_direction():
    assert margins.margin(">=", 0.715, 0.65) == pytest.approx(0.1)
    assert margins.margin(">=", 0.585, 0.65) == pytest.approx(-0.1)
    assert margins.margin("<=", 0.09, 0.1) == pytest.approx(0.1)
    assert margins.margin("<=", 0.12, 0.1) == pytest.approx(-0.2)
    # between: distance to the nearer bound over the band's width
    assert margins.margin("between", -1.0, (-1.25, -0.75)) == pytest.approx(0.5)
    assert margins.margin("between", -0.8, (-1.25, -0.75)) == pytest.approx(0.1)
    assert margins.margin("between", -0.5, (-1.25, -0.75)) == pytest.approx(-0.5)
    assert margins.margin(">=", 0.0, 0.0) == 0.0
    assert math.isnan(margins.margin(">=", math.nan, 0.65))


def test_collect_and_summarize_over_runs(tmp_path):
    # three complete quick runs: fifo flat (C2.1 passes), flat, then a cliff (C2.1 fails);
    # one interrupted run and one full run, which do not count
    store_rows(tmp_path, "pipeline", pipeline())
    store_rows(tmp_path, "pipeline", pipeline(fifo=[20000.0, 20000, 19000, 18000, 18000, 18000]))
    store_rows(tmp_path, "pipeline", pipeline(fifo=[20000.0, 20000, 9000, 5000, 5000, 5000]))
    cut = Run.create("pipeline", {}, "quick", 1, root=tmp_path)
    for r in pipeline(fifo=[1.0] * len(TASKS)):
        cut.append(r)
    cut.close("interrupted")
    store_rows(tmp_path, "pipeline", pipeline(fifo=[1.0] * len(TASKS)), profile="full")

    measured = margins.collect("quick", [tmp_path], claim_ids=["C2.1", "C2.2"])
    c21 = [m for m in measured if m.claim == "C2.1"]
    assert len(c21) == 3
    assert [m.status for m in c21] == ["PASS", "PASS", "FAIL"]
    assert c21[0].margin > c21[1].margin > 0 > c21[2].margin
    summary = {r["claim"]: r for r in margins.summarize(measured)}
    assert set(summary) == {"C2.1", "C2.2"}
    assert summary["C2.1"]["runs"] == 3 and summary["C2.1"]["passed"] == 2
    assert summary["C2.1"]["min_margin"] == pytest.approx(c21[2].margin)
    assert summary["C2.1"]["min"] == pytest.approx(c21[2].value)
    assert summary["C2.2"]["passed"] == 3
    table = margins.format_table(margins.summarize(measured), measured)
    assert "| C2.1" in table and "2/3" in table and "FAIL" in table


def test_since_and_undecided_runs(tmp_path):
    old = store_rows(tmp_path, "pipeline", pipeline())
    # a run whose rows cannot decide C2.2 (no pth points): undecided, not a failure
    store_rows(tmp_path, "pipeline", [r for r in pipeline() if r["scheduler"] != "pth"])
    measured = margins.collect("quick", [tmp_path], claim_ids=["C2.2"])
    assert [m.status for m in measured] == ["PASS", "MISSING"]
    row = margins.summarize(measured)[0]
    assert row["runs"] == 1 and row["undecided"] == 1 and row["passed"] == 1
    later = margins.collect("quick", [tmp_path], claim_ids=["C2.2"],
                            since="9999-01-01T00:00:00")
    assert later == []
    started = str(old.provenance["time_start_utc"])
    assert len(margins.collect("quick", [tmp_path], claim_ids=["C2.2"], since=started)) == 2


def test_cli_exit_status_and_errors(tmp_path, capsys):
    store_rows(tmp_path, "pipeline", pipeline())
    assert cli_main(["margins", "--root", str(tmp_path), "--claim", "C2.2"]) == 0
    out = capsys.readouterr().out
    assert "| C2.2 |" in out and "1/1" in out
    store_rows(tmp_path, "pipeline", pipeline(pth=[20000.0] * len(TASKS)))     # C2.2 fails here
    report = tmp_path / "m.md"
    assert cli_main(["margins", "--root", str(tmp_path), "--claim", "C2.2", "--runs",
                     "--out", str(report)]) == 1
    out = capsys.readouterr().out
    assert "failed in at least one run: C2.2" in out
    assert report.read_text().startswith("# Claim margins, quick profile")


@pytest.mark.parametrize("argv, words", [
    (["margins", "--root", "/no/such/dir"], "--root: no such directory"),
    (["margins", "--since", "yesterday"], "--since"),
    (["margins", "--claim", "C9.9"], "--claim: no claim C9.9"),
])
def test_cli_bad_arguments_name_the_option(argv, words, capsys, tmp_path):
    if "--claim" in argv:
        argv = argv + ["--root", str(tmp_path)]
    with pytest.raises(SystemExit) as exc:
        cli_main(argv)
    assert exc.value.code == 2
    assert words in capsys.readouterr().err


def test_cli_no_runs_says_so(tmp_path, capsys):
    assert cli_main(["margins", "--root", str(tmp_path)]) == 1
    assert "no complete quick runs under" in capsys.readouterr().out


def test_each_run_names_its_machine_and_the_summary_counts_them(tmp_path):
    # one commit on two VM builds of one CPU model: two machines, each run's named in its line
    first = store_rows(tmp_path, "pipeline", pipeline())
    second = store_rows(tmp_path, "pipeline", pipeline())
    for run, release in ((first, "6.18.44-fc-v1272"), (second, "6.18.44-fc-v1300")):
        run.provenance.update(cpu_model="AMD EPYC", kernel=f"Linux {release} #1 SMP")
        run._write_provenance()
    measured = margins.collect("quick", [tmp_path], claim_ids=["C2.2"])
    assert [m.machine for m in measured] == ["AMD EPYC, 6.18.44-fc-v1272",
                                             "AMD EPYC, 6.18.44-fc-v1300"]
    row = margins.summarize(measured)[0]
    assert row["runs"] == 2 and row["machines"] == 2
    table = margins.format_table([row], measured)
    assert "| 2 | 2 | 2/2 | 0 |" in table          # runs, machines, passed, inconclusive
    assert "| AMD EPYC, 6.18.44-fc-v1300 | PASS |" in table
    # the same machine twice is one; a provenance that names neither leaves the cell empty
    second.provenance.update(kernel="Linux 6.18.44-fc-v1272 #1 SMP")
    second._write_provenance()
    assert margins.summarize(margins.collect("quick", [tmp_path],
                                             claim_ids=["C2.2"]))[0]["machines"] == 1
    assert margins.machine({}) == "" and margins.machine({"kernel": "Linux"}) == ""
