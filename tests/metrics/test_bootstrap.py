import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest, chi2

from clipfair.labels import VOCAB
from clipfair.metrics.bootstrap import (
    cell_intervals,
    paired_comparison,
    resample_weights,
    verdicts,
)


def test_resample_weights_are_multiplicities():
    w = resample_weights(50, 200, seed=1)
    assert w.shape == (200, 50)
    assert (w.sum(axis=1) == 50).all()
    assert np.array_equal(w, resample_weights(50, 200, seed=1))  # seeded


def test_bootstrap_ci_agrees_with_normal_approximation():
    rng = np.random.default_rng(0)
    n, p = 20000, 0.8
    df = pd.DataFrame(
        {
            "gender": rng.choice(VOCAB["gender"], n),
            "age": rng.choice(VOCAB["age"], n),
            "race": rng.choice(VOCAB["race"], n),
        }
    )
    df["true"] = df["gender"]
    flip = {"Male": "Female", "Female": "Male"}
    df["pred"] = np.where(rng.random(n) < p, df["true"], df["true"].map(flip))
    acc = (df["true"] == df["pred"]).mean()
    out = cell_intervals(df, list(VOCAB["gender"]), n_resamples=2000, seed=0)
    half = 1.959964 * np.sqrt(acc * (1 - acc) / n)
    assert out["accuracy_ci"] == pytest.approx([acc - half, acc + half], abs=1.5e-3)
    lo, hi = out["accuracy_by_race_ci"]["White"]
    white = df["race"] == "White"
    acc_w, n_w = (df["true"] == df["pred"])[white].mean(), white.sum()
    half_w = 1.959964 * np.sqrt(acc_w * (1 - acc_w) / n_w)
    assert [lo, hi] == pytest.approx([acc_w - half_w, acc_w + half_w], abs=4e-3)


def test_worst_group_and_gap_find_the_planted_group():
    rng = np.random.default_rng(1)
    n = 7000
    race = np.array(VOCAB["race"])[np.arange(n) % 7]
    df = pd.DataFrame({"race": race, "gender": "Male", "age": "20-29", "true": "Male"})
    hit = np.where(race == "Indian", rng.random(n) < 0.70, rng.random(n) < 0.95)
    df["pred"] = np.where(hit, "Male", "Female")
    out = cell_intervals(df, list(VOCAB["gender"]), n_resamples=500, seed=0)
    assert out["worst_race"]["group"] == "Indian"
    assert out["worst_race"]["ci"][0] < 0.70 < out["worst_race"]["ci"][1] + 0.02
    assert out["gap_race"]["between"][1] == "Indian"
    assert 0.15 < out["gap_race"]["ci"][0] < out["gap_race"]["value"] < out["gap_race"]["ci"][1]
    assert "worst_gender" not in out  # one gender only: no gap to report


def _pair(table):
    """Correctness vectors with the given 2x2 table [[both, only_a], [only_b, neither]]."""
    (both, only_a), (only_b, neither) = table
    a = np.array([1] * both + [1] * only_a + [0] * only_b + [0] * neither)
    b = np.array([1] * both + [0] * only_a + [1] * only_b + [0] * neither)
    return a, b


def test_mcnemar_matches_scipy_chi_square_with_continuity():
    a, b = _pair([[400, 60], [35, 505]])
    out = paired_comparison(a, b, n_resamples=200)
    stat = (abs(60 - 35) - 1) ** 2 / (60 + 35)
    assert out["mcnemar_p"] == pytest.approx(chi2.sf(stat, df=1), rel=1e-9)
    assert (out["only_a_correct"], out["only_b_correct"]) == (60, 35)


def test_mcnemar_exact_for_few_discordant_pairs():
    a, b = _pair([[50, 9], [2, 39]])
    out = paired_comparison(a, b, n_resamples=200)
    assert out["mcnemar_p"] == pytest.approx(binomtest(2, 11, 0.5).pvalue, rel=1e-9)


def test_identical_predictions_differ_by_exactly_zero():
    rng = np.random.default_rng(2)
    a = rng.random(5000) < 0.9
    out = paired_comparison(a, a.copy(), n_resamples=500)
    assert out["difference"] == 0.0
    assert out["ci"][0] <= 0.0 <= out["ci"][1]
    assert out["mcnemar_p"] == 1.0 and out["verdict"] == "no"


def test_planted_five_point_difference_is_significant():
    rng = np.random.default_rng(3)
    n = 10000
    base = rng.random(n)
    a, b = base < 0.90, base < 0.85  # a is right on 5 points more of the same images
    out = paired_comparison(a, b, n_resamples=1000)
    assert out["difference"] == pytest.approx(0.05, abs=0.01)
    assert out["ci"][0] > 0 and out["mcnemar_p"] < 1e-6 and out["verdict"] == "yes"


def test_verdict_follows_one_rule_and_never_contradicts_its_interval():
    # three rows: a clear difference, none, and one where the test and the interval disagree
    d = np.array([0.05, 0.0, 0.004])
    rng = np.random.default_rng(0)
    reps = d + rng.normal(0, [0.005, 0.005, 0.005], size=(2000, 3))
    p = np.array([1e-9, 0.9, 1e-4])  # row 3: McNemar says yes, the interval contains 0
    out = verdicts(d, reps, p, alpha=0.05)
    assert list(out["verdict"]) == ["yes", "no", "borderline"]
    excludes = (out["ci_low"] > 0) | (out["ci_high"] < 0)
    assert not ((out["verdict"] == "no") & excludes).any()
    assert not ((out["verdict"] == "yes") & ~excludes).any()
    # Holm (statsmodels) on the raw p-values; the interval is wider than one row's 95%
    np.testing.assert_allclose(out["p_holm"], [3e-9, 0.9, 2e-4])
    assert out["q"] > 1.96


def test_simultaneous_interval_covers_all_rows_at_the_stated_level():
    # 20 rows with no true difference: the max-t interval must hold all 20 at once in ~95%
    # of repetitions, where 20 separate 95% intervals would miss one most of the time
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(200):
        truth_zero = rng.normal(0, 0.01, size=20)  # observed differences around 0
        reps = truth_zero + rng.normal(0, 0.01, size=(500, 20))
        out = verdicts(truth_zero, reps, np.ones(20))
        hits += bool(((out["ci_low"] <= 0) & (out["ci_high"] >= 0)).all())
    assert hits / 200 > 0.9


def test_holm_equals_statsmodels():
    from statsmodels.stats.multitest import multipletests

    from clipfair.metrics.bootstrap import holm

    rng = np.random.default_rng(0)
    for m in (1, 2, 7, 50):
        p = rng.random(m) ** 3
        p[: m // 3] = p[0]  # ties
        np.testing.assert_allclose(holm(p), multipletests(p, method="holm")[1], rtol=1e-12)
