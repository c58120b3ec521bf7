"""One cell's metrics JSON: classification and group metrics, bootstrap CIs, coordinates."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from clipfair.labels import VOCAB
from clipfair.metrics.bootstrap import cell_intervals, resample_weights, share_intervals
from clipfair.metrics.classification import cell_metrics


def evaluate_cell(
    pred: pd.DataFrame,
    info: dict[str, Any],
    cell: str,
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    weights: np.ndarray | None = None,
) -> dict[str, Any]:
    """Metrics of a predictions frame with its method info, keyed by ``cell``
    (backbone/datasource/method); ``weights``: a bootstrap resampling to share between cells
    of the same images."""
    categories = info.get("categories")
    task = str(pred["task"].iloc[0])
    classes = list(info.get("task_classes") or VOCAB[task])  # UTKFace's races are its own
    metrics = cell_metrics(pred, categories, classes)
    if weights is None:
        weights = resample_weights(len(pred), n_resamples, seed)
    metrics.update(cell_intervals(pred, classes, n_resamples, seed, alpha, weights))
    if categories:
        metrics.update(share_intervals(pred, categories, weights, alpha))
    backbone, datasource, method = cell.split("/")
    data = info.get("data") or {}
    metrics.update(
        backbone=backbone,
        datasource=datasource,
        method=method,
        method_info=info,
        train_data=data.get("train"),
        eval_data=data.get("eval"),
        padding=data.get("padding"),
    )
    return metrics
