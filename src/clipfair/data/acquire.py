"""Acquire a FairFace-format release into ``data/raw/<dataset>/`` from the source in params.

Sources: ``demo`` (generated here), ``local`` (a folder holding the release files, copied and
checked), ``download`` (HTTP with atomic rename; a file already placed by hand is kept),
``hf_parquet`` (the hub's parquet, converted into the release layout).
"""

from __future__ import annotations

import hashlib
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from clipfair.data.demo import write_demo_release
from clipfair.data.layout import RELEASE_FILES
from clipfair.io import atomic_path
from clipfair.progress import progress

CHUNK = 1 << 20


def sha256_of(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def download(url: str, target: Path, timeout: float = 60.0) -> None:
    """Stream ``url`` to ``target`` atomically; a clear error says how to place it by hand."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, atomic_path(target) as tmp:
            total = int(resp.headers.get("Content-Length") or 0) or None
            bar = progress(total=total, desc=f"download {target.name}", unit="B", unit_scale=True)
            with open(tmp, "wb") as fh:
                for block in iter(lambda: resp.read(CHUNK), b""):
                    fh.write(block)
                    bar.update(len(block))
            bar.close()
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise RuntimeError(
            f"could not download {url} to {target} ({exc}). Offline? Download it elsewhere "
            f"and place it at {target}; the pipeline then uses it."
        ) from exc


def acquire(source: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Make the three release files exist in ``out_dir`` (verified when sha256 is given)."""
    out_dir = Path(out_dir)
    kind = source["kind"]
    if kind == "demo":
        write_demo_release(
            out_dir, source["n_train"], source["n_val"], source["image_size"], source["seed"]
        )
    elif kind == "local":
        folder = Path(source["folder"])
        for name in RELEASE_FILES:
            if not (folder / name).is_file():
                raise FileNotFoundError(f"local source {folder} has no {name}")
            with atomic_path(out_dir / name) as tmp:
                shutil.copyfile(folder / name, tmp)
    elif kind == "hf_parquet":
        from clipfair.data.hf_parquet import download_shards, parquet_to_release, shards_by_split

        folder = source.get("local_dir") or download_shards(
            source["repo"], source["config"], source.get("revision", "main"),
            source.get("cache_dir"),
        )
        parquet_to_release(shards_by_split(folder), out_dir)
    elif kind == "download":
        for name, url in source["files"].items():
            target = out_dir / name
            if not target.is_file():
                download(url, target)
    else:
        raise ValueError(
            f"unknown source kind {kind!r}; expected demo, local, download or hf_parquet"
        )
    for name, expected in source.get("sha256", {}).items():
        actual = sha256_of(out_dir / name)
        if actual != expected:
            raise ValueError(f"{out_dir / name}: sha256 {actual}, expected {expected}")
    return [out_dir / name for name in RELEASE_FILES]
