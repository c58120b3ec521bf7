"""``demo_adience``: a synthetic release in Adience's layout (fold files + ``aligned/``),
each user's faces sharing a person effect, written here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

FORMATS = ("adience",)
SCHEMA = {
    "properties": {
        "n_users": {"type": "integer", "minimum": 10},
        "faces_per_user": {"type": "integer", "minimum": 1},
        "image_size": {"type": "integer", "minimum": 32, "maximum": 256},
        "seed": {"type": "integer", "minimum": 0},
    },
    "required": ["n_users", "faces_per_user", "image_size", "seed"],
}


def fetch(source: dict[str, Any], out: Path, fmt: str, lock_path: Any = None) -> None:
    from clipfair.data.adience import write_demo_adience

    write_demo_adience(out, source["n_users"], source["faces_per_user"], source["image_size"],
                       source["seed"])  # fmt: skip
