"""Acquire a FairFace-format release into ``data/raw/<dataset>/`` from the source in params.

Sources: ``demo`` (generated here), ``local`` (a folder holding the release files, copied and
checked), ``download`` (HTTP, resumable and verified: ``clipfair.data.download``; a file already
there, e.g. placed by hand, is verified and used),
``hf_parquet`` (the hub's parquet, converted into the release layout).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from clipfair.data.demo import write_demo_release
from clipfair.data.download import DownloadError, Expected, download, mismatch
from clipfair.data.layout import RELEASE_FILES
from clipfair.io import atomic_path

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
            expected = Expected(source.get("size", {}).get(name), source.get("sha256", {}).get(name))
            if target.is_file():  # downloaded before, or placed by hand: verify, never replace
                if problem := mismatch(target, expected):
                    raise DownloadError(
                        f"{target} is there but is not the expected file ({problem}); "
                        f"move it away to download {url} again"
                    )
                continue
            download(url, target, expected, retries=source.get("retries", 4))
    else:
        raise ValueError(
            f"unknown source kind {kind!r}; expected demo, local, download or hf_parquet"
        )
    if kind != "download":  # downloads were verified above, before they were renamed
        for name, expected_sha in source.get("sha256", {}).items():
            if problem := mismatch(out_dir / name, Expected(sha256=expected_sha)):
                raise ValueError(f"{out_dir / name}: {problem}")
    return [out_dir / name for name in RELEASE_FILES]
