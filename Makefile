# Two commands do all the set-up on a fresh machine:
#   make demo   - install (pinned, into .venv), run the whole pipeline on the offline demo,
#                 print the metrics table
#   make test   - install, run the test suite (the command CI runs)
VENV ?= .venv
PYTHON ?= python3
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
PYTEST_ARGS ?=

.PHONY: venv demo test test-fast lint clean-demo

$(VENV)/.installed: requirements.txt pyproject.toml
	@# torch 2.14.1 is the CUDA build (the version this machine caps pip at): ~6.5 GB installed
	@$(PYTHON) -c "import shutil, sys; free = shutil.disk_usage('.').free / 1e9; \
		sys.exit(f'make: {free:.1f} GB free here; the venv needs about 7 GB (torch 2.14.1 + CUDA libraries). Free some space or set VENV=<path on a larger disk>') if free < 7 else None"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	@# pip byte-compiles all of every package, one at a time (~2 of its 3.5 minutes here):
	@# install without it, then byte-compile what the pipeline imports (clipfair.precompile)
	$(BIN)/pip install --quiet --no-compile -r requirements.txt
	# MTCNN for `clipfair predict`; its metadata pins torch<2.3, the code runs on 2.14 (tested)
	$(BIN)/pip install --quiet --no-deps facenet-pytorch==2.6.0
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/python -m clipfair.precompile
	touch $@

venv: $(VENV)/.installed

demo: venv
	CLIPFAIR_NO_TABLE=1 snakemake --cores all --config preset=demo
	clipfair table metrics/summary.csv

# one pytest worker per core; the tests that share a pipeline run stay on one worker
# (tests/conftest.py: SHARED_RUNS)
XDIST := -n auto

test: venv
	pytest $(XDIST) $(PYTEST_ARGS)

test-fast: venv
	pytest -m "not slow" $(XDIST) $(PYTEST_ARGS)

lint: venv
	ruff check src tests
	ruff format --check src tests
	snakemake --lint --config preset=demo
