"""Per-cell metrics from a predictions file: accuracy, balanced accuracy, accuracy by group."""

from __future__ import annotations

from typing import Any

import pandas as pd
from fairlearn.metrics import MetricFrame
from sklearn.metrics import accuracy_score, balanced_accuracy_score, classification_report

from clipfair.labels import TASKS, VOCAB


def cell_metrics(pred: pd.DataFrame) -> dict[str, Any]:
    """Metrics of one predictions frame (columns true, pred, task and the group columns)."""
    tasks = pred["task"].unique()
    if len(tasks) != 1:
        raise ValueError(f"predictions mix tasks {list(tasks)}; expected one")
    task = str(tasks[0])
    y_true, y_pred = pred["true"].astype(str), pred["pred"].astype(str)
    out: dict[str, Any] = {
        "task": task,
        "n": len(pred),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
    }
    for group in TASKS:
        frame = MetricFrame(
            metrics=accuracy_score, y_true=y_true, y_pred=y_pred, sensitive_features=pred[group]
        )
        by = frame.by_group
        out[f"accuracy_by_{group}"] = {
            label: float(by[label]) for label in VOCAB[group] if label in by.index
        }
    report = classification_report(
        y_true, y_pred, labels=list(VOCAB[task]), output_dict=True, zero_division=0
    )
    out["per_class"] = {
        label: {k: float(v) for k, v in report[label].items()} for label in VOCAB[task]
    }
    return out
