"""ci/lint_units.py: measured numbers in docstrings and comments are found, parameters are not.

Why here: the lint is what keeps stale timings out of the code (docs/DESIGN.md), so a measured
number planted in a docstring or a comment must fail it at the right line, the parameters the
code legitimately states must pass, and the runtime itself must pass: a number that slips back
into runtime/ fails this test, hence ``make test``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT = ROOT / "ci" / "lint_units.py"

PLANTED = '''\
"""A module.

The server does 68k req/s on this machine.
"""


def f():
    """Cost per call, measured: 13.5 us."""
    x = 1  # parked threads hold 7.26 KB/thread
    return x  # this one is 1.4x faster than that
'''

PARAMETERS = '''\
"""Serve an 8 KiB file, with a 2 s linger bound and a timeout of 120 s.

LINGER_TIME: at most this many seconds. RLIMIT_NOFILE at 20,000; at most 1 MiB of keys;
slowloris is bounded by 2 x ``request_timeout``; 5 requests per connection, 20 ms think time.
The paper says Haboob context switches "30,000 times per second when fully loaded".
"""

WAIT_US = 50  # a 50 us poll interval (unit-ok: parameter)
TIMEOUT = 30.0  # seconds a request may take (a bound, not a measurement)
'''


def run_lint(*paths) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(LINT), *map(str, paths)], capture_output=True,
                          text=True, timeout=120)


def test_planted_numbers_are_flagged_at_their_lines(tmp_path):
    path = tmp_path / "planted.py"
    path.write_text(PLANTED)
    r = run_lint(tmp_path)
    assert r.returncode == 1
    lines = sorted(int(out.split(":")[1]) for out in r.stdout.splitlines())
    assert lines == [3, 8, 9, 10], r.stdout
    assert r.stdout.splitlines()[0].startswith(f"{path}:3: The server does 68k req/s")


def test_parameters_written_the_allowed_way_pass(tmp_path):
    (tmp_path / "params.py").write_text(PARAMETERS)
    r = run_lint(tmp_path)
    assert r.returncode == 0, r.stdout
    assert r.stdout == ""


def test_opt_out_marker_is_per_line(tmp_path):
    path = tmp_path / "two.py"
    path.write_text("A = 1  # 50 us (unit-ok: parameter)\nB = 2  # 50 us\n")
    r = run_lint(path)
    assert r.returncode == 1
    assert [int(out.split(":")[1]) for out in r.stdout.splitlines()] == [2]


def test_runtime_has_no_measured_numbers():
    r = run_lint(ROOT / "runtime")
    assert r.returncode == 0, "measured numbers in runtime/ (say it in words):\n" + r.stdout
