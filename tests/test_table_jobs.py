"""What the pipeline's jobs import, read from `python -X importtime` in the logs of the
session's small demo run (run with CLIPFAIR_IMPORTTIME=1): the table jobs (summary,
comparison, plots, the k analysis, the reproduction report) read small files and must not
import torch, which costs seconds of every job that does; and no job imports the benchmark
commands (clipfair.bench)."""

from __future__ import annotations

from .conftest import run

TABLE_RULES = ["summarize", "compare", "plots", "topk_sweep"]


def _imported(log: str) -> set[str]:
    """Module names from the lines ``python -X importtime`` writes to stderr."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in log.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def test_jobs_import_what_they_need_and_no_benchmark(small_demo_run):
    proj = small_demo_run
    logs = sorted((proj / "logs").rglob("*.log"))
    rules = {log.parent.name if log.parent != proj / "logs" else log.stem for log in logs}
    assert {*TABLE_RULES, "train_clip", "embed", "finetune", "cells_probes"} <= rules
    for log in logs:
        if log.stem == "run_config":  # a `script:` rule: Snakemake runs it, no clipfair CLI
            continue
        modules = _imported(log.read_text())
        assert "clipfair.cli" in modules, log  # the log holds the job's imports
        bench = sorted(m for m in modules if m.startswith("clipfair.bench"))
        assert not bench, f"{log} imported {bench}"
    for rule in TABLE_RULES:
        modules = _imported((proj / "logs" / f"{rule}.log").read_text())
        if rule == "summarize":  # it also writes the reproduction report
            assert "clipfair.metrics.reproduction" in modules
        torch = sorted(m for m in modules if m == "torch" or m.startswith("torch."))
        assert not torch, f"{rule} imported {torch[:5]}"
    # the same logs split bench grid's job-seconds into imports and the rest
    grid = run(["clipfair", "bench", "grid", "."], proj).stdout
    assert "imports: rerun with" not in grid and "%" in grid
