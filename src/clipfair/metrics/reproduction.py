"""The reproduction report: every published number beside this run's value for the same cell.

The published numbers are data (``clipfair/reference/published.csv``, written from the
project's reference file by ``scripts/published_numbers.py``; each row names its source and
whether it was read in a file, ``verified``, or recomputed, ``derived``). A row matches this
run's cell of the same backbone, datasource and method (``summary.csv``), for its task and
metric; a top-k row with no such cell matches the k analysis (``metrics/plots/topk.csv``,
every k of its label set). The report gives ours, our 95% CI, the difference (ours minus
published) and whether the published value lies inside our CI. A row whose model is not in
this grid is kept, marked ``not in this grid``, so the report always lists what was published.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

PUBLISHED = Path(__file__).resolve().parent.parent / "reference" / "published.csv"
#: metric -> (summary.csv column, its CI's low and high columns)
SUMMARY_COLUMNS = {
    "accuracy": ("accuracy", "accuracy_ci_low", "accuracy_ci_high"),
    "balanced_accuracy": (
        "balanced_accuracy",
        "balanced_accuracy_ci_low",
        "balanced_accuracy_ci_high",
    ),
}
TOPK_COLUMNS = {
    "accuracy": ("accuracy", "ci_low", "ci_high"),
    "balanced_accuracy": ("balanced_accuracy", "balanced_ci_low", "balanced_ci_high"),
}
#: published metrics taken on one group of images -> (group_type, group) in groups.csv. On
#: FairFace's White images DataComp's binary race reading (right when "White" is predicted
#: exactly when the image is White) is the 7-way race accuracy of that group.
GROUP_METRICS = {
    "accuracy_white": ("race", "White"),
    "race_binary_accuracy_white": ("race", "White"),
}
NOT_IN_GRID = "not in this grid"
REPORT_COLUMNS = ["id", "section", "run", "backbone", "datasource", "cell", "task", "metric",
                  "published", "ours", "ours_ci_low", "ours_ci_high", "diff", "within_ci",
                  "matched_by", "status", "source"]  # fmt: skip


def published_numbers(path: str | Path | None = None) -> pd.DataFrame:
    """The published numbers (the packaged table, or ``path``)."""
    path = path or PUBLISHED
    table = pd.read_csv(path, dtype={"k": "Int64", "value": float}, keep_default_na=False)
    table["k"] = pd.to_numeric(table["k"], errors="coerce").astype("Int64")
    return table


def _value_and_ci(hit: pd.DataFrame, columns: tuple[str, str, str]):
    """(value, CI low, CI high) of the first matching row, or None if nothing matched."""
    if hit.empty:
        return None
    first = hit.iloc[0]
    return tuple(float(first[c]) for c in columns)


def _rows_of_cell(table: pd.DataFrame, row: pd.Series) -> pd.DataFrame:
    """The rows of ``table`` (summary.csv, groups.csv) of a published row's cell and task."""
    return table[
        (table["backbone"] == row["backbone"])
        & (table["datasource"] == row["datasource"])
        & (table["method"] == row["cell"])
        & (table["task"] == row["task"])
    ]


def _lookup(summary: pd.DataFrame, row: pd.Series) -> tuple[float, float, float] | None:
    if row["metric"] not in SUMMARY_COLUMNS or summary.empty:
        return None
    return _value_and_ci(_rows_of_cell(summary, row), SUMMARY_COLUMNS[row["metric"]])


def _lookup_group(groups: pd.DataFrame, row: pd.Series) -> tuple[float, float, float] | None:
    if row["metric"] not in GROUP_METRICS or groups.empty:
        return None
    group_type, group = GROUP_METRICS[row["metric"]]
    hit = _rows_of_cell(groups, row)
    hit = hit[
        (hit["metric"] == "accuracy") & (hit["group_type"] == group_type) & (hit["group"] == group)
    ]
    return _value_and_ci(hit, ("value", "ci_low", "ci_high"))


def _lookup_topk(topk: pd.DataFrame, row: pd.Series) -> tuple[float, float, float] | None:
    if row["rule"] != "top" or pd.isna(row["k"]) or topk.empty or row["metric"] not in TOPK_COLUMNS:
        return None
    hit = topk[
        (topk["model"] == f"{row['backbone']}/{row['datasource']}")
        & (topk["label_set"] == row["label_set"])
        & (topk["k"] == int(row["k"]))
    ]
    return _value_and_ci(hit, TOPK_COLUMNS[row["metric"]])


