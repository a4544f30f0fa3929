"""Clinical abbreviations written out beside a case's short forms (rag_dx/abbreviations.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag_dx.abbreviations import expand, long_forms


def test_the_bundled_table_knows_the_common_unambiguous_forms_and_not_the_ambiguous_ones() -> None:
    forms = long_forms()
    assert forms["sob"] == "shortness of breath"
    assert forms["doe"] == "dyspnea on exertion"
    assert forms["htn"] == "hypertension"
    assert forms["n/v"] == "nausea/vomiting"
    # two senses in real notes: left as written
    for ambiguous in ("cp", "cva", "pnd", "hr"):
        assert ambiguous not in forms, ambiguous
    # English words that lay writers put in capitals for emphasis
    for word in ("bad", "gas", "lab"):
        assert word not in forms, word


def test_a_physician_case_gains_the_long_forms_and_keeps_its_own_words() -> None:
    text = "55M c/o SOB and DOE, bilateral LE edema; no CVA tenderness. Hx HTN."
    out = expand(text)
    assert "SOB (shortness of breath)" in out and "DOE (dyspnea on exertion)" in out
    assert "c/o (complains of)" in out and "HTN (hypertension)" in out
    assert "CVA tenderness" in out and "CVA (" not in out  # stroke or costovertebral angle: not guessed
    assert out.replace(" (shortness of breath)", "").startswith("55M c/o")
    assert expand(out) == out  # a second pass adds nothing


@pytest.mark.parametrize("text", [
    "I have had a sore throat and a bad cough for three days",  # lower case: words, not abbreviations
    "PATIENT HAS SOB AND A BAD COUGH",                           # a text in capitals: nothing is read as one
    "My mom says I look pale",
    "",
])
def test_lay_text_and_text_in_capitals_are_left_alone(text: str) -> None:
    assert expand(text) == text


def test_the_findings_of_a_physician_case_include_its_abbreviated_ones() -> None:
    from rag_dx.findings import extract_findings

    text = "Pt c/o HA and N/V since this AM, DOE."
    before = {f.name for f in extract_findings(text)}
    after = {f.name for f in extract_findings(expand(text))}
    assert {"Headache", "Nausea", "Vomiting", "Dyspnea"} <= after
    assert not {"Headache", "Nausea", "Vomiting", "Dyspnea"} <= before


@pytest.mark.shared
def test_the_table_is_what_its_script_writes_from_the_inventories(tmp_path: Path, shared_data: Path) -> None:
    import subprocess
    import sys

    out = tmp_path / "t.tsv"
    subprocess.run([sys.executable, "-m", "eval.abbreviation_table", "--shared", str(shared_data), "--out", str(out)],
                   check=True, cwd=Path(__file__).resolve().parents[1], capture_output=True)
    bundled = Path(__file__).resolve().parents[1] / "rag_dx" / "data" / "clinical_abbreviations.tsv"
    assert out.read_bytes() == bundled.read_bytes()


@pytest.mark.parametrize("expand_on", [True, False])
def test_diagnose_reads_the_long_forms_only_when_switched_on(tmp_path: Path, fake_encoder, expand_on: bool) -> None:
    """The whole pipeline (retrieval, cards, findings) sees the written-out case, not just the extractor."""
    from rag_dx.build import build_index
    from rag_dx.diagnose import build_assistant
    from rag_dx.schemas import Guideline
    from rag_dx.settings import Settings
    from tests.helpers import PassThroughDeid
    from tests.test_practice import _reports

    settings = Settings(index_dir=tmp_path, diagnosis={"expand_abbreviations": expand_on})
    guide = Guideline(doc_id="gl-hf", title="Heart Failure", topic="Heart Failure", source="t",
                      text="Heart failure: shortness of breath, dyspnea on exertion, jugular venous distention, "
                           "swollen legs.")
    build_index(settings, "p", _reports(8), [guide], encoder=fake_encoder, deidentifier=PassThroughDeid())
    assistant = build_assistant(settings, "p", encoder=fake_encoder, load_generator=False, load_vocabulary=False)
    d = assistant.diagnose("SOB and DOE for a week, JVD")
    names = [x.diagnosis for x in d.differential]
    matched = {x.diagnosis: x.matches for x in d.differential}
    if expand_on:
        assert names[0] == "Heart Failure"
        assert d.differential[0].evidence == ["G:gl-hf#0"]
        assert "dyspnea" in matched["Heart Failure"]
    else:
        # Heart Failure is this index's only disease card, so the guideline floor of a case outside the
        # practice can still put it first; what the short forms must not give it is a finding it matches.
        assert not matched.get("Heart Failure")
