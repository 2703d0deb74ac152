#!/usr/bin/env bash
# The notebooks under nbval (called by `make test`): first their structure (parameters cell,
# outputs only in claims cells, every claim checked), then each notebook run top to bottom in
# this environment's kernel at its default (quick) parameters, comparing only the cells tagged
# nbval-check-output: the claims' PASS lines. A claim that fails raises, and nbval fails.
# REPORT.md and figures from 99_report go to a scratch directory, not over the committed ones.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
"$py" ci/check_notebooks.py
export WHYEVENTS_REPORT_DIR="${WHYEVENTS_REPORT_DIR:-$(mktemp -d -t whyevents-report-XXXXXX)}"
export MPLBACKEND=Agg
"$py" -m pytest --nbval-lax --nbval-current-env --sanitize-with ci/nbval_sanitize.cfg \
  --nbval-cell-timeout=1200 -p no:cacheprovider -o addopts="" --timeout=0 "$@" notebooks/
echo "report of this nbval run: $WHYEVENTS_REPORT_DIR/REPORT.md"
