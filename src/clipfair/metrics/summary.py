"""Aggregate per-cell metric JSONs into the run's tables.

- ``summary.json``: backbone -> datasource -> method -> a few headline numbers (what
  ``dvc metrics show`` / ``dvc exp show`` display as columns);
- ``summary.csv``: one row per cell with every group accuracy (``acc_<group>=<label>``);
- ``groups.csv``: long format (cell, metric, group_type, group, value, n) for analysis;
- ``gender_by_race.csv``: CLIP Table 5 layout (rows cell x gender, columns races);
- ``denigration.csv``: share of images put into non-human / crime classes, by race and age.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from clipfair.io import atomic_path, write_json
from clipfair.labels import TASKS, VOCAB
from clipfair.metrics.classification import CELL_SCHEMA

HEADLINE = ("accuracy", "balanced_accuracy")
SUMMARY_KEYS = (*HEADLINE, "accuracy_white", "accuracy_non_white")
CELL = ("backbone", "datasource", "method")


def load_cells(cell_files: list[str | Path]) -> list[dict[str, Any]]:
    """Read the per-cell metric JSONs; refuse ones written by an older metrics layout."""
    cells = []
    for path in cell_files:
        cell = json.loads(Path(path).read_text())
        if cell.get("schema") != CELL_SCHEMA:
            raise ValueError(
                f"{path} has cell schema {cell.get('schema')}, expected {CELL_SCHEMA}; "
                "re-evaluate it (snakemake --forcerun evaluate)"
            )
        cells.append(cell)
    if not cells:
        raise ValueError("no cell metrics to summarize")
    return cells


def _shares(cell: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in cell.items() if k.startswith("share_") and isinstance(v, int | float)}


def _in_order(values: dict[str, Any], group: str) -> list[tuple[str, Any]]:
    """Items of a {label: value} dict in the canonical vocabulary order (JSON sorts keys)."""
    return [(label, values[label]) for label in VOCAB[group] if label in values]


def wide_table(cells: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per cell: coordinates, task, headline metrics, group accuracies, shares."""
    rows = []
    for cell in cells:
        row: dict[str, Any] = {k: cell[k] for k in (*CELL, "task", "n")}
        row.update({k: cell.get(k) for k in SUMMARY_KEYS})
        row.update(_shares(cell))
        for group in TASKS:
            for label, acc in _in_order(cell[f"accuracy_by_{group}"], group):
                row[f"acc_{group}={label}"] = acc
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["task", *CELL]).reset_index(drop=True)


def long_groups(cells: list[dict[str, Any]]) -> pd.DataFrame:
    """Every per-group number of every cell, one row each."""
    rows = []
    for cell in cells:
        key = {k: cell[k] for k in (*CELL, "task")}
        for group in TASKS:
            counts = cell.get(f"n_by_{group}", {})
            for label, acc in _in_order(cell[f"accuracy_by_{group}"], group):
                rows.append(
                    {
                        **key,
                        "metric": "accuracy",
                        "group_type": group,
                        "group": label,
                        "value": acc,
                        "n": counts.get(label),
                    }
                )
        for gender, by_race in _in_order(cell.get("accuracy_by_gender_race", {}), "gender"):
            for race, acc in _in_order(by_race, "race"):
                rows.append(
                    {
                        **key,
                        "metric": "accuracy",
                        "group_type": "gender_race",
                        "group": f"{gender}/{race}",
                        "value": acc,
                        "n": None,
                    }
                )
        for name, value in cell.items():
            if name.startswith("share_") and isinstance(value, dict):
                category, group = name[len("share_") :].split("_by_")
                for label, share in _in_order(value, group):
                    rows.append(
                        {
                            **key,
                            "metric": f"share_{category}",
                            "group_type": group,
                            "group": label,
                            "value": share,
                            "n": None,
                        }
                    )
    return pd.DataFrame(rows)


def gender_by_race(cells: list[dict[str, Any]]) -> pd.DataFrame:
    """CLIP Table 5 layout for gender cells: rows cell x gender (+ overall), columns races."""
    rows = []
    for cell in cells:
        if cell["task"] != "gender":
            continue
        key = {k: cell[k] for k in CELL}
        for gender, by_race in cell["accuracy_by_gender_race"].items():
            rows.append({**key, "gender": gender, **by_race})
        rows.append({**key, "gender": "overall", **cell["accuracy_by_race"]})
    return pd.DataFrame(rows, columns=[*CELL, "gender", *VOCAB["race"]])


def denigration(cells: list[dict[str, Any]]) -> pd.DataFrame:
    """CLIP Tables 6-7: share of images in each extra category, by race and by age."""
    groups = long_groups(cells)
    if groups.empty:
        return groups
    return groups[groups["metric"].str.startswith("share_")].reset_index(drop=True)


def summary_json(cells: list[dict[str, Any]]) -> dict[str, Any]:
    """backbone -> datasource -> method -> headline numbers (rounded)."""
    nested: dict[str, Any] = {}
    for cell in cells:
        leaf = nested.setdefault(cell["backbone"], {}).setdefault(cell["datasource"], {})
        values = {k: cell.get(k) for k in SUMMARY_KEYS}
        values.update(_shares(cell))
        leaf[cell["method"]] = {k: round(float(v), 6) for k, v in values.items() if v is not None}
    return nested


def _csv(df: pd.DataFrame, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6f")


def write_summary(cells: list[dict[str, Any]], out_dir: str | Path) -> pd.DataFrame:
    """Write summary.json/.csv, groups.csv, gender_by_race.csv, denigration.csv."""
    out_dir = Path(out_dir)
    wide = wide_table(cells)
    write_json(out_dir / "summary.json", summary_json(cells))
    _csv(wide, out_dir / "summary.csv")
    _csv(long_groups(cells), out_dir / "groups.csv")
    _csv(gender_by_race(cells), out_dir / "gender_by_race.csv")
    _csv(denigration(cells), out_dir / "denigration.csv")
    return wide


def render_table(df: pd.DataFrame, headline: str = "accuracy", title: str = "metrics") -> None:
    """Print the summary as a console table, best ``headline`` first within each task."""
    from rich.console import Console
    from rich.table import Table

    columns = ("task", *CELL, *SUMMARY_KEYS, "n")
    table = Table(title=title)
    for col in columns:
        table.add_column(
            col.replace("accuracy", "acc"), justify="left" if col in ("task", *CELL) else "right"
        )
    ordered = df.sort_values(["task", headline], ascending=[True, False])
    for row in ordered.to_dict("records"):
        table.add_row(
            *(f"{row[c]:.4f}" if isinstance(row[c], float) else str(row[c]) for c in columns)
        )
    Console(width=160).print(table)
