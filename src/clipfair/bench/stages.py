"""``clipfair bench stages``: what each stage of a finished run cost, from Snakemake's
per-job benchmark files, and the disk the run holds.

Per rule: jobs, wall seconds (summed over jobs, and the longest job), CPU seconds, peak RSS
(the largest job's, MB) and MB written (``io_out``), as Snakemake measured the job's process
tree. Disk: the blocks each folder holds, hard links counted once across all of them (DVC's
cache may link the workspace's files).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

from clipfair.bench.grid import benchmark_records, number
from clipfair.errors import MissingFileError

COLUMNS = ("rule", "jobs", "wall_s", "max_job_wall_s", "cpu_s", "peak_rss_mb", "written_mb")


def stage_rows(benchmarks: str | Path) -> list[dict[str, Any]]:
    """One row per rule (in the order of first appearance by time), plus ``total``."""
    records = benchmark_records(benchmarks)
    rows: dict[str, dict[str, Any]] = {}
    for rule, _, rec in sorted(records, key=lambda r: r[1].stat().st_mtime):
        cpu, rss = number(rec.get("cpu_time")), number(rec.get("max_rss"))
        for key in (rule, "total"):
            row = rows.setdefault(key, dict.fromkeys(COLUMNS, 0.0) | {"rule": key, "jobs": 0})
            row["jobs"] += 1
            row["wall_s"] += number(rec.get("s"))
            row["max_job_wall_s"] = max(row["max_job_wall_s"], number(rec.get("s")))
            row["cpu_s"] += cpu
            row["peak_rss_mb"] = max(row["peak_rss_mb"], rss)
            row["written_mb"] += number(rec.get("io_out"))
    total = rows.pop("total", None)
    out = list(rows.values()) + ([total] if total else [])
    for row in out:
        for key in COLUMNS[2:]:
            row[key] = round(row[key], 1)
    return out


def disk_usage(paths: list[str | Path]) -> list[dict[str, Any]]:
    """MB on disk under each path (allocated blocks), a file linked twice counted once, in
    the first path that holds it; and a ``total`` row."""
    seen: set[tuple[int, int]] = set()
    out = []
    for path in map(Path, paths):
        blocks = 0
        files = [path] if path.is_file() else (p for p in path.rglob("*") if p.is_file())
        if path.exists():
            for f in files:
                st = os.lstat(f)
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
                blocks += st.st_blocks * 512
        out.append({"path": str(path), "mb": round(blocks / 1e6, 1)})
    out.append({"path": "total", "mb": round(sum(r["mb"] for r in out), 1)})
    return out


def write_csv(path: str | Path, rows: list[dict[str, Any]]) -> None:
    from clipfair.io import atomic_path

    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def markdown(rows: list[dict[str, Any]]) -> str:
    """A Markdown table of ``rows`` (the README's performance section)."""
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(row[c]) for c in cols) + " |")
    return "\n".join(lines)


def stage_report(run: Path, out: Path, disk_dirs: list[str]) -> str:
    """``clipfair bench stages``: the per-stage table of a finished run (``out``) and its disk
    use (``disk.csv`` beside it); returns both as markdown."""
    rows = stage_rows(run / "benchmarks")
    if not rows:
        raise MissingFileError(
            f"no benchmark files under {run / 'benchmarks'}: run the pipeline there first"
        )
    disk = disk_usage([run / d for d in disk_dirs])
    write_csv(out, rows)
    write_csv(out.with_name("disk.csv"), disk)
    return f"{markdown(rows)}\n\n{markdown(disk)}\n\nwrote {out} and {out.with_name('disk.csv')}"
