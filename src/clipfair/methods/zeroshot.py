"""Zero-shot classification from cached image and prompt embeddings (seed 002 protocol).

logits = 100 * image @ prompt.T on L2-normalized embeddings. Aggregation per class:
``mean``: mean of the class's prompt logits; ``topk``: softmax over ALL prompts of the label
set, then the sum of each class's k highest prompt probabilities (k=1 is argmax).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from clipfair.methods.label_sets import get_label_set

NEEDS = ("val", "text")


def class_scores(
    image: np.ndarray,
    text: np.ndarray,
    prompt_class: np.ndarray,
    classes: list[str],
    aggregation: str = "mean",
    k: int = 1,
) -> np.ndarray:
    """(N, C) class scores from (N, D) images and (P, D) prompts labelled by ``prompt_class``."""
    logits = 100.0 * image.astype(np.float64) @ text.astype(np.float64).T
    if aggregation == "mean":
        return np.stack([logits[:, prompt_class == c].mean(axis=1) for c in classes], axis=1)
    if aggregation == "topk":
        z = logits - logits.max(axis=1, keepdims=True)
        probs = np.exp(z)
        probs /= probs.sum(axis=1, keepdims=True)
        out = []
        for c in classes:
            p = np.sort(probs[:, prompt_class == c], axis=1)[:, ::-1]
            out.append(p[:, :k].sum(axis=1))
        return np.stack(out, axis=1)
    raise ValueError(f"unknown aggregation {aggregation!r}; expected 'mean' or 'topk'")


def run(spec: dict[str, Any], inputs: dict[str, Any], seed: int, options: dict[str, Any]):
    """Predict ``spec['task']`` for the val split; returns (scores, classes, info)."""
    text: pd.DataFrame = inputs["text"]
    classes = list(dict.fromkeys(text["class"]))
    scores = class_scores(
        inputs["val"],
        np.stack(text["embedding"].to_numpy()),
        text["class"].to_numpy(),
        classes,
        spec.get("aggregation", "mean"),
        int(spec.get("k", 1)),
    )
    info = {
        "label_set": spec["label_set"],
        "n_prompts": len(text),
        "aggregation": spec["aggregation"],
        "k": int(spec.get("k", 1)),
        "categories": get_label_set(spec["label_set"]).categories,
    }
    return scores, classes, info
