"""VGG-Face (Parkhi et al. 2015, the VGG16 face network) in PyTorch, with its torch7 weights.

The original release is a torch7 ``nn.Sequential`` (``VGG_FACE.t7``): 13 convolutions (3x3,
pad 1) with ReLUs and 5 max-pools, then ``nn.View``, fc6/fc7 (4096, ReLU, dropout) and fc8
(2622 identities), softmax. Input: 224x224 **BGR** in 0..255 minus the mean pixel, which the
release gives in **RGB** order, (R, G, B) = (129.1863, 104.7624, 93.5940): its Torch demo
subtracts it from the R, G, B planes and only then reorders them to B, G, R (MatConvNet's
``meta.normalization.averageImage`` lists it in the same RGB order). ``load_t7`` reads the
file with ``torchfile`` and copies it layer by layer, checking every layer's kind and shape,
into ``VGGFace`` whose module list has the same order (so "the bottom N layers" means the
same in both).

The VGG-Face gender_classifier's transfer model (``GenderTransfer``): the bottom ``keep_layers``
layers, frozen (31 =
everything through pool5 in this order), then two dense layers (``hidden`` units + ReLU, and
one sigmoid unit), binary cross-entropy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from clipfair.errors import InputError, MissingFileError
from clipfair.models.t7 import TorchModule, write_t7

#: the release's mean pixel, in R, G, B order (subtracted before the BGR reorder)
MEAN_RGB = (129.1863, 104.7624, 93.5940)


@dataclass(frozen=True)
class VGGFaceConfig:
    """Widths of the network; the defaults are the published VGG-Face."""

    channels: tuple[int, ...] = (64, 128, 256, 512, 512)
    convs_per_block: tuple[int, ...] = (2, 2, 3, 3, 3)
    fc: int = 4096
    n_classes: int = 2622
    image_size: int = 224

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VGGFaceConfig:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


# The demo's tiny VGG-Face: the same layer list, narrow. 96 px keeps 3x3 cells at pool5: with
# random weights the frozen features then still carry the demo's gender cue (measured after 5
# epochs: 0.82 on FairFace, 0.86 on Adience, as at 128 px, in half the time; at 64 px, 2x2
# cells, 0.7).
TINY = VGGFaceConfig(channels=(8, 16, 32, 64, 64), fc=64, n_classes=16, image_size=96)


class VGGFace(nn.Module):
    """``layers`` mirrors the t7 ``nn.Sequential`` one to one (conv, ReLU, pool, ..., fc8)."""

    def __init__(self, config: VGGFaceConfig = VGGFaceConfig()) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        c_in = 3
        for c_out, n in zip(config.channels, config.convs_per_block, strict=True):
            for _ in range(n):
                layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=True)]
                c_in = c_out
            layers.append(nn.MaxPool2d(2, 2))
        side = config.image_size // 2 ** len(config.channels)
        layers += [
            nn.Flatten(),
            nn.Linear(c_in * side * side, config.fc),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Linear(config.fc, config.fc),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Linear(config.fc, config.n_classes),
        ]
        self.layers = nn.Sequential(*layers)
        for m in self.layers:  # He init (as torchvision's VGG): a random network stays usable
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (the release ends with a SoftMax, applied by the caller when needed)."""
        return self.layers(x)

    def weighted(self) -> list[nn.Module]:
        """The layers with weights, in order (13 convolutions, 3 fully connected)."""
        return [m for m in self.layers if isinstance(m, nn.Conv2d | nn.Linear)]


def preprocess(images: torch.Tensor, image_size: int) -> torch.Tensor:
    """uint8 RGB (B, H, W, 3) -> float BGR (B, 3, S, S): 0..255 minus the RGB mean pixel, then
    the channels reordered to B, G, R (the release's Torch demo, in that order)."""
    x = images.permute(0, 3, 1, 2).float()
    if x.shape[-2:] != (image_size, image_size):
        x = F.interpolate(
            x, size=(image_size, image_size), mode="bilinear", antialias=True, align_corners=False
        )
    x = x - torch.tensor(MEAN_RGB, device=x.device).view(1, 3, 1, 1)
    return x.flip(1)  # RGB -> BGR


def to_t7(model: VGGFace) -> TorchModule:
    """The torch7 ``nn.Sequential`` of ``model`` (as the release stores it)."""
    modules = []
    for m in model.layers:
        if isinstance(m, nn.Conv2d):
            w = m.weight.detach().cpu().numpy()
            modules.append(
                TorchModule(
                    "nn.SpatialConvolutionMM",
                    {
                        "weight": w.reshape(w.shape[0], -1),
                        "bias": m.bias.detach().cpu().numpy(),
                        "nInputPlane": w.shape[1],
                        "nOutputPlane": w.shape[0],
                        "kW": 3,
                        "kH": 3,
                        "dW": 1,
                        "dH": 1,
                        "padW": 1,
                        "padH": 1,
                    },
                )
            )
        elif isinstance(m, nn.ReLU):
            modules.append(TorchModule("nn.ReLU", {"inplace": True}))
        elif isinstance(m, nn.MaxPool2d):
            modules.append(
                TorchModule("nn.SpatialMaxPooling", {"kW": 2, "kH": 2, "dW": 2, "dH": 2})
            )
        elif isinstance(m, nn.Flatten):
            modules.append(TorchModule("nn.View", {"size": [-1]}))
        elif isinstance(m, nn.Linear):
            modules.append(
                TorchModule(
                    "nn.Linear",
                    {
                        "weight": m.weight.detach().cpu().numpy(),
                        "bias": m.bias.detach().cpu().numpy(),
                    },
                )
            )
        elif isinstance(m, nn.Dropout):
            modules.append(TorchModule("nn.Dropout", {"p": m.p}))
    modules.append(TorchModule("nn.SoftMax", {}))
    return TorchModule("nn.Sequential", {"modules": modules, "train": False})


