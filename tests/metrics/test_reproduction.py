"""The reproduction report: published numbers as data, matched to this run's cells."""

from __future__ import annotations

import re
import subprocess

import pandas as pd
import pytest

from clipfair.metrics.reproduction import published_numbers, reproduction
from tests.conftest import ROOT

HEADLINE = ("ViT-L-14", "laion2b_s32b_b82k", "zs_age_race_gender_labels_top11")


def test_published_numbers_carry_their_sources_and_the_headline():
    table = published_numbers()
    assert len(table) == table["id"].nunique() > 150
    assert set(table["status"]) <= {"verified", "derived"}
    assert (table["source"].str.len() > 10).all()
    head = table[(table["backbone"] == HEADLINE[0]) & (table["datasource"] == HEADLINE[1])
                 & (table["cell"] == HEADLINE[2])]  # fmt: skip
    assert dict(zip(head["metric"], head["value"], strict=True)) == {
        "accuracy": 0.9682,
        "balanced_accuracy": 0.9688628492104435,
    }
    # April and June runs of the same cell are both kept (REFERENCE_NUMBERS 1.5)
    gp = table["cell"] == "zs_raw_gender_labels_mean"
    openai_gp = table[gp & (table["datasource"] == "openai") & (table["metric"] == "accuracy")]
    assert dict(zip(openai_gp["run"], openai_gp["value"], strict=True)) == {
        "2024-04": 0.9561,
        "2024-06": 0.9622,
    }


def _summary(acc: float, low: float, high: float) -> pd.DataFrame:
    return pd.DataFrame([{
        "backbone": HEADLINE[0], "datasource": HEADLINE[1], "method": HEADLINE[2],
        "task": "gender", "accuracy": acc, "accuracy_ci_low": low, "accuracy_ci_high": high,
        "balanced_accuracy": acc, "balanced_accuracy_ci_low": low,
        "balanced_accuracy_ci_high": high,
    }])  # fmt: skip


def test_a_cell_of_the_grid_is_matched_with_its_ci_and_others_are_kept_unmatched():
    topk = pd.DataFrame([{"model": "ViT-L-14/openai", "label_set": "age_race_gender_labels",
                          "k": 7, "accuracy": 0.95, "ci_low": 0.946, "ci_high": 0.954,
                          "balanced_accuracy": 0.95, "balanced_ci_low": 0.946,
                          "balanced_ci_high": 0.954, "n": 10954}])  # fmt: skip
    report = reproduction(published_numbers(), _summary(0.9650, 0.9615, 0.9684), topk)
    head = report[(report["cell"] == HEADLINE[2]) & (report["datasource"] == HEADLINE[1])]
    acc = head[head["metric"] == "accuracy"].iloc[0]
    assert acc["matched_by"] == "cell" and acc["ours"] == 0.9650
    assert acc["diff"] == pytest.approx(0.9650 - 0.9682) and bool(acc["within_ci"])
    bal = head[head["metric"] == "balanced_accuracy"].iloc[0]
    assert not bool(bal["within_ci"])  # 0.96886 is above the CI's 0.9684
    top7 = report["cell"] == "zs_age_race_gender_labels_top7"
    k7 = report[top7 & (report["datasource"] == "openai") & (report["metric"] == "accuracy")]
    assert k7.iloc[0]["matched_by"] == "k analysis" and k7.iloc[0]["published"] == 0.9552
    card = report[report["cell"] == "ft_race"].iloc[0]
    assert card["matched_by"] == "not in this grid" and pd.isna(card["ours"])
    assert len(report) == len(published_numbers())


def test_clipfair_reproduce_writes_the_report_and_counts_matches(tmp_path):
    _summary(0.9650, 0.9615, 0.9684).to_csv(tmp_path / "summary.csv", index=False)
    out = tmp_path / "reproduction.csv"
    proc = subprocess.run(
        ["clipfair", "reproduce", "--summary", str(tmp_path / "summary.csv"),
         "--topk", str(tmp_path / "none.csv"), "--out", str(out)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "2 have a cell in this grid, 1 of them inside this run's 95% CI" in proc.stdout
    written = pd.read_csv(out)
    assert (written["matched_by"] == "cell").sum() == 2


def test_table_3s_white_images_are_answered_by_the_race_groups_of_the_nearest_cells():
    groups = pd.DataFrame([
        {"backbone": "ViT-L-14-336", "datasource": "openai", "method": method, "task": task,
         "metric": "accuracy", "group_type": "race", "group": group, "value": value,
         "ci_low": value - 0.01, "ci_high": value + 0.01, "n": 2085, "small": False}
        for method, task in (("zs_original_clip_labels_v2_embavg", "race"),
                             ("zs_original_clip_labels_embavg", "gender"))
        for group, value in (("White", 0.60 if task == "race" else 0.955), ("Black", 0.2))
    ])  # fmt: skip
    report = reproduction(published_numbers(), _summary(0.9, 0.89, 0.91), None, groups)
    table3 = report[report["section"] == "3-4"].set_index(["run", "metric"])
    race = table3.loc[("paper", "race_binary_accuracy_white")]
    assert race["matched_by"] == "cell's group" and race["ours"] == 0.60
    assert not bool(race["within_ci"]) and race["diff"] == pytest.approx(0.60 - 0.583)
    gender = table3.loc[("2023-07", "accuracy_white")]
    assert gender["ours"] == 0.955 and bool(gender["within_ci"])  # 0.962 in [0.945, 0.965]
    assert "nearest cell" in gender["source"]


def test_the_plan_answers_every_published_number_in_the_real_grid():
    from clipfair.config import load_params
    from clipfair.grid import cells
    from clipfair.metrics.reproduction import NOT_IN_GRID, reproduction_plan

    params = load_params(ROOT / "params.yaml", preset="real")
    planned = {(c.backbone, c.datasource, c.method) for c in cells(params)}
    k_analysis = params["zeroshot"]["k_analysis"]
    plan = reproduction_plan(published_numbers(), planned, k_analysis)
    assert len(plan) == len(published_numbers())
    assert not plan["answered_by"].str.startswith(NOT_IN_GRID).any()
    assert set(plan["answered_by"]) == {"cell", "k analysis"}
    assert plan["nearest"].sum() == 4  # Table 3 and its reproduction: other prompts
    # without ViT-L-14-336, its four rows say why they have no cell
    fewer = {cell for cell in planned if cell[0] != "ViT-L-14-336"}
    why = reproduction_plan(published_numbers(), fewer, k_analysis)["answered_by"]
    assert (why == f"{NOT_IN_GRID}: no model ViT-L-14-336/openai").sum() == 4


def test_clipfair_reproduce_plan_counts_the_real_grids_answers():
    proc = subprocess.run(["clipfair", "reproduce", "--plan"], cwd=ROOT, capture_output=True,
                          text=True, check=True)  # fmt: skip
    totals = r"194 published numbers: \d+ by a cell \(4 of them the nearest cell\), \d+ by the k"
    assert re.search(totals + " analysis, 0 not in this grid", proc.stdout), proc.stdout[-2000:]
