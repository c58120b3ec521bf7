"""The VGG-Face gender_classifier's verbs on the demo: VGG-Face .t7 -> train on Adience ->
evaluate -> classify."""

from __future__ import annotations

import re
import subprocess

import pytest

from clipfair.data.adience import parse_folds
from clipfair.models.vggface_gender import classify


def _cli(*args):
    proc = subprocess.run(["clipfair", *map(str, args)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("vgg")
    _cli("demo-adience", "--out", tmp / "adience", "--users", 100)
    _cli("vggface", "init", "--tiny", "-o", tmp / "VGG_FACE.t7")
    out = _cli(
        "vggface",
        "train",
        "-w",
        tmp / "VGG_FACE.t7",
        "-i",
        tmp / "adience",
        "-o",
        tmp / "model.safetensors",
        "-e",
        5,
        "-b1",
        32,
        "-b2",
        64,
        "-m",
        "high",
    )
    return tmp, out


@pytest.mark.slow
def test_train_evaluate_classify_above_chance(trained):
    tmp, out = trained
    assert "epoch 5:" in out and "validated on" in out
    report = _cli("vggface", "evaluate", "-m", tmp / "model.safetensors", "-i", tmp / "adience")
    acc = {
        s: float(a)
        for s, a in re.findall(r"(\w+): \d+ faces, loss [\d.]+, accuracy ([\d.]+)", report)
    }
    assert set(acc) == {"val", "train"} and acc["val"] > 0.7, report  # chance: 0.5
    folds, _, _ = parse_folds(tmp / "adience")
    val = folds[folds["fold"] == 4].head(40)
    model = tmp / "model.safetensors"
    for row in val.head(2).itertuples():  # the command line, printed as the seed prints it
        line = _cli("vggface", "classify", "-m", model, "-i", tmp / "adience" / row.file)
        label, value = re.fullmatch(
            r"output class is (female|male)\. \(sigmoid value=([\d.e-]+)\)\n", line
        ).groups()
        assert (label == "male") == (float(value) > 0.5)
        assert classify(model, tmp / "adience" / row.file) == (label, pytest.approx(float(value)))
    right = sum(
        classify(model, tmp / "adience" / row.file)[0] == row.gender.lower()
        for row in val.itertuples()
    )
    assert right >= 26  # of 40; chance is 20


@pytest.mark.slow
def test_low_memory_mode_streams_from_disk(trained, tmp_path):
    tmp, _ = trained
    out = _cli(
        "vggface",
        "train",
        "-w",
        tmp / "VGG_FACE.t7",
        "-i",
        tmp / "adience",
        "-o",
        tmp_path / "low.safetensors",
        "-e",
        1,
        "-b1",
        16,
        "-b2",
        16,
        "-m",
        "low",
    )
    assert "epoch 1:" in out and (tmp_path / "low.safetensors").is_file()


def test_missing_weights_are_one_clear_line(tmp_path):
    proc = subprocess.run(
        [
            "clipfair",
            "vggface",
            "train",
            "-w",
            tmp_path / "nope.t7",
            "-i",
            tmp_path,
            "-o",
            tmp_path / "m.safetensors",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0 and "nope.t7 do not exist" in proc.stderr
    assert "Traceback" not in proc.stderr
