"""The patient's age, read by one pattern for the cards' TF-IDF, the sex filter and the vital signs' norms."""

from __future__ import annotations

import pytest

from rag_dx.patient_age import is_child, without_age
from rag_dx.patient_sex import stated_sex


@pytest.mark.parametrize(("text", "child"), [
    ("A 4-year-old boy with a barking cough", True),
    ("5 y/o boy admitted with a fever", True),  # the abbreviations are an age too
    ("8y/o RHM with headaches", True),
    ("6 month old infant, fussy", True),
    ("A 3-week-old, NSVD, baby boy", True),
    ("A 12-year-old girl", False),
    ("45 yo man with chest pain", False),
    ("A 100-year-old woman", False),
    ("Pain for 5 days, worse at night", False),  # a duration is no age
    ("45 yoga sessions a year", False),
])
def test_a_child_is_read_from_the_stated_age(text: str, child: bool) -> None:
    assert is_child(text) is child


@pytest.mark.parametrize(("text", "sex"), [
    ("A 5-month-old baby boy with cough", "male"),  # months state a sex as years do
    ("2-week-old white female in no acute distress", "female"),
    ("58 y/o (years old) M with chest pain", "male"),
    ("A woman of 58 with chest pain", None),  # no age phrase before the word: not read
])
def test_the_sex_after_any_age_phrase(text: str, sex: str | None) -> None:
    assert stated_sex(text) == sex


def test_the_cards_lose_the_age_phrase_and_keep_durations() -> None:
    out = without_age("A 3-month-old infant, aged 3, 4 years of age, fever for 3 days")
    assert not any(w in out for w in ("month-old", "aged", "years of age"))
    assert "infant" in out and "fever for 3 days" in out
