#!/usr/bin/env bash
# `make reproduce [PROFILE=quick|full]`: run every experiment notebook with papermill into
# data/results/<run-id>/notebooks/, then the runtime benchmarks, and say where everything went.
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-quick}"
case "$profile" in quick|full) ;; *) echo "PROFILE=$profile: choose quick or full" >&2; exit 2;; esac
venv=.venv/bin
run_id="$(date -u +%Y%m%dT%H%M%SZ)-$profile"
out="data/results/reproduce/$run_id"
mkdir -p "$out"
start=$(date +%s)
shopt -s nullglob
notebooks=(notebooks/[0-9][0-9]_*.ipynb)
if [ ${#notebooks[@]} -eq 0 ]; then
  echo "No experiment notebooks yet (they arrive with the notebooks issue); running the runtime benchmarks only."
else
  mkdir -p "$out/notebooks"
  for nb in "${notebooks[@]}"; do
    args=()
    [ "$profile" = full ] && [ -f notebooks/params/full.yaml ] && args=(-f notebooks/params/full.yaml)
    echo "== papermill $nb (${profile})"
    "$venv/papermill" --cwd notebooks "$nb" "$out/notebooks/$(basename "$nb")" "${args[@]}"
  done
fi
bench_args=(--quick)
[ "$profile" = full ] && bench_args=(--full)
"$venv/whyevents" bench runtime "${bench_args[@]}" --json "$out/bench-runtime.json"
echo
echo "reproduce ($profile) finished in $(( $(date +%s) - start )) s; results in $out"
