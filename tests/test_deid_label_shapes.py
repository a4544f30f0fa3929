"""Identifier shapes found by hand-probing the de-identifier (2026-12-03) that it let through.

Each was missed before the recognizer rows they name were added: a lower-case name after a name
label, a first name after "attn:", a maiden name after "née", a weekday before "the 4th",
social-media handles, "LAST, First" with an upper-case surname, "my name is ...", a spelled day of
the month, a spelled e-mail with a dotted local part, and initials after a label. The clinical texts beside them must stay exactly as written, so the new
rows cannot buy recall by erasing what a clinician needs.
"""

from __future__ import annotations

import pytest

from rag_dx.ingest.deid import Deidentifier


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("pt name: john smith. complains of fever.", "john smith"),
        ("Name: maria de la cruz\nDOB: 1980", "maria"),
        ("Visit 2. name: ana lopez, age 40", "ana lopez"),
        ("patient's name: li wei", "li wei"),
        ("Fax results to the clinic attn: Marguerite.", "Marguerite"),
        ("Mrs. van der Berg (née Kowalczyk) has migraines.", "Kowalczyk"),
        ("Rash since Tuesday the 4th, worse since.", "4th"),
        ("Twitter handle @jdoe_1985 posted about it.", "jdoe_1985"),
        ("Her instagram @maria.okafor shows the lesion.", "maria.okafor"),
        ("Patient: GARCÍA-LÓPEZ, José Antonio. Cough.", "José"),
        ("my name is tom and i have a headache", "tom"),
        ("Born on the fourth of March, 1958.", "fourth"),
        ("Her email: keisha dot j at mail dot com", "keisha"),
        ("Patient's initials: J.R.S.", "J.R.S"),
    ],
)
def test_identifier_shapes_once_missed_are_redacted(deidentifier: Deidentifier, text: str, secret: str) -> None:
    out = deidentifier.redact(text)
    assert secret.lower() not in out.lower(), out
    assert "<" in out  # a typed placeholder took its place


@pytest.mark.parametrize(
    "text",
    [
        "Drug name: amoxicillin, 500 mg twice daily.",
        "Diagnosis name: viral pharyngitis.",
        "Test name: cbc with diff.",
        "Give meds @ bedtime; lives @home with family.",
        "Seen for the 3rd time with the same rash.",
        "The second of two lesions was excised in March.",
        "I am Diabetic and tired.",
    ],
)
def test_clinical_text_beside_those_shapes_is_kept(deidentifier: Deidentifier, text: str) -> None:
    assert deidentifier.redact(text) == text
