"""Acquire a FairFace-format release into ``data/raw/<dataset>/`` from the source in params.

Sources: ``demo`` (generated here), ``local`` (a folder holding the release files, copied and
checked), ``download`` (HTTP, resumable and verified: ``clipfair.data.download``; a file already
there, e.g. placed by hand, is verified and used),
``hf_parquet`` (the hub's parquet, converted into the release layout), ``rehearsal`` (a
synthetic release at the real size, downloaded from a local Drive-like server:
``clipfair.rehearsal.release``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from clipfair.data.demo import write_demo_release
from clipfair.data.download import Expected, download, mismatch
from clipfair.data.layout import IMAGES_ZIP, OFFICIAL_ZIPS, RELEASE_FILES
from clipfair.data.lockfile import DownloadLock, locked_download
from clipfair.errors import InputError, MissingFileError
from clipfair.io import atomic_path

ADIENCE_HOME = "https://talhassner.github.io/home/projects/Adience/Adience-data.html"
UTKFACE_HOME = "https://susanqq.github.io/UTKFace/"


def acquire(
    source: dict[str, Any], out_dir: str | Path, lock_path: str | Path | None = None
) -> list[Path]:
    """Make the three release files exist in ``out_dir``, verified against params' sizes and
    digests and the downloads lock (``lock_path``; downloads are recorded there on first use)."""
    out_dir = Path(out_dir)
    kind = source["kind"]
    if kind == "demo":
        write_demo_release(
            out_dir,
            source["n_train"],
            source["n_val"],
            source["image_size"],
            source["seed"],
            source.get("ambiguous", 0.0),
            source.get("padding", "0.25"),
        )
    elif kind == "local":
        folder = Path(source["folder"])
        for name, found in local_release_files(folder, source.get("padding", "0.25")).items():
            with atomic_path(out_dir / name) as tmp:
                shutil.copyfile(found, tmp)
    elif kind == "rehearsal":
        from clipfair.rehearsal.release import fetch

        fetch(source, out_dir)
    elif kind == "hf_parquet":
        from clipfair.data.hf_parquet import download_shards, parquet_to_release, shards_by_split

        folder = source.get("local_dir") or download_shards(
            source["repo"],
            source["config"],
            source.get("revision", "main"),
            source.get("cache_dir"),
        )
        parquet_to_release(shards_by_split(folder), out_dir)
    elif kind == "download":
        lock = DownloadLock(lock_path) if lock_path else None
        for name, url in source["files"].items():
            target = out_dir / name
            given = Expected(source.get("size", {}).get(name), source.get("sha256", {}).get(name))
            locked_download(
                url,
                target,
                given,
                lock,
                lambda expected, url=url, target=target: download(
                    url, target, expected, retries=source.get("retries", 4)
                ),
            )
    else:
        raise InputError(
            f"unknown source kind {kind!r}; expected demo, local, download, rehearsal or hf_parquet"
        )
    if kind not in (
        "download",
        "rehearsal",
    ):  # downloads were verified above, before they were renamed
        for name, expected_sha in source.get("sha256", {}).items():
            if problem := mismatch(out_dir / name, Expected(sha256=expected_sha)):
                raise InputError(f"{out_dir / name}: {problem}")
    return [out_dir / name for name in RELEASE_FILES]


def local_release_files(folder: Path, padding: str) -> dict[str, Path]:
    """The release files of a local folder, by their names in the release layout: the image
    zip as downloaded (``fairface-img-margin025-trainval.zip`` for padding 0.25,
    ``...margin125...`` for 1.25) or already named ``images.zip``; the two label CSVs."""
    official = OFFICIAL_ZIPS[padding]
    zips = [folder / n for n in (official, IMAGES_ZIP) if (folder / n).is_file()]
    if not zips:
        other = [n for p, n in OFFICIAL_ZIPS.items() if p != padding and (folder / n).is_file()]
        hint = f" (it has {other[0]}, the other crop: set padding to match)" if other else ""
        raise MissingFileError(
            f"local source {folder} has no {official} (padding {padding}) or {IMAGES_ZIP}{hint}"
        )
    if len(zips) == 2:
        raise InputError(
            f"local source {folder} has both {official} and {IMAGES_ZIP}; keep the one to use"
        )
    files = {IMAGES_ZIP: zips[0]}
    for name in RELEASE_FILES[1:]:
        if not (folder / name).is_file():
            raise MissingFileError(f"local source {folder} has no {name}")
        files[name] = folder / name
    return files


def _link_or_copy(src: str, dst: str) -> None:
    """Hard link (no second copy of ~1 GB of faces) where the filesystem allows, else copy."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def acquire_adience(source: dict[str, Any], out_dir: str | Path) -> Path:
    """Make ``out_dir`` an Adience release: the five fold files and ``aligned/``.

    ``demo_adience`` writes the synthetic one; ``local`` takes a folder the user unpacked (the
    data is given out after a form, so it cannot be downloaded here). Built in a temporary
    sibling and renamed, so an interrupted run leaves no half release.
    """
    from clipfair.data.adience import N_FOLDS, fold_file, write_demo_adience

    out_dir = Path(out_dir)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    kind = source["kind"]
    if kind == "demo_adience":
        write_demo_adience(
            tmp, source["n_users"], source["faces_per_user"], source["image_size"], source["seed"]
        )
    elif kind == "local":
        folder = Path(source["folder"])
        needed = [fold_file(i) for i in range(N_FOLDS)] + ["aligned"]
        missing = [n for n in needed if not (folder / n).exists()]
        if missing:
            raise MissingFileError(
                f"Adience folder {folder} lacks {', '.join(missing)}. Adience is given out after "
                f"a form ({ADIENCE_HOME}): download aligned.tar.gz and fold_0..4_data.txt, unpack "
                f"them into {folder} (aligned/<user_id>/landmark_aligned_face.*.jpg), or set "
                "grid.adience: null to run without the Adience cells"
            )
        tmp.mkdir(parents=True)
        for name in needed[:-1]:
            shutil.copy2(folder / name, tmp / name)
        shutil.copytree(
            folder / "aligned", tmp / "aligned", symlinks=True, copy_function=_link_or_copy
        )
    else:
        raise InputError(f"unknown Adience source kind {kind!r}; expected demo_adience or local")
    if out_dir.exists():
        shutil.rmtree(out_dir)  # a directory output Snakemake is rebuilding
    os.replace(tmp, out_dir)
    return out_dir


def acquire_utkface(source: dict[str, Any], out: str | Path) -> Path:
    """Make ``out`` the release's ``UTKFace.tar.gz``: ``demo_utkface`` writes the synthetic
    one; ``local`` takes the archive from the folder the user downloaded it to (UTKFace's page
    links it on Google Drive, with no stable file id)."""
    from clipfair.data.utkface import ARCHIVE, write_demo_utkface

    out = Path(out)
    kind = source["kind"]
    if kind == "demo_utkface":
        write_demo_utkface(
            out, source["n_faces"], source["image_size"], source["seed"], source.get("bad_names", 3)
        )
    elif kind == "local":
        found = Path(source["folder"]) / ARCHIVE
        if not found.is_file():
            raise MissingFileError(
                f'UTKFace folder {source["folder"]} has no {ARCHIVE}: download the "Aligned&'
                f'Cropped Faces" archive from {UTKFACE_HOME} into it (23,708 faces), or set '
                "grid.utkface: null to run without the UTKFace cells"
            )
        with atomic_path(out) as tmp:
            _link_or_copy(str(found), str(tmp))
    else:
        raise InputError(f"unknown UTKFace source kind {kind!r}; expected demo_utkface or local")
    return out
