"""Fill the weight cache before a run on machines without internet (a cluster's compute nodes):
each (backbone, datasource) of the grid whose weights come from the internet (an open_clip
tag, a Hugging Face hub id) is loaded once here, the way its embed job will load it, so every
file that load reads lands in ``cache_dir``. The jobs then run with ``HF_HUB_OFFLINE=1``.

Weights made in the pipeline (``train:`` datasources, converted backbones), local files and
folders, and VGG-Face (its own ``vggface_weights`` rule downloads it) are left out.
"""

from __future__ import annotations

import time
from typing import Any

from clipfair.errors import LoadError
from clipfair.grid import pairs

CLIP_LIBRARIES = ("open_clip", "transformers")


def is_remote(backbone: dict[str, Any], datasource: dict[str, Any]) -> bool:
    """Whether loading this pair downloads: an open_clip tag or a hub id, not a local path
    (as the loaders in :mod:`clipfair.models.backbone` tell them apart)."""
    from clipfair.models.backbone import is_checkpoint_file, is_model_folder

    pretrained = datasource.get("pretrained")
    if backbone["library"] not in CLIP_LIBRARIES or "convert_from" in backbone or not pretrained:
        return False
    if backbone["library"] == "open_clip":
        return not is_checkpoint_file(pretrained)
    return not is_model_folder(pretrained)


def remote_weights(config: dict[str, Any]) -> list[tuple[str, str]]:
    """(backbone, datasource) pairs of the grid whose weights come from the internet."""
    return [
        (b, d)
        for b, d in pairs(config)
        if is_remote(config["backbones"][b], config["datasources"][d])
    ]


def fetch_weights(config: dict[str, Any], cache_dir: str | None) -> list[dict[str, Any]]:
    """Load every remote pair once on the CPU (into ``cache_dir``: None is the libraries'
    default cache); one record per pair: backbone, datasource, pretrained, seconds."""
    from clipfair.models.backbone import load_backbone

    done = []
    for b, d in remote_weights(config):
        start = time.perf_counter()
        entry = config["datasources"][d]
        try:
            backbone = load_backbone(config["backbones"][b], entry, cache_dir=cache_dir)
        except (OSError, ValueError, RuntimeError) as exc:
            raise LoadError(f"{b}/{d} (pretrained {entry['pretrained']!r}): {exc}") from exc
        del backbone
        seconds = round(time.perf_counter() - start, 1)
        done.append({"backbone": b, "datasource": d, "pretrained": entry["pretrained"],
                     "seconds": seconds})  # fmt: skip
        print(f"{b}/{d}: {seconds} s", flush=True)
    return done
