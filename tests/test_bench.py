"""The benchmark commands run end to end and report consistent figures (no speed asserted)."""

import json
import subprocess

from .conftest import ROOT


def _run(*args, cwd):
    proc = subprocess.run(["clipfair", *args], cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_bench_embed_measures_three_paths_on_the_same_images(tmp_path):
    out = tmp_path / "embed.json"
    stdout = _run(
        "bench-embed",
        "--model",
        "tiny-clip-vit",
        "--config-dir",
        str(ROOT / "workflow/models"),
        "--n",
        "48",
        "--n-naive",
        "12",
        "--device",
        "cpu",
        "--threads",
        "2",
        "--out",
        str(out),
        cwd=tmp_path,
    )
    r = json.loads(out.read_text())
    assert set(r["images_per_s"]) == {"naive", "ceiling", "pipeline"}
    assert all(v > 0 for v in r["images_per_s"].values())
    assert r["pipeline_vs_ceiling"] == r["images_per_s"]["pipeline"] / r["images_per_s"]["ceiling"]
    assert r["min_cosine_naive_vs_pipeline"] >= 0.999
    assert 0 < r["mfu"]["ceiling"] < 1 and 0 <= r["loader_wait_share"] <= 1
    assert r["gflops_per_image"] > 0 and r["peak_rss_mb"] > 0
    assert "(c) pipeline" in stdout and "pipeline / model alone" in stdout


def test_bench_probe_compares_torch_and_sklearn_on_the_same_features(tmp_path):
    out = tmp_path / "probe.json"
    stdout = _run(
        "bench-probe",
        "--n-train",
        "3000",
        "--n-val",
        "1000",
        "--dim",
        "32",
        "--n-c",
        "6",
        "--threads",
        "2",
        "--out",
        str(out),
        cwd=tmp_path,
    )
    r = json.loads(out.read_text())
    # the headline ratio is against sklearn warm-started along the C path; cold is shown too
    assert r["speedup"] == r["sklearn_warm"]["seconds"] / r["torch_batched"]["seconds"]
    assert r["speedup_vs_cold"] == r["sklearn_lbfgs"]["seconds"] / r["torch_batched"]["seconds"]
    assert abs(r["accuracy_difference_points"]) < 1.0
    curves = r["holdout_curves"]
    assert len(curves["torch"]) == len(curves["sklearn"]) == len(curves["sklearn_warm"]) == 6
    # warm starts change the path, not the optimum: the same held-out curve within a point
    for warm, cold in zip(curves["sklearn_warm"], curves["sklearn"], strict=True):
        assert abs(warm["holdout_accuracy"] - cold["holdout_accuracy"]) < 0.01
    assert r["torch_batched"]["val_accuracy"] > 1 / 7 + 0.1  # well above chance
    assert "sklearn warm" in stdout and "against sklearn warm-started" in stdout
