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
    assert set(IDENTIFIERS) <= set(info["entities"])
    assert {"AGE", "URL", "IP_ADDRESS", "CREDIT_CARD", "FACILITY", "LICENSE", "VEHICLE", "DEVICE"} <= set(info["entities"])


# ------------------------------------------------------------------------------------------
# every Safe Harbor category, in the shapes that leaked before (issue 14)
# ------------------------------------------------------------------------------------------

# (category, text, identifier values that must be gone). Failure messages name the category and
# the case number only, never the value.
SAFE_HARBOR_CASES: list[tuple[str, str, list[str]]] = [
    ("age>89", "A 94-year-old man and his wife, aged 97, met a 103 y/o neighbour.", ["94", "97", "103"]),
    ("age>89", "Age: 92. She is 96 years old; 91 yo female.", ["92", "96", "91"]),
    ("name", "Ms. Eberhardt was seen today. Eberhardt denies fever.", ["Eberhardt"]),
    ("name", "Patient Maria Okafor presents with cough. Okafor reports fever.", ["Maria", "Okafor"]),
    ("name", "Pt: O'BRIEN, TOBIAS. His daughter Siobhan brought him in.", ["O'BRIEN", "TOBIAS", "Siobhan"]),
    ("name", "Signed: Jane A. Doe, MD. Discussed with Dr. Haddad.", ["Jane", "Doe", "Haddad"]),
    ("name in email/url", "Mail maria.okafor@example.com or see www.okafor-family.net/maria.", ["okafor", "maria"]),
    ("street", "Lives at 7810 N. Willow Terrace, Apt 4B, Springfield, IL 62704.",
     ["7810", "Willow", "4B", "Springfield", "62704"]),
    ("po box", "Mail to P.O. Box 4471 or PO Box 12; Post Office Box 9.", ["4471", "Box 12", "Box 9"]),
    ("city/zip", "Resides in Fairview, TN 37062; moved from Duluth last year. ZIP code 55802.",
     ["Fairview", "37062", "Duluth", "55802"]),
    ("date", "Admitted 9-May-1995, seen on 3/14, DOB 14MAR1987, follow-up Friday, February 20.",
     ["9-May-1995", "3/14", "14MAR1987", "February 20"]),
    ("phone", "Call 5551234567, (555)123-4567, 555/123-4567 or +44 20 7946 0958.",
     ["5551234567", "123-4567", "7946 0958"]),
    ("fax", "Fax: 555.987.6543. Records faxed to +1-555-987-1111.", ["987-6543", "987.6543", "987-1111"]),
    ("ssn", "SSN 123 45 6789, SSN#987654321, ssn: 111-22-3333, social security no. 222.33.4444.",
     ["6789", "987654321", "3333", "4444"]),
    ("mrn", "MR# 55-66-7788. Chart B4628194. Med Rec No. A-123456. Encounter #99812345.",
     ["7788", "B4628194", "123456", "99812345"]),
    ("health plan", "Member ID: XKJ884512003. Medicare # 1EG4-TE5-MK73. Policy number W12345678.",
     ["XKJ884512003", "1EG4-TE5-MK73", "W12345678"]),
    ("account", "Account #: 0042-557812. Acct 77812345. Billing account number AC1234567.",
     ["557812", "77812345", "AC1234567"]),
    ("licence", "Driver's license: D1234567. DEA # BJ6125341. NPI 1234567893. Nursing licence RN445566.",
     ["D1234567", "BJ6125341", "1234567893", "RN445566"]),
    ("vehicle", "License plate 7ABC123; VIN 1HGCM82633A004352; tag XYZ-1234.", ["7ABC123", "1HGCM82633A004352", "1234"]),
    ("device", "Pacemaker serial number PJN123456H. Insulin pump S/N: 12A34567. UDI (01)00643169007222(21)123456.",
     ["PJN123456H", "12A34567", "00643169007222"]),
    ("url", "Images at https://portal.example.org/p/88812 and carenotes.health/jsmith.", ["88812", "carenotes", "jsmith"]),
    ("ip", "Session from 192.168.14.201 and 2001:db8:85a3::8a2e:370:7334.", ["192.168.14.201", "8a2e"]),
    ("payment card", "Card 4111 1111 1111 1111, Visa 4012-8888-8888-1881, amex 378282246310005.",
     ["1111 1111", "8888-1881", "378282246310005"]),
    ("age>89 in words", "A ninety-four year old man; one hundred and two years old.", ["ninety-four", "hundred and two"]),
    ("date: holiday", "Fell on Christmas Eve 2019 and again on Thanksgiving.", ["Christmas", "Thanksgiving"]),
    ("street without number", "She lives on Elm Street with her daughter in Springfield.", ["Elm", "Springfield"]),
    ("pager", "Pager 4471, ext. 2231.", ["4471", "2231"]),
    ("named system", "Transferred to Johns Hopkins; previously followed at Kaiser Permanente Oakland.",
     ["Hopkins", "Kaiser", "Oakland"]),
    ("name, comma form", "Patient Eberhardt, Anna presented. EBERHARDT, ANNA - DOB 01/02/1940", ["Eberhardt", "Anna",
                                                                                                    "EBERHARDT", "ANNA"]),
    ("partial identifiers", "SSN last four 1234; SSN: ***-**-6789; Visa ending 4242; jdoe at example dot com; Ref. no. 77-889900.",
     ["1234", "6789", "4242", "jdoe", "889900"]),
    ("date in context", "Next appointment: 11/02. Surgery scheduled for the 14th; seen Monday 5/6; Jan. '19.",
     ["11/02", "14th", "5/6", "'19"]),
    ("city after street", "Lives at 900 N Michigan Ave #1200 Chicago IL; located at 1 Infinite Loop, Cupertino.",
     ["Michigan", "Chicago", "Infinite", "Cupertino"]),
    ("surname alone", "Eberhardt presented with chest pain. The patient, Okafor, is stable. Haddad's daughter called. "
                      "Contact: Linda (sister).", ["Eberhardt", "Okafor", "Haddad", "Linda"]),
    ("names beyond ASCII and with particles", "Name: José Álvarez. Mr. Müller and Ms. de la Cruz; Mr. van der Berg.",
     ["José", "Álvarez", "Müller", "Cruz", "Berg"]),
    ("more shapes", "in his 90s; (555)1234567; apartment 12; seen at St. Luke's; on 14/03; March of 2023.",
     ["90s", "1234567", "apartment 12", "Luke", "14/03", "March of"]),
    ("labelled places", "Hospital: Saint Vincent. Facility: Green Valley. Employer: Acme Corp. Address: 17 Elm. "
                        "ZIP/postal: 10001; 94110-1234.", ["Vincent", "Green Valley", "Acme", "17 Elm", "10001", "94110"]),
    ("more labels", "Group: 12345. License plate 'XYZ 789'. A woman of 93, a centenarian.",
     ["12345", "XYZ 789", "93", "centenarian"]),
    ("facility", "Transferred from Mercy General Hospital to St. Mary's Medical Center; rehab at Hillcrest "
                 "Rehabilitation Center; seen at Riverside Family Clinic.",
     ["Mercy", "Mary's", "Hillcrest", "Riverside"]),
]


