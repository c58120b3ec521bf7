import numpy as np
import pandas as pd
from PIL import Image

from clipfair.metrics.cell import evaluate_cell
from clipfair.report.plots import (
    accuracy_by_race,
    cross_dataset,
    probe_sweep,
    write_plots,
)

TOPK = pd.DataFrame(
    {
        "model": ["b/d"] * 3 + ["b/e"] * 3,
        "label_set": "x",
        "k": [1, 2, 3] * 2,
        "accuracy": [0.8, 0.82, 0.81, 0.7, 0.72, 0.75],
        "ci_low": [0.78, 0.8, 0.79, 0.68, 0.7, 0.73],
        "ci_high": [0.82, 0.84, 0.83, 0.72, 0.74, 0.77],
    }
)


def _cell(method, task, hit_rate, info, seed):
    rng = np.random.default_rng(seed)
    n = 700
    from clipfair.labels import VOCAB

    df = pd.DataFrame(
        {
            "file": [f"val/{i}.jpg" for i in range(n)],
            "gender": rng.choice(VOCAB["gender"], n),
            "age": rng.choice(VOCAB["age"], n),
            "race": np.array(VOCAB["race"])[np.arange(n) % 7],
            "task": task,
        }
    )
    df["true"] = df[task]
    wrong = rng.choice(VOCAB[task], n)
    df["pred"] = np.where(rng.random(n) < hit_rate, df["true"], wrong)
    return evaluate_cell(df, info, f"b/d/{method}"), df


def test_plot_tables_and_figures(tmp_path):
    zs1, pred = _cell(
        "zs_x_top1",
        "gender",
        0.8,
        {"aggregation": "topk", "k": 1, "label_set": "x", "categories": {}},
        0,
    )
    zs3, _ = _cell(
        "zs_x_top3",
        "gender",
        0.9,
        {"aggregation": "topk", "k": 3, "label_set": "x", "categories": {}},
        1,
    )
    sweep = [{"C": c, "holdout_accuracy": a} for c, a in ((0.01, 0.5), (1.0, 0.7), (100, 0.6))]
    probe, _ = _cell("probe_race", "race", 0.6, {"best_C": 1.0, "sweep": sweep}, 2)
    cells = [zs1, zs3, probe]

    bars = accuracy_by_race(cells, {"gender": "b/d/zs_x_top1"})
    gender = bars[bars["task"] == "gender"]
    assert set(gender["role"]) == {"best", "reference"}
    assert set(gender[gender["role"] == "best"]["cell"]) == {"b/d/zs_x_top3"}
    assert (bars["ci_low"] <= bars["accuracy"]).all() and (
        bars["accuracy"] <= bars["ci_high"]
    ).all()

    sweep_df = probe_sweep(cells)
    assert sweep_df.loc[sweep_df["chosen"], "C"].tolist() == [1.0]
    assert set(sweep_df["task"]) == {"race"}  # the line's colour

    ref = tmp_path / "ref.parquet"
    pred.to_parquet(ref)
    written = write_plots(
        cells, {"gender": "b/d/zs_x_top1"}, {"gender": ref}, TOPK, tmp_path / "plots"
    )
    names = {p.name for p in written}
    assert {
        "accuracy_by_race.png",
        "topk.png",
        "probe_sweep.png",
        "cross_dataset.png",
        "confusion.png",
        "confusion_gender.csv",
        "cross_dataset.csv",
    } <= names
    for png in (p for p in written if p.suffix == ".png"):
        with Image.open(png) as im:
            assert im.size[0] > 200 and im.getextrema() != ((255, 255),) * 3  # not blank
    conf = pd.read_csv(tmp_path / "plots" / "confusion_gender.csv")
    assert list(conf.columns) == ["actual", "predicted", "actual_order", "predicted_order"]
    assert len(conf) == 700


def test_best_cell_that_is_the_reference_is_drawn_once(tmp_path):
    cell, _ = _cell("zs_x_top1", "gender", 0.9, {}, 0)
    bars = accuracy_by_race([cell], {"gender": "b/d/zs_x_top1"})
    assert set(bars["role"]) == {"best = reference"} and len(bars) == 7
    written = write_plots([cell], {"gender": "b/d/zs_x_top1"}, {}, TOPK.iloc[0:0], tmp_path)
    assert (tmp_path / "accuracy_by_race.png") in written


def test_cross_dataset_rows_are_the_trained_gender_cells_by_train_and_eval_data():
    cells = []
    for i, (method, kind, train, evaluated) in enumerate(
        (
            ("probe_gender", "linear_probe", "ff", "ff"),
            ("probe_gender_adience2ff", "linear_probe", "ad", "ff"),
            ("vggface_gender_ff2adience", "vggface_transfer", "ff", "ad"),
            # trains on nothing: not drawn
            ("zs_raw_gender_labels_mean_adience", "zeroshot", None, "ad"),
            ("ft_gender", "finetune", "ff", "ff"),  # fine-tunes have no Adience twin
        )
    ):
        cell, _ = _cell(method, "gender", 0.8, {"spec": {"kind": kind}}, i)
        cell.update(train_data=train, eval_data=evaluated)
        cells.append(cell)
    df = cross_dataset(cells)
    assert sorted(df["data"]) == ["ad -> ff", "ff -> ad", "ff -> ff"]
    assert set(df["kind"]) == {"linear_probe", "vggface_transfer"}
    assert (df["ci_low"] <= df["accuracy"]).all() and (df["accuracy"] <= df["ci_high"]).all()
    assert cross_dataset(cells[:1]).empty  # one dataset: no figure data


def test_confusion_lists_ages_in_their_order_not_as_strings():
    from clipfair.labels import VOCAB
    from clipfair.report.plots import confusion

    ages = list(VOCAB["age"])
    pred = pd.DataFrame({"task": "age", "true": ages[::-1], "pred": ages})
    conf = confusion(pred)
    order = conf.drop_duplicates("actual").sort_values("actual_order")["actual"].tolist()
    assert order == ages  # 0-2, 3-9, 10-19, ... (as strings: 0-2, 10-19, 20-29, 3-9, ...)
    assert sorted(ages) != ages
    extra = confusion(pd.DataFrame({"task": "gender", "true": ["Male"], "pred": ["animal"]}))
    assert extra["predicted_order"].iloc[0] == 1  # an extra class after the task's own (Male)
