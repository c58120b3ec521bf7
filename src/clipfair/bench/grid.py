"""``clipfair bench-grid``: where a finished run's job-seconds went, per rule.

Reads Snakemake's per-job benchmark files (``benchmarks/<rule>/<job>.tsv``: wall seconds) and
the phase line each job's log ends with (``logs/<rule>/<job>.log``, :mod:`clipfair.phases`):
process start-up, imports, model loading and the work itself. Jobs forked by the fork server
(:mod:`clipfair.forkserver`) import nothing; the server's own imports, once per run, are in
its log (``.snakemake/log/forkserver.log``): :func:`read_forkserver_log`. Runs of code that
did not time its phases still get jobs and job-seconds (phases "-").
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from clipfair.phases import parse_phases

PHASES = ("startup_s", "import_s", "load_s", "work_s")


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


def job_phases(
    benchmarks: str | Path, tsv: Path, logs: str | Path
) -> dict[str, float | None] | None:
    """The phase line of the log beside a job's benchmark file (``logs/<rule>/<job>.log``
    for ``benchmarks/<rule>/<job>.tsv``), or None."""
    log = (Path(logs) / tsv.relative_to(benchmarks)).with_suffix(".log")
    return parse_phases(log.read_text(errors="replace")) if log.is_file() else None


def read_jobs(benchmarks: str | Path, logs: str | Path) -> list[dict[str, Any]]:
    """One record per job: rule, wall seconds, and its phases where its log has them."""
    return [
        {"rule": rule, "wall_s": float(record["s"]), "phases": job_phases(benchmarks, tsv, logs)}
        for rule, tsv, record in benchmark_records(benchmarks)
    ]


def summarize_jobs(jobs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per rule (and ``total``): jobs, job-seconds, and the phase sums of the timed jobs."""
    out: dict[str, dict[str, Any]] = {}
    for job in jobs:
        for key in (job["rule"], "total"):
            entry = out.setdefault(key, {"jobs": 0, "wall_s": 0.0, "timed_jobs": 0})
            entry["jobs"] += 1
            entry["wall_s"] += job["wall_s"]
            if job["phases"]:
                entry["timed_jobs"] += 1
                entry["timed_wall_s"] = entry.get("timed_wall_s", 0.0) + job["wall_s"]
                for phase in PHASES:
                    entry[phase] = entry.get(phase, 0.0) + (job["phases"].get(phase) or 0.0)
    for entry in out.values():
        if entry["timed_jobs"]:
            outside = sum(entry[p] for p in PHASES[:3])
            entry["outside_share"] = outside / entry["timed_wall_s"]
    return out


def read_forkserver_log(path: str | Path) -> dict[str, float] | None:
    """The last run's fork server: its imports (wall and CPU seconds) and the jobs it forked;
    None without a log (no server ran)."""
    import re

    path = Path(path)
    if not path.is_file():
        return None
    text = path.read_text(errors="replace")
    ready = re.findall(r"imports took ([\d.]+) s \(([\d.]+) s CPU\)", text)
    if not ready:
        return None
    wall, cpu = ready[-1]
    last_run = text[text.rfind("forkserver: ready on") :]
    return {
        "import_wall_s": float(wall),
        "import_cpu_s": float(cpu),
        "forked_jobs": len(re.findall(r"^forkserver: \d+ runs ", last_run, re.M)),
    }


def render_grid(summary: dict[str, dict[str, Any]], title: str) -> None:
    """A console table: jobs, job-seconds, phases, and the share spent outside the work."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    columns = (
        "rule",
        "jobs",
        "job-s",
        "start-up s",
        "imports s",
        "loading s",
        "work s",
        "outside work",
    )
    for col in columns:
        table.add_column(col, justify="left" if col == "rule" else "right")
    order = sorted((r for r in summary if r != "total"), key=lambda r: -summary[r]["wall_s"])
    for rule in [*order, "total"]:
        e = summary[rule]
        timed = e["timed_jobs"]
        phase = [f"{e[p]:.1f}" if timed else "-" for p in PHASES]
        share = f"{e['outside_share']:.0%}" if timed else "-"
        if timed and timed < e["jobs"]:
            share += f" ({timed} timed)"
        table.add_row(rule, str(e["jobs"]), f"{e['wall_s']:.1f}", *phase, share)
    Console(width=140).print(table)
