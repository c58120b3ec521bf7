"""requirements.lock and its parallel install (scripts/pinned_install.py, `make venv`)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
spec = importlib.util.spec_from_file_location("pinned_install", ROOT / "scripts/pinned_install.py")
pinned = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pinned)


def test_the_lock_pins_every_requirement_as_requirements_txt_does():
    pins = pinned.read_pins(LOCK)
    assert pinned.stale_pins(ROOT / "requirements.txt", pins) == []
    names = {pinned.normalize(n) for n, _, _ in pins}
    assert {"torch", "open-clip-torch", "snakemake", "setuptools", "facenet-pytorch"} <= names
    assert "pip" not in names and "clipfair" not in names


def test_this_venv_holds_exactly_the_locked_versions():
    """`make venv` installed the lock: every pin is the version importlib.metadata reports."""
    wrong = []
    for name, version, _ in pinned.read_pins(LOCK):
        try:
            found = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found = "absent"
        if found != version:
            wrong.append(f"{name}: locked {version}, installed {found}")
    assert not wrong, wrong


def test_a_stale_lock_and_a_bad_line_are_named(tmp_path):
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("# comment\ntorch==9.9.9  # newer than the lock\nnewpkg==1.0\n")
    stale = pinned.stale_pins(reqs, pinned.read_pins(LOCK))
    assert stale == ["torch==9.9.9 (lock: 2.14.1)", "newpkg==1.0 (lock: absent)"]
    bad = tmp_path / "bad.lock"
    bad.write_text("# header\nsix==1.16.0  # 0.1 MB\nrequests>=2\n")
    with pytest.raises(ValueError, match=r"bad.lock:3: expected 'name==version.*'requests>=2'"):
        pinned.read_pins(bad)
    bad.write_text("six==1.16.0\nSix==1.17.0\n")
    with pytest.raises(ValueError, match="Six is pinned twice"):
        pinned.read_pins(bad)


def test_the_split_keeps_every_pin_once_and_balances_the_sizes():
    pins = pinned.read_pins(LOCK)
    groups = pinned.split(pins, 2)
    assert sorted(p for g in groups for p in g) == sorted(f"{n}=={v}" for n, v, _ in pins)
    mb = {f"{n}=={v}": size for n, v, size in pins}
    sizes = [sum(mb[p] for p in g) for g in groups]
    assert abs(sizes[0] - sizes[1]) <= max(mb.values())  # the largest pin bounds the imbalance
    assert pinned.split(pins[:1], 3)[1:] == [[], []]


@pytest.fixture(scope="module")
def empty_venv(tmp_path_factory) -> Path:
    """A new venv with pip (from this machine's index, as `make venv` uses)."""
    folder = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=True).create(folder)
    return folder / "bin" / "python"


def _lock_of(tmp_path: Path, names: list[str]) -> Path:
    """A lock holding the repo lock's pins of ``names``."""
    pins = {pinned.normalize(n): (n, v, mb) for n, v, mb in pinned.read_pins(LOCK)}
    lines = [pinned.pin_line(*pins[n]) for n in names]
    path = tmp_path / "small.lock"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_install_runs_pip_side_by_side_and_checks_the_result(empty_venv, tmp_path):
    lock = _lock_of(tmp_path, ["six", "idna"])  # no dependencies of their own
    script = str(ROOT / "scripts/pinned_install.py")
    proc = subprocess.run(
        [str(empty_venv), script, "install", str(lock), "--jobs", "2"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "installed 2 pinned packages" in proc.stdout and "(2 pip processes)" in proc.stdout
    listed = subprocess.run(
        [str(empty_venv), "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True
    ).stdout
    for name, version, _ in pinned.read_pins(lock):
        assert f"{name}=={version}" in listed
    # a lock that lacks a dependency makes an inconsistent venv: pip check's line stops it
    broken = _lock_of(tmp_path, ["requests"])
    proc = subprocess.run(
        [str(empty_venv), script, "install", str(broken)], capture_output=True, text=True
    )
    assert proc.returncode != 0
    assert "does not make a consistent environment" in proc.stderr
    assert "requests" in proc.stderr and "not installed" in proc.stderr
    ok = subprocess.run(
        [str(empty_venv), script, "install", str(broken), "--allow-broken", "requests"],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr


def test_install_stops_on_a_lock_older_than_the_requirements(empty_venv, tmp_path):
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("six==0.0.1\n")
    proc = subprocess.run(
        [str(empty_venv), str(ROOT / "scripts/pinned_install.py"), "install",
         str(_lock_of(tmp_path, ["six"])), "--requirements", str(reqs)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "is older than" in proc.stderr and "six==0.0.1" in proc.stderr
    assert "run `make lock`" in proc.stderr


def test_lock_resolves_requirements_into_every_installed_pin(tmp_path):
    """`make lock` on a small requirements file: the resolved dependencies and the --no-deps
    extras are pinned with their installed sizes, pip is not, and the result reads back."""
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("requests==2.34.2  # pulls its dependencies in\n")
    out = tmp_path / "requirements.lock"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts/pinned_install.py"), "lock",
         str(reqs), str(out), "--no-deps", "six==1.17.0"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pins = {pinned.normalize(n): (v, mb) for n, v, mb in pinned.read_pins(out)}
    assert pins["requests"][0] == "2.34.2" and pins["six"][0] == "1.17.0"
    assert {"urllib3", "idna", "certifi", "charset-normalizer"} <= set(pins)  # resolved
    assert "pip" not in pins and pins["requests"][1] > 0
    assert out.read_text().startswith("# Every package of the project's venv, pinned")
    assert pinned.stale_pins(reqs, pinned.read_pins(out)) == []
