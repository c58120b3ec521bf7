"""Record a finished Snakemake run in DVC, so that DVC and Snakemake agree on what was made.

`make demo` runs ``snakemake --config preset=demo`` while params.yaml says ``preset: real``.
:func:`record_run` commits the run's outputs to DVC (``dvc commit``) as made with the preset it
ran: dvc.lock then says ``preset: demo``, and ``dvc exp run -S preset=demo -S probe.c_max=0.1``
reruns only what that change touches (Snakemake decides, from its own records), where without
the record DVC's first experiment starts from an empty ``data/``. params.yaml is set to the
preset for the length of ``dvc commit`` and then restored byte for byte.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from clipfair.errors import LoadError
from clipfair.io import atomic_path

_PRESET = re.compile(r"^preset:.*$", re.M)


def with_preset(text: str, preset: str) -> str:
    """params.yaml's text with its top-level ``preset:`` set to ``preset``."""
    line = f"preset: {preset}"
    return _PRESET.sub(line, text, count=1) if _PRESET.search(text) else f"{line}\n{text}"


def _write(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def record_run(preset: str, params: str | Path = "params.yaml", stage: str = "pipeline") -> None:
    """``dvc commit --force <stage>`` with params.yaml's preset set to ``preset`` meanwhile."""
    params = Path(params)
    original = params.read_bytes()
    _write(params, with_preset(original.decode(), preset).encode())
    try:
        proc = subprocess.run(
            ["dvc", "commit", "--force", "--quiet", stage], capture_output=True, text=True
        )
    finally:
        _write(params, original)
    if proc.returncode != 0:
        raise LoadError(f"dvc commit {stage} failed: {(proc.stderr or proc.stdout).strip()}")
