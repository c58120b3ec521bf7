"""VGG-Face: torch7 import layer by layer, through real .t7 files written here."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchfile

from clipfair.models.t7 import TorchModule, write_t7
from clipfair.models.vggface import (
    TINY,
    GenderTransfer,
    VGGFace,
    load_t7,
    preprocess,
    save_t7,
    to_t7,
)


@pytest.fixture(scope="module")
def t7_file(tmp_path_factory):
    torch.manual_seed(0)
    model = VGGFace(TINY).eval()
    path = tmp_path_factory.mktemp("t7") / "VGG_FACE.t7"
    save_t7(model, path)
    return model, path


def test_t7_file_has_the_releases_layer_list(t7_file):
    _, path = t7_file
    net = torchfile.load(str(path))
    kinds = [m.torch_typename().decode() for m in net.modules]
    assert net.torch_typename() == b"nn.Sequential"
    assert kinds.count("nn.SpatialConvolutionMM") == 13 and kinds.count("nn.Linear") == 3
    assert kinds.count("nn.SpatialMaxPooling") == 5 and kinds[-1] == "nn.SoftMax"
    assert kinds.index("nn.View") == 31  # conv/relu x 13 + 5 pools come first
    assert net.modules[0].weight.shape == (8, 27)  # MM convolutions store (out, in*3*3)


def test_import_round_trip_is_exact(t7_file):
    model, path = t7_file
    loaded = load_t7(path, TINY)
    for (name, a), b in zip(model.state_dict().items(), loaded.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def test_forward_matches_a_reference_computed_from_the_t7_arrays(t7_file):
    """The imported network against F.conv2d / F.linear applied straight to torchfile's arrays."""
    _, path = t7_file
    loaded = load_t7(path, TINY)
    x = preprocess(torch.randint(0, 256, (2, 80, 80, 3), dtype=torch.uint8), TINY.image_size)
    h = x
    for m in torchfile.load(str(path)).modules:
        kind = m.torch_typename().decode()
        if kind == "nn.SpatialConvolutionMM":
            w = torch.from_numpy(np.array(m.weight)).view(
                int(m.nOutputPlane), int(m.nInputPlane), 3, 3
            )
            h = F.conv2d(h, w, torch.from_numpy(np.array(m.bias)), padding=1)
        elif kind == "nn.ReLU":
            h = F.relu(h)
        elif kind == "nn.SpatialMaxPooling":
            h = F.max_pool2d(h, 2, 2)
        elif kind == "nn.View":
            h = h.flatten(1)
        elif kind == "nn.Linear":
            h = F.linear(
                h, torch.from_numpy(np.array(m.weight)), torch.from_numpy(np.array(m.bias))
            )
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), h, rtol=1e-5, atol=1e-5)


def test_preprocess_subtracts_the_rgb_mean_then_reorders_to_bgr():
    # the release's mean pixel is (R, G, B) = (129.1863, 104.7624, 93.5940): an image whose
    # every pixel is that colour (to the nearest grey level) must come out as ~zero input
    img = torch.empty(1, 4, 4, 3, dtype=torch.uint8)
    img[..., 0], img[..., 1], img[..., 2] = 129, 105, 94
    x = preprocess(img, 4)
    assert x.abs().max().item() < 0.5
    # one plane at a time: red minus the red mean lands in the last (BGR) channel
    img = torch.zeros(1, 4, 4, 3, dtype=torch.uint8)
    img[..., 0] = 200  # red
    x = preprocess(img, 4)
    assert x[0, 2].mean().item() == pytest.approx(200 - 129.1863)  # R - mean R, last in BGR
    assert x[0, 1].mean().item() == pytest.approx(-104.7624)  # G
    assert x[0, 0].mean().item() == pytest.approx(-93.5940)  # B - mean B, first in BGR


def test_wrong_file_names_the_layer(t7_file, tmp_path):
    model, _ = t7_file
    net = to_t7(model)
    net.fields["modules"][2] = TorchModule(
        "nn.SpatialConvolutionMM",
        {"weight": np.zeros((8, 10), np.float32), "bias": np.zeros(8, np.float32)},
    )
    write_t7(net, tmp_path / "bad.t7")
    with pytest.raises(
        ValueError, match=r"layer 1 \(nn.SpatialConvolutionMM\) has weight \(8, 10\)"
    ):
        load_t7(tmp_path / "bad.t7", TINY)
    with pytest.raises(ValueError, match=r"has 13 layers with weights|16 layers"):
        load_t7(
            tmp_path / "bad.t7",
            TINY.__class__(
                channels=(8, 16), convs_per_block=(2, 2), fc=8, n_classes=2, image_size=16
            ),
        )
    (tmp_path / "junk.t7").write_bytes(b"\x07\x00\x00\x00junk")
    with pytest.raises(ValueError, match="not a readable torch7 file"):
        load_t7(tmp_path / "junk.t7", TINY)


