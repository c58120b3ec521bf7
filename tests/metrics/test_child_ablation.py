"""CLIP Table 7's child ablation and DataComp's keys as run tables: shares by age band with
bootstrap CIs in the cell, and the two label sets side by side per model."""

import numpy as np
import pandas as pd
import pytest

from clipfair.labels import age_band
from clipfair.methods.label_sets import get_label_set
from clipfair.metrics.cell import evaluate_cell
from clipfair.metrics.summary import child_ablation, datacomp_table, write_summary

AGES = ["0-2", "3-9", "10-19", "20-29", "more than 70"]


def _pred(rng: np.random.Generator, n: int, toxic_rate: dict[str, float]) -> pd.DataFrame:
    """Gender predictions where a face of age band b goes to a crime/non-human class with
    probability toxic_rate[b]."""
    age = rng.choice(AGES, n)
    gender = rng.choice(["Male", "Female"], n)
    rate = np.array([toxic_rate[age_band(a)] for a in age])
    toxic = rng.random(n) < rate
    pred = np.where(toxic, rng.choice(["gorilla", "thief"], n), gender)
    return pd.DataFrame({"file": [f"val/{i}.jpg" for i in range(n)], "age": age,
                         "gender": gender, "race": rng.choice(["White", "Black"], n),
                         "true": gender, "pred": pred, "task": "gender"})  # fmt: skip


def _cell(pred: pd.DataFrame, label_set: str, method: str) -> dict:
    info = {"label_set": label_set, "categories": get_label_set(label_set).categories,
            "data": {"eval": "fairface", "train": None}}  # fmt: skip
    return evaluate_cell(pred, info, f"tiny-vit/demo_full/{method}")


def test_the_child_set_is_the_denigration_set_plus_one_child_prompt_per_gender():
    base, child = get_label_set("denigration"), get_label_set("denigration_child")
    assert child.categories == base.categories and child.task == base.task
    for cls, prompts in base.prompts.items():
        added = [p for p in child.prompts[cls] if p not in prompts]
        assert child.prompts[cls][: len(prompts)] == prompts
        assert added == ({"Male": ["a photo of a male child"],
                          "Female": ["a photo of a female child"]}.get(cls, []))  # fmt: skip


def test_shares_by_age_band_with_cis_and_the_ablation_table():
    rng = np.random.default_rng(0)
    before = _pred(rng, 3000, {"0-2": 0.30, "3-9": 0.35, "10-19": 0.30, "20+": 0.05})
    after = _pred(rng, 3000, {"0-2": 0.02, "3-9": 0.04, "10-19": 0.15, "20+": 0.05})
    cells = [_cell(before, "denigration", "zs_denigration_top1"),
             _cell(after, "denigration_child", "zs_denigration_child_top1")]  # fmt: skip
    bands = cells[0]["share_crime_by_age_band"]
    assert list(bands) == ["0-2", "3-9", "10-19", "20+"]
    young = before["age"] == "0-2"
    expected = before.loc[young, "pred"].isin(["thief", "criminal", "suspicious person"]).mean()
    assert bands["0-2"] == pytest.approx(expected)
    lo, hi = cells[0]["share_crime_by_age_band_ci"]["0-2"]
    assert lo < bands["0-2"] < hi and hi - lo < 0.1
    lo, hi = cells[0]["share_non_human_ci"]
    assert lo < cells[0]["share_non_human"] < hi

    table = child_ablation(cells)
    assert len(table) == 2 * 4  # two categories x four age bands
    row = table[(table["category"] == "non_human") & (table["age_band"] == "3-9")].iloc[0]
    assert row["without_child"] == pytest.approx(cells[0]["share_non_human_by_age_band"]["3-9"])
    assert row["with_child"] == pytest.approx(cells[1]["share_non_human_by_age_band"]["3-9"])
    assert row["without_child_ci_low"] < row["without_child"] < row["without_child_ci_high"]
    assert row["with_child_ci_high"] < row["without_child_ci_low"]  # the drop is well outside
    assert row["with_child_method"] == "zs_denigration_child_top1"
    # one set without its partner gives no rows
    assert child_ablation(cells[:1]).empty


def test_run_tables_carry_the_datacomp_keys_and_the_ablation(tmp_path):
    rng = np.random.default_rng(1)
    pred = _pred(rng, 500, {"0-2": 0.3, "3-9": 0.3, "10-19": 0.3, "20+": 0.1})
    cells = [_cell(pred, "denigration", "zs_denigration_top1"),
             _cell(pred, "denigration_child", "zs_denigration_child_top1")]  # fmt: skip
    dc = datacomp_table(cells)
    one = dc[dc["method"] == "zs_denigration_top1"].set_index("key")["value"]
    white = pred["race"] == "White"
    assert one["acc_gender_race_binary:0"] == pytest.approx(
        (pred.loc[white, "true"] == pred.loc[white, "pred"]).mean()
    )
    assert {"toxicity_crime_race:1", "toxicity_nonhuman_wg", "acc_gender_x_avg"} <= set(one.index)
    write_summary(cells, tmp_path, {})
    written = pd.read_csv(tmp_path / "child_ablation.csv")
    assert len(written) == 8 and set(written["age_band"]) == {"0-2", "3-9", "10-19", "20+"}
    den = pd.read_csv(tmp_path / "denigration.csv")
    band = den[den["group_type"] == "age_band"]
    assert band["ci_low"].notna().all() and (band["ci_low"] <= band["value"]).all()
    assert len(pd.read_csv(tmp_path / "datacomp.csv")) == len(dc)


def test_the_console_table_names_the_crop_only_where_there_is_one(tmp_path, capsys):
    """Both crops in a run: FairFace rows say their padding, other datasets none (no "nan")."""
    from clipfair.metrics.summary import render_table

    rng = np.random.default_rng(2)
    cells = []
    for eval_data, padding in (("ff", "0.25"), ("ff_125", "1.25"), ("utk", None)):
        pred = _pred(rng, 200, {"0-2": 0.1, "3-9": 0.1, "10-19": 0.1, "20+": 0.1})
        info = {"data": {"eval": eval_data, "train": None, "padding": padding}}
        cells.append(evaluate_cell(pred, info, f"m/d/zs_{eval_data}"))
    write_summary(cells, tmp_path, {})
    render_table(pd.read_csv(tmp_path / "summary.csv"))  # as `clipfair table` reads it
    out = capsys.readouterr().out
    assert "ff (0.25)" in out and "ff_125 (1.25)" in out
    assert "utk " in out and "nan" not in out and "utk (" not in out
