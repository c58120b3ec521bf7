"""Intervals for proportions (an accuracy, a group's accuracy, a share of predictions), for
sums of them, and for the difference of two classifiers on the same images.

- :func:`clopper_pearson`: the exact binomial interval (Clopper and Pearson 1934). It covers
  at least its nominal level for every n and p, is never of zero width where n > 0 (20 of 20
  correct gives [0.832, 1]) and always holds the observed proportion.
- When several images show one person (Adience's user id), images are not independent: the
  interval is Korn and Graubard's (1998), Clopper-Pearson on the effective sample size
  n / deff, further scaled by (t(n - 1) / t(df))^2 for the df = people - 1 of the group (as
  the NCHS data presentation standards for proportions do). ``deff``, the design effect, is
  the cluster-robust variance of the proportion (linearised over people, C / (C - 1)
  corrected) over the binomial one, never below 1 (:func:`design_effects`).
- :func:`mover`: the interval of a weighted sum of independent proportions from their limits
  (MOVER, Zou and Donner 2008): a difference (Newcombe 1998's method 10 with Wilson limits)
  or a mean (a balanced accuracy).
- :func:`paired_difference`: Bonett and Price's (2012) adjusted Wald interval of a paired
  difference of two accuracies, with an effective sample size for people.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pandas as pd


def z_value(alpha: float) -> float:
    """The standard normal quantile of a two-sided (1 - alpha) interval."""
    return NormalDist().inv_cdf(1 - alpha / 2)


def t_value(alpha: float, df: np.ndarray | float) -> np.ndarray:
    """Student's t quantile of a two-sided (1 - alpha) interval with ``df`` degrees of
    freedom (the normal quantile where df is infinite)."""
    from scipy.special import stdtrit

    return np.asarray(stdtrit(np.asarray(df, dtype=np.float64), 1 - alpha / 2))


def clopper_pearson(
    p: np.ndarray,
    n: np.ndarray,
    alpha: float = 0.05,
    df: np.ndarray | None = None,
    n_images: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(1 - alpha) limits of proportions ``p`` observed on ``n`` (possibly effective,
    non-integer) trials; NaN where n is 0. With ``df`` (and the actual ``n_images``), Korn
    and Graubard's degrees-of-freedom adjustment of the effective n."""
    from scipy.special import betaincinv

    p = np.asarray(p, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    if df is not None:
        ratio = t_value(alpha, np.maximum(np.asarray(n_images, float) - 1, 1)) / t_value(alpha, df)
        n = np.minimum(n * ratio**2, n)
    empty = ~(n > 0)
    n = np.where(empty, 1.0, n)
    x = p * n
    with np.errstate(invalid="ignore"):
        low = np.where(x > 0, betaincinv(x, n - x + 1, alpha / 2), 0.0)
        high = np.where(n - x > 0, betaincinv(x + 1, n - x, 1 - alpha / 2), 1.0)
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high)


def mover(
    weights: np.ndarray, p: np.ndarray, low: np.ndarray, high: np.ndarray
) -> tuple[float, float]:
    """Interval of sum_i w_i p_i for independent proportions ``p`` from each one's limits
    (MOVER, Zou and Donner 2008); it always holds the estimate."""
    w, p = np.asarray(weights, dtype=np.float64), np.asarray(p, dtype=np.float64)
    low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    value = float(w @ p)
    down = np.where(w > 0, p - low, p - high) * w
    up = np.where(w > 0, high - p, low - p) * w
    return value - float(np.sqrt((down**2).sum())), value + float(np.sqrt((up**2).sum()))


def _robust_variance(values: np.ndarray, clusters: np.ndarray, total: float) -> float:
    """C / (C - 1) * sum over clusters of (their summed ``values``)^2 / total^2: the
    cluster-robust variance of a mean whose per-image deviations are ``values``."""
    m = int(clusters.max()) + 1
    sums = np.bincount(clusters, weights=values, minlength=m)
    c = int((np.bincount(clusters, minlength=m) > 0).sum())
    return c / (c - 1) * float((sums**2).sum()) / total**2 if c > 1 else float("nan")


def _design_effect(hits: np.ndarray, clusters: np.ndarray) -> float:
    """Cluster-robust over binomial variance of the mean of ``hits`` (NaN if undefined)."""
    p = float(hits.mean()) if len(hits) else float("nan")
    if not 0 < p < 1:
        return float("nan")
    return _robust_variance(hits - p, clusters, len(hits)) / (p * (1 - p) / len(hits))


