"""Code fingerprints: a rule's param changes exactly when code it runs changes."""

from pathlib import Path

from clipfair.code_version import code_version, module_closure

from .conftest import ROOT


def _package(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    pkg = src / "clipfair"
    (pkg / "methods").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "cli.py").write_text("from clipfair.methods import probe\n")
    (pkg / "labels.py").write_text("X = 1\n")
    (pkg / "methods" / "__init__.py").write_text("")
    (pkg / "methods" / "probe.py").write_text(
        "import numpy\nfrom clipfair import labels\n\ndef f():\n    from .solver import g\n"
    )
    (pkg / "methods" / "solver.py").write_text("def g():\n    return 1\n")
    (pkg / "methods" / "zeroshot.py").write_text("from clipfair.labels import X\n")
    return src


def test_closure_follows_imports_inside_functions_and_relative_ones(tmp_path):
    src = _package(tmp_path)
    files = {p.relative_to(src).as_posix() for p in module_closure(["clipfair.methods.probe"], src)}
    assert files == {
        "clipfair/__init__.py",
        "clipfair/labels.py",
        "clipfair/methods/__init__.py",
        "clipfair/methods/probe.py",
        "clipfair/methods/solver.py",
    }  # not numpy, not the CLI, not zeroshot


def test_only_the_code_a_rule_runs_changes_its_fingerprint(tmp_path):
    src = _package(tmp_path)
    probe = ("clipfair.methods.probe",)
    zeroshot = ("clipfair.methods.zeroshot",)
    before = code_version(probe, src), code_version(zeroshot, src)
    code_version.cache_clear()
    solver = src / "clipfair/methods/solver.py"
    solver.write_text(solver.read_text() + "# a change\n")
    after = code_version(probe, src), code_version(zeroshot, src)
    assert after[0] != before[0] and after[1] == before[1]
    code_version.cache_clear()
    (src / "clipfair/labels.py").write_text("X = 2\n")  # shared by both
    assert code_version(probe, src) != after[0] and code_version(zeroshot, src) != after[1]


def test_every_module_the_rules_name_exists():
    common = (ROOT / "workflow/rules").glob("*.smk")
    names = set()
    for smk in common:
        for line in smk.read_text().splitlines():
            if "code(" in line or line.strip().startswith('"clipfair.'):
                names.update(
                    p.strip(' ",)') for p in line.split("(")[-1].split(",") if "clipfair." in p
                )
    assert names, "no code() params found"
    from clipfair.code_version import module_file

    for name in names:
        assert module_file(name, ROOT / "src"), name
