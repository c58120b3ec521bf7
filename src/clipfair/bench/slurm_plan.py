"""``clipfair bench slurm-plan``: what a grid asks of Slurm, per rule, and how many sbatch jobs.

Snakemake's dry run does not print a job's resources, so this reads the same two sources
Snakemake does: the jobs per rule of the grid's DAG (``snakemake -n``) and the Slurm
profile's requests (``default-resources`` + ``set-resources``); local rules (the
Snakefile's ``localrules:``) run beside Snakemake and are not submitted.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from clipfair.bench.dag import planned_jobs

KEYS = ("gpu", "mem_mb", "runtime", "cpus_per_task")


def local_rules(snakefile: str | Path = "Snakefile") -> set[str]:
    """The rule names listed under the Snakefile's ``localrules:``."""
    names: set[str] = set()
    inside = False
    for line in Path(snakefile).read_text().splitlines():
        if line.startswith("localrules:"):
            inside = True
            names.update(re.findall(r"\w+", line.removeprefix("localrules:")))
        elif inside and line[:1] in (" ", "\t") and line.strip():
            names.update(re.findall(r"\w+", line))
        elif inside:
            break
    return names


def requests(profile: str | Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(default-resources, set-resources) of a Snakemake profile's config.yaml."""
    config = yaml.safe_load((Path(profile) / "config.yaml").read_text())
    return config.get("default-resources") or {}, config.get("set-resources") or {}


def plan(jobs: dict[str, int], profile: str | Path, local: set[str]) -> list[dict[str, Any]]:
    """Per rule: jobs, submitted or local, and the requests each of its jobs makes."""
    default, per_rule = requests(profile)
    rows = []
    for rule, n in jobs.items():
        submitted = rule not in local
        asks = {k: (per_rule.get(rule) or {}).get(k, default.get(k, 0)) for k in KEYS}
        if not submitted:
            asks = dict.fromkeys(KEYS, "local")
        rows.append({"rule": rule, "jobs": n, "sbatch": n if submitted else 0, **asks})
    rows.append(
        {"rule": "total", "jobs": sum(jobs.values()), "sbatch": sum(r["sbatch"] for r in rows)}
        | dict.fromkeys(KEYS, "")
    )
    return rows


def slurm_plan(preset: str = "real", profile: str | Path = "workflow/profiles/slurm"):
    return plan(planned_jobs(".", preset), profile, local_rules("Snakefile"))
