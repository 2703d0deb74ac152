"""The results store: one directory per run, every finished point on disk at once.

Layout (docs/DESIGN.md, "Experiments and results")::

    data/results/<experiment>/<run-id>/
        provenance.json   collect() at start; status, end time and duration at close
        rows.jsonl        one JSON object per measured point: the source of truth
        results.csv       the same rows as a table, for people and spreadsheets
        results.parquet   written at close when pyarrow is importable

Why these choices:

* **Never overwrite.** The run id is the UTC start time plus a short random suffix
  (``20261126T112642Z-3f9a``) and the directory is made with ``exist_ok=False``; a clash retries
  with a new suffix. Runs are ordered by their recorded start time (microseconds), so "latest"
  is right even for two runs started in the same second.
* **A killed sweep keeps its points.** ``append`` writes one line to ``rows.jsonl`` and to
  ``results.csv`` and flushes + fsyncs both before returning. A process killed mid-line leaves at
  most a torn last line; ``rows()`` ignores it and ``Run.resume`` cuts it off and rebuilds the CSV.
* **New columns later are fine.** Rows are dicts and need not share keys (a point that failed may
  carry ``error`` and lack the measurements). JSONL holds each row as given; when a row brings a
  column the CSV header lacks, the CSV is rewritten from the JSONL with the union of columns (in
  first-seen order, missing cells empty) and atomically replaced. Reading ``rows()`` returns the
  JSONL rows with their types (ints stay ints), not CSV strings.
* **Atomic provenance.** ``provenance.json`` is written to a temporary file in the same directory,
  fsynced, then ``os.replace``d over the old one: a reader sees the old or the new file, never half.

``status`` in the provenance: ``running`` while open (a run that still says ``running`` after its
process died was killed), ``complete`` after ``close()``, ``interrupted`` when the ``with`` block
exits with an exception or ``close("interrupted")`` is called. ``Run.resume`` reopens a run;
``done_keys`` tells a sweep which points to skip.

* **A point's rows go in together** (``extend``: one write, one fsync), so a process killed
  between two rows of one point cannot leave half a point that ``done_keys`` would call done.
* **A row whose ``status`` is ``interrupted``** (``INTERRUPTED``) is a point cut short from
  outside, e.g. its server or load process killed by a signal the experiment did not send: it is
  not done (``done_keys`` skips it), and ``Run.resume`` moves it out of ``rows.jsonl`` into the
  resume's record in the provenance (``resumed[-1]["set_aside"]``) so that the re-measured point
  is the only row set of its key and the fault stays on record.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import importlib.util
import json
import os
import secrets
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from whyevents.harness import provenance as _prov
from whyevents.repro import paths

__all__ = ["Run", "RunNotFound", "latest", "list_runs", "reference", "atomic_write_json",
           "INTERRUPTED"]

PROVENANCE = "provenance.json"
ROWS_JSONL = "rows.jsonl"
RESULTS_CSV = "results.csv"
RESULTS_PARQUET = "results.parquet"
#: a row's ``status`` for a point cut short from outside: not done, re-measured by a resume
INTERRUPTED = "interrupted"


class RunNotFound(LookupError):
    """No stored run matches; the message says which experiment, profile and root were searched."""


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _jsonable(obj: Any) -> Any:
    # numpy/pandas scalars, Paths, sets: whatever a benchmark hands us
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    raise TypeError(f"cannot store {type(obj).__name__} in a results row or provenance")


def atomic_write_json(path: Path, data: Any) -> None:
    """Write JSON so that ``path`` is always either the old file or the complete new one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, default=_jsonable)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _new_run_id() -> str:
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(2)}"


def _read_jsonl(path: Path) -> tuple[list[dict], int]:
    """Rows, and the byte length of the valid prefix (a torn last line is not part of it)."""
    rows: list[dict] = []
    good = 0
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return rows, 0
    pos = 0
    for line in data.splitlines(keepends=True):
        pos += len(line)
        if not line.endswith(b"\n"):
            break  # torn: the writer died mid-line
        text = line.strip()
        if text:
            try:
                rows.append(json.loads(text))
            except json.JSONDecodeError:
                break
        good = pos
    return rows, good


