"""``hf_parquet``: the Hugging Face hub's parquet export of FairFace, converted into the
release layout (:mod:`clipfair.data.hf_parquet`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clipfair.errors import InputError

FORMATS = ("fairface",)
SCHEMA = {
    "properties": {
        "repo": {"type": "string"},
        "config": {"enum": ["0.25", "1.25"], "description": "default: the dataset's padding"},
        "revision": {"type": "string", "default": "main"},
        "cache_dir": {"type": ["string", "null"], "default": None},
        "local_dir": {"type": "string", "description": "a folder of the parquet shards (offline)"},
    },
    "required": ["repo"],
}  # fmt: skip


def for_padding(source: dict[str, Any], padding: str) -> dict[str, Any]:
    """The hub's config is the padding (giving another one is an error)."""
    if source.get("config", padding) != padding:
        raise InputError(
            f"source.config is {source['config']!r} but the dataset's padding is {padding!r}; "
            "set padding only"
        )
    return {**source, "config": padding}


def fetch(source: dict[str, Any], out: Path, fmt: str, lock_path: Any = None) -> None:
    from clipfair.data.hf_parquet import download_shards, parquet_to_release, shards_by_split

    folder = source.get("local_dir") or download_shards(
        source["repo"], source["config"], source["revision"], source["cache_dir"]
    )
    parquet_to_release(shards_by_split(folder), out)
