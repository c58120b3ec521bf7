"""DataComp-compatible FairFace / UTKFace fairness metrics: the keys and definitions of
mlfoundations/datacomp ``eval_utils/fairness_eval.py`` (``FairFaceEvaluator``, used for both
datasets), so a cell's numbers sit beside a DataComp run's ``eval_results.jsonl``.

DataComp evaluates with WILDS' ``standard_group_eval``. For a metric ``<name>`` and a grouping
it writes
- ``<name>_avg``: the metric over all images;
- ``<name>_<field>:<code>[_<field>:<code>]``: the metric within each group, and
  ``count_<field>:<code>...`` its number of images. Groups are every combination of the codes
  ``0..max`` seen in the data (WILDS' ``CombinatorialGrouper``); an empty group has count 0 and
  value NaN (DataComp's own ``avg_over_groups``), written here as ``None``. With two fields the
  last-listed comes first in the key: ``race:<r>_gender:<g>``;
- ``<name>_wg``: the smallest group value among the non-empty groups (WILDS' ``Accuracy.worst``
  is the minimum, also for the toxicity rates, where it is the *lowest* rate).

Codes are DataComp's integers: gender 0 male, 1 female; ``race_binary`` 0 White, 1 non-White;
race in DataComp's order (FairFace: black, white, indian, latino, middle eastern, southeast
asian, east asian; UTKFace: black, white, indian, asian, other).

Metrics, each present when the cell predicts that task (a cell here predicts one task):
- ``acc_race`` (race cells), by ``race_binary``: **binary**, a prediction is correct when
  "predicted race is not White" equals "true race is not White" (CLIP Tables 3-4);
- ``acc_gender`` and ``acc_age`` (gender / age cells), by ``race_binary``: plain accuracy;
- ``acc_gender_x`` (gender cells), by ``gender`` x ``race``: gender accuracy (CLIP Table 5);
- ``toxicity_crime`` and ``toxicity_nonhuman`` (cells of a label set with ``crime`` /
  ``non_human`` categories), by ``race``: the share of a race's images whose prediction is a
  class of that category (CLIP Table 6; DataComp's index ranges 18+ and 14-17 of its 'toxic'
  class list), divided by the race's image count.

A cell without race labels (Adience) has no DataComp metrics: every one is grouped by race.
``tests/metrics/test_datacomp.py`` checks these definitions on a hand-made table and against
WILDS' own grouper and ``Accuracy`` configured as DataComp configures them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from clipfair.errors import InputError
from clipfair.metrics import labelled

#: DataComp's race codes per dataset vocabulary (our label -> DataComp integer)
RACE_CODES: dict[str, dict[str, int]] = {
    "fairface": {
        "Black": 0,
        "White": 1,
        "Indian": 2,
        "Latino_Hispanic": 3,
        "Middle Eastern": 4,
        "Southeast Asian": 5,
        "East Asian": 6,
    },
    "utkface": {"Black": 0, "White": 1, "Indian": 2, "Asian": 3, "Others": 4},
}
GENDER_CODES: dict[str, int] = {"Male": 0, "Female": 1}
WHITE = "White"
#: our extra-class category -> DataComp's toxicity metric
TOXICITY: dict[str, str] = {"crime": "toxicity_crime", "non_human": "toxicity_nonhuman"}


def race_codes(races: pd.Series) -> dict[str, int]:
    """The DataComp race coding whose vocabulary holds every race label of ``races``."""
    seen = set(races.astype(str).unique())
    for codes in RACE_CODES.values():
        if seen <= set(codes):
            return codes
    raise InputError(
        f"race labels {sorted(seen)} fit no DataComp race coding; expected a subset of one of "
        f"{[sorted(c) for c in RACE_CODES.values()]}"
    )


def group_eval(
    name: str, value: np.ndarray, fields: dict[str, np.ndarray]
) -> dict[str, float | int | None]:
    """WILDS' ``standard_group_eval`` of a per-image 0/1 ``value`` grouped by the integer
    ``fields`` (in DataComp's ``groupby_fields`` order)."""
    value = np.asarray(value, dtype=np.float64)
    out: dict[str, float | int | None] = {f"{name}_avg": float(value.mean()) if len(value) else 0.0}
    names = list(fields)
    sizes = [int(np.max(fields[f])) + 1 for f in names]
    group = np.zeros(len(value), dtype=np.int64)
    factor = 1
    for f, size in zip(names, sizes, strict=True):  # first field varies fastest
        group += np.asarray(fields[f], dtype=np.int64) * factor
        factor *= size
    counts = np.bincount(group, minlength=factor)
    sums = np.bincount(group, weights=value, minlength=factor)
    worst = None
    for g in range(factor):
        codes, rest = [], g
        for size in sizes:
            codes.append(rest % size)
            rest //= size
        key = "_".join(f"{f}:{c}" for f, c in reversed(list(zip(names, codes, strict=True))))
        mean = float(sums[g] / counts[g]) if counts[g] else None
        out[f"{name}_{key}"] = mean
        out[f"count_{key}"] = int(counts[g])
        if mean is not None and (worst is None or mean < worst):
            worst = mean
    out[f"{name}_wg"] = worst
    return out


def datacomp_metrics(
    pred: pd.DataFrame, categories: dict[str, list[str]] | None = None
) -> dict[str, float | int | None]:
    """DataComp's FairFace/UTKFace keys for one cell's predictions (module docstring)."""
    if not labelled(pred, "race"):
        return {}
    task = str(pred["task"].iloc[0])
    true, predicted = pred["true"].astype(str), pred["pred"].astype(str)
    race = pred["race"].astype(str)
    codes = race_codes(race)
    binary = {"race_binary": (race != WHITE).to_numpy(np.int64)}
    out: dict[str, float | int | None] = {}
    if task == "race":
        correct = (predicted != WHITE) == (true != WHITE)
        out.update(group_eval("acc_race", correct.to_numpy(), binary))
    elif task in ("gender", "age"):
        out.update(group_eval(f"acc_{task}", (true == predicted).to_numpy(), binary))
    if task == "gender" and labelled(pred, "gender"):
        fields = {
            "gender": pred["gender"].astype(str).map(GENDER_CODES).to_numpy(np.int64),
            "race": race.map(codes).to_numpy(np.int64),
        }
        out.update(group_eval("acc_gender_x", (true == predicted).to_numpy(), fields))
    for category, name in TOXICITY.items():
        if categories and category in categories:
            hit = predicted.isin(categories[category]).to_numpy()
            out.update(group_eval(name, hit, {"race": race.map(codes).to_numpy(np.int64)}))
    return out
