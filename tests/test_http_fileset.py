"""SPECweb99-like file set: sizes, counts, determinism, mix statistics and the CLI."""

from __future__ import annotations

import math
import os
import random
from collections import Counter
from pathlib import Path

import pytest

from whyevents.http import fileset
from whyevents.http.fileset import (
    CLASS_FREQUENCIES,
    FILE_ORDER,
    RequestMix,
    build_fileset,
    directory_bytes,
    file_size,
    read_trace,
    spec_directories,
)


def test_file_sizes_per_class() -> None:
    assert [file_size(0, k) for k in range(9)] == [102, 204, 307, 409, 512, 614, 716, 819, 921]
    assert [file_size(1, k) for k in range(9)] == [1024 * (k + 1) for k in range(9)]
    assert [file_size(2, k) for k in range(9)] == [10240 * (k + 1) for k in range(9)]
    assert [file_size(3, k) for k in range(9)] == [102400 * (k + 1) for k in range(9)]
    assert directory_bytes() == 5_119_484
    with pytest.raises(ValueError):
        file_size(4, 0)


def test_directory_count_matches_specweb99_and_seda() -> None:
    assert spec_directories(1) == 25
    assert spec_directories(1024) == 696
    # SEDA (SOSP 2001) reports a 3.31 GB file set for its 1,024-client runs.
    assert spec_directories(1024) * directory_bytes() / 2**30 == pytest.approx(3.31, abs=0.01)
    assert fileset.scaled_directories(1024, 0.01) == 6
    assert fileset.scaled_directories(1, 0.001) == 1
    with pytest.raises(ValueError):
        spec_directories(0)
    with pytest.raises(ValueError):
        fileset.scaled_directories(10, 0.0)


def tree_snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != fileset.MANIFEST}


def test_build_writes_right_files_deterministically(tmp_path: Path) -> None:
    fs = build_fileset(tmp_path / "a", clients=10, seed=3, scale=0.1)
    assert fs.directories == 3 and fs.files == 108
    snapshot = tree_snapshot(tmp_path / "a")
    assert len(snapshot) == 108
    for url in fs.paths():
        data = snapshot[url.lstrip("/")]
        assert len(data) == fs.expected_size(url)
        assert url.encode() in data[:80] or len(data) < 80
    again = build_fileset(tmp_path / "b", clients=10, seed=3, scale=0.1)
    assert tree_snapshot(tmp_path / "b") == snapshot
    assert again.to_json() == fs.to_json()
    build_fileset(tmp_path / "c", clients=10, seed=4, scale=0.1)
    other_snapshot = tree_snapshot(tmp_path / "c")
    assert other_snapshot.keys() == snapshot.keys()
    assert other_snapshot != snapshot
    assert RequestMix.load(tmp_path / "a" / fileset.MANIFEST) == fs.mix


def test_rebuild_repairs_and_reseeds(tmp_path: Path) -> None:
    build_fileset(tmp_path, clients=1, seed=1, scale=0.04)
    target = tmp_path / "dir00000" / "class2_3"
    good = target.read_bytes()
    target.write_bytes(b"truncated")
    build_fileset(tmp_path, clients=1, seed=1, scale=0.04)
    assert target.read_bytes() == good
    build_fileset(tmp_path, clients=1, seed=2, scale=0.04)
    assert target.read_bytes() != good and len(target.read_bytes()) == len(good)


def test_build_rejects_bad_arguments(tmp_path: Path) -> None:
    for kwargs in ({"clients": 0}, {"clients": 1.5}, {"clients": 1, "scale": -1},
                   {"clients": 1, "seed": "x"}):
        with pytest.raises(ValueError):
            build_fileset(tmp_path, **kwargs)  # type: ignore[arg-type]


def within_sigmas(count: int, n: int, p: float, sigmas: float = 4.0) -> bool:
    return abs(count / n - p) <= sigmas * math.sqrt(p * (1 - p) / n)


def test_class_frequencies_of_100k_samples() -> None:
    mix = RequestMix(spec_directories(100))
    n = 100_000
    counts = Counter(mix.class_of(p) for p in mix.sample(n, random.Random(12345)))
    for cls, p in enumerate(CLASS_FREQUENCIES):
        assert within_sigmas(counts[cls], n, p), (cls, counts[cls] / n, p)


