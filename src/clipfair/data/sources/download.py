"""``download``: the release's files over HTTP (Google Drive links work: their confirm page
is followed), resumable, retried and verified against the entry's sizes and sha256 and the
downloads lock (:mod:`clipfair.data.download`, :mod:`clipfair.data.lockfile`). A file
already in place (put there by hand) is verified and used."""

from __future__ import annotations

from pathlib import Path
from typing import Any

FORMATS = ("fairface",)
_PADDINGS = {"^(0\\.25|1\\.25)$"}
_SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_URL = {"oneOf": [
    {"type": "string"},
    {"type": "object", "additionalProperties": False, "minProperties": 1,
     "patternProperties": {p: {"type": "string"} for p in _PADDINGS}},
]}  # fmt: skip


def _per_padding(value: dict[str, Any]) -> dict[str, Any]:
    return {"oneOf": [value, {"type": "object", "additionalProperties": False,
                              "patternProperties": {p: value for p in _PADDINGS}}]}  # fmt: skip


SCHEMA = {
    "properties": {
        "files": {
            "type": "object",
            "required": ["images.zip", "fairface_label_train.csv", "fairface_label_val.csv"],
            "additionalProperties": False,
            "description": "a URL per file, or per padding: {'0.25': url, '1.25': url}",
            "properties": {n: _URL for n in
                           ("images.zip", "fairface_label_train.csv", "fairface_label_val.csv")},
        },
        "sha256": {"type": "object", "additionalProperties": _per_padding(_SHA256)},
        "size": {"type": "object",
                 "additionalProperties": _per_padding({"type": "integer", "minimum": 0})},
        "retries": {"type": "integer", "minimum": 0, "default": 4},
    },
    "required": ["files"],
}  # fmt: skip


def for_padding(source: dict[str, Any], padding: str) -> dict[str, Any]:
    """The files, sizes and digests of one padding, where they are given per padding."""
    from clipfair.data.layout import pick_padding

    out = dict(source)
    for key in ("files", "size", "sha256"):
        if key in source:
            out[key] = {n: pick_padding(v, padding, f"source.{key}.{n}")
                        for n, v in source[key].items()}  # fmt: skip
    return out


def fetch(source: dict[str, Any], out: Path, fmt: str, lock_path: Any = None) -> None:
    from clipfair.data.download import Expected, download
    from clipfair.data.lockfile import DownloadLock, locked_download

    lock = DownloadLock(lock_path) if lock_path else None
    for name, url in source["files"].items():
        target = out / name
        given = Expected(source.get("size", {}).get(name), source.get("sha256", {}).get(name))
        locked_download(
            url, target, given, lock,
            lambda expected, url=url, target=target: download(
                url, target, expected, retries=source["retries"]
            ),
        )  # fmt: skip
