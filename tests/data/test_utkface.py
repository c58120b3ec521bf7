"""UTKFace: labels from the file names, FairFace's age groups, the seeded stratified split
recorded in the index, bad names failed or skipped and named, the real tar.gz read in place."""

import io
import json
import subprocess
import tarfile

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from clipfair.data.ingest import IngestError
from clipfair.data.utkface import (
    age_group,
    ingest_utkface,
    list_members,
    parse_name,
    stratified_split,
    write_demo_utkface,
)


def test_names_give_the_labels_and_bad_names_say_why():
    assert parse_name("UTKFace/26_1_2_20170116174525125.jpg.chip.jpg") == {
        "age_years": 26, "age": "20-29", "gender": "Female", "race": "Asian"}  # fmt: skip
    assert parse_name("9_0_4_20161220222856346.jpg")["race"] == "Others"
    missing = parse_name("UTKFace/39_1_20170116174525125.jpg.chip.jpg")
    assert "3 field(s)" in missing and "[age]_[gender]_[race]_[datetime]" in missing
    assert "gender 2" in parse_name("30_2_0_20170116174525125.jpg.chip.jpg")
    assert "race 5" in parse_name("30_0_5_20170116174525125.jpg.chip.jpg")


@pytest.mark.parametrize(
    ("years", "group"),
    [(0, "0-2"), (2, "0-2"), (3, "3-9"), (9, "3-9"), (10, "10-19"), (19, "10-19"),
     (20, "20-29"), (69, "60-69"), (70, "more than 70"), (116, "more than 70")],
)  # fmt: skip
def test_ages_are_binned_into_fairface_groups(years, group):
    assert age_group(years) == group


def test_the_split_is_seeded_stratified_and_independent_of_archive_order():
    rng = np.random.default_rng(0)
    n = 2000
    labels = pd.DataFrame({
        "file": [f"UTKFace/{i}.jpg" for i in range(n)],
        "gender": rng.choice(["Male", "Female"], n),
        "race": rng.choice(["White", "Black", "Asian"], n),
        "age": rng.choice(["20-29", "3-9"], n),
    })  # fmt: skip
    split = stratified_split(labels, seed=0)
    assert (split == "val").sum() == n // 5
    for _, rows in labels.assign(split=split).groupby(["gender", "race", "age"]):
        assert abs((rows["split"] == "val").sum() - 0.2 * len(rows)) < 1
    shuffled = labels.sample(frac=1, random_state=1)
    again = pd.Series(stratified_split(shuffled.reset_index(drop=True), seed=0),
                      index=shuffled["file"].to_numpy())  # fmt: skip
    assert (again[labels["file"]].to_numpy() == split).all()
    assert (stratified_split(labels, seed=1) != split).any()


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    path = tmp_path_factory.mktemp("utk") / "UTKFace.tar.gz"
    write_demo_utkface(path, n_faces=150, size=48, seed=0, n_bad=3)
    return path


def test_bad_names_fail_by_default_and_are_named(archive, tmp_path):
    with pytest.raises(IngestError, match=r"3 problem\(s\)") as err:
        ingest_utkface(archive, "val", tmp_path / "v.parquet", tmp_path / "v.npy", 32)
    assert "UTKFace/" in str(err.value) and "3 field(s)" in str(err.value)
    assert not (tmp_path / "v.parquet").exists()


def test_skip_ingests_both_splits_records_the_split_and_lists_the_bad_names(archive, tmp_path):
    frames = {}
    for split in ("train", "val"):
        frames[split] = ingest_utkface(
            archive, split, tmp_path / f"{split}.parquet", tmp_path / f"{split}.npy", 32,
            seed=0, on_bad_rows="skip", report=tmp_path / f"{split}_rejected.csv",
        )  # fmt: skip
    train, val = frames["train"], frames["val"]
    assert len(train) + len(val) == 150 and not set(train["file"]) & set(val["file"])
    assert len(val) == 150 // 5
    stored = pd.read_parquet(tmp_path / "val.parquet")
    assert set(stored["split"]) == {"val"} and set(stored["split_seed"]) == {0}
    assert stored["age"].isin(["0-2", "3-9", "10-19", "20-29", "30-39", "40-49", "50-59",
                               "60-69", "more than 70"]).all()  # fmt: skip
    assert (stored["gender_code"] == stored["gender"].map({"Male": 0, "Female": 1})).all()
    rejected = pd.read_csv(tmp_path / "val_rejected.csv")
    assert rejected["file"].str.startswith("UTKFace/").sum() == 3
    cache = np.load(tmp_path / "val.npy", mmap_mode="r")
    assert cache.shape == (len(val), 32, 32, 3) and cache.max() > 0
    # the row's picture is its file's picture
    with tarfile.open(archive) as tar:
        first = Image.open(io.BytesIO(tar.extractfile(stored["file"][0]).read()))
    expected = np.asarray(first.convert("RGB").resize((32, 32), Image.Resampling.BICUBIC))
    assert np.abs(cache[0].astype(int) - expected.astype(int)).mean() < 12


def test_unsafe_members_are_bad_rows(tmp_path):
    path = tmp_path / "UTKFace.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name in ("../20_0_0_1.jpg", "UTKFace/21_0_0_2.jpg.chip.jpg"):
            buf = io.BytesIO()
            Image.new("RGB", (8, 8)).save(buf, "JPEG")
            info = tarfile.TarInfo(name)
            info.size = len(buf.getvalue())
            tar.addfile(info, io.BytesIO(buf.getvalue()))
    with tarfile.open(path) as tar:
        labels, bad = list_members(tar)
    assert list(labels["file"]) == ["UTKFace/21_0_0_2.jpg.chip.jpg"]
    assert [b.file for b in bad] == ["../20_0_0_1.jpg"] and "unsafe" in bad[0].reason


def test_acquire_local_names_the_missing_archive_and_copies_it(archive, tmp_path):
    src = json.dumps({"kind": "local", "folder": str(tmp_path / "manual")})
    proc = subprocess.run(["clipfair", "step", "acquire", "--format", "utkface", "--source", src,
                           "--out", str(tmp_path / "raw.tar.gz"), "--lock", ""],
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode != 0 and "has no UTKFace.tar.gz" in proc.stderr
    (tmp_path / "manual").mkdir()
    (tmp_path / "manual" / "UTKFace.tar.gz").write_bytes(archive.read_bytes())
    subprocess.run(["clipfair", "step", "acquire", "--format", "utkface", "--source", src,
                    "--out", str(tmp_path / "raw.tar.gz"), "--lock", ""], check=True)  # fmt: skip
    assert (tmp_path / "raw.tar.gz").read_bytes() == archive.read_bytes()
