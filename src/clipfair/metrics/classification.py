"""Per-cell metrics from a predictions file: accuracy, balanced accuracy, accuracy by group,
gender x race (CLIP Table 5 layout), White vs non-White (Tables 3-4), and the share of
images put into extra classes (the denigration probe, Tables 6-7)."""

from __future__ import annotations

import warnings
from typing import Any

import pandas as pd
from fairlearn.metrics import MetricFrame
from sklearn.metrics import accuracy_score, balanced_accuracy_score, classification_report

from clipfair.labels import TASKS, VOCAB
from clipfair.metrics import CELL_SCHEMA, labelled

WHITE = "White"


def _by_group(y_true: pd.Series, y_pred: pd.Series, groups: pd.Series | pd.DataFrame) -> pd.Series:
    return MetricFrame(
        metrics=accuracy_score, y_true=y_true, y_pred=y_pred, sensitive_features=groups
    ).by_group


def _shares(pred: pd.DataFrame, categories: dict[str, list[str]]) -> dict[str, Any]:
    """Share of images predicted into each extra-class category, overall and by race/age."""
    out: dict[str, Any] = {}
    for category, classes in categories.items():
        hit = pred["pred"].isin(classes)
        out[f"share_{category}"] = float(hit.mean())
        for group in ("race", "age"):
            if not labelled(pred, group):
                continue
            means = hit.groupby(pred[group]).mean()
            out[f"share_{category}_by_{group}"] = {
                label: float(means[label]) for label in VOCAB[group] if label in means.index
            }
    return out


def cell_metrics(
    pred: pd.DataFrame, categories: dict[str, list[str]] | None = None
) -> dict[str, Any]:
    """Metrics of one predictions frame (columns true, pred, task and the group columns)."""
    tasks = pred["task"].unique()
    if len(tasks) != 1:
        raise ValueError(f"predictions mix tasks {list(tasks)}; expected one")
    task = str(tasks[0])
    y_true, y_pred = pred["true"].astype(str), pred["pred"].astype(str)
    with warnings.catch_warnings():
        # expected with extra classes (denigration probe): they are never a true label
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        balanced = float(balanced_accuracy_score(y_true, y_pred))
    out: dict[str, Any] = {
        "schema": CELL_SCHEMA,
        "task": task,
        "n": len(pred),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": balanced,
    }
    for group in TASKS:
        if not labelled(pred, group):  # Adience: gender only
            out[f"accuracy_by_{group}"], out[f"n_by_{group}"] = {}, {}
            continue
        by = _by_group(y_true, y_pred, pred[group])
        out[f"accuracy_by_{group}"] = {
            label: float(by[label]) for label in VOCAB[group] if label in by.index
        }
        out[f"n_by_{group}"] = {label: int(n) for label, n in pred[group].value_counts().items()}
    out["accuracy_by_gender_race"] = {}
    out["accuracy_white"] = out["accuracy_non_white"] = None
    if labelled(pred, "gender") and labelled(pred, "race"):
        cross = _by_group(y_true, y_pred, pred[["gender", "race"]])
        out["accuracy_by_gender_race"] = {
            g: {r: float(cross[(g, r)]) for r in VOCAB["race"] if (g, r) in cross.index}
            for g in VOCAB["gender"]
        }
        white = pred["race"] == WHITE
        if white.any():
            out["accuracy_white"] = float((y_true[white] == y_pred[white]).mean())
        if (~white).any():
            out["accuracy_non_white"] = float((y_true[~white] == y_pred[~white]).mean())
    report = classification_report(
        y_true, y_pred, labels=list(VOCAB[task]), output_dict=True, zero_division=0
    )
    out["per_class"] = {
        label: {k: float(v) for k, v in report[label].items()} for label in VOCAB[task]
    }
    if categories:
        out.update(_shares(pred, categories))
    return out