def save_t7(model: VGGFace, path: str | Path) -> None:
    """Write ``model`` as a torch7 ``.t7`` file."""
    write_t7(to_t7(model), path)


def _name(module: Any) -> str:
    return module.torch_typename().decode()


def infer_config(net: Any) -> VGGFaceConfig:
    """The widths of a torch7 VGG-Face (conv widths per pooling block, fc sizes, input size)."""
    channels, convs, count = [], [], 0
    linear = []
    for m in net.modules:
        kind = _name(m)
        if kind.startswith("nn.SpatialConvolution"):
            count += 1
            width = int(m.nOutputPlane)
        elif kind == "nn.SpatialMaxPooling" and count:
            channels.append(width)
            convs.append(count)
            count = 0
        elif kind == "nn.Linear":
            linear.append(np.asarray(m.weight).shape)
    if len(linear) != 3 or not channels:
        raise InputError("not a VGG-Face network: expected convolution blocks and 3 nn.Linear")
    side = round((linear[0][1] / channels[-1]) ** 0.5)
    return VGGFaceConfig(
        tuple(channels),
        tuple(convs),
        int(linear[0][0]),
        int(linear[2][0]),
        side * 2 ** len(channels),
    )


def load_t7(path: str | Path, config: VGGFaceConfig | None = None) -> VGGFace:
    """Read VGG-Face torch7 weights into ``VGGFace(config)`` (widths read from the file when
    ``config`` is None), checking each layer's kind and shape."""
    import torchfile

    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"VGG-Face weights {path} do not exist")
    try:
        net = torchfile.load(str(path))
    except Exception as exc:  # torchfile raises many kinds on a broken file
        raise InputError(f"{path}: not a readable torch7 file ({exc})") from exc
    if not hasattr(net, "modules") or net.modules is None:
        raise InputError(f"{path}: not an nn.Sequential")
    config = config or infer_config(net)
    theirs = [m for m in net.modules if getattr(m, "weight", None) is not None]
    model = VGGFace(config)
    ours = model.weighted()
    if len(theirs) != len(ours):
        raise InputError(
            f"{path}: {len(theirs)} layers with weights; VGG-Face {asdict(config)} has {len(ours)}"
        )
    for i, (src, dst) in enumerate(zip(theirs, ours, strict=True)):
        kind = _name(src)
        conv = isinstance(dst, nn.Conv2d)
        if conv != kind.startswith("nn.SpatialConvolution") or (not conv and kind != "nn.Linear"):
            raise InputError(f"{path}: layer {i} is {kind}; expected a {type(dst).__name__}")
        weight, bias = np.asarray(src.weight), np.asarray(src.bias)
        if weight.size != dst.weight.numel() or bias.shape != tuple(dst.bias.shape):
            raise InputError(
                f"{path}: layer {i} ({kind}) has weight {weight.shape} and bias {bias.shape}; "
                f"expected {tuple(dst.weight.shape)} and {tuple(dst.bias.shape)}"
            )
        with torch.no_grad():
            dst.weight.copy_(torch.from_numpy(weight.reshape(dst.weight.shape).copy()))
            dst.bias.copy_(torch.from_numpy(bias.copy()))
    return model.eval()


class GenderTransfer(nn.Module):
    """The VGG-Face gender_classifier: VGG-Face's bottom ``keep_layers`` layers, frozen, plus two
    dense layers."""

    def __init__(self, base: VGGFace, keep_layers: int = 31, hidden: int = 256) -> None:
        super().__init__()
        self.keep_layers, self.hidden = keep_layers, hidden
        self.base = nn.Sequential(*list(base.layers)[:keep_layers]).requires_grad_(False)
        with torch.no_grad():
            side = base.config.image_size
            n_features = self.base(torch.zeros(1, 3, side, side)).numel()
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(n_features, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, 1),
        )
        self.image_size = base.config.image_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One logit per image: sigmoid > 0.5 is 'male' (the VGG-Face gender_classifier's class
        order f=0, m=1)."""
        return self.head(self.base(x)).squeeze(1)

    def train(self, mode: bool = True) -> GenderTransfer:
        super().train(mode)
        self.base.eval()  # frozen layers: no dropout, no statistics
        return self
