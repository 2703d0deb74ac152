"""``python -m whyevents.analysis PATH...``: the same as ``whyevents check PATH...``."""

import sys

from .cli import main

sys.exit(main())
