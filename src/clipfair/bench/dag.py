"""A grid's jobs per rule, as Snakemake plans them (its "Job stats" table)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def job_stats(output: str) -> dict[str, int]:
    """Jobs per rule from Snakemake's "Job stats" table(s) in ``output`` (without ``total``;
    a dry run prints the table twice, identically)."""
    jobs: dict[str, int] = {}
    inside = False
    for line in output.splitlines():
        if line.startswith("Job stats:"):
            inside = True
        elif inside and line.startswith("total"):
            inside = False
        elif inside and line and not line.startswith(("job ", "---")):
            rule, count = line.split()
            jobs[rule] = int(count)
    return jobs


def planned_jobs(cwd: str | Path = ".", preset: str = "real") -> dict[str, int]:
    """Jobs per rule of a preset's whole grid (``snakemake -n --forceall``)."""
    out = subprocess.run(
        ["snakemake", "-n", "--cores", "1", "--config", f"preset={preset}", "--forceall"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return job_stats(out)
