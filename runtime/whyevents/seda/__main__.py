"""``python -m whyevents.seda --root DIR [--port N] ...``: run the Haboob-like server."""

import sys

from .haboob import main

sys.exit(main())
