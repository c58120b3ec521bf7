"""One cell's metrics JSON: classification and group metrics, intervals, coordinates."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from clipfair.labels import VOCAB
from clipfair.metrics.bootstrap import resampling_unit, subject_codes
from clipfair.metrics.classification import cell_metrics
from clipfair.metrics.groups import group_intervals, headline_intervals, share_intervals


def evaluate_cell(
    pred: pd.DataFrame,
    info: dict[str, Any],
    cell: str,
    alpha: float = 0.05,
    min_group_n: int = 30,
) -> dict[str, Any]:
    """Metrics of a predictions frame with its method info, keyed by ``cell``
    (backbone/datasource/method), with (1 - alpha) intervals (:mod:`clipfair.metrics.groups`)."""
    categories = info.get("categories")
    task = str(pred["task"].iloc[0])
    classes = list(info.get("task_classes") or VOCAB[task])  # UTKFace's races are its own
    metrics = cell_metrics(pred, categories, classes)
    clusters = subject_codes(pred)
    metrics["intervals"] = {"alpha": alpha, "min_group_n": min_group_n,
                            **resampling_unit(clusters, len(pred))}  # fmt: skip
    true = pred["true"].astype(str)
    correct = (true == pred["pred"].astype(str)).to_numpy(np.float64)
    metrics.update(headline_intervals(true, correct, classes, alpha, clusters))
    metrics.update(group_intervals(pred, clusters, alpha, min_group_n))
    if categories:
        metrics.update(share_intervals(pred, categories, clusters, alpha))
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
