"""Fingerprints of the code a rule runs, so Snakemake reruns a job when that code changes.

A rule names the library modules its CLI command calls; the fingerprint is a hash of every
``clipfair`` source file those modules import, directly or not (read from the source with
``ast``, so nothing is imported: the Snakefile stays free of torch), plus the packages'
``__init__.py`` files that importing them runs. The rules pass it as a param, and a changed
param reruns the job: changing the probe code reruns the probe cells and nothing else.
``cli.py`` is left out on purpose: it only parses flags and calls these modules.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from collections.abc import Iterable
from pathlib import Path

PACKAGE = "clipfair"


def module_file(module: str, src: Path) -> Path | None:
    """The source file of ``clipfair.x.y`` under ``src`` (the folder holding clipfair/)."""
    base = src.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path, module: str, src: Path) -> frozenset[str]:
    """The clipfair modules one file imports (at the top or inside functions). Each text is
    parsed once per process: the rules' closures read the same files again and again (the
    Snakefile's 18 fingerprints: 0.67 -> 0.26 s of every Snakemake start, measured; each
    Slurm job starts one)."""
    return _parsed_imports(path.read_text(), path, module, src)


@functools.lru_cache(maxsize=1024)
def _parsed_imports(text: str, path: Path, module: str, src: Path) -> frozenset[str]:
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(text, str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == PACKAGE)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            if name.split(".")[0] != PACKAGE:
                continue
            found.add(name)
            for alias in node.names:  # `from clipfair.x import y` may import module x.y
                if module_file(f"{name}.{alias.name}", src):
                    found.add(f"{name}.{alias.name}")
    return frozenset(found)


def _with_parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def module_closure(modules: Iterable[str], src: Path) -> list[Path]:
    """Every clipfair source file that importing ``modules`` runs, sorted."""
    todo = [m for module in modules for m in _with_parents(module)]
    seen: set[str] = set()
    files: set[Path] = set()
    while todo:
        module = todo.pop()
        if module in seen or module == f"{PACKAGE}.cli":
            continue
        seen.add(module)
        path = module_file(module, src)
        if path is None:
            continue
        files.add(path)
        for imported in _imports(path, module, src):
            todo.extend(_with_parents(imported))
    return sorted(files)


@functools.cache
def code_version(modules: tuple[str, ...], src: Path) -> str:
    """Short sha256 of the files of :func:`module_closure` (paths and contents)."""
    digest = hashlib.sha256()
    for path in module_closure(modules, src):
        digest.update(path.relative_to(src).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]
