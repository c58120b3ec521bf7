"""open_clip -> transformers conversion: the same model through both libraries."""

import pytest
import torch

from clipfair.methods.label_sets import available, get_label_set
from clipfair.models.backbone import load_backbone

from ..conftest import tiny_open_clip_and_hf


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A random tiny open_clip model and its converted transformers twin."""
    oc, folder = tiny_open_clip_and_hf(tmp_path_factory.mktemp("hf"))
    hf = load_backbone(
        {"library": "transformers", "model": "CLIPModel"}, {}, checkpoint=str(folder)
    )
    return oc, hf


def test_image_embeddings_match(pair):
    oc, hf = pair
    images = torch.randint(0, 256, (6, 64, 64, 3), dtype=torch.uint8)
    a, b = oc.encode_images(images), hf.encode_images(images)
    assert torch.nn.functional.cosine_similarity(a, b).min() > 0.9999
    assert hf.description["library"] == "transformers"


def test_every_prompt_tokenizes_and_embeds_the_same(pair):
    oc, hf = pair
    prompts = sorted(
        {p for name in available() for ps in get_label_set(name).prompts.values() for p in ps}
    )
    oc_ids, hf_ids = oc.tokenizer(prompts), hf.tokenizer(prompts)["input_ids"]
    eot = 49407
    for i in range(len(prompts)):  # equal up to the end token (HF pads with it, open_clip with 0)
        end = int((oc_ids[i] == eot).nonzero()[0])
        assert torch.equal(oc_ids[i, : end + 1], hf_ids[i, : end + 1]), prompts[i]
    a, b = oc.encode_text(prompts), hf.encode_text(prompts)
    assert torch.nn.functional.cosine_similarity(a, b).min() > 0.9999


def test_folder_without_config_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"has no config\.json"):
        load_backbone(
            {"library": "transformers", "model": "CLIPModel"}, {}, checkpoint=str(tmp_path)
        )


def test_a_prompt_longer_than_the_context_is_named_not_cut(pair, tmp_path):
    """Both tokenizers would cut a prompt to the tiny model's 16 tokens without a word: the
    embed step names the label set and the prompt instead, through either library. Every
    shipped prompt fits (the longest has 12 tokens)."""
    from clipfair.embed import embed_label_set
    from clipfair.methods.label_sets import LabelSet

    long = "a photo of a " + " ".join(["very"] * 12) + " old woman"
    shipped = sorted(
        {p for name in available() for ps in get_label_set(name).prompts.values() for p in ps}
    )
    for backbone in pair:
        assert backbone.context_length == 16
        assert backbone.prompts_over_context(shipped) == []
        assert backbone.prompts_over_context(["a photo of a man", long]) == [(long, 20)]
        labels = LabelSet(task="gender", prompts={"Female": [long], "Male": ["a man"]},
                          path=tmp_path / "mine.yaml")  # fmt: skip
        with pytest.raises(
            ValueError,
            match=r"label set 'mine' .*mine\.yaml.*1 prompt\(s\) "
            r"longer than the model's text context of 16 tokens.*20 tokens",
        ):
            embed_label_set(backbone, "mine", labels, tmp_path / "mine.parquet")
        assert not (tmp_path / "mine.parquet").exists()


def test_the_bpe_vocabulary_is_open_clips_without_importing_it(tmp_path):
    """The converter reads open_clip's BPE file and byte table in open_clip's order, and a
    conversion job does not pay open_clip's import (it starts no open_clip model)."""
    import subprocess
    import sys

    from open_clip.tokenizer import SimpleTokenizer, bytes_to_unicode

    from clipfair.models.hf_convert import _bytes_to_unicode, clip_bpe

    assert list(_bytes_to_unicode().items()) == list(bytes_to_unicode().items())
    vocab, merges = clip_bpe()
    # the same ids; the two special tokens keep transformers' spelling (<|startoftext|>)
    ours = {tok: i for tok, i in vocab.items() if i < 49406}
    theirs = {tok: i for tok, i in SimpleTokenizer().encoder.items() if i < 49406}
    assert ours == theirs and len(vocab) == 49_408 and len(merges) == 48_894
    probe = "import sys; from clipfair.models.hf_convert import clip_bpe; clip_bpe(); "
    probe += "print('open_clip' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
