"""Image and text embeddings: computed once per (backbone, datasource), shared by every method.

Image embeddings are a float32 ``(N, D)`` .npy aligned row by row with the split's parquet
index, plus a JSON sidecar that records the model and a fingerprint of the index's file list
(so a method can refuse embeddings that belong to another index).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from clipfair.io import atomic_path, write_json, write_parquet
from clipfair.models.backbone import Backbone
from clipfair.progress import progress


def fingerprint(files: list[str]) -> str:
    """Short hash of an ordered file list."""
    return hashlib.sha256("\n".join(files).encode()).hexdigest()[:16]


def embed_images(
    backbone: Backbone,
    index_path: str | Path,
    images_path: str | Path,
    out_npy: str | Path,
    batch_size: int = 256,
) -> dict[str, Any]:
    """Embed every cached image of a split; write ``out_npy`` and ``<out>.json`` atomically."""
    index = pd.read_parquet(index_path, columns=["file"])
    images = np.load(images_path, mmap_mode="r")
    if len(images) != len(index):
        raise ValueError(
            f"{images_path} has {len(images)} images but {index_path} {len(index)} rows"
        )
    chunks = []
    bar = progress(total=len(images), desc=f"embed {Path(out_npy).stem}", unit="img")
    for start in range(0, len(images), batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size]))
        chunks.append(backbone.encode_images(batch).numpy())
        bar.update(len(batch))
    bar.close()
    feats = np.concatenate(chunks).astype(np.float32)
    with atomic_path(out_npy) as tmp, open(tmp, "wb") as fh:
        np.save(fh, feats)
    meta = {
        "n": int(feats.shape[0]),
        "dim": int(feats.shape[1]),
        "index_fingerprint": fingerprint(index["file"].tolist()),
        "backbone": backbone.description,
    }
    write_json(Path(out_npy).with_suffix(".json"), meta)
    return meta


def load_image_embeddings(npy_path: str | Path, index: pd.DataFrame) -> np.ndarray:
    """Load embeddings and check they belong to ``index`` (same files, same order)."""
    npy_path = Path(npy_path)
    meta = json.loads(npy_path.with_suffix(".json").read_text())
    if meta["index_fingerprint"] != fingerprint(index["file"].tolist()):
        raise ValueError(f"{npy_path} was computed for another index; re-run its embed rule")
    return np.load(npy_path)


def embed_label_set(
    backbone: Backbone, prompts: dict[str, list[str]], out_path: str | Path
) -> None:
    """Embed the prompts of a label set: parquet with columns class, prompt, embedding."""
    rows = [(cls, p) for cls, plist in prompts.items() for p in plist]
    feats = backbone.encode_text([p for _, p in rows]).numpy()
    df = pd.DataFrame(rows, columns=["class", "prompt"])
    df["embedding"] = list(feats.astype(np.float32))
    write_parquet(out_path, df)
