"""Aggregate per-cell metric JSONs into the run's tables.

- ``headline.json``: the run's few numbers a reader compares across runs, of the reference
  cells (DVC's metric: the columns of ``dvc exp show``, :func:`headline`);
- ``headline_by_model.json``: the same numbers per model, backbone -> datasource (a tracked
  file: ``dvc metrics show/diff metrics/headline_by_model.json``);
- ``summary.json``: backbone -> datasource -> method -> a cell's main numbers (a tracked file:
  ``dvc metrics show/diff metrics/summary.json``);
- ``summary.csv``: one row per cell with every group accuracy (``acc_<group>=<label>``);
- ``summary.parquet``: long format (cell, task, metric, group, value), everything numeric;
- ``groups.csv``: long format (cell, metric, group_type, group, value, n) for analysis;
- ``gender_by_race.csv``: CLIP Table 5 layout (rows cell x gender, columns races);
- ``denigration.csv``: share of images put into non-human / crime classes, by race, age and
  age band, with CIs (CLIP Tables 6-7);
- ``datacomp.csv``: DataComp's fairness keys per cell (:mod:`clipfair.metrics.datacomp`);
- ``child_ablation.csv``: CLIP Table 7, non-human and crime rates by age band without and with
  "child" prompts in the label set, side by side with CIs.

Every accuracy comes with its bootstrap 95% CI (``*_ci_low``/``*_ci_high``), and every
grouping with its worst group and largest gap between groups (with CIs).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from clipfair.errors import InputError
from clipfair.io import write_csv, write_json, write_parquet
from clipfair.labels import TASKS, age_band, ordered
from clipfair.metrics import CELL_SCHEMA
from clipfair.metrics.groups import GROUPINGS

HEADLINE = ("accuracy", "balanced_accuracy")
SUMMARY_KEYS = (*HEADLINE, "accuracy_white", "accuracy_non_white")
CELL = ("backbone", "datasource", "method")
# the datasets a cell trained on (none: zero-shot) and predicts, and the crop it predicts
DATA = ("train_data", "eval_data", "padding")


def load_cells(cell_files: list[str | Path]) -> list[dict[str, Any]]:
    """Read the per-cell metric JSONs; refuse ones written by an older metrics layout."""
    cells = []
    for path in cell_files:
        cell = json.loads(Path(path).read_text())
        if cell.get("schema") != CELL_SCHEMA:
            raise InputError(
                f"{path} has cell schema {cell.get('schema')}, expected {CELL_SCHEMA}; "
                "re-evaluate it (snakemake --forcerun evaluate)"
            )
        cells.append(cell)
    if not cells:
        raise InputError("no cell metrics to summarize")
    return cells


def _uncertainty(cell: dict[str, Any]) -> dict[str, Any]:
    """Flat CI, worst-group and gap columns of one cell (:mod:`clipfair.metrics.groups`)."""
    intervals = cell["intervals"]
    out: dict[str, Any] = {"resampled": intervals["unit"], "min_group_n": intervals["min_group_n"]}
    for metric in HEADLINE:
        out[f"{metric}_ci_low"], out[f"{metric}_ci_high"] = cell[f"{metric}_ci"]
    for grouping in GROUPINGS:
        if f"left_out_{grouping}" in cell:
            out[f"left_out_{grouping}"] = "; ".join(cell[f"left_out_{grouping}"])
        worst, gap = cell.get(f"worst_{grouping}"), cell.get(f"gap_{grouping}")
        if worst is None:
            continue
        out[f"worst_{grouping}"] = worst["accuracy"]
        out[f"worst_{grouping}_group"] = worst["group"]
        out[f"worst_{grouping}_n"] = worst["n"]
        out[f"worst_{grouping}_ci_low"], out[f"worst_{grouping}_ci_high"] = worst["ci"]
        out[f"gap_{grouping}"] = gap["value"]
        out[f"gap_{grouping}_between"] = " - ".join(gap["between"])
        out[f"gap_{grouping}_ci_low"], out[f"gap_{grouping}_ci_high"] = gap["ci"]
    return out


def _shares(cell: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in cell.items() if k.startswith("share_") and isinstance(v, int | float)}


def _in_order(values: dict[str, Any], group: str) -> list[tuple[str, Any]]:
    """Items of a {label: value} dict in the canonical vocabulary order (JSON sorts keys)."""
    return [(label, values[label]) for label in ordered(group, values)]


def wide_table(cells: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per cell: coordinates, task, headline metrics, group accuracies, shares."""
    rows = []
    for cell in cells:
        row: dict[str, Any] = {k: cell[k] for k in (*CELL, "task", "n")}
        row.update({k: cell.get(k) or "" for k in DATA})
        row.update({k: cell.get(k) for k in SUMMARY_KEYS})
        row.update(_uncertainty(cell))
        row.update(_shares(cell))
        for group in TASKS:
            for label, acc in _in_order(cell[f"accuracy_by_{group}"], group):
                row[f"acc_{group}={label}"] = acc
        rows.append(row)
    df = pd.DataFrame(rows).sort_values(["task", "eval_data", *CELL]).reset_index(drop=True)
    return df[[*CELL, *DATA, *[c for c in df.columns if c not in (*CELL, *DATA)]]]


