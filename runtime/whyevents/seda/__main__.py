"""``python -m whyevents.seda --root DIR [--port N] ...``: run the Haboob-like server."""

import sys

from .server import main

sys.exit(main())
