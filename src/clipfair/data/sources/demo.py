"""``demo``: the synthetic FairFace-format release, written here (offline, deterministic)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

FORMATS = ("fairface",)
KNOWS_COUNTS = True
SCHEMA = {
    "properties": {
        "n_train": {"type": "integer", "minimum": 50},
        "n_val": {"type": "integer", "minimum": 20},
        "image_size": {"type": "integer", "minimum": 32, "maximum": 256},
        "seed": {"type": "integer", "minimum": 0},
        "ambiguous": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.0,
                      "description": "share of faces with a gender-neutral silhouette"},
    },
    "required": ["n_train", "n_val", "image_size", "seed"],
}  # fmt: skip


def fetch(source: dict[str, Any], out: Path, fmt: str, lock_path: Any = None) -> None:
    from clipfair.data.demo import write_demo_release

    write_demo_release(out, source["n_train"], source["n_val"], source["image_size"],
                       source["seed"], source["ambiguous"], source["padding"])  # fmt: skip
