"""The Snakemake pipeline, for real: the demo end to end, the real grid's DAG, lint."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from .conftest import copy_project, run

# Measured on the demo (2 CPU cores, see README): zero-shot gender 0.95-0.96, probe gender
# 0.95-0.96, race 0.77-0.79, age 0.37 (no-age captions) to 0.50. Thresholds keep a margin yet sit
# far above chance (gender 0.50, race 0.14, age 0.11; age majority class 0.25).
THRESHOLDS = {"zs_gender": 0.85, "probe_gender": 0.85, "probe_race": 0.60, "probe_age": 0.30}
DEMO = ["snakemake", "--cores", "all", "--config", "profile=demo"]


@pytest.fixture(scope="module")
def demo_project(tmp_path_factory):
    """A fresh copy of the project after one full demo run."""
    proj = copy_project(tmp_path_factory.mktemp("demo"))
    proc = run(DEMO, proj, timeout=1500)
    return proj, proc


@pytest.mark.slow
def test_demo_metrics_clearly_above_chance(demo_project):
    proj, _ = demo_project
    summary = pd.read_csv(proj / "metrics" / "summary.csv")
    assert set(summary["datasource"]) == {"demo_full", "demo_noage"}
    assert len(summary) == 8
    for row in summary.itertuples():
        assert row.accuracy >= THRESHOLDS[row.method], (row.datasource, row.method, row.accuracy)


@pytest.mark.slow
def test_demo_writes_cells_summary_and_prints_table(demo_project):
    proj, proc = demo_project
    cell = json.loads((proj / "metrics/cells/tiny-vit/demo_full/probe_race.json").read_text())
    assert cell["task"] == "race" and cell["n"] == 1000
    assert set(cell["accuracy_by_race"]) == {
        "White",
        "Black",
        "Latino_Hispanic",
        "East Asian",
        "Southeast Asian",
        "Indian",
        "Middle Eastern",
    }
    assert 1e-3 <= cell["method_info"]["best_C"] <= 1e3
    summary = json.loads((proj / "metrics/summary.json").read_text())
    assert 0 < summary["tiny-vit"]["demo_noage"]["zs_gender"]["accuracy"] <= 1
    assert "probe_gender" in proc.stdout and "demo_noage" in proc.stdout  # the console table


@pytest.mark.slow
def test_second_run_has_nothing_to_do(demo_project):
    proj, _ = demo_project
    proc = run(DEMO, proj)
    assert "Nothing to be done" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_changed_hyper_parameter_reruns_only_what_depends_on_it(demo_project):
    proj, _ = demo_project
    proc = run(
        [
            *DEMO,
            "probe={'c_min': 0.01, 'c_max': 100.0, 'n_c': 5, 'holdout': 0.2, 'max_iter': 300}",
            "-n",
        ],
        proj,
    )
    out = proc.stdout + proc.stderr
    assert "run_method" in out and "train_clip" not in out and "embed_images" not in out


def test_real_grid_dag_lists_without_network(tmp_path):
    proj = copy_project(tmp_path)
    proc = run(["snakemake", "-n", "--cores", "all"], proj)
    out = proc.stdout
    for ds in (
        "openai",
        "laion400m_e31",
        "laion2b_s32b_b82k",
        "datacomp_xl_s13b_b90k",
        "commonpool_xl_s13b_b90k",
    ):
        assert f"data/embeddings/fairface/ViT-L-14/{ds}/val.npy" in out
    assert "train_clip" not in out
    assert "data/raw/fairface/images.zip" in out


def test_lint_is_clean(tmp_path):
    proj = copy_project(tmp_path)
    proc = run(["snakemake", "--lint"], proj, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Lints for" not in proc.stdout + proc.stderr


def test_bad_params_fail_at_start_up_naming_the_key(tmp_path):
    proj = copy_project(tmp_path)
    params = proj / "params.yaml"
    params.write_text(params.read_text().replace("  n_c: 13", "  n_c: 13\n  n_cc: 3"))
    proc = run(["snakemake", "-n", "--cores", "1"], proj, check=False)
    assert proc.returncode != 0
    assert "'n_cc' was unexpected" in proc.stdout + proc.stderr
