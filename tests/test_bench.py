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


def test_jobs_print_their_phases_and_bench_grid_adds_them_up(tmp_path):
    import os
    import subprocess

    from clipfair.bench.grid import read_jobs, summarize_jobs

    env = {**os.environ, "CLIPFAIR_PHASES": "1"}
    proc = subprocess.run(
        ["clipfair", "prompts", "raw_gender_labels"], capture_output=True, text=True, env=env
    )
    line = [x for x in proc.stderr.splitlines() if x.startswith("clipfair-phases ")]
    assert len(line) == 1
    phases = json.loads(line[0].split(" ", 1)[1])
    assert phases["startup_s"] > 0 and phases["import_s"] >= 0 and phases["work_s"] >= 0
    quiet = subprocess.run(
        ["clipfair", "prompts", "raw_gender_labels"], capture_output=True, text=True
    )
    assert "clipfair-phases" not in quiet.stderr  # only for the pipeline's jobs
    # a run folder: two timed jobs of one rule, one untimed job of another
    for name, wall in (("a", 2.0), ("b", 3.0)):
        (tmp_path / "benchmarks/cells_zeroshot").mkdir(parents=True, exist_ok=True)
        (tmp_path / f"benchmarks/cells_zeroshot/{name}.tsv").write_text(
            f"s\th:m:s\n{wall}\t0:00:0{int(wall)}\n"
        )
        (tmp_path / "logs/cells_zeroshot").mkdir(parents=True, exist_ok=True)
        phase = {"startup_s": 0.5, "import_s": 0.5, "load_s": 0.0, "work_s": wall - 1.0}
        (tmp_path / f"logs/cells_zeroshot/{name}.log").write_text(
            "work\nclipfair-phases " + json.dumps(phase) + "\n"
        )
    (tmp_path / "benchmarks/summarize.tsv").write_text("s\th:m:s\n1.5\t0:00:01\n")
    summary = summarize_jobs(read_jobs(tmp_path / "benchmarks", tmp_path / "logs"))
    assert summary["cells_zeroshot"]["jobs"] == 2 and summary["cells_zeroshot"]["wall_s"] == 5.0
    assert summary["cells_zeroshot"]["outside_share"] == 2.0 / 5.0
    assert summary["summarize"]["timed_jobs"] == 0
    assert summary["total"]["jobs"] == 3 and summary["total"]["wall_s"] == 6.5
    out = _run("bench-grid", str(tmp_path), cwd=tmp_path)
    assert "cells_zeroshot" in out and "40%" in out and "3 jobs" in out
