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
        "embed-images",
        "embed-text",
        "run-method",
        "evaluate",
        "summarize",
        "table",
        "bench-embed",
        "bench-probe",
    ):
        assert cmd in out


def test_validate_config_accepts_the_shipped_params():
    proc = _cli("validate-config", "params.yaml")
    # 7 CLIP (backbone, datasource) pairs x (11 explicit methods + 19 of the zero-shot sweep
    # + 4 Adience gender methods), and VGG-Face's 4 transfer cells
    assert proc.returncode == 0 and f"{7 * 34 + 4} cells" in proc.stdout


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
    )
    assert proc.returncode != 0
    assert f"{path}:4" in proc.stderr and "unknown gender 'Robot'" in proc.stderr
    assert "Traceback" not in proc.stderr