def reproduction(
    published: pd.DataFrame,
    summary: pd.DataFrame,
    topk: pd.DataFrame | None = None,
    groups: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per published number with this run's value where the grid has that cell."""
    topk = topk if topk is not None else pd.DataFrame()
    groups = groups if groups is not None else pd.DataFrame()
    rows = []
    for _, row in published.iterrows():
        found, how = _lookup(summary, row), "cell"
        if found is None:
            found, how = _lookup_group(groups, row), "cell's group"
        if found is None:
            found, how = _lookup_topk(topk, row), "k analysis"
        out = {c: row.get(c, "") for c in REPORT_COLUMNS if c in row.index}
        out["published"] = float(row["value"])
        if found is None:
            out.update(ours=None, ours_ci_low=None, ours_ci_high=None, diff=None,
                       within_ci=None, matched_by=NOT_IN_GRID)  # fmt: skip
        else:
            ours, low, high = found
            out.update(ours=ours, ours_ci_low=low, ours_ci_high=high,
                       diff=ours - out["published"],
                       within_ci=bool(low <= out["published"] <= high), matched_by=how)  # fmt: skip
        rows.append(out)
    return pd.DataFrame(rows, columns=REPORT_COLUMNS)


def write_reproduction(
    summary_csv: str | Path, out: str | Path, topk_csv: str | Path | None = None
) -> pd.DataFrame:
    """Read the run's tables, write ``out`` (CSV, atomically), return the report."""
    from clipfair.io import write_csv

    summary = pd.read_csv(summary_csv)
    topk = pd.read_csv(topk_csv) if topk_csv and Path(topk_csv).is_file() else None
    groups_csv = Path(summary_csv).with_name("groups.csv")  # summarize writes both
    groups = pd.read_csv(groups_csv) if groups_csv.is_file() else None
    report = reproduction(published_numbers(), summary, topk, groups)
    write_csv(out, report)
    return report


def render_reproduction(report: pd.DataFrame, all_rows: bool = False) -> None:
    """A console table of the matched rows (all rows with ``all_rows``) and a count line."""
    from rich.console import Console
    from rich.table import Table

    matched = report[report["matched_by"] != NOT_IN_GRID]
    shown = report if all_rows else matched
    table = Table(title="reproduction: published vs this run")
    for col in ("section", "run", "model", "cell", "metric", "published", "ours", "95% CI",
                "diff", "in CI"):  # fmt: skip
        table.add_column(col, justify="right" if col in ("published", "ours", "diff") else "left")
    for _, r in shown.iterrows():
        hit = r["matched_by"] != NOT_IN_GRID
        table.add_row(
            str(r["section"]), str(r["run"]), f"{r['backbone']}/{r['datasource']}",
            str(r["cell"]) or "-", str(r["metric"]), f"{r['published']:.4f}",
            f"{r['ours']:.4f}" if hit else "-",
            f"[{r['ours_ci_low']:.3f}, {r['ours_ci_high']:.3f}]" if hit else NOT_IN_GRID,
            f"{r['diff']:+.4f}" if hit else "-",
            ("yes" if r["within_ci"] else "no") if hit else "-",
        )  # fmt: skip
    Console(width=160).print(table)
    inside = int(matched["within_ci"].sum()) if len(matched) else 0
    print(
        f"{len(report)} published numbers; {len(matched)} have a cell in this grid, "
        f"{inside} of them inside this run's 95% CI"
    )


def reproduction_plan(
    published: pd.DataFrame,
    planned: set[tuple[str, str, str]],
    k_analysis: dict[str, object],
) -> pd.DataFrame:
    """Before any run: which planned cell (backbone, datasource, method) will answer each
    published row, or the k analysis (its label sets up to ``k_max``), or why none will."""
    models = {(b, d) for b, d, _ in planned}
    label_sets = set(k_analysis.get("label_sets") or [])
    k_max = int(k_analysis.get("k_max") or 0)
    rows = []
    for _, row in published.iterrows():
        model = (row["backbone"], row["datasource"])
        computed = row["metric"] in SUMMARY_COLUMNS or row["metric"] in GROUP_METRICS
        if (*model, row["cell"]) in planned and computed:
            how = "cell"
        elif (row["rule"] == "top" and row["label_set"] in label_sets and model in models
              and not pd.isna(row["k"]) and int(row["k"]) <= k_max):  # fmt: skip
            how = "k analysis"
        elif model not in models:
            how = f"{NOT_IN_GRID}: no model {row['backbone']}/{row['datasource']}"
        elif not computed:
            how = f"{NOT_IN_GRID}: the metric {row['metric']} is not computed"
        else:
            how = f"{NOT_IN_GRID}: no cell {row['cell'] or '(none named)'}"
        nearest = "nearest cell" in row["source"]
        rows.append({"id": row["id"], "section": row["section"], "model": "/".join(model),
                     "cell": row["cell"], "task": row["task"], "metric": row["metric"],
                     "answered_by": how, "nearest": nearest})  # fmt: skip
    return pd.DataFrame(rows)


def render_plan(plan: pd.DataFrame, preset: str) -> None:
    """Per planned cell the published rows it will answer, then the totals."""
    from rich.console import Console
    from rich.table import Table

    answered = plan[~plan["answered_by"].str.startswith(NOT_IN_GRID)]
    table = Table(title=f"published numbers the {preset} grid will answer")
    for col in ("model", "cell", "answered by", "rows", "ids"):
        table.add_column(col, justify="right" if col == "rows" else "left")
    for (model, cell, how), rows in answered.groupby(["model", "cell", "answered_by"]):
        ids = ", ".join(str(i) for i in rows["id"])
        mark = " (nearest cell)" if rows["nearest"].any() else ""
        table.add_row(model, (cell or "-") + mark, how, str(len(rows)), ids)
    Console(width=160).print(table)
    missing = plan[plan["answered_by"].str.startswith(NOT_IN_GRID)]
    for _, r in missing.iterrows():
        print(f"row {r['id']} ({r['model']} {r['cell']} {r['metric']}): {r['answered_by']}")
    counts = answered["answered_by"].value_counts()
    print(
        f"{len(plan)} published numbers: {counts.get('cell', 0)} by a cell ("
        f"{int(answered['nearest'].sum())} of them the nearest cell), "
        f"{counts.get('k analysis', 0)} by the k analysis, {len(missing)} {NOT_IN_GRID}"
    )
