"""Compare every cell with a reference cell of the same task on the same images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from clipfair.metrics.bootstrap import paired_comparison, resample_weights


def _correct(df: pd.DataFrame) -> np.ndarray:
    return (df["true"].astype(str) == df["pred"].astype(str)).to_numpy()


def compare_to_references(
    references: dict[str, str],
    predictions: dict[str, str | Path],
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """One row per (cell, its task's reference): accuracy difference, paired CI, McNemar p."""
    frames = {cell: pd.read_parquet(path) for cell, path in predictions.items()}
    correct = {cell: _correct(df) for cell, df in frames.items()}
    weights: np.ndarray | None = None  # one resampling shared by every comparison (same images)
    rows = []
    for task, reference in references.items():
        if reference not in frames:
            raise ValueError(
                f"compare.references.{task} is {reference!r}, which is not a cell of this grid"
            )
        ref = frames[reference]
        if ref["task"].iloc[0] != task:
            raise ValueError(
                f"compare.references.{task}: {reference} predicts {ref['task'].iloc[0]}"
            )
        for cell, df in frames.items():
            if cell == reference or df["task"].iloc[0] != task:
                continue
            if not df["file"].equals(ref["file"]):
                raise ValueError(f"{cell} and {reference} were not predicted on the same images")
            if weights is None:
                weights = resample_weights(len(ref), n_resamples, seed)
            result = paired_comparison(
                correct[cell], correct[reference], n_resamples, seed, alpha, weights
            )
            backbone, datasource, method = cell.split("/")
            rows.append(
                {
                    "task": task,
                    "backbone": backbone,
                    "datasource": datasource,
                    "method": method,
                    "reference": reference,
                    "accuracy": float(correct[cell].mean()),
                    "reference_accuracy": float(correct[reference].mean()),
                    "difference": result["difference"],
                    "ci_low": result["ci"][0],
                    "ci_high": result["ci"][1],
                    "mcnemar_p": result["mcnemar_p"],
                    "significant": result["significant"],
                }
            )
    columns = [
        "task",
        "backbone",
        "datasource",
        "method",
        "reference",
        "accuracy",
        "reference_accuracy",
        "difference",
        "ci_low",
        "ci_high",
        "mcnemar_p",
        "significant",
    ]
    return pd.DataFrame(rows, columns=columns)


def render_comparison(df: pd.DataFrame, title: str = "compared with the reference") -> None:
    """Console table: which cells differ significantly from their task's reference."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for col in ("task", "cell", "reference", "diff", "95% CI", "McNemar p", "differs"):
        table.add_column(col, justify="right" if col in ("diff", "McNemar p") else "left")
    for row in df.sort_values(["task", "difference"], ascending=[True, False]).itertuples():
        table.add_row(
            row.task,
            f"{row.backbone}/{row.datasource}/{row.method}",
            row.reference,
            f"{row.difference:+.4f}",
            f"[{row.ci_low:+.4f}, {row.ci_high:+.4f}]",
            f"{row.mcnemar_p:.2g}",
            "yes" if row.significant else "no",
        )
    Console(width=170).print(table)
