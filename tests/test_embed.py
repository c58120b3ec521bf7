"""The embedding pipeline: same numbers as the naive per-JPEG loop, resumable, loader-agnostic."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from clipfair.bench.embed import naive_loop, write_jpegs
from clipfair.data.ingest import decode_image
from clipfair.embed import EmbedSettings, embed_images
from clipfair.io import write_parquet
from clipfair.models.backbone import load_open_clip

from .conftest import ROOT

CONFIG_DIR = ROOT / "workflow" / "models"


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    """40 FairFace-size JPEGs, their uint8 cache and index, as ingest writes them."""
    tmp = tmp_path_factory.mktemp("split")
    files = write_jpegs(tmp / "jpegs", 40, size=224, seed=3)
    cache = np.stack([decode_image(p.read_bytes(), p.name, 224) for p in files])
    np.save(tmp / "images.npy", cache)
    write_parquet(tmp / "index.parquet", pd.DataFrame({"file": [p.name for p in files]}))
    return tmp, files


@pytest.fixture(scope="module")
def backbone():
    torch.manual_seed(0)
    return load_open_clip("tiny-clip-vit", None, config_dir=CONFIG_DIR)


def _embed(backbone, split, out, **settings):
    tmp, _ = split
    return embed_images(
        backbone, tmp / "index.parquet", tmp / "images.npy", out, EmbedSettings(**settings)
    )


def test_pipeline_matches_the_naive_per_image_loop(backbone, split, tmp_path):
    _, files = split
    naive, _ = naive_loop(backbone, files)
    _embed(backbone, split, tmp_path / "e.npy", batch_size=16)
    fast = np.load(tmp_path / "e.npy")
    cosine = (naive * fast).sum(1)
    assert cosine.min() >= 0.999, cosine.min()


def test_loader_workers_and_batch_size_do_not_change_the_result(backbone, split, tmp_path):
    _embed(backbone, split, tmp_path / "a.npy", batch_size=7, workers=0, shard_size=16)
    meta = _embed(backbone, split, tmp_path / "b.npy", batch_size=16, workers=2)
    np.testing.assert_allclose(
        np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"), rtol=0, atol=1e-5
    )
    run = meta["run"]
    assert run["workers"] == 2 and run["images_encoded"] == 40
    assert 0 <= run["loader_wait_share"] <= 1 and run["peak_rss_mb"] > 0


class _CrashAfter:
    """The real model, with a crash injected after ``n`` batches (an interrupted job)."""

    def __init__(self, backbone, n):
        self.backbone, self.left = backbone, n

    def __getattr__(self, name):
        return getattr(self.backbone, name)

    def encode_pixels(self, pixels):
        if self.left == 0:
            raise KeyboardInterrupt("simulated interruption")
        self.left -= 1
        return self.backbone.encode_pixels(pixels)


def test_interrupted_embed_resumes_from_its_last_shard(backbone, split, tmp_path):
    out = tmp_path / "e.npy"
    with pytest.raises(KeyboardInterrupt):  # 3 batches of 8 = one shard of 16 done, then crash
        _embed(_CrashAfter(backbone, 3), split, out, batch_size=8, shard_size=16)
    assert not out.exists()
    shards = sorted(p.name for p in (tmp_path / "e.npy.shards").glob("*.npy"))
    assert shards == ["000000000.npy"]
    meta = _embed(backbone, split, out, batch_size=8, shard_size=16)
    assert meta["run"]["resumed_shards"] == 1 and meta["run"]["images_encoded"] == 24
    assert not (tmp_path / "e.npy.shards").exists()
    _embed(backbone, split, tmp_path / "whole.npy", batch_size=8, shard_size=16)
    np.testing.assert_array_equal(np.load(out), np.load(tmp_path / "whole.npy"))
    assert json.loads(out.with_suffix(".json").read_text())["n"] == 40


def test_shards_of_another_model_are_not_reused(backbone, split, tmp_path):
    out = tmp_path / "e.npy"
    with pytest.raises(KeyboardInterrupt):
        _embed(_CrashAfter(backbone, 2), split, out, batch_size=8, shard_size=16)
    torch.manual_seed(1)
    other = load_open_clip("tiny-clip-vit", None, config_dir=CONFIG_DIR)
    other.description = {**other.description, "pretrained": "another.safetensors"}
    meta = _embed(other, split, out, batch_size=8, shard_size=16)
    assert meta["run"]["resumed_shards"] == 0 and meta["run"]["images_encoded"] == 40


def test_bf16_autocast_path_stays_close_to_fp32(split, tmp_path):
    """The GPU precision setting, run on the CPU: the same embeddings up to bf16 rounding."""
    torch.manual_seed(0)
    fp32 = load_open_clip("tiny-clip-vit", None, config_dir=CONFIG_DIR)
    torch.manual_seed(0)
    bf16 = load_open_clip("tiny-clip-vit", None, config_dir=CONFIG_DIR)
    bf16.configure_inference("bf16")
    assert bf16.precision == "bf16" and fp32.precision == "fp32"
    a = _embed(fp32, split, tmp_path / "a.npy")
    b = _embed(bf16, split, tmp_path / "b.npy")
    assert b["run"]["precision"] == "bf16" and a["run"]["precision"] == "fp32"
    cosine = (np.load(tmp_path / "a.npy") * np.load(tmp_path / "b.npy")).sum(1)
    assert cosine.min() > 0.99
    with pytest.raises(ValueError, match="precision must be one of"):
        bf16.configure_inference("int4")


def _saved_model(seed, path):
    """A tiny open_clip model with weights of ``seed``, saved to ``path`` and loaded from it."""
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    model = load_open_clip("tiny-clip-vit", None, config_dir=CONFIG_DIR).model
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return load_open_clip("tiny-clip-vit", str(path), config_dir=CONFIG_DIR)


def test_retrained_checkpoint_at_the_same_path_restarts_the_shards(split, tmp_path, capsys):
    """Issue 18: resume by what the weights contain, not by their path."""
    ckpt = tmp_path / "weights.safetensors"
    out = tmp_path / "e.npy"
    with pytest.raises(KeyboardInterrupt):
        _embed(_CrashAfter(_saved_model(0, ckpt), 2), split, out, batch_size=8, shard_size=16)
    assert (tmp_path / "e.npy.shards" / "000000000.npy").exists()
    retrained = _saved_model(1, ckpt)  # same path, other content
    meta = _embed(retrained, split, out, batch_size=8, shard_size=16)
    err = capsys.readouterr().err
    assert "restarting" in err and "e.npy.shards" in err and "weights_sha256" in err
    assert meta["run"]["resumed_shards"] == 0 and meta["run"]["images_encoded"] == 40
    assert meta["backbone"]["weights_sha256"] == retrained.description["weights_sha256"]
    assert meta["inputs"]["images"]["sha256"] and meta["inputs"]["index"]["sha256"]
    _embed(retrained, split, tmp_path / "fresh.npy", batch_size=8, shard_size=16)
    np.testing.assert_array_equal(np.load(out), np.load(tmp_path / "fresh.npy"))


def test_a_truncated_shard_is_redone_and_a_truncated_output_is_named(
    backbone, split, tmp_path, capsys
):
    from clipfair.embedding_files import EmbeddingFileError, load_image_embeddings

    out = tmp_path / "e.npy"
    with pytest.raises(KeyboardInterrupt):
        _embed(_CrashAfter(backbone, 3), split, out, batch_size=8, shard_size=16)
    shard = tmp_path / "e.npy.shards" / "000000000.npy"
    shard.write_bytes(shard.read_bytes()[:200])  # cut as a kill during a copy would
    meta = _embed(backbone, split, out, batch_size=8, shard_size=16)
    assert "redoing shard" in capsys.readouterr().err
    assert meta["run"]["resumed_shards"] == 0
    index = pd.read_parquet(split[0] / "index.parquet")
    out.write_bytes(out.read_bytes()[:-1000])
    with pytest.raises(EmbeddingFileError, match=r"e\.npy: unreadable or truncated.*--forcerun"):
        load_image_embeddings(out, index)
