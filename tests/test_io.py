"""Atomic outputs: whole or absent, with the usual file mode."""

import json
import os
import stat

import pytest
import torch
from safetensors.torch import save_file

from clipfair.io import atomic_path, write_json, write_safetensors


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


def test_the_same_weights_and_metadata_make_the_same_file(tmp_path):
    """safetensors writes metadata in a random (hash map) order: twelve keys saved three times
    came out in different orders; write_safetensors sorts them, nothing else changes."""
    from safetensors import safe_open

    tensors = {"b.weight": torch.arange(6.0).reshape(2, 3), "a.bias": torch.ones(3)}
    meta = {f"key{i:02d}": f"välue {i}" for i in range(12)}
    raw = set()
    for i in range(3):
        save_file(tensors, str(tmp_path / f"raw{i}"), metadata=dict(reversed(meta.items())))
        raw.add((tmp_path / f"raw{i}").read_bytes())
        write_safetensors(tmp_path / f"ours{i}", tensors, dict(reversed(meta.items())))
    ours = {(tmp_path / f"ours{i}").read_bytes() for i in range(3)}
    assert len(raw) > 1 and len(ours) == 1  # the library's order varies, ours does not
    data = ours.pop()
    assert len(data) == len((tmp_path / "raw0").read_bytes())
    header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])
    assert list(header["__metadata__"]) == sorted(meta)
    with safe_open(str(tmp_path / "ours0"), "pt") as f:
        assert f.metadata() == meta
        assert torch.equal(f.get_tensor("b.weight"), tensors["b.weight"])
        assert torch.equal(f.get_tensor("a.bias"), tensors["a.bias"])
