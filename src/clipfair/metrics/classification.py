"""Per-cell metrics from a predictions file: accuracy, balanced accuracy, accuracy by group,
gender x race (CLIP Table 5 layout), White vs non-White (Tables 3-4), and the share of
images put into extra classes (the denigration probe, Tables 6-7), and DataComp's keys for the
same tables (:mod:`clipfair.metrics.datacomp`).

Written with pandas alone: a cell job imports no sklearn, scipy or fairlearn (seconds per
job). ``tests/metrics/test_classification.py`` holds every number to sklearn's
``accuracy_score``, ``balanced_accuracy_score``, ``classification_report`` and fairlearn's
``MetricFrame`` on the same frames.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from clipfair.labels import TASKS, VOCAB, age_band, ordered
from clipfair.metrics import CELL_SCHEMA, labelled
from clipfair.metrics.datacomp import datacomp_metrics

WHITE = "White"


def _by_group(correct: pd.Series, groups: pd.Series | pd.DataFrame) -> pd.Series:
    """Accuracy per group (per value, or per tuple of values for a frame of columns)."""
    keys = [groups[c] for c in groups.columns] if isinstance(groups, pd.DataFrame) else groups
    return correct.groupby(keys, sort=True).mean()


def balanced_accuracy(y_true: Any, y_pred: Any) -> float:
    """Mean over the true classes of their recall (sklearn's ``balanced_accuracy_score``:
    predicted classes that are never true, such as extra classes, count only as misses)."""
    true, pred = np.asarray(y_true), np.asarray(y_pred)
    return float(pd.Series(true == pred).groupby(true).mean().mean())


def per_class(y_true: pd.Series, y_pred: pd.Series, labels: list[str]) -> dict[str, dict]:
    """Precision, recall, F1 and support per label (sklearn's ``classification_report`` with
    ``zero_division=0``)."""
    out = {}
    for label in labels:
        true, pred = y_true == label, y_pred == label
        tp, n_pred, support = int((true & pred).sum()), int(pred.sum()), int(true.sum())
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[label] = {"precision": precision, "recall": recall, "f1-score": f1,
                      "support": float(support)}  # fmt: skip
    return out


def share_groups(pred: pd.DataFrame) -> dict[str, pd.Series]:
    """The groupings extra-class shares are reported by: race, age and CLIP Table 7's age
    bands (:data:`clipfair.labels.AGE_BANDS`), where the dataset has those labels."""
    out = {group: pred[group].astype(str) for group in ("race", "age") if labelled(pred, group)}
    if "age" in out:
        out["age_band"] = out["age"].map(age_band)
    return out


def _shares(pred: pd.DataFrame, categories: dict[str, list[str]]) -> dict[str, Any]:
    """Share of images predicted into each extra-class category, overall and by race, age and
    age band."""
    out: dict[str, Any] = {}
    groups = share_groups(pred)
    for category, classes in categories.items():
        hit = pred["pred"].isin(classes)
        out[f"share_{category}"] = float(hit.mean())
        for group, labels in groups.items():
            means = hit.groupby(labels).mean()
            out[f"share_{category}_by_{group}"] = {
                label: float(means[label]) for label in ordered(group, means.index)
            }
    return out


def cell_metrics(
    pred: pd.DataFrame,
    categories: dict[str, list[str]] | None = None,
    classes: list[str] | None = None,
) -> dict[str, Any]:
    """Metrics of one predictions frame (columns true, pred, task and the group columns);
    ``classes``: the task's classes (default FairFace's; UTKFace's races are its own)."""
    tasks = pred["task"].unique()
    if len(tasks) != 1:
        raise ValueError(f"predictions mix tasks {list(tasks)}; expected one")
    task = str(tasks[0])
    y_true, y_pred = pred["true"].astype(str), pred["pred"].astype(str)
    correct = y_true == y_pred
    out: dict[str, Any] = {
        "schema": CELL_SCHEMA,
        "task": task,
        "n": len(pred),
        "accuracy": float(correct.mean()),
        "balanced_accuracy": balanced_accuracy(y_true, y_pred),
    }
    for group in TASKS:
        if not labelled(pred, group):  # Adience: gender only
            out[f"accuracy_by_{group}"], out[f"n_by_{group}"] = {}, {}
            continue
        by = _by_group(correct, pred[group])
        out[f"accuracy_by_{group}"] = {
            label: float(by[label]) for label in ordered(group, by.index)
        }
        out[f"n_by_{group}"] = {label: int(n) for label, n in pred[group].value_counts().items()}
    out["accuracy_by_gender_race"], out["n_by_gender_race"] = {}, {}
    out["accuracy_white"] = out["accuracy_non_white"] = None
    if labelled(pred, "gender") and labelled(pred, "race"):
        cross = _by_group(correct, pred[["gender", "race"]])
        races = ordered("race", pred["race"].astype(str))
        out["accuracy_by_gender_race"] = {
            g: {r: float(cross[(g, r)]) for r in races if (g, r) in cross.index}
            for g in VOCAB["gender"]
        }
        counts = pred.groupby(["gender", "race"]).size()
        out["n_by_gender_race"] = {f"{g}/{r}": int(n) for (g, r), n in counts.items()}
        white = pred["race"] == WHITE
        if white.any():
            out["accuracy_white"] = float(correct[white].mean())
        if (~white).any():
            out["accuracy_non_white"] = float(correct[~white].mean())
    out["per_class"] = per_class(y_true, y_pred, list(classes or VOCAB[task]))
    if categories:
        out.update(_shares(pred, categories))
    out["datacomp"] = datacomp_metrics(pred, categories)
    return out
