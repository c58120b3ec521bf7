"""The install's byte-compile step (``python -m clipfair.precompile``, run by ``make venv``)."""

import os
import subprocess
import sys

import pytest

from clipfair.precompile import GROUPS, import_all


def test_a_package_star_imports_every_module_under_it_but_main():
    for name in [m for m in sys.modules if m.startswith("clipfair.metrics.")]:
        del sys.modules[name]
    import_all(("clipfair.metrics.*",))
    assert {"clipfair.metrics.bootstrap", "clipfair.metrics.compare"} <= set(sys.modules)


def test_a_failing_import_stops_the_install_naming_the_module():
    with pytest.raises(SystemExit, match=r"importing 'clipfair\.no_such_module' failed"):
        import_all(("clipfair.no_such_module",))
    with pytest.raises(SystemExit, match=r"importing 'torch' failed.*AttributeError"):
        import_all(("torch:NoSuchClass",))


def test_groups_cover_the_pipelines_stacks_and_every_clipfair_module():
    names = {n.partition(":")[0] for group in GROUPS.values() for n in group}
    assert {"torch", "open_clip", "transformers", "snakemake.cli", "dvc.cli", "clipfair.*"} <= names


def test_the_command_writes_bytecode_where_python_is_told_to(tmp_path):
    """Run for real on one small group, bytecode into a prefix: the venv is not touched."""
    code = (
        "import sys, clipfair.precompile as p; p.GROUPS.clear(); "
        "p.GROUPS.update({'a': ('json',), 'b': ('clipfair.labels',)}); sys.exit(p.main([]))"
    )
    env = {"PYTHONPYCACHEPREFIX": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **env},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "precompile: imported" in out.stdout
    assert list(tmp_path.rglob("labels.cpython-*.pyc"))
