"""A body site followed by a list of adjectives gives a finding per adjective (rag_dx.site_predicates)."""

from __future__ import annotations

import pytest

from rag_dx.findings import FindingExtractor
from rag_dx.site_predicates import predicated_findings


def _names(text: str) -> list[tuple[str, str]]:
    return [(n, said) for n, _, said, _ in predicated_findings(text)]


def test_each_adjective_of_a_list_is_read_against_the_site() -> None:
    text = "ten days after knee surgery, her left calf is swollen, warm, red and painful, especially when she walks"
    got = list(predicated_findings(text))
    assert [(n, said) for n, _, said, _ in got] == [("Edema", "swollen"), ("Erythema", "red"), ("Lower limb pain", "painful")]
    for _, (s, e), said, assertion in got:
        assert text[s:e] == said and assertion == "present"
    assert _names("The knee was red, hot and tender.") == [("Erythema", "red"), ("Knee pain", "tender")]
    assert _names("the joints are swollen and tender") == [("Joint swelling", "swollen"), ("Arthralgia", "tender")]


@pytest.mark.parametrize("text", [
    "Her calf is not swollen or painful.",  # a denial is not a list of findings
    "The patient is tired and sore.",  # no site
    "Her calf is swollen.",  # one adjective: the phrase tables read it
    "swollen calf and red rash",
])
def test_nothing_is_read_outside_a_sites_list(text: str) -> None:
    assert _names(text) == []


def test_what_a_body_part_or_excretion_is_said_to_be_is_read_from_its_own_table() -> None:
    """rag_dx.everyday_findings.STATED: a red eardrum or red eyes are not skin erythema either."""
    assert _names("His eardrum is red and bulging.") == [("Tympanic membrane bulging", "bulging")]
    assert _names("Her skin is yellow and itchy.") == [("Jaundice", "yellow"), ("Pruritus", "itchy")]
    assert _names("Skin is warm and dry.") == []  # a normal examination
    assert _names("her eyes are red and itchy") == [("Conjunctival hyperemia", "red"), ("Ocular pruritus", "itchy")]
    assert _names("his tonsils are red, enlarged and coated") == [("Enlarged tonsils", "enlarged")]
    assert _names("his urine is dark and foamy") == [("Dark urine", "dark"), ("Foamy urine", "foamy")]
    assert _names("My eyes are constantly red and runny.") == [("Conjunctival hyperemia", "red"), ("Epiphora", "runny")]


def test_a_red_throat_is_not_skin_erythema() -> None:
    assert _names("His throat is sore and red.") == [("Pharyngalgia", "sore")]


def test_the_extractor_adds_them_once_with_the_statements_assertion() -> None:
    fx = FindingExtractor()
    got = {(f.name, f.assertion) for f in fx.extract("Her knee is swollen and painful.")}
    assert got == {("Joint swelling", "present"), ("Knee pain", "present")}  # the matcher's swelling is not repeated
    got = {(f.name, f.assertion) for f in fx.extract("She denies that her knee is swollen and tender.")}
    assert got == {("Joint swelling", "absent"), ("Knee pain", "absent")}
    dvt = fx.extract("Her left calf is swollen, warm, red and painful.")
    assert {f.name for f in dvt} == {"Edema", "Erythema", "Lower limb pain"}


def test_adjectives_before_a_site_are_read_beside_what_the_matcher_found() -> None:
    """Vignettes write "a red, itchy right eye" and "a hot, swollen, tender knee"; the last adjective and
    the site are a phrase the matcher reads, the others come from the list, with its assertion."""
    fx = FindingExtractor()
    eye = {(f.name, f.assertion) for f in fx.extract("A 7-year-old girl woke up with a red, itchy right eye.")}
    assert eye == {("Conjunctival hyperemia", "present"), ("Ocular pruritus", "present")}  # not skin Pruritus
    knee = {(f.name, f.assertion) for f in fx.extract("He has a hot, swollen, tender right knee.")}
    assert knee == {("Joint swelling", "present"), ("Knee pain", "present")}
    denied = {(f.name, f.assertion) for f in fx.extract("He has no red, swollen or tender joints.")}
    assert denied == {("Erythema", "absent"), ("Joint swelling", "absent"), ("Arthralgia", "absent")}


def test_adjectives_before_a_site_alone_are_not_read() -> None:
    """Without a finding the matcher read among them nothing carries the list's assertion: a denial
    before it could not be seen, so nothing is read ("warm" names no finding)."""
    assert _names("a red, warm knee") == []
