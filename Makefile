# Two commands do all the set-up on a fresh machine:
#   make demo   - install (uv, from the hashed lock, into .venv), run the whole pipeline on
#                 the offline demo, print the metrics table
#   make test   - install, run the test suite (the command CI runs)
VENV ?= .venv
PYTHON ?= python3
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
PYTEST_ARGS ?=
# uv, pinned, installs the venv; `make venv` puts it in .uv/ with pip first
UV_VERSION := 0.13.10
UV := .uv/bin/uv
# uv does not read pip's configuration: give it the package indexes this machine's pip uses
# (pip.conf's extra-index-url, if any; the lock's hashes check whatever they serve)
PIP_EXTRA_INDEXES := $(shell $(PYTHON) -m pip config get global.extra-index-url 2>/dev/null)
ifneq ($(PIP_EXTRA_INDEXES),)
export UV_EXTRA_INDEX_URL ?= $(PIP_EXTRA_INDEXES)
export UV_INDEX_STRATEGY ?= unsafe-best-match
endif

.PHONY: venv lock demo test test-fast lint gpu-check

$(UV):
	$(PYTHON) -m pip install --quiet --target .uv uv==$(UV_VERSION)

$(VENV)/.installed: requirements.lock pyproject.toml | $(UV)
	@# torch 2.14.1 is the CUDA build (the version this machine caps pip at): ~6.5 GB installed
	@$(PYTHON) -c "import shutil, sys; free = shutil.disk_usage('.').free / 1e9; \
		sys.exit(f'make: {free:.1f} GB free here; the venv needs about 7 GB (torch 2.14.1 + CUDA libraries). Free some space or set VENV=<path on a larger disk>') if free < 7 else None"
	$(UV) venv --quiet --clear --python $(PYTHON) $(VENV)
	$(UV) pip sync --quiet --python $(BIN)/python --require-hashes --compile-bytecode requirements.lock
	$(UV) pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $@

# requirements.in (+ overrides.txt) -> requirements.lock: every package pinned, with the
# hashes of all its files on PyPI (this machine's extra indexes left out)
lock: | $(UV)
	env -u UV_EXTRA_INDEX_URL -u UV_INDEX_STRATEGY \
		$(UV) pip compile --quiet requirements.in --override overrides.txt --generate-hashes \
		--python-version 3.11 --python-platform x86_64-manylinux_2_28 -o requirements.lock

venv: $(VENV)/.installed

demo: venv
	CLIPFAIR_NO_TABLE=1 snakemake --cores all --config preset=demo
	@# DVC records what the run made (dvc.lock, as preset demo): `dvc exp run` starts from it
	clipfair record-run --preset demo
	clipfair table metrics/summary.csv

# one pytest worker per core, handed whole test modules, the longest first
# (tests/conftest.py: LONGEST_FIRST)
XDIST := -n auto

test: venv
	pytest $(XDIST) $(PYTEST_ARGS)

gpu-check: venv
	clipfair gpu-check

test-fast: venv
	pytest -m "not slow" $(XDIST) $(PYTEST_ARGS)

lint: venv
	ruff check src tests scripts
	ruff format --check src tests scripts
	snakemake --lint --config preset=demo
