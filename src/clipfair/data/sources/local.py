"""``local``: a folder the user filled by hand: FairFace's release files (the image zip as
downloaded, or already named ``images.zip``, and both label CSVs), Adience's fold files and
``aligned/`` (given out after a form), or UTKFace's archive (linked from its page on Google
Drive, with no stable file id). Copied, or hard-linked where the filesystem allows."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from clipfair.errors import InputError, MissingFileError
from clipfair.io import atomic_path

FORMATS = ("fairface", "adience", "utkface")
SCHEMA = {
    "properties": {
        "folder": {"type": "string"},
    },
    "required": ["folder"],
}  # fmt: skip
ADIENCE_HOME = "https://talhassner.github.io/home/projects/Adience/Adience-data.html"
UTKFACE_HOME = "https://susanqq.github.io/UTKFace/"


def release_files(folder: Path, padding: str) -> dict[str, Path]:
    """The FairFace release files of a folder, by their names in the release layout: the
    image zip as downloaded (``fairface-img-margin025-trainval.zip`` for padding 0.25,
    ``...margin125...`` for 1.25) or already named ``images.zip``; the two label CSVs."""
    from clipfair.data.layout import IMAGES_ZIP, OFFICIAL_ZIPS, RELEASE_FILES

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


def fetch(source: dict[str, Any], out: Path, fmt: str, lock_path: Any = None) -> None:
    folder = Path(source["folder"])
    if fmt == "fairface":
        for name, found in release_files(folder, source["padding"]).items():
            with atomic_path(out / name) as tmp:
                shutil.copyfile(found, tmp)
    elif fmt == "adience":
        from clipfair.data.adience import N_FOLDS, fold_file

        needed = [fold_file(i) for i in range(N_FOLDS)] + ["aligned"]
        missing = [n for n in needed if not (folder / n).exists()]
        if missing:
            raise MissingFileError(
                f"Adience folder {folder} lacks {', '.join(missing)}. Adience is given out after "
                f"a form ({ADIENCE_HOME}): download aligned.tar.gz and fold_0..4_data.txt, unpack "
                f"them into {folder} (aligned/<user_id>/landmark_aligned_face.*.jpg), or set "
                "grid.adience: null to run without the Adience cells"
            )
        out.mkdir(parents=True)
        for name in needed[:-1]:
            shutil.copy2(folder / name, out / name)
        shutil.copytree(folder / "aligned", out / "aligned", symlinks=True,
                        copy_function=_link_or_copy)  # fmt: skip
    else:
        from clipfair.data.utkface import ARCHIVE

        found = folder / ARCHIVE
        if not found.is_file():
            raise MissingFileError(
                f'UTKFace folder {folder} has no {ARCHIVE}: download the "Aligned&'
                f'Cropped Faces" archive from {UTKFACE_HOME} into it (23,708 faces), or set '
                "grid.utkface: null to run without the UTKFace cells"
            )
        with atomic_path(out) as tmp:
            _link_or_copy(str(found), str(tmp))
