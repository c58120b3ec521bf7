"""The install: one hashed lock, which `make venv` and the rules' conda env both install."""

import re

from .conftest import ROOT


def test_the_lock_pins_every_package_with_hashes():
    lock = (ROOT / "requirements.lock").read_text()
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+) \\$", lock, re.M)
    assert len(pins) > 150
    blocks = re.split(r"^(?=[A-Za-z0-9_.-]+==)", lock, flags=re.M)[1:]
    assert all("--hash=sha256:" in block for block in blocks)  # --require-hashes can hold
    direct = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (ROOT / "requirements.in").read_text(), re.M)
    locked = {name.lower().replace("_", "-"): version for name, version in pins}
    for name, version in direct:  # every direct pin is in the lock at its version
        assert locked[name.lower().replace("_", "-")] == version, name
    assert locked["torch"] == "2.14.1" and locked["torchvision"] == "0.29.1"


def test_make_venv_and_the_conda_env_install_the_same_lock_with_the_same_uv():
    makefile = (ROOT / "Makefile").read_text()
    version = re.search(r"^UV_VERSION := (\S+)$", makefile, re.M).group(1)
    assert "pip sync --quiet --python $(BIN)/python --require-hashes --compile-bytecode" in makefile
    env = (ROOT / "workflow/envs/clipfair.yaml").read_text()
    assert f"uv={version}" in env
    deploy = (ROOT / "workflow/envs/clipfair.post-deploy.sh").read_text()
    assert 'uv pip sync --python "$CONDA_PREFIX/bin/python" --require-hashes' in deploy
    assert '"$root/requirements.lock"' in deploy
    rules = "".join(p.read_text() for p in (ROOT / "workflow/rules").glob("*.smk"))
    assert 'CONDA_ENV = "../envs/clipfair.yaml"' in rules
