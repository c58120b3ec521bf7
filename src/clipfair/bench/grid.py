"""``clipfair bench grid``: where a finished run's job-seconds went, per rule.

Snakemake's per-job benchmark files (``benchmarks/<rule>/<job>.tsv``, or ``<rule>.tsv`` for a
rule with one job) give each job's wall and CPU seconds and peak RSS. A run started with
``CLIPFAIR_IMPORTTIME=1`` also has Python's own import timings (``python -X importtime``,
through ``PYTHONPROFILEIMPORTTIME``) in each job's log (``logs/<rule>/<job>.log``): the
outermost imports of its processes add up to the job's import seconds, and the rest of its
wall time is the work. Nothing in the job is patched or timed by this project's code.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

#: what a rule's jobs add up
TOTALS = ("wall_s", "cpu_s", "import_s", "timed_wall_s")
#: an outermost import in ``-X importtime`` output: one space before the module's name
_TOP_IMPORT = re.compile(r"^import time:\s+\d+ \|\s+(\d+) \| (?! )", re.M)


def benchmark_records(benchmarks: str | Path) -> list[tuple[str, Path, dict[str, str]]]:
    """(rule, file, its last record) of every benchmark file under ``benchmarks``
    (``<rule>/<job>.tsv``, or ``<rule>.tsv`` for a rule with one job), sorted by path."""
    benchmarks = Path(benchmarks)
    out = []
    for tsv in sorted(benchmarks.rglob("*.tsv")):
        with open(tsv, newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        if rows:
            rel = tsv.relative_to(benchmarks)
            out.append((rel.parts[0] if len(rel.parts) > 1 else rel.stem, tsv, rows[-1]))
    return out


def import_seconds(log_text: str) -> float | None:
    """Seconds in the outermost imports that ``-X importtime`` logged (every Python process
    of the job), or None where the log has none."""
    found = _TOP_IMPORT.findall(log_text)
    return sum(int(us) for us in found) / 1e6 if found else None


def number(value: str | None) -> float:
    """A benchmark field as a number (Snakemake writes NA or '-' where it measured nothing)."""
    try:
        return float(value) if value not in (None, "", "NA", "-") else 0.0
    except ValueError:
        return 0.0


def read_jobs(benchmarks: str | Path, logs: str | Path) -> list[dict[str, Any]]:
    """One record per job: rule, wall and CPU seconds, and its import seconds where its log
    (``logs/<rule>/<job>.log`` beside ``benchmarks/<rule>/<job>.tsv``) has them."""
    jobs = []
    for rule, tsv, record in benchmark_records(benchmarks):
        log = (Path(logs) / tsv.relative_to(benchmarks)).with_suffix(".log")
        text = log.read_text(errors="replace") if log.is_file() else ""
        jobs.append({"rule": rule, "wall_s": number(record.get("s")),
                     "cpu_s": number(record.get("cpu_time")),
                     "import_s": import_seconds(text)})  # fmt: skip
    return jobs


def summarize_jobs(jobs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per rule (and ``total``): jobs, job-seconds, CPU seconds, and the import seconds of the
    jobs whose logs have them (``timed_jobs``)."""
    out: dict[str, dict[str, Any]] = {}
    for job in jobs:
        for key in (job["rule"], "total"):
            entry = out.setdefault(key, {"jobs": 0, "timed_jobs": 0} | dict.fromkeys(TOTALS, 0.0))
            entry["jobs"] += 1
            entry["wall_s"] += job["wall_s"]
            entry["cpu_s"] += job["cpu_s"]
            if job["import_s"] is not None:
                entry["timed_jobs"] += 1
                entry["import_s"] += job["import_s"]
                entry["timed_wall_s"] += job["wall_s"]
    for entry in out.values():
        if entry["timed_jobs"]:
            entry["import_share"] = entry["import_s"] / entry["timed_wall_s"]
    return out


def render_grid(summary: dict[str, dict[str, Any]], title: str) -> None:
    """A console table: jobs, job-seconds, CPU seconds, imports and their share."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for col in ("rule", "jobs", "job-s", "CPU-s", "imports s", "imports share"):
        table.add_column(col, justify="left" if col == "rule" else "right")
    order = sorted((r for r in summary if r != "total"), key=lambda r: -summary[r]["wall_s"])
    for rule in [*order, "total"]:
        e = summary[rule]
        timed = e["timed_jobs"]
        share = f"{e['import_share']:.0%}" if timed else "-"
        if timed and timed < e["jobs"]:
            share += f" ({timed} timed)"
        table.add_row(rule, str(e["jobs"]), f"{e['wall_s']:.1f}", f"{e['cpu_s']:.1f}",
                      f"{e['import_s']:.1f}" if timed else "-", share)  # fmt: skip
    Console(width=140).print(table)
    if not summary["total"]["timed_jobs"]:
        print("imports: rerun with CLIPFAIR_IMPORTTIME=1 to split them from the work")
