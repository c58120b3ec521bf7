import csv
import re
import subprocess

from .conftest import ROOT


def _cli(*args, cwd=ROOT):
    return subprocess.run(["clipfair", *args], cwd=cwd, capture_output=True, text=True)


def _listed(help_text: str) -> list[str]:
    """The subcommands an argparse help lists (its indented 'name  help' lines)."""
    block = help_text.split("positional arguments:")[1].split("options:")[0]
    return re.findall(r"^    (\S+)", block, re.M)


def test_help_shows_the_commands_a_person_runs_and_groups_the_rest():
    top = _listed(_cli("--help").stdout)
    assert set(top) == {
        "table", "diff", "predict", "prompts", "reproduce", "validate-config", "fetch-weights",
        "record-run", "gpu-check", "vggface", "offline-plots-template", "demo-data",
        "demo-adience", "step", "bench",
    }  # fmt: skip
    steps = _listed(_cli("step", "--help").stdout)
    assert {"acquire", "ingest", "train-clip", "convert-hf", "embed", "finetune",
            "vggface-transfer", "run-cells", "summarize", "compare", "plots",
            "topk-sweep"} <= set(steps)  # fmt: skip
    assert set(_listed(_cli("bench", "--help").stdout)) == {
        "grid",
        "stages",
        "project",
        "slurm-plan",
        "cache-read",
        "embed",
        "coverage",
        "probe",
    }
    # the rules run steps (and summarize the person's `reproduce`, to the same file)
    text = "\n".join(p.read_text() for p in (ROOT / "workflow" / "rules").glob("*.smk"))
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    used = set(re.findall(r"clipfair (\S+)", "\n".join(lines))) & {*top, *steps}
    assert used == {"step", "reproduce"}, used


def test_validate_config_accepts_the_shipped_params():
    proc = _cli("validate-config", "params.yaml")
    # 9 CLIP (backbone, datasource) pairs x (13 explicit methods + 47 of the zero-shot sweep
    # + 4 Adience gender methods), and VGG-Face's 4 transfer cells. The sweep: one cell for
    # each single-prompt set (raw_gender_labels, raw_race_labels, age); original_clip_labels
    # and age_race_gender_fairface_words (7 and 8 prompts a class) 11 each: mean, embavg,
    # top 1/2/3/5/7, probtop 2/3/5/7; age_race_gender_labels (32) 17: mean, embavg, top 1 to
    # 32, probtop 2 to 32; original_clip_labels_v2 (2) 5: mean, embavg, top 1/2, probtop 2.
    # The other crop's and UTKFace's cells are off in the real grid (grid.other_crop/utkface).
    assert proc.returncode == 0 and f"{9 * 64 + 4} cells" in proc.stdout


def test_ingest_error_is_one_clear_line(release_copy, tmp_path):
    path = release_copy / "fairface_label_val.csv"
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    rows[3][2] = "Robot"
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    proc = _cli(
        "step",
        "ingest",
        "--raw",
        str(release_copy),
        "--split",
        "val",
        "--out-index",
        str(tmp_path / "i.parquet"),
        "--out-images",
        str(tmp_path / "i.npy"),
        "--image-size",
        "32",
        *("--threads", "1", "--on-bad-rows", "fail", "--expect", "{}"),
        *("--on-count-mismatch", "fail"),
    )
    assert proc.returncode != 0
    assert f"{path}:4" in proc.stderr and "unknown gender 'Robot'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_pipeline_step_flags_have_no_defaults():
    """A step's settings come from params.yaml through its rule: leaving one out is an error
    naming the flag, not a silent default that could differ from the pipeline's."""
    flags = ("--index", "i", "--images", "m", "--config-dir", "c", "--out", "o")
    proc = _cli("step", "train-clip", *flags)
    assert proc.returncode == 2
    for flag in ("--epochs", "--batch-size", "--lr", "--seed", "--threads"):
        assert flag in proc.stderr


def _command(name, error):
    """A parsed command whose handler raises ``error``."""
    import argparse

    def handler(args):
        raise error

    return argparse.Namespace(name=name, prog=f"clipfair step {name}", func=handler)


def test_the_projects_errors_are_one_line_naming_the_file():
    import pytest

    from clipfair.cli import run
    from clipfair.errors import InputError, MissingFileError

    for error in (InputError("a.csv:4: unknown gender 'Robot'"), MissingFileError("no b.npy")):
        with pytest.raises(SystemExit) as exit_:
            run(_command("ingest", error))
        assert exit_.value.code == f"clipfair step ingest: error: {error}"


def test_anything_unexpected_keeps_its_traceback():
    proc = subprocess.run(
        ["python", "-c", "from tests.test_cli import _command; from clipfair.cli import run; "
         "run(_command('summarize', KeyError('accuracy')))"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "Traceback (most recent call last)" in proc.stderr
    assert proc.stderr.rstrip().endswith("KeyError: 'accuracy'")


def test_cuda_out_of_memory_names_the_batch_size_to_lower():
    code = (
        "import torch; from tests.test_cli import _command; from clipfair.cli import run; "
        "run(_command('{}', torch.cuda.OutOfMemoryError('CUDA out of memory. Tried to "
        "allocate 2.00 GiB')))"
    )
    for command, setting in (("embed", "embed.batch_size"),
                             ("finetune", "finetune.batch_size")):  # fmt: skip
        proc = subprocess.run(
            ["python", "-c", code.format(command)], cwd=ROOT, capture_output=True, text=True
        )
        assert proc.returncode == 1 and "Traceback (most recent call last)" in proc.stderr
        assert "torch.OutOfMemoryError: CUDA out of memory" in proc.stderr
        assert f"clipfair step {command}: out of GPU memory: lower {setting}" in proc.stderr
