"""``clipfair gpu-check``: the one command to run on a fresh GPU node before the real grid.

It builds the real grid's architectures with random weights (open_clip's bundled ViT-L-14 and
ViT-L-14-336 configs, transformers' CLIP ViT-L/14 config) and runs, at the real batch sizes of
params.yaml, what the grid runs on a GPU: image embedding (images/s and MFU against the
GPU's datasheet peak), one fine-tune step with AMP (peak memory, images/s), the probe's C
sweep at FairFace's size (86,744 x 768, synthetic features) and one VGG-Face transfer step.
Every output is checked for NaN/inf, and the embeddings and VGG-Face logits of a small batch
against the same model on the CPU in fp32 (cosine >= 0.999). Without CUDA (and with
``tiny``) the same code runs tiny models at tiny sizes: that is what the tests run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from clipfair.bench.embed import flops_per_image
from clipfair.bench.hardware import device_peak_flops
from clipfair.models.backbone import Backbone

MIN_COSINE = 0.999
CHECK_IMAGES = 4  # the small batch compared with the CPU


@dataclass(frozen=True)
class Sizes:
    """What one check run builds and how much it pushes through."""

    open_clip: tuple[str, ...]
    hf_vision: dict[str, int]  # transformers CLIPVisionConfig of the HF model
    hf_projection: int
    embed_batch: int
    embed_batches: int
    finetune_model: str
    finetune_batch: int
    probe_n: int
    probe_dim: int
    vggface_batch: int
    vggface_tiny: bool
    config_dir: str | None = None


def real_sizes(params: dict[str, Any]) -> Sizes:
    """The real grid's models at params.yaml's batch sizes (embed ``auto``: the CUDA batch)."""
    from clipfair.embed import EmbedSettings

    embed = EmbedSettings.from_params(params["embed"]).batch_for(torch.device("cuda"))
    return Sizes(
        open_clip=("ViT-L-14", "ViT-L-14-336"),
        # openai/clip-vit-large-patch14's vision tower
        hf_vision={"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24,
                   "num_attention_heads": 16, "patch_size": 14, "image_size": 224},
        hf_projection=768,
        embed_batch=embed,
        embed_batches=4,
        finetune_model="ViT-L-14",
        finetune_batch=params["finetune"]["batch_size"],
        probe_n=86_744,
        probe_dim=768,
        vggface_batch=params["vggface"]["batch_train"],
        vggface_tiny=False,
    )  # fmt: skip


def tiny_sizes(config_dir: str) -> Sizes:
    """The demo's tiny model and a tiny transformers twin: the same code in seconds on a CPU."""
    return Sizes(
        open_clip=("tiny-clip-vit",),
        hf_vision={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                   "num_attention_heads": 2, "patch_size": 8, "image_size": 32},
        hf_projection=16,
        embed_batch=8,
        embed_batches=2,
        finetune_model="tiny-clip-vit",
        finetune_batch=4,
        probe_n=2_000,
        probe_dim=32,
        vggface_batch=4,
        vggface_tiny=True,
        config_dir=config_dir,
    )  # fmt: skip


@dataclass
class Check:
    """One row of ``metrics/gpu/check.csv``."""

    check: str
    model: str
    device: str
    batch: int
    items_per_s: float = float("nan")
    mfu: float = float("nan")
    peak_mem_gb: float = float("nan")
    seconds: float = float("nan")
    finite: bool = True
    cosine_vs_cpu: float = float("nan")
    note: str = ""
    ok: bool = field(init=False, default=True)

    def decide(self) -> Check:
        self.ok = self.finite and not (self.cosine_vs_cpu < MIN_COSINE)  # NaN: not compared
        return self


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[], Any], device: torch.device, repeats: int) -> tuple[Any, float]:
    """(last result, seconds per call) of ``repeats`` calls after one warm-up call."""
    fn()
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        out = fn()
    _sync(device)
    return out, (time.perf_counter() - start) / repeats


def _reset_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak_gb(device: torch.device) -> float:
    return torch.cuda.max_memory_allocated(device) / 1e9 if device.type == "cuda" else float("nan")


def _finite(*tensors: torch.Tensor) -> bool:
    return all(bool(torch.isfinite(t.float()).all()) for t in tensors)


def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    """The lowest row-wise cosine between two batches of vectors."""
    return float(F.cosine_similarity(a.float().cpu(), b.float().cpu(), dim=-1).min())


