"""Compare every cell with a reference cell of the same task on the same images (or the same
faces in FairFace's other crop: the ``padding`` column says which).

Each row shows two statistics of the accuracy difference (cell - reference), both adjusted for
the number of rows m of the table: a simultaneous 95% paired-bootstrap interval (max-t) and
McNemar's p-value with Holm's correction. ``differs`` reads them by one rule
(:data:`clipfair.metrics.bootstrap.VERDICT_RULE`), so it never contradicts the printed CI.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from clipfair.errors import InputError
from clipfair.metrics.bootstrap import (
    VERDICT_RULE,
    paired_comparison,
    resample_weights,
    subject_codes,
    verdicts,
)

COLUMNS = [
    "task",
    "backbone",
    "datasource",
    "method",
    "padding",
    "reference",
    "accuracy",
    "reference_accuracy",
    "difference",
    "ci_low",
    "ci_high",
    "mcnemar_p",
    "mcnemar_p_holm",
    "differs",
    "correction",
]
#: columns adjusted over the whole table (computed once every row is known)
VERDICT_COLUMNS = ("ci_low", "ci_high", "mcnemar_p_holm", "differs", "correction")


def _correct(df: pd.DataFrame) -> np.ndarray:
    return (df["true"].astype(str) == df["pred"].astype(str)).to_numpy()


def _padding(predictions: str | Path) -> str:
    """The FairFace crop a predictions file is of, from the cell info beside it ('' if none)."""
    info = Path(str(predictions).removesuffix(".parquet") + ".info.json")
    if not info.is_file():
        return ""
    return (json.loads(info.read_text()).get("data") or {}).get("padding") or ""


def compare_to_references(
    references: dict[str, str],
    predictions: dict[str, str | Path],
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """One row per (cell, its task's reference): accuracy difference, simultaneous paired
    bootstrap CI, McNemar p (raw and Holm-adjusted over the rows) and the verdict."""
    frames = {cell: pd.read_parquet(path) for cell, path in predictions.items()}
    correct = {cell: _correct(df) for cell, df in frames.items()}
    weights: np.ndarray | None = None  # one resampling shared by every comparison (same images)
    rows, replicates, pairs = [], [], []
    for task, reference in references.items():
        if reference not in frames:
            raise InputError(
                f"compare.references.{task} is {reference!r}, which is not a cell of this grid"
            )
        ref = frames[reference]
        if ref["task"].iloc[0] != task:
            raise InputError(
                f"compare.references.{task}: {reference} predicts {ref['task'].iloc[0]}"
            )
        clusters = subject_codes(ref)  # the reference's images are every row's
        for cell, df in frames.items():
            if cell == reference or df["task"].iloc[0] != task:
                continue
            if not df["file"].equals(ref["file"]):
                raise InputError(f"{cell} and {reference} were not predicted on the same images")
            if weights is None:
                weights = resample_weights(len(ref), n_resamples, seed, clusters)
            result = paired_comparison(
                correct[cell], correct[reference], n_resamples, seed, alpha, weights, clusters
            )
            n_units = result["n_units"]
            backbone, datasource, method = cell.split("/")
            replicates.append(result["replicates"])
            pairs.append((correct[cell], correct[reference], clusters))
            rows.append(
                {
                    "task": task,
                    "backbone": backbone,
                    "datasource": datasource,
                    "method": method,
                    "padding": _padding(predictions[cell]),
                    "reference": reference,
                    "accuracy": float(correct[cell].mean()),
                    "reference_accuracy": float(correct[reference].mean()),
                    "difference": result["difference"],
                    "mcnemar_p": result["mcnemar_p"],
                }
            )
    df = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in VERDICT_COLUMNS])
    if rows:
        adjusted = verdicts(
            df["difference"].to_numpy(),
            np.stack(replicates, axis=1),
            df["mcnemar_p"],
            alpha,
            n_units,
            pairs,
        )
        df["ci_low"], df["ci_high"] = adjusted["ci_low"], adjusted["ci_high"]
        df["mcnemar_p_holm"], df["differs"] = adjusted["p_holm"], adjusted["verdict"]
        df["correction"] = (
            f"m={len(df)}: CI max-t simultaneous {1 - alpha:.0%} with Bonett-Price, p Holm"
        )
    return df.reindex(columns=COLUMNS)


def comparison_header(df: pd.DataFrame, alpha: float = 0.05) -> str:
    """What the columns mean: the CI and correction over this table's rows, and the rule."""
    m = len(df)
    return (
        f"{m} comparisons; CI: {1 - alpha:.0%} simultaneous over the {m} rows (paired "
        f"bootstrap, max-t, joined with Bonett-Price at alpha/{m}); p: McNemar, Holm-adjusted "
        f"over the {m} rows; {VERDICT_RULE}"
    )


def render_comparison(
    df: pd.DataFrame, title: str = "compared with the reference", alpha: float = 0.05
) -> None:
    """Console table: which cells differ from their task's reference, and by which rule."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, caption=comparison_header(df, alpha), caption_justify="left")
    columns = ("task", "cell", "reference", "diff", "CI (simult.)", "p", "p Holm", "differs")
    for col in columns:
        table.add_column(col, justify="right" if col in ("diff", "p", "p Holm") else "left")
    for row in df.sort_values(["task", "difference"], ascending=[True, False]).itertuples():
        table.add_row(
            row.task,
            f"{row.backbone}/{row.datasource}/{row.method}",
            row.reference,
            f"{row.difference:+.4f}",
            f"[{row.ci_low:+.4f}, {row.ci_high:+.4f}]",
            f"{row.mcnemar_p:.2g}",
            f"{row.mcnemar_p_holm:.2g}",
            row.differs,
        )
    Console(width=170).print(table)


def write_comparison(
    out: str | Path,
    references: dict[str, str],
    predictions: dict[str, str | Path],
    n_resamples: int,
    seed: int,
    alpha: float,
) -> pd.DataFrame:
    """:func:`compare_to_references`, written to ``out`` (CSV, atomically)."""
    from clipfair.io import write_csv

    df = compare_to_references(references, predictions, n_resamples, seed, alpha)
    write_csv(out, df, "%.6g")
    return df
