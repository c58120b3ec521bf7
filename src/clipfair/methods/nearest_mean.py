"""Nearest class mean on image embeddings: the simplest trained head, with nothing to tune.

Each class is the mean of its L2-normalised train embeddings (re-normalised); a val image
scores each class by the cosine to that mean, and predicts the highest. It needs no C sweep
and no optimiser, so it shows how much of a probe's accuracy the embedding's geometry gives
by itself (Mensink et al. 2013's NCM classifier; CLIP's zero-shot head is the same rule with
prompt embeddings in place of class means).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from clipfair.labels import probe_classes


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def class_means(x: np.ndarray, y: np.ndarray, n_classes: int) -> np.ndarray:
    """(C, D) unit-length means of the unit-length rows of ``x`` per class; a class with no
    train rows gets a zero vector (it scores 0 for every image, so it is never the unique
    best unless all are)."""
    x = _unit(np.asarray(x, dtype=np.float64))
    sums = np.zeros((n_classes, x.shape[1]))
    np.add.at(sums, y, x)
    return _unit(sums)


def run(spec: dict[str, Any], inputs: dict[str, Any], seed: int, options: dict[str, Any]):
    """(val scores = cosine to each class mean, classes, info with each class's train count)."""
    task = spec["task"]
    classes = probe_classes(inputs, task)
    y = inputs["train_index"][f"{task}_code"].to_numpy(np.int64)
    means = class_means(inputs["train"], y, len(classes))
    scores = _unit(np.asarray(inputs["val"], dtype=np.float64)) @ means.T
    counts = np.bincount(y, minlength=len(classes))
    info = {"train_counts": dict(zip(classes, counts.tolist(), strict=True))}
    return scores.astype(np.float32), classes, info
