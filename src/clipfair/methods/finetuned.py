"""Trained models scored outside the method (fine-tuned heads of the fine-tuned heads' model cards,
VGG-Face
transfer of the VGG-Face gender_classifier): a rule trains once per (backbone, datasource[, head
set]) and scores
val; each cell reads its task's scores from there (``finetune`` and ``vggface_transfer``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from clipfair.errors import InputError
from clipfair.labels import VOCAB
from clipfair.scores import score_columns


def run(spec: dict[str, Any], inputs: dict[str, Any], seed: int, options: dict[str, Any]):
    """The task's val scores from the fine-tune run, checked against the val index."""
    task, scores = spec["task"], inputs["finetuned"]
    val = inputs["val_index"]
    if scores["file"].tolist() != val["file"].tolist():
        raise InputError("the scores are for another val index; re-run the rule that made them")
    missing = [c for c in score_columns(task) if c not in scores.columns]
    if missing:
        what = f"head set {spec['heads']!r}" if "heads" in spec else f"{spec['kind']} model"
        raise InputError(f"{what} has no {task} head (missing {missing[0]})")
    info = {"heads": spec["heads"]} if "heads" in spec else {}
    return scores[score_columns(task)].to_numpy(np.float64), list(VOCAB[task]), info
