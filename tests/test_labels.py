import pytest

from clipfair.labels import AGES, GENDERS, RACES, alphabetical, code


def test_vocabularies_match_fairface():
    assert AGES == (
        "0-2",
        "3-9",
        "10-19",
        "20-29",
        "30-39",
        "40-49",
        "50-59",
        "60-69",
        "more than 70",
    )
    assert set(GENDERS) == {"Male", "Female"}
    assert len(RACES) == 7 and "Latino_Hispanic" in RACES


def test_alphabetical_is_the_seed_head_order():
    assert alphabetical("age")[:4] == ("0-2", "10-19", "20-29", "3-9")
    assert alphabetical("gender") == ("Female", "Male")
    assert alphabetical("race")[0] == "Black"


def test_code_names_vocabulary_on_unknown_label():
    assert code("race", "Indian") == RACES.index("Indian")
    with pytest.raises(ValueError, match=r"unknown gender label 'male'.*Male"):
        code("gender", "male")
