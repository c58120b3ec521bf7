"""Zero-shot classification from cached image and prompt embeddings.

Image and prompt embeddings are L2-normalized; a prompt's similarity is ``s = 100 * cos``.
Four rules turn prompt similarities into class scores (``aggregation``):

- ``mean``: the mean of the class's ``s``. With the same number of prompts per class this is
  the prompt-ensemble report's "Avg Sum" (``get_sum_synms``: the sum of the class's ``s``).
- ``topk``: the prompt-ensemble report's Top k (``get_top_k_winner``): the sum of the class's ``k``
highest raw
  ``s``, no softmax; k=1 is the single best prompt (winner takes all).
- ``probtopk``: softmax over every prompt of the set, then the sum of the class's ``k``
  highest probabilities. Same as ``topk`` for k=1, different for k >= 2; kept as an ablation
  (an earlier version of this project, and the prompt-ensemble report's prose, describe it).
- ``embavg``: CLIP's prompt ensembling, as in OpenAI's notebook, LAION's clip_benchmark and
  DataComp (``zero_shot_classifier``): each class embedding is the mean of its L2-normalized
  prompt embeddings, normalized again; the score is ``100 * cos`` with it.

Ties (equal scores) follow the author's code where it has one (:data:`TIE_ORDERS`):
gender Top k goes to Male (``'Female' if w_score > m_score else 'Male'``), gender Avg Sum to
Female (``'Male' if man_score > woman_score else 'Female'``), race to the first race of the
author's dictionary order (``max(race_dict, ...)``); otherwise the canonical class order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from clipfair.errors import InputError
from clipfair.labels import VOCAB, task_classes
from clipfair.methods.label_sets import get_label_set

AGGREGATIONS = ("mean", "topk", "probtopk", "embavg")

#: the prompt-ensemble report's race order (race_predict.py ``new_race_dict``), which decides its
# ties
REPORT_RACE_ORDER = (
    "White",
    "Black",
    "Indian",
    "Latino_Hispanic",
    "East Asian",
    "Southeast Asian",
    "Middle Eastern",
)
#: (aggregation, task) -> class order that wins ties (first wins); default: canonical order
TIE_ORDERS: dict[tuple[str, str], tuple[str, ...]] = {
    ("mean", "gender"): ("Female", "Male"),
    ("topk", "gender"): ("Male", "Female"),
    ("mean", "race"): REPORT_RACE_ORDER,
    ("topk", "race"): REPORT_RACE_ORDER,
}

RULES = {
    "mean": "mean of the class's raw similarities 100*cos (the prompt-ensemble report's Avg Sum)",
    "topk": "sum of the class's k highest raw similarities 100*cos (the prompt-ensemble "
    "report's Top k, no softmax)",
    "probtopk": "softmax over all prompts, then the sum of the class's k highest probabilities",
    "embavg": "100*cos with the class's normalized mean of normalized prompt embeddings "
    "(CLIP / clip_benchmark / DataComp prompt ensembling)",
}


def _normalize(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _top_sum(values: np.ndarray, k: int) -> np.ndarray:
    """Row sums of the k largest values."""
    k = min(k, values.shape[1])
    return np.sort(values, axis=1)[:, ::-1][:, :k].sum(axis=1)


def class_scores(
    image: np.ndarray,
    text: np.ndarray,
    prompt_class: np.ndarray,
    classes: list[str],
    aggregation: str = "mean",
    k: int = 1,
) -> np.ndarray:
    """(N, C) class scores from (N, D) images and (P, D) prompts labelled by ``prompt_class``."""
    image = image.astype(np.float64)
    text = text.astype(np.float64)
    if aggregation == "embavg":
        class_emb = np.stack(
            [_normalize(_normalize(text[prompt_class == c]).mean(0)) for c in classes]
        )
        return 100.0 * image @ class_emb.T
    logits = 100.0 * image @ text.T
    if aggregation == "mean":
        return np.stack([logits[:, prompt_class == c].mean(axis=1) for c in classes], axis=1)
    if aggregation == "topk":
        return np.stack([_top_sum(logits[:, prompt_class == c], k) for c in classes], axis=1)
    if aggregation == "probtopk":
        z = logits - logits.max(axis=1, keepdims=True)
        probs = np.exp(z)
        probs /= probs.sum(axis=1, keepdims=True)
        return np.stack([_top_sum(probs[:, prompt_class == c], k) for c in classes], axis=1)
    raise InputError(f"unknown aggregation {aggregation!r}; expected one of {list(AGGREGATIONS)}")


def tie_order(aggregation: str, task: str, classes: list[str]) -> list[str]:
    """``classes`` in the order that wins ties: the rule's order for the task's classes
    (:data:`TIE_ORDERS`, else canonical), then any extra classes as listed."""
    preferred = TIE_ORDERS.get((aggregation, task), VOCAB[task])
    return [c for c in preferred if c in classes] + [c for c in classes if c not in preferred]


def predict(scores: np.ndarray, classes: list[str], aggregation: str, task: str) -> np.ndarray:
    """Index (into ``classes``) of each row's best score; equal scores go by :func:`tie_order`."""
    order = np.array([classes.index(c) for c in tie_order(aggregation, task, classes)])
    return order[scores[:, order].argmax(axis=1)]


def predict_index(scores: np.ndarray, classes: list[str], spec: dict[str, Any]) -> np.ndarray:
    """The runner's hook: predictions with the rule's tie order (not plain argmax)."""
    return predict(scores, classes, spec["aggregation"], spec["task"])


def rule_text(aggregation: str, k: int) -> str:
    """What produced a cell's ``score_*`` columns, in words (kept in the cell's info)."""
    text = RULES[aggregation]
    return (
        text.replace("k highest", f"{k} highest") if aggregation in ("topk", "probtopk") else text
    )


@dataclass(frozen=True)
class ZeroShotSpec:
    """A zero-shot method of params.yaml: its task, label set and scoring rule."""

    task: str
    label_set: str
    aggregation: str  # mean | topk | probtopk | embavg
    k: int = 1  # topk / probtopk: the k highest per class

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> ZeroShotSpec:
        k = int(spec["k"]) if "k" in spec else 1
        return cls(spec["task"], spec["label_set"], spec["aggregation"], k)


def run(spec: dict[str, Any], inputs: dict[str, Any], seed: int, options: dict[str, Any]):
    """Score ``spec['task']`` for the val split; returns (scores, classes, info)."""
    zs = ZeroShotSpec.from_spec(spec)
    text: pd.DataFrame = inputs["text"]
    classes = list(dict.fromkeys(text["class"]))
    aggregation, k = zs.aggregation, zs.k
    scores = class_scores(
        inputs["val"],
        np.stack(text["embedding"].to_numpy()),
        text["class"].to_numpy(),
        classes,
        aggregation,
        k,
    )
    label_set = get_label_set(zs.label_set, options["label_set_dir"])
    expected = task_classes(inputs["val_index"], zs.task)
    if list(label_set.classes) != expected:
        raise InputError(
            f"label set {zs.label_set!r} has the {label_set.vocabulary} {zs.task} classes "
            f"{list(label_set.classes)}; the images it predicts are labelled {expected}"
        )
    info = {
        "label_set": zs.label_set,
        "label_set_sha256": label_set.sha256,
        "n_prompts": len(text),
        "aggregation": aggregation,
        "k": k,
        "score_rule": rule_text(aggregation, k),
        "tie_order": tie_order(aggregation, zs.task, classes),
        "categories": label_set.categories,
    }
    return scores, classes, info
