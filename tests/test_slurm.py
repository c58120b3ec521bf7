"""The Slurm profile on a real single-node Slurm (scripts/slurm-local.sh): jobs go through
sbatch, and the metrics equal those of a local run of the same grid.

Needs root (the script installs and starts slurm-wlm + munge). CI runs as root, so CI runs
this test; elsewhere it is skipped with the reason. CLIPFAIR_REQUIRE_SLURM=1 (set by .ci/run)
turns a missing prerequisite into a failure instead of a skip.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from .conftest import ROOT, copy_project, run, use_small_demo

SCRIPT = ROOT / "scripts" / "slurm-local.sh"
PROFILE = ROOT / "workflow" / "profiles" / "slurm" / "config.yaml"


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A running single-node Slurm; yields the environment its clients need."""
    if os.geteuid() != 0 and os.environ.get("CLIPFAIR_REQUIRE_SLURM") != "1":
        pytest.skip("starting a local Slurm needs root")
    state = tmp_path_factory.mktemp("slurm")
    proc = run(["bash", str(SCRIPT), "start", str(state)], ROOT, timeout=600)
    conf = re.search(r"export SLURM_CONF=(\S+)", proc.stdout).group(1)
    env = {**os.environ, "SLURM_CONF": conf}
    yield env, state
    run(["bash", str(SCRIPT), "stop", str(state)], ROOT)


def _test_profile(dst: Path) -> Path:
    """The shipped Slurm profile, scaled to this machine: GPUs off, CPUs and memory capped."""
    profile = yaml.safe_load(PROFILE.read_text())
    cpus = os.cpu_count() or 1
    for res in profile["set-resources"].values():
        if "gpu" in res:
            res["gpu"] = 0  # no GPU (and no GRES) here
        res["cpus_per_task"] = min(res.get("cpus_per_task", 1), cpus)
        res["mem_mb"] = min(res.get("mem_mb", 1000), 2000)
    profile["default-resources"]["mem_mb"] = 1000
    profile["slurm-init-seconds-before-status-checks"] = 1  # fast polling for the test
    profile["latency-wait"] = 5
    profile["retries"] = 0  # a failure must show, not be retried away
    (dst / "config.yaml").parent.mkdir(parents=True, exist_ok=True)
    (dst / "config.yaml").write_text(yaml.safe_dump(profile))
    return dst


@pytest.mark.slow
def test_demo_grid_through_slurm_matches_the_local_run(slurm, small_demo_run, tmp_path):
    env, state = slurm
    on_slurm = copy_project(tmp_path / "slurm")
    use_small_demo(on_slurm)
    local = small_demo_run  # the same grid, run with the default (local) profile
    profile = _test_profile(tmp_path / "profile")

    cmd = ["timeout", "-s", "INT", "1200", "snakemake", "--workflow-profile", str(profile)]
    proc = subprocess.run(cmd, cwd=on_slurm, env=env, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]

    # Slurm's own record: every non-local job finished through sbatch, COMPLETED
    records = (state / "jobcomp.log").read_text().splitlines()
    ours = [r for r in records if f"WorkDir={on_slurm}" in r]
    n_jobs = len(list((on_slurm / "logs" / "slurm").rglob("*.log")))
    # acquire, ingest (both splits), training, embedding, fine-tune, 3 cell batches; the
    # tables are local rules (they run beside Snakemake, not through sbatch)
    assert n_jobs == 8 and len(ours) == n_jobs, (n_jobs, len(ours))
    assert all("JobState=COMPLETED" in r for r in ours)
    rules = {
        re.search(r"logs/slurm/rule_(\w+)/", str(p)).group(1)
        for p in (on_slurm / "logs" / "slurm").rglob("*.log")
    }
    assert {"train_clip", "embed", "finetune", "cells_zeroshot", "cells_probes"} <= rules
    assert not {"summarize", "compare", "plots", "topk_sweep"} & rules

    # ... and the numbers are those of the local run
    a = pd.read_csv(on_slurm / "metrics" / "summary.csv")
    b = pd.read_csv(local / "metrics" / "summary.csv")
    pd.testing.assert_frame_equal(a, b)


def test_slurm_profile_plans_gpu_rules_with_one_gpu(tmp_path):
    proj = copy_project(tmp_path)
    proc = run(["snakemake", "-n", "--workflow-profile", str(PROFILE.parent)], proj)
    plan = proc.stdout
    # one embed job per CLIP model: its prompts and the 4 splits (FairFace, Adience)
    embeds = re.findall(r"Embed the prompts and 4 splits with .*\(gpu=(\d)\)", plan)
    assert len(embeds) == 9 and set(embeds) == {"1"}
    assert set(re.findall(r"Fine-tune \w+ heads on .*\(gpu=(\d)\)", plan)) == {"1"}
    vgg = re.findall(r"Train the VGG-Face gender transfer .*\(gpu=(\d)\)", plan)
    assert len(vgg) == 1 and set(vgg) == {"1"}  # one job per VGG-Face model
    # the probes' C sweeps run on a GPU; the other cell batches on CPUs
    probes = re.findall(r"Run and evaluate \d+ probes cells of .*\(gpu=(\d)\)", plan)
    assert len(probes) == 9 and set(probes) == {"1"}
    assert set(re.findall(r"Run and evaluate \d+ zeroshot cells of .*\(gpu=(\d)\)", plan)) == {"0"}
    local = run(["snakemake", "-n"], proj).stdout
    assert set(re.findall(r"Embed the prompts and 4 splits with .*\(gpu=(\d)\)", local)) == {"0"}
