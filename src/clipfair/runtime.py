"""Where a job runs and what it costs: the device it picks, its threads and its peak memory.

Low in the layers (no model code): the embed, probe, fine-tune and benchmark modules all
read it.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from clipfair.errors import LoadError

if TYPE_CHECKING:
    import torch


def pick_device(requested: str = "auto") -> torch.device:
    """'auto' -> cuda when available, else cpu; 'cuda' without a CUDA device is an error."""
    import torch

    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise LoadError("device 'cuda' was requested but torch sees no CUDA device")
    return torch.device(requested)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MiB (Linux reports KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


THREAD_ENV = (
    "OMP_NUM_THREADS",
    "GOTO_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)  # what Snakemake sets to a job's threads; libraries read them when they are loaded


def set_threads(n: int) -> None:
    """Run on ``n`` threads: the environment for libraries not loaded yet (torch reads
    ``OMP_NUM_THREADS`` when imported: a command that never needs it does not pay its import),
    and the pools of those already loaded (torch's, the BLAS libraries', numexpr's; a fork
    server's child has them all)."""
    n = max(1, n)
    for var in THREAD_ENV:
        os.environ[var] = str(n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    if "numpy" in sys.modules:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=n, user_api="blas")
    if "numexpr" in sys.modules:
        sys.modules["numexpr"].set_num_threads(n)
