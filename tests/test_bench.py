"""The benchmark commands run end to end and report consistent figures (no speed asserted)."""

import json
import re
import subprocess

import pytest

from .conftest import ROOT


def _run(*args, cwd):
    proc = subprocess.run(["clipfair", *args], cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_bench_embed_measures_three_paths_on_the_same_images(tmp_path):
    out = tmp_path / "embed.json"
    stdout = _run(
        "bench",
        "embed",
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
        "bench",
        "probe",
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


def test_bench_grid_reads_benchmark_files_and_importtime_lines(tmp_path):
    import subprocess

    from clipfair.bench.grid import import_seconds, read_jobs, summarize_jobs

    # python -X importtime's lines: the outermost imports add up (nested ones are inside them)
    log = subprocess.run(
        ["python", "-X", "importtime", "-c", "import json, csv"], capture_output=True, text=True
    ).stderr
    outermost = [line for line in log.splitlines() if line.endswith(("| json", "| csv"))]
    assert len(outermost) == 2
    assert import_seconds(log) >= sum(int(x.split("|")[1]) for x in outermost) / 1e6
    assert import_seconds("no import lines\n") is None
    # a run folder: two jobs of one rule with import lines in their logs, one job without
    header = "s\th:m:s\tmax_rss\tcpu_time\n"
    for name, wall in (("a", 2.0), ("b", 3.0)):
        (tmp_path / "benchmarks/cells_zeroshot").mkdir(parents=True, exist_ok=True)
        (tmp_path / f"benchmarks/cells_zeroshot/{name}.tsv").write_text(
            header + f"{wall}\t0:00:0{int(wall)}\t100\t{wall - 0.5}\n"
        )
        (tmp_path / "logs/cells_zeroshot").mkdir(parents=True, exist_ok=True)
        (tmp_path / f"logs/cells_zeroshot/{name}.log").write_text(
            "import time:    200000 |     800000 | torch\n"
            "import time:     50000 |     200000 |   torch.nn\n"  # nested: inside torch's
            "work\n"
        )
    (tmp_path / "benchmarks/summarize.tsv").write_text(header + "1.5\t0:00:01\t50\t1.0\n")
    summary = summarize_jobs(read_jobs(tmp_path / "benchmarks", tmp_path / "logs"))
    assert summary["cells_zeroshot"]["jobs"] == 2 and summary["cells_zeroshot"]["wall_s"] == 5.0
    assert summary["cells_zeroshot"]["import_s"] == pytest.approx(1.6)
    assert summary["cells_zeroshot"]["import_share"] == pytest.approx(1.6 / 5.0)
    assert summary["cells_zeroshot"]["cpu_s"] == 4.0
    assert summary["summarize"]["timed_jobs"] == 0
    assert summary["total"]["jobs"] == 3 and summary["total"]["wall_s"] == 6.5
    out = _run("bench", "grid", str(tmp_path), cwd=tmp_path)
    assert "cells_zeroshot" in out and "32%" in out and "3 jobs" in out


def test_slurm_plan_counts_sbatch_jobs_and_reads_the_profiles_requests(tmp_path):
    from clipfair.bench.slurm_plan import local_rules, plan

    snakefile = tmp_path / "Snakefile"
    snakefile.write_text("localrules:\n    all,\n    summarize,\n\n\nrule all:\n    input: []\n")
    assert local_rules(snakefile) == {"all", "summarize"}
    profile = tmp_path / "slurm"
    profile.mkdir()
    (profile / "config.yaml").write_text(
        "default-resources:\n  mem_mb: 4000\n  runtime: 30\n  cpus_per_task: 2\n"
        "set-resources:\n  embed:\n    gpu: 1\n    mem_mb: 9000\n"
    )
    rows = {
        r["rule"]: r
        for r in plan({"embed": 7, "summarize": 1, "all": 1}, profile, {"all", "summarize"})
    }
    assert rows["embed"] == {"rule": "embed", "jobs": 7, "sbatch": 7, "gpu": 1, "mem_mb": 9000,
                             "runtime": 30, "cpus_per_task": 2}  # fmt: skip
    assert rows["summarize"]["sbatch"] == 0 and rows["summarize"]["mem_mb"] == "local"
    assert rows["total"]["jobs"] == 9 and rows["total"]["sbatch"] == 7


def test_bench_stages_reads_benchmark_files_and_counts_links_once(tmp_path):
    from clipfair.bench.stages import disk_usage, stage_rows

    bench = tmp_path / "benchmarks"
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    jobs = [("embed", "a", 10, 900, 5, 19), ("embed", "b", 30, 1200, 7, 50),
            ("summarize", None, 2, 100, 0.5, 1.5)]  # fmt: skip
    for rule, job, s, rss, out, cpu in jobs:
        path = bench / rule / f"{job}.tsv" if job else bench / f"{rule}.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(header + f"{s}\t0:00:{s}\t{rss}\t0\t0\t0\t0\t{out}\t50\t{cpu}\n")
    rows = {r["rule"]: r for r in stage_rows(bench)}
    assert rows["embed"] == {"rule": "embed", "jobs": 2, "wall_s": 40.0, "max_job_wall_s": 30.0,
                             "cpu_s": 69.0, "peak_rss_mb": 1200.0, "written_mb": 12.0}  # fmt: skip
    assert rows["total"]["jobs"] == 3 and rows["total"]["peak_rss_mb"] == 1200.0
    assert rows["summarize"]["cpu_s"] == 1.5
    data, cache = tmp_path / "data", tmp_path / "cache"
    data.mkdir(), cache.mkdir()
    (data / "big.npy").write_bytes(b"x" * 400_000)
    (cache / "ab").hardlink_to(data / "big.npy")  # DVC's cache linking the workspace file
    usage = {r["path"]: r["mb"] for r in disk_usage([data, cache])}
    assert usage[str(data)] >= 0.4 and usage[str(cache)] == 0.0
    assert usage["total"] == usage[str(data)]


def test_probe_profile_counts_the_work_of_both_sweeps():
    from clipfair.bench.probe import format_probe_profile, profile_probe_bench

    p = profile_probe_bench(n_train=600, dim=16, n_classes=3, n_c=4, threads=1)
    assert 0 < p["torch_matmul_share"] <= 1 and p["torch_matmul_gflops"] > 0
    assert p["sklearn_warm_iterations"] >= 4  # at least one per C
    assert p["sklearn_warm_gflops_at_least"] == pytest.approx(
        p["sklearn_warm_iterations"] * 4 * 480 * 17 * 3 / 1e9
    )
    assert "ceiling" in format_probe_profile(p)


def test_job_stats_reads_snakemakes_table():
    from clipfair.bench.dag import job_stats

    table = "Job stats:\njob  count\n---  -----\ncells_probes 7\nall 1\ntotal 8\n"
    output = "Building DAG\n" + table + "\nlater\n" + table  # a dry run prints it twice
    assert job_stats(output) == {"cells_probes": 7, "all": 1}
    assert job_stats("Nothing to be done") == {}


def test_gpu_check_runs_every_check_at_tiny_size_and_writes_its_table(tmp_path):
    import pandas as pd

    out = tmp_path / "check.csv"
    proc = subprocess.run(
        ["clipfair", "gpu-check", "--tiny", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = pd.read_csv(out)
    assert list(rows["check"]) == ["embed", "embed", "finetune_step", "probe_sweep", "vggface_step"]
    assert rows["ok"].all() and rows["finite"].all()
    assert (rows["items_per_s"] > 0).all() and (rows["seconds"] > 0).all()
    compared = rows[rows["check"].isin(["embed", "vggface_step"])]
    assert (compared["cosine_vs_cpu"] >= 0.999).all()
    assert (rows.loc[rows["check"] == "embed", "mfu"] > 0).all()


def test_gpu_check_fails_a_model_that_gives_nan():
    import torch

    from clipfair.bench.gpu_check import _open_clip_backbone, check_embedding, tiny_sizes

    sizes = tiny_sizes(str(ROOT / "workflow/models"))
    backbone = _open_clip_backbone("tiny-clip-vit", sizes, torch.device("cpu"))
    with torch.no_grad():
        backbone.model.visual.proj.fill_(float("nan"))
    row = check_embedding("tiny-clip-vit", backbone, batch=4, batches=1)
    assert not row.finite and not row.ok


def _dag(edges, gpu_seconds, cpu_seconds):
    """A dot plan like ``snakemake --dag`` prints, and its jobs with their seconds."""
    from clipfair.bench.critical_path import parse_dag

    names = [*gpu_seconds, *cpu_seconds]
    dot = "digraph snakemake_dag {\n"
    nodes = (f'\t{i}[label = "{n}\\nmodel: m{i}", color = "0 0 0"];\n' for i, n in enumerate(names))
    dot += "".join(nodes)
    dot += "".join(f"\t{names.index(a)} -> {names.index(b)}\n" for a, b in edges) + "}\n"
    jobs = parse_dag(dot)
    for job in jobs.values():
        job.gpu = job.rule in gpu_seconds
        job.seconds = {**gpu_seconds, **cpu_seconds}[job.rule]
    return jobs


def test_critical_path_queues_gpu_jobs_and_names_the_chain():
    from clipfair.bench.critical_path import schedule

    edges = [("ingest", "embed"), ("ingest", "finetune"), ("embed", "probes"),
             ("probes", "table"), ("finetune", "table"), ("ingest", "cpu_cells"),
             ("cpu_cells", "table")]  # fmt: skip
    gpu = {"embed": 10.0, "finetune": 30.0, "probes": 5.0}
    cpu = {"ingest": 2.0, "cpu_cells": 40.0, "table": 1.0}
    one = schedule(_dag(edges, gpu, cpu), 1)
    # one GPU: the 45 s of GPU work in a row (finetune first: the longest path ahead)
    assert one[-1].end == 2 + 30 + 10 + 5 + 1
    assert [j.rule for j in one] == ["ingest", "finetune", "embed", "probes", "table"]
    assert one[0].label == "m3"  # the wildcards of the plan
    two = schedule(_dag(edges, gpu, cpu), 2)
    # two GPUs: the CPU cells (40 s) set the time, not the GPUs (30 s at most)
    assert two[-1].end == 2 + 40 + 1
    assert [j.rule for j in two] == ["ingest", "cpu_cells", "table"]


def test_bench_project_projects_probes_on_the_gpu_and_the_time_to_the_table(tmp_path):
    from .conftest import copy_project

    proj = copy_project(tmp_path / "p")
    out = tmp_path / "projection.csv"
    stdout = _run("bench", "project", "--gpus", "1", "8", "--out", str(out), cwd=proj)
    import pandas as pd

    rows = pd.read_csv(out).set_index("rule")
    assert rows.loc["cells_probes", "device"] == "gpu" and rows.loc["cells_probes", "jobs"] == 9
    share = rows.loc["cells_probes", "hours"] / rows.loc["total", "hours"]
    assert 0 < share <= 0.10 and f"probes: {share:.1%}" in stdout
    times = [float(t) for t in re.findall(r"GPU\(s\): the table after ([\d.]+) h", stdout)]
    assert len(times) == 2 and 0 < times[1] < times[0]
    # one GPU: every GPU job in a row, so the table waits at least for all the GPU hours
    assert times[0] >= rows.loc["total", "gpu_hours"] - 0.01
    assert "GPU  finetune (ViT-L-14, openai" in stdout
