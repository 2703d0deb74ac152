"""The notebooks' helpers in repro.notebook and repro.notebook_code, tested outside a notebook.

The notebooks call these instead of defining functions of their own or importing below
``repro``; here each is run once on the real package (the servers, the static analyses) or on a
small stand-in, and the parameters template is checked for what papermill and the tests rely on.
"""

from __future__ import annotations

import ast
import http.server
import threading
from pathlib import Path

import pytest

from whyevents.repro import notebook as nb
from whyevents.repro import notebook_code

ROOT = Path(__file__).resolve().parent.parent


# --- the parameters template -------------------------------------------------------------------

def test_every_notebook_has_a_template_entry_and_the_entries_name_real_notebooks():
    stems = {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert stems == set(nb.NOTEBOOKS)


@pytest.mark.parametrize("name", sorted(nb.NOTEBOOKS))
def test_parameters_cell_is_plain_assignments_papermill_can_override(name):
    text = nb.parameters_cell(name + ".ipynb")
    assert text == nb.parameters_cell(name)                      # file name or stem
    tree = ast.parse(text)
    assigned = [n.targets[0].id for n in tree.body]
    assert all(isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant | ast.Dict)
               for n in tree.body), text
    assert assigned[:4] == ["profile", "reuse", "overrides", "results_root"]
    assert len(assigned) == len(set(assigned)), "a parameter set twice"
    values = {}
    exec(compile(tree, name, "exec"), values)
    assert values["profile"] == "quick" and values["overrides"] == {}
    assert values["results_root"] is None
    measures = nb.NOTEBOOKS[name]["experiment"] is not None
    assert ("cluster" in assigned) == measures
    if measures:
        assert f"whyevents run {nb.NOTEBOOKS[name]['experiment']} --help" in text
    assert f"see {name}" not in text                             # no notebook refers to itself


def test_parameters_cell_per_notebook_values():
    assert "reuse = True " in nb.parameters_cell("04_duality")
    assert "reuse = False " in nb.parameters_cell("03_web_bandwidth")
    assert '{"pipeline_reps": 5}' in nb.parameters_cell("05_compiler_support")
    assert "report_dir = None" in nb.parameters_cell("99_report")
    assert "report_dir" not in nb.parameters_cell("00_overview")
    with pytest.raises(KeyError, match="NOTEBOOKS"):
        nb.parameters_cell("42_unknown.ipynb")


# --- claims by notebook -----------------------------------------------------------------------

def test_notebook_claims_come_from_claims_yaml_in_file_order():
    assert nb.notebook_claims("02_hundred_thousand_threads") == ["C2.7"]
    assert nb.notebook_claims("04_duality.ipynb") == ["C2.8", "C4.6", "C4.7"]
    assert nb.notebook_claims("05_compiler_support") == nb.claim_ids("compiler")
    web = nb.notebook_claims("03_web_bandwidth")
    assert web and "C2.8" not in web and set(web) < set(nb.claim_ids("web"))
    with pytest.raises(LookupError, match="00_overview"):
        nb.notebook_claims("00_overview")


# --- 00 and 99 ----------------------------------------------------------------------------------

def test_machine_and_report_dir(tmp_path, monkeypatch):
    table = nb.machine("quick")
    assert list(table.columns) == ["value"]
    assert {"cpu", "cpus", "pid_max", "git commit", "open files (soft, hard)"} <= set(table.index)
    monkeypatch.setenv("WHYEVENTS_REPORT_DIR", str(tmp_path / "env"))
    assert nb.report_dir(None) == tmp_path / "env"
    assert nb.report_dir(tmp_path / "given") == tmp_path / "given"
    monkeypatch.delenv("WHYEVENTS_REPORT_DIR")
    assert nb.report_dir("") == ROOT / "paper"


