"""Byte-compile what the pipeline imports, once, at install (``python -m clipfair.precompile``).

``pip install --no-compile`` leaves the venv without bytecode, and where
``PYTHONDONTWRITEBYTECODE`` is set (this project's machines set it) no import ever writes any:
every job would compile torch, open_clip and transformers from source again (measured: 32 s
instead of 11 s to import them). ``compileall`` over the venv compiles all of its ~19,000
modules (68 s on 2 cores); the demo's jobs import about 5,150. This imports them instead, with
bytecode writing on, in two processes side by side: the torch stack in one, the workflow,
table and plotting stack in the other (26 s; it covers all but ~40 small modules of what the
demo imports). Modules a job imports that are not listed here still import, compiled in
memory. Any import that fails stops the install, naming it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

#: What each process imports, in order. Names after ``:`` are attributes read from the
#: module (transformers resolves its classes, and imports their modules, on first access);
#: ``pkg.*`` is the package and every module under it. The fork server
#: (:mod:`clipfair.forkserver`) preloads what the jobs import: TORCH_STACK and JOB_LIBRARIES.
TORCH_STACK = (
    "torch",
    "torch.optim",
    "torchvision",
    "safetensors.torch",
    "open_clip",
    "open_clip.loss",
    "transformers:CLIPModel,CLIPConfig,CLIPTokenizer,CLIPImageProcessor,AutoTokenizer",
    "facenet_pytorch",
    "torchfile",
    "clipfair.*",
)
JOB_LIBRARIES = (
    "pandas",
    "pyarrow.parquet",
    "sklearn.linear_model",
    "statsmodels.stats.contingency_tables",
    "matplotlib.pyplot",
    "rich.console",
    "rich.table",
    "gdown",
    "huggingface_hub",
    "PIL.JpegImagePlugin",
    "platformdirs",
    "pyarrow.dataset",
    "pyarrow.pandas_compat",
    "matplotlib.backends.backend_agg",
    "fairlearn",
)
TOOLS = (
    "snakemake.cli",
    "snakemake.api",
    "snakemake.workflow",
    "snakemake.report",
    "snakemake_executor_plugin_slurm",
    "smart_open",
    "yte",
    "jsonschema",
    "dvc.cli",
    "dvc.repo",
    "pytest",
    "xdist",
)
GROUPS: dict[str, tuple[str, ...]] = {
    "torch stack": TORCH_STACK,
    "workflow stack": TOOLS + JOB_LIBRARIES,
}


def import_all(names: tuple[str, ...], failed: list[str] | None = None) -> None:
    """Import each module (and read the listed attributes); raise naming the first failure,
    or, given ``failed``, add each failure to it and go on."""
    import importlib
    import pkgutil

    for name in names:
        module, _, attrs = name.partition(":")
        try:
            if module.endswith(".*"):
                package = importlib.import_module(module[:-2])
                for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
                    module = info.name
                    if not module.endswith(".__main__"):  # those run their command
                        importlib.import_module(module)
                continue
            mod = importlib.import_module(module)
            for attr in filter(None, attrs.split(",")):
                getattr(mod, attr)
        except Exception as exc:  # reported with the module's name
            if failed is None:
                raise SystemExit(f"precompile: importing {module!r} failed: {exc!r}") from exc
            failed.append(f"{module}: {exc!r}")


def main(argv: list[str] | None = None) -> int:
    """No arguments: import every group, each in its own process; ``--import NAME...``: one."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--import"]:
        import_all(tuple(argv[1:]))
        return 0
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    start = time.perf_counter()
    procs = {
        group: subprocess.Popen(
            [sys.executable, "-m", "clipfair.precompile", "--import", *names], env=env
        )
        for group, names in GROUPS.items()
    }
    failed = [group for group, proc in procs.items() if proc.wait() != 0]
    if failed:
        print(f"precompile: {', '.join(failed)} failed (see above)", file=sys.stderr)
        return 1
    print(f"precompile: imported the pipeline's modules with bytecode on in "
          f"{time.perf_counter() - start:.0f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