def test_file_and_directory_zipf_of_100k_samples() -> None:
    mix = RequestMix(20)
    n = 100_000
    samples = mix.sample(n, random.Random(99))
    files = Counter(int(p[-1]) for p in samples)
    harmonic9 = sum(1 / r for r in range(1, 10))
    for rank, k in enumerate(FILE_ORDER):
        assert within_sigmas(files[k], n, 1 / (rank + 1) / harmonic9), (k, files[k] / n)
    dirs = Counter(int(p[4:9]) for p in samples)
    harmonic20 = sum(1 / r for r in range(1, 21))
    for d in range(20):
        assert within_sigmas(dirs[d], n, 1 / (d + 1) / harmonic20), (d, dirs[d] / n)


def test_probabilities_are_a_distribution_and_match_documented_shares() -> None:
    mix = RequestMix(7)
    fs = fileset.FileSet("unused", 1, 0, 1.0, 7, mix)
    assert sum(mix.probability(p) for p in fs.paths()) == pytest.approx(1.0)
    assert mix.probability("/dir00007/class0_0") == 0.0
    assert mix.probability("/elsewhere") == 0.0
    # Within a class, file 4 gets 35.3 % and file 0 gets 3.9 % (SPECweb99).
    in_class = [sum(mix.probability(f"/dir{d:05d}/class1_{k}") for d in range(7)) / 0.5
                for k in range(9)]
    assert in_class[4] == pytest.approx(0.3535, abs=1e-3)
    assert in_class[0] == pytest.approx(0.0393, abs=1e-3)
    assert mix.mean_response_bytes() == pytest.approx(14_727, abs=1)


def test_trace_is_deterministic_and_round_trips(tmp_path: Path) -> None:
    mix = RequestMix(50)
    assert mix.trace(1000, seed=5) == mix.trace(1000, seed=5)
    assert mix.trace(1000, seed=5) != mix.trace(1000, seed=6)
    mix.write_trace(tmp_path / "t.txt", 500, seed=5)
    assert read_trace(tmp_path / "t.txt") == mix.trace(500, seed=5)
    mix.save(tmp_path / "mix.json")
    assert RequestMix.load(tmp_path / "mix.json") == mix


def test_mix_validation() -> None:
    with pytest.raises(ValueError):
        RequestMix(0)
    with pytest.raises(ValueError):
        RequestMix(5, class_frequencies=(0.5, 0.5, 0.1, 0.0))
    with pytest.raises(ValueError):
        RequestMix(5, file_order=(0, 0, 1, 2, 3, 4, 5, 6, 7))


def test_main_writes_set_and_trace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "www"
    code = fileset.main(["--root", str(root), "--clients", "5", "--seed", "2",
                         "--scale", "0.05", "--trace", "100"])
    assert code == 0
    assert len(list(root.glob("dir*"))) == 1
    assert len(read_trace(root / "trace.txt")) == 100
    assert "1 directories, 36 files" in capsys.readouterr().out


def test_main_dry_run_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert fileset.main(["--root", str(tmp_path / "x"), "--clients", "1024", "--dry-run"]) == 0
    assert not (tmp_path / "x").exists()
    assert "696 directories" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "names"), [
    (["--clients", "0"], "--clients"),
    (["--clients", "many"], "--clients"),
    (["--clients", "4", "--scale", "-1"], "--scale"),
    (["--clients", "4", "--scale", "nan"], "--scale"),
    (["--clients", "4", "--seed", "1.5"], "--seed"),
    (["--clients", "4", "--trace", "0"], "--trace"),
])
def test_main_names_bad_parameter(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  argv: list[str], names: str) -> None:
    with pytest.raises(SystemExit) as info:
        fileset.main(["--root", str(tmp_path)] + argv)
    assert info.value.code == 2
    assert names in capsys.readouterr().err


def test_main_reports_unwritable_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert fileset.main(["--root", str(blocker / "sub"), "--clients", "1",
                         "--scale", "0.04"]) == 1
    assert "--root" in capsys.readouterr().err
    assert os.path.isfile(blocker)
