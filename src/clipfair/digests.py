"""Content identity of input files: sha256 digests, computed once per file version.

Resume manifests and output sidecars record what their inputs contain, not only where they
are: a checkpoint retrained at the same path, or a re-ingested image cache, then has another
digest and the work made from the old one is redone. A file's digest is cached by its
(path, size, mtime) under ``$CLIPFAIR_CACHE`` (default ``~/.cache/clipfair``), so a 15 GB
image cache is read once, not at every job start.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

from clipfair.io import write_json

CHUNK = 1 << 20


def _cache_dir() -> Path:
    return Path(os.environ.get("CLIPFAIR_CACHE") or Path.home() / ".cache" / "clipfair")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes, from the cache when the file has not changed since."""
    path = Path(path).resolve()
    st = path.stat()
    key = hashlib.sha1(str(path).encode()).hexdigest()
    entry = _cache_dir() / "digests" / f"{key}.json"
    stamp = {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    try:
        cached = json.loads(entry.read_text())
        if {k: cached.get(k) for k in stamp} == stamp and cached.get("sha256"):
            return cached["sha256"]
    except (OSError, ValueError):
        pass
    digest = _sha256(path)
    with contextlib.suppress(OSError):  # a read-only home: still correct, slower next time
        write_json(entry, {**stamp, "sha256": digest})
    return digest


def path_sha256(path: str | Path) -> str:
    """sha256 of a file, or of a folder's files (relative names and their digests, sorted)."""
    path = Path(path)
    if path.is_file():
        return file_sha256(path)
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(f.relative_to(path).as_posix().encode() + b"\0" + file_sha256(f).encode())
    return h.hexdigest()


def local_path(value: str | None) -> Path | None:
    """``value`` as an existing local file or folder (weights given by path), else None."""
    if not value:
        return None
    path = Path(value)
    return path if path.exists() else None
