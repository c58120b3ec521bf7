"""Plot data (CSV, read by `dvc plots`) and figures (PNG, in the Snakemake report).

- ``accuracy_by_race``: per task, the reference cell and the best cell, accuracy by race
  with 95% CIs (bars);
- ``topk``: the k analysis of the FairFace prompt-ensemble report (written by ``clipfair
  topk-sweep``): top-k accuracy against every k, one panel per label set, a line per model
  with its 95% CI band;
- ``probe_sweep``: linear-probe held-out accuracy against the regularization C, a line per
  cell, coloured by task;
- ``cross_dataset``: gender accuracy of probes and VGG-Face transfers by (trained on,
  evaluated on), FairFace and Adience;
- ``confusion_<task>``: the reference cell's actual vs predicted labels, with each label's
  place in the task's order (``actual_order``, ``predicted_order``: ages 0-2, 3-9, 10-19 ...,
  not as strings sort) for the template that draws them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clipfair.io import atomic_path, write_csv
from clipfair.labels import VOCAB, ordered
from clipfair.metrics.summary import cell_key, load_cells


def accuracy_by_race(cells: list[dict[str, Any]], references: dict[str, str]) -> pd.DataFrame:
    """Rows (task, cell, role, race, accuracy, ci_low, ci_high) for reference and best cells."""
    rows = []
    for task in VOCAB:
        of_task = [  # FairFace's races (UTKFace cells group by UTKFace's own)
            c for c in cells
            if c["task"] == task and c["accuracy_by_race"]
            and set(c["accuracy_by_race"]) <= set(VOCAB["race"])
        ]  # fmt: skip
        if not of_task:
            continue
        best = max(of_task, key=lambda c: c["accuracy"])
        ref = next((c for c in of_task if cell_key(c) == references.get(task)), None)
        if ref is best:
            chosen = {"best = reference": best}
        else:
            chosen = {"best": best} | ({"reference": ref} if ref is not None else {})
        for role, cell in chosen.items():
            cis = cell.get("accuracy_by_race_ci", {})
            for race in VOCAB["race"]:
                if race in cell["accuracy_by_race"]:
                    lo, hi = cis.get(race, (np.nan, np.nan))
                    rows.append(
                        {
                            "task": task,
                            "cell": cell_key(cell),
                            "role": role,
                            "race": race,
                            "accuracy": cell["accuracy_by_race"][race],
                            "ci_low": lo,
                            "ci_high": hi,
                            "panel": task,
                            "series": f"{role}: {cell_key(cell)}",
                        }
                    )
    columns = ["task", "cell", "role", "race", "accuracy", "ci_low", "ci_high", "panel", "series"]
    return pd.DataFrame(rows, columns=columns)


def probe_sweep(cells: list[dict[str, Any]]) -> pd.DataFrame:
    """Linear-probe regularization curves: (cell, C, log10_C, holdout_accuracy, chosen)."""
    rows = []
    for cell in cells:
        info = cell.get("method_info", {})
        for point in info.get("sweep", []):
            rows.append(
                {
                    "cell": cell_key(cell),
                    "task": cell["task"],
                    "C": point["C"],
                    "log10_C": np.log10(point["C"]),
                    "holdout_accuracy": point["holdout_accuracy"],
                    "chosen": point["C"] == info.get("best_C"),
                }
            )
    columns = ["cell", "task", "C", "log10_C", "holdout_accuracy", "chosen"]
    return pd.DataFrame(rows, columns=columns)


def cross_dataset(cells: list[dict[str, Any]]) -> pd.DataFrame:
    """Gender cells by (train data, eval data), of the method kinds that cross datasets in
    this run (a cell trains on one and predicts another): how a model's gender accuracy moves
    when it is trained on one dataset and used on the other."""
    gender = [c for c in cells if c["task"] == "gender" and c.get("train_data")]

    def kind_of(cell: dict[str, Any]) -> str:
        return cell.get("method_info", {}).get("spec", {}).get("kind", "")

    crossing = {kind_of(c) for c in gender if c["train_data"] != c["eval_data"]}
    rows = []
    for cell in gender:
        kind = kind_of(cell)
        if kind not in crossing:
            continue
        lo, hi = cell["accuracy_ci"]
        rows.append(
            {
                "model": f"{cell['backbone']}/{cell['datasource']}",
                "kind": kind,
                "data": f"{cell['train_data']} -> {cell['eval_data']}",
                "accuracy": cell["accuracy"],
                "ci_low": lo,
                "ci_high": hi,
                "panel": "gender",
                "series": f"{cell['backbone']}/{cell['datasource']} {kind}",
            }
        )
    columns = ["model", "kind", "data", "accuracy", "ci_low", "ci_high", "panel", "series"]
    df = pd.DataFrame(rows, columns=columns)
    if df.empty or df["data"].nunique() < 2:  # one dataset: nothing crosses
        return df.iloc[0:0]
    return df.sort_values(["data", "model"]).reset_index(drop=True)


CONFUSION_COLUMNS = ["actual", "predicted", "actual_order", "predicted_order"]


def confusion(predictions: pd.DataFrame) -> pd.DataFrame:
    """actual and predicted labels, and each one's place in the task's order (extra classes,
    such as the denigration probe's, after the task's own)."""
    task = str(predictions["task"].iloc[0])
    actual, predicted = predictions["true"].astype(str), predictions["pred"].astype(str)
    order = ordered(task, set(actual) | set(predicted))
    rank = {label: i for i, label in enumerate(order)}
    frame = {"actual": actual, "predicted": predicted}
    frame.update(actual_order=actual.map(rank), predicted_order=predicted.map(rank))
    return pd.DataFrame(frame)


def _save(fig: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")


def _finish(fig: Any, path: Path, written: list[Path]) -> None:
    """Save a figure (atomically), note it as written, free it."""
    import matplotlib.pyplot as plt

    _save(fig, path)
    written.append(path)
    plt.close(fig)


def _bars(ax: Any, x: np.ndarray, rows: pd.DataFrame, width: float, label: str) -> None:
    """One series of a grouped bar chart, with its CI as error bars."""
    err = np.vstack([rows["accuracy"] - rows["ci_low"], rows["ci_high"] - rows["accuracy"]])
    ax.bar(x, rows["accuracy"], width, yerr=err, capsize=2, label=label)


def _legend_or_note(ax: Any, fontsize: int, note: str) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=fontsize)
    else:
        ax.text(0.5, 0.5, note, ha="center", va="center", transform=ax.transAxes)


def draw(data: dict[str, pd.DataFrame], out_dir: Path) -> list[Path]:
    """PNG figures of the plot data; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    df = data["accuracy_by_race"]
    tasks = list(dict.fromkeys(df["task"]))
    fig, axes = plt.subplots(
        1, max(1, len(tasks)), figsize=(5 * max(1, len(tasks)), 4), squeeze=False
    )
    for ax, task in zip(axes[0], tasks, strict=False):
        sub = df[df["task"] == task]
        cells = list(dict.fromkeys(sub["cell"]))
        width = 0.8 / len(cells)
        x = np.arange(len(VOCAB["race"]))
        for i, cell in enumerate(cells):
            rows = sub[sub["cell"] == cell].set_index("race").reindex(VOCAB["race"])
            role = rows["role"].dropna().iloc[0]
            _bars(ax, x + i * width, rows, width, f"{role}: {cell}")
        ax.set_xticks(
            x + 0.4 - width / 2,
            [r.replace("_", " ") for r in VOCAB["race"]],
            rotation=35,
            ha="right",
        )
        ax.set_ylim(0, 1)
        ax.set_title(f"{task} accuracy by race (95% CI)")
        ax.legend(fontsize=7, loc="lower right")
    _finish(fig, out_dir / "accuracy_by_race.png", written)

    topk = data["topk"]
    label_sets = list(dict.fromkeys(topk["label_set"])) or ["(none)"]
    fig, axes = plt.subplots(
        1, len(label_sets), figsize=(6 * len(label_sets), 4), squeeze=False, sharey=True
    )
    for ax, label_set in zip(axes[0], label_sets, strict=True):
        for model, sub in topk[topk["label_set"] == label_set].groupby("model", sort=False):
            line = ax.plot(sub["k"], sub["accuracy"], marker=".", label=model)[0]
            ax.fill_between(
                sub["k"], sub["ci_low"], sub["ci_high"], color=line.get_color(), alpha=0.2
            )
        ax.set_xlabel("k (the k best prompts of a class summed, raw similarities)")
        ax.set_title(f"{label_set}: top-k (95% CI)", fontsize=9)
        _legend_or_note(ax, 7, "no k analysis in this grid (zeroshot.k_analysis)")
    axes[0][0].set_ylabel("zero-shot accuracy")
    _finish(fig, out_dir / "topk.png", written)

    fig, ax = plt.subplots(figsize=(6, 4))
    sweep = data["probe_sweep"]
    colours = {task: f"C{i}" for i, task in enumerate(dict.fromkeys(sweep["task"]))}
    for (task, cell), sub in sweep.groupby(["task", "cell"], sort=False):
        label = task if cell == sweep.loc[sweep["task"] == task, "cell"].iloc[0] else None
        line = ax.plot(sub["C"], sub["holdout_accuracy"], marker=".", label=label,
                       color=colours[task], alpha=0.6)[0]  # fmt: skip
        best = sub[sub["chosen"]]
        ax.scatter(
            best["C"],
            best["holdout_accuracy"],
            s=60,
            color=line.get_color(),
            edgecolor="black",
            zorder=3,
        )
    ax.set_xscale("log")
    ax.set_xlabel("C (inverse regularization)")
    ax.set_ylabel("held-out accuracy")
    ax.set_title("linear probe sweep, a line per cell (dot: chosen C)")
    _legend_or_note(ax, 6, "no linear-probe cells in this grid")
    _finish(fig, out_dir / "probe_sweep.png", written)

    fig, ax = plt.subplots(figsize=(7, 4))
    cross = data["cross_dataset"]
    combos = list(dict.fromkeys(cross["data"]))
    models = list(dict.fromkeys(cross["model"] + " " + cross["kind"]))
    width = 0.8 / max(1, len(models))
    for i, model in enumerate(models):
        rows = (
            cross[cross["model"] + " " + cross["kind"] == model].set_index("data").reindex(combos)
        )
        _bars(ax, np.arange(len(combos)) + i * width, rows, width, model)
    ax.set_xticks(
        np.arange(len(combos)) + 0.4 - width / 2, combos, rotation=20, ha="right", fontsize=8
    )
    ax.set_ylim(0, 1)
    ax.set_ylabel("gender accuracy (95% CI)")
    ax.set_title("trained on -> evaluated on (probes, VGG-Face transfer)")
    _legend_or_note(ax, 6, "no cross-dataset cells in this grid (grid.adience)")
    _finish(fig, out_dir / "cross_dataset.png", written)

    conf = {k: v for k, v in data.items() if k.startswith("confusion_")}
    fig, axes = plt.subplots(
        1, max(1, len(conf)), figsize=(4.5 * max(1, len(conf)), 4), squeeze=False
    )
    for ax, (name, df) in zip(axes[0], conf.items(), strict=False):
        task = name.removeprefix("confusion_")
        labels = list(VOCAB[task]) + sorted(set(df["predicted"]) - set(VOCAB[task]))
        matrix = (
            pd.crosstab(df["actual"], df["predicted"])
            .reindex(index=list(VOCAB[task]), columns=labels, fill_value=0)
            .fillna(0)
        )
        rates = matrix.div(matrix.sum(axis=1).replace(0, 1), axis=0)
        ax.imshow(rates.to_numpy(), cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=7)
        ax.set_yticks(range(len(VOCAB[task])), VOCAB[task], fontsize=7)
        ax.set_xlabel("predicted")
        ax.set_ylabel("actual")
        ax.set_title(f"{task}: reference cell (row-normalized)", fontsize=9)
    fig.subplots_adjust(wspace=0.5)
    _finish(fig, out_dir / "confusion.png", written)
    return written


