# The README's commands. Each target creates or updates .venv itself, so a fresh clone needs only
# `make test` or `make reproduce`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PROFILE ?= quick
# lab: JupyterLab, ipywidgets and Playwright (the browser test runs in `make test`); cluster:
# dask.distributed (`whyevents run --cluster`, tested on a LocalCluster)
EXTRAS ?= lab,cluster,peers,dev

.PHONY: test reproduce book lab lint bench strip clean-venv build-compiled clean-compiled

# The compiled build's test pass: the runtime's and the event side's tests, the ones marked
# `runtime` (`pytestmark` at the top of each of their files; -m runtime). Left out: what reads
# the runtime's own Python frames, which compiled functions do not have (test_livestate's frame
# counts, test_analysis_atomic's call naming, the blocking graph's labels: deselected below); the
# first pass covers them, and those tools want WHYEVENTS_PURE_PYTHON=1.
COMPILED_DESELECT := \
	--deselect tests/test_eventloop.py::test_green_park_recording_is_installed_only_while_recording

$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	@touch $(STAMP)

## test: the system tools (ci/ensure_tools.sh: apt-get as root, else the command), lint, then the
## whole test suite (unit, property, integration, the browser, notebooks) on the interpreted
## build, then, if a compiled build is here and current (make build-compiled; CI builds one), the
## runtime's and the event side's tests again on it (else a line says the pass was skipped)
test: $(STAMP)
	bash ci/ensure_tools.sh test
	$(PY) -m ruff check runtime tests ci
	$(PY) ci/lint_units.py runtime
	$(VENV)/bin/nbqa ruff notebooks/
	WHYEVENTS_PURE_PYTHON=1 $(PY) -m pytest tests
	WHYEVENTS_PURE_PYTHON=1 bash ci/nbval.sh
	@if $(PY) -m whyevents.accel.build --check; then \
		echo "compiled build: the runtime's and the event side's tests again"; \
		$(PY) -m pytest -m runtime tests $(COMPILED_DESELECT); \
	else \
		echo "compiled build: none here, or stale (make build-compiled): second pass skipped"; \
	fi

## build-compiled: the optional compiled build (whyevents.accel): Cython compiles the runtime's hot
## modules and the event side's loops, same compiler and flags, into runtime/whyevents/_compiled;
## used from then on (whyevents run, bench, serve) unless WHYEVENTS_PURE_PYTHON=1; make test's
## first pass and make reproduce stay interpreted. No Cython or no C compiler: said, nothing
## breaks, the interpreted build stays. clean-compiled removes it.
build-compiled: $(STAMP)
	-$(PY) -m pip install -q "cython>=3.0"
	$(PY) -m whyevents.accel.build

clean-compiled: $(STAMP)
	$(PY) -m whyevents.accel.build --clean

## reproduce: run every experiment at PROFILE (quick|full) and print where results went, on the
## interpreted build (the reference) unless WHYEVENTS_PURE_PYTHON=0 is given
reproduce: $(STAMP)
	bash ci/ensure_tools.sh reproduce
	WHYEVENTS_PURE_PYTHON=$${WHYEVENTS_PURE_PYTHON-1} bash ci/reproduce.sh $(PROFILE)

## book: a static site (_build/book/html, browsable offline) of the executed notebooks of the
## newest `make reproduce` run (else the published full set), the reports, the artifact appendix,
## this machine's runs against the published ones, the runs' provenance and the design; nothing
## is executed (Sphinx + myst-nb; repro/book.py says why)
book: $(STAMP)
	$(PY) -m whyevents.repro.book

## strip: remove notebook outputs except the claims cells' (what nbval compares against)
strip: $(STAMP)
	$(VENV)/bin/nbstripout --keep-count --extra-keys "metadata.papermill cell.metadata.papermill cell.metadata.execution" notebooks/*.ipynb
	$(PY) ci/check_notebooks.py

## bench: the runtime micro-benchmarks against the peers, in one run
bench: $(STAMP)
	$(VENV)/bin/whyevents bench runtime

## lab: JupyterLab on notebooks/ with the whyevents kernel registered (as root too: ci/lab.sh)
lab: $(STAMP)
	VENV=$(VENV) bash ci/lab.sh

lint: $(STAMP)
	$(PY) -m ruff check runtime tests ci
	$(PY) ci/lint_units.py runtime
	$(VENV)/bin/nbqa ruff notebooks/

clean-venv:
	rm -rf $(VENV)
