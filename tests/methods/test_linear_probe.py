import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from clipfair.methods.linear_probe import fit_logreg, sweep


def _blobs(n=600, d=12, k=3, seed=0, spread=1.5):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, spread, (k, d))
    y = rng.integers(0, k, n)
    x = centers[y] + rng.normal(0, 1.0, (n, d))
    return x.astype(np.float32), y.astype(np.int64)


def test_fit_matches_sklearn_objective():
    x, y = _blobs()
    for c in (0.01, 1.0):
        w, b = fit_logreg(torch.from_numpy(x).double(), torch.from_numpy(y), 3, c, max_iter=500)
        ref = LogisticRegression(C=c, max_iter=5000, tol=1e-10).fit(x.astype(np.float64), y)
        ours = (x @ w.numpy() + b.numpy()).argmax(1)
        assert (ours == ref.predict(x)).mean() > 0.99
        # same minimiser up to the softmax's free shift per feature
        np.testing.assert_allclose(
            w.numpy() - w.numpy().mean(1, keepdims=True),
            ref.coef_.T - ref.coef_.T.mean(1, keepdims=True),
            atol=2e-3,
        )


def test_sweep_prefers_weak_regularisation_on_separable_data():
    x, y = _blobs(spread=3.0)
    cs = np.logspace(-5, 2, 8)
    best, curve = sweep(x, y, 3, cs, holdout=0.25, seed=0)
    assert [p["C"] for p in curve] == sorted(cs.tolist())
    assert curve[0]["holdout_accuracy"] < 0.9 < curve[-1]["holdout_accuracy"]
    top = max(p["holdout_accuracy"] for p in curve)
    # the smallest C among the best holdout scores (ties go to stronger regularisation)
    assert best == min(p["C"] for p in curve if p["holdout_accuracy"] == top)
