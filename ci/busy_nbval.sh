#!/usr/bin/env bash
# Issue 13's robustness check: the notebooks under nbval RUNS times in a row (default 3), with a
# CPU-bound process on core 0 unless --quiet is given, then the claim margins over the quick runs
# those notebooks stored (`whyevents margins --since` this script's start). Each nbval run
# measures afresh (the notebooks' reuse=False), so RUNS nbval runs are RUNS quick runs of every
# experiment. Exit status 0 only if every nbval run passed.
#
#   bash ci/busy_nbval.sh [--runs N] [--quiet] [--out FILE.md]
#
# The hog is `python -c "while True: pass"` pinned to core 0 (the pipeline's points run on the
# last core, the web points put the server and the clients on different cores, so every
# experiment shares a core with it somewhere); it is killed on exit, also on Ctrl-C.
set -uo pipefail
cd "$(dirname "$0")/.."
runs=3
hog=1
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="${2:?--runs needs a number}"; shift 2;;
    --quiet) hog=0; shift;;
    --out) out="${2:?--out needs a path}"; shift 2;;
    -h|--help) sed -n 2,12p "$0" | sed 's/^# \{0,1\}//'; exit 0;;
    *) echo "busy_nbval.sh: unknown argument $1 (see --help)" >&2; exit 2;;
  esac
done
case "$runs" in ''|*[!0-9]*|0) echo "busy_nbval.sh: --runs: $runs is not a positive integer" >&2; exit 2;; esac
py=.venv/bin/python
[ -x "$py" ] || { echo "busy_nbval.sh: no $py: run make test (or make reproduce) once first" >&2; exit 2; }
since="$(date -u +%Y-%m-%dT%H:%M:%S)"
hog_pid=""
cleanup() { [ -n "$hog_pid" ] && kill "$hog_pid" 2>/dev/null; }
trap cleanup EXIT
trap 'exit 130' INT TERM
if [ "$hog" = 1 ]; then
  taskset -c 0 "$py" -c "while True: pass" &
  hog_pid=$!
  echo "CPU hog on core 0: pid $hog_pid"
fi
passed=0
results=()
for i in $(seq 1 "$runs"); do
  t0=$(date +%s)
  log="$(mktemp -t busy-nbval-XXXXXX.log)"
  if WHYEVENTS_PURE_PYTHON=1 bash ci/nbval.sh -q >"$log" 2>&1; then
    passed=$((passed + 1)); verdict=passed
  else
    verdict="FAILED (log: $log)"
  fi
  line="nbval run $i/$runs: $verdict in $(( $(date +%s) - t0 )) s; $(grep -E '^[0-9]+ (passed|failed)|passed|failed' "$log" | tail -n 1)"
  results+=("$line")
  echo "$line"
done
echo
echo "== claim margins over the quick runs stored since $since"
margs=(--profile quick --since "$since" --runs)
[ -n "$out" ] && margs+=(--out "$out")
.venv/bin/whyevents margins "${margs[@]}"
echo
printf '%s\n' "${results[@]}"
echo "nbval: $passed of $runs runs passed$([ "$hog" = 1 ] && echo ' with a CPU hog on core 0')"
[ "$passed" = "$runs" ]
