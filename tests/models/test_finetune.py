"""Fine-tuned heads (seeds 000/001) on real tiny open_clip and transformers vision towers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors import safe_open

from clipfair.data.ingest import ingest_split
from clipfair.labels import VOCAB
from clipfair.models.backbone import load_backbone, load_open_clip
from clipfair.models.finetune import (
    FinetuneConfig,
    classifier_for,
    finetune,
    predict_scores,
    save_model,
)

from ..conftest import ROOT, tiny_open_clip_and_hf

CONFIG_DIR = ROOT / "workflow" / "models"


@pytest.fixture(scope="module")
def data(small_release, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ft")
    train = ingest_split(small_release, "train", tmp / "t.parquet", tmp / "t.npy", 64)
    val = ingest_split(small_release, "val", tmp / "v.parquet", tmp / "v.npy", 64)
    return train, np.load(tmp / "t.npy"), val, np.load(tmp / "v.npy")


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory):
    """A tiny transformers CLIPModel folder (random weights, converted from open_clip)."""
    return tiny_open_clip_and_hf(tmp_path_factory.mktemp("hf"))[1]


def _open_clip():
    torch.manual_seed(0)
    return load_open_clip("tiny-clip-vit", None, config_dir=CONFIG_DIR)


def _hf(folder):
    return load_backbone(
        {"library": "transformers", "model": "CLIPModel"}, {}, checkpoint=str(folder)
    )


CFG = dict(epochs=2, lr=1e-3, batch_size=64, trainable_blocks=3, seed=0)


def test_only_the_last_blocks_and_heads_train(hf_folder):
    model = classifier_for(_hf(hf_folder), ["age", "gender", "race"])
    assert len(model.blocks()) == 2

    def trainable(last_blocks: int) -> tuple[set[str], set[str]]:
        model.set_trainable(last_blocks)
        names = {n for n, p in model.named_parameters() if p.requires_grad}
        blocks = {n.split(".")[3] for n in names if ".encoder.layers." in n}
        return names, blocks

    names, blocks = trainable(1)
    assert {f"{t}_head.weight" for t in ("age", "gender", "race")} <= names
    assert blocks == {"1"}  # of 2 blocks: the last
    assert not any("embeddings" in n for n in names)
    assert trainable(3)[1] == {"0", "1"}  # more than the tower has: all of them
    assert trainable(0)[1] == set()


def test_seed_000_card_loads_our_checkpoint_with_identical_logits(hf_folder, data, tmp_path):
    train, train_images, _, val_images = data
    backbone = _hf(hf_folder)
    model, _ = finetune(
        backbone, train, train_images, FinetuneConfig(tasks=["gender"], **CFG), tmp_path / "ckpt"
    )
    save_model(model, tmp_path / "model.safetensors")

    # --- the gender-classification-clip card's code, with the base model read from our folder
    import torch.nn as nn
    from safetensors.torch import load_file
    from transformers import AutoModel

    class GenderClipVisionModel(nn.Module):
        def __init__(self, num_labels):
            super().__init__()
            self.vision_model = AutoModel.from_pretrained(str(hf_folder)).vision_model
            hidden_size = self.vision_model.config.hidden_size
            self.gender_head = nn.Linear(hidden_size, num_labels)

        def forward(self, pixel_values):
            outputs = self.vision_model(pixel_values=pixel_values)
            pooled_output = outputs.pooler_output
            return self.gender_head(pooled_output)

    card = GenderClipVisionModel(num_labels=2)
    state_dict = load_file(str(tmp_path / "model.safetensors"), device="cpu")
    card.load_state_dict(state_dict, strict=False)
    card.eval()
    # ----------------------------------------------------------------------------------
    pixels = backbone.preprocess(torch.from_numpy(val_images[:16]))
    with torch.no_grad():
        torch.testing.assert_close(card(pixels), model(pixels)["gender"], rtol=0, atol=0)
    with safe_open(str(tmp_path / "model.safetensors"), "pt") as fh:
        labels = json.loads(fh.metadata()["labels"])
    assert labels == {"gender": ["Female", "Male"]}  # alphabetical, as the card's id2label


class _Stop(Exception):
    pass


def test_interrupted_fine_tune_resumes_to_the_same_result(data, tmp_path):
    train, train_images, _, val_images = data
    config = FinetuneConfig(tasks=["age", "gender", "race"], **CFG)

    def stop_after_first(epoch):
        if epoch == 1:
            raise _Stop

    with pytest.raises(_Stop):
        finetune(_open_clip(), train, train_images, config, tmp_path / "b", stop_after_first)
    assert [p.name for p in (tmp_path / "b").glob("epoch_*")] == ["epoch_001.safetensors"]
    backbone = _open_clip()
    resumed, history = finetune(backbone, train, train_images, config, tmp_path / "b")
    straight_backbone = _open_clip()
    straight, straight_history = finetune(
        straight_backbone, train, train_images, config, tmp_path / "a"
    )
    assert history == straight_history and len(history) == 2
    for (k, a), (_, b) in zip(
        resumed.state_dict().items(), straight.state_dict().items(), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=k)
    sa = predict_scores(resumed, backbone, val_images)
    sb = predict_scores(straight, straight_backbone, val_images)
    for task in VOCAB:
        np.testing.assert_array_equal(sa[task], sb[task])
        assert sa[task].shape == (len(val_images), len(VOCAB[task]))
        np.testing.assert_allclose(sa[task].sum(1), 1.0, rtol=1e-5)


def test_checkpoints_of_another_config_are_not_resumed(data, tmp_path):
    train, train_images, _, _ = data
    one = FinetuneConfig(tasks=["gender"], **{**CFG, "epochs": 1})
    finetune(_open_clip(), train, train_images, one, tmp_path / "c")
    other = FinetuneConfig(tasks=["gender"], **{**CFG, "epochs": 1, "lr": 5e-4})
    _, history = finetune(_open_clip(), train, train_images, other, tmp_path / "c")
    assert len(history) == 1  # trained again from the start, not "already done"
    assert json.loads((tmp_path / "c" / "manifest.json").read_text())["config"]["lr"] == 5e-4


def _run_card(folder, monkeypatch):
    """Execute the loading code of the README beside an export, from the export's folder."""
    from clipfair.models.export import card_python

    monkeypatch.chdir(folder)
    namespace: dict = {}
    exec(compile(card_python(folder / "README.md"), str(folder / "README.md"), "exec"), namespace)
    return namespace["model"]


