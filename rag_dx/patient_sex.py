"""Diagnoses of the other sex's anatomy are left out when the case states the patient's sex.

Why: the disease cards and passages match a case by its words, so a woman's bladder tumour drew
"Prostate Enlargement: Benign Prostatic Hyperplasia" third, and a man's prostatitis "Cystocele";
4 of the 98 dev physician notes that state a sex listed such a diagnosis in their top 10. Those are
wrong readings whatever the score: a clinician would strike them at once, and they cost the answer
its credibility.

Only hard constraints, and only when the case says so plainly ("a 58-year-old woman", "45 yo
male", "Mrs."): a diagnosis is one sex's when its ICD-10-CM code lies in a block of that sex's
genital organs or of pregnancy (the blocks below), or, for a candidate without a code, when its name
names such an organ. Breast diseases, which men also have, and everything age-related are left
alone: age makes a diagnosis unlikely, not impossible.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

from rag_dx.patient_age import AGE_PHRASE

if TYPE_CHECKING:
    from rag_dx.schemas import Differential

Sex = Literal["male", "female"]

_MALE_WORDS = {"man", "male", "boy", "gentleman", "m"}
_FEMALE_WORDS = {"woman", "female", "girl", "lady", "f"}
# "58-year-old woman", "58 yo male", "58-year-old white female", "58 y/o (years old) M" (as the
# abbreviation step writes it out), "3-month-old boy"; "Mr." / "Mrs." / "Ms."
_AGE_SEX = re.compile(AGE_PHRASE + r"[ ,]+(?:[a-z-]+ ){0,2}?(?P<sex>man|male|boy|gentleman|woman|female|girl|lady|m|f)\b",
                      re.IGNORECASE)
_TITLE = re.compile(r"\b(Mr|Mrs|Ms)\.? [A-Z]")

#: ICD-10-CM blocks (letter, first, last two-digit category) of one sex's anatomy or of pregnancy.
_CODE_BLOCKS: tuple[tuple[str, int, int, Sex], ...] = (
    ("N", 40, 53, "male"),    # diseases of male genital organs
    ("C", 60, 63, "male"),    # malignant neoplasms of male genital organs
    ("Q", 53, 55, "male"),    # congenital malformations of male genital organs
    ("N", 70, 98, "female"),  # inflammatory and noninflammatory disorders of female genital tract
    ("C", 51, 58, "female"),  # malignant neoplasms of female genital organs
    ("D", 25, 28, "female"),  # benign neoplasms of uterus, ovary and other female genital organs
    ("Q", 50, 52, "female"),  # congenital malformations of female genital organs
    ("O", 0, 99, "female"),   # pregnancy, childbirth and the puerperium
)
# Organ words that make an uncoded candidate one sex's ("cervical" alone is the neck's too).
_NAME_WORDS: tuple[tuple[re.Pattern[str], Sex], ...] = (
    (re.compile(r"\b(prostat\w*|testic\w*|testis|testes|scrot\w*|penile|penis|erectile|epididym\w*)\b", re.I),
     "male"),
    (re.compile(r"\b(ovar\w*|uter\w*|endometri\w*|vagin\w*|vulv\w*|cervix|cervical cancer|menopaus\w*|menstrua\w*|"
                r"pregnan\w*|preeclampsia|eclampsia|ectopic)\b", re.I), "female"),
)


def stated_sex(text: str) -> Sex | None:
    """The patient's sex when the case states it plainly, else None (never guessed from pronouns)."""
    m = _AGE_SEX.search(text)
    if m:
        word = m.group("sex").lower()
        return "male" if word in _MALE_WORDS else "female" if word in _FEMALE_WORDS else None
    t = _TITLE.search(text)
    if t:
        return "male" if t.group(1) == "Mr" else "female"
    return None


def diagnosis_sex(name: str, icd10: str | None) -> Sex | None:
    """The one sex a diagnosis can occur in, from its code's block or (uncoded) its name; else None."""
    if icd10:
        code = icd10.strip().upper()
        if len(code) >= 3 and code[1:3].isdigit():
            n = int(code[1:3])
            return next((sex for letter, lo, hi, sex in _CODE_BLOCKS if code[0] == letter and lo <= n <= hi), None)
        return None
    return next((sex for pattern, sex in _NAME_WORDS if pattern.search(name)), None)


def without_other_sex(answer: "Differential", text: str) -> "Differential":
    """The answer without the diagnoses that belong to the other sex than the case states, saying so.

    The shown probabilities of the rest stay as they were (the removed share is left unassigned),
    and the conformal sets lose the same diagnoses; nothing changes when the case states no sex.
    """
    sex = stated_sex(text)
    if sex is None:
        return answer
    out, gone = [], []
    for d in answer.differential:
        (out if diagnosis_sex(d.diagnosis, d.icd10) in (None, sex) else gone).append(d)
    if not gone:
        return answer
    kept = {d.diagnosis for d in out}
    sets = [s.model_copy(update={"diagnoses": [n for n in s.diagnoses if n in kept]}) for s in answer.prediction_sets]
    note = (f"left out as diagnoses of the other sex (the case describes a {sex} patient): "
            f"{', '.join(d.diagnosis for d in gone)}")
    return answer.model_copy(update={"differential": out, "prediction_sets": sets,
                                     "warnings": [*answer.warnings, note]})