def _sizes(cell: dict[str, Any], group: str) -> dict[str, int]:
    """Images per group of ``group`` (age bands add up their ages)."""
    if group == "age_band":
        sizes: dict[str, int] = {}
        for age, n in cell.get("n_by_age", {}).items():
            sizes[age_band(age)] = sizes.get(age_band(age), 0) + n
        return sizes
    return cell.get(f"n_by_{group}", {})


def long_groups(cells: list[dict[str, Any]]) -> pd.DataFrame:
    """Every per-group number of every cell with its exact CI and n, one row each; ``small``
    marks groups under the cell's ``min_group_n`` (left out of its worst group and gap)."""
    rows = []
    for cell in cells:
        key = {k: cell[k] for k in (*CELL, "task")}
        min_n = cell["intervals"]["min_group_n"]

        def add(metric, group_type, values, cis, sizes, key=key, min_n=min_n):
            for label, value in _in_order(values, group_type):
                lo, hi = cis.get(label, (None, None))
                n = sizes.get(label)
                rows.append({**key, "metric": metric, "group_type": group_type, "group": label,
                             "value": value, "ci_low": lo, "ci_high": hi, "n": n,
                             "small": n < min_n})  # fmt: skip

        for group in (*TASKS, "gender_race"):
            values = cell[f"accuracy_by_{group}"]
            if group == "gender_race":
                values = {f"{g}/{r}": acc for g, by in values.items() for r, acc in by.items()}
            cis = cell.get(f"accuracy_by_{group}_ci", {})
            add("accuracy", group, values, cis, _sizes(cell, group))
        for name, value in cell.items():
            if name.startswith("share_") and isinstance(value, dict) and not name.endswith("_ci"):
                category, group = name[len("share_") :].split("_by_")
                cis = cell.get(f"{name}_ci", {})
                add(f"share_{category}", group, value, cis, _sizes(cell, group))
    return pd.DataFrame(rows)


def long_format(cells: list[dict[str, Any]]) -> pd.DataFrame:
    """Everything numeric per cell as rows (cell, task, metric, group, value) for analysis.

    ``group`` is ``all`` for whole-cell numbers, ``<grouping>=<label>`` otherwise.
    """
    rows: list[dict[str, Any]] = []
    for cell in cells:
        key = {"cell": cell_key(cell), "task": cell["task"]}
        flat = {k: cell.get(k) for k in SUMMARY_KEYS}
        flat.update(_uncertainty(cell))
        flat.update(_shares(cell))
        for metric, value in flat.items():
            if isinstance(value, int | float) and value is not None:
                rows.append({**key, "metric": metric, "group": "all", "value": float(value)})
    groups = long_groups(cells)
    if not groups.empty:
        groups = groups.assign(
            cell=groups["backbone"] + "/" + groups["datasource"] + "/" + groups["method"],
            group=groups["group_type"] + "=" + groups["group"],
        )
        for column, suffix in (("value", ""), ("ci_low", "_ci_low"), ("ci_high", "_ci_high")):
            part = groups.dropna(subset=[column])
            rows.extend(
                {"cell": c, "task": t, "metric": m + suffix, "group": g, "value": float(v)}
                for c, t, m, g, v in zip(
                    part["cell"],
                    part["task"],
                    part["metric"],
                    part["group"],
                    part[column],
                    strict=True,
                )
            )
    return pd.DataFrame(rows, columns=["cell", "task", "metric", "group", "value"])


