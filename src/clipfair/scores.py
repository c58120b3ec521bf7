"""Val score files of trained models (fine-tuned heads, VGG-Face transfer): one row per val
image in the index's order, ``file`` plus ``<task>:score_<label>`` columns in the canonical
class order. The trainers write them; the ``finetune`` / ``vggface_transfer`` cells read them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from clipfair.labels import VOCAB


def score_columns(task: str) -> list[str]:
    """Columns of ``task`` in a val scores file, in the canonical class order."""
    return [f"{task}:score_{label}" for label in VOCAB[task]]


def write_scores(out: str | Path, files: list[str], scores: dict[str, np.ndarray]) -> pd.DataFrame:
    """Write a val scores file: ``scores[task]`` is (N, classes) in VOCAB order."""
    from clipfair.io import write_parquet

    frame = pd.DataFrame({"file": list(files)})
    for task, values in scores.items():
        for col, column in zip(score_columns(task), np.asarray(values).T, strict=True):
            frame[col] = column
    write_parquet(out, frame)
    return frame
