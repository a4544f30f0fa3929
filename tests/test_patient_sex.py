"""Diagnoses of the other sex's anatomy leave a case that states the patient's sex."""

from __future__ import annotations

import pytest

from rag_dx.patient_sex import diagnosis_sex, stated_sex, without_other_sex
from rag_dx.schemas import Diagnosis, Differential, PredictionSet, Versions


@pytest.mark.parametrize("text, sex", [
    ("A 58-year-old woman has pelvic pain.", "female"),
    ("This is a 45-year-old white female who presents with", "female"),
    ("45 year old African-American male with chest pain", "male"),
    ("58 y/o (years old) F with CP (chest pain)", "female"),  # as the abbreviation step writes it
    ("72 YO M c/o dysuria", "male"),
    ("Patient is a 6-year-old boy", "male"),
    ("Mrs. Jones comes in for", "female"),
    ("A 24-year-old with fever", None),  # no sex stated
    ("She has smoked for 20 years, a male partner at home", None),  # not an age phrase: not guessed
    ("Mom brings patient in today", None),
])
def test_the_sex_is_read_only_where_the_case_states_it(text: str, sex: str | None) -> None:
    assert stated_sex(text) == sex


@pytest.mark.parametrize("name, code, sex", [
    ("Prostate Cancer", "C61", "male"),
    ("Prostate Enlargement: Benign Prostatic Hyperplasia", "N40", "male"),
    ("Cystocele", "N81.1", "female"),
    ("Ectopic pregnancy", "O00.9", "female"),
    ("Breast Cancer", "C50.9", None),  # men have it too
    ("Hydronephrosis", "N13.30", None),
    ("Cervical spondylosis", "M47.812", None),
    ("Cervical spondylosis", None, None),  # the neck, not the cervix
    ("Ovarian cysts", None, "female"),  # uncoded: by the organ it names
    ("Prostatitis", None, "male"),
])
def test_a_diagnosis_is_one_sexs_by_its_code_block_or_uncoded_by_its_organ(name: str, code: str | None,
                                                                           sex: str | None) -> None:
    assert diagnosis_sex(name, code) == sex


def _answer() -> Differential:
    dx = [Diagnosis(diagnosis="Bladder Cancer", icd10="C67.9", probability=0.3, evidence=["G:1"]),
          Diagnosis(diagnosis="Prostate Enlargement: Benign Prostatic Hyperplasia", icd10="N40", probability=0.2,
                    evidence=["G:2"]),
          Diagnosis(diagnosis="Urinary Tract Infections", icd10="N39.0", probability=0.1, evidence=["G:3"])]
    return Differential(differential=dx, evidence=[], abstained=False, versions=Versions(package="x"),
                        prediction_sets=[PredictionSet(level=0.9, diagnoses=[d.diagnosis for d in dx], guaranteed=False)])


def test_the_other_sexs_diagnoses_are_left_out_and_the_answer_says_so() -> None:
    out = without_other_sex(_answer(), "A 67-year-old woman with painless hematuria.")
    assert [d.diagnosis for d in out.differential] == ["Bladder Cancer", "Urinary Tract Infections"]
    assert [d.probability for d in out.differential] == [0.3, 0.1]  # the removed share stays unassigned
    assert out.prediction_sets[0].diagnoses == ["Bladder Cancer", "Urinary Tract Infections"]
    assert any("Benign Prostatic Hyperplasia" in w and "female" in w for w in out.warnings)


def test_nothing_changes_without_a_stated_sex_or_for_the_same_sex() -> None:
    answer = _answer()
    assert without_other_sex(answer, "Painless hematuria for two weeks.") is answer
    assert without_other_sex(answer, "A 67-year-old man with painless hematuria.") is answer


def test_the_assistant_applies_it_unless_switched_off() -> None:
    from types import SimpleNamespace

    from rag_dx.diagnose import Assistant
    from rag_dx.settings import Settings

    text = "A 67-year-old woman with painless hematuria."
    on = SimpleNamespace(settings=Settings(diagnosis={"explain": False}))
    assert len(Assistant._explained(on, text, _answer(), {}).differential) == 2
    off = SimpleNamespace(settings=Settings(diagnosis={"explain": False, "sex_filter": False}))
    assert len(Assistant._explained(off, text, _answer(), {}).differential) == 3


def test_the_terminal_and_the_ui_show_what_was_left_out() -> None:
    from rag_dx.commands.render import format_differential
    from ui.render import prediction_set_html

    out = without_other_sex(_answer(), "A 67-year-old woman with painless hematuria.")
    assert "note: left out as diagnoses of the other sex" in format_differential(out)
    html = prediction_set_html(out)
    assert "Note: left out as diagnoses of the other sex" in html and "Benign Prostatic Hyperplasia" in html
