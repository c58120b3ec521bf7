"""Do the intervals cover? A simulation with a prediction table as the population.

Two cells' predictions on the same images (``pred_a``, ``pred_b``) are the population: its
accuracies, group accuracies, worst group, gaps and the difference of the two cells are the
true values. Each draw takes a sample of the population's size with replacement (whole
subjects where the table has them, as the pipeline's bootstrap does), runs the pipeline's own
interval code on it (:mod:`clipfair.metrics.bootstrap`, :mod:`clipfair.metrics.groups`) and
records whether each interval holds its true value:

- ``accuracy``, ``balanced_accuracy``: cell A's intervals;
- ``group_accuracy``: every group's interval, every grouping (pooled over groups;
  ``lowest_group`` is the group covered least often);
- ``worst_group``: covers the lowest true accuracy among the groups the sample kept;
- ``gap``: covers the true difference of the two groups the sample named;
- ``paired_difference``: the interval of A - B (:func:`paired_comparison`).

The packaged population (``reference/coverage_population.parquet``) is the demo's predictions
at the commit that wrote it: FairFace's 1,000 val images (probe_race against raw race prompts, race
task) and Adience's 227 val faces of 20 users (gender probe against raw gender prompts).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clipfair.errors import InputError
from clipfair.labels import SUBJECT, TASKS
from clipfair.metrics.bootstrap import paired_comparison, resample_weights, subject_codes
from clipfair.metrics.groups import (
    GROUPINGS,
    group_intervals,
    grouping_labels,
    headline_intervals,
)

POPULATION = Path(__file__).resolve().parent.parent / "reference" / "coverage_population.parquet"
STATISTICS = (
    "accuracy",
    "balanced_accuracy",
    "group_accuracy",
    "worst_group",
    "gap",
    "paired_difference",
)


def population_from(pred_a: pd.DataFrame, pred_b: pd.DataFrame, name: str) -> pd.DataFrame:
    """One population table from two cells' predictions of the same images."""
    if not pred_a["file"].equals(pred_b["file"]):
        raise InputError(f"{name}: the two prediction tables are not of the same images")
    keep = [c for c in ("file", SUBJECT, *TASKS, "task", "true") if c in pred_a.columns]
    out = pred_a[keep].copy()
    out["pred_a"], out["pred_b"] = pred_a["pred"].astype(str), pred_b["pred"].astype(str)
    out.insert(0, "population", name)
    return out


def _truths(pop: pd.DataFrame) -> dict[str, Any]:
    """The population's group accuracies per grouping and its difference A - B."""
    correct = pop["true"].astype(str) == pop["pred_a"]
    groups = {}
    for grouping in GROUPINGS:
        found = grouping_labels(pop, grouping)
        if found is not None:
            labels, _ = found
            groups[grouping] = correct.reset_index(drop=True).groupby(labels).mean().to_dict()
    other = pop["true"].astype(str) == pop["pred_b"]
    return {
        "accuracy": float(correct.mean()),
        "balanced_accuracy": float(correct.groupby(pop["true"].astype(str)).mean().mean()),
        "groups": groups,
        "difference": float(correct.mean() - other.mean()),
    }


