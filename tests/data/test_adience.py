"""Adience fold files and aligned faces: parsing with bad rows, ingest, dropped genders."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from clipfair.data.adience import fold_file, ingest_adience, parse_folds, write_demo_adience
from clipfair.data.ingest import IngestError


@pytest.fixture
def release(tmp_path):
    write_demo_adience(tmp_path / "adience", n_users=10, faces_per_user=6, size=32, seed=1)
    return tmp_path / "adience"


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.reader(fh, delimiter="\t"))


def _write(path, rows):
    with open(path, "w", newline="") as fh:
        csv.writer(fh, delimiter="\t").writerows(rows)


def test_folds_parse_and_unknown_genders_are_counted(release):
    folds, bad, dropped = parse_folds(release)
    total = sum(len(_rows(release / fold_file(f))) - 1 for f in range(5))
    assert not bad and len(folds) + sum(dropped.values()) == total == 60
    assert set(folds["gender"]) == {"Male", "Female"} and set(folds["fold"]) == set(range(5))
    assert all(f.startswith("aligned/") and "/landmark_aligned_face." in f for f in folds["file"])
    assert all((release / f).is_file() for f in folds["file"])


def test_bad_fold_rows_are_named(release):
    path = release / fold_file(1)
    rows = _rows(path)
    rows[1] = rows[1][:4]  # too few fields
    rows[2][4] = "x"  # unknown gender
    rows[3][4] = ""  # missing gender: dropped, not an error
    rows.append(list(rows[4]))  # the same face twice
    _write(path, rows)
    _, bad, dropped = parse_folds(release)
    reasons = [str(b) for b in bad]
    assert any(f"{path}:2: 4 fields" in r for r in reasons)
    assert any(f"{path}:3" in r and "unknown gender 'x'" in r for r in reasons)
    assert any("face listed twice" in r for r in reasons)
    assert dropped["missing"] == 1


def test_ingest_splits_by_fold_and_reports_drops(release, tmp_path):
    report = tmp_path / "rejected.csv"
    val = ingest_adience(
        release, "val", [4], tmp_path / "v.parquet", tmp_path / "v.npy", 32, report=report
    )
    train = ingest_adience(release, "train", [4], tmp_path / "t.parquet", tmp_path / "t.npy", 32)
    assert set(val["fold"]) == {4} and 4 not in set(train["fold"])
    assert not set(val["user_id"]) & set(train["user_id"])  # users never straddle the split
    assert np.load(tmp_path / "v.npy").shape == (len(val), 32, 32, 3)
    assert list(val["gender_code"]) == [0 if g == "Male" else 1 for g in val["gender"]]
    with open(report) as fh:
        notes = [r["reason"] for r in csv.DictReader(fh)]
    _, _, dropped = parse_folds(release)
    assert notes == [f"dropped {n} faces with gender {g!r}" for g, n in sorted(dropped.items())]


def test_missing_face_fails_or_is_skipped(release, tmp_path):
    folds, _, _ = parse_folds(release)
    victim = folds[folds["fold"] == 4]["file"].iloc[0]
    (release / victim).unlink()
    with pytest.raises(IngestError, match=rf"{victim}.*missing"):
        ingest_adience(release, "val", [4], tmp_path / "v.parquet", tmp_path / "v.npy", 32)
    assert not (tmp_path / "v.npy").exists()
    val = ingest_adience(
        release,
        "val",
        [4],
        tmp_path / "v.parquet",
        tmp_path / "v.npy",
        32,
        on_bad_rows="skip",
        report=tmp_path / "r.csv",
    )
    assert victim not in set(val["file"]) and victim in (tmp_path / "r.csv").read_text()


def test_acquire_names_what_to_place_when_the_folder_is_missing(tmp_path):
    from clipfair.data.sources import fetch

    with pytest.raises(FileNotFoundError, match=r"lacks fold_0_data.txt.*aligned.*grid.adience"):
        fetch({"kind": "local", "folder": str(tmp_path / "nope")}, tmp_path / "out", "adience")
    assert not (tmp_path / "out").exists()


def test_acquire_copies_a_local_release_whole(release, tmp_path):
    from clipfair.data.sources import fetch

    source = {"kind": "local", "folder": str(release)}
    out = fetch(source, tmp_path / "raw" / "adience", "adience")
    theirs = sorted(p.relative_to(release) for p in release.rglob("*") if p.is_file())
    ours = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert ours == theirs and len(ours) > 5
    assert [p.name for p in out.parent.iterdir()] == ["adience"]  # no temporary left behind
