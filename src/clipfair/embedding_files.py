"""Reading saved image embeddings (no torch): the ``.npy`` and the ``.json`` sidecar that says
which index (ordered file list) they were computed for."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd


def fingerprint(files: list[str]) -> str:
    """Short hash of an ordered file list."""
    return hashlib.sha256("\n".join(files).encode()).hexdigest()[:16]


def load_image_embeddings(npy_path: str | Path, index: pd.DataFrame) -> np.ndarray:
    """Load embeddings and check they belong to ``index`` (same files, same order)."""
    npy_path = Path(npy_path)
    meta = json.loads(npy_path.with_suffix(".json").read_text())
    if meta["index_fingerprint"] != fingerprint(index["file"].tolist()):
        raise ValueError(f"{npy_path} was computed for another index; re-run its embed rule")
    return np.load(npy_path)
