import numpy as np
import pytest

from clipfair.methods.label_sets import prompts_for
from clipfair.methods.zeroshot import class_scores


def _unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_seed002_label_set_has_32_prompts_per_gender():
    task, prompts = prompts_for("age_race_gender")
    assert task == "gender"
    assert {k: len(v) for k, v in prompts.items()} == {"Male": 32, "Female": 32}
    assert "a photo of a young black man" in prompts["Male"]
    assert "a photo of a middle-aged arabic woman" in prompts["Female"]


def test_mean_aggregation_averages_logits_per_class():
    image = _unit([[1.0, 0.0]])
    text = _unit([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    cls = np.array(["A", "B", "B"])
    scores = class_scores(image, text, cls, ["A", "B"], "mean")
    np.testing.assert_allclose(scores, [[100.0, 30.0]])


def test_topk_is_softmax_over_all_prompts_then_sum_of_k_best():
    image = _unit([[1.0, 0.0]])
    text = _unit([[0.9, 0.1], [0.0, 1.0], [0.8, 0.2], [0.7, 0.3]])
    cls = np.array(["A", "A", "B", "B"])
    logits = 100 * image @ text.T
    p = np.exp(logits - logits.max())
    p /= p.sum()
    got = class_scores(image, text, cls, ["A", "B"], "topk", k=1)
    np.testing.assert_allclose(got, [[p[0, 0], p[0, 2]]])
    got2 = class_scores(image, text, cls, ["A", "B"], "topk", k=2)
    np.testing.assert_allclose(got2, [[p[0, 0] + p[0, 1], p[0, 2] + p[0, 3]]])
    # A has the best prompt and a bad one: the mean of logits picks B, top-2 picks A
    mean = class_scores(image, text, cls, ["A", "B"], "mean")
    assert mean[0, 1] > mean[0, 0] and got2[0, 0] > got2[0, 1]


def test_unknown_aggregation_is_an_error():
    with pytest.raises(ValueError, match="unknown aggregation 'max'"):
        class_scores(_unit([[1.0, 0]]), _unit([[1.0, 0]]), np.array(["A"]), ["A"], "max")
