import pytest

from clipfair.labels import AGES, GENDERS, RACES, alphabetical, code


def test_vocabularies_match_fairface():
    assert AGES == (
        "0-2",
        "3-9",
        "10-19",
        "20-29",
        "30-39",
        "40-49",
        "50-59",
        "60-69",
        "more than 70",
    )
    assert set(GENDERS) == {"Male", "Female"}
    assert len(RACES) == 7 and "Latino_Hispanic" in RACES


def test_alphabetical_is_the_seed_head_order():
    assert alphabetical("age")[:4] == ("0-2", "10-19", "20-29", "3-9")
    assert alphabetical("gender") == ("Female", "Male")
    assert alphabetical("race")[0] == "Black"


def test_code_names_vocabulary_on_unknown_label():
    assert code("race", "Indian") == RACES.index("Indian")
    with pytest.raises(ValueError, match=r"unknown gender label 'male'.*Male"):
        code("gender", "male")


def test_both_demo_crops_hold_the_same_faces_files_and_labels(tmp_path):
    """The demo's padding 1.25 release: same names and label CSVs as 0.25, the face smaller
    (its centre matches the 0.25 picture shrunk) and more background around it."""
    import io
    import zipfile

    import numpy as np
    from PIL import Image

    from clipfair.data.demo import write_demo_release

    for padding in ("0.25", "1.25"):
        write_demo_release(tmp_path / padding, 6, 3, 64, 0, 0.1, padding)
    a, b = (zipfile.ZipFile(tmp_path / p / "images.zip") for p in ("0.25", "1.25"))
    assert a.namelist() == b.namelist()
    for split in ("train", "val"):
        name = f"fairface_label_{split}.csv"
        assert (tmp_path / "0.25" / name).read_text() == (tmp_path / "1.25" / name).read_text()
    tight = Image.open(io.BytesIO(a.read("train/1.jpg")))
    wide = np.asarray(Image.open(io.BytesIO(b.read("train/1.jpg"))), dtype=np.float32)
    inner = round(64 * 1.5 / 3.5)
    at = (64 - inner) // 2
    shrunk = np.asarray(tight.resize((inner, inner), Image.Resampling.BILINEAR), np.float32)
    centre = wide[at : at + inner, at : at + inner]
    assert np.abs(centre - shrunk).mean() < 12  # JPEG noise only
    assert np.abs(wide - np.asarray(tight.resize((64, 64)), np.float32)).mean() > 20
