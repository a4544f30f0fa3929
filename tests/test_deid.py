"""De-identification: identifiers go, clinical content (durations, symptoms, eponyms) stays, and a
missing NER model fails closed. Uses the session `deidentifier` fixture from conftest.py."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from rag_dx.errors import DeidUnavailableError
from rag_dx.ingest import deid as deid_mod
from rag_dx.ingest.deid import Deidentifier, deidentify_reports
from rag_dx.schemas import Report

IDENTIFIERS = {
    "PERSON": ["John Smith", "Mary O'Neil", "Jones"],
    "PHONE": ["(555) 123-4567", "555-123-4567", "+1 555 123 4567"],
    "EMAIL": ["jsmith@example.com"],
    "SSN": ["123-45-6789"],
    "MRN": ["00123456", "A1234567", "7654321"],
    "DATE": ["03/14/2023", "2023-03-14", "March 14, 2023", "14 Mar 2023"],
    "ADDRESS": ["42 Oak Street", "1600 Pennsylvania Avenue"],
}

REPORT = (
    "Patient John Smith (MRN: 00123456) was seen on 03/14/2023 and again on 2023-03-14. "
    "Lives at 42 Oak Street, Springfield, IL 62704; previously 1600 Pennsylvania Avenue NW. "
    "Call (555) 123-4567, 555-123-4567 or +1 555 123 4567; email jsmith@example.com; SSN 123-45-6789. "
    "Referred by Dr. Mary O'Neil on March 14, 2023; follow-up with Mr. Jones on 14 Mar 2023. "
    "Med Rec # A1234567, chart number 7654321. "
    "He reports fever, productive cough and shortness of breath for two weeks, "
    "vomiting for 3 days and night sweats since last month. A Foley catheter was placed."
)
CLINICAL_WORDS = [
    "fever", "productive cough", "shortness of breath", "for two weeks", "for 3 days",
    "night sweats since last month", "vomiting", "Foley catheter",
]


def test_report_with_every_identifier(deidentifier: Deidentifier) -> None:
    out = deidentifier.redact(REPORT)
    for kind, values in IDENTIFIERS.items():
        assert f"<{kind}>" in out, kind
        for value in values:
            assert value not in out, (kind, value)
    for value in ["Smith", "O'Neil", "123-4567", "62704", "Oak Street", "6789"]:
        assert value not in out
    for words in CLINICAL_WORDS:
        assert words in out, words


def test_find_spans_match_redact(deidentifier: Deidentifier) -> None:
    text = "Seen by John Smith on 03/14/2023, phone 555-123-4567."
    found = deidentifier.find(text)
    assert [(k, text[s:e]) for k, s, e in found] == [
        ("PERSON", "John Smith"),
        ("DATE", "03/14/2023"),
        ("PHONE", "555-123-4567"),
    ]
    assert deidentifier.redact(text) == "Seen by <PERSON> on <DATE>, phone <PHONE>."


@pytest.mark.parametrize(
    "text",
    [
        "Headache for two weeks, worse over the past 3 days.",
        "Symptoms began 6 months ago and recur every 2-3 weeks; took 2 tablets of 500 mg twice daily.",
        "BP 120/80, HR 88, temperature 38.5 C, 1/2 tablet at night, pain 7/10.",
        "I have had diarrhea and tarry stools since last week. Due to itching, I feel terrible.",
        "Diagnosis: Dupuytren contracture. DIAGNOSIS: Peyronie disease. Betadine prep and Bovie cautery.",
        "My Mom has asthma and my dad had a stroke in 2019.",
    ],
)
def test_clinical_text_is_left_alone(deidentifier: Deidentifier, text: str) -> None:
    assert deidentifier.redact(text) == text
    assert deidentifier.find(text) == []


def test_redact_many_matches_redact(deidentifier: Deidentifier) -> None:
    texts = [REPORT, "", "No identifiers here.", "Call 555-123-4567."]
    assert deidentifier.redact_many(texts) == [deidentifier.redact(t) for t in texts]
    assert deidentifier.redact_many([]) == []


def test_long_text_is_segmented(deidentifier: Deidentifier, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deid_mod, "_SEGMENT_CHARS", 1000)  # same code path as a 1M-char report, faster
    filler = "Cough and fever persisted.\n" * 150 + "no line breaks here " * 100
    text = "MRN: 99887766\n" + filler + "\nJohn Smith: call 555-987-6543 on 04/01/2024.\n"
    assert len(deid_mod._segments(text)) > 5
    out = deidentifier.redact(text)
    assert "99887766" not in out and "555-987-6543" not in out and "04/01/2024" not in out
    found = deidentifier.find(text)
    assert {text[s:e] for _, s, e in found} == {"99887766", "John Smith", "555-987-6543", "04/01/2024"}
    assert "".join(piece for _, piece in deid_mod._segments(text)) == text


def test_deidentify_reports(deidentifier: Deidentifier) -> None:
    reports = [
        Report(report_id="a", text="John Smith called 555-123-4567.", date="2023-03-14", age=95.0, diagnosis="Flu"),
        Report(report_id="b", text="Rash for two weeks.", date="03/14/2023", age=40.0),
    ]
    out = deidentify_reports(reports, deidentifier)
    assert [r.text for r in out] == ["<PERSON> called <PHONE>.", "Rash for two weeks."]
    assert [r.date for r in out] == ["2023", "2023"]
    assert [r.age for r in out] == [90.0, 40.0]
    assert out[0].diagnosis == "Flu" and out[0].report_id == "a"
    assert reports[0].text.startswith("John Smith")  # inputs untouched
    kept = deidentify_reports(reports, deidentifier, safe_harbor=False)
    assert kept[0].date == "2023-03-14" and kept[0].age == 95.0


def test_no_identifier_reaches_a_log_line(deidentifier: Deidentifier, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        deidentifier.redact_many([REPORT, "Mr. Jones, record 1234567."])
    for values in IDENTIFIERS.values():
        for value in values:
            assert value not in caplog.text


def test_describe_for_the_manifest(deidentifier: Deidentifier) -> None:
    info = deidentifier.describe()
    assert info["engine"] == "presidio" and info["spacy_model"] in deid_mod.SPACY_MODEL_CANDIDATES
    assert info["presidio_analyzer"] and info["spacy_model_version"]
    assert set(info["entities"]) == set(IDENTIFIERS)


# ------------------------------------------------------------------------------------------
# fail closed
# ------------------------------------------------------------------------------------------


def test_fails_closed_when_spacy_model_cannot_load(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(name: str):
        raise OSError("model files damaged")

    monkeypatch.setattr(deid_mod, "_load_spacy", broken)
    with pytest.raises(DeidUnavailableError, match="fails closed"):
        Deidentifier.load()


def test_fails_closed_when_no_model_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deid_mod, "SPACY_MODEL_CANDIDATES", ("no_such_spacy_model_xyz",))
    with pytest.raises(DeidUnavailableError, match="no spaCy English model"):
        Deidentifier.load()


def test_fails_closed_when_presidio_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "presidio_analyzer", None)  # import now raises ImportError
    with pytest.raises(DeidUnavailableError, match="presidio"):
        Deidentifier.load()


# ------------------------------------------------------------------------------------------
# the real corpus
# ------------------------------------------------------------------------------------------


@pytest.mark.shared
def test_symptom2disease_texts_survive(deidentifier: Deidentifier, shared_data: Path) -> None:
    """Patient-written symptom descriptions hold no identifiers: almost nothing may be removed."""
    from rag_dx.ingest.loaders import load_reports

    texts = [r.text for r in load_reports(shared_data / "symptom2disease" / "Symptom2Disease.csv",
                                          label_col="label").reports[:300]]
    changed = sum(a != b for a, b in zip(texts, deidentifier.redact_many(texts), strict=True))
    assert changed <= 3
