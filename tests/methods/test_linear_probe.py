import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from clipfair.methods.linear_probe import sweep
from clipfair.methods.logreg import fit_logreg_batched, fit_logreg_path
from clipfair.methods.sklearn_probe import sklearn_sweep


def _blobs(n=600, d=12, k=3, seed=0, spread=1.5):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, spread, (k, d))
    y = rng.integers(0, k, n)
    x = centers[y] + rng.normal(0, 1.0, (n, d))
    return x.astype(np.float32), y.astype(np.int64)


def _centered(w: np.ndarray) -> np.ndarray:
    """Remove the softmax's free shift per feature (rows of a (D, K) matrix)."""
    return w - w.mean(1, keepdims=True)


def test_batched_fit_reaches_sklearns_minimiser_for_every_c():
    x, y = _blobs()
    cs = [0.01, 0.3, 1.0]
    x64 = torch.from_numpy(x).double()  # float64 to check the minimiser to 1e-3
    fit = fit_logreg_batched(x64, torch.from_numpy(y), 3, cs, gtol=1e-7)
    assert all(fit.converged)
    for s, c in enumerate(cs):
        ref = LogisticRegression(C=c, max_iter=5000, tol=1e-10).fit(x.astype(np.float64), y)
        ours = fit.logits(torch.from_numpy(x), s).numpy()
        assert (ours.argmax(1) == ref.predict(x)).mean() > 0.99
        np.testing.assert_allclose(
            _centered(fit.weight[s].numpy()), _centered(ref.coef_.T), atol=2e-3
        )


def test_batched_fit_equals_fitting_each_c_alone():
    """Problems in one batch do not influence each other."""
    x, y = _blobs(seed=3)
    cs = [0.05, 5.0]
    x64 = torch.from_numpy(x).double()
    both = fit_logreg_batched(x64, torch.from_numpy(y), 3, cs, gtol=1e-7)
    for s, c in enumerate(cs):
        alone = fit_logreg_batched(x64, torch.from_numpy(y), 3, [c], gtol=1e-7)
        np.testing.assert_allclose(
            _centered(both.weight[s].numpy()), _centered(alone.weight[0].numpy()), atol=2e-3
        )


def test_warm_start_needs_fewer_iterations():
    x, y = _blobs(n=2000, seed=1)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    cold = fit_logreg_batched(xt, yt, 3, [1.0], gtol=1e-6)
    warm = fit_logreg_batched(xt[:1800], yt[:1800], 3, [1.0], gtol=1e-6, init=cold)
    again = fit_logreg_batched(xt[:1800], yt[:1800], 3, [1.0], gtol=1e-6)
    assert warm.iterations < again.iterations


def test_sweep_prefers_weak_regularisation_on_separable_data():
    x, y = _blobs(spread=3.0)
    cs = np.logspace(-5, 2, 8)
    best, curve, _ = sweep(x, y, 3, cs, holdout=0.25, seed=0)
    assert [p["C"] for p in curve] == sorted(cs.tolist())
    assert curve[0]["holdout_accuracy"] < 0.9 < curve[-1]["holdout_accuracy"]
    top = max(p["holdout_accuracy"] for p in curve)
    # the smallest C among the best holdout scores (ties go to stronger regularisation)
    assert best == min(p["C"] for p in curve if p["holdout_accuracy"] == top)


def test_torch_sweep_picks_the_same_c_as_brute_force_sklearn():
    """Issue 6: on a small case the batched torch sweep and a loop of sklearn fits agree."""
    x, y = _blobs(n=1500, d=60, k=4, seed=5, spread=0.25)
    cs = np.logspace(-4, 2, 12)
    best_t, curve_t, _ = sweep(x, y, 4, cs, holdout=0.3, seed=0, gtol=1e-6)
    best_s, curve_s = sklearn_sweep(x, y, cs, holdout=0.3, seed=0, max_iter=5000)
    acc_t = np.array([p["holdout_accuracy"] for p in curve_t])
    acc_s = np.array([p["holdout_accuracy"] for p in curve_s])
    assert acc_t.max() - acc_t.min() > 0.05  # the sweep matters on this case
    # near-ties may flip: at most 3 of 450 held-out images apart (sklearn stops at tol=1e-4)
    np.testing.assert_allclose(acc_t, acc_s, atol=3 / 450 + 1e-9)
    assert best_t == best_s


def test_path_in_chunks_reaches_the_minimisers_of_one_batch():
    """Warm-starting each chunk from the previous chunk's largest C: the same solutions (to
    the stopping tolerance) as fitting every C from zero, and as sklearn's."""
    x, y = _blobs(seed=4)
    cs = [0.01, 0.03, 0.1, 0.3, 1.0]
    x64, yt = torch.from_numpy(x).double(), torch.from_numpy(y)
    path = fit_logreg_path(x64, yt, 3, cs, chunk=2, gtol=1e-7)
    one = fit_logreg_batched(x64, yt, 3, cs, gtol=1e-7)
    assert path.weight.shape == one.weight.shape == (5, 12, 3) and all(path.converged)
    for s, c in enumerate(cs):
        ref = LogisticRegression(C=c, max_iter=5000, tol=1e-10).fit(x.astype(np.float64), y)
        for fit in (path, one):
            np.testing.assert_allclose(
                _centered(fit.weight[s].numpy()), _centered(ref.coef_.T), atol=2e-3
            )
    for bad, message in ((cs[::-1], "C must increase"), ([], "no values of C")):
        with pytest.raises(ValueError, match=message):
            fit_logreg_path(x64, yt, 3, bad)
    one_at_a_time = fit_logreg_path(x64, yt, 3, cs, chunk=0, gtol=1e-7)  # 0: batches of 1
    assert one_at_a_time.weight.shape == (5, 12, 3) and all(one_at_a_time.converged)
