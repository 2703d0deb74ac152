"""Sweeps on Dask (issue 14, item 2): ``whyevents run NAME --cluster ADDRESS``.

Correctness, not timing, on a ``LocalCluster`` of this machine: two one-thread workers, each
offering one unit of the ``machine`` resource, stand for two machines. A cluster run stores the
same points as a local run, each row names the worker and its host, the provenance names the
scheduler and the workers; a resume across a cluster run measures only what is missing; a
worker killed mid-point has its point re-run elsewhere and stored once; a scheduler with no
``machine`` worker is refused with the command that starts one.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("distributed") is None,
                       reason="dask.distributed not installed: pip install -e '.[cluster]'"),
    pytest.mark.timeout(300),
]

ROOT = Path(__file__).resolve().parent.parent
#: a few seconds of scaling points: two backends x two sizes, one rep, no peers
PARAMS = ["-p", "threads=100,1000", "-p", "reps=1", "-p", "backends=whyevents,kernel",
          "-p", "peers=", "-p", "yield_window_s=0.1"]
KEYS = ("backend", "park", "threads", "rep")


#: The LocalCluster lives in a helper process of its own: its worker processes are started with
#: multiprocessing's spawn, which leaves a resource-tracker process behind in whichever process
#: made the cluster, for the rest of that process's life; here it ends with the helper, so the
#: other tests' "no child process left" checks see nothing of it.
_HOST = """
import sys
from distributed import LocalCluster
with LocalCluster(n_workers=int(sys.argv[1]), threads_per_worker=1, processes=True,
                  dashboard_address=":0", resources={"machine": 1}) as c:
    print(c.scheduler_address, flush=True)
    sys.stdin.read()
