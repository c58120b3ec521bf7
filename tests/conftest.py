"""Shared fixtures: project root, a small demo release, CLI on PATH, project copies."""

from __future__ import annotations

import atexit
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from clipfair.config import deep_merge
from clipfair.data.demo import write_demo_release

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "params.schema.yaml"

# The CLI and snakemake of this interpreter's environment, for subprocess tests.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
# File digests cached by the tests stay out of the user's ~/.cache (clipfair.digests): one
# folder for the session (xdist's workers inherit it), removed by the process that made it
if "CLIPFAIR_CACHE" not in os.environ:
    os.environ["CLIPFAIR_CACHE"] = tempfile.mkdtemp(prefix="clipfair-cache-")
    atexit.register(shutil.rmtree, os.environ["CLIPFAIR_CACHE"], ignore_errors=True)
# Two workers on two cores, each running pipelines and commands that use both: an OpenMP
# thread waiting at a barrier spins (libgomp: ~300,000 times) on a core its partner needs.
# Waiting passively cut the suite's CPU time by a minute (user 18m22s -> 17m20s, one run
# each; the scale rehearsal's 168 -> 131 CPU-s). Set before anything loads torch.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")
# Every DVC command starts a detached `dvc daemon analytics` process that imports DVC again
# to report usage (0.4 s of CPU a command, measured; ~30 commands here): not from tests.
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
# wilds (the DataComp tests' reference) sets this when imported (its `outdated` check asks
# PyPI for a newer release): not from tests
os.environ.setdefault("OUTDATED_IGNORE", "1")


# `make test` runs pytest -n auto (a worker per core) and hands out whole modules (their
# module-scoped fixtures, e.g. a trained model or the full demo's run, made once), the
# longest first (by CI's durations) so that the last ones to start are short.
# The small demo's run is shared by every worker (small_demo_run: the first to need it runs
# it). (xdist's own --dist loadgroup marks do not group under pytest 9.2: it renames
# item._nodeid, which pytest 9 no longer reads.)
LONGEST_FIRST = [
    "tests/test_pipeline.py",  # the full demo's run (~5 min) and the tests reading it
    "tests/test_dvc.py",
    "tests/test_slurm.py",
    "tests/test_fault_injection.py",
    "tests/test_scale.py",
    "tests/test_vggface_cli.py",
    "tests/test_predict.py",
    "tests/test_bench.py",
]


