import csv
import subprocess

from .conftest import ROOT


def _cli(*args, cwd=ROOT):
    return subprocess.run(["clipfair", *args], cwd=cwd, capture_output=True, text=True)


def test_help_lists_every_subcommand():
    out = _cli("--help").stdout
    for cmd in (
        "validate-config",
        "demo-data",
        "acquire",
        "ingest",
        "train-clip",
        "convert-hf",
        "embed",
        "run-cells",
        "prompts",
        "topk-sweep",
        "summarize",
        "table",
        "bench-embed",
        "bench-probe",
        "bench-stages",
        "bench-project",
        "bench-cache-read",
        "slurm-plan",
        "reproduce",
        "fetch-weights",
    ):
        assert cmd in out


def test_validate_config_accepts_the_shipped_params():
    proc = _cli("validate-config", "params.yaml")
    # 7 CLIP (backbone, datasource) pairs x (13 explicit methods + 47 of the zero-shot sweep
    # + 4 Adience gender methods), and VGG-Face's 4 transfer cells. The sweep: one cell for
    # each single-prompt set (raw_gender_labels, raw_race_labels, age); original_clip_labels
    # and age_race_gender_fairface_words (7 and 8 prompts a class) 11 each: mean, embavg,
    # top 1/2/3/5/7, probtop 2/3/5/7; age_race_gender_labels (32) 17: mean, embavg, top 1 to
    # 32, probtop 2 to 32; original_clip_labels_v2 (2) 5: mean, embavg, top 1/2, probtop 2.
    # The other crop's and UTKFace's cells are off in the real grid (grid.other_crop/utkface).
    assert proc.returncode == 0 and f"{7 * 64 + 4} cells" in proc.stdout


def test_ingest_error_is_one_clear_line(release_copy, tmp_path):
    path = release_copy / "fairface_label_val.csv"
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    rows[3][2] = "Robot"
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    proc = _cli(
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
    proc = _cli("train-clip", "--index", "i", "--images", "m", "--config-dir", "c", "--out", "o")
    assert proc.returncode == 2
    for flag in ("--epochs", "--batch-size", "--lr", "--captions", "--seed", "--threads"):
        assert flag in proc.stderr
