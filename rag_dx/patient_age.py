"""The patient's age as cases write it, read by one pattern.

Why a module: three steps read the age. The disease cards' TF-IDF leaves the phrase out
(:func:`without_age`: "61", "year" and "old" matched cards that say "each year" or "over 60"),
the sex filter reads the word after it (`rag_dx.patient_sex`: "58 y/o (years old) M"), and the
vital signs read a child's norms (:func:`is_child`: a heart rate of 130 is a fever's tachycardia in
an adult, not in a toddler). Each had its own pattern, so "45 yo" was an age to the first two and
not to the third, and "3-month-old boy" stated a sex to none.
"""

from __future__ import annotations

import re

#: "61-year-old", "61 year old", "3-month-old", "45 yo", "58 y/o", "70 y.o.", and the "(years old)"
#: the abbreviation step writes after an abbreviation. Groups: `age` (the number), `unit` (None for
#: the abbreviations, which are years).
AGE_PHRASE = (r"\b(?P<age>\d{1,3})[- ]?(?:(?:(?P<unit>years?|yrs?|months?|weeks?|days?)[- ]old|yo|y/o)\b|y\.o\.)"
              r"(?: \([^)]*\))?")
# The phrase, and the forms that name no sex after them: "3 years of age", "aged 70".
_AGE = re.compile(AGE_PHRASE + r"|\b\d{1,3}[- ](?:years?|months?)[- ]of[- ]age\b|\baged? \d{1,3}\b", re.IGNORECASE)
_AGE_PHRASE = re.compile(AGE_PHRASE, re.IGNORECASE)
_CHILD_WORDS = re.compile(r"\b(?:infant|newborn|neonate|toddler|baby)\b", re.IGNORECASE)
#: Below this many years a stated age is a child's (the vital signs' norms).
CHILD_YEARS = 12


def without_age(text: str) -> str:
    """`text` with the patient's age phrase taken out, for the cards' TF-IDF.

    Card level on the dev physician notes the gold card rose on 16 and fell on 5 (short notes 19/7);
    top-1 and top-5 hardly move (docs/results/protocols.md, "the patient's age"). Age-group words
    (infant, child) stay: they are a real signal for croup or bronchiolitis.
    """
    return _AGE.sub(" ", text)


def is_child(text: str) -> bool:
    """Whether the text describes a child: an age in months, weeks or days, under 12 years, or an infant's word."""
    for m in _AGE_PHRASE.finditer(text):
        unit = (m.group("unit") or "year").lower()
        if not unit.startswith(("year", "yr")) or int(m.group("age")) < CHILD_YEARS:
            return True
    return _CHILD_WORDS.search(text) is not None
