"""Fine-tuned heads (seeds 000/001): the ``finetune`` rule trains the heads of a head set once
per (backbone, datasource) and scores val; each cell reads its task's scores from there."""

from __future__ import annotations

from typing import Any

import numpy as np

from clipfair.labels import VOCAB

NEEDS = ("finetuned",)


def score_columns(task: str) -> list[str]:
    """Columns of the val scores file for ``task``, in the canonical class order."""
    return [f"{task}:score_{label}" for label in VOCAB[task]]


def run(spec: dict[str, Any], inputs: dict[str, Any], seed: int, options: dict[str, Any]):
    """The task's val scores from the fine-tune run, checked against the val index."""
    task, scores = spec["task"], inputs["finetuned"]
    val = inputs["val_index"]
    if scores["file"].tolist() != val["file"].tolist():
        raise ValueError("fine-tuned scores are for another val index; re-run the finetune rule")
    missing = [c for c in score_columns(task) if c not in scores.columns]
    if missing:
        raise ValueError(f"head set {spec['heads']!r} has no {task} head (missing {missing[0]})")
    return (
        scores[score_columns(task)].to_numpy(np.float64),
        list(VOCAB[task]),
        {"heads": spec["heads"]},
    )
