"""VGG-Face weights for the grid: the official torch7 release, downloaded and unpacked, or a
random-init network written as ``.t7`` (the offline demo), so both load through ``load_t7``.

The release is a tarball (``vgg_face_torch.tar.gz``) holding ``vgg_face_torch/VGG_FACE.t7``.
The download is resumable and verified (``clipfair.data.download``); only the one member is
read from the archive, by name, into a file whose path does not come from the archive.
"""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from clipfair.data.download import Expected, download
from clipfair.data.lockfile import DownloadLock, locked_download
from clipfair.errors import InputError
from clipfair.io import atomic_path

RELEASE_MEMBER = "VGG_FACE.t7"


def is_url(value: str) -> bool:
    return urlparse(value).scheme in ("http", "https")


def extract_member(archive: str | Path, member: str, out: str | Path) -> Path:
    """Copy the regular file of ``archive`` whose name ends with ``member`` to ``out``."""
    archive = Path(archive)
    try:
        with tarfile.open(archive) as tar:
            found = [m for m in tar.getmembers() if Path(m.name).name == member]
            if not found:
                raise InputError(f"{archive} has no member named {member}")
            if not found[0].isfile():  # a link or device: refuse, never follow
                raise InputError(f"{archive}: {found[0].name} is not a regular file")
            src = tar.extractfile(found[0])
            assert src is not None
            with atomic_path(out) as tmp, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    except tarfile.TarError as exc:
        raise InputError(f"{archive}: not a readable tar archive ({exc})") from exc
    return Path(out)


def write_random_t7(size: str, seed: int, out: str | Path) -> Path:
    """A random-init VGG-Face (``tiny``: the demo's narrow 96 px one, ``full``: the published
    widths) written as a real ``.t7``, seeded."""
    import torch

    from clipfair.models.vggface import TINY, VGGFace, VGGFaceConfig, save_t7

    torch.manual_seed(seed)
    save_t7(VGGFace(TINY if size == "tiny" else VGGFaceConfig()), out)
    return Path(out)


def make_weights(
    entry: dict[str, Any],
    out: str | Path,
    archive_dir: str | Path,
    lock_path: str | Path | None = None,
) -> Path:
    """Write the ``.t7`` of a VGG-Face datasource entry (``init`` or a ``pretrained`` URL);
    the download is checked against, and recorded in, the downloads lock."""
    if "init" in entry:
        return write_random_t7(entry["init"]["size"], entry["init"]["seed"], out)
    url = entry["pretrained"]
    if not is_url(url):
        raise InputError(f"pretrained {url!r} is a local file: the pipeline reads it directly")
    archive = Path(archive_dir) / Path(urlparse(url).path).name
    locked_download(
        url,
        archive,
        Expected(sha256=entry.get("sha256")),
        DownloadLock(lock_path) if lock_path else None,
        lambda expected: download(url, archive, expected),
    )
    if archive.suffix == ".t7":
        with atomic_path(out) as tmp:
            shutil.copyfile(archive, tmp)
        return Path(out)
    return extract_member(archive, entry.get("member", RELEASE_MEMBER), out)
