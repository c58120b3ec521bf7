"""Zero-shot rules: the prompt-ensemble report's raw-similarity sums, the probability sum,
CLIP's embedding average, their tie rules, and the sweep that names them."""

import numpy as np
import pytest

from clipfair.config import zeroshot_sweep
from clipfair.labels import VOCAB
from clipfair.methods.label_sets import get_label_set
from clipfair.methods.zeroshot import class_scores, predict, tie_order


def _unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_mean_aggregation_averages_logits_per_class():
    image = _unit([[1.0, 0.0]])
    text = _unit([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    cls = np.array(["A", "B", "B"])
    scores = class_scores(image, text, cls, ["A", "B"], "mean")
    np.testing.assert_allclose(scores, [[100.0, 30.0]])


def test_topk_sums_the_k_highest_raw_similarities_without_softmax():
    image = _unit([[1.0, 0.0]])
    text = _unit([[0.9, 0.1], [0.0, 1.0], [0.8, 0.2], [0.7, 0.3]])
    cls = np.array(["A", "A", "B", "B"])
    s = 100 * image @ text.T  # the report: the raw 100*cos, summed
    got = class_scores(image, text, cls, ["A", "B"], "topk", k=1)
    np.testing.assert_allclose(got, [[s[0, 0], s[0, 2]]])
    got2 = class_scores(image, text, cls, ["A", "B"], "topk", k=2)
    np.testing.assert_allclose(got2, [[s[0, 0] + s[0, 1], s[0, 2] + s[0, 3]]])


def test_probtopk_is_softmax_over_all_prompts_then_sum_of_k_best():
    image = _unit([[1.0, 0.0]])
    text = _unit([[0.9, 0.1], [0.0, 1.0], [0.8, 0.2], [0.7, 0.3]])
    cls = np.array(["A", "A", "B", "B"])
    logits = 100 * image @ text.T
    p = np.exp(logits - logits.max())
    p /= p.sum()
    got2 = class_scores(image, text, cls, ["A", "B"], "probtopk", k=2)
    np.testing.assert_allclose(got2, [[p[0, 0] + p[0, 1], p[0, 2] + p[0, 3]]])
    # A has the best prompt and a bad one: the probability sum picks A (the best prompt's
    # probability dominates), the raw-similarity sum picks B (the bad prompt costs A ~99)
    raw2 = class_scores(image, text, cls, ["A", "B"], "topk", k=2)
    assert got2[0, 0] > got2[0, 1] and raw2[0, 1] > raw2[0, 0]


def test_embavg_is_the_normalized_mean_of_normalized_prompt_embeddings():
    image = _unit([[1.0, 0.2, 0.0]])
    text = np.array([[2.0, 0, 0], [0, 0.5, 0], [0, 0, 1.0]])  # not unit length on purpose
    cls = np.array(["A", "A", "B"])
    a = _unit(_unit(text[:2]).mean(0))
    got = class_scores(image, text, cls, ["A", "B"], "embavg")
    np.testing.assert_allclose(got, [[100 * image[0] @ a, 100 * image[0] @ _unit(text[2])]])


def test_ties_go_where_the_authors_code_sends_them():
    # two prompts per gender with identical similarities: every rule ties
    text = _unit([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    cls = np.array(["Male", "Male", "Female", "Female"])
    image = _unit([[0.6, 0.8]])
    classes = ["Male", "Female"]
    for aggregation, winner in (("topk", "Male"), ("mean", "Female"), ("embavg", "Male")):
        scores = class_scores(image, text, cls, classes, aggregation, k=1)
        assert scores[0, 0] == scores[0, 1]
        assert classes[predict(scores, classes, aggregation, "gender")[0]] == winner
    # race: the first of the report's race_predict.py order (White, Black, Indian, ...)
    races = list(VOCAB["race"])
    tied = np.zeros((1, len(races)))
    assert races[predict(tied, races, "topk", "race")[0]] == "White"
    tied[0, races.index("White")] = -1
    assert races[predict(tied, races, "mean", "race")[0]] == "Black"
    tied[0, races.index("Black")] = -1
    assert races[predict(tied, races, "topk", "race")[0]] == "Indian"  # before Latino_Hispanic
    assert tie_order("topk", "gender", [*classes, "animal"]) == ["Male", "Female", "animal"]


def test_unknown_aggregation_is_an_error():
    with pytest.raises(ValueError, match=r"unknown aggregation 'max'.*probtopk"):
        class_scores(_unit([[1.0, 0]]), _unit([[1.0, 0]]), np.array(["A"]), ["A"], "max")


@pytest.mark.parametrize(
    "aggregation,k", [("mean", 1), ("topk", 1), ("topk", 3), ("probtopk", 3), ("embavg", 1)]
)
def test_class_order_does_not_change_predictions(aggregation, k):
    rng = np.random.default_rng(0)
    label_set = get_label_set("age_race_gender_labels")
    prompt_class = np.array([c for c, ps in label_set.prompts.items() for _ in ps])
    image = _unit(rng.normal(size=(50, 8)))
    text = _unit(rng.normal(size=(len(prompt_class), 8)))
    classes = ["Male", "Female"]
    base = np.asarray(classes)[
        class_scores(image, text, prompt_class, classes, aggregation, k).argmax(1)
    ]
    perm = rng.permutation(len(prompt_class))  # shuffle prompts and reverse the class order
    flipped = classes[::-1]
    scores = class_scores(image, text[perm], prompt_class[perm], flipped, aggregation, k)
    assert (np.asarray(flipped)[scores.argmax(1)] == base).all()


def test_sweep_names_every_rule_and_makes_no_repeated_cell():
    params = {
        "zeroshot": {
            "sweep": {
                "label_sets": ["raw_gender_labels", "original_clip_labels"],
                "aggregations": ["mean", "topk", "probtopk", "embavg"],
                "k": [1, 3, 11],
            }
        }
    }
    methods = zeroshot_sweep(params)
    # one prompt per class: every rule is the same, one cell; probtop1 is top1; k <= 7
    assert set(methods) == {
        "zs_raw_gender_labels_mean",
        "zs_original_clip_labels_mean",
        "zs_original_clip_labels_embavg",
        "zs_original_clip_labels_top1",
        "zs_original_clip_labels_top3",
        "zs_original_clip_labels_probtop3",
    }
    assert methods["zs_original_clip_labels_probtop3"] == {
        "kind": "zeroshot",
        "task": "gender",
        "label_set": "original_clip_labels",
        "aggregation": "probtopk",
        "k": 3,
    }
