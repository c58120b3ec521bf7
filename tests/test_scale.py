"""The full-size rehearsal's code path at 1/50 of FairFace's size: the scale preset, its
release downloaded from the Drive-like server, every stage, and `clipfair bench stages`."""

from __future__ import annotations

import csv

import pandas as pd
import pytest
import yaml

from clipfair.config import deep_merge
from clipfair.rehearsal.release import FAIRFACE_COUNTS, scaled_counts
from tests.conftest import copy_project, run

N_TRAIN, N_VAL = 86744 // 50, 10954 // 50  # 1734 / 219
SMALLER = {"datasets": {"fairface_scale": {"source": {"n_train": N_TRAIN, "n_val": N_VAL}}}}


@pytest.mark.slow
def test_scale_preset_at_one_fiftieth_runs_every_stage_under_4gb(tmp_path):
    proj = copy_project(tmp_path / "proj")
    params_path = proj / "params.yaml"
    params = yaml.safe_load(params_path.read_text())
    params["preset"] = "scale"
    params["presets"]["scale"] = deep_merge(params["presets"]["scale"], SMALLER)
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))
    run(["snakemake", "--cores", "all"], proj, timeout=1500)

    # the release came through the Drive-like server, under its official name, verified
    log = (proj / "logs/acquire/fairface_scale_0.25.log").read_text()
    assert "downloaded fairface-img-margin025-trainval.zip -> images.zip" in log
    assert "size and sha256 verified" in log
    remote = proj / "data/rehearsal/fairface_scale/0.25"
    assert (remote / "fairface-img-margin025-trainval.zip").is_file()
    assert (proj / "data/raw/fairface_scale/0.25/images.zip").is_file()
    # FairFace's label counts, scaled, survive download and ingest
    for split, n in (("train", N_TRAIN), ("val", N_VAL)):
        index = pd.read_parquet(proj / f"data/interim/fairface_scale/{split}.parquet")
        assert len(index) == n
        for attr in ("gender", "race", "age"):
            expected = scaled_counts(FAIRFACE_COUNTS[split][attr], n)
            assert index[attr].value_counts().to_dict() == expected
    summary = pd.read_csv(proj / "metrics/summary.csv")
    cells = summary[summary["backbone"] == "tiny-vit-224"]
    assert {"probe_race", "ft_race", "zs_raw_gender_labels_mean"} <= set(cells["method"])

    out = run(["clipfair", "bench", "stages"], proj).stdout
    assert "| rule | jobs | wall_s |" in out
    with open(proj / "metrics/scale/stages.csv", newline="") as fh:
        stages = {row["rule"]: row for row in csv.DictReader(fh)}
    for rule in ("acquire", "ingest", "train_clip", "embed", "finetune", "cells_probes",
                 "cells_zeroshot", "cells_finetuned", "summarize"):  # fmt: skip
        assert float(stages[rule]["wall_s"]) > 0, rule
        assert 0 < float(stages[rule]["peak_rss_mb"]) < 4000, (rule, stages[rule])
    assert int(stages["total"]["jobs"]) == sum(
        int(r["jobs"]) for k, r in stages.items() if k != "total"
    )
    with open(proj / "metrics/scale/disk.csv", newline="") as fh:
        disk = {r["path"]: float(r["mb"]) for r in csv.DictReader(fh)}
    assert disk["data"] > 0 and disk["total"] >= disk["data"]