def design_effects(
    hits: np.ndarray, groups: np.ndarray, n_groups: int, clusters: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Per group, the design effect of its proportion of ``hits`` (0/1 per image) when the
    images come in ``clusters`` (integer codes per image), and its degrees of freedom (the
    group's clusters - 1, at least 1). Independent images (``clusters`` None): 1 and None.

    A group whose variance is 0 (all hits or none) takes the design effect of the whole
    sample; every value is at least 1."""
    out = np.ones(n_groups)
    if clusters is None:
        return out, None
    hits = np.asarray(hits, dtype=np.float64)
    whole = _design_effect(hits, clusters)
    df = np.ones(n_groups)
    for g in range(n_groups):
        member = groups == g
        if member.any():
            own = _design_effect(hits[member], clusters[member])
            out[g] = own if np.isfinite(own) else whole
            df[g] = max(len(np.unique(clusters[member])) - 1, 1)
    out[~np.isfinite(out)] = 1.0
    return np.maximum(out, 1.0), df


def mean_inflation(hits: np.ndarray, codes: np.ndarray, clusters: np.ndarray | None) -> float:
    """How much wider than :func:`mover` assumes the mean of the groups' proportions of
    ``hits`` is, when clusters span groups (one subject's images in several groups tie the
    groups' errors together): sqrt of the cluster-robust variance of the mean over the sum of
    the groups' own cluster-robust variances (delta method), at least 1. 1 without clusters."""
    if clusters is None:
        return 1.0
    hits = np.asarray(hits, dtype=np.float64)
    codes = np.asarray(codes, dtype=np.int64)
    k = int(codes.max()) + 1
    n = np.bincount(codes, minlength=k).astype(np.float64)
    p = np.bincount(codes, weights=hits, minlength=k) / n
    influence = (hits - p[codes]) / (k * n[codes])
    m = int(clusters.max()) + 1
    joint = np.bincount(clusters, weights=influence, minlength=m)
    own = np.bincount(codes * m + clusters, weights=influence, minlength=k * m)
    separate = float((own**2).sum())
    return float(np.sqrt(max((joint**2).sum() / separate, 1.0))) if separate > 0 else 1.0


def proportions(
    hits: np.ndarray,
    labels: pd.Series,
    groups: list[str],
    clusters: np.ndarray | None,
    alpha: float,
) -> pd.DataFrame:
    """Per group of ``labels``: n, the proportion of ``hits``, its design effect, effective n,
    degrees of freedom (infinite for independent images) and (1 - alpha) limits."""
    codes = pd.Index(groups).get_indexer(labels).astype(np.int64)  # -1: not one of groups
    hits = np.asarray(hits, dtype=np.float64)
    inside = codes >= 0
    codes, hits = codes[inside], hits[inside]
    clusters = None if clusters is None else np.asarray(clusters)[inside]
    n = np.bincount(codes, minlength=len(groups)).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.bincount(codes, weights=hits, minlength=len(groups)) / n
    deff, df = design_effects(hits, codes, len(groups), clusters)
    table = pd.DataFrame({"n": n.astype(int), "p": p, "deff": deff, "n_eff": n / deff,
                          "df": np.inf if df is None else df}, index=groups)  # fmt: skip
    table["low"], table["high"] = limits(table, alpha)
    return table


def limits(table: pd.DataFrame, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """(1 - alpha) limits of the proportions of a :func:`proportions` table."""
    clustered = np.isfinite(table["df"]).any()
    return clopper_pearson(
        table["p"].to_numpy(),
        table["n_eff"].to_numpy(),
        alpha,
        table["df"].to_numpy() if clustered else None,
        table["n"].to_numpy() if clustered else None,
    )


def paired_difference(
    a: np.ndarray, b: np.ndarray, alpha: float, clusters: np.ndarray | None = None
) -> tuple[float, float]:
    """Bonett and Price's (2012) adjusted Wald interval of mean(a) - mean(b) for paired 0/1
    vectors: with n12 = only a right, n21 = only b right, p~ = (n12 + 1) / (n + 2) and
    (n21 + 1) / (n + 2), the difference of the p~ +- z sqrt((p~12 + p~21 - (p~12 - p~21)^2) /
    (n + 2)). It stays honest with few discordant pairs (a bootstrap of 0 of them is [0, 0]).
    With ``clusters``: counts and n divided by the design effect of the difference, and t with
    (people - 1) degrees of freedom."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    n = len(a)
    d = a - b
    n12, n21 = float((d > 0).sum()), float((d < 0).sum())
    quantile, deff = z_value(alpha), 1.0
    if clusters is not None:
        binomial = ((n12 + n21) / n - d.mean() ** 2) / n
        robust = _robust_variance(d - d.mean(), clusters, n)
        if binomial > 0 and np.isfinite(robust):
            deff = max(robust / binomial, 1.0)
        quantile = float(t_value(alpha, max(len(np.unique(clusters)) - 1, 1)))
    n_eff, n12, n21 = n / deff, n12 / deff, n21 / deff
    p12, p21 = (n12 + 1) / (n_eff + 2), (n21 + 1) / (n_eff + 2)
    half = quantile * np.sqrt((p12 + p21 - (p12 - p21) ** 2) / (n_eff + 2))
    return float(p12 - p21 - half), float(p12 - p21 + half)
