"""File names of a FairFace-format release, shared by the demo writer, download and ingest."""

from __future__ import annotations

SPLITS: tuple[str, ...] = ("train", "val")
IMAGES_ZIP = "images.zip"
CSV_HEADER: tuple[str, ...] = ("file", "age", "gender", "race", "service_test")


def label_csv(split: str) -> str:
    """Name of the label CSV of ``split`` (as in the official release)."""
    return f"fairface_label_{split}.csv"


RELEASE_FILES: tuple[str, ...] = (IMAGES_ZIP, *(label_csv(s) for s in SPLITS))
