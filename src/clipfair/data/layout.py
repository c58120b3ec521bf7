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


def _pick(value: Any, padding: str, where: str) -> Any:
    """``value``, or its entry for ``padding`` when it is a {padding: value} mapping."""
    if isinstance(value, dict) and set(value) <= set(PADDINGS):
        if padding not in value:
            raise InputError(f"{where} has no entry for padding {padding} (has {sorted(value)})")
        return value[padding]
    return value


def source_for_padding(source: dict[str, Any], padding: str) -> dict[str, Any]:
    """The source of one padding: ``download`` files / size / sha256 given per padding
    (``{"0.25": url, "1.25": url}``) are picked; the hub's config is the padding."""
    if padding not in PADDINGS:
        raise InputError(f"padding {padding!r}; expected one of {PADDINGS}")
    out = dict(source)
    if source["kind"] == "download":
        for key in ("files", "size", "sha256"):
            if key in source:
                out[key] = {
                    n: _pick(v, padding, f"source.{key}.{n}") for n, v in source[key].items()
                }
    elif source["kind"] in ("local", "rehearsal", "demo"):
        out["padding"] = padding  # which official zip to look for (or which crop to write)
    elif source["kind"] == "hf_parquet":
        if source.get("config", padding) != padding:
            raise InputError(
                f"source.config is {source['config']!r} but the dataset's padding is {padding!r}; "
                "set padding only"
            )
        out["config"] = padding
    return out
