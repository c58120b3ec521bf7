"""DataComp-compatible metrics: the definitions of the module docstring on a hand-made table,
and the same keys and values from WILDS' own grouper and Accuracy, set up the way DataComp's
``FairFaceEvaluator`` sets them up (integer metadata, the same groupby fields and names)."""

import numpy as np
import pandas as pd
import pytest
import torch

from clipfair.metrics.datacomp import RACE_CODES, datacomp_metrics

CATEGORIES = {"non_human": ["gorilla", "animal"], "crime": ["thief", "criminal"]}


def _frame(task: str, rows: list[tuple[str, str, str, str, str]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["gender", "race", "age", "true", "pred"])
    df["task"] = task
    return df


def test_race_accuracy_is_white_vs_non_white():
    rows = [  # gender, race, age, true, pred
        ("Male", "White", "20-29", "White", "White"),  # right
        ("Male", "White", "20-29", "White", "Indian"),  # wrong: White called non-White
        ("Female", "Black", "3-9", "Black", "Indian"),  # right: both non-White
        ("Female", "East Asian", "3-9", "East Asian", "White"),  # wrong
        ("Male", "Indian", "3-9", "Indian", "Indian"),  # right
    ]
    m = datacomp_metrics(_frame("race", rows))
    assert m["acc_race_avg"] == pytest.approx(3 / 5)
    assert m["acc_race_race_binary:0"] == pytest.approx(1 / 2)
    assert m["acc_race_race_binary:1"] == pytest.approx(2 / 3)
    assert (m["count_race_binary:0"], m["count_race_binary:1"]) == (2, 3)
    assert m["acc_race_wg"] == pytest.approx(1 / 2)
    assert not any(k.startswith(("acc_gender", "toxicity")) for k in m)


def test_gender_by_race_binary_and_by_gender_x_race_with_empty_groups():
    rows = [
        ("Male", "White", "20-29", "Male", "Male"),
        ("Female", "White", "20-29", "Female", "Male"),
        ("Female", "Black", "20-29", "Female", "Female"),
        ("Male", "Indian", "20-29", "Male", "Male"),
    ]
    m = datacomp_metrics(_frame("gender", rows))
    assert m["acc_gender_avg"] == pytest.approx(3 / 4)
    assert m["acc_gender_race_binary:0"] == pytest.approx(1 / 2)
    assert m["acc_gender_race_binary:1"] == 1.0
    # race codes 0..2 seen (Black 0, White 1, Indian 2) x gender 0..1: six groups, race first
    x = {k: v for k, v in m.items() if k.startswith("acc_gender_x_race")}
    assert x == {
        "acc_gender_x_race:0_gender:0": None,  # no Black man: DataComp's NaN
        "acc_gender_x_race:0_gender:1": 1.0,
        "acc_gender_x_race:1_gender:0": 1.0,
        "acc_gender_x_race:1_gender:1": 0.0,
        "acc_gender_x_race:2_gender:0": 1.0,
        "acc_gender_x_race:2_gender:1": None,
    }
    assert m["count_race:0_gender:0"] == 0 and m["count_race:1_gender:1"] == 1
    assert m["acc_gender_x_wg"] == 0.0 and m["acc_gender_x_avg"] == pytest.approx(3 / 4)


def test_toxicity_rates_divide_by_each_race_and_worst_is_the_lowest():
    rows = [
        ("Male", "Black", "0-2", "Male", "gorilla"),
        ("Female", "Black", "0-2", "Female", "thief"),
        ("Male", "Black", "0-2", "Male", "Male"),
        ("Male", "Black", "0-2", "Male", "criminal"),
        ("Male", "White", "0-2", "Male", "thief"),
        ("Female", "White", "0-2", "Female", "Female"),
    ]
    m = datacomp_metrics(_frame("gender", rows), CATEGORIES)
    assert m["toxicity_crime_race:0"] == pytest.approx(2 / 4)
    assert m["toxicity_crime_race:1"] == pytest.approx(1 / 2)
    assert m["toxicity_nonhuman_race:0"] == pytest.approx(1 / 4)
    assert m["toxicity_nonhuman_race:1"] == 0.0
    assert m["toxicity_crime_avg"] == pytest.approx(3 / 6)
    assert m["toxicity_nonhuman_wg"] == 0.0  # WILDS' worst is the minimum, also for rates
    assert m["count_race:0"] == 4


def test_no_race_labels_no_keys_and_unknown_races_are_named():
    rows = [("Male", "White", "20-29", "Male", "Male")]
    df = _frame("gender", rows)
    assert datacomp_metrics(df.assign(race=None)) == {}
    with pytest.raises(ValueError, match="Martian"):
        datacomp_metrics(df.assign(race="Martian"))


def _wilds_reference(pred: pd.DataFrame, categories) -> dict:
    """DataComp's evaluation through WILDS itself: metadata [age, gender, race, race_binary]
    as integers, groupers on race_binary / (gender, race) / race, metrics by DataComp's names."""
    import wilds.common.metrics.metric as wilds_metric
    from wilds.common.grouper import CombinatorialGrouper
    from wilds.common.metrics.all_metrics import Accuracy
    from wilds.datasets.wilds_dataset import WILDSDataset

    def avg_over_groups(v, g, n_groups):  # DataComp replaces WILDS' torch_scatter version
        counts = torch.bincount(g, minlength=n_groups).float()
        return torch.zeros(n_groups).index_add_(0, g, v.float()) / counts, counts

    wilds_metric.avg_over_groups = avg_over_groups

    class Evaluator(WILDSDataset):
        def __init__(self, metadata):
            self._metadata_array = metadata
            self._metadata_fields = ["age", "gender", "race", "race_binary"]

    codes = RACE_CODES["fairface"]
    ages = sorted(pred["age"].unique())
    meta = torch.tensor(
        np.stack(
            [
                pred["age"].map(ages.index),
                pred["gender"].map({"Male": 0, "Female": 1}),
                pred["race"].map(codes),
                (pred["race"] != "White").astype(int),
            ],
            axis=1,
        )
    )
    ev = Evaluator(meta)
    binary = CombinatorialGrouper(dataset=ev, groupby_fields=["race_binary"])
    cross = CombinatorialGrouper(dataset=ev, groupby_fields=["gender", "race"])
    by_race = CombinatorialGrouper(dataset=ev, groupby_fields=["race"])
    task = pred["task"].iloc[0]
    classes = {name: i for i, name in enumerate(sorted(set(pred["true"]) | set(pred["pred"])))}
    true = torch.tensor(pred["true"].map(classes).to_numpy())
    y = torch.tensor(pred["pred"].map(classes).to_numpy())
    out = {}
    out.update(ev.standard_group_eval(Accuracy(name=f"acc_{task}"), binary, y, true, meta)[0])
    out.update(ev.standard_group_eval(Accuracy(name="acc_gender_x"), cross, y, true, meta)[0])
    ones = torch.ones(len(pred), dtype=torch.int)
    for category, name in (("crime", "toxicity_crime"), ("non_human", "toxicity_nonhuman")):
        hit = torch.tensor(pred["pred"].isin(categories[category]).to_numpy()).int()
        out.update(ev.standard_group_eval(Accuracy(name=name), by_race, hit, ones, meta)[0])
    return out


def test_keys_and_values_equal_wilds_configured_as_datacomp():
    rng = np.random.default_rng(0)
    n = 400
    races = list(RACE_CODES["fairface"])[:-1]  # East Asian absent: its codes stay unused
    gender = rng.choice(["Male", "Female"], n)
    pred = pd.DataFrame(
        {
            "gender": gender,
            "race": rng.choice(races, n),
            "age": rng.choice(["0-2", "3-9", "20-29"], n),
            "true": gender,
            "pred": np.where(
                rng.random(n) < 0.8,
                gender,
                rng.choice(["Male", "Female", "gorilla", "thief", "criminal", "animal"], n),
            ),
            "task": "gender",
        }
    )
    ours = datacomp_metrics(pred, CATEGORIES)
    theirs = _wilds_reference(pred, CATEGORIES)
    assert set(ours) == set(theirs)
    for key, value in theirs.items():
        if isinstance(value, float) and np.isnan(value):
            assert ours[key] is None, key
        else:
            assert ours[key] == pytest.approx(value, abs=1e-6), key
