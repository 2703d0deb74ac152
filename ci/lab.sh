#!/usr/bin/env bash
# `make lab`, and how tests/test_lab_browser.py starts JupyterLab: register the `whyevents` kernel
# (ipykernel install --user: into $JUPYTER_DATA_DIR when that is set, as the test sets it), then
# run JupyterLab on the notebooks folder ($LAB_DIR, default notebooks/). As root, JupyterLab
# refuses to start without --allow-root ("Running as root is not recommended"), and containers
# usually run as root, so it is passed when the user id is 0. Extra arguments go to `jupyter lab`
# (the test adds --no-browser, a port and a token).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${VENV:-.venv}"
dir="${LAB_DIR:-notebooks}"
"$venv/bin/python" -m ipykernel install --user --name whyevents --display-name "Python (whyevents)"
flags=()
if [ "$(id -u)" = 0 ]; then flags+=(--allow-root); fi
exec "$venv/bin/jupyter" lab "${flags[@]}" "$@" "$dir"
