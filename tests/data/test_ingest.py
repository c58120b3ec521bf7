import csv
import stat
import zipfile

import numpy as np
import pytest

from clipfair.data.ingest import IngestError, check_member, ingest_split, read_labels
from clipfair.labels import RACES


def _rewrite_csv(path, edit):
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    edit(rows)
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)


def test_ingest_writes_index_and_uint8_cache(small_release, tmp_path):
    index = ingest_split(small_release, "val", tmp_path / "val.parquet", tmp_path / "val.npy", 32)
    cache = np.load(tmp_path / "val.npy", mmap_mode="r")
    assert cache.shape == (120, 32, 32, 3) and cache.dtype == np.uint8
    assert list(index["row"]) == list(range(120))
    assert (index["race"].map(RACES.index) == index["race_code"]).all()
    assert set(index["split"]) == {"val"}
    assert cache[0].std() > 10  # a picture, not zeros


def test_ingest_resizes_to_the_cache_size(small_release, tmp_path):
    ingest_split(small_release, "val", tmp_path / "v.parquet", tmp_path / "v.npy", 24)
    assert np.load(tmp_path / "v.npy").shape[1:] == (24, 24, 3)


def test_unknown_label_names_file_line_and_value(release_copy):
    path = release_copy / "fairface_label_train.csv"
    _rewrite_csv(path, lambda rows: rows[5].__setitem__(3, "Martian"))
    with pytest.raises(IngestError) as err:
        read_labels(path, "train")
    msg = str(err.value)
    assert f"{path}:6" in msg and "train/5.jpg" in msg and "'Martian'" in msg
    assert "Southeast Asian" in msg  # names what was expected


def test_bad_header_is_reported(release_copy):
    path = release_copy / "fairface_label_val.csv"
    _rewrite_csv(path, lambda rows: rows[0].__setitem__(2, "sex"))
    with pytest.raises(IngestError, match=r"header is .*'sex'.*expected"):
        read_labels(path, "val")


def test_duplicate_rows_are_reported(release_copy):
    path = release_copy / "fairface_label_val.csv"
    _rewrite_csv(path, lambda rows: rows.append(rows[1]))
    with pytest.raises(IngestError, match=r"'val/1.jpg' repeats line 2"):
        read_labels(path, "val")


def test_missing_image_is_named_and_nothing_written(release_copy, tmp_path):
    src = release_copy / "images.zip"
    pruned = release_copy / "pruned.zip"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(pruned, "w") as zout:
        for info in zin.infolist():
            if info.filename != "val/7.jpg":
                zout.writestr(info, zin.read(info))
    pruned.replace(src)
    with pytest.raises(IngestError, match=r"\(val/7.jpg\): listed in the labels but missing"):
        ingest_split(release_copy, "val", tmp_path / "v.parquet", tmp_path / "v.npy", 32)
    assert not (tmp_path / "v.parquet").exists() and not (tmp_path / "v.npy").exists()


def test_corrupt_jpeg_is_named(release_copy, tmp_path):
    src = release_copy / "images.zip"
    broken = release_copy / "broken.zip"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(broken, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            zout.writestr(info, data[:40] if info.filename == "val/3.jpg" else data)
    broken.replace(src)
    with pytest.raises(IngestError, match=r"\(val/3.jpg\): cannot decode image"):
        ingest_split(release_copy, "val", tmp_path / "v.parquet", tmp_path / "v.npy", 32)
    assert not list(tmp_path.glob("*.npy")) and not list(tmp_path.glob(".*tmp"))


@pytest.mark.parametrize(
    "name", ["../evil.jpg", "/etc/passwd", "val/../../x.jpg", "C:/x.jpg", "val\\..\\x.jpg"]
)
def test_unsafe_member_names_are_rejected(name):
    assert check_member(zipfile.ZipInfo(name)) is not None


def test_symlink_member_is_rejected():
    info = zipfile.ZipInfo("val/1.jpg")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    assert "symbolic link" in check_member(info)
    assert check_member(zipfile.ZipInfo("val/1.jpg")) is None


def _break_release(release):
    """One bad label, one missing image, one corrupt JPEG in val."""
    _rewrite_csv(release / "fairface_label_val.csv", lambda rows: rows[2].__setitem__(2, "X"))
    src, tmp = release / "images.zip", release / "edited.zip"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(tmp, "w") as zout:
        for info in zin.infolist():
            if info.filename == "val/7.jpg":
                continue
            data = zin.read(info)
            zout.writestr(info, data[:40] if info.filename == "val/3.jpg" else data)
    tmp.replace(src)


def test_bad_rows_fail_by_default_listing_each(release_copy, tmp_path):
    _break_release(release_copy)
    out = tmp_path / "out"
    with pytest.raises(IngestError) as err:
        ingest_split(release_copy, "val", out / "v.parquet", out / "v.npy", 32)
    msg = str(err.value)
    assert "fairface_label_val.csv:3 (val/2.jpg): unknown gender 'X'" in msg
    assert "(val/7.jpg): listed in the labels but missing" in msg
    assert "on_bad_rows: skip" in msg  # says how to go on
    assert not out.exists() or not list(out.iterdir())  # nothing written


def test_skip_drops_bad_rows_and_reports_them(release_copy, small_release, tmp_path):
    _break_release(release_copy)
    report = tmp_path / "rejected.csv"
    index = ingest_split(
        release_copy,
        "val",
        tmp_path / "v.parquet",
        tmp_path / "v.npy",
        32,
        on_bad_rows="skip",
        expect={"rows": 120},
        report=report,
        on_count_mismatch="note",
    )
    assert len(index) == 117 and not {"val/2.jpg", "val/3.jpg", "val/7.jpg"} & set(index["file"])
    assert list(index["row"]) == list(range(117))
    with open(report) as fh:
        rejected = list(csv.DictReader(fh))
    reasons = {r["file"]: r["reason"] for r in rejected if r["file"]}
    assert set(reasons) == {"val/2.jpg", "val/3.jpg", "val/7.jpg"}
    assert "cannot decode" in reasons["val/3.jpg"] and "unknown gender" in reasons["val/2.jpg"]
    assert any("117 rows; expected 120" in r["reason"] for r in rejected)
    # the cache rows still line up with the index: same pixels as a clean ingest of those files
    clean = ingest_split(small_release, "val", tmp_path / "c.parquet", tmp_path / "c.npy", 32)
    rows = clean.set_index("file").loc[index["file"], "row"].to_numpy()
    np.testing.assert_array_equal(np.load(tmp_path / "v.npy"), np.load(tmp_path / "c.npy")[rows])


def test_expected_counts_are_checked(small_release, tmp_path):
    ok = {"rows": 120, "gender": {"Male": None}}
    with pytest.raises(IngestError, match=r"120 rows; expected 121"):
        ingest_split(
            small_release,
            "val",
            tmp_path / "v.parquet",
            tmp_path / "v.npy",
            32,
            expect={"rows": 121},
        )
    assert not list(tmp_path.iterdir())
    index = ingest_split(small_release, "val", tmp_path / "v.parquet", tmp_path / "v.npy", 32)
    n_male = int((index["gender"] == "Male").sum())
    ok["gender"]["Male"] = n_male
    ingest_split(small_release, "val", tmp_path / "w.parquet", tmp_path / "w.npy", 32, expect=ok)
    with pytest.raises(
        IngestError, match=rf"{n_male} rows with gender 'Male'; expected {n_male + 1}"
    ):
        ingest_split(
            small_release,
            "val",
            tmp_path / "x.parquet",
            tmp_path / "x.npy",
            32,
            expect={"gender": {"Male": n_male + 1}},
        )
