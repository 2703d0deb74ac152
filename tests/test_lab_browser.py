"""JupyterLab in a real browser: the notebooks as their users open them (issue 14, item 1).

The test starts JupyterLab the way ``make lab`` does (``ci/lab.sh``: the ``whyevents`` kernel
registered with ``ipykernel install --user``, ``--allow-root`` when running as root), on a free
port with a token, with every Jupyter directory (config, data, runtime, IPython, matplotlib) in
the test's temporary directory so nothing leaks into ``~``. Playwright for Python drives the
distribution's Chromium (``/usr/bin/chromium``, Debian's ``chromium`` package; nothing is
downloaded at run time): it opens ``00_overview`` and ``04_duality``, runs all cells with the
``whyevents`` kernel, saves them, and checks

* no cell has an error output;
* the cells tagged ``nbval-check-output`` (the claims cells) print the lines committed with them;
* a long cell shows tqdm's progress *widget* (ipywidgets installed), and no stderr says
  ``IProgress not found`` / ``TqdmWarning``;

and saves screenshots under the test's temporary directory (their path is printed).

The notebooks run on copies whose parameters cell gets one injected line, as papermill injects
parameters: ``reuse = True`` and a ``results_root`` holding a copy of the published quick web run,
so ``04_duality`` reports on a stored sweep instead of measuring one. The copy of ``00_overview``
gets one extra cell: a one-point scaling sweep (a second or two) through ``nb.experiment``, the
call every experiment notebook makes, so that a progress bar is drawn.

Skips, saying what to install, when Playwright, JupyterLab, ipywidgets or Chromium is missing
(``make test`` installs them: the ``lab`` extra, and Chromium through ``ci/ensure_tools.sh``).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from support.browser import CHROMIUM, CHROMIUM_ARGS, missing

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
PUBLISHED = ROOT / "data" / "published"
KERNEL = {"name": "whyevents", "display_name": "Python (whyevents)", "language": "python"}

PROGRESS_CELL = """\
# A one-point sweep through the same call every experiment notebook makes: its progress bar
run_progress = nb.experiment("scaling", profile, {"threads": [100], "reps": 1, "peers": [],
                                                  "backends": ["whyevents"]}, root=results_root)