class Run:
    """One run of one experiment: a directory, its provenance and its rows."""

    def __init__(self, directory: Path, provenance: dict):
        self.dir = Path(directory)
        self.provenance = provenance
        self._columns: list[str] | None = None

    # -- naming ---------------------------------------------------------------------------------
    @property
    def run_id(self) -> str:
        return self.dir.name

    @property
    def experiment(self) -> str:
        return self.provenance.get("experiment", self.dir.parent.name)

    @property
    def profile(self) -> str | None:
        return self.provenance.get("profile")

    @property
    def status(self) -> str | None:
        return self.provenance.get("status")

    def __repr__(self) -> str:
        return f"Run({self.experiment}/{self.run_id}, profile={self.profile}, {self.status})"

    # -- making and finding ---------------------------------------------------------------------
    @classmethod
    def create(cls, experiment: str, parameters: dict, profile: str, seed: int | None,
               root: Path | None = None) -> Run:
        """A new, empty run directory with its provenance; never reuses an existing one."""
        if not experiment or "/" in experiment or experiment.startswith("."):
            raise ValueError(f"bad experiment name {experiment!r}")
        base = Path(root if root is not None else paths.RESULTS) / experiment
        base.mkdir(parents=True, exist_ok=True)
        for _ in range(100):
            directory = base / _new_run_id()
            try:
                directory.mkdir(exist_ok=False)
                break
            except FileExistsError:
                continue
        else:  # pragma: no cover - 100 clashes of a 16-bit suffix in one second
            raise FileExistsError(f"could not make a fresh run directory under {base}")
        prov = {"experiment": experiment, "run_id": directory.name, "status": "running",
                **_prov.collect(parameters, profile, seed, root=paths.ROOT)}
        run = cls(directory, prov)
        run._write_provenance()
        return run

    @classmethod
    def open(cls, directory: Path) -> Run:
        """A stored run, read-only use (rows, frame); nothing is written."""
        directory = Path(directory)
        try:
            prov = json.loads((directory / PROVENANCE).read_text())
        except FileNotFoundError:
            raise RunNotFound(f"{directory} is not a run (no {PROVENANCE})") from None
        return cls(directory, prov)

    @classmethod
    def resume(cls, experiment: str, run_id: str = "latest", root: Path | None = None) -> Run:
        """Reopen a run to add points: cut a torn last row, rebuild the CSV, mark it running."""
        if run_id == "latest":
            run = latest(experiment, root=root)
        else:
            base = Path(root if root is not None else paths.RESULTS) / experiment
            run = cls.open(base / run_id)
        rows, good = _read_jsonl(run._jsonl)
        if run._jsonl.exists() and good != run._jsonl.stat().st_size:
            with open(run._jsonl, "r+b") as f:
                f.truncate(good)
                f.flush()
                os.fsync(f.fileno())
        aside = [r for r in rows if r.get("status") == INTERRUPTED]
        kept = [r for r in rows if r.get("status") != INTERRUPTED]
        git = _prov.git_state(paths.ROOT)
        record = {
            "time_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="microseconds"),
            "previous_status": run.status, "rows_before": len(rows),
            "git_commit": git["git_commit"], "git_dirty": git["git_dirty"],
        }
        if aside:
            record["set_aside"] = aside
        run.provenance.setdefault("resumed", []).append(record)
        run.provenance["status"] = "running"
        run._write_provenance()          # the set-aside rows are on record before they leave
        if aside:
            run._rewrite_jsonl(kept)
        run._rewrite_csv(kept)
        return run

    # -- writing --------------------------------------------------------------------------------
    @property
    def _jsonl(self) -> Path:
        return self.dir / ROWS_JSONL

    @property
    def _csv(self) -> Path:
        return self.dir / RESULTS_CSV

    def _write_provenance(self) -> None:
        atomic_write_json(self.dir / PROVENANCE, self.provenance)

    def _csv_header(self) -> list[str]:
        if self._columns is None:
            try:
                with open(self._csv, newline="") as f:
                    self._columns = next(csv.reader(f), [])
            except FileNotFoundError:
                self._columns = []
        return self._columns

    def _rewrite_csv(self, rows: Sequence[dict]) -> None:
        columns: list[str] = []
        for row in rows:
            columns.extend(k for k in row if k not in columns)
        fd, tmp = tempfile.mkstemp(prefix=f".{RESULTS_CSV}.", suffix=".tmp", dir=self.dir)
        with os.fdopen(fd, "w", newline="") as f:
            if columns:
                w = csv.DictWriter(f, fieldnames=columns, restval="")
                w.writeheader()
                w.writerows(_csv_cells(r) for r in rows)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._csv)
        _fsync_dir(self.dir)
        self._columns = columns

    def _rewrite_jsonl(self, rows: Sequence[dict]) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".{ROWS_JSONL}.", suffix=".tmp", dir=self.dir)
        with os.fdopen(fd, "w") as f:
            f.writelines(json.dumps(r, default=_jsonable, allow_nan=True) + "\n" for r in rows)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._jsonl)
        _fsync_dir(self.dir)

    def append(self, row: dict) -> None:
        """Store one finished point now (flushed and fsynced before this returns)."""
        self.extend([row])

    def extend(self, rows: Sequence[dict]) -> None:
        """Store one finished point's rows now, in one write (flushed and fsynced)."""
        rows = list(rows)
        if not rows or not all(isinstance(r, dict) and r for r in rows):
            raise ValueError("a results row is a non-empty dict")
        data = "".join(json.dumps(r, default=_jsonable, allow_nan=True) + "\n"
                       for r in rows).encode()
        fd = os.open(self._jsonl, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            view = memoryview(data)
            while view:                  # a regular file takes it in one write in practice
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        header = self._csv_header()
        if header and all(k in header for r in rows for k in r):
            with open(self._csv, "a", newline="") as f:
                csv.DictWriter(f, fieldnames=header, restval="").writerows(
                    _csv_cells(r) for r in rows)
                f.flush()
                os.fsync(f.fileno())
        else:  # first row, or a new column: the CSV is rebuilt from the JSONL
            self._rewrite_csv(self.rows())

    def close(self, status: str = "complete") -> None:
        """Finish the provenance (end time, duration, status, row count); write Parquet if able."""
        if status not in ("complete", "interrupted", "failed"):
            raise ValueError(f"status must be complete, interrupted or failed, not {status!r}")
        rows = self.rows()
        self.provenance["status"] = status
        self.provenance["rows"] = len(rows)
        _prov.finish(self.provenance)
        if rows and importlib.util.find_spec("pyarrow") is not None:
            try:
                self.frame().to_parquet(self.dir / RESULTS_PARQUET)
            except Exception as exc:  # a Parquet problem must not lose the run's status
                self.provenance["parquet_error"] = repr(exc)
        self._write_provenance()

    def __enter__(self) -> Run:
        return self

    def __exit__(self, et, ev, tb) -> None:
        self.close("complete" if et is None else "interrupted")

    # -- reading --------------------------------------------------------------------------------
    def rows(self) -> list[dict]:
        """Every stored point, in the order measured (a torn last line is skipped)."""
        return _read_jsonl(self._jsonl)[0]

    def frame(self):
        """The rows as a pandas DataFrame (columns in first-seen order)."""
        import pandas as pd

        return pd.DataFrame.from_records(self.rows())

    def done_keys(self, key_fields: Sequence[str]) -> set[tuple]:
        """The points already measured, as tuples of ``key_fields`` values, for ``--resume``.

        Values keep their JSON types (an ``int`` parameter comes back an ``int``), so a sweep
        can test ``tuple(point[k] for k in key_fields) in done``. Rows lacking a key field, and
        rows whose status is ``INTERRUPTED``, are not counted as done.
        """
        fields = list(key_fields)
        return {tuple(r[k] for k in fields) for r in self.rows()
                if all(k in r for k in fields) and r.get("status") != INTERRUPTED}


def _csv_cells(row: dict) -> dict:
    return {k: (json.dumps(v, default=_jsonable) if isinstance(v, dict | list) else v)
            for k, v in row.items()}


def list_runs(experiment: str, root: Path | None = None) -> list[Run]:
    """Every stored run of ``experiment``, oldest first (directories without provenance skipped)."""
    base = Path(root if root is not None else paths.RESULTS) / experiment
    if not base.is_dir():
        return []
    runs = []
    for d in base.iterdir():
        if d.is_dir() and not d.name.startswith("."):
            try:
                runs.append(Run.open(d))
            except (RunNotFound, json.JSONDecodeError):
                continue
    # the start time has microseconds; ids alone misorder two runs started in the same second
    runs.sort(key=lambda r: (str(r.provenance.get("time_start_utc", "")), r.run_id))
    return runs


def latest(experiment: str, profile: str | None = None, *, status: str | None = None,
           root: Path | None = None) -> Run:
    """The newest run of ``experiment`` (optionally of one profile and/or status)."""
    runs = [r for r in list_runs(experiment, root)
            if (profile is None or r.profile == profile) and (status is None or r.status == status)]
    if not runs:
        where = Path(root if root is not None else paths.RESULTS) / experiment
        what = ", ".join(f"{k}={v}" for k, v in (("profile", profile), ("status", status)) if v)
        raise RunNotFound(f"no stored run of {experiment!r}{' with ' + what if what else ''} "
                          f"under {where}")
    return runs[-1]


def reference(figure: str, series: str | Iterable[str] | None = None, *, normalize: bool = False,
              path: Path | None = None):
    """The original papers' figure data (see data/reference/README.md) as a DataFrame.

    ``normalize=True`` divides each series by its own peak (``y`` becomes a fraction of the peak,
    ``y_raw`` keeps the value and ``y_unit`` says ``fraction_of_peak``), which is how shapes are
    compared across machines twenty years apart.
    """
    import pandas as pd

    df = pd.read_csv(path if path is not None else paths.REFERENCE_CSV)
    known = sorted(df["figure"].unique())
    df = df[df["figure"] == figure]
    if df.empty:
        raise KeyError(f"no reference figure {figure!r}; have {', '.join(known)}")
    if series is not None:
        wanted = [series] if isinstance(series, str) else list(series)
        have = sorted(df["series"].unique())
        missing = [s for s in wanted if s not in have]
        if missing:
            raise KeyError(f"figure {figure!r} has no series {missing}; have {have}")
        df = df[df["series"].isin(wanted)]
    df = df.reset_index(drop=True)
    if normalize:
        df["y_raw"] = df["y"]
        df["y"] = df["y"] / df.groupby("series")["y"].transform("max")
        df["y_unit"] = "fraction_of_peak"
    return df
