"""whyevents: the systems of *Why Events Are A Bad Idea* (HotOS 2003), rebuilt in Python.

Subpackages, lowest layer first: ``harness`` (process and measurement helpers), ``threads`` (the
green-thread runtime), ``http``, the servers ``knot``, ``seda`` and ``eventloop``, ``loadgen``
(the clients), ``servers`` (their registry and the server-process protocol), ``experiments``
(the paper's), ``benchmarks`` (against peers), ``analysis`` (the compiler support of section 4)
and ``repro`` (results store, claims, report, CLI). ``docs/DESIGN.md`` in the repository maps
the paper's sections to these modules and says which layer may import which.
"""

__version__ = "0.1.0"

# The optional compiled build (``make build-compiled``; ``WHYEVENTS_PURE_PYTHON=1`` forces the
# .py): a finder that loads a library module's compiled twin, when one was built from the very
# .py that is here. Nothing happens without a build.
from .accel import build_info  # noqa: E402, F401 - whyevents.build_info()
from .accel import install as _install_accel  # noqa: E402

_install_accel()
