"""The grid's derivations (clipfair.grid): which jobs the rules make, as plain functions of
the validated params, for the real grid, the demo and hand-made variations."""

from __future__ import annotations

import copy

import pytest

from clipfair.config import load_params
from clipfair.grid import (
    batch_threads,
    cell_batches,
    clip_pairs,
    embed_datasets,
    label_sets_used,
    probe_fits,
    vggface_datasets,
)

from .conftest import ROOT


@pytest.fixture(scope="module")
def real():
    return load_params(ROOT / "params.yaml", preset="real")


@pytest.fixture(scope="module")
def demo():
    return load_params(ROOT / "params.yaml", preset="demo")


def test_the_real_grid_embeds_fairface_and_adience_and_its_nine_clip_models(real):
    assert embed_datasets(real) == ["fairface", "adience"]
    assert len(clip_pairs(real)) == 9 and ("ViT-L-14-336", "openai") in clip_pairs(real)
    assert ("vggface", "vggface_t7") not in clip_pairs(real)
    assert vggface_datasets(real) == (["fairface", "adience"], ["fairface", "adience"])


def test_the_demo_embeds_every_role_its_cells_read(demo):
    assert embed_datasets(demo) == [
        "fairface_demo", "fairface_demo_125", "adience_demo", "utkface_demo",
    ]  # fmt: skip


def test_a_role_no_cell_reads_is_neither_embedded_nor_trained_on(real):
    params = copy.deepcopy(real)
    params["grid"]["methods"] = [m for m in params["grid"]["methods"] if "adience" not in m]
    assert embed_datasets(params) == ["fairface"]
    # the VGG-Face transfer then trains on FairFace and scores FairFace only
    assert vggface_datasets(params) == (["fairface"], ["fairface"])


def test_cells_are_batched_one_job_per_model_and_kind_batch(real):
    batches = cell_batches(real)
    assert set(batches) == {"zeroshot", "probes", "finetuned", "vggface"}
    methods, backbones, datasources = batches["probes"]
    assert {"probe_gender", "sklearn_probe_race", "ncm_age"} <= set(methods)
    assert backbones == ["ViT-L-14", "ViT-L-14-336", "hf-clip"] and "vggface_t7" not in datasources
    assert batches["vggface"][1] == ["vggface"]
    # the probes ask for 2 threads, capped by cells.max_threads
    assert batch_threads(real, methods) == min(2, real["cells"]["max_threads"])
    capped = {**real, "cells": {**real["cells"], "max_threads": 1}}
    assert batch_threads(capped, methods) == 1


def test_label_sets_are_those_of_the_zero_shot_cells_and_the_k_analysis(real):
    used = label_sets_used(real)
    assert "age_race_gender_labels" in used and "denigration" in used
    params = copy.deepcopy(real)
    params["grid"]["methods"] = ["probe_gender", "zs_raw_race_labels_mean"]
    params["zeroshot"]["k_analysis"] = {"label_sets": ["raw_gender_labels"], "k_max": 1}
    assert label_sets_used(params) == ["raw_gender_labels", "raw_race_labels"]


def test_probe_fits_count_distinct_training_data_per_kind(real, demo):
    assert probe_fits(real, "ViT-L-14", "openai") == {
        "cells": 10, "linear_probe": 4, "sklearn_probe": 1, "nearest_mean": 3,
    }  # fmt: skip
    # the demo's 16 linear-probe cells train on 4 datasets x tasks: 10 fits
    assert probe_fits(demo, "tiny-vit", "demo_full")["linear_probe"] == 10
    assert probe_fits(real, "vggface", "vggface_t7") == {"cells": 0}
