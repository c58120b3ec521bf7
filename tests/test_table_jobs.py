"""The table jobs (summary, comparison, plots, the k analysis, the reproduction report) read
small files: they must not import torch, which costs seconds of every job that does."""

from __future__ import annotations

import shutil

from .conftest import run

TABLE_RULES = ["summarize", "compare", "plots", "topk_sweep"]


def _imported(log: str) -> set[str]:
    """Module names from the lines ``python -X importtime`` writes to stderr."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in log.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def test_table_jobs_import_no_torch(small_demo_run, tmp_path):
    proj = tmp_path / "proj"
    shutil.copytree(small_demo_run, proj, symlinks=True)
    # plain processes (no fork server, whose children have torch loaded already), each
    # writing every import it makes into its job's log
    env = ["env", "CLIPFAIR_NO_FORKSERVER=1", "PYTHONPROFILEIMPORTTIME=1"]
    proc = run([*env, "snakemake", "--cores", "2", "--forcerun", *TABLE_RULES], proj)
    for rule in TABLE_RULES:
        assert f"(Rule: {rule})" in proc.stderr, rule  # it ran again
        modules = _imported((proj / "logs" / f"{rule}.log").read_text())
        assert "clipfair.cli" in modules, rule  # the log holds the job's imports
        if rule == "summarize":  # it also writes the reproduction report
            assert "clipfair.metrics.reproduction" in modules
        torch = sorted(m for m in modules if m == "torch" or m.startswith("torch."))
        assert not torch, f"{rule} imported {torch[:5]}"
