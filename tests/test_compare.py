"""``whyevents compare`` (``repro.compare``): one's own stored runs against the published ones."""

from __future__ import annotations

import dataclasses

import pytest

from support.rows import pipeline
from support.rows import store_rows as _store
from whyevents.repro import claims, compare
from whyevents.repro.cli import main as cli_main

CLIFF = [20000.0, 20000, 9000, 5000, 5000, 5000]      # fifo collapses: C2.1 fails at quick


def _roots(tmp_path, here_rows, published_rows):
    here, published = tmp_path / "results", tmp_path / "published"
    _store(here, "pipeline", here_rows)
    _store(published, "pipeline", published_rows)
    return here, published


def test_runs_that_agree(tmp_path, capsys):
    here, published = _roots(tmp_path, pipeline(fifo=[20000.0, 20000, 19500, 19000, 19000,
                                                       19000]), pipeline())
    rows = {r.claim: r for r in compare.compare("quick", root=here, against=published)}
    assert rows["C2.1"].here.status == rows["C2.1"].published.status == "PASS"
    assert rows["C2.1"].here.run_id != rows["C2.1"].published.run_id
    c21 = rows["C2.1"]
    assert c21.delta == pytest.approx(c21.here.value - c21.published.value)
    assert 0 < rows["C2.1"].apart < 1            # 0.05 apart, tolerance 0.15
    # experiments neither side ran are MISSING on both: they agree (nothing claimed either way)
    assert rows["C3.6"].here.status == rows["C3.6"].published.status == "MISSING"
    assert compare.agreed(list(rows.values()))
    out = tmp_path / "cmp.md"
    assert cli_main(["compare", "--root", str(here), "--against", str(published),
                     "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"{len(rows)} of {len(rows)} verdicts agree (quick profile" in text
    assert "Every verdict agrees." in text
    assert out.read_text().startswith("# This machine against the published runs, quick profile")


def test_runs_that_disagree(tmp_path, capsys):
    here, published = _roots(tmp_path, pipeline(fifo=CLIFF), pipeline())
    rows = {r.claim: r for r in compare.compare("quick", root=here, against=published)}
    assert rows["C2.1"].here.status == "FAIL" and rows["C2.1"].published.status == "PASS"
    assert not rows["C2.1"].agree and rows["C2.2"].agree
    assert rows["C2.1"].apart > 1                 # further apart than the tolerance
    assert cli_main(["compare", "--root", str(here), "--against", str(published)]) == 1
    text = capsys.readouterr().out
    assert "| C2.1 (known divergence) |" in text and "**no**" in text
    assert "Verdicts that differ: C2.1, C2.5." in text   # the cliff also drops fifo/event


def test_a_claim_not_run_here_disagrees_and_says_so(tmp_path, capsys):
    here, published = tmp_path / "results", tmp_path / "published"
    here.mkdir()
    _store(published, "pipeline", pipeline())
    rows = compare.compare("quick", root=here, against=published)
    assert not compare.agreed(rows)
    assert "| not run here | PASS | **no** |" in compare.format_markdown(rows, "quick")
    assert cli_main(["compare", "--root", str(here), "--against", str(published)]) == 1
    assert compare.agreed([]) is False


def test_intervals_are_read_when_the_verdicts_carry_them():
    @dataclasses.dataclass(frozen=True)
    class WithInterval(claims.Verdict):
        interval: tuple[float, float] | None = None

    plain = claims.Verdict("C2.1", True, 0.8, 0.6, "C2.1 PASS — x", "PASS", "r1")
    ranged = WithInterval("C2.1", True, 0.9, 0.6, "C2.1 PASS — x", "PASS", "r2",
                          interval=(0.85, 0.95))
    assert compare.interval_of(plain) is None
    assert compare.interval_of(ranged) == (0.85, 0.95)
    row = compare.Compared("C2.1", "x", False, 0.0, 0.75, ">=", ranged, plain)
    assert row.apart == pytest.approx(0.1 / 0.75)    # no tolerance: relative to the threshold
    text = compare.format_markdown([row], "full")
    assert "| [0.85, 0.95] | — |" in text and "of threshold" in text


def test_against_must_exist(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        cli_main(["compare", "--against", str(tmp_path / "nope")])
    assert exc.value.code == 2
    assert "--against: no such directory" in capsys.readouterr().err


def test_a_verdict_that_differs_on_another_machine_says_so(tmp_path, capsys):
    here, published = _roots(tmp_path, pipeline(fifo=CLIFF), pipeline())
    for root, release in ((here, "6.18.44-fc-v1300"), (published, "6.18.44-fc-v1272")):
        (run,) = compare.store.list_runs("pipeline", root)
        run.provenance.update(cpu_model="AMD EPYC", kernel=f"Linux {release} #1 SMP")
        run._write_provenance()
    rows = {r.claim: r for r in compare.compare("quick", root=here, against=published)}
    assert rows["C2.1"].here_machine == "AMD EPYC, 6.18.44-fc-v1300"
    assert rows["C2.1"].published_machine == "AMD EPYC, 6.18.44-fc-v1272"
    assert rows["C2.1"].other_machine and not rows["C2.1"].agree
    assert rows["C3.6"].here_machine == "" and not rows["C3.6"].other_machine   # no web run
    text = compare.format_markdown(list(rows.values()), "quick")
    assert "| **no** (machines differ) |" in text
    assert ("Machines (CPU model, kernel release): here AMD EPYC, 6.18.44-fc-v1300; published "
            "AMD EPYC, 6.18.44-fc-v1272.") in text
    # one machine on both sides: a disagreement is only that
    (run,) = compare.store.list_runs("pipeline", published)
    run.provenance.update(kernel="Linux 6.18.44-fc-v1300 #1 SMP")
    run._write_provenance()
    rows = {r.claim: r for r in compare.compare("quick", root=here, against=published)}
    assert not rows["C2.1"].other_machine
    assert "| **no** |" in compare.format_markdown(list(rows.values()), "quick")
