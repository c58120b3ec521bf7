import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest, chi2

from clipfair.labels import VOCAB
from clipfair.metrics.bootstrap import (
    mcnemar_p,
    paired_comparison,
    resample_weights,
    subject_codes,
    verdicts,
    widening,
)
from clipfair.metrics.groups import group_intervals, headline_intervals


def test_resample_weights_are_multiplicities():
    w = resample_weights(50, 200, seed=1)
    assert w.shape == (200, 50)
    assert (w.sum(axis=1) == 50).all()
    assert np.array_equal(w, resample_weights(50, 200, seed=1))  # seeded


def test_cell_intervals_agree_with_the_normal_approximation_at_large_n():
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
    correct = (df["true"] == df["pred"]).to_numpy(np.float32)
    acc = correct.mean()
    out = headline_intervals(df["true"], correct, list(VOCAB["gender"]), 0.05)
    half = 1.959964 * np.sqrt(acc * (1 - acc) / n)
    assert out["accuracy_ci"] == pytest.approx([acc - half, acc + half], abs=1.5e-3)
    # the balanced accuracy's interval (MOVER of the two recalls' intervals) is the
    # normal one at this size: the variance of a mean of two independent proportions
    recalls = df.assign(c=correct).groupby("true")["c"].agg(["mean", "size"])
    bal = recalls["mean"].mean()
    half = 1.959964 * np.sqrt((recalls["mean"] * (1 - recalls["mean"]) / recalls["size"]).sum()) / 2
    assert out["balanced_accuracy_ci"] == pytest.approx([bal - half, bal + half], abs=1e-3)
    # a group's interval is the exact one (statsmodels' "beta"), not a bootstrap percentile
    from statsmodels.stats.proportion import proportion_confint

    white = df["race"] == "White"
    lo, hi = group_intervals(df)["accuracy_by_race_ci"]["White"]
    k = int(correct[white.to_numpy()].sum())
    assert [lo, hi] == pytest.approx(proportion_confint(k, white.sum(), method="beta"))


def test_subjects_are_resampled_whole():
    clusters = np.repeat(np.arange(30), 5)  # 30 people, 5 photos each
    w = resample_weights(150, 400, seed=1, clusters=clusters)
    assert w.shape == (400, 150)
    assert (w.reshape(400, 30, 5) == w[:, ::5, None]).all()  # a person's photos move together
    assert (w.sum(axis=1) == 150).all()  # 30 people drawn, 5 photos each
    frame = pd.DataFrame({"subject": [f"u{c}" for c in clusters]})
    np.testing.assert_array_equal(subject_codes(frame), clusters)
    assert subject_codes(frame.drop(columns="subject")) is None
    with pytest.raises(ValueError, match="1 images have no subject"):
        subject_codes(frame.assign(subject=frame["subject"].where(frame.index != 3)))


def test_people_with_many_photos_widen_the_interval():
    # 20 people with 11 photos each; a person's photos are all right or all wrong
    rng = np.random.default_rng(4)
    clusters = np.repeat(np.arange(20), 11)
    correct = np.repeat(rng.random(20) < 0.8, 11).astype(np.float32)
    true = pd.Series(np.where(np.arange(220) % 2, "Male", "Female"))
    classes = list(VOCAB["gender"])
    by_image = headline_intervals(true, correct, classes, 0.05)
    by_subject = headline_intervals(true, correct, classes, 0.05, clusters)
    width = {
        unit: out["accuracy_ci"][1] - out["accuracy_ci"][0]
        for unit, out in (("image", by_image), ("subject", by_subject))
    }
    # 20 independent units, not 220: about sqrt(11) = 3.3 times wider (t(19): a little more)
    assert 2.5 < width["subject"] / width["image"] < 4.5
    assert widening(20) == pytest.approx(np.sqrt(20 / 19) * 2.093024 / 1.959964, rel=1e-5)
    assert widening(10_000) == pytest.approx(1.0, abs=2e-4)


def test_clustered_mcnemar_is_durkalski_and_plain_for_single_photos():
    rng = np.random.default_rng(5)
    a, b = rng.random(400) < 0.8, rng.random(400) < 0.75
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    # one photo per person: Durkalski's statistic is McNemar's without continuity correction
    singletons = mcnemar_p(a, b, np.arange(400))
    assert singletons == pytest.approx(chi2.sf((only_a - only_b) ** 2 / (only_a + only_b), 1))
    # people with 8 photos: (sum of per-person differences)^2 / sum of their squares
    clusters = np.repeat(np.arange(50), 8)
    d = np.bincount(clusters, weights=a.astype(float) - b.astype(float))
    expected = chi2.sf(d.sum() ** 2 / (d**2).sum(), 1)
    assert mcnemar_p(a, b, clusters) == pytest.approx(expected, rel=1e-9)
    out = paired_comparison(a, b, n_resamples=300, clusters=clusters)
    assert (out["unit"], out["n_units"], out["mcnemar_p"]) == (
        "subject",
        50,
        pytest.approx(expected),
    )


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
