"""Pinned installs: write requirements.lock from requirements.txt, install it in parallel.

    python scripts/pinned_install.py lock requirements.txt requirements.lock   # make lock
    python scripts/pinned_install.py install requirements.lock --jobs 2        # make venv

``lock`` resolves requirements.txt (plus the ``--no-deps`` extras) in a throwaway venv and
writes every installed distribution as ``name==version  # MB installed``. ``install`` installs
exactly those pins with ``pip --no-deps`` (no resolution: the lock is the resolution), split
into ``--jobs`` groups of about equal installed size that separate pip processes unpack side by
side: unpacking torch's CUDA build (~3 GB of wheels) is single-threaded in pip and most of the
install. Then ``pip check`` must find nothing but the allowed exceptions.

Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s#]+)\s*(?:#\s*([0-9.]+)\s*MB\b.*)?$")
HEADER = """\
# Every package of the project's venv, pinned: `make venv` installs exactly these with
# `pip install --no-deps` (scripts/pinned_install.py), several pip processes side by side.
# Written by `make lock` from requirements.txt for CPython {python} on {platform}; edit
# requirements.txt, then run `make lock`. The number after each pin is its installed size in
# MB, which balances the parallel install.
"""


def normalize(name: str) -> str:
    """PEP 503 name: lower case, runs of -_. as one -."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pin_line(name: str, version: str, mb: float) -> str:
    """One line of the lock, as read_pins reads it back."""
    return f"{name}=={version}  # {mb:.1f} MB"


def read_pins(path: Path) -> list[tuple[str, str, float]]:
    """(name, version, installed MB) of every pin; a line that is not one is named."""
    pins = []
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = LINE.match(line)
        if not match:
            raise ValueError(f"{path}:{number}: expected 'name==version  # N MB', got {raw!r}")
        name, version, mb = match.groups()
        pins.append((name, version, float(mb or 0.0)))
    seen: set[str] = set()
    for name, _, _ in pins:
        if normalize(name) in seen:
            raise ValueError(f"{path}: {name} is pinned twice")
        seen.add(normalize(name))
    return pins


def split(pins: list[tuple[str, str, float]], jobs: int) -> list[list[str]]:
    """``jobs`` groups of ``name==version`` of about equal size: largest first, each to the
    group with the least so far (a group may be empty when there are fewer pins than jobs)."""
    groups: list[list[str]] = [[] for _ in range(max(1, jobs))]
    sizes = [0.0] * len(groups)
    for name, version, mb in sorted(pins, key=lambda p: (-p[2], normalize(p[0]))):
        i = sizes.index(min(sizes))
        groups[i].append(f"{name}=={version}")
        sizes[i] += mb
    return groups


def stale_pins(requirements: Path, pins: list[tuple[str, str, float]]) -> list[str]:
    """The ``name==version`` lines of ``requirements`` that the lock does not pin the same."""
    locked = {normalize(name): version for name, version, _ in pins}
    stale = []
    for raw in requirements.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if "==" in line:
            name, version = (part.strip() for part in line.split("==", 1))
            if locked.get(normalize(name)) != version:
                stale.append(f"{name}=={version} (lock: {locked.get(normalize(name), 'absent')})")
    return stale


