"""Reading saved image embeddings (no torch): the ``.npy`` and the ``.json`` sidecar that says
which index (ordered file list) they were computed for."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from clipfair.errors import InputError


def fingerprint(files: list[str]) -> str:
    """Short hash of an ordered file list."""
    return hashlib.sha256("\n".join(files).encode()).hexdigest()[:16]


FIX = "delete it and run again (snakemake --forcerun embed for that model)"


class EmbeddingFileError(InputError):
    """An embedding file that is damaged or belongs to other inputs; the message names it."""


def read_array(path: str | Path, rows: int | None = None) -> np.ndarray:
    """A float32 (rows, D) array from ``path``; EmbeddingFileError naming the file when it is
    truncated, unreadable or of the wrong shape or type."""
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, EOFError, OSError) as exc:
        raise EmbeddingFileError(f"{path}: unreadable or truncated ({exc}); {FIX}") from None
    if arr.ndim != 2 or arr.dtype != np.float32:
        raise EmbeddingFileError(
            f"{path}: {arr.dtype} array of shape {arr.shape}; expected float32 (rows, dim); {FIX}"
        )
    if rows is not None and len(arr) != rows:
        raise EmbeddingFileError(f"{path}: {len(arr)} rows; its index has {rows}; {FIX}")
    return arr


def load_image_embeddings(npy_path: str | Path, index: pd.DataFrame) -> np.ndarray:
    """Load embeddings and check they belong to ``index`` (same files, same order) and are
    whole (shape, type, one row per index row)."""
    npy_path = Path(npy_path)
    sidecar = npy_path.with_suffix(".json")
    try:
        meta = json.loads(sidecar.read_text())
    except (OSError, ValueError) as exc:
        raise EmbeddingFileError(f"{sidecar}: missing or unreadable ({exc}); {FIX}") from None
    if meta.get("index_fingerprint") != fingerprint(index["file"].tolist()):
        raise EmbeddingFileError(
            f"{npy_path} was computed for another index; re-run its embed rule"
        )
    return read_array(npy_path, len(index))
