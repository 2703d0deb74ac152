"""The soak of issue 13 item 4: every registered server, 1,000,000 good requests each by default,
good and faulty clients mixed (``whyevents.servers.soak``, whose docstring says what is checked).

Usage: ``python ci/soak.py [SERVER ...] [--requests N] [--clients N] [--fault-every N]``
(default: every server). Prints one line per server and writes
``data/results/soak-<UTC time>.json``; exits 1 if any server fails a check. It is load: do not
run it at full size while a measured sweep shares the machine.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from whyevents.servers import names
from whyevents.servers.soak import main

if __name__ == "__main__":
    argv = sys.argv[1:]
    if not [a for a in argv if not a.startswith("-") and a in names()]:
        argv = names() + argv
    if "--json" not in argv:
        out = Path(__file__).resolve().parents[1] / "data" / "results"
        out.mkdir(parents=True, exist_ok=True)
        argv += ["--json", str(out / time.strftime("soak-%Y%m%dT%H%M%SZ.json", time.gmtime()))]
    sys.exit(main(argv))
