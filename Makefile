# Two commands do all the set-up on a fresh machine:
#   make demo   - install (pinned, into .venv), run the whole pipeline on the offline demo,
#                 print the metrics table
#   make test   - install, run the test suite (the command CI runs)
VENV ?= .venv
PYTHON ?= python3
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
PYTEST_ARGS ?=
# pip processes that unpack the pinned packages side by side (empty: one per core, at most 4)
INSTALL_JOBS ?=

.PHONY: venv lock demo test test-fast lint clean-demo

$(VENV)/.installed: requirements.lock requirements.txt pyproject.toml
	@# torch 2.14.1 is the CUDA build (the version this machine caps pip at): ~6.5 GB installed
	@$(PYTHON) -c "import shutil, sys; free = shutil.disk_usage('.').free / 1e9; \
		sys.exit(f'make: {free:.1f} GB free here; the venv needs about 7 GB (torch 2.14.1 + CUDA libraries). Free some space or set VENV=<path on a larger disk>') if free < 7 else None"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	@# Every pin of requirements.lock (`make lock` writes it from requirements.txt) with
	@# --no-deps: no resolution, and pip processes side by side (unpacking torch's CUDA build
	@# is single-threaded in pip and most of the install), then `pip check`. MTCNN's package
	@# (facenet-pytorch, for `clipfair predict`) pins torch<2.3 in its metadata; its code runs
	@# on 2.14 (tested). No byte-compiling here: clipfair.precompile compiles what the
	@# pipeline imports (pip would compile every module, one at a time).
	$(BIN)/python scripts/pinned_install.py install requirements.lock \
		--requirements requirements.txt --allow-broken facenet-pytorch \
		$(if $(INSTALL_JOBS),--jobs $(INSTALL_JOBS))
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/python -m clipfair.precompile
	touch $@

# requirements.txt -> requirements.lock (every package, pinned): after editing requirements.txt
lock:
	$(PYTHON) scripts/pinned_install.py lock requirements.txt requirements.lock \
		--no-deps facenet-pytorch==2.6.0

venv: $(VENV)/.installed

demo: venv
	CLIPFAIR_NO_TABLE=1 snakemake --cores all --config preset=demo
	clipfair table metrics/summary.csv

# one pytest worker per core, handed whole test modules, the longest first
# (tests/conftest.py: LONGEST_FIRST)
XDIST := -n auto

test: venv
	pytest $(XDIST) $(PYTEST_ARGS)

test-fast: venv
	pytest -m "not slow" $(XDIST) $(PYTEST_ARGS)

lint: venv
	ruff check src tests scripts
	ruff format --check src tests scripts
	snakemake --lint --config preset=demo