def install(
    lock: Path, jobs: int, allow_broken: list[str], requirements: Path | None = None
) -> None:
    """Install every pin of ``lock`` into this interpreter's environment, then ``pip check``.
    ``requirements``: the file the lock was made from; a pin of it the lock lacks stops."""
    pins = read_pins(lock)
    if requirements is not None and (stale := stale_pins(requirements, pins)):
        sys.exit(f"{lock} is older than {requirements}: {', '.join(stale)}; run `make lock`")
    groups = [g for g in split(pins, jobs) if g]
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        procs = []
        for i, group in enumerate(groups):
            req = Path(tmp) / f"group{i}.txt"
            req.write_text("\n".join(group) + "\n")
            log = open(Path(tmp) / f"group{i}.log", "w+")  # noqa: SIM115 (closed below)
            cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                   "--no-compile", "--disable-pip-version-check", "-r", str(req)]  # fmt: skip
            procs.append((group, log, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)))
        failed = []
        for group, log, proc in procs:
            if proc.wait() != 0:
                log.seek(0)
                failed.append(f"pip install of {', '.join(group)} failed:\n{log.read()[-3000:]}")
            log.close()
    if failed:
        sys.exit("\n".join(failed))
    check = subprocess.run(
        [sys.executable, "-m", "pip", "check", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
    )
    allowed = {normalize(n) for n in allow_broken}
    broken = check.stdout.splitlines() if check.returncode else []  # one line per problem
    problems = [ln for ln in broken if ln.strip() and normalize(ln.split()[0]) not in allowed]
    if problems:
        sys.exit(
            f"{lock} does not make a consistent environment (pip check):\n" + "\n".join(problems)
        )
    took = time.monotonic() - start
    print(f"installed {len(pins)} pinned packages from {lock} in {took:.0f} s", end=" ")
    print(f"({len(groups)} pip processes)")


def installed_mb(python: Path) -> dict[str, tuple[str, float]]:
    """name -> (version, installed MB) of every distribution in ``python``'s environment."""
    probe = (
        "import importlib.metadata as m, json\n"
        "out = {}\n"
        "for d in m.distributions():\n"
        "    size = sum(f.size or 0 for f in d.files or [])\n"
        "    out[d.metadata['Name']] = [d.version, size / 1e6]\n"
        "print(json.dumps(out))\n"
    )
    out = subprocess.run([str(python), "-c", probe], check=True, capture_output=True, text=True)
    return {name: (v, mb) for name, (v, mb) in json.loads(out.stdout).items()}


def lock(requirements: Path, out: Path, no_deps: list[str]) -> None:
    """Resolve ``requirements`` (and ``no_deps``, installed without theirs) in a throwaway
    venv; write every distribution it holds, but pip, to ``out`` (atomically)."""
    import platform
    import venv

    with tempfile.TemporaryDirectory() as tmp:
        venv.EnvBuilder(with_pip=True).create(tmp)
        python = Path(tmp) / "bin" / "python"
        pip = [str(python), "-m", "pip", "install", "--quiet", "--no-compile"]
        subprocess.run([*pip, "--upgrade", "pip"], check=True)
        subprocess.run([*pip, "-r", str(requirements)], check=True)
        if no_deps:
            subprocess.run([*pip, "--no-deps", *no_deps], check=True)
        dists = installed_mb(python)
    lines = [
        pin_line(name, version, mb)
        for name, (version, mb) in sorted(dists.items(), key=lambda kv: normalize(kv[0]))
        if normalize(name) != "pip"
    ]
    header = HEADER.format(
        python=platform.python_version(), platform=f"{platform.system()} {platform.machine()}"
    )
    tmp_out = out.with_name(f".{out.name}.tmp")
    tmp_out.write_text(header + "\n".join(lines) + "\n")
    os.replace(tmp_out, out)
    print(f"wrote {len(lines)} pins to {out}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("lock", help="resolve requirements.txt into requirements.lock")
    p.add_argument("requirements", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--no-deps", nargs="*", default=[], help="extra pins installed without deps")
    p = sub.add_parser("install", help="install requirements.lock with parallel pip processes")
    p.add_argument("lock", type=Path)
    p.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1), help="pip processes")
    p.add_argument("--allow-broken", nargs="*", default=[], help="pip check may name these")
    p.add_argument("--requirements", type=Path, help="the file the lock must agree with")
    args = parser.parse_args(argv)
    if args.cmd == "lock":
        lock(args.requirements, args.out, args.no_deps)
    else:
        install(args.lock, args.jobs, args.allow_broken, args.requirements)


if __name__ == "__main__":
    main()
