"""Group intervals: worst group and gap with simultaneous intervals, small groups left out."""

import numpy as np
import pandas as pd
import pytest

from clipfair.labels import VOCAB
from clipfair.metrics.binomial import clopper_pearson
from clipfair.metrics.groups import group_intervals


def _frame(race: np.ndarray, hit: np.ndarray) -> pd.DataFrame:
    df = pd.DataFrame({"race": race, "gender": "Male", "age": "20-29", "true": "Male"})
    df["pred"] = np.where(hit, "Male", "Female")
    return df


def test_worst_group_and_gap_find_the_planted_group():
    rng = np.random.default_rng(1)
    n = 7000
    race = np.array(VOCAB["race"])[np.arange(n) % 7]
    out = group_intervals(
        _frame(race, np.where(race == "Indian", rng.random(n) < 0.70, rng.random(n) < 0.95))
    )
    worst, gap = out["worst_race"], out["gap_race"]
    assert worst["group"] == "Indian" and worst["n"] == 1000 and worst["groups"] == 7
    assert worst["ci"][0] < 0.70 < worst["ci"][1]
    assert worst["ci"][0] <= worst["accuracy"] <= worst["ci"][1]
    assert gap["between"][1] == "Indian" and gap["pairs"] == 21
    assert 0.15 < gap["ci"][0] < gap["value"] < gap["ci"][1]
    assert "worst_gender" not in out and out["left_out_gender"] == []  # one gender: no gap


def test_worst_group_interval_is_the_lowest_bonferroni_limits():
    rng = np.random.default_rng(2)
    race = np.array(VOCAB["race"])[rng.integers(0, 7, 3000)]
    hit = rng.random(3000) < np.where(race == "Black", 0.8, 0.85)
    out = group_intervals(_frame(race, hit))
    table = pd.DataFrame({"p": hit}).groupby(race)["p"].agg(["mean", "size"])
    low, high = clopper_pearson(table["mean"].to_numpy(), table["size"].to_numpy(), 0.05 / 7)
    assert out["worst_race"]["ci"] == pytest.approx([low.min(), high.min()])
    assert out["worst_race"]["accuracy"] == table["mean"].min()


def test_equal_groups_give_a_gap_interval_that_contains_zero():
    # max - min of noisy equal groups is > 0; its old percentile CI excluded 0 almost always
    rng = np.random.default_rng(3)
    misses = 0
    for _ in range(100):
        race = np.array(VOCAB["race"])[rng.integers(0, 7, 2100)]
        gap = group_intervals(_frame(race, rng.random(2100) < 0.9))["gap_race"]
        assert gap["value"] >= 0 and gap["ci"][0] <= gap["value"] <= gap["ci"][1]
        misses += gap["ci"][0] > 0
    assert misses <= 5  # simultaneous over 21 pairs: rarely a disparity that is not there


def test_small_groups_are_listed_and_left_out_of_worst_and_gap():
    rng = np.random.default_rng(4)
    race = np.array(["White"] * 400 + ["Black"] * 400 + ["Indian"] * 12)
    hit = np.concatenate([rng.random(800) < 0.9, np.zeros(12, bool)])  # 12 images, all wrong
    out = group_intervals(_frame(race, hit), min_group_n=30)
    assert out["left_out_race"] == ["Indian"]
    assert out["worst_race"]["group"] != "Indian" and out["worst_race"]["groups"] == 2
    assert "Indian" not in out["gap_race"]["between"]
    lo, hi = out["accuracy_by_race_ci"]["Indian"]  # still in the table, with its interval
    assert lo == 0 and 0.2 < hi < 0.3
    everyone = group_intervals(_frame(race, hit), min_group_n=1)
    assert everyone["worst_race"]["group"] == "Indian" and everyone["left_out_race"] == []
    only_one = group_intervals(_frame(race[:420], hit[:420]), min_group_n=30)
    assert "worst_race" not in only_one  # one group of 400 + one of 20: nothing to compare


def test_every_group_of_every_grouping_has_an_interval_holding_its_estimate():
    rng = np.random.default_rng(5)
    n = 600
    df = pd.DataFrame({g: rng.choice(VOCAB[g], n) for g in ("gender", "age", "race")})
    df["true"] = df["age"]
    df["pred"] = np.where(rng.random(n) < 0.5, df["age"], rng.choice(VOCAB["age"], n))
    out = group_intervals(df)
    correct = df["true"] == df["pred"]
    for grouping in ("gender", "age", "race", "gender_race"):
        labels = df["gender"] + "/" + df["race"] if grouping == "gender_race" else df[grouping]
        acc = correct.groupby(labels).mean()
        for group, (lo, hi) in out[f"accuracy_by_{grouping}_ci"].items():
            assert lo <= acc[group] <= hi and hi > lo
        worst, gap = out[f"worst_{grouping}"], out[f"gap_{grouping}"]
        assert worst["ci"][0] <= worst["accuracy"] <= worst["ci"][1]
        assert gap["ci"][0] <= gap["value"] <= gap["ci"][1]
