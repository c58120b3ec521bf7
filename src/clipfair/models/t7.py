"""A minimal torch7 (``.t7``, binary, little-endian) writer: nil, booleans, numbers, strings,
tables, float tensors and ``nn`` modules -- what a VGG-Face ``nn.Sequential`` holds.

Reading is left to ``torchfile`` (the well-kept read-only parser); this writer exists so that
tests and the offline demo can make real ``.t7`` files, mirroring torch7's
``File:writeObject`` (``torch/File.lua``) and ``Tensor/Storage:write`` (``generic/*.c``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from clipfair.io import atomic_path

TYPE_NIL, TYPE_NUMBER, TYPE_STRING, TYPE_TABLE, TYPE_TORCH, TYPE_BOOLEAN = 0, 1, 2, 3, 4, 5


@dataclass
class TorchModule:
    """A torch7 class instance: its class name and its fields (a Lua table)."""

    typename: str
    fields: dict[str, Any] = field(default_factory=dict)


class _Writer:
    def __init__(self, fh: BinaryIO) -> None:
        self.fh, self.index = fh, 0

    def _pack(self, fmt: str, *values: Any) -> None:
        self.fh.write(struct.pack("<" + fmt, *values))

    def _string(self, s: str | bytes) -> None:
        data = s.encode() if isinstance(s, str) else s
        self._pack("i", len(data))
        self.fh.write(data)

    def _ref(self, kind: int) -> None:
        self.index += 1
        self._pack("ii", kind, self.index)

    def _torch_header(self, typename: str) -> None:
        self._ref(TYPE_TORCH)
        self._string("V 1")
        self._string(typename)

    def write(self, obj: Any) -> None:
        if obj is None:
            self._pack("i", TYPE_NIL)
        elif isinstance(obj, bool):
            self._pack("ii", TYPE_BOOLEAN, int(obj))
        elif isinstance(obj, int | float):
            self._pack("id", TYPE_NUMBER, float(obj))
        elif isinstance(obj, str | bytes):
            self._pack("i", TYPE_STRING)
            self._string(obj)
        elif isinstance(obj, np.ndarray):
            self._tensor(obj)
        elif isinstance(obj, TorchModule):
            self._torch_header(obj.typename)
            self.write(obj.fields)
        elif isinstance(obj, list | tuple):
            self.write({i + 1: v for i, v in enumerate(obj)})
        elif isinstance(obj, dict):
            self._ref(TYPE_TABLE)
            self._pack("i", len(obj))
            for key, value in obj.items():
                self.write(key)
                self.write(value)
        else:
            raise TypeError(f"cannot write {type(obj).__name__} to t7")

    def _tensor(self, array: np.ndarray) -> None:
        array = np.ascontiguousarray(array, dtype=np.float32)
        self._torch_header("torch.FloatTensor")
        self._pack("i", array.ndim)
        self._pack(f"{array.ndim}q", *array.shape)
        self._pack(f"{array.ndim}q", *(s // 4 for s in array.strides))
        self._pack("q", 1)  # storage offset, 1-based
        self._torch_header("torch.FloatStorage")
        self._pack("q", array.size)
        self.fh.write(array.tobytes())


def write_t7(obj: Any, path: str | Path) -> None:
    """Serialize ``obj`` (e.g. a ``TorchModule('nn.Sequential', ...)``) atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        _Writer(fh).write(obj)