def _hf_backbone(sizes: Sizes, device: torch.device) -> Backbone:
    """A random transformers CLIPModel of ``sizes.hf_vision`` in the project's Backbone."""
    from transformers import CLIPConfig, CLIPModel

    from clipfair.models.backbone import HFClipAdapter

    torch.manual_seed(0)
    text = {"hidden_size": max(16, sizes.hf_projection), "intermediate_size": 64,
            "num_hidden_layers": 1, "num_attention_heads": 2}  # fmt: skip
    config = CLIPConfig(
        text_config=text, vision_config=sizes.hf_vision, projection_dim=sizes.hf_projection
    )
    model = CLIPModel(config).eval().to(device)
    side = sizes.hf_vision["image_size"]
    return Backbone(
        model=HFClipAdapter(model), tokenizer=None, image_size=side,
        mean=(0.481, 0.458, 0.408), std=(0.269, 0.261, 0.276), device=device,
        description={"library": "transformers", "model": f"CLIP vision {sizes.hf_vision}"},
    )  # fmt: skip


def _open_clip_backbone(name: str, sizes: Sizes, device: torch.device) -> Backbone:
    from clipfair.models.backbone import load_open_clip

    torch.manual_seed(0)
    return load_open_clip(name, None, config_dir=sizes.config_dir, device=device)


def _to_cpu_fp32(backbone: Backbone) -> Backbone:
    """The same model on the CPU in fp32 (moved: a second ViT-L copy is not needed)."""
    module = backbone.model if isinstance(backbone.model, torch.nn.Module) else backbone.model.model
    module.to("cpu", memory_format=torch.contiguous_format)
    backbone.device = torch.device("cpu")
    backbone.configure_inference("fp32", channels_last=False)
    return backbone


def check_embedding(name: str, backbone: Backbone, batch: int, batches: int) -> Check:
    """Images/s and MFU of the image encoder at ``batch``, then a small batch vs the CPU."""
    device = backbone.device
    backbone.configure_inference("auto", channels_last=True)
    flops = flops_per_image(backbone)
    peak, _ = device_peak_flops(device, backbone.precision != "fp32")
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (batch, 256, 256, 3), dtype=torch.uint8, generator=gen)
    _reset_memory(device)
    feats, seconds = _timed(lambda: backbone.encode_images(images), device, batches)
    rate = batch / seconds
    row = Check(
        "embed",
        name,
        str(device),
        batch,
        rate,
        rate * flops / peak,
        _peak_gb(device),
        seconds,
        _finite(feats),
        note=f"{backbone.precision}, {flops / 1e9:.1f} GFLOP/img",
    )
    small = images[:CHECK_IMAGES]
    on_device = backbone.encode_images(small)
    row.cosine_vs_cpu = _cosine(on_device, _to_cpu_fp32(backbone).encode_images(small))
    return row.decide()


def check_finetune(backbone: Backbone, batch: int, trainable_blocks: int) -> Check:
    """One AdamW step of the three heads and the last blocks with AMP: peak memory, images/s."""
    from clipfair.labels import VOCAB
    from clipfair.models.finetune import classifier_for, train_step

    device = backbone.device
    backbone.configure_inference("auto", channels_last=False)
    tasks = ["age", "gender", "race"]
    model = classifier_for(backbone, tasks).to(device)
    model.set_trainable(trainable_blocks)
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    gen = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (batch, 256, 256, 3), dtype=torch.uint8, generator=gen)
    targets = {t: torch.randint(0, len(VOCAB[t]), (batch,), generator=gen) for t in tasks}
    _reset_memory(device)
    loss, seconds = _timed(lambda: train_step(model, backbone, opt, images, targets), device, 2)
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    finite = _finite(
        torch.tensor(loss), *grads, *(p for p in model.parameters() if p.requires_grad)
    )
    return Check(
        "finetune_step",
        backbone.description.get("model", "?"),
        str(device),
        batch,
        batch / seconds,
        peak_mem_gb=_peak_gb(device),
        seconds=seconds,
        finite=finite,
        note=f"{backbone.precision} autocast, last {trainable_blocks} blocks, loss {loss:.3f}",
    ).decide()


