"""Atomic file output (temp file beside the target, then rename) and resumable work folders."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp path in ``target``'s folder; rename it onto ``target`` if the block succeeds.

    On error the temp file is removed and ``target`` is left untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    try:
        yield tmp_path
        # mkstemp creates 0600, and writers that replace the file (safetensors) do too: give
        # the usual file mode to what was written, just before it takes the target's name
        tmp_path.chmod(0o666 & ~umask)
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_json(target: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented, key-sorted JSON atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_parquet(target: str | os.PathLike[str], df: Any) -> None:
    """Write a pandas DataFrame to parquet atomically."""
    with atomic_path(target) as tmp:
        df.to_parquet(tmp, index=False)


def resume_folder(folder: str | os.PathLike[str], expected: dict[str, Any]) -> Path:
    """A work folder for resumable output: kept when its ``manifest.json`` equals ``expected``
    (the same run: resume), else emptied and started again (work of another run is ours to
    redo). Compared as JSON, so tuples and lists are the same."""
    folder = Path(folder)
    manifest = folder / "manifest.json"
    expected = json.loads(json.dumps(expected, sort_keys=True))
    if folder.exists():
        if manifest.exists() and json.loads(manifest.read_text()) == expected:
            return folder
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    write_json(manifest, expected)
    return folder
