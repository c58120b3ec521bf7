"""Aggregate per-cell metric JSONs into summary.json (for `dvc metrics`) and summary.csv."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from clipfair.io import atomic_path, write_json

HEADLINE = ("accuracy", "balanced_accuracy")


def collect(cell_files: list[str | Path]) -> pd.DataFrame:
    """One row per cell: grid coordinates, task, headline metrics and group accuracies."""
    rows = []
    for path in cell_files:
        cell = json.loads(Path(path).read_text())
        row: dict[str, Any] = {
            "backbone": cell["backbone"],
            "datasource": cell["datasource"],
            "method": cell["method"],
            "task": cell["task"],
            "n": cell["n"],
        }
        row.update({k: cell[k] for k in HEADLINE})
        for group in ("gender", "age", "race"):
            for label, acc in cell[f"accuracy_by_{group}"].items():
                row[f"acc_{group}={label}"] = acc
        rows.append(row)
    if not rows:
        raise ValueError("no cell metrics to summarize")
    return pd.DataFrame(rows).sort_values(["task", "backbone", "datasource", "method"])


def write_summary(df: pd.DataFrame, out_json: str | Path, out_csv: str | Path) -> None:
    """summary.json nests backbone -> datasource -> method -> headline metrics (dvc exp show)."""
    nested: dict[str, Any] = {}
    for row in df.itertuples(index=False):
        leaf = nested.setdefault(row.backbone, {}).setdefault(row.datasource, {})
        leaf[row.method] = {k: round(float(getattr(row, k)), 6) for k in HEADLINE}
    write_json(out_json, nested)
    with atomic_path(out_csv) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6f")


def render_table(df: pd.DataFrame, headline: str = "accuracy", title: str = "metrics") -> None:
    """Print the summary as a console table, best ``headline`` first within each task."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for col in ("task", "backbone", "datasource", "method", "accuracy", "balanced_accuracy", "n"):
        table.add_column(col, justify="right" if col in HEADLINE or col == "n" else "left")
    ordered = df.sort_values(["task", headline], ascending=[True, False])
    for row in ordered.itertuples(index=False):
        table.add_row(
            row.task,
            row.backbone,
            row.datasource,
            row.method,
            f"{row.accuracy:.4f}",
            f"{row.balanced_accuracy:.4f}",
            str(row.n),
        )
    Console(width=140).print(table)
