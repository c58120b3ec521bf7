"""A full disk: large writes are refused before they start, and one that fills the disk halfway
leaves nothing behind and names the fix. On a real 2 MB tmpfs where this user may mount one;
elsewhere the disk fills by fault injection (a write that raises ENOSPC)."""

from __future__ import annotations

import errno
import math
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from clipfair.errors import DiskSpaceError
from clipfair.image_cache import CacheWriter

from .conftest import ROOT


@pytest.fixture
def small_disk(tmp_path):
    """(folder, True) on a 2 MB tmpfs, or (folder, False) where mounting is not allowed."""
    folder = tmp_path / "small"
    folder.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder)]
    mounted = os.geteuid() == 0 and subprocess.run(mount, capture_output=True).returncode == 0
    yield folder, mounted
    if mounted:
        subprocess.run(["umount", str(folder)], check=True)


class _FullAfter:
    """A file whose writes fail with ENOSPC after ``room`` bytes (the fault-injected disk)."""

    def __init__(self, fh, room: int) -> None:
        self.fh, self.room = fh, room

    def write(self, data) -> int:
        size = memoryview(data).nbytes
        if size > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= size
        return self.fh.write(data)

    def close(self) -> None:
        self.fh.close()


def test_a_cache_that_fills_the_disk_halfway_leaves_nothing(small_disk):
    folder, mounted = small_disk
    rows = np.zeros((10, 128, 128, 3), np.uint8)  # 480 KB a batch, 1.4 MB declared
    writer = CacheWriter(folder / "train_images.npy", 30, 128)
    full = pytest.raises(DiskSpaceError, match=r"filled up while writing .*images.npy.*paths.data")
    with full, writer as w:
        if mounted:  # the check passed; now something else takes the room
            (folder / "other.bin").write_bytes(b"\0" * 1_000_000)
        else:
            w._fh = _FullAfter(w._fh, 500_000)
        for _ in range(3):
            w.write(rows)
    left = sorted(p.name for p in folder.iterdir())
    assert left == (["other.bin"] if mounted else []), left


def test_ingest_refuses_a_cache_larger_than_the_free_disk_in_one_line(release_copy, small_disk):
    folder, mounted = small_disk
    # 512 px: 786 KB an image, more than the 2 MB tmpfs for any few; else one image larger
    # than the free disk (the check comes before any image is decoded)
    size = 512 if mounted else math.isqrt(shutil.disk_usage(folder).free // 3) + 1
    proc = subprocess.run(
        ["clipfair", "step", "ingest", "--raw", str(release_copy), "--split", "val",
         "--out-index", str(folder / "val.parquet"), "--out-images", str(folder / "val_images.npy"),
         "--image-size", str(size), "--threads", "1", "--on-bad-rows", "fail",
         "--expect", "{}", "--on-count-mismatch", "fail"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    refusal = rf"image cache of \d+ images needs [\d.]+ [GM]B in {re.escape(str(folder))}; "
    refusal += r"[\d.]+ [GM]B free there\. .*paths\.data in params\.yaml"
    assert re.search(refusal, lines[0]), lines[0]
    assert not (folder / "val_images.npy").exists() and not (folder / "val.parquet").exists()


def test_a_full_disk_while_writing_any_output_keeps_the_old_file(small_disk):
    from clipfair.io import atomic_path

    folder, mounted = small_disk
    target = folder / "summary.csv"
    target.write_text("the previous run's table\n")
    full = pytest.raises(DiskSpaceError, match="nothing of it was kept")
    with full, atomic_path(target) as tmp, open(tmp, "wb") as fh:
        (_FullAfter(fh, 0) if not mounted else fh).write(b"\0" * 3_000_000)
    assert target.read_text() == "the previous run's table\n"
    assert sorted(p.name for p in folder.iterdir()) == ["summary.csv"]
