# insurereco: two commands do everything on a fresh machine with Python 3.11 and make.
#   make report   installs the pinned environment, executes every chapter, builds the book
#   make test     lint, build the report, unit + notebook tests, nbval re-execution
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export PATH := $(abspath $(BIN)):$(PATH)
export PYDEVD_DISABLE_FILE_VALIDATION := 1
# make runs two notebooks (or two test workers) at a time on two cores: one thread each.
# Multi-threaded fits side by side spin against each other and run many times slower.
export INSURERECO_N_JOBS ?= 1
export OMP_NUM_THREADS ?= 1
export OPENBLAS_NUM_THREADS ?= 1
PYTEST_WORKERS ?= 2

.PHONY: install report notebooks book lint format test unit lock clean help FORCE

help:
	@echo "make report   build the whole report (install, execute notebooks, build HTML)"
	@echo "make test     run every check (lint, report, unit and notebook tests, nbval)"
	@echo "make install  create .venv from requirements.lock"
	@echo "make lock     re-pin requirements.in into requirements.lock and environment.yml"

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.8
	$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@touch $@

CHAPTERS := $(patsubst notebooks/%.ipynb,book/chapters/%.ipynb,$(wildcard notebooks/*.ipynb))
# The modelling chapter takes longest: start it first, the others run beside it. The
# association, calibration, explanation and campaign chapters load its fit of split 0 from
# the model cache (waiting for it if it is not there yet), so they come last.
SLOWEST := book/chapters/03_modelling.ipynb
SHARED_FIT := $(addprefix book/chapters/,02_association.ipynb 04_calibration.ipynb \
	05_explanations.ipynb 06_campaign.ipynb)
CHAPTERS := $(SLOWEST) $(filter-out $(SLOWEST) $(SHARED_FIT),$(CHAPTERS)) $(SHARED_FIT)
NOTEBOOK_JOBS ?= 2

# Every chapter is re-executed on each build (FORCE), two at a time.
notebooks: install
	@$(MAKE) --no-print-directory -j$(NOTEBOOK_JOBS) $(CHAPTERS)

book/chapters/%.ipynb: notebooks/%.ipynb FORCE
	$(BIN)/python -m insurereco.notebooks run --profile full --only $*

FORCE:

book: install
	rm -rf _build/html _build/.doctrees
	$(BIN)/jupyter-book build . -W -n --keep-going

report: install
	@$(MAKE) --no-print-directory notebooks
	@$(MAKE) --no-print-directory book

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# --dist loadfile keeps each notebook (all its cells) on one worker and one kernel.
# Unit tests, the smoke execution of every notebook, the recorded-metrics checks on the
# executed book, and nbval re-executing each executed chapter and comparing its outputs.
test: lint report
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile tests book/chapters --nbval \
		--nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout 600

unit: install
	$(BIN)/pytest -n $(PYTEST_WORKERS) tests -m "not notebooks"

lock:
	$(BIN)/uv pip compile requirements.in -o requirements.lock --python-version 3.11 --generate-hashes --quiet
	$(BIN)/python tools/sync_environment.py

clean:
	rm -rf _build book/chapters reports
