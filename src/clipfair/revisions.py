"""A run's files at a git revision or DVC experiment, read through DVC (nothing recomputed).

``rev`` is a git revision (``HEAD``, a branch, a sha), a DVC experiment's name, or
``workspace`` (the files on disk). Files git tracks (``metrics/summary.csv``) come from git;
files DVC tracks (``data/predictions/...``) from DVC's cache, as that revision's ``dvc.lock``
records them.
"""

from __future__ import annotations

import subprocess
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from clipfair.errors import InputError, MissingFileError

WORKSPACE = "workspace"


def _git(*args: str, cwd: str | Path = ".") -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)


def experiment_refs(repo: str | Path = ".") -> dict[str, str]:
    """DVC experiments of the repository: name -> commit (git refs under ``refs/exps``)."""
    proc = _git("for-each-ref", "--format=%(refname) %(objectname)", "refs/exps", cwd=repo)
    out = {}
    for line in proc.stdout.splitlines():
        ref, sha = line.split()
        out[ref.rsplit("/", 1)[1]] = sha
    return out


def resolve(rev: str, repo: str | Path = ".") -> str | None:
    """The commit of ``rev`` (a git revision or an experiment's name); None for the workspace."""
    if rev == WORKSPACE:
        return None
    proc = _git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", cwd=repo)
    if proc.returncode == 0:
        return proc.stdout.strip()
    exps = experiment_refs(repo)
    if rev in exps:
        return exps[rev]
    known = ", ".join(sorted(exps)) or "none"
    raise InputError(
        f"{rev!r} is neither a git revision nor a DVC experiment (experiments: {known}; "
        f"`dvc exp show` lists them)"
    )


class Revision:
    """The files of one revision of the repository at ``repo``."""

    def __init__(self, rev: str, repo: str | Path = ".") -> None:
        self.name, self.repo = rev, Path(repo)
        self.commit = resolve(rev, repo)

    @cached_property
    def fs(self) -> Any:
        from dvc.fs import DVCFileSystem

        return DVCFileSystem(url=str(self.repo), rev=self.commit)

    def _restore_hint(self) -> str:
        if self.commit is None:
            return "rerun the pipeline (snakemake --cores all) or `dvc checkout`"
        if self.name in experiment_refs(self.repo):
            return f"`dvc exp pull <git remote> {self.name}` (or `dvc fetch --all-commits`)"
        return "`dvc fetch --all-commits` (or `dvc pull` with that revision checked out)"

    def _read(self, path: str, read: Any, mode: str, missing: Any) -> pd.DataFrame:
        """``read`` (pandas) of a file of the revision; a missing one raises the message
        ``missing()`` gives."""
        try:
            if self.commit is None:
                return read(self.repo / path)
            with self.fs.open(path, mode) as fh:
                return read(fh)
        except FileNotFoundError as exc:
            raise MissingFileError(missing()) from exc

    def read_csv(self, path: str) -> pd.DataFrame:
        """A CSV file of the revision (git tracks these)."""
        return self._read(path, pd.read_csv, "r", lambda: f"{path} does not exist at {self.name}")

    def read_parquet(self, path: str) -> pd.DataFrame:
        """A parquet file of the revision; one DVC's cache lacks names the command restoring it."""

        def missing() -> str:  # only when it is missing: the hint asks git for experiments
            hint = self._restore_hint()
            return f"{path} at {self.name} is not in the DVC cache: restore it with {hint}"

        return self._read(path, pd.read_parquet, "rb", missing)
