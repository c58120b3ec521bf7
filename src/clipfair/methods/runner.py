"""Run method cells: load the inputs each method kind needs (:data:`clipfair.methods.METHODS`),
write its predictions, its info and its metrics.

A grid job runs a batch of cells of one model in one process (:func:`run_cells`): inputs that
several cells read (embeddings, indexes, prompt embeddings) are loaded once, and cells that
train alike (same kind, train embeddings, task, options and seed: ``probe_gender`` and
``probe_gender_ff2adience``) share one fit, evaluated on each cell's val set.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clipfair.digests import file_sha256
from clipfair.embedding_files import load_image_embeddings
from clipfair.errors import InputError
from clipfair.io import write_json, write_parquet
from clipfair.labels import SUBJECT, TASKS, task_classes
from clipfair.methods import get_method, method_kind

#: the input files a cell may name, and the flag or plan key that gives them
INPUT_KEYS = ("val_index", "train_index", "train_emb", "val_emb", "text", "finetuned")


class InputCache:
    """What a process reads or fits once: parquet tables, index-checked embeddings, and the
    fits of trained methods (by :func:`fit_id`, with the cell that made each)."""

    def __init__(self) -> None:
        self._tables: dict[str, pd.DataFrame] = {}
        self._embeddings: dict[tuple[str, str], np.ndarray] = {}
        self.fits: dict[str, tuple[Any, dict[str, Any], str]] = {}

    def table(self, path: str | Path) -> pd.DataFrame:
        key = str(path)
        if key not in self._tables:
            self._tables[key] = pd.read_parquet(path)
        return self._tables[key]

    def embeddings(self, path: str | Path, index_path: str | Path) -> np.ndarray:
        key = (str(path), str(index_path))
        if key not in self._embeddings:
            self._embeddings[key] = load_image_embeddings(path, self.table(index_path))
        return self._embeddings[key]


def fit_id(
    spec: dict[str, Any], paths: dict[str, str | None], seed: int, options: dict[str, Any]
) -> str:
    """What makes two cells' fits the same: kind, task, train embeddings and index, options
    and seed (a short sha256 of them; the eval set is not part of it)."""
    key = {
        "kind": spec["kind"],
        "task": spec["task"],
        "train": [str(paths.get("train_emb")), str(paths.get("train_index"))],
        "options": options,
        "seed": seed,
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def input_digests(paths: dict[str, str | None]) -> dict[str, dict[str, str]]:
    """Path and content sha256 of every input a cell read (for its info sidecar)."""
    return {
        name: {"path": str(path), "sha256": file_sha256(path)}
        for name, path in paths.items()
        if path
    }


def load_inputs(
    needs: tuple[str, ...], paths: dict[str, str | None], cache: InputCache | None = None
) -> dict[str, Any]:
    """Read the split indexes/embeddings, prompt embeddings or trained scores a method needs
    (``paths``: keys of :data:`INPUT_KEYS`)."""
    cache = cache or InputCache()
    inputs: dict[str, Any] = {"val_index": cache.table(paths["val_index"])}
    for need in needs:
        if need in ("text", "finetuned"):
            if not paths.get(need):
                raise InputError(f"this method needs {need} input (--{need})")
            inputs[need] = cache.table(paths[need])
            continue
        index, emb = paths.get(f"{need}_index"), paths.get(f"{need}_emb")
        if not index or not emb:
            raise InputError(f"this method needs {need} embeddings and index (--{need}-emb)")
        inputs[f"{need}_index"] = cache.table(index)
        inputs[need] = cache.embeddings(emb, index)
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
    # a dataset without some labels (Adience: gender only) has those group columns empty;
    # one whose images come in subjects (Adience's users) keeps them for the bootstrap
    subject = [SUBJECT] if SUBJECT in val_index.columns else []
    df = val_index.reindex(columns=["file", *subject, *TASKS]).astype({t: object for t in TASKS})
    df["task"] = task
    df["true"] = val_index[task]
    df["pred"] = np.asarray(classes)[scores.argmax(axis=1) if pred_index is None else pred_index]
    for i, cls in enumerate(classes):
        df[f"score_{cls}"] = scores[:, i]
    return df


def run_cell(
    spec: dict[str, Any],
    paths: dict[str, str | None],
    out_predictions: str | Path,
    out_info: str | Path,
    seed: int,
    options: dict[str, Any],
    data: dict[str, str | None] | None = None,
    cache: InputCache | None = None,
    cell: str = "",
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Run the method of ``spec`` and write its predictions (parquet) and info (JSON).

    ``data`` names the datasets it trained on and predicts (kept in the info for the tables);
    a fit ``cache`` already holds is used, and the info names the ``cell`` it was made for.
    """
    method = get_method(spec["kind"])
    cache = cache or InputCache()
    inputs = load_inputs(method_kind(spec["kind"]).needs, paths, cache)
    if hasattr(method, "fit"):
        key = fit_id(spec, paths, seed, options)
        if key not in cache.fits:
            cache.fits[key] = (*method.fit(spec, inputs, seed, options), cell)
        model, fit_info, fitted_for = cache.fits[key]
        scores, classes = method.predict(model, spec, inputs)
        info = {**fit_info, "fit": {"id": key, "made_for": fitted_for}}
    else:
        scores, classes, info = method.run(spec, inputs, seed, options)
    pred_index = (
        method.predict_index(scores, classes, spec) if hasattr(method, "predict_index") else None
    )
    df = predictions_frame(inputs["val_index"], spec["task"], scores, classes, pred_index)
    info = {"spec": spec, "data": data or {}, "inputs": input_digests(paths), **info,
            "task_classes": task_classes(inputs["val_index"], spec["task"])}  # fmt: skip
    write_parquet(out_predictions, df)
    write_json(out_info, info)
    return df, info


def run_cells(plan: list[dict[str, Any]], seed: int, bootstrap: dict[str, Any]) -> list[str]:
    """Run and evaluate every cell of ``plan`` (entries: cell, spec, data, options, inputs,
    outputs with predictions/info/metrics paths); returns one line per cell."""
    from clipfair.metrics.cell import evaluate_cell

    cache = InputCache()
    lines = []
    for entry in plan:
        start = time.perf_counter()
        out = entry["outputs"]
        pred, info = run_cell(
            entry["spec"],
            entry["inputs"],
            out["predictions"],
            out["info"],
            seed,
            entry.get("options") or {},
            entry.get("data"),
            cache,
            entry["cell"],
        )
        metrics = evaluate_cell(
            pred, info, entry["cell"], bootstrap["alpha"], bootstrap["min_group_n"]
        )
        write_json(out["metrics"], metrics)
        seconds = time.perf_counter() - start
        lines.append(f"{entry['cell']}: accuracy {metrics['accuracy']:.4f} ({seconds:.2f} s)")
        print(lines[-1], flush=True)
    return lines
