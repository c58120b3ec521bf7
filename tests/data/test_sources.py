"""The source-kind registry (clipfair.data.sources): every kind is one module, and a new kind
takes one module and one params entry, nothing else."""

from __future__ import annotations

import filecmp
import os
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

from clipfair.data.sources import checked, kinds_for, schema_of, source_kinds, source_module
from clipfair.errors import InputError

from ..conftest import ROOT, copy_project, project_files


def test_every_kind_is_a_module_with_formats_schema_and_fetch():
    assert source_kinds() == ["demo", "demo_adience", "demo_utkface", "download", "hf_parquet",
                              "local", "rehearsal"]  # fmt: skip
    for kind in source_kinds():
        module = source_module(kind)
        assert set(module.FORMATS) <= {"fairface", "adience", "utkface"} and callable(module.fetch)
        assert schema_of(kind)["properties"]["kind"] == {"const": kind}
    assert kinds_for("adience") == ["demo_adience", "local"]
    with pytest.raises(InputError, match="unknown source kind 'ftp'; known: demo, demo_adience"):
        source_module("ftp")


def test_an_entry_is_checked_against_its_kinds_schema_and_gets_its_defaults():
    entry = checked({"kind": "demo", "n_train": "300", "n_val": 100, "image_size": 32, "seed": 0})
    assert entry["n_train"] == 300 and entry["ambiguous"] == 0.0 and entry["padding"] == "0.25"
    with pytest.raises(InputError, match=r"'datasets.x.source': 'folder' is a required"):
        checked({"kind": "local"}, "datasets.x.source")
    with pytest.raises(InputError, match=r"'source.retries': -1 is less than the minimum"):
        checked({"kind": "download", "files": {}, "retries": -1})


MIRROR = '''
"""``mirror``: a FairFace release from a mirror folder, hard-linked (a worked example)."""

import os
from pathlib import Path

FORMATS = ("fairface",)
SCHEMA = {"properties": {"folder": {"type": "string"}}, "required": ["folder"]}


def fetch(source, out, fmt, lock_path=None):
    out.mkdir(parents=True, exist_ok=True)
    for name in ("images.zip", "fairface_label_train.csv", "fairface_label_val.csv"):
        os.link(Path(source["folder"]) / name, out / name)
'''


@pytest.mark.slow
def test_a_new_source_kind_is_one_module_and_one_params_entry(small_release, tmp_path):
    proj = copy_project(tmp_path / "proj")
    (proj / "src/clipfair/data/sources/mirror.py").write_text(textwrap.dedent(MIRROR))
    params = yaml.safe_load((proj / "params.yaml").read_text())
    params["datasets"]["fairface_demo"]["source"] = {"kind": "mirror", "folder": str(small_release)}
    (proj / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "PYTHONPATH": str(proj / "src")}  # this copy's package, jobs too

    def sh(*cmd, check=True):
        return subprocess.run(cmd, cwd=proj, env=env, capture_output=True, text=True,
                              check=check, timeout=600)  # fmt: skip

    assert "valid" in sh("clipfair", "validate-config", "params.yaml").stdout
    sh("snakemake", "--cores", "2", "--config", "preset=demo", "--until", "ingest")
    raw = proj / "data/raw/fairface_demo/0.25"
    assert os.path.samefile(raw / "images.zip", small_release / "images.zip")  # the mirror's
    index = proj / "data/interim/fairface_demo/val.parquet"
    assert index.is_file() and len(__import__("pandas").read_parquet(index)) == 120
    # its schema is the one checked: an entry without its required key names it
    params["datasets"]["fairface_demo"]["source"] = {"kind": "mirror"}
    (proj / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    bad = sh("clipfair", "validate-config", "params.yaml", check=False)
    assert "datasets.fairface_demo.source': 'folder' is a required property" in bad.stderr
    # nothing but the module and the params entry differs from this project
    files = [f for f in project_files() if not (ROOT / f).is_symlink()]
    differs = [f for f in files if not filecmp.cmp(ROOT / f, proj / f, shallow=False)]
    assert differs == ["params.yaml"]
    new = {p.relative_to(proj) for p in (proj / "src").rglob("*.py")} - {
        p.relative_to(ROOT) for p in (ROOT / "src").rglob("*.py")}  # fmt: skip
    assert new == {Path("src/clipfair/data/sources/mirror.py")}
