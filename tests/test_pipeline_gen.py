"""The pipeline's ``gen`` backend: generator threads, the compiler's transform with nothing on top.

It must run the threaded program task for task like the other backends (exact counts and bytes,
every slot used) and show up in the cost table beside the event server.
"""

from __future__ import annotations

import pytest

from whyevents.experiments import pipeline as P
from whyevents.experiments import pipeline_worker as W
from whyevents.repro import costs


def _spec(tmp_path, tasks: int, total: int) -> dict:
    f = tmp_path / "f.bin"
    f.write_bytes(bytes(range(256)) * 256)
    return {"backend": "gen", "scheduler": "-", "tasks": tasks, "read_bytes": 8192,
            "file_bytes": 65536, "tasks_total": total, "warmup_s": 0.0, "warmup_rounds": 0,
            "window_rounds": 1, "window_s": 0.05, "path": str(f)}


@pytest.mark.parametrize("tasks,total", [(1, 300), (7, 7), (20, 7), (64, 1000)])
def test_gen_completes_exactly_the_tasks_issued(tmp_path, tasks, total):
    out = W.run_point(_spec(tmp_path, tasks, total))
    assert out["status"] == "ok", out.get("error")
    assert out["total_completed"] == total
    assert out["bytes_read"] == total * 8192
    assert out["threads_started"] == tasks


def test_gen_window_mode_closes_on_whole_rounds(tmp_path):
    out = W.run_point(_spec(tmp_path, 50, 0))
    assert out["status"] == "ok", out.get("error")
    assert out["completed"] > 0 and out["completed"] % 50 == 0


def test_gen_is_a_backend_of_both_profiles_and_of_the_cost_table():
    assert P.BACKENDS["gen"] == ("gen", "-")
    for prof in P.PROFILES.values():
        assert "gen" in prof["backends"]
    rows = [{"backend": "event", "scheduler": "-", "tasks": 10, "throughput_rps": 200.0,
             "status": "ok"},
            {"backend": "gen", "scheduler": "-", "tasks": 10, "throughput_rps": 150.0,
             "status": "ok"}]
    (row,) = costs.pipeline_costs(rows)
    assert row["gen"] == 150.0 and row["gen / event"] == pytest.approx(0.75)
