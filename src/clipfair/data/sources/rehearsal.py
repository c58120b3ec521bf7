"""``rehearsal``: the full-size rehearsal's synthetic release at FairFace's real size and
layout, served by a Drive-like server on 127.0.0.1 and downloaded through the real
downloader (:mod:`clipfair.rehearsal.release`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

FORMATS = ("fairface",)
KNOWS_COUNTS = True
SCHEMA = {
    "properties": {
        "n_train": {"type": "integer", "minimum": 50},
        "n_val": {"type": "integer", "minimum": 20},
        "image_size": {"type": "integer", "minimum": 32, "maximum": 448},
        "seed": {"type": "integer", "minimum": 0},
        "folder": {"type": "string", "description": "where the 'remote' release is written"},
        "workers": {"type": "integer", "minimum": 1, "default": 2,
                    "description": "processes drawing faces"},
        "quality": {"type": "integer", "minimum": 30, "maximum": 100, "default": 75,
                    "description": "JPEG quality"},
        "confirm_over": {"type": "integer", "minimum": 0, "default": 1 << 20,
                         "description": "bytes: larger files get Drive's confirm page"},
    },
    "required": ["n_train", "n_val", "image_size", "seed", "folder"],
}  # fmt: skip


def fetch(source: dict[str, Any], out: Path, fmt: str, lock_path: Any = None) -> None:
    from clipfair.rehearsal.release import fetch as fetch_release

    fetch_release(source, out)