def _module(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def pytest_collection_modifyitems(config, items):
    """Order the modules LONGEST_FIRST, then as collected (each module's tests in order)."""
    rank = {module: i for i, module in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(_module(item.nodeid), len(rank)))


def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    config.option.loadscopereorder = False  # keep the order above, not by test count

    class ModuleScheduling(LoadScopeScheduling):
        """A module is a unit: its tests run in order on one worker."""

        def _split_scope(self, nodeid: str) -> str:
            return _module(nodeid)

    return ModuleScheduling(config, log)


@pytest.fixture(scope="session")
def small_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 300/120-image demo release (zip + CSVs) shared read-only by tests."""
    out = tmp_path_factory.mktemp("release")
    write_demo_release(out, n_train=300, n_val=120, image_size=32, seed=3)
    return out


@pytest.fixture
def release_copy(small_release: Path, tmp_path: Path) -> Path:
    """A writable copy of the small release for tests that corrupt it."""
    dst = tmp_path / "release"
    shutil.copytree(small_release, dst)
    return dst


# A smaller demo for tests that run the pipeline more than once (DVC, Slurm, fault
# injection): one tiny model on 600 images, its zero-shot, probe and fine-tuned gender cells
# and an age probe (the reference of an age confusion matrix, drawn in label order).
SMALL_DEMO = {
    "datasets": {"fairface_demo": {"source": {"n_train": 600, "n_val": 200}}},
    "datasources": {"demo_full": {"train": {"epochs": 3}}},
    "grid": {
        "adience": None,
        "other_crop": None,
        "utkface": None,
        "backbones": ["tiny-vit"],
        "datasources": ["demo_full"],
        "methods": ["probe_gender", "probe_age", "ft_gender"],
        "zeroshot_sweep": True,
    },
    "zeroshot": {
        "sweep": {"label_sets": ["raw_gender_labels"], "aggregations": ["mean"]},
        "k_analysis": {"label_sets": [], "k_max": 1},
    },
    "finetune": {"epochs": 2, "batch_size": 64},
    "compare": {
        "references": {
            "gender": "tiny-vit/demo_full/zs_raw_gender_labels_mean",
            "race": None,
            "age": "tiny-vit/demo_full/probe_age",
        }
    },
}


def use_small_demo(project: Path) -> None:
    """Make the project's default run the small demo (``preset: demo`` + SMALL_DEMO)."""
    params_path = project / "params.yaml"
    params = yaml.safe_load(params_path.read_text())
    params["preset"] = "demo"
    params["presets"]["demo"] = deep_merge(params["presets"]["demo"], SMALL_DEMO)
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture(scope="session")
def small_demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One clean local run of the small demo, shared read-only by the tests that compare with
    it, on every xdist worker: the first to need it runs it, the others wait for it. Its jobs'
    logs hold Python's import timings (CLIPFAIR_IMPORTTIME=1: tests/test_table_jobs.py)."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # the session's
    proj, done = shared / "small_demo", shared / "small_demo.done"
    with open(shared / "small_demo.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            if proj.exists():  # a worker's try that failed
                shutil.rmtree(proj)
            copy_project(proj)
            use_small_demo(proj)
            run(["env", "CLIPFAIR_IMPORTTIME=1", "snakemake", "--cores", "all"], proj,
                timeout=1500)  # fmt: skip
            done.touch()
    return proj


def tiny_open_clip_and_hf(folder: Path):
    """A random tiny open_clip model (seed 0) and its transformers twin written to ``folder``."""
    import torch
    from safetensors.torch import save_file

    from clipfair.models.backbone import load_open_clip
    from clipfair.models.hf_convert import convert_checkpoint

    config_dir = ROOT / "workflow" / "models"
    torch.manual_seed(0)
    oc = load_open_clip("tiny-clip-vit", None, config_dir=config_dir)
    ckpt = folder / "oc.safetensors"
    save_file({k: v.contiguous() for k, v in oc.model.state_dict().items()}, str(ckpt))
    return oc, convert_checkpoint(ckpt, config_dir / "tiny-clip-vit.json", folder / "hf")


def _git_files(*args: str) -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", *args], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    return out.splitlines()


def project_files() -> list[str]:
    """Files a fresh clone has: tracked ones, plus new (untracked, not ignored) sources.

    Run outputs that git does not ignore (metrics/ and Snakemake's metadata, which DVC
    commits) are left out unless tracked, so a local demo run does not leak into the copy.
    """
    new = [
        f
        for f in _git_files("-o", "--exclude-standard")
        if not f.startswith(("metrics/", ".snakemake/"))
    ]
    files = sorted(set(_git_files("-c")) | set(new))
    return [f for f in files if (ROOT / f).exists() or (ROOT / f).is_symlink()]


def copy_project(dst: Path) -> Path:
    """Copy the project as a fresh clone would have it into ``dst``."""
    for rel in project_files():
        src, target = ROOT / rel, dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            target.symlink_to(os.readlink(src))
        else:
            shutil.copy2(src, target)
    return dst


def run(cmd: list[str], cwd: Path, timeout: int = 1200, check: bool = True):
    """Run a command, returning the CompletedProcess; on failure show its output."""
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {proc.returncode}\n--- stdout\n{proc.stdout[-6000:]}"
            f"\n--- stderr\n{proc.stderr[-6000:]}"
        )
    return proc
