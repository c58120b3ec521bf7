import numpy as np
import pytest

from clipfair.config import zeroshot_sweep
from clipfair.methods.label_sets import LABEL_SETS, get_label_set
from clipfair.methods.zeroshot import class_scores


def _unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_seed002_label_set_has_32_prompts_per_gender():
    label_set = get_label_set("age_race_gender_labels")
    prompts = label_set.prompts
    assert label_set.task == "gender"
    assert {k: len(v) for k, v in prompts.items()} == {"Male": 32, "Female": 32}
    assert len(set(prompts["Male"])) == 32
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


def test_every_label_set_covers_its_task_vocabulary():
    from clipfair.labels import VOCAB

    for name in LABEL_SETS:
        label_set = get_label_set(name)
        assert set(VOCAB[label_set.task]) <= set(label_set.prompts), name
        extra = set(label_set.prompts) - set(VOCAB[label_set.task])
        assert extra == {c for cs in label_set.categories.values() for c in cs}, name


def test_denigration_set_adds_the_clip_paper_classes():
    label_set = get_label_set("denigration")
    assert label_set.categories == {
        "non_human": ["animal", "gorilla", "chimpanzee", "orangutan"],
        "crime": ["thief", "criminal", "suspicious person"],
    }
    assert label_set.prompts["animal"] == ["a photo of an animal"]
    assert len(label_set.prompts["Female"]) == 7


@pytest.mark.parametrize("aggregation,k", [("mean", 1), ("topk", 1), ("topk", 3)])
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


def test_sweep_names_every_label_set_aggregation_and_valid_k():
    params = {
        "zeroshot": {
            "sweep": {
                "label_sets": ["gender", "age_race_gender_labels"],
                "aggregations": ["mean", "topk"],
                "k": [1, 11, 40],
            }
        }
    }
    methods = zeroshot_sweep(params)
    assert set(methods) == {
        "zs_gender_mean",
        "zs_gender_top1",
        "zs_age_race_gender_labels_mean",
        "zs_age_race_gender_labels_top1",
        "zs_age_race_gender_labels_top11",
    }
    assert methods["zs_age_race_gender_labels_top11"] == {
        "kind": "zeroshot",
        "task": "gender",
        "label_set": "age_race_gender_labels",
        "aggregation": "topk",
        "k": 11,
    }