"""

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]


def _missing() -> str | None:
    return missing((("jupyterlab", "JupyterLab"), ("ipywidgets", "ipywidgets")))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _published_quick_run(experiment: str) -> Path:
    for run in sorted((PUBLISHED / experiment).iterdir(), reverse=True):
        prov = json.loads((run / "provenance.json").read_text())
        if prov.get("profile") == "quick" and prov.get("status") == "complete":
            return run
    raise AssertionError(f"no published quick run of {experiment} under {PUBLISHED}")


def _copy_notebook(name: str, dest: Path, results_root: Path, extra_cell: str | None = None
                   ) -> dict:
    """A copy of ``notebooks/<name>`` with the whyevents kernel, injected parameters and
    optionally one more code cell; returns the committed notebook (for its claims outputs)."""
    committed = json.loads((NOTEBOOKS / name).read_text())
    nb = json.loads(json.dumps(committed))
    nb["metadata"]["kernelspec"] = dict(KERNEL)
    params = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    source = "".join(params["source"]).rstrip("\n")
    params["source"] = (source + "\n# injected by tests/test_lab_browser.py\n"
                        f"reuse = True\nresults_root = {str(results_root)!r}\n")
    if extra_cell is not None:
        nb["cells"].append({"cell_type": "code", "execution_count": None, "id": "progress-bar",
                            "metadata": {"tags": ["nbval-ignore-output"]}, "outputs": [],
                            "source": extra_cell})
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    (dest / name).write_text(json.dumps(nb, indent=1) + "\n")
    return committed


def _text(output: dict) -> str:
    if output.get("output_type") == "stream":
        t = output.get("text", "")
    elif output.get("output_type") == "error":
        t = "\n".join(output.get("traceback", []))
    else:
        t = output.get("data", {}).get("text/plain", "")
    return "".join(t) if isinstance(t, list) else t


@contextlib.contextmanager
def _jupyterlab(tmp: Path, lab_dir: Path):
    """JupyterLab started by ci/lab.sh (as `make lab` does), everything Jupyter writes in tmp."""
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ)
    for var, sub in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                     ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython"),
                     ("MPLCONFIGDIR", "mpl"), ("JUPYTERLAB_SETTINGS_DIR", "settings"),
                     ("JUPYTERLAB_WORKSPACES_DIR", "workspaces")):
        (tmp / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(tmp / sub)
    for var in ("JUPYTER_PATH", "MPLBACKEND"):
        env.pop(var, None)
    env.update(LAB_DIR=str(lab_dir), PYTHONUNBUFFERED="1")
    # and no "get notified about Jupyter news?" toast over the screenshots
    news = tmp / "settings" / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True, exist_ok=True)
    (news / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}\n')
    log_path = tmp / "jupyterlab.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(
        ["bash", str(ROOT / "ci" / "lab.sh"), "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
         f"--IdentityProvider.token={token}",
         # the network is closed here: no news feed, no update check (the server would fetch)
         "--LabApp.news_url=None",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"JupyterLab exited with {proc.returncode}:\n"
                                     + log_path.read_text()[-3000:])
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("JupyterLab did not answer within 120 s:\n"
                                     + log_path.read_text()[-3000:])
            time.sleep(0.3)
        kernels = Path(env["JUPYTER_DATA_DIR"]) / "kernels" / "whyevents" / "kernel.json"
        assert kernels.is_file(), f"ci/lab.sh did not register the kernel under {kernels}"
        yield base, token, log_path
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)      # our own session: JupyterLab and kernels
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


_ALL_DONE = """() => {
  const nb = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
  if (!nb) return false;
  const prompts = [...nb.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];
  return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
}"""


def _run_notebook(page, base: str, token: str, name: str, shots: Path, timeout_s: float) -> None:
    """Open ``name``, wait for the whyevents kernel, Run All Cells, wait, save, screenshot."""
    page.goto(f"{base}/lab/tree/{name}?token={token}&reset")
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=90_000)
    status = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-KernelName")
    status.first.wait_for(timeout=60_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) "
        ".jp-KernelName')].some(e => e.textContent.includes('Python (whyevents)'))",
        timeout=60_000)
    page.wait_for_function(
        "() => { const s = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) "
        ".jp-Notebook-ExecutionIndicator'); return s && s.getAttribute('data-status') === "
        "'idle'; }", timeout=90_000)
    page.locator(".lm-MenuBar-item", has_text="Run").first.click()
    page.locator(".lm-Menu-item", has_text="Run All Cells").first.click()
    page.wait_for_function(_ALL_DONE, timeout=int(timeout_s * 1000))
    page.wait_for_function(
        "() => document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) "
        ".jp-Notebook-ExecutionIndicator').getAttribute('data-status') === 'idle'",
        timeout=int(timeout_s * 1000))
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").first.click()
    page.keyboard.press("Control+s")
    stem = name.removesuffix(".ipynb")
    first = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell").first
    first.scroll_into_view_if_needed()
    # JupyterLab renders only the cells in view: wait for the first one's content to be drawn
    first.locator(".jp-RenderedMarkdown, .jp-InputArea").first.wait_for(state="visible")
    page.wait_for_function(
        "() => { const c = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) "
        ".jp-Cell'); const r = c && c.getBoundingClientRect(); return r && r.height > 20 && "
        "c.innerText.trim().length > 0; }", timeout=30_000)
    page.screenshot(path=str(shots / f"{stem}-top.png"))


def _saved(path: Path, timeout_s: float = 30.0) -> dict:
    """The notebook as JupyterLab saved it, once every code cell's count is on disk."""
    deadline = time.monotonic() + timeout_s
    while True:
        nb = json.loads(path.read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        if all(c.get("execution_count") for c in code) or time.monotonic() > deadline:
            return nb
        time.sleep(0.3)


def test_notebooks_run_in_jupyterlab_in_chromium(tmp_path, capsys):
    reason = _missing()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    lab_dir, results, shots = tmp_path / "notebooks", tmp_path / "results", tmp_path / "shots"
    for d in (lab_dir, results, shots):
        d.mkdir()
    web = _published_quick_run("web")
    shutil.copytree(web, results / "web" / web.name)
    committed = {
        "00_overview.ipynb": _copy_notebook("00_overview.ipynb", lab_dir, results, PROGRESS_CELL),
        "04_duality.ipynb": _copy_notebook("04_duality.ipynb", lab_dir, results),
    }

    with _jupyterlab(tmp_path / "jupyter", lab_dir) as (base, token, log_path), \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            console_errors: list[str] = []
            page.on("pageerror", lambda e: console_errors.append(str(e)))
            for name in committed:
                _run_notebook(page, base, token, name, shots, timeout_s=300)
                saved = _saved(lab_dir / name)
                code = [c for c in saved["cells"] if c["cell_type"] == "code"]
                assert all(c.get("execution_count") for c in code), \
                    f"{name}: not every cell ran (was it saved?)"
                for i, cell in enumerate(code):
                    for out in cell.get("outputs", []):
                        assert out.get("output_type") != "error", \
                            f"{name} code cell {i} raised:\n{_text(out)[-2000:]}"
                        if out.get("name") == "stderr":
                            assert "IProgress" not in _text(out) and \
                                "TqdmWarning" not in _text(out), \
                                f"{name} code cell {i}: {_text(out)[:500]}"
                # the claims cells print what is committed with them (what nbval compares)
                want = [c for c in committed[name]["cells"]
                        if "nbval-check-output" in c["metadata"].get("tags", [])]
                got = [c for c in saved["cells"]
                       if "nbval-check-output" in c["metadata"].get("tags", [])]
                assert len(got) == len(want)
                for w, g in zip(want, got, strict=True):
                    lines = "".join(_text(o) for o in w["outputs"]).strip()
                    assert lines and "".join(_text(o) for o in g["outputs"]).strip() == lines
                    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell").nth(
                        saved["cells"].index(g)).scroll_into_view_if_needed()
                if name == "00_overview.ipynb":
                    bar = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) "
                                       ".jp-OutputArea-output .widget-hprogress")
                    bar.first.wait_for(timeout=30_000)
                    bar.first.scroll_into_view_if_needed()
                    outs = code[-1]["outputs"]
                    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {})
                               for o in outs), f"the progress cell shows no widget: {outs}"
                    text = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) "
                                        ".jp-Cell").last.inner_text()
                    assert "IProgress" not in text and "TqdmWarning" not in text, text
                    page.screenshot(path=str(shots / "00_overview-progress.png"))
                else:
                    page.screenshot(path=str(shots / "04_duality-claims.png"))
            assert not console_errors, console_errors
        finally:
            browser.close()
    made = sorted(p.name for p in shots.glob("*.png"))
    assert len(made) == 4 and all((shots / m).stat().st_size > 10_000 for m in made), made
    with capsys.disabled():
        print(f"\nJupyterLab screenshots ({', '.join(made)}): {shots}", file=sys.stderr)
