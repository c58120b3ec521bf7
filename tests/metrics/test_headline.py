"""The headline: DVC's metric (the reference cells) and the same numbers per model."""

from __future__ import annotations

from clipfair.metrics.summary import headline, headline_by_model


def _cell(backbone, method, task, accuracy, worst=None, gap=None, **extra):
    cell = {"backbone": backbone, "datasource": "d", "method": method, "task": task,
            "accuracy": accuracy, "eval_data": "ff", **extra}  # fmt: skip
    if worst is not None:
        cell["worst_race"] = {"accuracy": worst}
        cell["gap_race"] = {"value": gap, "ci": [gap - 0.1, gap + 0.1]}
    return cell


CELLS = [
    _cell("a", "zs_gender", "gender", 0.9, worst=0.85, gap=0.08),
    _cell("a", "probe_race", "race", 0.7, worst=0.55, gap=0.25),
    _cell("a", "probe_age", "age", 0.5, worst=0.40, gap=0.18),
    _cell("a", "ncm_race", "race", 0.6, worst=0.30, gap=0.40),
    _cell("b", "zs_gender", "gender", 0.8),  # a dataset without races: no worst group
    _cell("b", "probe_race", "race", 0.65, worst=0.5, gap=0.3),
    _cell("vgg", "vgg_gender", "gender", 0.75, worst=0.7, gap=0.1),
]
REFS = {"gender": "a/d/zs_gender", "race": "a/d/probe_race", "age": "a/d/probe_age"}


def test_the_runs_headline_is_its_reference_cells_in_at_most_7_short_keys():
    head = headline(CELLS, REFS)
    assert head == {
        "gender": 0.9, "gender_worst": 0.85, "race": 0.7, "race_worst": 0.55, "age": 0.5,
        "age_worst": 0.4, "gap": 0.25,  # the references' largest (ncm_race is no reference)
    }  # fmt: skip
    assert max(len(k) for k in head) <= 12
    # a task without a reference has no numbers; a missing reference cell neither
    head = headline(CELLS, {"gender": None, "race": "a/d/probe_race", "age": "a/d/nope"})
    assert head == {"race": 0.7, "race_worst": 0.55, "gap": 0.25}
    # to 0.1 point: what a reader compares, in a column of 5 characters
    assert headline([{**CELLS[0], "accuracy": 0.87654}], {"gender": "a/d/zs_gender"}) == {
        "gender": 0.877, "gender_worst": 0.85, "gap": 0.08
    }  # fmt: skip


def test_per_model_the_same_numbers_of_its_headline_cells():
    by_model = headline_by_model(CELLS, REFS)
    assert by_model["a"]["d"] == headline(CELLS, REFS)
    assert by_model["b"]["d"] == {"gender": 0.8, "race": 0.65, "race_worst": 0.5, "gap": 0.3}
    # no cell of the reference's method: the model's first cell of the task on its data
    assert by_model["vgg"]["d"]["gender"] == 0.75
    assert all(len(values) <= 7 for model in by_model.values() for values in model.values())