"""


class _Cluster:
    def __init__(self, n: int = 2):
        self.proc = subprocess.Popen([sys.executable, "-c", _HOST, str(n)], text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.scheduler_address = self.proc.stdout.readline().strip()
        assert self.scheduler_address.startswith("tcp://"), "the LocalCluster did not start"

    def workers(self) -> set[str]:
        from distributed import Client

        with Client(self.scheduler_address) as client:
            return set(client.scheduler_info()["workers"])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.stdin.close()                  # the helper closes its cluster and exits
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _cluster(n: int = 2) -> _Cluster:
    return _Cluster(n)


@pytest.fixture(scope="module")
def cluster():
    with _cluster() as c:
        yield c


def _rows(root: Path, experiment: str = "scaling") -> tuple[list[dict], dict]:
    (run,) = sorted((root / experiment).iterdir())
    rows = [json.loads(line) for line in (run / "rows.jsonl").read_text().splitlines()]
    return rows, json.loads((run / "provenance.json").read_text())


def _keys(rows: list[dict]) -> Counter:
    return Counter(tuple(r[k] for k in KEYS) for r in rows)


def test_cluster_run_stores_the_same_rows_as_a_local_run(tmp_path, cluster, capsys):
    from whyevents.repro import cli

    local, remote = tmp_path / "local", tmp_path / "cluster"
    assert cli.main(["run", "scaling", "--no-progress", "--root", str(local), *PARAMS]) == 0
    assert cli.main(["run", "scaling", "--no-progress", "--root", str(remote),
                     "--cluster", cluster.scheduler_address, *PARAMS]) == 0
    local_rows, local_prov = _rows(local)
    rows, prov = _rows(remote)
    assert _keys(rows) == _keys(local_rows) and max(_keys(rows).values()) == 1
    assert len(rows) == 4
    assert {r["status"] for r in rows} == {"ok"} == {r["status"] for r in local_rows}
    assert set(rows[0]) >= set(local_rows[0])          # the same columns, and the worker's
    workers = prov["cluster"]["workers"]
    assert prov["cluster"]["scheduler"] == cluster.scheduler_address
    assert set(workers) == cluster.workers()
    for r in rows:
        assert r["worker"] in workers and r["worker_host"]
        assert "worker_host" not in local_rows[0]
    assert prov["cluster"]["hosts"] == sorted({r["worker_host"] for r in rows})
    assert prov["status"] == "complete" and prov["parameters"] == local_prov["parameters"]
    assert prov["cluster"]["duplicates_dropped"] == 0 and prov["cluster"]["lost_points"] == []
    assert "cluster" not in local_prov


def test_resume_across_a_cluster_run_measures_only_what_is_missing(tmp_path, cluster):
    from whyevents.repro import cli, runner

    class Stop(KeyboardInterrupt):
        pass

    def stop_after_first(row):
        raise Stop

    params = runner.parse_overrides(
        ["threads=100,1000", "reps=1", "backends=whyevents,kernel", "peers=",
         "yield_window_s=0.1"])
    with pytest.raises(Stop):
        runner.run_experiment("scaling", "quick", params, progress=False, root=tmp_path,
                              on_row=stop_after_first)
    first, prov = _rows(tmp_path)
    assert len(first) == 1 and prov["status"] == "interrupted"
    assert cli.main(["run", "scaling", "--no-progress", "--root", str(tmp_path), "--resume",
                     "--cluster", cluster.scheduler_address, *PARAMS]) == 0
    rows, prov = _rows(tmp_path)
    assert len(rows) == 4 and max(_keys(rows).values()) == 1
    assert rows[0] == first[0] and "worker_host" not in rows[0]     # kept, not re-measured
    assert all("worker_host" in r for r in rows[1:])
    assert prov["status"] == "complete"


def test_a_lost_workers_point_is_re_run_and_stored_once(tmp_path):
    """Kill (SIGKILL) the worker process measuring a point: Dask re-runs that point on a
    worker that is alive; the store holds every point exactly once."""
    from whyevents.repro import runner

    params = runner.parse_overrides(["threads=100", "reps=2", "backends=whyevents", "peers=",
                                     "yield_window_s=2.0"])
    with _cluster() as c:
        from distributed import Client

        result: dict = {}

        def sweep():
            try:
                result["run"] = runner.run_experiment("scaling", "quick", params, progress=False,
                                                      root=tmp_path,
                                                      cluster=c.scheduler_address)
            except BaseException as e:  # noqa: BLE001 - re-raised below
                result["error"] = e

        t = threading.Thread(target=sweep)
        t.start()
        killed = None
        with Client(c.scheduler_address) as client:
            deadline = time.monotonic() + 120
            while killed is None and time.monotonic() < deadline and t.is_alive():
                busy = [w for w, tasks in client.processing().items() if tasks]
                if busy:
                    pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
                    os.kill(pid, signal.SIGKILL)      # a worker of the cluster this test made
                    killed = busy[0]
                time.sleep(0.2)
        t.join(240)
        assert not t.is_alive()
    assert "error" not in result, result.get("error")
    assert killed is not None, "no point was seen running on a worker"
    rows, prov = _rows(tmp_path)
    assert _keys(rows) == Counter({("whyevents", "condition", 100, 0): 1,
                                   ("whyevents", "condition", 100, 1): 1})
    assert prov["status"] == "complete"
    assert all(r["status"] == "ok" for r in rows)


def test_a_newer_client_closed_mid_sweep_does_not_stall_it(cluster):
    """Another Client of this process, made after the sweep's (so the process's default one)
    and closed while the points run, as a notebook's or a test's may be: the sweep still
    receives every result (its completion waits run on its own client's event loop)."""
    from distributed import Client

    from whyevents.repro import cluster as dask_sweeps
    from whyevents.repro import runner

    mod = runner.load("scaling")
    params = runner.resolve_params(mod, "quick", runner.parse_overrides(
        ["threads=100", "reps=2", "backends=whyevents", "peers=", "yield_window_s=2.0"]))
    stored: list[dict] = []
    out: dict = {}

    def sweep(client):
        try:
            out.update(dask_sweeps.run_points(
                client, mod.__name__, params, mod.points(params),
                lambda p: tuple(p[k] for k in mod.KEY_FIELDS), set(),
                lambda point, rows: stored.extend(rows)))
        except BaseException as e:  # noqa: BLE001 - asserted below
            out["error"] = e

    with Client(cluster.scheduler_address) as own:
        other = Client(cluster.scheduler_address)
        t = threading.Thread(target=sweep, args=(own,))
        t.start()
        deadline = time.monotonic() + 120
        while (t.is_alive() and time.monotonic() < deadline
               and not any(other.processing().values())):
            time.sleep(0.05)
        time.sleep(0.5)                  # the sweep is past its submits, waiting for results
        other.close()
        t.join(120)
        assert not t.is_alive(), "the sweep stalled after another Client closed"
    assert "error" not in out, out.get("error")
    assert out["lost"] == [] and len(stored) == 2


def test_a_scheduler_without_machine_workers_is_refused_with_the_command(tmp_path):
    from distributed import LocalCluster

    from whyevents.repro import cluster as dask_sweeps

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as c:
        with pytest.raises(ValueError, match="--resources machine=1"):
            with dask_sweeps.connect(c.scheduler_address):
                pass


def test_no_process_is_left_behind(cluster):
    """Last of the cluster tests in this module's order: the runner and the Client start no
    process of their own in this one (the cluster's processes are the helper's)."""
    import psutil

    mine = [p for p in psutil.Process().children(recursive=True)
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE and p.pid != cluster.proc.pid
            and cluster.proc.pid not in [a.pid for a in p.parents()]]
    assert mine == [], mine


def test_notebooks_that_measure_take_a_cluster_parameter():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = json.loads(path.read_text())
        code = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
        calls = [c for c in code if "nb.experiment(" in c]
        if not calls:
            continue
        assert "cluster = None" in code[0], path.name
        assert all("cluster=cluster" in c for c in calls), path.name
