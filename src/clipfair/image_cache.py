"""The uint8 image cache of a split (``<split>_images.npy``, shape (N, S, S, 3)), written and
read with plain file I/O, never memory-mapped.

A mapped file's pages count in the process's resident set as they are touched, so reading a
full-size cache (FairFace train: 86,744 x 224 x 224 x 3 = 13 GB) through ``np.load(...,
mmap_mode="r")`` grows a job's peak RSS to the cache's size, and writing it through
``open_memmap`` does the same. Here each read is an ``os.pread`` of the rows asked for into a
fresh array, and the writer appends rows to the file: the page cache still holds what fits,
but the process holds one batch. The file stays a standard ``.npy`` (``np.load`` reads it).
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

import numpy as np

from clipfair.errors import InputError
from clipfair.io import atomic_path, ensure_free_space


class CacheReader:
    """Rows of a uint8 ``.npy`` cache, read on demand: ``cache[i]``, ``cache[lo:hi]``,
    ``cache[array_of_rows]`` give fresh arrays, as a memory map would but without mapping."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        with open(self.path, "rb") as fh:
            try:
                version = np.lib.format.read_magic(fh)
                read_header = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape, fortran, dtype = read_header(fh)
            except ValueError as exc:
                raise InputError(f"{self.path}: not a .npy image cache ({exc})") from exc
            self.offset = fh.tell()
        if fortran or dtype != np.uint8 or len(shape) != 4:
            raise InputError(
                f"{self.path}: expected a C-ordered uint8 (N, S, S, 3) cache, found {dtype} "
                f"{shape}{' (Fortran order)' if fortran else ''}"
            )
        self.shape: tuple[int, ...] = tuple(shape)
        self.dtype = np.dtype(np.uint8)
        self.row_bytes = int(np.prod(shape[1:]))
        need = self.offset + self.row_bytes * shape[0]
        have = self.path.stat().st_size
        if have < need:
            raise InputError(
                f"{self.path} is truncated: {have} bytes, its header says {need} "
                f"({shape[0]} rows); delete it and rerun the ingest rule (or --forcerun ingest)"
            )
        self._fd: int | None = None

    def __len__(self) -> int:
        return self.shape[0]

    def _read(self, lo: int, hi: int) -> np.ndarray:
        if self._fd is None or self._pid != os.getpid():  # a forked loader worker: own fd
            self._fd, self._pid = os.open(self.path, os.O_RDONLY), os.getpid()
        out = np.empty((hi - lo, *self.shape[1:]), np.uint8)
        view, pos, done = memoryview(out).cast("B"), self.offset + lo * self.row_bytes, 0
        while done < len(view):
            n = os.preadv(self._fd, [view[done:]], pos + done)
            if n == 0:
                raise InputError(f"{self.path}: ended at row {lo + done // self.row_bytes}")
            done += n
        return out

    def __getitem__(self, key: int | slice | np.ndarray | list[int]) -> np.ndarray:
        n = len(self)
        if isinstance(key, slice):
            lo, hi, step = key.indices(n)
            if step != 1:
                return self[np.arange(lo, hi, step)]
            return self._read(lo, max(lo, hi))
        if isinstance(key, (int, np.integer)):
            i = int(key) + n if key < 0 else int(key)
            if not 0 <= i < n:
                raise IndexError(f"row {key} of {n} in {self.path}")
            return self._read(i, i + 1)[0]
        rows = np.asarray(key, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= n):
            raise IndexError(f"rows outside 0..{n - 1} in {self.path}")
        out = np.empty((len(rows), *self.shape[1:]), np.uint8)
        order = np.argsort(rows, kind="stable")
        sorted_rows = rows[order]
        # one read per run of consecutive rows
        breaks = np.flatnonzero(np.diff(sorted_rows) != 1) + 1
        for run, pos in zip(
            np.split(sorted_rows, breaks), np.split(np.arange(len(rows)), breaks), strict=True
        ):
            out[order[pos]] = self._read(int(run[0]), int(run[-1]) + 1)
        return out

    def close(self) -> None:
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        self.close()

    def __getstate__(self) -> dict[str, object]:  # DataLoader workers get no open fd
        state = dict(self.__dict__)
        state["_fd"] = None
        return state


class CacheWriter:
    """Write a (N, S, S, 3) uint8 ``.npy`` atomically, rows appended in order.

    ``with CacheWriter(path, n, size) as w: w.write(batch)``; the file appears at ``path``
    only when all ``n`` rows were written and the block ends without an error."""

    def __init__(self, path: str | Path, n: int, size: int) -> None:
        self.path, self.n, self.size = Path(path), n, size
        self.written = 0

    def __enter__(self) -> CacheWriter:
        need = self.n * self.size * self.size * 3
        ensure_free_space(self.path, need, f"the image cache of {self.n} images")
        self._atomic = atomic_path(self.path)
        tmp = self._atomic.__enter__()
        self._fh = open(tmp, "wb")  # closed in __exit__
        shape = (self.n, self.size, self.size, 3)
        header = {"descr": "|u1", "fortran_order": False, "shape": shape}
        np.lib.format.write_array_header_1_0(self._fh, header)
        return self

    def write(self, rows: np.ndarray) -> None:
        if rows.dtype != np.uint8 or rows.shape[1:] != (self.size, self.size, 3):
            raise InputError(
                f"rows {rows.dtype} {rows.shape}: expected uint8 (k, {self.size}, {self.size}, 3)"
            )
        if self.written + len(rows) > self.n:
            raise InputError(f"{self.path}: more than the {self.n} rows declared")
        self._fh.write(np.ascontiguousarray(rows).data)
        self.written += len(rows)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._fh.close()
        if exc_type is None and self.written != self.n:
            short = ValueError(f"{self.path}: {self.written} rows written, {self.n} declared")
            self._atomic.__exit__(ValueError, short, None)  # removes the temp file
            raise short
        self._atomic.__exit__(exc_type, exc, tb)
