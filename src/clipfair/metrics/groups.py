"""Intervals of a cell's proportions: accuracy, balanced accuracy, every group's accuracy and
share; the worst group and the largest gap with simultaneous ones.

- Accuracy, each group's accuracy and each share of predictions by group: the exact
  (Clopper-Pearson) interval, Korn and Graubard's with people as the unit
  (:mod:`clipfair.metrics.binomial`).
- Balanced accuracy, the mean of the classes' recalls: MOVER over their intervals, widened
  where people span classes (:func:`clipfair.metrics.binomial.mean_inflation`).
- Groups with fewer than ``min_group_n`` images are kept in the tables, marked, and left out
  of the worst group and the gap (their intervals are too wide for "worst" to mean more than
  "smallest").
- **Worst group**: the lowest accuracy among the K groups kept. Its interval runs from the
  lowest lower limit to the lowest upper limit of the K groups' intervals at level alpha / K
  (Bonferroni): when all K intervals hold their groups' accuracies, which happens with
  probability at least 1 - alpha, it holds the lowest of them. It always holds the point
  estimate.
- **Gap**: the signed difference best minus worst of the two groups named at the point
  estimate, by MOVER from their intervals at level alpha / (K (K - 1) / 2): simultaneous
  over every pair, so it holds for the pair the data picked. It can contain 0, and then the
  data do not show a disparity.

``clipfair bench coverage`` checks each of these by simulation (docs/statistics.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from clipfair.labels import VOCAB, ordered
from clipfair.metrics import labelled
from clipfair.metrics.binomial import limits, mean_inflation, mover, proportions
from clipfair.metrics.classification import share_groups

GROUPINGS: tuple[str, ...] = ("gender", "age", "race", "gender_race")


def grouping_labels(pred: pd.DataFrame, grouping: str) -> tuple[pd.Series, list[str]] | None:
    """Each image's group of ``grouping`` and the groups present in canonical order; None
    where the dataset lacks the labels (Adience has no race)."""
    if not all(labelled(pred, c) for c in grouping.split("_")):
        return None
    if grouping == "gender_race":
        labels = pred["gender"].astype(str) + "/" + pred["race"].astype(str)
        races = ordered("race", pred["race"].astype(str))
        classes = [f"{g}/{r}" for g in VOCAB["gender"] for r in races]
    else:
        labels = pred[grouping].astype(str)
        classes = ordered(grouping, labels)
    present = set(labels)
    return labels.reset_index(drop=True), [c for c in classes if c in present]


def headline_intervals(
    true: pd.Series,
    correct: np.ndarray,
    task_classes: list[str],
    alpha: float = 0.05,
    clusters: np.ndarray | None = None,
) -> dict[str, list[float]]:
    """Intervals of accuracy and of balanced accuracy (the mean recall of the classes
    present)."""
    true = true.astype(str).reset_index(drop=True)
    whole = proportions(correct, pd.Series("all", index=true.index), ["all"], clusters, alpha)
    present = [c for c in task_classes if (true == c).any()]
    recalls = proportions(correct, true, present, clusters, alpha)
    k = len(present)
    balanced = float(recalls["p"].mean())
    low, high = mover(np.full(k, 1 / k), recalls["p"], recalls["low"], recalls["high"])
    codes = pd.Index(present).get_indexer(true)
    f = mean_inflation(correct, codes, clusters)
    return {
        "accuracy_ci": [float(whole["low"].iloc[0]), float(whole["high"].iloc[0])],
        "balanced_accuracy_ci": [balanced - f * (balanced - low), balanced + f * (high - balanced)],
    }


def worst_and_gap(table: pd.DataFrame, alpha: float) -> tuple[dict, dict]:
    """Worst group and gap (module docstring) of the K >= 2 groups of ``table``
    (:func:`clipfair.metrics.binomial.proportions`)."""
    k = len(table)
    p = table["p"].to_numpy()
    worst = int(np.argmin(p))
    best = max((i for i in range(k) if i != worst), key=lambda i: p[i])  # two groups, always
    low, high = limits(table, alpha / k)
    pairs = k * (k - 1) // 2
    pair_low, pair_high = limits(table, alpha / pairs)
    pair = [best, worst]
    gap_ci = mover(np.array([1.0, -1.0]), p[pair], pair_low[pair], pair_high[pair])
    labels = list(table.index)
    return (
        {
            "group": labels[worst],
            "accuracy": float(p[worst]),
            "n": int(table["n"].iloc[worst]),
            "ci": [float(low.min()), float(high.min())],
            "groups": k,
        },
        {
            "value": float(p[best] - p[worst]),
            "between": [labels[best], labels[worst]],
            "ci": [float(gap_ci[0]), float(gap_ci[1])],
            "pairs": pairs,
        },
    )


def group_intervals(
    pred: pd.DataFrame,
    clusters: np.ndarray | None = None,
    alpha: float = 0.05,
    min_group_n: int = 30,
) -> dict[str, Any]:
    """Per grouping: every group's interval, the groups left out for size, and the worst
    group and the gap of the others (where at least two remain)."""
    correct = (pred["true"].astype(str) == pred["pred"].astype(str)).to_numpy(np.float64)
    out: dict[str, Any] = {}
    for grouping in GROUPINGS:
        found = grouping_labels(pred, grouping)
        if found is None:
            continue
        table = proportions(correct, *found, clusters, alpha)
        out[f"accuracy_by_{grouping}_ci"] = {
            g: [float(r.low), float(r.high)] for g, r in table.iterrows()
        }
        small = table["n"] < min_group_n
        out[f"left_out_{grouping}"] = list(table.index[small])
        if (~small).sum() >= 2:
            out[f"worst_{grouping}"], out[f"gap_{grouping}"] = worst_and_gap(table[~small], alpha)
    return out


def share_intervals(
    pred: pd.DataFrame,
    categories: dict[str, list[str]],
    clusters: np.ndarray | None = None,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """Intervals of each extra-class share (the denigration probe), overall and within each
    group of race, age and age band."""
    out: dict[str, Any] = {}
    groups = share_groups(pred)
    everyone = pd.Series("all", index=range(len(pred)))
    for category, classes in categories.items():
        hit = pred["pred"].isin(classes).to_numpy(np.float64)
        whole = proportions(hit, everyone, ["all"], clusters, alpha).iloc[0]
        out[f"share_{category}_ci"] = [float(whole.low), float(whole.high)]
        for group, labels in groups.items():
            table = proportions(hit, labels.reset_index(drop=True), ordered(group, labels),
                                clusters, alpha)  # fmt: skip
            out[f"share_{category}_by_{group}_ci"] = {
                g: [float(r.low), float(r.high)] for g, r in table.iterrows()
            }
    return out
