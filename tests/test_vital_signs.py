"""Vital signs written as numbers are findings past their thresholds, and only then (rag_dx.vital_signs)."""

from __future__ import annotations

import pytest

from rag_dx.findings import FindingExtractor
from rag_dx.vital_signs import vital_findings


def named(text: str) -> list[str]:
    return [n for n, _, _ in vital_findings(text) if n]


@pytest.mark.parametrize(("text", "expected"), [
    ("Temperature 39.2 C, pulse 118, respirations 24, blood pressure 85/50, O2 sat 89% on room air.",
     ["Fever", "Tachycardia", "Tachypnea", "Hypotension", "Hypoxemia"]),
    ("Her heart rate is 118.", ["Tachycardia"]),
    ("temperature of 101.5 F", ["Fever"]),
    ("Temp 101.5", ["Fever"]),  # above 50 without a unit: Fahrenheit
    ("T 35.0, HR 48, BP 170/95", ["Bradycardia", "Hypertension"]),  # 35.0 C is not below 35
    ("temperature 34.2 degrees", ["Hypothermia"]),
    ("blood pressure of 165/100 on three separate visits", ["Hypertension"]),
    ("BP 138/92", ["Hypertension"]),  # diastolic alone past 90
    ("saturating 93%", ["Hypoxemia"]),
    # how notes and vignettes also write them: a word between label and number, a decade, "over", "percent"
    ("Temp is 38.1, pulse is elevated at 101.", ["Fever", "Tachycardia"]),
    ("her blood pressure is low at 85/50", ["Hypotension"]),
    ("blood pressure 180 over 110", ["Hypertension"]),
    ("a heart rate in the 130s", ["Tachycardia"]),
    ("heart rate in the low 50s", ["Bradycardia"]),
    ("O2 sats in the 80s", ["Hypoxemia"]),
    ("oxygen saturation of 89 percent on room air", ["Hypoxemia"]),
    ("pulse oximetry reads 87%", ["Hypoxemia"]),
    ("respirations are 28", ["Tachypnea"]),
    ("he is breathing 30 times a minute", ["Tachypnea"]),
    ("hypotension with the systolic pressure in the 60s-70s", ["Hypotension"]),
    # the day's highest temperature, and where it was taken
    ("Temperature max at ER is 102, heart rate 153.", ["Fever", "Tachycardia"]),
    ("T max of 101 overnight", ["Fever"]),
    ("max temp 39.4", ["Fever"]),
    ("bradycardic with a pulse rate down to the 50s", ["Bradycardia"]),
])
def test_an_abnormal_measurement_is_its_finding(text: str, expected: list[str]) -> None:
    assert sorted(named(text)) == sorted(expected)


@pytest.mark.parametrize("text", [
    "VITAL SIGNS: T 98.6, P 88, R 18, BP 120/80, O2 sat 98%.",  # all normal
    "Temperature 37.9, heart rate 100, RR 20, BP 139/89, SpO2 94%",  # each exactly at its limit
    "Type 2 diabetes, T2 weighted images, T 4 weeks ago",  # "T" without a decimal is no temperature
    "The pulse is irregularly irregular; 118 steps a minute; 85/50 split",  # no labelled number
    "HR 70s, temp 5 days",  # a normal decade, or a number no body could have
    "SaO2 is 99 percent on room air; temperature is normal at 98.6; sats in the high 90s",
    # a rate that is not the patient's: a fetus's, a pacemaker's setting, an unlabelled one
    "Fetal Cardiac Activity: Normal at 166 BPM; fetal heart rate is measured 147 beats per minute",
    "max tracking rate of 110 beats per minute; 120 beats per minute",
    "a burn on the thigh 42 cm long; the right hr 2 pedal pulses",  # a label must end at a word boundary
    "Right atrial saturation is 76.3%. Mixed venous saturation 65%. Transferrin saturation 60%.",  # not oximetry
])
def test_a_normal_unlabelled_or_implausible_number_is_no_finding(text: str) -> None:
    assert named(text) == []


def test_a_normal_reading_written_with_a_word_between_still_overrides_its_labels_word() -> None:
    """ "temperature is normal at 98.6" was no measurement, so its "temperature" was read as Fever."""
    fx = FindingExtractor()
    assert [f.name for f in fx.extract("Her temperature is normal at 98.6 and her pulse is 80.")] == []


def test_a_childs_heart_rate_breathing_and_pressure_are_not_read_by_adult_limits() -> None:
    """A 6-month-old's heart rate of 150 is normal; its fever is a fever at any age."""
    assert named("A 6-month-old girl, temperature 39.5, HR 150, RR 40, BP 80/50") == ["Fever"]
    assert named("a 3-year-old boy with a pulse of 130") == []
    assert named("a 45-year-old man with a pulse of 130") == ["Tachycardia"]


def test_the_extractor_reads_measurements_and_a_normal_one_overrides_its_labels_word() -> None:
    """The lay table reads "temperature" as Fever ("she has a temperature"): every note whose vital
    signs said "Temperature 98.6" had a fever until the measurement decided."""
    fx = FindingExtractor()
    assert [(f.name, f.assertion) for f in fx.extract("Vital signs: temperature 98.6, pulse 80.")] == []
    assert [f.name for f in fx.extract("She has a temperature.")] == ["Fever"]
    found = fx.extract("Confused, temperature 39.4 C, BP 82/50, RR 28. No cough.")
    assert [(f.name, f.assertion) for f in found] == [
        ("Confusion", "present"), ("Fever", "present"), ("Hypotension", "present"), ("Tachypnea", "present"),
        ("Cough", "absent")]
    text = "Confused, temperature 39.4 C, BP 82/50, RR 28. No cough."
    assert [text[f.span[0]:f.span[1]] for f in found][1:4] == ["temperature 39.4 C", "BP 82/50", "RR 28"]


def test_measured_vital_signs_raise_the_red_flags_that_ask_for_them() -> None:
    """Sepsis' rule asks for fever with hypotension or tachypnoea (NICE NG51); a septic patient's
    numbers now meet it, and the same words with normal numbers do not."""
    from rag_dx.red_flags import RedFlagChecker
    from rag_dx.schemas import Diagnosis, Differential, Versions

    answer = Differential(differential=[Diagnosis(diagnosis="Common cold", icd10="J00", probability=0.5, evidence=[])],
                          evidence=[], abstained=False, versions=Versions(package="test"))
    checker = RedFlagChecker()
    flagged = [f.diagnosis for f in checker.check("Temperature 39.6 C, BP 84/46, respiratory rate 30.", answer)]
    assert "Sepsis" in flagged
    assert "Sepsis" not in [f.diagnosis for f in checker.check("Temperature 36.9 C, BP 124/76, respiratory rate 14.",
                                                               answer)]
