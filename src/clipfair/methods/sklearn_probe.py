"""Reference linear probe: the same protocol as ``linear_probe`` with sklearn's
``LogisticRegression`` (lbfgs, multinomial), as a careful user of sklearn would run it: one
model walks the C grid upwards, each fit warm-started from the previous solution."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from clipfair.labels import probe_classes
from clipfair.methods.linear_probe import ProbeSettings, holdout_split


def sklearn_sweep(
    x: np.ndarray,
    y: np.ndarray,
    cs: np.ndarray,
    holdout: float,
    seed: int,
    max_iter: int,
    warm_start: bool = False,
) -> tuple[float, list[dict[str, float]]]:
    """Fit each C with sklearn on (1-holdout), score on the rest; best C (ties: smaller C).

    ``warm_start``: one model walks the C path in increasing order, each fit starting from
    the previous solution (what a careful sklearn user does); else each C from scratch."""
    fit_idx, val_idx = holdout_split(y, holdout, seed)
    curve = []
    model = LogisticRegression(max_iter=max_iter, warm_start=True) if warm_start else None
    for c in np.sort(np.asarray(cs, dtype=np.float64)):
        if model is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.set_params(C=float(c)).fit(x[fit_idx], y[fit_idx])
            fitted = model
        else:
            fitted = fit_sklearn(x[fit_idx], y[fit_idx], float(c), max_iter)
        accuracy = float(fitted.score(x[val_idx], y[val_idx]))
        curve.append({"C": float(c), "holdout_accuracy": accuracy})
    best = max(curve, key=lambda p: (p["holdout_accuracy"], -p["C"]))
    return best["C"], curve


def fit_sklearn(x: np.ndarray, y: np.ndarray, c: float, max_iter: int) -> LogisticRegression:
    """One sklearn fit; convergence warnings are expected at large C and silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return LogisticRegression(C=c, max_iter=max_iter).fit(x, y)


def fit(spec: dict[str, Any], inputs: dict[str, Any], seed: int, options: dict[str, Any]):
    """Sweep C with sklearn on train, refit the best: (the model, info with the sweep)."""
    task = spec["task"]
    probe_classes(inputs, task)  # train and val share the classes
    settings = ProbeSettings.from_options(options)
    x_train = np.asarray(inputs["train"], dtype=np.float32)
    y_train = inputs["train_index"][f"{task}_code"].to_numpy(np.int64)
    best_c, curve = sklearn_sweep(
        x_train, y_train, settings.c_grid(), settings.holdout, seed, settings.max_iter,
        warm_start=True,
    )  # fmt: skip
    model = fit_sklearn(x_train, y_train, best_c, settings.max_iter)
    return model, {"best_C": best_c, "sweep": curve, "warm_start": True}


def predict(model: LogisticRegression, spec: dict[str, Any], inputs: dict[str, Any]):
    """(val scores = class probabilities, classes) of a fitted model."""
    classes = probe_classes(inputs, spec["task"])
    proba = model.predict_proba(np.asarray(inputs["val"], dtype=np.float32))
    scores = np.zeros((len(proba), len(classes)), dtype=np.float64)
    scores[:, model.classes_] = proba  # a class absent from train keeps probability 0
    return scores, classes
