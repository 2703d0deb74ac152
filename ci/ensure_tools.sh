#!/usr/bin/env bash
# The system tools the tests and the experiments use, installed on a fresh Debian/Ubuntu machine
# (called by `make test` with "test", by `make reproduce` with "reproduce", and by .ci/run):
#
#   wrk             the web experiment's clients and `whyevents bench servers`  (package wrk)
#   cc              builds the wrk source-spreading shim (loadgen/srcspread.c)  (gcc)
#   taskset         pins wrk to its core                                        (util-linux)
#   ab, curl        the servers' tests                                          (apache2-utils, curl)
#   nginx           the native peer of `whyevents bench servers`                (nginx-light)
#   chromium        the JupyterLab browser test, "test" only                    (chromium)
#   valgrind        `whyevents bench yardstick` and its instruction-count guards (valgrind)
#
# As root, the missing ones are installed with apt-get (nginx with service start-up denied, so
# the package leaves no system nginx listening). Otherwise nothing is installed: the script stops
# (exit 1) printing the exact command. WHYEVENTS_TOOLS=skip goes on without them (the tests that
# need one skip, saying which).
set -uo pipefail
what="${1:-test}"
case "$what" in test|reproduce) ;; *) echo "usage: $0 [test|reproduce]" >&2; exit 2;; esac

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }

missing() {
  local pkgs=()
  have wrk || pkgs+=(wrk)
  have cc || pkgs+=(gcc)
  have taskset || pkgs+=(util-linux)
  have ab || pkgs+=(apache2-utils)
  have curl || pkgs+=(curl)
  have nginx || pkgs+=(nginx-light)
  have valgrind || pkgs+=(valgrind)
  if [ "$what" = test ] && ! have chromium; then pkgs+=(chromium); fi
  echo "${pkgs[@]}"
}

need=$(missing)
if [ -z "$need" ]; then
  echo "ensure_tools ($what): wrk, cc, taskset, ab, curl, nginx, valgrind$([ "$what" = test ] && echo ", chromium") present"
  exit 0
fi
if [ "${WHYEVENTS_TOOLS:-}" = skip ]; then
  echo "ensure_tools: missing $need; going on (WHYEVENTS_TOOLS=skip): tests that need them skip" >&2
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "ensure_tools: missing packages: $need" >&2
  echo "  install them with:  sudo apt-get update && sudo apt-get install -y $need" >&2
  echo "  (on Ubuntu, where 'chromium' is a snap, install Debian's or Google's Chromium and set" >&2
  echo "   WHYEVENTS_CHROMIUM to its path); or run with WHYEVENTS_TOOLS=skip to go on without" >&2
  exit 1
fi

echo "ensure_tools: installing with apt-get: $need"
export DEBIAN_FRONTEND=noninteractive
deny_added=0
if [[ " $need " == *" nginx-light "* ]] && [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  deny_added=1
fi
apt-get update -qq || echo "ensure_tools: apt-get update failed; trying the install anyway" >&2
# shellcheck disable=SC2086 # one word per package
apt-get install -y -qq $need >/dev/null \
  || echo "ensure_tools: apt-get install reported an error" >&2
if [ "$deny_added" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi

still=$(missing)
if [ -n "$still" ]; then
  echo "ensure_tools: still missing after apt-get: $still" >&2
  echo "  install them with:  apt-get update && apt-get install -y $still" >&2
  exit 1
fi
echo "ensure_tools: all present"
