"""Run one method cell: load the inputs its ``NEEDS`` names, write predictions + info."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clipfair.embedding_files import load_image_embeddings
from clipfair.io import write_json, write_parquet
from clipfair.labels import TASKS
from clipfair.methods import get_method


def load_inputs(
    needs: tuple[str, ...],
    index: dict[str, str],
    embeddings: dict[str, str],
    text: str | None,
    finetuned: str | None = None,
) -> dict[str, Any]:
    """Read the split indexes/embeddings, prompt embeddings or fine-tuned scores a method needs."""
    inputs: dict[str, Any] = {}
    for need, path, flag in (("text", text, "--text"), ("finetuned", finetuned, "--finetuned")):
        if need in needs:
            if path is None:
                raise ValueError(f"this method needs {need} input ({flag})")
            inputs[need] = pd.read_parquet(path)
    for need in needs:
        if need in ("text", "finetuned"):
            continue
        split_index = pd.read_parquet(index[need])
        inputs[f"{need}_index"] = split_index
        inputs[need] = load_image_embeddings(embeddings[need], split_index)
    return inputs


def predictions_frame(
    val_index: pd.DataFrame,
    task: str,
    scores: np.ndarray,
    classes: list[str],
    pred_index: np.ndarray | None = None,
) -> pd.DataFrame:
    """One row per val image: groups, true and predicted label, one score column per class.

    The prediction is the best score's class, or ``pred_index`` where the method resolves
    ties its own way."""
    if scores.shape != (len(val_index), len(classes)):
        raise ValueError(
            f"scores have shape {scores.shape}; expected {(len(val_index), len(classes))}"
        )
    # a dataset without some labels (Adience: gender only) has those group columns empty
    df = val_index.reindex(columns=["file", *TASKS]).astype({t: object for t in TASKS})
    df["task"] = task
    df["true"] = val_index[task]
    df["pred"] = np.asarray(classes)[scores.argmax(axis=1) if pred_index is None else pred_index]
    for i, cls in enumerate(classes):
        df[f"score_{cls}"] = scores[:, i]
    return df


def run_cell(
    spec: dict[str, Any],
    index: dict[str, str],
    embeddings: dict[str, str],
    text: str | None,
    out_predictions: str | Path,
    out_info: str | Path,
    seed: int,
    options: dict[str, Any],
    finetuned: str | None = None,
    data: dict[str, str | None] | None = None,
) -> pd.DataFrame:
    """Run the method of ``spec`` and write its predictions (parquet) and info (JSON).

    ``data`` names the datasets it trained on and predicts (kept in the info for the tables).
    """
    method = get_method(spec["kind"])
    inputs = load_inputs(method.NEEDS, index, embeddings, text, finetuned)
    if "val_index" not in inputs:
        inputs["val_index"] = pd.read_parquet(index["val"])
    scores, classes, info = method.run(spec, inputs, seed, options)
    pred_index = (
        method.predict_index(scores, classes, spec) if hasattr(method, "predict_index") else None
    )
    df = predictions_frame(inputs["val_index"], spec["task"], scores, classes, pred_index)
    write_parquet(out_predictions, df)
    write_json(out_info, {"spec": spec, "data": data or {}, **info})
    return df
