"""Linear probe on cached embeddings: multinomial logistic regression in torch, full batch.

The objective is sklearn's (``0.5*||W||^2 + C * sum CE``, bias not penalised) divided by
``C*N``, so C values mean the same as in ``sklearn.linear_model.LogisticRegression``. C is
chosen on a stratified held-out part of train (CLIP paper's "LR" protocol), then the model
is refit on all of train.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.model_selection import train_test_split

from clipfair.labels import VOCAB

NEEDS = ("train", "val")


def fit_logreg(
    x: torch.Tensor,
    y: torch.Tensor,
    n_classes: int,
    c: float,
    max_iter: int = 300,
    init: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (W (D, K), b (K,)) minimising mean CE + ||W||^2 / (2 C N) with L-BFGS."""
    n, d = x.shape
    w = (init[0].clone() if init else torch.zeros(d, n_classes, dtype=x.dtype)).requires_grad_()
    b = (init[1].clone() if init else torch.zeros(n_classes, dtype=x.dtype)).requires_grad_()
    opt = torch.optim.LBFGS(
        [w, b],
        lr=1.0,
        max_iter=max_iter,
        tolerance_grad=1e-6,
        tolerance_change=1e-9,
        history_size=20,
        line_search_fn="strong_wolfe",
    )
    penalty = 1.0 / (2.0 * c * n)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(x @ w + b, y) + penalty * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach(), b.detach()


def sweep(
    x: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    cs: np.ndarray,
    holdout: float,
    seed: int,
    max_iter: int = 300,
) -> tuple[float, list[dict[str, float]]]:
    """Fit every C on (1-holdout) of the data, score on the rest; return best C and the curve."""
    fit_idx, val_idx = train_test_split(
        np.arange(len(y)), test_size=holdout, random_state=seed, stratify=_stratify(y)
    )
    xf, yf = torch.from_numpy(x[fit_idx]), torch.from_numpy(y[fit_idx])
    xv, yv = torch.from_numpy(x[val_idx]), torch.from_numpy(y[val_idx])
    curve, init = [], None
    for c in sorted(cs):
        init = fit_logreg(xf, yf, n_classes, float(c), max_iter, init)
        acc = float(((xv @ init[0] + init[1]).argmax(1) == yv).float().mean())
        curve.append({"C": float(c), "holdout_accuracy": acc})
    best = max(curve, key=lambda p: (p["holdout_accuracy"], -p["C"]))
    return best["C"], curve


def _stratify(y: np.ndarray) -> np.ndarray | None:
    """Stratify only when every class has at least two members."""
    _, counts = np.unique(y, return_counts=True)
    return y if counts.min() >= 2 else None


def run(spec: dict[str, Any], inputs: dict[str, Any], seed: int, options: dict[str, Any]):
    """Sweep C on train, refit, return (val scores, classes, info)."""
    torch.manual_seed(seed)
    task = spec["task"]
    classes = list(VOCAB[task])
    x_train = np.ascontiguousarray(inputs["train"], dtype=np.float32)
    y_train = inputs["train_index"][f"{task}_code"].to_numpy(np.int64)
    cs = np.logspace(np.log10(options["c_min"]), np.log10(options["c_max"]), options["n_c"])
    best_c, curve = sweep(
        x_train, y_train, len(classes), cs, options["holdout"], seed, options["max_iter"]
    )
    w, b = fit_logreg(
        torch.from_numpy(x_train),
        torch.from_numpy(y_train),
        len(classes),
        best_c,
        options["max_iter"],
    )
    logits = torch.from_numpy(np.ascontiguousarray(inputs["val"], dtype=np.float32)) @ w + b
    scores = torch.softmax(logits, dim=1).numpy()
    return scores, classes, {"best_C": best_c, "sweep": curve}
