"""The prompt-ensemble report's k analysis: zero-shot accuracy against k for the top-k rule, every k
from 1 to
``k_max``, computed from the saved image and prompt embeddings (no re-embedding).

For each (model, label set) and k: accuracy and balanced accuracy of the prompt-ensemble report's
Top k (the
sum of a class's k highest raw similarities, its tie rule) with the intervals of a cell
(:func:`clipfair.metrics.groups.headline_intervals`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from clipfair.embedding_files import load_image_embeddings
from clipfair.labels import VOCAB
from clipfair.methods.zeroshot import class_scores, predict
from clipfair.metrics.bootstrap import subject_codes
from clipfair.metrics.classification import balanced_accuracy
from clipfair.metrics.groups import headline_intervals

COLUMNS = [
    "model",
    "label_set",
    "k",
    "accuracy",
    "ci_low",
    "ci_high",
    "balanced_accuracy",
    "balanced_ci_low",
    "balanced_ci_high",
    "n",
]


def topk_curve(
    image: np.ndarray,
    text: pd.DataFrame,
    true: pd.Series,
    task: str,
    k_max: int,
    alpha: float = 0.05,
    clusters: np.ndarray | None = None,
) -> pd.DataFrame:
    """Rows (k, accuracy, CIs, balanced accuracy, CIs) of one model and label set
    (:func:`clipfair.metrics.groups.headline_intervals`; people as the unit where
    ``clusters`` is given)."""
    classes = list(VOCAB[task])
    extra = [c for c in dict.fromkeys(text["class"]) if c not in classes]
    classes += extra  # extra classes compete (a wrong prediction), as in the cells
    prompts = np.stack(text["embedding"].to_numpy())
    prompt_class = text["class"].to_numpy()
    fewest = min(int((prompt_class == c).sum()) for c in VOCAB[task])
    true = true.astype(str).reset_index(drop=True)
    rows = []
    for k in range(1, min(k_max, fewest) + 1):
        scores = class_scores(image, prompts, prompt_class, classes, "topk", k)
        pred = np.asarray(classes)[predict(scores, classes, "topk", task)]
        correct = (pred == true.to_numpy()).astype(np.float32)
        ci = headline_intervals(true, correct, list(VOCAB[task]), alpha, clusters)
        rows.append(
            {
                "k": k,
                "accuracy": float(correct.mean(dtype=np.float64)),
                "ci_low": ci["accuracy_ci"][0],
                "ci_high": ci["accuracy_ci"][1],
                "balanced_accuracy": balanced_accuracy(true, pred),
                "balanced_ci_low": ci["balanced_accuracy_ci"][0],
                "balanced_ci_high": ci["balanced_accuracy_ci"][1],
                "n": len(true),
            }
        )
    return pd.DataFrame(rows)


def topk_sweep(
    val_index: str | Path,
    embeddings: dict[str, str | Path],
    texts: dict[tuple[str, str], str | Path],
    task_of: dict[str, str],
    k_max: int = 32,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """The k analysis of every (model, label set): ``embeddings`` maps a model to its val
    image embeddings, ``texts`` (model, label set) to the set's prompt embeddings,
    ``task_of`` a label set to its task."""
    index = pd.read_parquet(val_index)
    clusters = subject_codes(index)
    frames = []
    for model, emb_path in embeddings.items():
        image = load_image_embeddings(emb_path, index)
        for (text_model, label_set), text_path in texts.items():
            if text_model != model:
                continue
            task = task_of[label_set]
            curve = topk_curve(
                image, pd.read_parquet(text_path), index[task], task, k_max, alpha, clusters
            )
            frames.append(curve.assign(model=model, label_set=label_set))
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    return pd.concat(frames, ignore_index=True)[COLUMNS]


def write_topk_sweep(
    out: str | Path,
    val_index: str | Path,
    embeddings: dict[str, str | Path],
    texts: dict[tuple[str, str], str | Path],
    label_set_dir: str | None,
    k_max: int,
    alpha: float,
) -> pd.DataFrame:
    """:func:`topk_sweep` (each label set's task read from its file), written to ``out``."""
    from clipfair.io import write_csv
    from clipfair.methods.label_sets import get_label_set

    task_of = {name: get_label_set(name, label_set_dir).task for _, name in texts}
    df = topk_sweep(val_index, embeddings, texts, task_of, k_max, alpha)
    write_csv(out, df, "%.6g")
    return df
