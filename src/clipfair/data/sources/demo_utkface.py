"""``demo_utkface``: a synthetic ``UTKFace.tar.gz`` in the release's naming, with a few bad
names, written here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

FORMATS = ("utkface",)
SCHEMA = {
    "properties": {
        "n_faces": {"type": "integer", "minimum": 50},
        "image_size": {"type": "integer", "minimum": 32, "maximum": 256},
        "seed": {"type": "integer", "minimum": 0},
        "bad_names": {"type": "integer", "minimum": 0, "default": 3},
    },
    "required": ["n_faces", "image_size", "seed"],
}


def fetch(source: dict[str, Any], out: Path, fmt: str, lock_path: Any = None) -> None:
    from clipfair.data.utkface import write_demo_utkface

    write_demo_utkface(out, source["n_faces"], source["image_size"], source["seed"],
                       source["bad_names"])  # fmt: skip
