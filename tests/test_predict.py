"""`clipfair predict`: a fine-tuned model on photos, with and without face detection."""

from __future__ import annotations

import json
import subprocess
import zipfile

import matplotlib.cbook
import numpy as np
import pytest
import torch
from PIL import Image

from clipfair.data.ingest import ingest_split
from clipfair.labels import VOCAB
from clipfair.models.backbone import load_open_clip
from clipfair.models.finetune import FinetuneConfig, finetune, predict_scores, save_model

from .conftest import ROOT

CONFIG_DIR = ROOT / "workflow" / "models"
# A real photograph with one face, shipped with matplotlib (public domain).
GRACE_HOPPER = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)


@pytest.fixture(scope="module")
def trained(small_release, tmp_path_factory):
    """A tiny open_clip tower fine-tuned with the three heads, saved as the pipeline does."""
    tmp = tmp_path_factory.mktemp("predict")
    train = ingest_split(small_release, "train", tmp / "t.parquet", tmp / "t.npy", 32)
    val = ingest_split(small_release, "val", tmp / "v.parquet", tmp / "v.npy", 32)
    torch.manual_seed(0)
    spec = {"library": "open_clip", "model": "tiny-clip-vit", "config_dir": str(CONFIG_DIR)}
    backbone = load_open_clip("tiny-clip-vit", None, config_dir=CONFIG_DIR)
    config = FinetuneConfig(tasks=["age", "gender", "race"], epochs=1, lr=1e-3, batch_size=64)
    model, _ = finetune(backbone, train, np.load(tmp / "t.npy"), config, tmp / "ckpt")
    save_model(model, tmp / "model.safetensors", {"backbone": spec, "datasource": {}})
    scores = predict_scores(model, backbone, np.load(tmp / "v.npy"))
    crops = tmp / "crops"
    crops.mkdir()
    with zipfile.ZipFile(small_release / "images.zip") as zf:
        for name in val["file"][:12]:
            (crops / name.split("/")[1]).write_bytes(zf.read(name))
    return tmp / "model.safetensors", val, scores, crops


def _predict(*args):
    proc = subprocess.run(["clipfair", "predict", *map(str, args)], capture_output=True, text=True)
    return proc


def test_face_crops_get_the_pipelines_probabilities(trained):
    model, val, scores, crops = trained
    proc = _predict(model, crops, "--no-detect", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["file"].split("/")[-1]: r for r in json.loads(proc.stdout)}
    assert len(rows) == 12 and all(r["status"] == "ok" for r in rows.values())
    for i, name in enumerate(val["file"][:12]):
        row = rows[name.split("/")[1]]
        for task in VOCAB:
            probs = [row["probabilities"][task][label] for label in VOCAB[task]]
            np.testing.assert_allclose(probs, scores[task][i], atol=1e-5)
            assert row["labels"][task] == VOCAB[task][int(np.argmax(scores[task][i]))]


def test_detection_reports_every_file(trained, tmp_path):
    model = trained[0]
    photo = Image.open(GRACE_HOPPER).convert("RGB")
    two = Image.new("RGB", (photo.width * 2, photo.height))
    two.paste(photo, (0, 0))
    two.paste(photo, (photo.width, 0))
    two.save(tmp_path / "two.jpg")
    Image.new("RGB", (300, 300), (128, 128, 128)).save(tmp_path / "blank.jpg")
    (tmp_path / "broken.jpg").write_text("not a picture")
    proc = _predict(
        model,
        GRACE_HOPPER,
        tmp_path / "two.jpg",
        tmp_path / "blank.jpg",
        tmp_path / "broken.jpg",
        "--json",
    )
    assert proc.returncode == 1 and "1 of 5 inputs failed" in proc.stderr  # broken.jpg
    rows = json.loads(proc.stdout)
    by_file: dict[str, list[dict]] = {}
    for r in rows:
        by_file.setdefault(r["file"].split("/")[-1], []).append(r)
    (one,) = by_file["grace_hopper.jpg"]
    assert one["status"] == "ok" and one["faces_in_file"] == 1 and one["detection_prob"] > 0.9
    x1, y1, x2, y2 = one["box"]
    assert 100 < x1 < x2 < 420 and 50 < y1 < y2 < 420  # the face, not the whole picture
    assert set(one["labels"]) == {"age", "gender", "race"}
    assert len(by_file["two.jpg"]) == 2 and all(
        r["message"] == "several faces" for r in by_file["two.jpg"]
    )
    assert by_file["blank.jpg"][0]["status"] == "no_face"
    assert by_file["broken.jpg"][0]["status"] == "error"
    assert "cannot read image" in by_file["broken.jpg"][0]["message"]
    table = _predict(model, GRACE_HOPPER, tmp_path / "blank.jpg")  # the human-readable form
    assert table.returncode == 0 and "no face found" in table.stdout and "1/1" in table.stdout


def test_nothing_predictable_exits_non_zero(trained, tmp_path):
    (tmp_path / "broken.jpg").write_text("not a picture")
    proc = _predict(trained[0], tmp_path / "broken.jpg", tmp_path / "missing.jpg")
    assert proc.returncode == 1 and "cannot read image" in proc.stdout


def test_bad_files_are_reported_and_the_rest_predicted(trained, tmp_path):
    model, _, _, crops = trained
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no pictures here")
    Image.new("1", (14000, 14000)).save(tmp_path / "bomb.png")  # 196 Mpixel, a few kB
    good = sorted(crops.iterdir())[0]
    (tmp_path / "cut.jpg").write_bytes(good.read_bytes()[:300])  # a truncated JPEG
    proc = _predict(model, empty, tmp_path / "bomb.png", tmp_path / "cut.jpg", good)
    proc_json = _predict(
        model, empty, tmp_path / "bomb.png", tmp_path / "cut.jpg", good, "--no-detect", "--json"
    )
    assert proc.returncode == 1 and proc_json.returncode == 1
    rows = {r["file"].split("/")[-1]: r for r in json.loads(proc_json.stdout)}
    assert rows["empty"]["status"] == "error"
    assert "no images found in folder" in rows["empty"]["message"]
    assert ".jpg" in rows["empty"]["message"] and ".png" in rows["empty"]["message"]
    assert rows["bomb.png"]["status"] == "error" and "too large" in rows["bomb.png"]["message"]
    assert rows["cut.jpg"]["status"] == "error"
    assert rows[good.name]["status"] == "ok"  # the good file after the bad ones
    assert "3 of 4 inputs failed" in proc_json.stderr


def test_a_model_saved_with_relative_paths_predicts_from_another_folder(
    trained, tmp_path, monkeypatch
):
    from clipfair.models.finetune import load_model

    path, val, scores, crops = trained
    model, _ = load_model(path)
    monkeypatch.chdir(ROOT)  # as the pipeline runs: paths relative to the repository
    spec = {"library": "open_clip", "model": "tiny-clip-vit", "config_dir": "workflow/models"}
    out = tmp_path / "elsewhere" / "model.safetensors"
    save_model(model, out, {"backbone": spec, "datasource": {}})
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    proc = subprocess.run(
        ["clipfair", "predict", str(out), str(crops), "--no-detect", "--json"],
        capture_output=True,
        text=True,
        cwd=elsewhere,
    )
    assert proc.returncode == 0, proc.stderr
    rows = {r["file"].split("/")[-1]: r for r in json.loads(proc.stdout)}
    first = val["file"][0].split("/")[1]
    probs = [rows[first]["probabilities"]["race"][label] for label in VOCAB["race"]]
    np.testing.assert_allclose(probs, scores["race"][0], atol=1e-5)