@pytest.mark.slow
@pytest.mark.parametrize("case", range(len(SAFE_HARBOR_CASES)))
def test_every_safe_harbor_category_is_removed(deidentifier: Deidentifier, case: int) -> None:
    category, text, values = SAFE_HARBOR_CASES[case]
    out = deidentifier.redact(text)
    leaked = sum(value in out for value in values)
    assert leaked == 0, f"case {case} ({category}): {leaked} of {len(values)} identifiers kept"


CLINICAL_TEXTS = [
    "Metformin 500 mg twice daily, amoxicillin 0.5 mg/kg, insulin 10 units, 1/2 tablet at night.",
    "Vitals: BP 120/80, HR 88, T 38.9, temp 101.2 F, RR 18, SpO2 94%, pain 7/10.",
    "Labs: WBC 12.3, Hb 9.8 g/dL, Na 134, K 4.1, creatinine 1.2 mg/dL, INR 2.3, HbA1c 7.2%, platelets 250,000.",
    "Assessment: J44.1 COPD exacerbation, E11.9, I10, S72.001A, N39.0.",
    "Cough for 3 days, fever for two weeks, x 5 days of diarrhea, symptoms since 2019.",
    "A 67-year-old woman, aged 45 at diagnosis, her 89 y/o father; a 12-year-old boy.",
    "The Foley catheter was removed. Skin was closed with Vicryl. Informed consent was obtained.",
    "Divided with Mayo scissors and Ochsner clamps; Lahey tenaculum. RR 20, admitted to Oncology.",
    "An 8-French Foley; taken to the Post Anesthesia Care Unit; transferred to the Hospital. HOSPITALIZATIONS: none.",
    "Venous Doppler positive for popliteal thrombus. Arterial Doppler showed reduced flow. Pelvic Ultrasound normal.",
]


@pytest.mark.slow
@pytest.mark.parametrize("case", range(len(CLINICAL_TEXTS)))
def test_clinical_content_survives(deidentifier: Deidentifier, case: int) -> None:
    """Doses, vitals ("T 38.9"), lab values, ICD-10 codes, durations and ages up to 89 stay."""
    text = CLINICAL_TEXTS[case]
    found = deidentifier.find(text)
    assert found == [], f"case {case}: {len(found)} spans found ({sorted({k for k, _, _ in found})})"


@pytest.mark.slow
def test_the_same_value_is_redacted_everywhere_in_a_document(deidentifier: Deidentifier) -> None:
    text = ("SSN 123-45-6789 on file. Insurance card copy shows 123-45-6789 again. "
            "Maria Okafor presents with cough. Later OKAFOR was reviewed; Okafor's daughter called. "
            "Record 7781234 reviewed; 7781234 also on the wristband.")
    out = deidentifier.redact(text)
    assert "6789" not in out and "Okafor" not in out and "OKAFOR" not in out and "7781234" not in out
    assert out.count("<SSN>") == 2


@pytest.mark.slow
def test_same_identifier_is_removed_in_every_report(deidentifier: Deidentifier) -> None:
    """The same SSN string was removed in one report and kept in another (issue 14)."""
    texts = ["SSN 123 45 6789.", "Card on file; 123 45 6789 is the SSN.", "Number 123 45 6789 given."]
    outs = deidentifier.redact_many(texts)
    assert sum("6789" in o for o in outs) == 0


def test_luhn_and_dea_checks() -> None:
    from rag_dx.ingest import recognizers as rec

    assert rec.luhn_ok("4111 1111 1111 1111") and not rec.luhn_ok("4111 1111 1111 1112")
    assert rec.dea_ok("BJ6125341") and not rec.dea_ok("BJ6125342")


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
