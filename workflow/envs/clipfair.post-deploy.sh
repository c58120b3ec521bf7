#!/usr/bin/env bash
# Snakemake runs this once in the new conda env (clipfair.yaml): the project's hashed lock and
# the project itself, with the env's uv, as `make venv` does for .venv.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
uv pip sync --python "$CONDA_PREFIX/bin/python" --require-hashes --compile-bytecode \
    "$root/requirements.lock"
uv pip install --python "$CONDA_PREFIX/bin/python" --no-deps -e "$root"
