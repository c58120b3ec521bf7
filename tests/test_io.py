"""Atomic outputs: whole or absent, with the usual file mode."""

import os
import stat

import pytest
import torch
from safetensors.torch import save_file

from clipfair.io import atomic_path, write_json


def test_outputs_get_the_usual_mode_even_from_writers_that_replace_the_file(tmp_path):
    umask = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "w.safetensors") as tmp:
            save_file({"a": torch.zeros(2)}, str(tmp))  # safetensors writes a new 0600 file
        write_json(tmp_path / "x.json", {"a": 1})
    finally:
        os.umask(umask)
    for name in ("w.safetensors", "x.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644, name


def test_a_failed_write_leaves_neither_target_nor_temp_file(tmp_path):
    (tmp_path / "keep.json").write_text("old")
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "keep.json") as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert (tmp_path / "keep.json").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.json"]
