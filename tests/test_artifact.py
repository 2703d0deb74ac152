"""The artifact appendix (``repro.artifact``, ``paper/ARTIFACT.md``) from stored runs."""

from __future__ import annotations

import json

from support.rows import pipeline
from support.rows import store_rows as _store
from whyevents.repro import artifact, claims, paths
from whyevents.repro.report import write_report


def test_appendix_of_the_published_runs():
    text = artifact.render()
    assert text == artifact.render()             # no timestamp: the same runs, the same file
    full = [v for v in claims.evaluate_all("full", root=paths.PUBLISHED)]
    assert full
    for v in full:                               # each full claim: command, profile, run id
        assert f"| {v.id}" in text
        if v.status == claims.MISSING:           # no published run holds its points (yet)
            continue
        assert "| `whyevents run " in text and f"`{v.run_id}`" in text
    prov = json.loads(next(paths.PUBLISHED.glob("pipeline/*/provenance.json")).read_text())
    assert prov["cpu_model"] in text and prov["python"] in text
    assert "--profile full` | full |" in text
    for badge in artifact.BADGES:
        assert f"| {badge} |" in text
    assert "DOI" in text and "## Hardware and software of the published runs" in text


def test_appendix_from_a_synthetic_store_and_with_the_report(tmp_path):
    run = _store(tmp_path / "results", "pipeline", pipeline())
    text = artifact.render(root=tmp_path / "results")
    assert "| C2.1 (known divergence) | `whyevents run pipeline --profile quick` | quick |" \
        in text and f"`{run.run_id}`" in text
    assert "No published full runs." in text
    assert "| pipeline | `" + run.run_id + "` | quick |" in text
    out = tmp_path / "paper" / "ARTIFACT.md"
    write_report("quick", out=tmp_path / "paper" / "REPORT.md", root=tmp_path / "results",
                 draw=False, artifact=out)
    assert out.read_text() == artifact.render()   # from data/published, whatever the report's root
    # a report written elsewhere does not touch paper/ARTIFACT.md unless asked
    write_report("quick", out=tmp_path / "other" / "REPORT.md", root=tmp_path / "results",
                 draw=False)
    assert not (tmp_path / "other" / "ARTIFACT.md").exists()