def cell_key(cell: dict[str, Any]) -> str:
    return "/".join(str(cell[k]) for k in CELL)


def gender_by_race(cells: list[dict[str, Any]]) -> pd.DataFrame:
    """CLIP Table 5 layout for gender cells: rows cell x gender (+ overall), columns races."""
    rows = []
    for cell in cells:
        if cell["task"] != "gender" or not cell["accuracy_by_race"]:
            continue
        key = {k: cell[k] for k in CELL}
        for gender, by_race in cell["accuracy_by_gender_race"].items():
            rows.append({**key, "gender": gender, **by_race})
        rows.append({**key, "gender": "overall", **cell["accuracy_by_race"]})
    races = ordered("race", [r for row in rows for r in row if r not in (*CELL, "gender")])
    return pd.DataFrame(rows, columns=[*CELL, "gender", *races])


def denigration(cells: list[dict[str, Any]]) -> pd.DataFrame:
    """CLIP Tables 6-7: share of images in each extra category, by race and by age."""
    groups = long_groups(cells)
    if groups.empty:
        return groups
    return groups[groups["metric"].str.startswith("share_")].reset_index(drop=True)


def datacomp_table(cells: list[dict[str, Any]]) -> pd.DataFrame:
    """DataComp's fairness keys of every cell (:mod:`clipfair.metrics.datacomp`), long:
    one row per (cell, key), ``value`` empty where DataComp's would be NaN (an empty group)."""
    rows = []
    for cell in cells:
        where = {k: cell[k] for k in (*CELL, "task")}
        where["eval_data"] = cell.get("eval_data") or ""
        rows += [{**where, "key": k, "value": v} for k, v in (cell.get("datacomp") or {}).items()]
    return pd.DataFrame(rows, columns=[*CELL, "task", "eval_data", "key", "value"])


#: CLIP Table 7's ablation: a label set and the same set with "child" prompts added
CHILD_ABLATION = ("denigration", "denigration_child")


def child_ablation(cells: list[dict[str, Any]]) -> pd.DataFrame:
    """CLIP Table 7 side by side: the non-human and crime rates by age band of each
    (backbone, datasource, dataset) without and with the "child" prompts, with 95% CIs."""
    without, with_child = CHILD_ABLATION
    by_set: dict[tuple, dict[str, dict]] = {}
    for cell in cells:
        info = cell.get("method_info") or {}
        if info.get("label_set") in CHILD_ABLATION:
            where = (cell["backbone"], cell["datasource"], cell.get("eval_data") or "")
            by_set.setdefault(where, {})[info["label_set"]] = cell
    rows = []
    for (backbone, datasource, data), pair in sorted(by_set.items()):
        if set(pair) != set(CHILD_ABLATION):
            continue
        for category in pair[without]["method_info"].get("categories", {}):
            name = f"share_{category}_by_age_band"
            for band, _ in _in_order(pair[without].get(name, {}), "age_band"):
                row = {"backbone": backbone, "datasource": datasource, "eval_data": data,
                       "category": category, "age_band": band}  # fmt: skip
                for label_set, column in ((without, "without_child"), (with_child, "with_child")):
                    cell = pair[label_set]
                    lo, hi = cell.get(f"{name}_ci", {}).get(band, (None, None))
                    row.update({column: cell.get(name, {}).get(band), f"{column}_ci_low": lo,
                                f"{column}_ci_high": hi})  # fmt: skip
                    row[f"{column}_method"] = cell["method"]
                rows.append(row)
    columns = ["backbone", "datasource", "eval_data", "category", "age_band"]
    for column in ("without_child", "with_child"):
        columns += [column, f"{column}_ci_low", f"{column}_ci_high", f"{column}_method"]
    return pd.DataFrame(rows, columns=columns)


