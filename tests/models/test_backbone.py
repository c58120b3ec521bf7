import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from clipfair.models.backbone import load_open_clip

from ..conftest import ROOT

CONFIG_DIR = ROOT / "workflow" / "models"


@pytest.fixture(scope="module")
def random_model():
    torch.manual_seed(0)
    return load_open_clip("tiny-clip-vit", None, config_dir=CONFIG_DIR)


def test_checkpoint_loads_through_the_pretrained_path(random_model, tmp_path):
    ckpt = tmp_path / "w.safetensors"
    state = {k: v.contiguous() for k, v in random_model.model.state_dict().items()}
    save_file(state, str(ckpt))
    torch.manual_seed(1)  # a different random init, overwritten by the checkpoint
    loaded = load_open_clip("tiny-clip-vit", str(ckpt), config_dir=CONFIG_DIR)
    for key, value in loaded.model.state_dict().items():
        torch.testing.assert_close(value, state[key])
    images = torch.randint(0, 256, (3, 64, 64, 3), dtype=torch.uint8)
    torch.testing.assert_close(loaded.encode_images(images), random_model.encode_images(images))


def test_embeddings_are_unit_norm_and_resize_works(random_model):
    images = torch.randint(0, 256, (2, 80, 96, 3), dtype=torch.uint8)  # not the model's size
    feats = random_model.encode_images(images)
    assert feats.shape == (2, 128)
    np.testing.assert_allclose(feats.norm(dim=1).numpy(), 1.0, rtol=1e-5)
    text = random_model.encode_text(["a photo of a man", "a photo of a woman"])
    np.testing.assert_allclose(text.norm(dim=1).numpy(), 1.0, rtol=1e-5)


def test_missing_checkpoint_and_unknown_model_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"pretrained checkpoint .*nope.safetensors"):
        load_open_clip("tiny-clip-vit", str(tmp_path / "nope.safetensors"), config_dir=CONFIG_DIR)
    with pytest.raises(ValueError, match=r"no model config 'ViT-Q-1'"):
        load_open_clip("ViT-Q-1", None)


def test_caption_tokens_match_the_tokenizer_and_tokenize_each_caption_once(random_model):
    from clipfair.models.train_clip import CaptionTokens, caption

    calls = []

    def counting(texts):
        calls.append(list(texts))
        return random_model.tokenizer(texts)

    tokens = CaptionTokens(counting)
    rng = np.random.default_rng(0)
    draws = [("20-29", "Female", "Black"), ("more than 70", "Male", "East Asian")] * 40
    for lo in range(0, len(draws), 16):
        texts = [caption(a, g, r, rng, 0.3) for a, g, r in draws[lo : lo + 16]]
        torch.testing.assert_close(tokens(texts), random_model.tokenizer(texts), rtol=0, atol=0)
    tokenized = [t for call in calls for t in call]
    assert len(tokenized) == len(set(tokenized)) == len(tokens.ids) < len(draws)