def test_transformers_export_loads_with_its_cards_code(hf_folder, data, tmp_path, monkeypatch):
    train, train_images, _, val_images = data
    backbone = _hf(hf_folder)
    tasks = ["age", "gender", "race"]
    cfg = FinetuneConfig(tasks=tasks, **{**CFG, "epochs": 1})
    model, _ = finetune(backbone, train, train_images, cfg, tmp_path / "ckpt")
    out = tmp_path / "export"
    save_model(model, out / "model.safetensors", {"checkpoint": str(hf_folder)}, backbone)
    with safe_open(str(out / "model.safetensors"), "pt") as fh:
        keys = set(fh.keys())
    assert {k.split(".")[0] for k in keys} == {
        "vision_model",
        "age_head",
        "gender_head",
        "race_head",
    }
    card = _run_card(out, monkeypatch)  # strict=True inside: no key missing or extra
    pixels = backbone.preprocess(torch.from_numpy(val_images[:8]))
    with torch.no_grad():
        ours, theirs = model(pixels), card(pixels)
    for task in tasks:
        torch.testing.assert_close(theirs[task], ours[task], rtol=0, atol=0)
    assert card.gender_head.in_features == hf_folder_hidden(hf_folder)  # pooler_output width


def hf_folder_hidden(folder):
    return json.loads((folder / "config.json").read_text())["vision_config"]["hidden_size"]


def test_open_clip_export_loads_with_open_clip_code(data, tmp_path, monkeypatch):
    train, train_images, _, val_images = data
    backbone = _open_clip()
    cfg = FinetuneConfig(tasks=["gender", "race"], **{**CFG, "epochs": 1})
    model, _ = finetune(backbone, train, train_images, cfg, tmp_path / "ckpt")
    spec = {"library": "open_clip", "model": "tiny-clip-vit", "config_dir": str(CONFIG_DIR)}
    out = tmp_path / "export"
    save_model(model, out / "model.safetensors", {"backbone": spec, "datasource": {}}, backbone)
    with safe_open(str(out / "model.safetensors"), "pt") as fh:
        keys = set(fh.keys())
    assert {k.split(".")[0] for k in keys} == {"visual", "gender_head", "race_head"}
    card = _run_card(out, monkeypatch)
    assert card.race_head.in_features == backbone.model.visual.output_dim  # projected output
    pixels = backbone.preprocess(torch.from_numpy(val_images[:8]))
    with torch.no_grad():
        ours, theirs = model(pixels), card(pixels)
    for task in ("gender", "race"):
        torch.testing.assert_close(theirs[task], ours[task], rtol=0, atol=0)
    # the card's own preprocessing (open_clip's transform) matches the pipeline's on a face
    from PIL import Image

    face = Image.fromarray(np.asarray(val_images[0]))
    torch.testing.assert_close(
        card.preprocess(face)[None],
        backbone.preprocess(torch.from_numpy(val_images[:1])),
        rtol=0,
        atol=0.05,
    )


def test_a_retrained_base_checkpoint_restarts_the_fine_tune(data, tmp_path, capsys):
    from safetensors.torch import save_file

    train, train_images, _, _ = data
    ckpt = tmp_path / "base.safetensors"

    def base(seed):
        torch.manual_seed(seed)
        model = load_open_clip("tiny-clip-vit", None, config_dir=CONFIG_DIR).model
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(ckpt))
        return load_open_clip("tiny-clip-vit", str(ckpt), config_dir=CONFIG_DIR)

    config = FinetuneConfig(tasks=["gender"], **CFG)

    def stop_after_first(epoch):
        raise _Stop

    with pytest.raises(_Stop):
        finetune(base(0), train, train_images, config, tmp_path / "ft", stop_after_first)
    _, history = finetune(base(1), train, train_images, config, tmp_path / "ft")
    assert len(history) == 2  # both epochs trained again, on the new weights
    err = capsys.readouterr().err
    assert "restarting" in err and "weights_sha256" in err
