"""Vital signs written as numbers, read as the findings they amount to ("heart rate of 125" -> Tachycardia).

Why: physicians write a case's vital signs as measurements ("temperature 39.2 C", "BP 85/50",
"RR 28", "saturating 88% on room air"), and the finding layer matched words only, so a septic
patient's fever, low blood pressure and fast breathing were no findings at all: not for the
red-flag rules that ask for them (sepsis: fever with hypotension or tachypnoea; pulmonary
embolism: tachycardia), not for the cards' finding words, not for what the clinician reads as
matched. Worse, the lay table reads "temperature" as Fever ("she has a temperature"), so every
note whose vital signs began "Temperature 98.6" had a fever. A measurement becomes a finding only
past a conventional adult threshold; a normal one is no finding (nor an absent one: "pulse 80"
does not deny a pulse disorder), and it overrides what its label's word alone would be read as.

Thresholds (adults): temperature >= 38.0 C / 100.4 F is Fever and < 35.0 C / 95 F Hypothermia
(NICE NG143 / NG51); heart rate > 100 Tachycardia and < 60 Bradycardia; respiratory rate > 20
Tachypnea (NEWS2 scores 21 and above); systolic pressure < 90 Hypotension (NICE NG51), systolic
>= 140 or diastolic >= 90 Hypertension (NICE NG136, clinic reading); oxygen saturation < 94%
Hypoxemia (BTS target range 94-98%). A child's normal heart and breathing rates and blood
pressure differ by age, so for a case that states a child's age (under 12 years, or months,
weeks or days old, "infant", "newborn") only the temperature is read.

Only labelled measurements count ("pulse 118", "T 39.2", "blood pressure of 165/100"); a bare
number is never read as a vital sign. Units: a temperature above 50 is Fahrenheit.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from rag_dx.patient_age import is_child

__all__ = ["vital_findings"]

# Between a label and its number: "=" or ":", and up to four words that say how it was or what it
# read ("pulse is elevated at 101", "SaO2 is 99 percent", "temperature is normal at 98.6").
_SEP = (r"(?![a-z])\s*(?:[=:]\s*)?(?:(?:of|is|was|were|are|at|to|around|about|reads?|reading|read|measured|normal|"
        r"elevated|raised|increased|low|high|rapid|fast|slow|up|down|only|still|now|noted|persistently|"
        r"consistently|slightly|mildly|markedly|significantly|a\s+little|very|the|er|ed|home|triage)\s*[=:]?\s+){0,4}")
# A number, or a decade as clinicians write one ("in the 130s", "in the high 80s", "HR 110s").
_NUM = r"((?:in\s+the\s+)?(?:(?:low|lower|mid|high|upper)[- ]?)?\d{1,3}(?:\.\d)?(?:'?s\b)?)"
_DECADE = re.compile(r"(?:in\s+the\s+)?(?:(low|lower|mid|high|upper)[- ]?)?(\d{1,3}(?:\.\d)?)('?s)?$", re.IGNORECASE)
# "temperature max at ER is 102", "T max of 101", "max temp 39.4": the day's highest reading
_TEMP = re.compile(r"\b(?:(?:temperature|temp)(?:\s+max(?:imum)?)?|t\s*max|max(?:imum)?\s+temp(?:erature)?|febrile|t)"
                   + _SEP + _NUM
                   + r"(?:\s*(?:°|degrees?|deg))?(?:\s*([cf])(?![a-z]))?", re.IGNORECASE)
_HEART = re.compile(r"\b(?:heart rate|pulse rate|pulse|hr)" + _SEP + _NUM + r"(?!\d|\.\d)(?!\s*/)", re.IGNORECASE)
_RESP = re.compile(r"\b(?:respiratory rate|respiration rate|respirations|resp rate|rr)" + _SEP + _NUM
                   + r"(?!\d|\.\d)|\bbreathing(?:\s+at)?\s+(\d{1,2})\s+(?:breaths|times)\s+(?:a|per)\s+minute",
                   re.IGNORECASE)
_BP = re.compile(r"\b(?:blood pressure|bp)" + _SEP + r"(\d{2,3})\s*(?:/|\s+over\s+)\s*(\d{2,3})\b", re.IGNORECASE)
# A systolic pressure written alone ("systolic pressure in the 60s", "systolic BP of 84").
_SYSTOLIC = re.compile(r"\bsystolic(?:\s+blood)?(?:\s+pressures?|\s+bp)?s?" + _SEP + _NUM + r"(?!\d|\.\d)(?!\s*/)",
                       re.IGNORECASE)
_SAT = re.compile(r"\b(?:oxygen saturation|o2 saturation|o2 sats?|sats?|saturation|spo2|sao2|pulse ox(?:imetry)?|"
                  r"saturating|oxygen levels?|o2 levels?)" + _SEP
                  + r"(?:" + _NUM + r"\s*(?:%|percent\b)|((?:in\s+the\s+)?(?:(?:low|lower|mid|high|upper)[- ]?)?\d0'?s)\b)",
                  re.IGNORECASE)
# A fetal heart rate of 150 is normal, and a pacemaker's or a stress test's rates are settings or targets.
# A saturation that is not the blood's oxygen as pulse oximetry reads it: a heart chamber's or a vein's in a
# catheterisation report ("right atrial saturation is 76.3%"), or iron's ("transferrin saturation 20%").
_NOT_OXIMETRY = re.compile(r"\b(?:atrial|venous|ventricular|artery|transferrin|iron|mixed)\W+(?:\w+\W+){0,1}$",
                           re.IGNORECASE)
_NOT_THE_PATIENT = re.compile(r"\b(?:fetal|fetus|baby's|tracking|pacing|paced|target|detection|maximal|maximum|"
                              r"max|peak|predicted)\W+(?:\w+\W+){0,2}$", re.IGNORECASE)
# "T" alone is read only as "T 38.5" / "T: 101.2" (a decimal): "T2", "T 4" are not temperatures.
_BARE_T = re.compile(r"^t\b(?!\s*max)", re.IGNORECASE)
# A text none of whose words could label a measurement skips the patterns (most guideline passages):
# substring tests are C-fast where a regex alternation over a 1,500-character passage took 0.1 ms.
_KEYS = ("temp", "tmax", "t max", "febrile", "pulse", "heart rate", "respirat", "resp rate", "rr ", "rr:", "rr=",
         "blood pressure", "bp ", "bp:", "bp=", "sat", "spo2", "sao2", "o2 ", "hr ", "hr:", "hr=", "breathing",
         "systolic", "oxygen level", "o2 level")
_UPPER_T = re.compile(r"\bT\s*:?\s*\d{2,3}\.\d")


def _celsius(value: float, unit: str | None) -> float | None:
    """A body temperature in Celsius (None: not one, as "temp 5" days or a typo)."""
    celsius = (value - 32) * 5 / 9 if (unit or "").lower() == "f" or (unit is None and value > 50) else value
    return celsius if 25 <= celsius <= 45 else None


def _value(written: str) -> float:
    """The number a reading stands for: a decade is its middle, or its low or high end when said so."""
    m = _DECADE.search(written.strip())
    assert m is not None  # _NUM and _DECADE accept the same strings
    value = float(m.group(2))
    if m.group(3):
        value += {"low": 2, "lower": 2, "high": 8, "upper": 8}.get((m.group(1) or "").lower(), 5)
    return value


def _said_of_another(words: re.Pattern[str], text: str, start: int) -> bool:
    """Whether the words just before a measurement make it not the patient's vital sign (a fetus's rate,
    a stress test's target, a heart chamber's saturation); the patterns reach at most three words back."""
    return words.search(text[max(0, start - 40):start]) is not None


def vital_findings(text: str) -> Iterator[tuple[str | None, tuple[int, int], str]]:
    """(HPO preferred name, span, the measurement as written) for each labelled vital sign in `text`.

    The name is None for a measurement within the normal range: the caller drops any finding its
    span covers ("temperature" in "temperature 98.6" is no fever)."""
    low = text.lower()
    if not any(k in low for k in _KEYS) and not _UPPER_T.search(text):
        return
    adult = not is_child(text)
    for m in _TEMP.finditer(text):
        if _BARE_T.match(m.group(0)) and "." not in m.group(1):
            continue
        celsius = _celsius(_value(m.group(1)), m.group(2))
        if celsius is not None:
            yield ("Fever" if celsius >= 38.0 else "Hypothermia" if celsius < 35.0 else None), m.span(), m.group(0)
    if not adult:
        return
    for m in _HEART.finditer(text):
        rate = _value(m.group(1))
        if 20 <= rate <= 250 and not _said_of_another(_NOT_THE_PATIENT, text, m.start()):
            yield ("Tachycardia" if rate > 100 else "Bradycardia" if rate < 60 else None), m.span(), m.group(0)
    for m in _RESP.finditer(text):
        rate = _value(m.group(1) or m.group(2))
        if 4 <= rate <= 70:
            yield ("Tachypnea" if rate > 20 else None), m.span(), m.group(0)
    for m in _BP.finditer(text):
        systolic, diastolic = int(m.group(1)), int(m.group(2))
        if 50 <= systolic <= 300 and 20 <= diastolic < systolic:
            yield ("Hypotension" if systolic < 90 else "Hypertension" if systolic >= 140 or diastolic >= 90
                   else None), m.span(), m.group(0)
    for m in _SYSTOLIC.finditer(text):
        systolic = _value(m.group(1))
        if 50 <= systolic <= 300:
            yield ("Hypotension" if systolic < 90 else "Hypertension" if systolic >= 140 else None), m.span(), m.group(0)
    for m in _SAT.finditer(text):
        saturation = _value(m.group(1) or m.group(2))
        if 50 <= saturation <= 100 and not _said_of_another(_NOT_OXIMETRY, text, m.start()):
            yield ("Hypoxemia" if saturation < 94 else None), m.span(), m.group(0)
