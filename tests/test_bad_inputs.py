"""Bad inputs, one table: each case runs the real command on a planted fault and checks the
exit status, the text that names the bad item, and that no half-written output is left.

The cases of the "nothing silently wrong" issue that are about one command's input live here;
resume and download cases, which need a server or a second run, are in their own modules
(tests/data/test_download.py, tests/test_resume.py) and named in the README's checklist.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest


def _rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def _write_rows(path: Path, rows: list[list[str]]) -> None:
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)


def _rezip(release: Path, edit: Callable[[list[tuple[zipfile.ZipInfo, bytes]]], None]) -> None:
    """Rewrite images.zip (stored, not compressed) after ``edit`` changes its member list."""
    path = release / "images.zip"
    with zipfile.ZipFile(path) as zf:
        members = [(info, zf.read(info)) for info in zf.infolist()]
    edit(members)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for info, data in members:
            zf.writestr(info, data)


def _duplicate_row(release: Path) -> None:
    path = release / "fairface_label_val.csv"
    rows = _rows(path)
    rows.append(rows[1])
    _write_rows(path, rows)


def _empty_zip(release: Path) -> None:
    _rezip(release, lambda members: members.clear())


def _flip_data_byte(release: Path) -> None:
    """A bad CRC: one byte of val/5.jpg's stored data changed."""
    path = release / "images.zip"
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("val/5.jpg")
    raw = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    raw[start + info.file_size // 2] ^= 0xFF
    path.write_bytes(bytes(raw))


def _break_local_header(release: Path) -> None:
    path = release / "images.zip"
    with zipfile.ZipFile(path) as zf:
        offset = zf.getinfo("val/6.jpg").header_offset
    raw = bytearray(path.read_bytes())
    raw[offset : offset + 4] = b"XXXX"
    path.write_bytes(bytes(raw))


def _truncate_zip(release: Path) -> None:
    path = release / "images.zip"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _unlisted_traversal(release: Path) -> None:
    _rezip(release, lambda members: members.append((zipfile.ZipInfo("../evil.jpg"), b"x")))


def _fewer_rows(release: Path) -> None:
    path = release / "fairface_label_val.csv"
    rows = _rows(path)
    rows[2][2] = "Martian"  # one bad row: skipping it leaves 119 of the expected 120
    _write_rows(path, rows)


@dataclass
class Case:
    name: str
    plant: Callable[[Path], None]
    args: list[str]
    status: int
    text: list[str]
    absent: list[str] = field(default_factory=lambda: ["v.parquet", "v.npy"])
    report: list[str] = field(default_factory=list)  # in the rejected-rows report


SKIP = ["--on-bad-rows", "skip"]
CASES = [
    Case(
        "duplicate row: both copies dropped, both named",
        _duplicate_row,
        SKIP,
        0,
        [],
        absent=[],
        report=["repeats line 2", "listed again at line 122; every copy is dropped"],
    ),
    Case("empty zip, fail mode", _empty_zip, [], 1, ["images.zip: the archive is empty"]),
    Case("empty zip, skip mode", _empty_zip, SKIP, 1, ["images.zip: the archive is empty"]),
    Case(
        "bad CRC, fail mode",
        _flip_data_byte,
        [],
        1,
        ["val/5.jpg", "images.zip", "Bad CRC-32"],
    ),
    Case(
        "bad CRC, skip mode: the member is dropped and reported",
        _flip_data_byte,
        SKIP,
        0,
        [],
        absent=[],
        report=["val/5.jpg", "Bad CRC-32"],
    ),
    Case(
        "bad local header",
        _break_local_header,
        [],
        1,
        ["val/6.jpg", "Bad magic number for file header"],
    ),
    Case(
        "truncated archive",
        _truncate_zip,
        SKIP,
        1,
        ["images.zip: not a readable zip archive", "run the acquire rule again"],
    ),
    Case(
        "unlisted ../ member, fail mode",
        _unlisted_traversal,
        [],
        1,
        ["(../evil.jpg)", "refused member: path escapes the archive folder"],
    ),
    Case(
        "unlisted ../ member, skip mode: refused and reported",
        _unlisted_traversal,
        SKIP,
        0,
        [],
        absent=[],
        report=["../evil.jpg", "refused member: path escapes"],
    ),
    Case(
        "expected counts differ after skipping: an error",
        _fewer_rows,
        [*SKIP, "--expect", '{"rows": 120}'],
        1,
        ["119 rows; expected 120", "on_count_mismatch: note accepts that", "val/2.jpg"],
    ),
    Case(
        "expected counts differ, allowed explicitly: a note",
        _fewer_rows,
        [*SKIP, "--expect", '{"rows": 120}', "--on-count-mismatch", "note"],
        0,
        [],
        absent=[],
        report=["119 rows; expected 120"],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_ingest_input(case: Case, small_release: Path, tmp_path: Path) -> None:
    release = tmp_path / "release"
    shutil.copytree(small_release, release)
    case.plant(release)
    out = tmp_path / "out"
    out.mkdir()
    cmd = ["clipfair", "step", "ingest", "--raw", str(release), "--split", "val"]
    cmd += ["--out-index", str(out / "v.parquet"), "--out-images", str(out / "v.npy")]
    cmd += ["--image-size", "32", "--report", str(out / "rejected.csv"), "--threads", "1"]
    # the rule passes every flag; the case's own come last and win
    cmd += ["--on-bad-rows", "fail", "--expect", "{}", "--on-count-mismatch", "fail", *case.args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    said = proc.stdout + proc.stderr
    assert proc.returncode == case.status, said
    for text in case.text:
        assert text in said, (text, said[-3000:])
    assert "Traceback" not in said  # a message, not a raw traceback
    for name in case.absent:
        assert not (out / name).exists(), name
    assert not list(out.glob(".*.tmp"))  # no half-written temp file
    if case.report:
        report = (out / "rejected.csv").read_text()
        for text in case.report:
            assert text in report, (text, report)


def test_truncated_embeddings_are_named_and_no_cell_output_is_left(tmp_path: Path) -> None:
    import json

    import numpy as np
    import pandas as pd

    from clipfair.embedding_files import fingerprint

    index = pd.DataFrame({"file": [f"val/{i}.jpg" for i in range(30)], "gender": "Male"})
    index["age"], index["race"] = "20-29", "White"
    index.to_parquet(tmp_path / "val.parquet")
    emb = np.ones((30, 8), np.float32) / np.sqrt(8)
    np.save(tmp_path / "val.npy", emb)
    meta = {"index_fingerprint": fingerprint(index["file"].tolist())}
    (tmp_path / "val.json").write_text(json.dumps(meta))
    text = pd.DataFrame({"class": ["Male", "Female"], "prompt": ["a", "b"]})
    text["embedding"] = list(np.eye(8, dtype=np.float32)[:2])
    text.to_parquet(tmp_path / "text.parquet")
    raw = (tmp_path / "val.npy").read_bytes()
    (tmp_path / "val.npy").write_bytes(raw[: len(raw) - 100])  # a kill while copying
    out = tmp_path / "out"
    spec = {"kind": "zeroshot", "task": "gender", "label_set": "raw_gender_labels"}
    plan = [
        {
            "cell": "b/d/zs",
            "spec": {**spec, "aggregation": "mean"},
            "data": {"train": None, "eval": "demo"},
            "options": {"label_set_dir": None},
            "inputs": {
                "val_index": str(tmp_path / "val.parquet"),
                "val_emb": str(tmp_path / "val.npy"),
                "text": str(tmp_path / "text.parquet"),
            },
            "outputs": {k: str(out / f"zs.{k}") for k in ("predictions", "info", "metrics")},
        }
    ]
    boot = '{"n_resamples": 10, "seed": 0, "alpha": 0.05}'
    cmd = ["clipfair", "step", "run-cells", "--plan", json.dumps(plan), "--bootstrap", boot]
    proc = subprocess.run(
        [*cmd, "--seed", "0", "--threads", "1"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert f"{tmp_path / 'val.npy'}: unreadable or truncated" in proc.stderr
    assert "--forcerun embed for" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists() or not list(out.iterdir())


@pytest.mark.slow
def test_the_ingest_job_stops_at_a_bad_val_row_before_decoding_train(small_demo_run, tmp_path):
    """One ingest job does both splits, val first: a bad val row fails it in seconds, naming
    the row, and the train split is never decoded."""
    from .conftest import run

    proj = tmp_path / "proj"
    shutil.copytree(small_demo_run, proj, symlinks=True)
    labels = Path("data/raw/fairface_demo/0.25/fairface_label_val.csv")
    rows = _rows(proj / labels)
    rows[3][2] = "Robot"  # gender of line 4
    _write_rows(proj / labels, rows)
    proc = run(["snakemake", "--cores", "2", "--until", "ingest"], proj, check=False)
    assert proc.returncode != 0
    log = (proj / "logs/ingest/fairface_demo.log").read_text()
    assert f"{labels}:4" in log and "unknown gender 'Robot'" in log, log[-3000:]
    assert "train" not in log, log[-3000:]  # the val split failed first; train never began
    assert not list((proj / "data/interim/fairface_demo").glob("*.tmp"))
