import csv
import hashlib
import zipfile

from clipfair.data.demo import write_demo_release
from clipfair.data.layout import CSV_HEADER
from clipfair.labels import VOCAB


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_release_has_fairface_format_and_all_classes(small_release):
    with zipfile.ZipFile(small_release / "images.zip") as zf:
        names = set(zf.namelist())
    for split, n in (("train", 300), ("val", 120)):
        with open(small_release / f"fairface_label_{split}.csv", newline="") as fh:
            rows = list(csv.reader(fh))
        assert tuple(rows[0]) == CSV_HEADER
        body = rows[1:]
        assert len(body) == n
        assert [r[0] for r in body] == [f"{split}/{i}.jpg" for i in range(1, n + 1)]
        assert all(r[0] in names for r in body)
        for col, task in ((1, "age"), (2, "gender"), (3, "race")):
            assert {r[col] for r in body} == set(VOCAB[task])


def test_release_is_deterministic(tmp_path):
    write_demo_release(tmp_path / "a", 60, 30, 32, seed=7)
    write_demo_release(tmp_path / "b", 60, 30, 32, seed=7)
    write_demo_release(tmp_path / "c", 60, 30, 32, seed=8)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_images_are_real_jpegs(small_release):
    with zipfile.ZipFile(small_release / "images.zip") as zf:
        data = zf.read("val/1.jpg")
    assert data[:3] == b"\xff\xd8\xff"
