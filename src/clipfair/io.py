"""Atomic file output (temp file beside the target, then rename) and resumable work folders."""

from __future__ import annotations

import errno
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from clipfair.errors import DiskSpaceError


def ensure_free_space(target: str | os.PathLike[str], need: int, what: str) -> None:
    """Raise :class:`DiskSpaceError` unless the filesystem of ``target`` has ``need`` bytes
    free (and 1% more), before a large write starts: a full disk found halfway through a 13 GB
    image cache costs the time spent and leaves nothing usable."""
    folder = Path(target).absolute().parent
    while not folder.exists():
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if need * 1.01 > free:
        raise DiskSpaceError(
            f"{what} needs {_size(need)} in {folder}; {_size(free)} free there. " + MOVE_DATA
        )


def _size(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"


#: the fix a full disk's error names
MOVE_DATA = (
    "Free some space, or move data/ to a larger disk: paths.data in params.yaml "
    "(or --config 'paths={data: /larger/disk/data}')."
)


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp path in ``target``'s folder; rename it onto ``target`` if the block succeeds.

    On error the temp file is removed and ``target`` is left untouched; a full disk (ENOSPC)
    becomes a :class:`~clipfair.errors.DiskSpaceError` naming the fix.
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
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        raise DiskSpaceError(
            f"the disk filled up while writing {target}; nothing of it was kept. " + MOVE_DATA
        ) from exc
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_json(target: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented, key-sorted JSON atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_yaml(target: str | os.PathLike[str], obj: Any, header: str = "") -> None:
    """Write ``obj`` as block YAML (keys in their order) atomically, after ``header``."""
    import yaml

    with atomic_path(target) as tmp:
        tmp.write_text(header + yaml.safe_dump(obj, sort_keys=False, allow_unicode=True))


def write_csv(target: str | os.PathLike[str], df: Any, float_format: str | None = None) -> None:
    """Write a pandas DataFrame as CSV (no index) atomically."""
    with atomic_path(target) as tmp:
        df.to_csv(tmp, index=False, float_format=float_format)


def write_parquet(target: str | os.PathLike[str], df: Any) -> None:
    """Write a pandas DataFrame to parquet atomically."""
    with atomic_path(target) as tmp:
        df.to_parquet(tmp, index=False)


def write_safetensors(
    target: str | os.PathLike[str], tensors: dict[str, Any], metadata: dict[str, str] | None = None
) -> None:
    """``safetensors.torch.save_file``, atomically and byte for byte reproducible: the library
    writes the metadata in its hash map's (per-process random) order, so the same weights
    made two files, and DVC two versions; here the metadata's keys are sorted in place."""
    from safetensors.torch import save_file

    with atomic_path(target) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
        with open(tmp, "r+b") as fh:
            size = int.from_bytes(fh.read(8), "little")
            header = json.loads(fh.read(size))
            if "__metadata__" in header:
                header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
                text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
                if len(text) <= size:  # the same entries: at most as long, padded as before
                    fh.seek(8)
                    fh.write(text.ljust(size))


def _flat(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): obj}


def manifest_changes(old: Any, new: dict[str, Any]) -> list[str]:
    """What differs between two manifests, one ``key: old -> new`` per change."""
    a, b = _flat(old if isinstance(old, dict) else {}), _flat(new)
    return [
        f"{k}: {a.get(k)!r} -> {b.get(k)!r}"
        for k in sorted(set(a) | set(b))
        if a.get(k) != b.get(k)
    ]


def resume_folder(folder: str | os.PathLike[str], expected: dict[str, Any]) -> Path:
    """A work folder for resumable output: kept when its ``manifest.json`` equals ``expected``
    (the same run: resume), else emptied and started again (work of another run is ours to
    redo), saying on stderr which inputs changed. Compared as JSON, so tuples and lists are
    the same. Manifests should hold content digests (:mod:`clipfair.digests`), not only paths."""
    folder = Path(folder)
    manifest = folder / "manifest.json"
    expected = json.loads(json.dumps(expected, sort_keys=True))
    if folder.exists():
        try:
            old = json.loads(manifest.read_text()) if manifest.exists() else None
        except ValueError:
            old = None
        if old == expected:
            return folder
        changes = manifest_changes(old, expected) if old is not None else ["no manifest"]
        print(
            f"restarting {folder}: its work was made from other inputs ("
            + "; ".join(changes[:8])
            + (f"; and {len(changes) - 8} more" if len(changes) > 8 else "")
            + ")",
            file=sys.stderr,
        )
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    write_json(manifest, expected)
    return folder