def _draw(pop: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """A sample of the population's size: images, or whole subjects, with replacement; a
    subject drawn twice is two subjects of the sample."""
    if SUBJECT not in pop.columns:
        return pop.iloc[rng.integers(0, len(pop), len(pop))].reset_index(drop=True)
    codes = pd.factorize(pop[SUBJECT])[0]
    members = [np.flatnonzero(codes == c) for c in range(codes.max() + 1)]
    picked = rng.integers(0, len(members), len(members))
    sample = pop.iloc[np.concatenate([members[c] for c in picked])].reset_index(drop=True)
    sample[SUBJECT] = np.repeat(np.arange(len(picked)), [len(members[c]) for c in picked])
    return sample


def _covered(ci: list[float], value: float) -> bool:
    return bool(ci[0] <= value <= ci[1])


def coverage(
    pop: pd.DataFrame,
    draws: int,
    seed: int = 0,
    n_resamples: int = 1000,
    alpha: float = 0.05,
    min_group_n: int = 30,
) -> pd.DataFrame:
    """Coverage of each statistic (module docstring) over ``draws`` samples of ``pop``."""
    rng = np.random.default_rng(seed)
    truth = _truths(pop)
    classes = list(dict.fromkeys(pop["true"].astype(str)))
    hits: dict[str, list[bool]] = {s: [] for s in STATISTICS}
    by_group: dict[str, list[bool]] = {}
    for draw in range(draws):
        sample = _draw(pop, rng)
        clusters = subject_codes(sample)
        w = resample_weights(len(sample), n_resamples, seed + 1 + draw, clusters)
        true = sample["true"].astype(str)
        a = (true == sample["pred_a"]).to_numpy(np.float32)
        b = (true == sample["pred_b"]).to_numpy(np.float32)
        ci = headline_intervals(true, a, classes, alpha, clusters)
        hits["accuracy"].append(_covered(ci["accuracy_ci"], truth["accuracy"]))
        hits["balanced_accuracy"].append(
            _covered(ci["balanced_accuracy_ci"], truth["balanced_accuracy"])
        )
        paired = paired_comparison(a, b, n_resamples, 0, alpha, w, clusters)
        hits["paired_difference"].append(_covered(paired["ci"], truth["difference"]))
        groups = group_intervals(sample.assign(pred=sample["pred_a"]), clusters, alpha, min_group_n)
        for grouping, true_acc in truth["groups"].items():
            for group, limits in groups.get(f"accuracy_by_{grouping}_ci", {}).items():
                ok = _covered(limits, true_acc[group])
                hits["group_accuracy"].append(ok)
                by_group.setdefault(f"{grouping}={group}", []).append(ok)
            worst, gap = groups.get(f"worst_{grouping}"), groups.get(f"gap_{grouping}")
            if worst is None:
                continue
            kept = [g for g in true_acc if g in groups[f"accuracy_by_{grouping}_ci"]]
            kept = [g for g in kept if g not in groups[f"left_out_{grouping}"]]
            hits["worst_group"].append(_covered(worst["ci"], min(true_acc[g] for g in kept)))
            best_group, worst_group = gap["between"]
            hits["gap"].append(_covered(gap["ci"], true_acc[best_group] - true_acc[worst_group]))
    lowest = min(by_group.items(), key=lambda kv: np.mean(kv[1]))
    rows = [
        {
            "statistic": s,
            "intervals": len(v),
            "coverage": float(np.mean(v)) if v else float("nan"),
            "note": (
                f"lowest group {lowest[0]}: {np.mean(lowest[1]):.3f}"
                if s == "group_accuracy"
                else ""
            ),
        }
        for s, v in hits.items()
    ]
    return pd.DataFrame(rows)


def coverage_report(
    populations: pd.DataFrame,
    draws: int,
    seed: int = 0,
    n_resamples: int = 1000,
    alpha: float = 0.05,
    min_group_n: int = 30,
) -> pd.DataFrame:
    """:func:`coverage` of every population of the table, one block of rows each."""
    frames = []
    for name, pop in populations.groupby("population", sort=False):
        pop = pop.reset_index(drop=True)
        if SUBJECT in pop.columns and pop[SUBJECT].isna().all():
            pop = pop.drop(columns=SUBJECT)
        table = coverage(pop, draws, seed, n_resamples, alpha, min_group_n)
        table.insert(0, "population", name)
        table.insert(1, "unit", SUBJECT if SUBJECT in pop.columns else "image")
        frames.append(table)
    out = pd.concat(frames, ignore_index=True)
    out["nominal"] = 1 - alpha
    return out
