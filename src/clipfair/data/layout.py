"""A FairFace-format release: its file names (shared by the demo writer, download and ingest)
and its two crops (paddings), which pick the files of a source. Import-light: the Snakefile
reads it at start-up."""

from __future__ import annotations

from typing import Any

from clipfair.errors import InputError

SPLITS: tuple[str, ...] = ("train", "val")
IMAGES_ZIP = "images.zip"
CSV_HEADER: tuple[str, ...] = ("file", "age", "gender", "race", "service_test")


def label_csv(split: str) -> str:
    """Name of the label CSV of ``split`` (as in the official release)."""
    return f"fairface_label_{split}.csv"


RELEASE_FILES: tuple[str, ...] = (IMAGES_ZIP, *(label_csv(s) for s in SPLITS))


PADDINGS = ("0.25", "1.25")  # FairFace's two crops: margin 0.25 or 1.25 around the face
#: the image zip of each crop as the FairFace README's links download it
OFFICIAL_ZIPS = {
    "0.25": "fairface-img-margin025-trainval.zip",
    "1.25": "fairface-img-margin125-trainval.zip",
}


def pick_padding(value: Any, padding: str, where: str) -> Any:
    """``value``, or its entry for ``padding`` when it is a {padding: value} mapping."""
    if isinstance(value, dict) and set(value) <= set(PADDINGS):
        if padding not in value:
            raise InputError(f"{where} has no entry for padding {padding} (has {sorted(value)})")
        return value[padding]
    return value