def summary_json(cells: list[dict[str, Any]]) -> dict[str, Any]:
    """backbone -> datasource -> method -> headline numbers (rounded)."""
    nested: dict[str, Any] = {}
    for cell in cells:
        leaf = nested.setdefault(cell["backbone"], {}).setdefault(cell["datasource"], {})
        values = {k: cell.get(k) for k in SUMMARY_KEYS}
        values["accuracy_ci_low"], values["accuracy_ci_high"] = cell["accuracy_ci"]
        if "worst_race" in cell:
            values["worst_race_accuracy"] = cell["worst_race"]["accuracy"]
            values["gap_race"] = cell["gap_race"]["value"]
        values.update(_shares(cell))
        leaf[cell["method"]] = {k: round(float(v), 6) for k, v in values.items() if v is not None}
    return nested


#: the tasks of a headline, in its key order
HEADLINE_TASKS = ("gender", "race", "age")


def headline_cells(
    cells: list[dict[str, Any]], references: dict[str, str | None]
) -> dict[tuple[str, str], dict[str, dict[str, Any]]]:
    """Per model (backbone, datasource) and task: its headline cell. That is the cell of the
    method ``compare.references`` names for the task; for a model without that method (VGG-Face
    has no zero-shot cells), its first cell of the task (by method name) trained and evaluated
    on the reference's dataset."""
    by_model: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for cell in cells:
        by_model.setdefault((cell["backbone"], cell["datasource"]), []).append(cell)
    found: dict[str, dict[str, Any]] = {}
    for task, reference in references.items():
        if reference:
            method = reference.split("/")[2]
            ref = next((c for c in cells if cell_key(c) == reference), None)
            found[task] = {"method": method, "eval": ref.get("eval_data") if ref else None}
    out: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for model, own in by_model.items():
        for task, ref in found.items():
            same = [c for c in own if c["task"] == task and c["method"] == ref["method"]]
            if not same:
                same = sorted(
                    (c for c in own if c["task"] == task and c.get("eval_data") == ref["eval"]
                     and (c.get("train_data") or ref["eval"]) == ref["eval"]),
                    key=lambda c: c["method"],
                )  # fmt: skip
            if same:
                out.setdefault(model, {})[task] = same[0]
    return out


def headline_values(by_task: dict[str, dict[str, Any]]) -> dict[str, float]:
    """The few numbers a reader compares, of one cell per task: its accuracy (``<task>``), its
    lowest race group's accuracy (``<task>_worst``, small groups left out) and ``gap``, the
    largest race gap of those cells. At most 7 numbers, to 3 decimals (0.1 point)."""
    values: dict[str, float] = {}
    gaps = []
    for task in HEADLINE_TASKS:
        cell = by_task.get(task)
        if cell is None:
            continue
        values[task] = cell["accuracy"]
        if cell.get("worst_race"):
            values[f"{task}_worst"] = cell["worst_race"]["accuracy"]
            gaps.append(cell["gap_race"]["value"])
    if gaps:
        values["gap"] = max(gaps)
    return {k: round(v, 3) for k, v in values.items()}


def headline(cells: list[dict[str, Any]], references: dict[str, str | None]) -> dict[str, float]:
    """The run's headline, DVC's metric (the columns of ``dvc exp show``): the
    :func:`headline_values` of the cells ``compare.references`` names. Short keys and at most 7
    numbers, so that ``dvc exp show --only-changed`` fits a 120-column terminal."""
    by_key = {cell_key(c): c for c in cells}
    return headline_values(
        {task: by_key[ref] for task, ref in references.items() if ref and ref in by_key}
    )


