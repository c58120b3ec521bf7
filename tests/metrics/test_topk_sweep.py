"""The prompt-ensemble report's k analysis from saved embeddings, checked against a few-line
recomputation."""

import json

import numpy as np
import pandas as pd

from clipfair.embedding_files import fingerprint
from clipfair.labels import VOCAB
from clipfair.metrics.topk_sweep import topk_sweep


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_every_k_matches_the_authors_rule_recomputed(tmp_path):
    rng = np.random.default_rng(0)
    n, d = 400, 16
    gender = rng.choice(VOCAB["gender"], n)
    index = pd.DataFrame({"file": [f"val/{i}.jpg" for i in range(n)], "gender": gender})
    index.to_parquet(tmp_path / "val.parquet")
    direction = np.where(gender == "Male", 1.0, -1.0)[:, None]
    image = _unit(rng.normal(size=(n, d)) + 0.6 * direction * np.eye(d)[0])
    np.save(tmp_path / "val.npy", image.astype(np.float32))
    (tmp_path / "val.json").write_text(
        json.dumps({"index_fingerprint": fingerprint(index["file"].tolist())})
    )
    prompt_class = np.array(["Male"] * 5 + ["Female"] * 4)
    prompts = _unit(
        rng.normal(size=(9, d))
        + np.where(prompt_class == "Male", 1.0, -1.0)[:, None] * np.eye(d)[0]
    )
    text = pd.DataFrame({"class": prompt_class, "prompt": [f"p{i}" for i in range(9)]})
    text["embedding"] = list(prompts.astype(np.float32))
    text.to_parquet(tmp_path / "set.parquet")

    df = topk_sweep(
        tmp_path / "val.parquet",
        {"b/d": tmp_path / "val.npy"},
        {("b/d", "set"): tmp_path / "set.parquet"},
        {"set": "gender"},
        k_max=32,
    )
    assert df["k"].tolist() == [1, 2, 3, 4]  # up to the fewest prompts of a class (Female 4)
    s = (
        100
        * image.astype(np.float32).astype(np.float64)
        @ prompts.astype(np.float32).astype(np.float64).T
    )
    for row in df.itertuples():
        male = np.sort(s[:, prompt_class == "Male"], axis=1)[:, ::-1][:, : row.k].sum(1)
        female = np.sort(s[:, prompt_class == "Female"], axis=1)[:, ::-1][:, : row.k].sum(1)
        pred = np.where(female > male, "Female", "Male")  # predict.py: ties -> Male
        assert row.accuracy == (pred == gender).mean()
        recall = [(pred[gender == g] == g).mean() for g in VOCAB["gender"]]
        assert np.isclose(row.balanced_accuracy, np.mean(recall))
        assert row.ci_low <= row.accuracy <= row.ci_high
        assert row.balanced_ci_low <= row.balanced_accuracy <= row.balanced_ci_high
    assert set(df["model"]) == {"b/d"} and set(df["label_set"]) == {"set"}
