"""One factory for every backbone: model, batched preprocessing and tokenizer from one place.

Images arrive as uint8 ``(B, H, W, 3)`` tensors from the shared cache; resizing, centre crop
and normalization run batched on the model's device with the mean/std that the library
attaches to the pretrained weights (they differ per open_clip tag).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from clipfair.digests import path_sha256
from clipfair.errors import InputError, LoadError, MissingFileError

CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")


def is_checkpoint_file(pretrained: str | None) -> bool:
    """An open_clip ``pretrained`` that names a file (a path or a checkpoint suffix), not a tag."""
    return bool(pretrained) and ("/" in pretrained or pretrained.endswith(CHECKPOINT_SUFFIXES))


def is_model_folder(pretrained: str) -> bool:
    """A transformers ``pretrained`` that names a local folder, not a hub id."""
    return pretrained.startswith((".", "/")) or Path(pretrained).exists()


@dataclass
class Backbone:
    """A loaded image-text model with its preprocessing and tokenizer."""

    model: Any
    tokenizer: Any
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    device: torch.device
    description: dict[str, Any]
    autocast_dtype: torch.dtype | None = None
    channels_last: bool = False
    _encode: Any = field(default=None, repr=False)
    #: the text tower's context in tokens, and a function giving each text's token count
    #: before the tokenizer cuts it to that (None where the tokenizer cannot tell)
    context_length: int | None = None
    token_counts: Any = field(default=None, repr=False)

    def prompts_over_context(self, texts: list[str]) -> list[tuple[str, int]]:
        """(text, tokens) of each text longer than the context, which the tokenizer would cut
        without a word (open_clip and transformers both truncate)."""
        if self.token_counts is None or self.context_length is None:
            return []
        counts = self.token_counts(texts)
        return [(t, n) for t, n in zip(texts, counts, strict=True) if n > self.context_length]

    def configure_inference(
        self, precision: str = "auto", channels_last: bool = True, compile: bool = False
    ) -> None:
        """GPU speed settings: bf16/fp16 autocast, channels_last input, torch.compile.

        ``precision`` 'auto' is bf16 on CUDA and fp32 elsewhere (bf16 on these CPUs is slower).
        """
        if precision == "auto":
            precision = "bf16" if self.device.type == "cuda" else "fp32"
        dtypes = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
        if precision not in dtypes:
            known = ", ".join(["auto", *dtypes])
            raise InputError(f"precision must be one of {known}; got {precision!r}")
        self.autocast_dtype = dtypes[precision]
        self.channels_last = channels_last and self.device.type == "cuda"
        if self.channels_last:  # the module itself (HFClipAdapter wraps a CLIPModel)
            module = self.model if isinstance(self.model, torch.nn.Module) else self.model.model
            module.to(memory_format=torch.channels_last)
        self._encode = torch.compile(self.model.encode_image) if compile else None

    @property
    def precision(self) -> str:
        """'fp32', 'bf16' or 'fp16': the precision image encoding runs in."""
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.autocast_dtype]

    def autocast(self) -> AbstractContextManager[Any]:
        """The autocast context of the configured precision (a no-op for fp32)."""
        if self.autocast_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, H, W, 3) -> normalized float (B, 3, S, S): bicubic resize + centre crop."""
        x = images.to(self.device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255.0)
        h, w = x.shape[-2:]
        s = self.image_size
        if (h, w) != (s, s):
            scale = s / min(h, w)
            nh, nw = max(s, round(h * scale)), max(s, round(w * scale))
            x = F.interpolate(x, size=(nh, nw), mode="bicubic", align_corners=False, antialias=True)
            top, left = (nh - s) // 2, (nw - s) // 2
            x = x[..., top : top + s, left : left + s].clamp_(0.0, 1.0)
        mean = torch.tensor(self.mean, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=self.device).view(1, 3, 1, 1)
        x = (x - mean) / std
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    @torch.inference_mode()
    def encode_pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        """L2-normalized embeddings (float32, on the device) of preprocessed pixels."""
        encode = self._encode or self.model.encode_image
        with self.autocast():
            feats = encode(pixels)
        return F.normalize(feats.float(), dim=-1)

    @torch.inference_mode()
    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalized image embeddings (float32, on CPU) of a uint8 batch."""
        return self.encode_pixels(self.preprocess(images)).cpu()

    @torch.inference_mode()
    def encode_text(self, texts: list[str]) -> torch.Tensor:
        """L2-normalized text embeddings (float32, on CPU)."""
        tokens = self.tokenizer(texts).to(self.device)
        feats = self.model.encode_text(tokens)
        return F.normalize(feats.float(), dim=-1).cpu()


def register_config_dir(config_dir: str | Path | None) -> None:
    """Make open_clip see our custom model configs (must run in every process)."""
    if config_dir is None:
        return
    import open_clip

    folder = Path(config_dir)
    if not folder.is_dir():
        raise MissingFileError(f"backbone config_dir {folder} does not exist")
    open_clip.add_model_config(folder)


def _config_digest(model_name: str, config_dir: str | Path | None) -> dict[str, str]:
    """sha256 of a custom model config file (``config_dir/<model>.json``), if there is one."""
    path = Path(config_dir) / f"{model_name}.json" if config_dir else None
    return {"model_config_sha256": path_sha256(path)} if path and path.is_file() else {}


def load_open_clip(
    model_name: str,
    pretrained: str | None,
    *,
    config_dir: str | Path | None = None,
    quick_gelu: bool = False,
    cache_dir: str | None = None,
    device: torch.device | str = "cpu",
) -> Backbone:
    """Build an open_clip model the way real weights load: ``pretrained`` is a tag or a file."""
    import open_clip

    register_config_dir(config_dir)
    if model_name not in open_clip.list_models():
        raise InputError(
            f"open_clip has no model config {model_name!r}"
            + (f" (looked in {config_dir} too)" if config_dir else "")
        )
    is_file = is_checkpoint_file(pretrained)
    if is_file and not Path(pretrained).is_file():
        raise MissingFileError(f"pretrained checkpoint {pretrained} does not exist")
    device = torch.device(device)
    try:
        model, _, _ = open_clip.create_model_and_transforms(
            model_name,
            pretrained=pretrained,
            force_quick_gelu=quick_gelu,
            cache_dir=cache_dir,
            device=device,
        )
    except RuntimeError as exc:
        raise LoadError(
            f"could not load open_clip {model_name} pretrained={pretrained!r}: {exc}. "
            "Offline? Place the weights in the cache_dir of params.yaml or set HF_HUB_OFFLINE=0."
        ) from exc
    model.eval()
    visual = model.visual
    size = visual.image_size
    size = size[0] if isinstance(size, tuple | list) else size
    tokenizer = open_clip.get_tokenizer(model_name)
    return Backbone(
        model=model,
        tokenizer=tokenizer,
        context_length=getattr(tokenizer, "context_length", None),
        token_counts=_open_clip_token_counts(tokenizer),
        image_size=int(size),
        mean=tuple(visual.image_mean or open_clip.OPENAI_DATASET_MEAN),
        std=tuple(visual.image_std or open_clip.OPENAI_DATASET_STD),
        device=device,
        description={
            "library": "open_clip",
            "model": model_name,
            "pretrained": pretrained,
            "quick_gelu": quick_gelu,
            "features": "encode_image (post-projection)",
            # what the weights and a custom model config contain, not only where they are
            **({"weights_sha256": path_sha256(pretrained)} if is_file else {}),
            **_config_digest(model_name, config_dir),
        },
    )


def _open_clip_token_counts(tokenizer: Any) -> Any:
    """Token counts as open_clip's CLIP tokenizer makes them (start + BPE + end), or None for
    the tokenizers it wraps otherwise (HF, or a reduction strategy instead of truncation)."""
    if getattr(tokenizer, "reduction_fn", None) is not None or not hasattr(tokenizer, "encode"):
        return None
    if not hasattr(tokenizer, "sot_token_id"):
        return None
    return lambda texts: [len(tokenizer.encode(t)) + 2 for t in texts]


class HFClipAdapter:
    """Gives a transformers ``CLIPModel`` open_clip's ``encode_image``/``encode_text``.

    ``get_*_features`` return the projected embeddings (in transformers 5 as the output's
    ``pooler_output``), the space where zero-shot compares images and prompts.
    """

    def __init__(self, model: Any) -> None:
        self.model = model

    @staticmethod
    def _features(out: Any) -> torch.Tensor:
        return out if isinstance(out, torch.Tensor) else out.pooler_output

    def encode_image(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self._features(self.model.get_image_features(pixel_values=pixel_values))

    def encode_text(self, tokens: Any) -> torch.Tensor:
        return self._features(self.model.get_text_features(**tokens))


def load_transformers_clip(
    pretrained: str, *, cache_dir: str | None = None, device: torch.device | str = "cpu"
) -> Backbone:
    """A transformers CLIPModel from a hub id or a local folder (``from_pretrained``)."""
    from transformers import AutoTokenizer, CLIPImageProcessor, CLIPModel

    is_path = is_model_folder(pretrained)
    if is_path and not (Path(pretrained) / "config.json").is_file():
        raise MissingFileError(f"transformers model folder {pretrained} has no config.json")
    device = torch.device(device)
    try:
        model = CLIPModel.from_pretrained(
            pretrained, cache_dir=cache_dir, attn_implementation="sdpa"
        )
        model = model.eval().to(device)
        tokenizer = AutoTokenizer.from_pretrained(pretrained, cache_dir=cache_dir)
        processor = CLIPImageProcessor.from_pretrained(pretrained, cache_dir=cache_dir)
    except OSError as exc:
        raise LoadError(
            f"could not load transformers CLIPModel {pretrained!r}: {exc}. Offline? Put the "
            "model in the Hugging Face cache (cache_dir of params.yaml) or unset HF_HUB_OFFLINE."
        ) from exc
    context = model.config.text_config.max_position_embeddings

    def tokenize(texts: list[str]) -> Any:
        return tokenizer(
            texts, padding="max_length", max_length=context, truncation=True, return_tensors="pt"
        )

    def token_counts(texts: list[str]) -> list[int]:
        # uncut, with start and end; verbose=False: its own too-long warning would precede
        # the error that names the prompt
        return [len(ids) for ids in tokenizer(texts, verbose=False)["input_ids"]]

    crop = processor.crop_size
    return Backbone(
        model=HFClipAdapter(model),
        tokenizer=tokenize,
        context_length=int(context),
        token_counts=token_counts,
        image_size=int(crop if isinstance(crop, int) else crop["height"]),  # dict or SizeDict
        mean=tuple(processor.image_mean),
        std=tuple(processor.image_std),
        device=device,
        description={
            "library": "transformers",
            "model": "CLIPModel",
            "pretrained": pretrained,
            "features": "get_image_features (post-projection)",
            **({"weights_sha256": path_sha256(pretrained)} if is_path else {}),
        },
    )


def load_backbone(
    backbone: dict[str, Any],
    datasource: dict[str, Any],
    *,
    checkpoint: str | None = None,
    cache_dir: str | None = None,
    device: torch.device | str = "cpu",
) -> Backbone:
    """Load a backbone entry of params.yaml with a datasource entry (or a trained checkpoint)."""
    pretrained = checkpoint or datasource.get("pretrained")
    if backbone["library"] == "transformers":
        if not pretrained:
            raise InputError("a transformers backbone needs a datasource with 'pretrained'")
        return load_transformers_clip(pretrained, cache_dir=cache_dir, device=device)
    if backbone["library"] != "open_clip":
        raise InputError(f"unsupported backbone library {backbone['library']!r}")
    return load_open_clip(
        backbone["model"],
        checkpoint or datasource.get("pretrained"),
        config_dir=backbone.get("config_dir"),
        quick_gelu=bool(datasource.get("quick_gelu", False)),
        cache_dir=cache_dir,
        device=device,
    )
