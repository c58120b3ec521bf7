import pandas as pd
import pytest

from clipfair.metrics.classification import cell_metrics


def _frame():
    rows = [
        # file, age, gender, race, true, pred
        ("a", "20-29", "Male", "White", "Male", "Male"),
        ("b", "20-29", "Male", "Black", "Male", "Female"),
        ("c", "30-39", "Female", "White", "Female", "Female"),
        ("d", "30-39", "Female", "Black", "Female", "Female"),
    ]
    df = pd.DataFrame(rows, columns=["file", "age", "gender", "race", "true", "pred"])
    df["task"] = "gender"
    return df


def test_accuracy_balanced_and_by_group():
    m = cell_metrics(_frame())
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["balanced_accuracy"] == pytest.approx((0.5 + 1.0) / 2)
    assert m["accuracy_by_gender"] == {"Male": 0.5, "Female": 1.0}
    assert m["accuracy_by_race"] == {"White": 1.0, "Black": 0.5}
    assert m["accuracy_by_age"] == {"20-29": 0.5, "30-39": 1.0}
    assert m["per_class"]["Female"]["precision"] == pytest.approx(2 / 3)
    assert m["per_class"]["Male"]["recall"] == pytest.approx(0.5)
    assert m["accuracy_by_gender_race"] == {
        "Male": {"White": 1.0, "Black": 0.0},
        "Female": {"White": 1.0, "Black": 1.0},
    }
    assert m["accuracy_white"] == 1.0 and m["accuracy_non_white"] == 0.5
    assert m["n_by_race"] == {"White": 2, "Black": 2}


def test_extra_class_shares_by_race_and_age():
    df = _frame()
    df.loc[1, "pred"] = "gorilla"
    df.loc[3, "pred"] = "thief"
    m = cell_metrics(df, {"non_human": ["animal", "gorilla"], "crime": ["thief"]})
    assert m["share_non_human"] == 0.25 and m["share_crime"] == 0.25
    assert m["share_non_human_by_race"] == {"White": 0.0, "Black": 0.5}
    assert m["share_crime_by_age"] == {"20-29": 0.0, "30-39": 0.5}
    assert m["accuracy"] == 0.5  # an extra class is never the right gender


def test_mixed_tasks_are_rejected():
    df = _frame()
    df.loc[0, "task"] = "race"
    with pytest.raises(ValueError, match="mix tasks"):
        cell_metrics(df)


def test_a_dataset_without_race_and_age_labels_gets_gender_groups_only():
    """Adience predictions (through predictions_frame): race/age columns are empty."""
    import numpy as np

    from clipfair.methods.runner import predictions_frame
    from clipfair.metrics.groups import group_intervals

    val = pd.DataFrame({"file": list("abcd"), "gender": ["Male", "Male", "Female", "Female"]})
    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.4, 0.6]])
    pred = predictions_frame(val, "gender", scores, ["Male", "Female"])
    m = cell_metrics(pred)
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["accuracy_by_gender"] == {"Male": 0.5, "Female": 1.0}
    assert m["accuracy_by_race"] == {} and m["accuracy_by_age"] == {}
    assert m["accuracy_by_gender_race"] == {} and m["accuracy_white"] is None
    ci = group_intervals(pred, min_group_n=1)
    assert "worst_gender" in ci and "worst_race" not in ci and "accuracy_by_race_ci" not in ci
    assert "subject" not in pred  # this index names no person: images are the unit
    val["subject"] = ["u1", "u1", "u2", "u3"]  # Adience's index: a user id per face
    assert list(predictions_frame(val, "gender", scores, ["Male", "Female"])["subject"]) == [
        "u1", "u1", "u2", "u3"
    ]  # fmt: skip


@pytest.mark.parametrize("task", ["race", "age"])
def test_every_number_equals_sklearn_and_fairlearn(task):
    """The cell metrics are pandas only (no sklearn import in a cell job); they equal the
    reference implementations on a random frame with an extra (never true) class."""
    import warnings

    import numpy as np
    from fairlearn.metrics import MetricFrame
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, classification_report

    from clipfair.labels import VOCAB

    rng = np.random.default_rng(0)
    n = 500
    df = pd.DataFrame({k: rng.choice(VOCAB[k], n) for k in ("age", "gender", "race")})
    df["file"], df["task"], df["true"] = [f"{i}.jpg" for i in range(n)], task, df[task]
    df["pred"] = np.where(rng.random(n) < 0.6, df["true"], rng.choice([*VOCAB[task], "x"], n))
    m = cell_metrics(df)
    y, p = df["true"], df["pred"]
    assert m["accuracy"] == pytest.approx(accuracy_score(y, p), abs=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, p), abs=1e-12)
    report = classification_report(y, p, labels=VOCAB[task], output_dict=True, zero_division=0)
    for label in VOCAB[task]:
        assert m["per_class"][label] == pytest.approx(report[label], abs=1e-12)
    for group in ("age", "gender", "race"):
        ref = MetricFrame(metrics=accuracy_score, y_true=y, y_pred=p, sensitive_features=df[group])
        assert m[f"accuracy_by_{group}"] == pytest.approx(ref.by_group.to_dict(), abs=1e-12)
    cross = MetricFrame(
        metrics=accuracy_score, y_true=y, y_pred=p, sensitive_features=df[["gender", "race"]]
    ).by_group
    got = {
        (g, r): v for g, by_race in m["accuracy_by_gender_race"].items() for r, v in by_race.items()
    }
    assert got == pytest.approx(cross.to_dict(), abs=1e-12)