def test_yardstick_shows_the_newest_stored_result_or_how_to_make_one(tmp_path, monkeypatch,
                                                                    capsys):
    import json

    from whyevents.repro import paths

    monkeypatch.setattr(paths, "PUBLISHED", tmp_path / "published")
    local = tmp_path / "results"
    assert nb.yardstick("pipeline", local) is None
    assert "whyevents bench yardstick" in capsys.readouterr().out
    d = tmp_path / "published" / "bench-yardstick" / "20261206T000000Z"
    d.mkdir(parents=True)
    rows = [{"workload": "pipeline", "name": name, "unit": "task", "status": "ok", "tasks": 1000,
             "instructions": ir, "data_refs": ir / 2, "d1_misses": 40.123, "ll_misses": 0.5123,
             "est_cycles": ir * 1.5} for name, ir in (("event", 20000.4), ("gen", 21000.0))]
    (d / "results.json").write_text(json.dumps({"rows": rows, "parameters": {"tasks": 1000},
                                                "provenance": {"git_commit": "0123456789ab"}}))
    table = nb.yardstick("pipeline", local)
    assert "0123456789" in capsys.readouterr().out
    assert list(table.index.names) == ["name", "tasks"]
    assert table.loc[("gen", 1000), "instructions / event"] == 1.05
    assert table.loc[("event", 1000), "instructions"] == 20000.0      # counts: whole numbers
    assert table.loc[("event", 1000), "LL misses"] == 0.512


# --- 04 -----------------------------------------------------------------------------------------

def test_code_lines_skips_blanks_comments_and_docstrings(tmp_path, monkeypatch):
    (tmp_path / "nbh_sample").mkdir()
    (tmp_path / "nbh_sample" / "__init__.py").write_text('"""Package."""\n')
    (tmp_path / "nbh_sample" / "mod.py").write_text(
        '"""Module doc,\non two lines."""\n\n# a comment\nX = 1\n\n\n'
        'def f():\n    """Doc."""\n    return X  # trailing comment counts\n\n'
        'class C:\n    """Doc\n    more."""\n    y = 2\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    assert notebook_code.code_lines("nbh_sample.mod") == 5        # X, def, return, class, y
    assert notebook_code.package_lines("nbh_sample") == {"nbh_sample": 0, "nbh_sample.mod": 5}


def test_server_sizes_count_both_servers_own_modules():
    sizes = nb.server_sizes()
    assert "whyevents.knot.connection" in sizes and "whyevents.eventloop.loop" in sizes
    assert not any(k.startswith("whyevents.duality") for k in sizes)
    assert all(v > 0 for k, v in sizes.items() if k.count(".") == 2)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    body = bytes(range(256)) * 32

    def do_GET(self):
        self.send_response(200 if self.path == "/f8k.bin" else 404)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def test_traffic_checks_each_response_and_quiet_waits_for_no_connections():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        notebook_code.traffic(server.server_address, connections=2, requests=3)
        _Handler.body = b"short"
        with pytest.raises(AssertionError):
            notebook_code.traffic(server.server_address, connections=1, requests=1)
    finally:
        _Handler.body = bytes(range(256)) * 32
        server.shutdown()
        server.server_close()

    class Handle:
        def __init__(self, open_for):
            self.calls, self.open_for = 0, open_for

        def stats(self):
            self.calls += 1
            return {"connections_open": int(self.calls <= self.open_for)}

    assert notebook_code.quiet(Handle(3), timeout=5.0) is True
    assert notebook_code.quiet(Handle(10**9), timeout=0.05) is False


@pytest.mark.timeout(120)
def test_blocking_graphs_of_the_event_loop_and_knot_a_are_the_same(tmp_path):
    events, threads = nb.blocking_graphs(tmp_path)
    assert (tmp_path / "f8k.bin").stat().st_size == 8192
    assert events.shape() and events.shape() == threads.shape()


def test_duality_table_is_markdown_and_refuses_a_broken_reference(monkeypatch):
    from whyevents import duality

    assert nb.duality_table().startswith("| Events | Threads |")
    monkeypatch.setattr(duality, "missing", lambda: ["whyevents.knot:gone"])
    with pytest.raises(LookupError, match="gone"):
        nb.duality_table()


# --- 05 -----------------------------------------------------------------------------------------

@pytest.mark.timeout(300)
def test_static_analyses_as_the_notebook_shows_them():
    assert nb.static_edges("eventloop") and nb.static_edges("knot-c")
    live = nb.static_live_state()
    assert list(live.columns) == ["function", "line", "call", "live", "pinned though dead",
                                  "large"] and len(live)
    bounds = nb.static_stack_bounds()
    assert list(bounds["function"]) == sorted(bounds["function"])
    assert {"status", "frame B", "bound B", "frames", "why"} <= set(bounds.columns)
