#!/usr/bin/env bash
# `make reproduce [PROFILE=quick|full]`: run every notebook with papermill (00, 01, ... 99, in
# order: 99_report reads the runs the others stored) into data/results/reproduce/<run-id>/notebooks/,
# then print the claims, where everything went, this machine's verdicts against the published
# ones (whyevents compare) and how to build the book (make book). A notebook that fails (a claim
# that does not hold raises in its claims cell) does not stop the others; the exit status says
# whether all ran.
set -uo pipefail
cd "$(dirname "$0")/.."
profile="${1:-quick}"
case "$profile" in quick|full) ;; *) echo "PROFILE=$profile: choose quick or full" >&2; exit 2;; esac
venv=.venv/bin
run_id="$(date -u +%Y%m%dT%H%M%SZ)-$profile"
out="data/results/reproduce/$run_id"
mkdir -p "$out/notebooks"
export MPLBACKEND=Agg
start=$(date +%s)
failed=()
args=()
[ "$profile" = full ] && args=(-f notebooks/params/full.yaml)
for nb in notebooks/[0-9][0-9]_*.ipynb; do
  name=$(basename "$nb")
  t0=$(date +%s)
  echo "== $name ($profile)"
  if "$venv/papermill" --cwd notebooks --progress-bar "$nb" "$out/notebooks/$name" "${args[@]}" \
       >"$out/notebooks/${name%.ipynb}.log" 2>&1; then
    echo "   ok in $(( $(date +%s) - t0 )) s -> $out/notebooks/$name"
  else
    failed+=("$name")
    echo "   FAILED after $(( $(date +%s) - t0 )) s; log: $out/notebooks/${name%.ipynb}.log"
    tail -n 5 "$out/notebooks/${name%.ipynb}.log" | sed 's/^/   | /'
  fi
done
echo
echo "== claims ($profile), from the runs just stored"
"$venv/whyevents" claims --profile "$profile" | tee "$out/claims.txt"
echo
echo "reproduce ($profile) finished in $(( $(date +%s) - start )) s"
echo "  executed notebooks: $out/notebooks/"
echo "  experiment runs:    data/results/{pipeline,scaling,web,compiler}/ (newest of each)"
echo "  report and figures: paper/REPORT.md, paper/figures/; appendix: paper/ARTIFACT.md"
echo
echo "== this machine against the published runs ($profile): whyevents compare"
# printed, and kept with the run; a disagreement does not fail the reproduce (it is a finding)
"$venv/whyevents" compare --profile "$profile" --out "$out/compare.md" \
  || echo "   (some verdicts differ from the published ones: see above and $out/compare.md)"
echo
echo "the book (these notebooks, the reports, the comparison, the design) as a static site:"
echo "  make book     then open _build/book/html/index.html in a browser"
echo "                (or: python -m http.server -d _build/book/html 8000)"
if [ ${#failed[@]} -gt 0 ]; then
  echo "  notebooks that failed: ${failed[*]}"
  exit 1
fi
