"""Bootstrap confidence intervals for a cell's accuracies, worst group and largest gap, and
paired comparisons of two cells on the same images.

Written by hand because none of the standard tools does it vectorized: fairlearn's
``MetricFrame`` gives per-group values (used for the point estimates) but would be rebuilt
once per resample, and scipy's ``bootstrap`` resamples one statistic at a time. Here each
resample is a row of multiplicities ``W`` (how often each image is drawn), so every group
accuracy of every resample is one matrix product ``W @ onehot``: 1,000 resamples of 11k
predictions take a fraction of a second. McNemar's test comes from statsmodels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from clipfair.labels import VOCAB, ordered
from clipfair.metrics import labelled

GROUPINGS: tuple[str, ...] = ("gender", "age", "race", "gender_race")


def resample_weights(n: int, n_resamples: int, seed: int) -> np.ndarray:
    """(B, n) float32 multiplicities of n items in B bootstrap resamples (each row sums to n)."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_resamples, n), dtype=np.int64)
    idx += (np.arange(n_resamples, dtype=np.int64) * n)[:, None]
    counts = np.bincount(idx.ravel(), minlength=n_resamples * n)
    return counts.reshape(n_resamples, n).astype(np.float32)


def percentile_ci(replicates: np.ndarray, alpha: float = 0.05) -> np.ndarray:
    """(2, ...) percentile interval over axis 0, ignoring NaN (a group absent in a resample)."""
    return np.nanpercentile(replicates, [100 * alpha / 2, 100 * (1 - alpha / 2)], axis=0)


def _onehot(labels: pd.Series, classes: list[str]) -> np.ndarray:
    codes = pd.Categorical(labels, categories=classes).codes
    out = np.zeros((len(labels), len(classes)), dtype=np.float32)
    present = codes >= 0
    out[np.flatnonzero(present), codes[present]] = 1.0
    return out


def group_columns(pred: pd.DataFrame) -> dict[str, tuple[list[str], np.ndarray]]:
    """For each grouping: its labels (canonical order, present ones) and (n, G) one-hot."""
    out = {}
    for grouping in GROUPINGS:
        if not all(labelled(pred, c) for c in grouping.split("_")):
            continue  # a dataset without these labels (Adience has no race)
        if grouping == "gender_race":
            labels = pred["gender"].astype(str) + "/" + pred["race"].astype(str)
            races = ordered("race", pred["race"].astype(str))
            classes = [f"{g}/{r}" for g in VOCAB["gender"] for r in races]
        else:
            labels = pred[grouping].astype(str)
            classes = ordered(grouping, labels)
        present = [c for c in classes if (labels == c).any()]
        out[grouping] = (present, _onehot(labels, present))
    return out


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def _ci(values: np.ndarray, alpha: float) -> list[float]:
    lo, hi = percentile_ci(values, alpha)
    return [float(lo), float(hi)]


def headline_intervals(
    true: pd.Series, correct: np.ndarray, task_classes: list[str], w: np.ndarray, alpha: float
) -> dict[str, list[float]]:
    """CIs of accuracy and balanced accuracy (mean recall of the classes present) from the
    resampling ``w`` (:func:`resample_weights`)."""
    n = len(correct)
    present = [c for c in task_classes if (true == c).any()]
    true_hot = _onehot(true, present)
    recalls = _ratio(w @ (true_hot * correct[:, None]), w @ true_hot)
    return {
        "accuracy_ci": _ci(w @ correct / n, alpha),
        "balanced_accuracy_ci": _ci(np.nanmean(recalls, axis=1), alpha),
    }


def cell_intervals(
    pred: pd.DataFrame,
    task_classes: list[str],
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    weights: np.ndarray | None = None,
) -> dict[str, Any]:
    """CIs of accuracy, balanced accuracy, every group accuracy; worst group and largest gap.

    ``weights``: :func:`resample_weights` of these n images, shared between cells."""
    correct = (pred["true"].astype(str) == pred["pred"].astype(str)).to_numpy(np.float32)
    n = len(correct)
    w = resample_weights(n, n_resamples, seed) if weights is None else weights
    if w.shape != (n_resamples, n):
        raise ValueError(f"resampling weights {w.shape} do not fit {n_resamples} x {n} images")
    out: dict[str, Any] = {"bootstrap": {"n_resamples": n_resamples, "seed": seed, "alpha": alpha}}
    out.update(headline_intervals(pred["true"].astype(str), correct, task_classes, w, alpha))
    for grouping, (labels, hot) in group_columns(pred).items():
        reps = _ratio(w @ (hot * correct[:, None]), w @ hot)  # (B, G)
        # point estimates in float64 so they equal the group accuracies of the cell exactly
        point = _ratio(hot.T.astype(np.float64) @ correct.astype(np.float64), hot.sum(axis=0))
        lo, hi = percentile_ci(reps, alpha)
        out[f"accuracy_by_{grouping}_ci"] = {
            label: [float(lo[i]), float(hi[i])] for i, label in enumerate(labels)
        }
        if len(labels) < 2:
            continue
        worst = int(np.nanargmin(point))
        out[f"worst_{grouping}"] = {
            "group": labels[worst],
            "accuracy": float(point[worst]),
            "ci": _ci(np.nanmin(reps, axis=1), alpha),
        }
        best = int(np.nanargmax(point))
        out[f"gap_{grouping}"] = {
            "value": float(point[best] - point[worst]),
            "between": [labels[best], labels[worst]],
            "ci": _ci(np.nanmax(reps, axis=1) - np.nanmin(reps, axis=1), alpha),
        }
    return out


