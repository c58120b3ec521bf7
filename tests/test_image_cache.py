"""The image cache's reader and writer: standard .npy files, rows read without mapping."""

from __future__ import annotations

import numpy as np
import pytest

from clipfair.image_cache import CacheReader, CacheWriter


def _images(n=7, size=4):
    return np.random.default_rng(0).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_written_cache_is_a_standard_npy_and_reads_back_by_rows(tmp_path):
    images, path = _images(), tmp_path / "c.npy"
    with CacheWriter(path, len(images), 4) as w:
        w.write(images[:3])
        w.write(images[3:])
    np.testing.assert_array_equal(np.load(path), images)
    cache = CacheReader(path)
    assert len(cache) == 7 and cache.shape == (7, 4, 4, 3)
    np.testing.assert_array_equal(cache[2], images[2])
    np.testing.assert_array_equal(cache[-1], images[-1])
    np.testing.assert_array_equal(cache[1:5], images[1:5])
    np.testing.assert_array_equal(cache[::3], images[::3])
    rows = np.array([6, 0, 1, 2, 5, 1])  # unsorted, repeated, with runs
    np.testing.assert_array_equal(cache[rows], images[rows])
    with pytest.raises(IndexError, match="row 7 of 7"):
        cache[7]


def test_a_short_write_leaves_no_file(tmp_path):
    path = tmp_path / "c.npy"
    short = pytest.raises(ValueError, match="3 rows written, 7 declared")
    with short, CacheWriter(path, 7, 4) as w:
        w.write(_images(3))
    assert list(tmp_path.iterdir()) == []


def test_a_truncated_cache_is_named_with_the_fix(tmp_path):
    path = tmp_path / "c.npy"
    np.save(path, _images())
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match=r"c.npy is truncated: .*--forcerun ingest"):
        CacheReader(path)


def test_a_cache_of_another_dtype_is_refused(tmp_path):
    path = tmp_path / "c.npy"
    np.save(path, _images().astype(np.float32))
    with pytest.raises(ValueError, match="expected a C-ordered uint8"):
        CacheReader(path)


def test_a_cache_larger_than_the_free_disk_is_refused_before_writing(tmp_path):
    import shutil

    from clipfair.errors import DiskSpaceError

    size = 224
    n = shutil.disk_usage(tmp_path).free // (size * size * 3) + 1000
    refused = pytest.raises(DiskSpaceError, match=rf"image cache of {n} images needs .* free there")
    with refused, CacheWriter(tmp_path / "train_images.npy", n, size):
        pass
    assert list(tmp_path.iterdir()) == []  # not even a temp file
