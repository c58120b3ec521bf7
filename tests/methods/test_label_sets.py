"""The shipped label sets against their published sources, string for string."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from clipfair.labels import VOCAB
from clipfair.methods.label_sets import (
    LabelSetError,
    available,
    get_label_set,
    parse_label_set,
)

# groovy-lizard/vlms_bias_explore data/fairface/labels/age_race_gender.json v1 (blob ed7f9730),
# the file behind the prompt-ensemble report's gender numbers, in its key order (copied from
# the file)
REPORT_AGE_RACE_GENDER_V1 = {
    "man": "a photo of a man",
    "black_man": "a photo of a black man",
    "young_black_man": "a photo of a young black man",
    "old_black_man": "a photo of an old black man",
    "middle-aged_black_man": "a photo of a middle-aged black man",
    "white_man": "a photo of a white man",
    "young_white_man": "a photo of a young white man",
    "old_white_man": "a photo of an old white man",
    "middle-aged_white_man": "a photo of a middle-aged white man",
    "hispanic_man": "a photo of a hispanic man",
    "young_hispanic_man": "a photo of a young hispanic man",
    "old_hispanic_man": "a photo of an old hispanic man",
    "middle-aged_hispanic_man": "a photo of a middle-aged hispanic man",
    "latino_man": "a photo of a latino man",
    "young_latino_man": "a photo of a young latino man",
    "old_latino_man": "a photo of an old latino man",
    "middle-aged_latino_man": "a photo of a middle-aged latino man",
    "indian_man": "a photo of an indian man",
    "young_indian_man": "a photo of a young indian man",
    "old_indian_man": "a photo of an old indian man",
    "middle-aged_indian_man": "a photo of a middle-aged indian man",
    "asian_man": "a photo of an asian man",
    "young_asian_man": "a photo of a young asian man",
    "old_asian_man": "a photo of an old asian man",
    "middle-aged_asian_man": "a photo of a middle-aged asian man",
    "arabic_man": "a photo of an arabic man",
    "young_arabic_man": "a photo of a young arabic man",
    "old_arabic_man": "a photo of an old arabic man",
    "middle-aged_arabic_man": "a photo of a middle-aged arabic man",
    "young_man": "a photo of a young man",
    "old_man": "a photo of an old man",
    "middle-aged_man": "a photo of a middle-aged man",
    "woman": "a photo of a woman",
    "black_woman": "a photo of a black woman",
    "young_black_woman": "a photo of a young black woman",
    "old_black_woman": "a photo of an old black woman",
    "middle-aged_black_woman": "a photo of a middle-aged black woman",
    "white_woman": "a photo of a white woman",
    "young_white_woman": "a photo of a young white woman",
    "old_white_woman": "a photo of an old white woman",
    "middle-aged_white_woman": "a photo of a middle-aged white woman",
    "hispanic_woman": "a photo of a hispanic woman",
    "young_hispanic_woman": "a photo of a young hispanic woman",
    "old_hispanic_woman": "a photo of an old hispanic woman",
    "middle-aged_hispanic_woman": "a photo of a middle-aged hispanic woman",
    "latino_woman": "a photo of a latino woman",
    "young_latino_woman": "a photo of a young latino woman",
    "old_latino_woman": "a photo of an old latino woman",
    "middle-aged_latino_woman": "a photo of a middle-aged latino woman",
    "indian_woman": "a photo of an indian woman",
    "young_indian_woman": "a photo of a young indian woman",
    "old_indian_woman": "a photo of an old indian woman",
    "middle-aged_indian_woman": "a photo of a middle-aged indian woman",
    "asian_woman": "a photo of an asian woman",
    "young_asian_woman": "a photo of a young asian woman",
    "old_asian_woman": "a photo of an old asian woman",
    "middle-aged_asian_woman": "a photo of a middle-aged asian woman",
    "arabic_woman": "a photo of an arabic woman",
    "young_arabic_woman": "a photo of a young arabic woman",
    "old_arabic_woman": "a photo of an old arabic woman",
    "middle-aged_arabic_woman": "a photo of a middle-aged arabic woman",
    "young_woman": "a photo of a young woman",
    "old_woman": "a photo of an old woman",
    "middle-aged_woman": "a photo of a middle-aged woman",
}
# original_clip_labels.json v1 (blob 0d3aaa88) and v2 (blob a8f27df5, @122aa43)
ORIGINAL_CLIP_V1_RACES = [
    "a white",
    "a black",
    "a latino",
    "an east asian",
    "a southeast asian",
    "an indian",
    "a middle eastern",
]
ORIGINAL_CLIP_V2 = [
    "a photo of a white man",
    "a photo of a white woman",
    "a photo of a black man",
    "a photo of a black woman",
    "a photo of a latino hispanic man",
    "a photo of a latino hispanic woman",
    "a photo of an east asian man",
    "a photo of an east asian woman",
    "a photo of a southeast asian man",
    "a photo of a southeast asian woman",
    "a photo of an indian man",
    "a photo of an indian woman",
    "a photo of a middle eastern man",
    "a photo of a middle eastern woman",
]
# raw_race_labels.json (blob ce9d74eb)
RAW_RACE = [
    "a photo of a black person",
    "a photo of a indian person",
    "a photo of a latino hispanic person",
    "a photo of a white person",
    "a photo of a middle eastern person",
    "a photo of a southeast asian person",
    "a photo of a east asian person",
]


def _author_gender(prompt: str) -> str:
    """The prompt-ensemble report's rule (predict.py split_man_woman): "woman" in the prompt
    -> Female."""
    return "Female" if "woman" in prompt else "Male"


def test_age_race_gender_labels_is_the_authors_v1_file_string_for_string():
    ls = get_label_set("age_race_gender_labels")
    expected = {"Male": [], "Female": []}
    for prompt in REPORT_AGE_RACE_GENDER_V1.values():
        expected[_author_gender(prompt)].append(prompt)
    assert ls.task == "gender"
    assert ls.prompts == expected
    every = [p for ps in ls.prompts.values() for p in ps]
    assert len(every) == 64 and sum(p.startswith("a photo of an ") for p in every) == 22


def test_raw_gender_and_original_clip_labels_are_the_published_strings():
    assert get_label_set("raw_gender_labels").prompts == {
        "Male": ["a photo of a man"],
        "Female": ["a photo of a woman"],
    }
    ocl = get_label_set("original_clip_labels").prompts
    assert ocl == {
        "Male": [f"a photo of {r} man" for r in ORIGINAL_CLIP_V1_RACES],
        "Female": [f"a photo of {r} woman" for r in ORIGINAL_CLIP_V1_RACES],
    }
    assert "a photo of an east asian woman" in ocl["Female"]
    assert get_label_set("bare_gender_words").prompts == {"Male": ["Male"], "Female": ["Female"]}


def test_race_sets_are_the_authors_later_files():
    v2 = get_label_set("original_clip_labels_v2")
    assert v2.task == "race"
    assert sorted(p for ps in v2.prompts.values() for p in ps) == sorted(ORIGINAL_CLIP_V2)
    assert v2.prompts["Latino_Hispanic"] == [
        "a photo of a latino hispanic man",
        "a photo of a latino hispanic woman",
    ]
    raw = get_label_set("raw_race_labels")
    assert sorted(p for ps in raw.prompts.values() for p in ps) == sorted(RAW_RACE)
    assert raw.prompts["East Asian"] == ["a photo of a east asian person"]


def test_fairface_words_ensemble_is_create_ensemble_py_without_race_neutral_prompts():
    # create_ensemble.py @378e2be: "a photo of a{age}{race}{gender}" over these lists
    ages = [" young", " middle-aged", " old", ""]
    races = [" black", " indian", " latino hispanic", " middle eastern", " southeast asian"]
    races += [" east asian", " white", ""]
    every = [f"a photo of a{a}{r}{g}" for a in ages for r in races for g in [" woman", " man"]]
    ls = get_label_set("age_race_gender_fairface_words")
    ours = [p for ps in ls.prompts.values() for p in ps]
    assert len(every) == 64 and sorted(ours + ls.excluded) == sorted(every)
    assert sorted(ls.excluded) == sorted(p for p in every if not any(r and r in p for r in races))
    assert {c: len(p) for c, p in ls.prompts.items()} == {r: 8 for r in VOCAB["race"]}
    assert "a photo of a old southeast asian man" in ls.prompts["Southeast Asian"]


def test_every_shipped_set_covers_its_task_and_lists_its_extra_classes():
    for name in available():
        ls = get_label_set(name)
        assert set(ls.classes) <= set(ls.prompts), name
        extra = set(ls.prompts) - set(ls.classes)
        assert extra == {c for cs in ls.categories.values() for c in cs}, name
    den = get_label_set("denigration")
    assert den.categories == {
        "non_human": ["animal", "gorilla", "chimpanzee", "orangutan"],
        "crime": ["thief", "criminal", "suspicious person"],
    }
    assert den.prompts["animal"] == ["a photo of an animal"]
    assert den.prompts["Female"] == get_label_set("original_clip_labels").prompts["Female"]


def test_prompts_command_prints_the_seed_set_as_json():
    out = subprocess.run(
        [sys.executable, "-m", "clipfair.cli", "prompts", "age_race_gender_labels", "--json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    record = json.loads(out)
    prompts = record["prompts"]
    assert record["task"] == "gender" and {k: len(v) for k, v in prompts.items()} == {
        "Male": 32,
        "Female": 32,
    }
    assert sum(p.startswith("a photo of an ") for ps in prompts.values() for p in ps) == 22
    assert "a photo of an old man" in prompts["Male"]
    assert "a photo of an indian woman" in prompts["Female"]


def test_a_user_set_is_found_and_a_bad_one_is_named(tmp_path):
    (tmp_path / "my_gender.yaml").write_text(
        "task: gender\nprompts:\n  Male: [a photo of a guy]\n  Female: [a photo of a lady]\n"
    )
    assert get_label_set("my_gender", tmp_path).prompts["Male"] == ["a photo of a guy"]
    assert "my_gender" in available(tmp_path)
    with pytest.raises(LabelSetError, match=r"unknown label_set 'my_gender'.*known: age"):
        get_label_set("my_gender")
    (tmp_path / "raw_gender_labels.yaml").write_text("task: gender\n")
    with pytest.raises(LabelSetError, match="defined twice"):
        get_label_set("raw_gender_labels", tmp_path)
    bad = {
        "no_female.yaml": ("task: gender\nprompts: {Male: [x]}\n", r"no prompts for.*Female"),
        "task.yaml": ("task: mood\nprompts: {}\n", r"task is 'mood'"),
        "extra.yaml": (
            "task: gender\nprompts: {Male: [a], Female: [b], cat: [c]}\n",
            r"classes \['cat'\] are not gender classes",
        ),
        "dup.yaml": ("task: gender\nprompts: {Male: [a], Female: [a]}\n", "more than once"),
        "empty.yaml": ("task: gender\nprompts: {Male: [], Female: [b]}\n", r"prompts\.Male"),
    }
    for name, (text, message) in bad.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(LabelSetError, match=message) as info:
            parse_label_set(tmp_path / name)
        assert name in str(info.value)  # the error names the file


def test_a_set_in_utkfaces_vocabulary_names_its_five_races(tmp_path):
    utk = get_label_set("utkface_race")
    assert utk.vocabulary == "utkface"
    assert list(utk.prompts) == ["White", "Black", "Asian", "Indian", "Others"]
    assert get_label_set("raw_race_labels").vocabulary == "fairface"
    bad = tmp_path / "x.yaml"
    bad.write_text("task: race\nvocabulary: utkface\nprompts: {White: [a], Black: [b]}\n")
    with pytest.raises(LabelSetError, match=r"no prompts for the race classes \['Asian'"):
        parse_label_set(bad)
    bad.write_text("task: race\nvocabulary: klingon\nprompts: {White: [a]}\n")
    with pytest.raises(LabelSetError, match=r"vocabulary is 'klingon'"):
        parse_label_set(bad)


def test_a_probe_never_trains_on_one_vocabulary_and_predicts_another():
    import pandas as pd

    from clipfair.labels import probe_classes, task_classes

    utk = pd.DataFrame({"race": ["Asian"], "vocabulary": ["utkface"]})
    ff = pd.DataFrame({"race": ["White"]})
    assert task_classes(utk, "race")[2:] == ["Asian", "Indian", "Others"]
    assert task_classes(utk, "gender") == task_classes(ff, "gender") == ["Male", "Female"]
    assert probe_classes({"train_index": utk, "val_index": utk}, "race") == task_classes(
        utk, "race"
    )
    with pytest.raises(ValueError, match=r"train split's race classes .* not the val split's"):
        probe_classes({"train_index": utk, "val_index": ff}, "race")