def share_intervals(
    pred: pd.DataFrame, categories: dict[str, list[str]], w: np.ndarray, alpha: float = 0.05
) -> dict[str, Any]:
    """CIs of each extra-class share (the denigration probe), overall and within each group of
    race, age and age band, from the resampling ``w`` (:func:`resample_weights`)."""
    from clipfair.metrics.classification import share_groups

    out: dict[str, Any] = {}
    groups = share_groups(pred)
    for category, classes in categories.items():
        hit = pred["pred"].isin(classes).to_numpy(np.float32)
        out[f"share_{category}_ci"] = _ci(w @ hit / len(hit), alpha)
        for group, labels in groups.items():
            present = ordered(group, labels)
            hot = _onehot(labels, present)
            lo, hi = percentile_ci(_ratio(w @ (hot * hit[:, None]), w @ hot), alpha)
            out[f"share_{category}_by_{group}_ci"] = {
                label: [float(lo[i]), float(hi[i])] for i, label in enumerate(present)
            }
    return out


def mcnemar_p(a: np.ndarray, b: np.ndarray) -> float:
    """McNemar's test of paired correctness vectors: exact binomial for fewer than 25
    discordant pairs, chi-square with continuity correction otherwise (statsmodels)."""
    from statsmodels.stats.contingency_tables import mcnemar

    only_a = int(((a == 1) & (b == 0)).sum())
    only_b = int(((a == 0) & (b == 1)).sum())
    both = int(((a == 1) & (b == 1)).sum())
    neither = len(a) - only_a - only_b - both
    discordant = only_a + only_b
    if discordant == 0:
        return 1.0
    table = [[both, only_a], [only_b, neither]]
    return float(mcnemar(table, exact=discordant < 25, correction=True).pvalue)


#: how ``differs`` reads the two statistics (printed with the comparison table)
VERDICT_RULE = (
    "differs: yes = Holm-adjusted McNemar p < alpha AND the simultaneous CI excludes 0; "
    "no = neither; borderline = the two disagree"
)


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values: with the m p-values sorted ascending, the i-th
    (from 0) becomes max over j <= i of min(1, (m - j) p_(j)), in the input order (equal to
    statsmodels' ``multipletests(method="holm")``, tested, at a fraction of its cost)."""
    p = np.asarray(p_values, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate((len(p) - np.arange(len(p))) * p[order])
    out = np.empty_like(p)
    out[order] = np.minimum(stepped, 1.0)
    return out


def verdicts(
    differences: np.ndarray,
    replicates: np.ndarray,
    p_values: np.ndarray,
    alpha: float = 0.05,
) -> dict[str, np.ndarray]:
    """Multiplicity-adjusted statistics of m paired differences, and one verdict each.

    - ``ci_low``/``ci_high``: simultaneous (1 - alpha) intervals over all m rows from the
      bootstrap ``replicates`` (B, m) of the differences: d_i +- q * se_i, where se_i is the
      bootstrap standard error and q the (1 - alpha) quantile of max_i |d*_i - d_i| / se_i
      (max-t; a row with se 0, identical predictions, has the interval [d, d]).
    - ``p_holm``: McNemar p-values adjusted with Holm's step-down method (:func:`holm`).
    - ``verdict``: :data:`VERDICT_RULE`. A verdict never contradicts the interval printed
      beside it: "no" only when it contains 0, "yes" only when it excludes 0.
    """
    d = np.asarray(differences, dtype=np.float64)
    reps = np.asarray(replicates, dtype=np.float64).reshape(-1, len(d))
    se = reps.std(axis=0, ddof=1) if len(reps) > 1 else np.zeros_like(d)
    varies = se > 0
    q = 0.0
    if varies.any():
        t = np.abs(reps[:, varies] - d[varies]) / se[varies]
        q = float(np.quantile(t.max(axis=1), 1 - alpha))
    low, high = d - q * se, d + q * se
    p_holm = holm(p_values)
    by_test = p_holm < alpha
    by_ci = (low > 0) | (high < 0)
    verdict = np.where(by_test & by_ci, "yes", np.where(by_test | by_ci, "borderline", "no"))
    return {"ci_low": low, "ci_high": high, "p_holm": p_holm, "verdict": verdict, "q": q}


def paired_comparison(
    correct_a: np.ndarray,
    correct_b: np.ndarray,
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    weights: np.ndarray | None = None,
) -> dict[str, Any]:
    """Accuracy difference a - b on the same images: bootstrap replicates of the difference,
    its (1 - alpha) interval and verdict as a table of one row (:func:`verdicts`), McNemar's p.

    ``weights`` (from :func:`resample_weights`) lets many comparisons share one resampling.
    """
    a = np.asarray(correct_a, dtype=np.float32)
    b = np.asarray(correct_b, dtype=np.float32)
    if a.shape != b.shape:
        raise ValueError(f"paired comparison needs equal lengths, got {a.shape} and {b.shape}")
    n = len(a)
    w = resample_weights(n, n_resamples, seed) if weights is None else weights
    diff = a - b
    replicates = w @ diff / n
    p_value = mcnemar_p(a, b)
    one = verdicts(np.array([diff.mean()]), replicates[:, None], np.array([p_value]), alpha)
    return {
        "n": n,
        "difference": float(diff.mean()),
        "replicates": replicates,
        "ci": [float(one["ci_low"][0]), float(one["ci_high"][0])],
        "only_a_correct": int(((a == 1) & (b == 0)).sum()),
        "only_b_correct": int(((a == 0) & (b == 1)).sum()),
        "mcnemar_p": p_value,
        "verdict": str(one["verdict"][0]),
    }
