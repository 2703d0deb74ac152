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

.PHONY: test reproduce lab lint bench strip clean-venv

$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	@touch $(STAMP)

## test: the system tools (ci/ensure_tools.sh: apt-get as root, else the command), lint, then the
## whole test suite (unit, property, integration, the browser, notebooks)
test: $(STAMP)
	bash ci/ensure_tools.sh test
	$(PY) -m ruff check runtime tests ci
	$(VENV)/bin/nbqa ruff notebooks/
	$(PY) -m pytest tests
	bash ci/nbval.sh

## reproduce: run every experiment at PROFILE (quick|full) and print where results went
reproduce: $(STAMP)
	bash ci/ensure_tools.sh reproduce
	bash ci/reproduce.sh $(PROFILE)

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
	$(VENV)/bin/nbqa ruff notebooks/

clean-venv:
	rm -rf $(VENV)