def write_plots(
    cells: list[dict[str, Any]],
    references: dict[str, str],
    reference_predictions: dict[str, Path],
    topk: pd.DataFrame,
    out_dir: str | Path,
) -> list[Path]:
    """Write every plot's CSV and PNG into ``out_dir`` (``topk``: the k analysis, already a
    CSV there, is only drawn)."""
    out_dir = Path(out_dir)
    data = {
        "accuracy_by_race": accuracy_by_race(cells, references),
        "probe_sweep": probe_sweep(cells),
        "cross_dataset": cross_dataset(cells),
    }
    for task in VOCAB:
        path = reference_predictions.get(task)
        data[f"confusion_{task}"] = (
            confusion(pd.read_parquet(path)) if path else pd.DataFrame(columns=CONFUSION_COLUMNS)
        )
    written = []
    for name, df in data.items():
        write_csv(out_dir / f"{name}.csv", df, "%.6g")
        written.append(out_dir / f"{name}.csv")
    return written + draw({**data, "topk": topk}, out_dir)


def write_plot_files(
    cell_files: list[str],
    references: dict[str, str],
    reference_predictions: dict[str, str],
    topk_csv: str | Path,
    out_dir: str | Path,
) -> list[Path]:
    """:func:`write_plots` from files: the cell metric JSONs and the k analysis CSV."""
    predictions = {task: Path(path) for task, path in reference_predictions.items()}
    topk = pd.read_csv(topk_csv)
    return write_plots(load_cells(cell_files), references, predictions, topk, out_dir)
