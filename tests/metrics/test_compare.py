import numpy as np
import pandas as pd
import pytest

from clipfair.metrics.compare import compare_to_references


def _predictions(tmp_path, name, hit, task="gender"):
    n = len(hit)
    df = pd.DataFrame({"file": [f"val/{i}.jpg" for i in range(1, n + 1)], "task": task})
    df["true"] = "Male"
    df["pred"] = np.where(hit, "Male", "Female")
    path = tmp_path / f"{name.replace('/', '_')}.parquet"
    df.to_parquet(path)
    return path


def test_every_cell_of_the_task_is_compared_with_the_reference(tmp_path):
    rng = np.random.default_rng(0)
    base = rng.random(4000)
    preds = {
        "b/d/ref": _predictions(tmp_path, "b/d/ref", base < 0.9),
        "b/d/same": _predictions(tmp_path, "b/d/same", base < 0.9),
        "b/d/worse": _predictions(tmp_path, "b/d/worse", base < 0.8),
        "b/d/race": _predictions(tmp_path, "b/d/race", base < 0.5, task="race"),
    }
    df = compare_to_references({"gender": "b/d/ref"}, preds, n_resamples=300)
    by = df.set_index("method")
    assert set(by.index) == {"same", "worse"}  # not the reference itself, not other tasks
    assert by.loc["same", "difference"] == 0 and by.loc["same", "differs"] == "no"
    assert by.loc["worse", "differs"] == "yes" and by.loc["worse", "ci_high"] < 0
    assert by.loc["worse", "mcnemar_p_holm"] >= by.loc["worse", "mcnemar_p"]
    assert (df["correction"] == "m=2: CI max-t simultaneous 95% with Bonett-Price, p Holm").all()


def test_mismatched_images_and_unknown_reference_are_errors(tmp_path):
    preds = {"b/d/ref": _predictions(tmp_path, "b/d/ref", np.ones(10, bool))}
    other = pd.read_parquet(preds["b/d/ref"]).iloc[::-1].reset_index(drop=True)
    other.to_parquet(tmp_path / "other.parquet")
    preds["b/d/other"] = tmp_path / "other.parquet"
    with pytest.raises(ValueError, match="not predicted on the same images"):
        compare_to_references({"gender": "b/d/ref"}, preds)
    with pytest.raises(ValueError, match="'x/y/z', which is not a cell"):
        compare_to_references({"gender": "x/y/z"}, preds)
