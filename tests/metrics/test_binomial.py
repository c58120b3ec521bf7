"""Binomial intervals against their published definitions and statsmodels."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import beta
from scipy.stats import t as student_t
from statsmodels.stats.proportion import proportion_confint

from clipfair.metrics.binomial import (
    clopper_pearson,
    design_effects,
    mean_inflation,
    mover,
    paired_difference,
    proportions,
)


@pytest.mark.parametrize("k,n", [(0, 5), (1, 13), (20, 20), (37, 50), (5162, 10954)])
def test_clopper_pearson_is_statsmodels_beta(k, n):
    low, high = clopper_pearson(np.array([k / n]), np.array([n]))
    expected = proportion_confint(k, n, method="beta")
    assert [low[0], high[0]] == pytest.approx(expected, abs=1e-9)


def test_never_zero_width_and_always_holds_the_estimate():
    n = np.arange(1, 200)
    for p in (0.0, 0.5, 1.0):
        low, high = clopper_pearson(np.full(n.shape, p), n)
        assert (high - low > 0).all() and (low <= p).all() and (p <= high).all()
    low, high = clopper_pearson(np.array([1.0]), np.array([20]))  # UTKFace 10-19's 20 of 20
    assert (round(low[0], 3), high[0]) == (0.832, 1.0)
    assert np.isnan(clopper_pearson(np.array([0.0]), np.array([0]))[0][0])  # no images


def test_korn_graubard_with_people():
    # Korn and Graubard (1998): Clopper-Pearson on n* = n / deff, then n*_df = n* (t(n-1) /
    # t(df))^2, x* = p n*_df (non-integer: the beta quantiles of the definition)
    p, n_images, deff, df = 0.8, 120, 3.0, 9
    n_star = n_images / deff * (student_t.ppf(0.975, n_images - 1) / student_t.ppf(0.975, df)) ** 2
    x = p * n_star
    expected = (beta.ppf(0.025, x, n_star - x + 1), beta.ppf(0.975, x + 1, n_star - x))
    low, high = clopper_pearson(
        np.array([p]), np.array([n_images / deff]), 0.05, np.array([df]), np.array([n_images])
    )
    assert [low[0], high[0]] == pytest.approx(expected, rel=1e-9)


def test_mover_difference_is_newcombes_published_example():
    # Newcombe (1998), Statistics in Medicine 17:873-890, Table II, example (a):
    # 56/70 - 48/80, method 10 (MOVER from Wilson limits): 0.0524 to 0.3339
    limits = [proportion_confint(k, n, method="wilson") for k, n in ((56, 70), (48, 80))]
    low, high = np.array(limits).T
    p = np.array([56 / 70, 48 / 80])
    assert mover(np.array([1.0, -1.0]), p, low, high) == pytest.approx((0.0524, 0.3339), abs=5e-5)


def test_design_effect_is_the_cluster_size_when_a_cluster_shares_one_outcome():
    rng = np.random.default_rng(0)
    clusters = np.repeat(np.arange(200), 5)
    hits = np.repeat(rng.random(200) < 0.7, 5).astype(float)  # all 5 photos alike
    groups = np.zeros(1000, dtype=int)
    deff, df = design_effects(hits, groups, 1, clusters)
    assert deff[0] == pytest.approx(5.0, rel=0.01) and df[0] == 199
    independent = (rng.random(1000) < 0.7).astype(float)  # photos unrelated within a person
    assert design_effects(independent, groups, 1, clusters)[0][0] < 1.3
    assert design_effects(independent, groups, 1, None) == (pytest.approx([1.0]), None)


def test_people_widen_a_proportions_interval():
    clusters = np.repeat(np.arange(40), 5)
    hits = np.repeat(np.arange(40) % 4 != 0, 5).astype(float)  # 30 of 40 people right
    labels = pd.Series(["all"] * 200)
    by_image = proportions(hits, labels, ["all"], None, 0.05).iloc[0]
    by_subject = proportions(hits, labels, ["all"], clusters, 0.05).iloc[0]
    assert by_subject.deff == pytest.approx(5.0, rel=0.03) and by_subject.df == 39
    # about the exact interval of 30 of 40 people (the t(39) adjustment widens it a little)
    cp_people = proportion_confint(30, 40, method="beta")
    assert by_subject.low < cp_people[0] < cp_people[1] < by_subject.high
    assert by_subject.high - by_subject.low < 1.15 * (cp_people[1] - cp_people[0])
    assert by_subject.high - by_subject.low > 2 * (by_image.high - by_image.low)
    # a label outside the groups (code -1) is left out, not counted in the last group
    extra = proportions(np.r_[hits, 0.0], pd.Series(["all"] * 200 + ["x"]), ["all"], None, 0.05)
    assert extra["n"].iloc[0] == 200


def test_hundreds_of_people_and_many_classes_do_not_overflow():
    # the class codes are small integers: multiplied by hundreds of people they must not wrap
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 9, 4000)
    clusters = rng.integers(0, 600, 4000)
    assert mean_inflation(rng.random(4000) < 0.8, codes.astype(np.int8), clusters) >= 1.0


def test_mean_inflation_only_where_subjects_span_groups():
    rng = np.random.default_rng(1)
    codes = np.tile([0, 1], 300)
    assert mean_inflation(rng.random(600) < 0.8, codes, None) == 1.0
    # each person in one group: the groups are independent, MOVER's assumption holds
    within = np.repeat(np.arange(60), 10) * 2 + codes  # person ids differ by group
    hits = rng.random(600) < 0.8
    assert mean_inflation(hits, codes, pd.factorize(within)[0]) == 1.0
    # one person in both groups, right or wrong in both: the recalls move together
    spanning = np.repeat(np.arange(60), 10)
    alike = np.repeat(rng.random(60) < 0.8, 10)
    assert mean_inflation(alike, codes, spanning) > 1.3


def test_paired_difference_is_bonett_price():
    # Bonett and Price (2012): p~12 = (n12 + 1) / (n + 2), p~21 = (n21 + 1) / (n + 2)
    n, n12, n21 = 500, 14, 4
    a = np.r_[np.ones(n12), np.zeros(n21), np.ones(300), np.zeros(n - 318)]
    b = np.r_[np.zeros(n12), np.ones(n21), np.ones(300), np.zeros(n - 318)]
    p12, p21 = (n12 + 1) / (n + 2), (n21 + 1) / (n + 2)
    half = 1.959964 * np.sqrt((p12 + p21 - (p12 - p21) ** 2) / (n + 2))
    assert paired_difference(a, b, 0.05) == pytest.approx((p12 - p21 - half, p12 - p21 + half))
    # no discordant pair: an interval about 0 of width > 0, not the bootstrap's [0, 0]
    low, high = paired_difference(a, a, 0.05)
    assert low < 0 < high and high < 0.01
