"""Linear probe on cached embeddings (CLIP paper's "LR" protocol), in torch.

Every C of a log-spaced sweep is fitted on a stratified (1 - holdout) part of train, a few
values of C per batched problem along the regularization path (``clipfair.methods.logreg``:
``fit_logreg_path``), scored on the held-out rest; the best C is
refit on all of train, warm-started from its sweep solution, and evaluated on val. C means
what it means in ``sklearn.linear_model.LogisticRegression`` (the ``sklearn_probe`` method
runs the same protocol with sklearn, as the reference).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from clipfair.labels import probe_classes
from clipfair.methods.logreg import LogRegFit, fit_logreg_batched, fit_logreg_path
from clipfair.runtime import pick_device


@dataclass(frozen=True)
class ProbeSettings:
    """The ``probe:`` section of params.yaml (validated: every key present)."""

    c_min: float = 1e-3
    c_max: float = 1e3
    n_c: int = 20
    holdout: float = 0.2
    max_iter: int = 500
    gtol: float = 1e-4
    device: str = "cpu"

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> ProbeSettings:
        return cls(**{k: options[k] for k in cls.__dataclass_fields__})

    def c_grid(self) -> np.ndarray:
        """The sweep's C values: ``n_c`` log-spaced from ``c_min`` to ``c_max``."""
        return c_grid(self.c_min, self.c_max, self.n_c)


def c_grid(c_min: float, c_max: float, n_c: int) -> np.ndarray:
    """``n_c`` values of C log-spaced from ``c_min`` to ``c_max`` (the probes and the bench)."""
    return np.logspace(np.log10(c_min), np.log10(c_max), n_c)


def holdout_split(y: np.ndarray, holdout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (fit, held out), stratified when every class has at least two members."""
    _, counts = np.unique(y, return_counts=True)
    return train_test_split(
        np.arange(len(y)),
        test_size=holdout,
        random_state=seed,
        stratify=y if counts.min() >= 2 else None,
    )


def sweep(
    x: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    cs: np.ndarray,
    holdout: float,
    seed: int,
    max_iter: int = 500,
    gtol: float = 1e-4,
    device: torch.device | str = "cpu",
) -> tuple[float, list[dict[str, float]], LogRegFit]:
    """Fit every C on (1-holdout) of the data along the path, score on the rest.

    Returns the best C (ties: the smaller C), the curve, and the fit of the best C.
    """
    fit_idx, val_idx = holdout_split(y, holdout, seed)
    cs = np.sort(np.asarray(cs, dtype=np.float64))
    fit = fit_logreg_path(
        torch.from_numpy(x[fit_idx]).to(device),
        torch.from_numpy(y[fit_idx]),
        n_classes,
        cs,
        max_iter=max_iter,
        gtol=gtol,
    )
    xv, yv = torch.from_numpy(x[val_idx]), torch.from_numpy(y[val_idx])
    accuracy = [float((fit.logits(xv, s).argmax(1) == yv).float().mean()) for s in range(len(cs))]
    curve = [{"C": float(c), "holdout_accuracy": a} for c, a in zip(cs, accuracy, strict=True)]
    best = max(range(len(cs)), key=lambda s: (curve[s]["holdout_accuracy"], -cs[s]))
    best_fit = LogRegFit(
        fit.weight[best : best + 1], fit.bias[best : best + 1], 0, [True], fit.precond
    )
    return float(cs[best]), curve, best_fit


def fit(spec: dict[str, Any], inputs: dict[str, Any], seed: int, options: dict[str, Any]):
    """Sweep C on train and refit the best on all of it: (the fit, info with the sweep)."""
    torch.manual_seed(seed)
    settings = ProbeSettings.from_options(options)
    device = pick_device(settings.device)
    task = spec["task"]
    n_classes = len(probe_classes(inputs, task))
    x_train = np.ascontiguousarray(inputs["train"], dtype=np.float32)
    y_train = np.ascontiguousarray(inputs["train_index"][f"{task}_code"].to_numpy(np.int64))
    best_c, curve, best_fit = sweep(
        x_train, y_train, n_classes, settings.c_grid(), settings.holdout, seed,
        settings.max_iter, settings.gtol, device,
    )  # fmt: skip
    final = fit_logreg_batched(
        torch.from_numpy(x_train).to(device),
        torch.from_numpy(y_train),
        n_classes,
        [best_c],
        max_iter=settings.max_iter,
        gtol=settings.gtol,
        init=best_fit,
        precond=best_fit.precond,
    )
    return final, {"best_C": best_c, "sweep": curve}


def predict(model: LogRegFit, spec: dict[str, Any], inputs: dict[str, Any]):
    """(val scores = class probabilities, classes) of a fit."""
    val = torch.from_numpy(np.ascontiguousarray(inputs["val"], dtype=np.float32))
    scores = torch.softmax(model.logits(val, 0), dim=1).numpy()
    return scores, probe_classes(inputs, spec["task"])
