"""Kill the pipeline with SIGKILL at several points, rerun with --rerun-incomplete each time:
the final metrics equal a clean run's and nothing that had finished is computed again."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import copy_project, run, use_small_demo

# The small demo (conftest.SMALL_DEMO): one tiny model, its fine-tune, probe and zero-shot
# cells, so every kind of resumable job. (The log that appears when a job starts, seconds to
# let it work before the kill.)
KILL_POINTS = [
    ("logs/acquire/fairface_demo_0.25.log", 0.5),
    ("logs/ingest/fairface_demo.log", 0.5),
    ("logs/train_clip/tiny-vit_demo_full.log", 5.0),
    ("logs/embed/tiny-vit_demo_full.log", 1.0),
    ("logs/finetune/fairface_demo_tiny-vit_demo_full_multitask.log", 6.0),
    ("logs/cells_probes/tiny-vit_demo_full.log", 1.0),
]
SNAKEMAKE = ["snakemake", "--cores", "all", "--rerun-incomplete"]


def _incomplete(proj: Path) -> set[Path]:
    """Outputs Snakemake has marked incomplete (its records under .snakemake/incomplete)."""
    folder = proj / ".snakemake" / "incomplete"
    out = set()
    for marker in folder.iterdir() if folder.is_dir() else []:
        try:
            out.add((proj / base64.b64decode(marker.name).decode()).resolve())
        except ValueError:
            continue
    return out


WORK = (".shards", "checkpoints", ".tmp", ".staged", ".part")  # resumable work, not outputs


def _finished(proj: Path) -> dict[Path, int]:
    """mtime of every output that exists and is not marked incomplete."""
    skip = _incomplete(proj)
    files = [p for d in ("data", "metrics/cells") for p in (proj / d).rglob("*") if p.is_file()]
    files = [p for p in files if not any(w in str(p.relative_to(proj)) for w in WORK)]
    return {p: p.stat().st_mtime_ns for p in files if p.resolve() not in skip}


def _kill_when(proj: Path, log: str, delay: float, timeout: float = 600) -> None:
    proc = subprocess.Popen(
        SNAKEMAKE,
        cwd=proj,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while not (proj / log).exists():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before {log} appeared (exit {proc.returncode})")
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError(f"{log} did not appear within {timeout} s")
        time.sleep(0.1)
    time.sleep(delay)
    os.killpg(proc.pid, signal.SIGKILL)  # snakemake and every job it started, at once
    proc.wait()


@pytest.mark.slow
def test_killed_runs_resume_to_the_clean_result(small_demo_run, tmp_path):
    clean = small_demo_run
    faulty = copy_project(tmp_path / "faulty")
    use_small_demo(faulty)
    before: dict[Path, int] = {}
    for log, delay in KILL_POINTS:
        _kill_when(faulty, log, delay)
        run(["snakemake", "--unlock"], faulty)  # a killed Snakemake leaves its lock behind
        for path, mtime in before.items():  # what had finished was not done again
            assert path.stat().st_mtime_ns == mtime, f"{path} was recomputed"
        before = _finished(faulty)
    run(SNAKEMAKE, faulty, timeout=1500)
    for path, mtime in before.items():
        assert path.stat().st_mtime_ns == mtime, f"{path} was recomputed"
    for name in ("summary.csv", "comparison.csv"):
        assert (faulty / "metrics" / name).read_text() == (clean / "metrics" / name).read_text()
    again = run(SNAKEMAKE, faulty)
    assert "Nothing to be done" in again.stdout + again.stderr