def test_transfer_model_freezes_the_bottom_layers(t7_file):
    model, _ = t7_file
    transfer = GenderTransfer(model, keep_layers=31, hidden=16)
    assert len(transfer.base) == 31 and isinstance(transfer.base[-1], torch.nn.MaxPool2d)
    assert not any(p.requires_grad for p in transfer.base.parameters())
    assert all(p.requires_grad for p in transfer.head.parameters())
    x = preprocess(torch.randint(0, 256, (3, 64, 64, 3), dtype=torch.uint8), TINY.image_size)
    assert transfer(x).shape == (3,)


def test_widths_are_read_from_the_file(t7_file):
    _, path = t7_file
    assert load_t7(path).config == TINY


def test_kept_base_features_train_the_same_head_as_running_the_base_every_epoch(t7_file, tmp_path):
    """The frozen base's output is computed once and kept (when it fits the budget): the
    history and weights equal those of running the base on every batch of every epoch."""
    from safetensors.torch import load_file

    from clipfair.data.adience import write_demo_adience
    from clipfair.models.vggface import load_t7
    from clipfair.models.vggface_gender import fit, split_faces

    _, path = t7_file
    write_demo_adience(tmp_path / "adience", 20, 6, 64, 0)
    base = load_t7(path)
    data = split_faces(tmp_path / "adience", [4], base.config.image_size, "high")
    settings = dict(epochs=3, batch_train=16, batch_val=32, keep_layers=31, hidden=16)
    runs = {}
    for budget in (0, 1024):
        out = tmp_path / f"{budget}.safetensors"
        runs[budget] = fit(base, data, out, **settings, lr=1e-3, seed=0, feature_cache_mb=budget)
    assert not runs[0]["base_features_cached"] and runs[1024]["base_features_cached"]
    for a, b in zip(runs[0]["history"], runs[1024]["history"], strict=True):
        assert a == pytest.approx(b, rel=1e-4, abs=1e-5)
    weights = [load_file(tmp_path / f"{budget}.safetensors") for budget in (0, 1024)]
    for key in weights[0]:
        torch.testing.assert_close(weights[0][key], weights[1][key], rtol=1e-4, atol=1e-5)


def test_scoring_from_the_kept_base_features_equals_running_the_base(t7_file, tmp_path):
    """transfer_job scores the val split it trained on from the base's features kept during
    training: the same scores as running the base over the images again."""
    import pandas as pd

    from clipfair.models.vggface_gender import (
        FaceBatches,
        TransferSettings,
        frozen_features,
        load_transfer,
        score_cache,
        transfer_job,
    )

    _, t7 = t7_file
    rng = np.random.default_rng(0)
    splits = {}
    for split, n in (("train", 40), ("val", 24)):
        index, images = tmp_path / f"{split}.parquet", tmp_path / f"{split}_images.npy"
        pd.DataFrame(
            {"file": [f"{split}/{i}.jpg" for i in range(n)],
             "gender": rng.choice(["Female", "Male"], n)}
        ).to_parquet(index)  # fmt: skip
        np.save(images, rng.integers(0, 256, (n, 64, 64, 3), dtype=np.uint8))
        splits[split] = (index, images)
    settings = TransferSettings(epochs=2, lr=1e-3, batch_train=16, batch_val=8, hidden=16,
                                keep_layers=31, memory="low", device="cpu")  # fmt: skip
    model_path = tmp_path / "model.safetensors"
    scores = [(*splits["val"], tmp_path / "val_scores.parquet"),
              (*splits["train"], tmp_path / "train_scores.parquet")]  # fmt: skip
    out = transfer_job(t7, splits["train"], splits["val"], settings, model_path,
                       tmp_path / "history.json", scores, seed=0)  # fmt: skip
    assert [reused for _, _, reused in out["scored"]] == [True, False]

    data = FaceBatches.from_cache(*splits["val"], "low")
    again = score_cache(model_path, *splits["val"], tmp_path / "again.parquet", batch_size=8)
    kept = pd.read_parquet(tmp_path / "val_scores.parquet")
    pd.testing.assert_frame_equal(kept, again, rtol=1e-5, atol=1e-6)
    feats = frozen_features(load_transfer(model_path), data, 8)
    with pytest.raises(ValueError, match=r"23 base features for 24 images of .*val\.parquet"):
        score_cache(model_path, *splits["val"], tmp_path / "x.parquet", base_features=feats[1:])