def headline_by_model(
    cells: list[dict[str, Any]], references: dict[str, str | None]
) -> dict[str, dict[str, dict[str, float]]]:
    """backbone -> datasource -> the :func:`headline_values` of its :func:`headline_cells`."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for (backbone, datasource), by_task in headline_cells(cells, references).items():
        out.setdefault(backbone, {})[datasource] = headline_values(by_task)
    return out


def _csv(df: pd.DataFrame, path: str | Path) -> None:
    write_csv(path, df, "%.6f")


def write_summary(
    cells: list[dict[str, Any]], out_dir: str | Path, references: dict[str, str | None]
) -> pd.DataFrame:
    """Write headline.json, headline_by_model.json, summary.json/.csv, groups.csv,
    gender_by_race.csv, denigration.csv, datacomp.csv, child_ablation.csv."""
    out_dir = Path(out_dir)
    wide = wide_table(cells)
    write_json(out_dir / "headline.json", headline(cells, references))
    write_json(out_dir / "headline_by_model.json", headline_by_model(cells, references))
    write_json(out_dir / "summary.json", summary_json(cells))
    _csv(wide, out_dir / "summary.csv")
    write_parquet(out_dir / "summary.parquet", long_format(cells))
    _csv(long_groups(cells), out_dir / "groups.csv")
    _csv(gender_by_race(cells), out_dir / "gender_by_race.csv")
    _csv(denigration(cells), out_dir / "denigration.csv")
    _csv(datacomp_table(cells), out_dir / "datacomp.csv")
    _csv(child_ablation(cells), out_dir / "child_ablation.csv")
    return wide


def render_table(df: pd.DataFrame, headline: str = "accuracy", title: str = "metrics") -> None:
    """Print the summary as a console table, best ``headline`` first within each task."""
    from rich.console import Console
    from rich.table import Table

    if "accuracy_ci_low" in df.columns:
        df = df.assign(
            accuracy_95ci=[
                f"[{lo:.3f}, {hi:.3f}]"
                for lo, hi in zip(df["accuracy_ci_low"], df["accuracy_ci_high"], strict=True)
            ]
        )
    extra = ("accuracy_95ci",) if "accuracy_95ci" in df.columns else ()
    data = ()
    if "eval_data" in df.columns:  # "train -> eval" when they differ, else the one dataset
        data = ("data",)
        # (a column of only missing values reads as float: cast before filling)
        train = df["train_data"].astype(object).fillna("").astype(str)
        evaluated = df["eval_data"].astype(object).fillna("").astype(str)
        crop = pd.Series("", index=df.index)
        if "padding" in df.columns:  # the crop when the run holds both (CSV: 0.25 / 1.25)
            padding = df["padding"].map(
                lambda p: "" if pd.isna(p) or p == "" else f"{float(p):.2f}"
            )
            if padding[padding != ""].nunique() > 1:
                crop = padding.map(lambda p: f" ({p})" if p else "")
        df = df.assign(
            data=[
                f"{e}{c}" if t in ("", e) else f"{t} -> {e}{c}"
                for t, e, c in zip(train, evaluated, crop, strict=True)
            ]
        )
    columns = ("task", *data, *CELL, "accuracy", *extra, *SUMMARY_KEYS[1:], "n")
    table = Table(title=title)
    for col in columns:
        text = col in ("task", *data, *CELL)
        table.add_column(
            col.replace("accuracy", "acc"), justify="left" if text else "right", no_wrap=text
        )
    ordered = df.sort_values(
        ["task", *data, headline], ascending=[True, *[True] * len(data), False]
    )
    for row in ordered.to_dict("records"):
        table.add_row(*(_cell_text(row[c]) for c in columns))
    Console(width=200).print(table)


def _cell_text(value: Any) -> str:
    """Table text: 4 decimals; '-' where a cell has no such number (Adience has no race)."""
    if isinstance(value, float):
        return "-" if value != value else f"{value:.4f}"
    return str(value)


def render_run_tables(summary_csv: Path, headline: str = "accuracy") -> None:
    """Print a finished run's summary table, and its comparison table when there is one."""
    render_table(pd.read_csv(summary_csv), headline, title=str(summary_csv))
    comparison = summary_csv.with_name("comparison.csv")
    if comparison.is_file():
        from clipfair.metrics.compare import render_comparison

        render_comparison(pd.read_csv(comparison), title=str(comparison))