def check_probe(n: int, dim: int, probe: dict[str, Any], device: torch.device) -> Check:
    """The C sweep of ``probe:`` on synthetic features of FairFace's train size, on ``device``."""
    from clipfair.bench.probe import synthetic_features
    from clipfair.methods.linear_probe import ProbeSettings, sweep

    settings = ProbeSettings.from_options({**probe, "device": str(device)})
    x, y = synthetic_features(n, dim, 7, seed=0)
    _reset_memory(device)
    _sync(device)
    start = time.perf_counter()
    best_c, curve, fit = sweep(x, y, 7, settings.c_grid(), settings.holdout, 0,
                               settings.max_iter, settings.gtol, device)  # fmt: skip
    _sync(device)
    seconds = time.perf_counter() - start
    accuracy = max(p["holdout_accuracy"] for p in curve)
    return Check("probe_sweep", f"{n} x {dim}, 7 classes, {len(curve)} C", str(device), n,
                 n * len(curve) / seconds, peak_mem_gb=_peak_gb(device), seconds=seconds,
                 finite=_finite(fit.weight, fit.bias) and 0 < accuracy <= 1,
                 note=f"best C {best_c:.3g}, holdout accuracy {accuracy:.3f}").decide()  # fmt: skip


def check_vggface(batch: int, tiny: bool, vggface: dict[str, Any], device: torch.device) -> Check:
    """One step of the VGG-Face transfer (frozen VGG-Face bottom, two dense layers, Adam), and
    the small batch's logits vs the CPU."""
    from clipfair.models.vggface import TINY, GenderTransfer, VGGFace, VGGFaceConfig

    torch.manual_seed(0)
    base = VGGFace(TINY if tiny else VGGFaceConfig())
    model = GenderTransfer(base, vggface["keep_layers"], vggface["hidden"]).to(device).train()
    opt = torch.optim.Adam(model.head.parameters(), lr=vggface["lr"])
    side = model.image_size
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(batch, 3, side, side, generator=gen)
    y = torch.randint(0, 2, (batch,), generator=gen).float()

    def step() -> torch.Tensor:
        loss = F.binary_cross_entropy_with_logits(model(x.to(device)), y.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.detach()

    _reset_memory(device)
    loss, seconds = _timed(step, device, 2)
    row = Check(
        "vggface_step",
        "VGG-Face (tiny)" if tiny else "VGG-Face",
        str(device),
        batch,
        batch / seconds,
        peak_mem_gb=_peak_gb(device),
        seconds=seconds,
        finite=_finite(loss, *model.head.parameters()),
        note="fp32, Adam on the head",
    )
    model.eval()
    with torch.inference_mode():
        small = x[:CHECK_IMAGES]
        on_device = model(small.to(device)).unsqueeze(1)
        on_cpu = model.to("cpu")(small).unsqueeze(1)
    # one logit per image: compare the batch's logit vectors
    row.cosine_vs_cpu = _cosine(on_device.T, on_cpu.T)
    return row.decide()


def run_gpu_check(params: dict[str, Any], tiny: bool, config_dir: str) -> list[Check]:
    """Every check, in the order the grid runs them; each row printed as it is done."""
    from clipfair.runtime import pick_device

    device = pick_device("auto")
    tiny = tiny or device.type != "cuda"
    sizes = tiny_sizes(config_dir) if tiny else real_sizes(params)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True  # as the embedding and fine-tune jobs
    rows: list[Check] = []

    def done(row: Check) -> None:
        rows.append(row)
        print(", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                        for k, v in asdict(row).items()), flush=True)  # fmt: skip

    for name in sizes.open_clip:
        done(check_embedding(name, _open_clip_backbone(name, sizes, device), sizes.embed_batch,
                             sizes.embed_batches))  # fmt: skip
    done(
        check_embedding(
            "transformers CLIP ViT-L/14" if not tiny else "transformers tiny",
            _hf_backbone(sizes, device),
            sizes.embed_batch,
            sizes.embed_batches,
        )
    )
    ft = _open_clip_backbone(sizes.finetune_model, sizes, device)
    done(check_finetune(ft, sizes.finetune_batch, params["finetune"]["trainable_blocks"]))
    del ft
    done(check_probe(sizes.probe_n, sizes.probe_dim, params["probe"], device))
    done(check_vggface(sizes.vggface_batch, sizes.vggface_tiny, params["vggface"], device))
    return rows


def write_check_csv(rows: list[Check], out: str | Path) -> None:
    import pandas as pd

    from clipfair.io import write_csv

    write_csv(out, pd.DataFrame([asdict(r) for r in rows]), "%.6g")
