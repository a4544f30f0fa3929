"""Pattern recognizers for the HIPAA Safe Harbor identifiers that have a shape or a label.

One table per entity type: `(name, regex, score)` rows, where a regex may hold a named group
`v` (then only that group is the identifier: "MRN: 00123456" redacts the number and keeps the
label, which tells the reader what was there). Scores follow presidio's convention: a shape that
is an identifier on its own scores >= `SCORE_THRESHOLD` (0.4); a weak shape scores lower and
passes only when one of the recognizer's context words is nearby (presidio adds 0.35).

Everything here is pure data and small functions (no presidio import), so that `deid.py` can
build presidio recognizers from it at `Deidentifier.load()` and tests can read the tables.

Regexes run with the `regex` module (variable-length look-behind) and without IGNORECASE:
case carries signal (names and month names are capitalized); case-insensitive parts use scoped
`(?i:...)` groups.
"""

from __future__ import annotations

import datetime
import functools
import re
from collections.abc import Callable, Iterable

Row = tuple[str, str, float]


def title_or_upper(words: Iterable[str]) -> str:
    alts: list[str] = []
    for w in words:
        alts += [w[0].upper() + w[1:], w.upper()]
    return "|".join(alts)


# ---------------------------------------------------------------------------------------------
# Labelled identifiers: a label ("MRN", "Member ID", "DEA #") then a value holding a digit.
# ---------------------------------------------------------------------------------------------

# between label and value: "#", ":", "no.", "number", "id", "is" in any mix (at most three)
_SEP = r"(?i:(?:\s*(?:[#:=.'\"\u201c\u2018]|no\b\.?|nos?\.|number\b|num\b\.?|nbr\b|id\b|is\b|was\b|of\b))*)\s*"
# the value: an optional short letter group ("ABC 1234", "MR-123456"), then a token holding a
# digit, then up to three more digit groups ("123 45 6789", "1234 5678").
_VALUE = (
    r"(?P<v>(?:[A-Z]{1,4}[ -](?=\d))?"
    r"(?=[\w().\-/]*\d)[A-Za-z0-9(][\w().\-/]*"
    r"(?:[ ](?:\d{2,}(?:-\d+)*)(?![\w.-]*[A-Za-z])){0,3})"
)


def labelled(label: str) -> str:
    """Regex for `label` (case-insensitive, whole word) followed by an identifier value."""
    return r"(?<![\w/])(?i:" + label + r")(?![a-z])" + _SEP + _VALUE


LABELS: dict[str, list[str]] = {
    "MRN": [
        r"mrn", r"mr\s*#", r"mr\s+(?:no|number)", r"medical\s+record(?:\s+(?:number|no|#))?", r"med\.?\s*rec(?:ord)?\.?",
        r"chart", r"record", r"hosp(?:ital)?\.?\s*(?:#|no|number)", r"patient\s+(?:id|identifier|number|no|#)", r"pt\.?\s*(?:id|#)", r"hospital\s+(?:number|no|#|id)",
        r"unit\s+(?:number|no)", r"encounter", r"visit\s+(?:number|no|#|id)", r"accession", r"case\s+(?:number|no|#)", r"case(?=\s+\d)",
        r"admission\s+(?:number|no|#|id)", r"fin", r"csn", r"emr\s*#", r"ehr\s*#", r"specimen\s+(?:id|number|no|#)",
        r"lab\s+(?:id|number|no|#)", r"order\s+(?:number|no|#)", r"ref(?:erence)?\.?\s*(?:#|no|number)", r"identifier", r"id\s*(?:#|number|no)", r"id",
    ],
    "HEALTH_PLAN": [
        r"member(?:\s+(?:id|#|no|number))?", r"subscriber(?:\s+(?:id|#|no|number))?", r"policy(?:\s+(?:id|#|no|number))?",
        r"group\s+(?:id|#|no|number)", r"group(?=\s*[:#])",
        # "Group 0045A" without a colon; not "age group 65-74" or "blood group 0"
        r"(?<!age\s)(?<!blood\s)group(?=\s+[a-z]{0,3}\d)", r"insurance(?:\s+(?:id|#|no|number|policy))?", r"insured\s+id", r"medicare(?:\s+(?:id|#|no|number))?",
        r"medicaid(?:\s+(?:id|#|no|number))?", r"mbi", r"hicn", r"health\s+plan(?:\s+(?:beneficiary|member))?(?:\s+(?:id|#|no|number))?",
        r"beneficiary(?:\s+(?:id|#|no|number))?", r"plan\s+(?:id|#|no|number)", r"coverage\s+(?:id|#|number)",
        r"(?:bcbs|aetna|cigna|humana|uhc|kaiser|tricare)(?:\s+(?:id|#|no|number))?",
    ],
    "ACCOUNT": [
        r"account(?:\s+(?:id|#|no|number))?", r"acct\.?", r"a/c", r"billing(?:\s+(?:account|id|#|no|number))?",
        r"invoice(?:\s+(?:id|#|no|number))?", r"claim(?:\s+(?:id|#|no|number))?", r"guarantor\s+(?:id|#|no|number)",
        r"bank\s+account", r"routing(?:\s+(?:#|no|number))?", r"iban",
    ],
    "LICENSE": [
        r"driver'?s?\s+licen[cs]e", r"driving\s+licen[cs]e", r"d\.?l\.?\s*#?", r"dea", r"npi", r"licen[cs]e", r"lic\.",
        r"certificate", r"cert\.?", r"registration\s+(?:#|no|number)", r"passport", r"state\s+id", r"permit",
        r"(?:nursing|medical|board|state|professional|pharmacy)\s+licen[cs]e", r"upin", r"tin", r"ein",
    ],
    "VEHICLE": [
        r"licen[cs]e\s+plate", r"plate", r"(?:vehicle|car|auto)\s+(?:tag|plate|id|#|registration)", r"tag", r"vin",
        r"vehicle\s+identification", r"registration\s+plate", r"reg\.?\s+plate",
    ],
    "DEVICE": [
        r"serial", r"s/n", r"sn", r"ser\.?\s*#", r"device(?:\s+(?:id|#|serial|identifier|number|no))?", r"udi", r"imei",
        r"implant(?:\s+(?:id|#|serial|number))?", r"lot", r"model\s+(?:#|no|number)", r"pump\s+(?:id|#|serial)",
        r"pacemaker(?:\s+(?:id|#|serial))?", r"asset\s+(?:tag|#|id)",
    ],
    "SSN": [r"ssn", r"ss\s*#", r"ss\s+(?:no|number)", r"social\s+security(?:\s+(?:number|no|#))?", r"social\s+sec\.?", r"sin"],
    "PHONE": [
        r"phone", r"ph\.?", r"tel\.?", r"telephone", r"cell", r"cellphone", r"mobile", r"mob\.?", r"fax", r"facsimile",
        r"pager", r"beeper", r"contact(?:\s+(?:number|no|#|phone))?", r"call(?:\s+(?:back|at|me))?", r"home", r"work",
        r"office", r"text",
    ],
}

# Phone-labelled values are digit runs with separators only (a phone number never has letters).
_PHONE_VALUE = r"(?P<v>\+?\(?\d(?:[\d()/-]|[ .](?=[\d(])){5,18}\d(?:\s*(?i:x|ext\.?)\s*\d{1,5})?)(?![\d])"


def labelled_rows(entity: str) -> list[Row]:
    if entity == "PHONE":
        return [
            (f"labelled phone {i}", r"(?<![\w])(?i:" + label + r")(?![a-z])" + _SEP + _PHONE_VALUE, 0.7)
            for i, label in enumerate(LABELS["PHONE"])
        ]
    return [(f"labelled {entity.lower()} {i}", labelled(label), 0.85) for i, label in enumerate(LABELS[entity])]


# ---------------------------------------------------------------------------------------------
# Dates: every element but the year.
# ---------------------------------------------------------------------------------------------

MONTH_FULL = (
    r"(?:" + title_or_upper(["january", "february", "march", "april", "may", "june", "july", "august", "september",
                             "october", "november", "december"]) + r")"
)
MONTH_ABBR = r"(?:" + title_or_upper(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sept", "sep", "oct", "nov", "dec"]) + r")\.?"
MONTH = r"(?:" + MONTH_FULL + "|" + MONTH_ABBR + r")"
_DAY_NUM = r"(?:0?[1-9]|[12]\d|3[01])"
_ORDINAL = r"(?:st|nd|rd|th)"
_DAY = _DAY_NUM + _ORDINAL + "?"
_SPELLED_ORDINAL = (r"(?:(?:twenty|thirty)[\s-])?(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth)|tenth|"
                    r"eleventh|twelfth|thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|"
                    r"twentieth|thirtieth")
_YEAR4 = r"(?:19|20)\d{2}"
_WEEKDAY = r"(?:(?:" + title_or_upper(["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
                                      "mon", "tue", "tues", "wed", "thu", "thur", "thurs", "fri", "sat", "sun"]) + r")\.?,?\s+)?"
# An abbreviated month with a bare day ("Dec 2 units") is too often not a date; it counts with a
# year or an ordinal ("Dec 2nd"). Full month names count with a day alone ("March 14").
_MD = (
    r"(?:" + MONTH_FULL + r"\s+" + _DAY + r"(?:,?\s+" + _YEAR4 + r")?"
    r"|" + MONTH_ABBR + r"\s*" + _DAY_NUM + r"(?:" + _ORDINAL + r"(?:,?\s+" + _YEAR4 + r")?|,?\s+" + _YEAR4 + r"))"
)
_DM = (
    r"(?:" + _DAY + r"\s+(?:of\s+)?" + MONTH_FULL + r"(?:,?\s+" + _YEAR4 + r")?"
    r"|" + _DAY + r"\s*(?:of\s+)?" + MONTH_ABBR + r",?\s*" + _YEAR4 + r")"
)
_DATE_CONTEXT_BEFORE = (
    r"(?i:\b(?:on|since|from|until|till|by|dated|date|dob|d\.o\.b\.|born|admitted|admission|admit|discharged|discharge|dos|seen|visit|"
    r"surgery|procedure|onset|started|began|effective|expires?|exp\.?|through|thru|to|appointment|appt|follow-up|f/u|"
    r"return|rtc|scheduled|due|occurred|happened|injured|injury|monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
    r"(?-i:Mon|Tue|Tues|Wed|Thu|Thur|Thurs|Fri|Sat|Sun)\.?)\s*[:,]?\s*)"
)

DATE_ROWS: list[Row] = [
    # 03/14/2023, 3-14-23, 14.03.2023 (day/month order is ambiguous; both are dates)
    ("numeric d/m/y", r"(?<![\d/.-])\d{1,2}([/.-])\d{1,2}\1(?:" + _YEAR4 + r"|\d{2})(?![\d/.-]*\d)", 0.6),
    # 2023-03-14, 2023/3/14, 2023.03.14
    ("iso", r"(?<![\d/.-])" + _YEAR4 + r"([/.-])(?:0?[1-9]|1[0-2])\1(?:0?[1-9]|[12]\d|3[01])(?!\d)", 0.85),
    # (Tuesday,) March 14, 2023 / Mar 14 2023 / March 14th / Dec 2nd / MARCH 14
    ("month day year", r"\b" + _WEEKDAY + _MD + r"\b", 0.85),
    # 14 Mar 2023 / 14th of March, 2023 / 14 March / 14-Mar-2023 / 14MAR2023
    ("day month year", r"\b" + _WEEKDAY + _DM + r"\b", 0.85),
    ("day-month-year", r"\b" + _DAY_NUM + r"-" + MONTH_ABBR + r"-(?:" + _YEAR4 + r"|\d{2})\b", 0.85),
    ("month-day-year", r"\b" + MONTH_ABBR + r"-" + _DAY_NUM + r"-(?:" + _YEAR4 + r"|\d{2})\b", 0.85),
    # march 14, 2023 (lower case, only with a year)
    ("lower month day year", r"\b(?i:january|february|march|april|may|june|july|august|september|october|november|"
     r"december)\s+" + _DAY + r",?\s+" + _YEAR4 + r"\b", 0.8),
    # March 2023 (a month and year identify more than the year alone allowed by HIPAA Safe Harbor)
    ("month year", r"\b" + MONTH + r",?\s+" + _YEAR4 + r"\b", 0.7),
    # 03/2023
    ("numeric month/year", r"(?<![\d/.-])(?:0?[1-9]|1[0-2])/" + _YEAR4 + r"(?![\d/])", 0.6),
    # "on 3/14", "DOB 3/14": month/day without a year only after a date word (7/10 pain stays)
    ("context month/day", _DATE_CONTEXT_BEFORE + r"(?P<v>(?:0?[1-9]|[12]\d|3[01])[/-](?:0?[1-9]|[12]\d|3[01]))(?![\d/.-]?\d)"
     r"(?!\s*(?i:days?|weeks?|months?|years?|hours?|hrs?|minutes?|times?|feet|ft|foot|meters?|miles?)\b)", 0.6),
    ("context abbreviated month day", _DATE_CONTEXT_BEFORE + r"(?P<v>" + MONTH_ABBR + r"\s*" + _DAY_NUM + r")\b", 0.6),
    ("month of year", r"\b" + MONTH + r"\s+of\s+" + _YEAR4 + r"\b", 0.7),
    # holidays name a day: "Christmas Eve 2019", "on Thanksgiving"
    ("holiday", r"\b(?:Christmas(?:\s+(?:Eve|Day))?|New\s+Year'?s(?:\s+(?:Eve|Day))?|Thanksgiving(?:\s+Day)?|Easter(?:\s+Sunday)?|"
     r"Halloween|Independence\s+Day|Fourth\s+of\s+July|Memorial\s+Day|Labor\s+Day|Valentine'?s\s+Day|Mother'?s\s+Day|"
     r"Father'?s\s+Day|Veterans\s+Day|Good\s+Friday|Martin\s+Luther\s+King\s+(?:Jr\.?\s+)?Day|Presidents'?\s+Day)"
     r"(?:,?\s+" + _YEAR4 + r")?\b", 0.6),
    # "scheduled for the 14th", "on the 3rd" (a day of the month alone)
    ("day of month", r"(?i:\b(?:on|for|by|until|till|since|before|after|monday|tuesday|wednesday|thursday|friday|"
     r"saturday|sunday|mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun),?\s+the\s+)(?P<v>(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th))\b"
     r"(?!\s+(?:of\s+)?(?i:time|times|day|days|week|weeks|month|months|year|years|finger|toe|rib|digit|intercostal|"
     r"trimester|percentile|degree|grade|dose|cycle|attempt|episode|visit|floor|line|lumbar|cervical|thoracic|"
     r"postoperative|postop|hospital|generation))", 0.6),
    # "the fourth of March", "March twenty-first": a spelled day names the day as a digit does
    ("spelled day and month", r"(?i:\b(?:" + _SPELLED_ORDINAL + r")\s+(?:of\s+)?)" + MONTH_FULL + r"\b"
     r"|\b" + MONTH_FULL + r"\s+(?i:the\s+)?(?i:" + _SPELLED_ORDINAL + r")\b", 0.7),
    # Jan. '19, March '21
    ("month 'yy", r"\b" + MONTH + r"\s*(?:" + _DAY_NUM + _ORDINAL + r"?,?\s*)?['’]\d{2}\b", 0.7),
    # DOB 19870314 / date of birth: 870314
    ("labelled compact date", r"(?i:\b(?:dob|d\.o\.b\.|date\s+of\s+birth|birth\s*date)\s*:?\s*)(?P<v>\d{6,8})\b", 0.85),
]

# ---------------------------------------------------------------------------------------------
# Ages over 89 (HIPAA: aggregate into "90 or older"). Ages up to 89 are clinical content.
# ---------------------------------------------------------------------------------------------

_OLD = r"(?:9\d|1[0-2]\d)"
_OLD_WORDS = (r"(?i:ninety|one\s+hundred(?:\s+and)?(?:\s+(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve))?)"
              r"(?:[\s-](?i:one|two|three|four|five|six|seven|eight|nine))?")
AGE_ROWS: list[Row] = [
    # 94-year-old, 94 years old, 94 yo, 94 y/o, 94-yr-old, 94 y.o., 94yo
    ("age years", r"(?<![\d.,/])(?P<v>" + _OLD + r")(?=\s*-?\s*(?i:years?|yrs?|y\.?\s?o\b\.?|y/o|yo\b|y\b))", 0.85),
    # aged 97, age: 97, age of 97, Age 97, aged ninety-two, Age/Sex: 94/M, Age (years): 91
    ("age label", r"(?i:\b(?:aged?|age\s+of|at\s+age)(?:\s*/\s*(?:sex|gender))?(?:\s*\((?:years?|yrs?|y)\))?\s*:?\s*)"
     r"(?P<v>" + _OLD + r"(?!\d|\.\d)|" + _OLD_WORDS + r"\b)", 0.85),
    # "female, 92, with delirium"; "her 100th birthday"
    ("sex, age,", r"(?i:\b(?:male|female|man|woman|gentleman|lady|widow|widower),\s*)(?P<v>" + _OLD + r")(?=\s*,)", 0.7),
    ("birthday", r"(?i:\b(?P<v>(?:9\d|1[0-2]\d)(?:st|nd|rd|th)|ninetieth|ninety[\s-](?:first|second|third|fourth|fifth|sixth|"
     r"seventh|eighth|ninth)|(?:one\s+)?hundredth)\s+birthday)", 0.7),
    # ninety-four years old, one hundred and two year-old
    ("age words", r"(?i:\b(?P<v>(?:ninety|one\s+hundred(?:\s+and)?(?:\s+(?:one|two|three|four|five|six|seven|eight|nine|ten|"
     r"eleven|twelve))?)(?:[\s-](?:one|two|three|four|five|six|seven|eight|nine))?)(?=[\s-]+(?:years?|yrs?|y/?o)\b))", 0.85),
    # "in his 90s", "in her late nineties"
    ("age decade", r"(?i:\bin\s+(?:his|her|their|the)\s+(?:late\s+|early\s+|mid[- ]?)?)(?P<v>(?:9|1[0-2])0['’]?s|nineties)\b", 0.85),
    # "a woman of 93", "centenarian"
    ("person of age", r"(?i:\b(?:man|woman|male|female|lady|gentleman|patient|person|resident|widow|widower)\s+of\s+)"
     r"(?P<v>" + _OLD + r")(?!\d|\.\d)", 0.8),
    ("age word", r"(?i:\b(?:nonagenarian|centenarian|supercentenarian)s?\b)", 0.85),
    # "she turned ninety-one", "turning 93", "is now 95"
    ("age turned", r"(?i:\b(?:turned|turning|turns|is\s+now)\s+)(?P<v>" + _OLD + r"(?!\d|\.\d)|(?i:ninety|one\s+hundred)"
     r"(?:[\s-](?:one|two|three|four|five|six|seven|eight|nine))?)\b(?!\s*(?i:°|degrees?|deg\b|percent|%))", 0.7),
    # "she is 92", "who is now 101"; not "is 95%", "is 90 days post-op", "is 98.6", "is 92/60"
    ("person is age", r"(?i:\b(?:(?:he|she|who|patient|pt|wife|husband|spouse|partner|mother|father|mom|dad|"
     r"grandmother|grandfather|grandma|grandpa|aunt|uncle|sister|brother)\s+is|(?:he|she)['’]s)\s+(?:now\s+)?)(?P<v>" + _OLD + r")\b"
     r"(?!\s*(?:[/%°-]|\.\d|,\d|(?i:degrees?|mm|bpm|kg|kilos?|lbs?|pounds?|cm|percent|beats|breaths|mg|ml|units?|"
     r"days?|weeks?|months?|hours?|hrs?|minutes?|mins?|seconds?|points?|times?|on\b|at\b)))", 0.7),
    # "97M", "97 F" (sex after age, a common note shorthand)
    ("age sex", r"(?<![\w.,/])(?P<v>" + _OLD + r")\s?(?:M|F|yo[MF])\b(?!\w)", 0.6),
    # "He lives alone and is 92.": a sentence about a person that ends "and is <age>" (no vital sign in it)
    ("person clause and is age", r"(?:^|(?<=[.!?;]\s{1,3})|(?<=\n))(?:He|She|The\s+patient|Patient|Pt)\s+(?![^.;\n]*?\b(?i:pulse|"
     r"rate|hr|bp|pressure|systolic|diastolic|sats?|saturation|saturating|spo2|o2|oxygen|temp|temperature|glucose|sugar|"
     r"weight|weighs|level|score|count|hypox\w*|tachy\w*|brady\w*|hypotens\w*|hypertens\w*|febrile|mmhg|bpm)\b)"
     r"[^.;\n]{1,60}?\band\s+is\s+(?:now\s+)?(?P<v>" + _OLD + r")(?=(?:\s+now)?\s*(?:[.;!?]|,\s|\s+and\b|$))", 0.7),
    # "At 96, she still gardens": a sentence that opens with the age, then the person
    ("at age, person", r"(?:^|(?<=[.!?]\s{1,3})|(?<=\n))(?i:at)\s+(?P<v>" + _OLD + r"),\s+(?=(?i:he|she|they|the\s+patient|"
     r"patient|pt|mr|mrs|ms|my|our|his|her)\b)", 0.7),
]

# A birth year is a year (kept), unless it says the person is over 89 (Safe Harbor counts it as the age).
BIRTH_YEAR_ROWS: list[Row] = [
    ("birth year", r"(?i:\b(?:born\s+(?:in\s+)?|birth\s+year\s*:?\s*|year\s+of\s+birth\s*:?\s*|yob\s*:?\s*))"
     r"(?P<v>(?:18|19|20)\d{2})\b", 0.7),
]


def birth_year_over_89(value: str, *, this_year: int | None = None) -> bool:
    """Whether a birth year makes the person 90 or older this year."""
    year = this_year or datetime.date.today().year
    return value.isdigit() and year - int(value) >= 90


# ---------------------------------------------------------------------------------------------
# Phone and fax numbers, every common shape.
# ---------------------------------------------------------------------------------------------

PHONE_ROWS: list[Row] = [
    # (555) 123-4567, 555-123-4567, 555.123.4567, 555 123 4567, 555/123-4567, +1 555 123 4567, 1-555-123-4567
    (
        "us phone",
        r"(?<![\w+])(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s./-])\d{3}[\s.-]\d{4}(?:\s*(?i:x|ext\.?)\s*\d{1,5})?(?!\d)",
        0.7,
    ),
    ("+1 phone", r"\+1\s?\d{10}(?!\d)", 0.7),
    ("area code then 7 digits", r"(?<![\w+])\(\d{3}\)\s?\d{7}(?!\d)", 0.7),
    # bare 10 digits (a phone, an NPI, an account: all identifiers)
    ("bare 10 digits", r"(?<![\w.,/-])\d{10}(?![\w,]|\.\d)", 0.6),
    # international: +44 20 7946 0958, +91 98765 43210, +33 1 23 45 67 89
    ("international", r"(?<![\w+])\+(?:[2-9]\d{0,2})[\s.-]?(?:\(?\d{1,4}\)?[\s.-]?){1,5}\d{2,4}(?!\d)", 0.7),
    # national numbers with a trunk 0 and no country code: 07700 900123, 020 7946 0958
    ("trunk-zero national", r"(?<![\w+.,/-])0\d{2,4}[\s-]\d{3,4}[\s-]?\d{3,4}(?![\w,/-]|\.\d)", 0.6),
    # 7-digit local number, only with a phone word nearby
    ("local 7 digits", r"(?<![\d-])\d{3}-\d{4}(?![\d-])", 0.3),
]
PAGER_ROWS: list[Row] = [
    ("pager or extension", r"(?i:\b(?:pager|beeper|bleep|ext\.?|extension)\s*(?:#|no\.?|number)?\s*:?\s*)(?P<v>\d{3,6})\b", 0.7),
]
# "five five five, one two three, four five six seven": seven or more digits spelled out in a row
# (no clinical text counts that far digit by digit).
_DIGIT_WORD = r"(?:zero|oh|one|two|three|four|five|six|seven|eight|nine)"
SPELLED_PHONE_ROWS: list[Row] = [
    ("spelled phone digits", r"(?i:\b" + _DIGIT_WORD + r"(?:[\s,.;-]+" + _DIGIT_WORD + r"){6,14}\b)", 0.7),
]
PHONE_CONTEXT = ["phone", "tel", "telephone", "call", "cell", "mobile", "fax", "pager", "contact", "reach", "reached",
                 "number", "text", "whatsapp", "sms"]

EMAIL_ROWS: list[Row] = [
    ("email", r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b", 0.9),
    ("spelled email", r"(?i:(?<![\w.+-])[\w.+-]+(?:\s*(?:\bdot\b|\[dot\]|\(dot\))\s*[\w-]+)*\s*(?:\bat\b|\[at\]|\(at\))\s*[\w-]+(?:\s*(?:\bdot\b|\[dot\]|\(dot\))\s*[\w-]+)+)", 0.6),
]

_TLD = r"(?:com|org|net|edu|gov|mil|int|io|info|biz|health|care|clinic|us|uk|ca|au|de|fr|co|me|app|online|site)"
URL_ROWS: list[Row] = [
    ("url scheme", r"(?i:\b(?:https?|ftp|sftp)://[^\s<>\"'\]\[)]+)", 0.9),
    ("url www", r"(?i:\bwww\.[^\s<>\"'\]\[)]+)", 0.9),
    # social-media handles: "@jdoe_1985"; a handle without a digit or underscore only after a platform
    # word ("instagram @maria.okafor"), so "@home" or "meds @ bedtime" stay
    ("social handle", r"(?<![\w.@])@(?=[A-Za-z0-9_.]*[\d_])[A-Za-z][A-Za-z0-9_.]{2,29}(?<!\.)(?![\w@])", 0.6),
    ("labelled social handle", r"(?i:\b(?:twitter|instagram|insta|tiktok|facebook|snapchat|threads|bluesky|x|handle|"
     r"username)\b[\s:]*(?:is\s+|handle\s+|account\s+)?)(?P<v>@[A-Za-z0-9_.]{2,30})(?<!\.)", 0.8),
    # bare domain, with or without a path: portal.example.com/jsmith
    ("bare domain", r"(?i:(?<![\w@.-])(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+" + _TLD + r"\b(?:/[^\s<>\"'\]\[)]*)?)", 0.7),
]

SSN_ROWS: list[Row] = [
    # Presidio's own SSN recognizer invalidates "sample" numbers like 123-45-6789; for
    # de-identification over-redacting a lookalike is the safe side.
    ("ssn dashed", r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])", 0.85),
    ("ssn dotted", r"(?<![\d.])\d{3}\.\d{2}\.\d{4}(?![\d.]?\d)", 0.6),
    ("ssn spaced", r"(?<!\d)(?<!\d )\d{3} \d{2} \d{4}(?! ?\d)", 0.5),
    ("ssn masked", r"(?i:(?<![\w*])(?:xxx|\*{3})-?(?:xx|\*{2})-?)\d{4}\b", 0.6),
    ("ssn last four", r"(?i:\b(?:ssn|ss#|social\s+security(?:\s+(?:number|no\.?|#))?)[^0-9\n]{0,25}?)(?P<v>\d{4})(?![\d-])", 0.6),
]

# Generic identifiers: long digit runs and mixed letter/digit codes (HIPAA's "any other unique
# identifying number or code"). ICD-10 codes (J44.1, S72.001A) have at most 4 digits and a dot.
ID_ROWS: list[Row] = [
    ("long number", r"(?<![\w.,/-])\d{8,}(?![\w,]|\.\d)", 0.6),
    ("dashed digit groups", r"(?<![\w.,/-])\d{2,}(?:-\d{2,}){2,5}(?![\w-]|\.\d)", 0.5),
    ("mixed code", r"(?<![\w.-])(?=[A-Z0-9-]*\d)(?=[A-Z0-9-]*[A-Z])[A-Z0-9]{2,}(?:-[A-Z0-9]+){0,4}(?![\w-]|\.\d)", 0.5),
    ("7 digits", r"(?<![\w.,/-])\d{7}(?![\w,]|\.\d)", 0.3),
    ("mac address", r"(?i:\b[0-9a-f]{2}(?:[:-][0-9a-f]{2}){5}\b)", 0.8),
]
ID_CONTEXT = ["mrn", "record", "chart", "account", "acct", "patient", "pt", "id", "identifier", "number", "accession",
              "encounter", "visit", "admission", "no", "serial", "member", "policy", "license", "licence"]


def mixed_code_ok(value: str) -> bool:
    """A mixed letter/digit code counts when it holds at least 5 digits (MR-123456, B4628194)."""
    return sum(c.isdigit() for c in value) >= 5


def dashed_groups_ok(value: str) -> bool:
    return sum(c.isdigit() for c in value) >= 7


# ---------------------------------------------------------------------------------------------
# Payment cards (Luhn-checked), DEA numbers (checksum), VINs.
# ---------------------------------------------------------------------------------------------

CARD_ROWS: list[Row] = [
    ("card", r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-]?\d)", 0.5),
]


def luhn_ok(value: str) -> bool:
    digits = [int(c) for c in value if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


CARD_ROWS.append(("card last four", r"(?i:\b(?:card|visa|mastercard|amex|discover|debit|credit)\b[^0-9\n]{0,15}?"
                  r"\b(?:ending|ends)\s+(?:in\s+|with\s+)?)(?P<v>\d{4})\b", 0.6))

DEA_ROWS: list[Row] = [("dea", r"\b[A-Z][A-Z9]\d{7}\b", 0.3)]


def dea_ok(value: str) -> bool:
    d = [int(c) for c in value[2:]]
    return len(d) == 7 and (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10 == d[6]


VIN_ROWS: list[Row] = [("vin", r"\b(?=[A-HJ-NPR-Z0-9]*\d)(?=[A-HJ-NPR-Z0-9]*[A-HJ-NPR-Z])[A-HJ-NPR-Z0-9]{17}\b", 0.7),
                       ("uk plate", r"(?<![\w-])(?!CD\d|[A-Z]{2}\d{2} ?(?:POS|NEG)\b)[A-HJ-PR-Y]{2}\d{2} ?[A-HJ-PR-Z]{3}(?![\w-])", 0.5)]

# ---------------------------------------------------------------------------------------------
# Geography smaller than a state: street, P.O. box, apartment, city, ZIP.
# ---------------------------------------------------------------------------------------------

STATE_ABBR = (
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH OK "
    "OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR GU VI"
).split()
STATE_NAMES = [
    "Alabama", "Alaska", "Arizona", "Arkansas", "California", "Colorado", "Connecticut", "Delaware", "Florida",
    "Georgia", "Hawaii", "Idaho", "Illinois", "Indiana", "Iowa", "Kansas", "Kentucky", "Louisiana", "Maine",
    "Maryland", "Massachusetts", "Michigan", "Minnesota", "Mississippi", "Missouri", "Montana", "Nebraska", "Nevada",
    "New Hampshire", "New Jersey", "New Mexico", "New York", "North Carolina", "North Dakota", "Ohio", "Oklahoma",
    "Oregon", "Pennsylvania", "Rhode Island", "South Carolina", "South Dakota", "Tennessee", "Texas", "Utah",
    "Vermont", "Virginia", "Washington", "West Virginia", "Wisconsin", "Wyoming", "Puerto Rico",
]
_STATE = r"(?:" + "|".join(STATE_ABBR) + "|" + "|".join(n.replace(" ", r"\s") for n in STATE_NAMES) + r")"
_CITY = r"[A-Z][a-z]+(?:[\s-](?:[A-Z][a-z]+|de|la|du|of)){0,3}"
_STATE_NAMES_LOWER = frozenset(n.casefold() for n in STATE_NAMES)
_ZIP = r"\d{5}(?:-\d{4})?"
_POSTCODE_UK = r"(?:[A-Z]{1,2}\d[A-Z\d]?\s\d[ABD-HJLNP-UW-Z]{2})"
_POSTCODE_CA = r"(?:[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z][ -]\d[ABCEGHJ-NPRSTV-Z]\d)"  # unlabelled: "T1N0M0" is a stage
_PROVINCE = r"(?:AB|BC|MB|NB|NL|NS|NT|NU|ON|PE|QC|SK|YT)"
# a town name with accents and joined words ("Montréal", "Stratford-upon-Avon"), never across a line or a label
_TOWN = (r"\p{Lu}\p{Ll}+(?:[ \t-](?!(?:State|Zip|ZIP|Postal|Postcode|Province|County|Country)\b)"
         r"(?:(?:upon|on|de|la|du|of|sur|en)[ \t-])?\p{Lu}\p{Ll}+){0,3}")

_STREET_WORD = (
    r"(?:Street|Avenue|Road|Boulevard|Lane|Drive|Court|Way|Place|Terrace|Circle|Highway|Parkway|Square"
    r"|Trail|Alley|Plaza|Row|Crescent|Close|Path|Pike|Turnpike|Expressway|Freeway|Loop|Run|Walk|Point|Ridge"
    r"|STREET|AVENUE|ROAD|BOULEVARD|LANE|DRIVE|COURT|WAY|PLACE|TERRACE|CIRCLE|HIGHWAY|PARKWAY)"
)
_STREET_ABBR = r"(?:St|Ave|Av|Rd|Blvd|Ln|Dr|Ct|Pl|Ter|Terr|Cir|Hwy|Pkwy|Sq|Trl|Aly|Cres|Expy|Fwy|ST|AVE|RD|BLVD|LN|DR|CT|PL)"
# An abbreviation's period is part of the address only mid-sentence ("Oak St., Springfield");
# at the end of a sentence it stays in the text.
_STREET_SUFFIX = r"(?:" + _STREET_WORD + r"\b|" + _STREET_ABBR + r"\b(?:\.(?=\s*[,a-z0-9#]))?)"
_UNIT = r"(?:Apt|APT|Apartment|Suite|SUITE|Ste|STE|Unit|UNIT|Rm|Room|Flat|Fl|Floor|Bldg|Building|Lot|Trlr|#)"

ADDRESS_ROWS: list[Row] = [
    (
        "street address",
        r"\b\d{1,6}[A-Za-z]?(?:-\d{1,4})?\s+"  # house number
        r"(?:(?:[NSEW]|North|South|East|West|NE|NW|SE|SW)\.?\s+)?"  # direction
        r"(?:(?:[A-Z][A-Za-z'’.-]*|\d+(?:st|nd|rd|th))\s+){1,4}"  # street name, capitalized
        + _STREET_SUFFIX
        + r"(?:\s+(?:NW|NE|SW|SE|N|S|E|W)\b)?"  # quadrant
        r"(?:,?\s*" + _UNIT + r"\.?\s*#?\s*[\w-]+|,?\s*\d{1,3}(?:st|nd|rd|th)\s+(?:Floor|FLOOR|Fl\b\.?))?"  # unit
        r"(?:,?\s*" + _CITY + r",?\s+" + _STATE + r"(?:\s+" + _ZIP + r")?"  # city, ST zip
        r"|,\s*" + _CITY + r"(?=\s*(?:[.;\n]|$)))?",  # or ", City" closing the sentence
        0.8,
    ),
    # Route/Highway numbers: "1420 Route 9", "RR 2 Box 14", "County Road 12"
    ("route", r"\b\d{1,6}\s+(?:(?:State|County|US|U\.S\.)\s+)?(?:Route|Rte\.?|Highway|Hwy\.?|Road|Rd\.?)\s+\d{1,4}[A-Z]?\b", 0.7),
    ("rural route", r"\b(?:(?:RR|R\.R\.|HC)\s*\d{1,4}\s*,?\s*Box\s*\d+|Rural\s+Route\s*\d{1,4}(?:\s*,?\s*Box\s*\d+)?)\b", 0.7),
    # P.O. Box 1234, PO Box 12, Post Office Box 9, POB 44
    ("po box", r"(?i:\b(?:p\.?\s?o\.?\s?box|post\s+office\s+box|p\.?o\.?b\.?|pob|box)\s*#?\s*\d{1,6}\b)", 0.85),
    # Apt 4B, Apartment 12, Suite 300, Unit 7, #12B
    ("unit", r"\b(?:Apt|APT|Apartment|APARTMENT|Suite|SUITE|Ste|STE|Unit|UNIT|Rm|Flat|Bldg|Trlr)\.?\s*#?\s*(?:\d+[A-Za-z]?|[A-Z]\d*)\b", 0.7),
    ("unit lower case", r"\b(?:apt|apartment|suite)\.?\s*#?\s*\d+[A-Za-z]?\b", 0.6),
    ("hash unit", r"(?<![\w#])#\d{1,4}[A-Z]\b", 0.6),
    # City, ST 12345 / City, State / City ST 12345
    ("city state", r"\b(?P<v>" + _CITY + r"),\s*" + _STATE + r"\b", 0.75),
    ("city state zip", r"\b(?P<v>" + _CITY + r")\s+" + _STATE + r"\s+" + _ZIP + r"\b", 0.75),
    ("state zip", r"\b" + _STATE + r"\.?,?\s+(?P<v>" + _ZIP + r")\b", 0.85),
    ("labelled zip", r"(?i:\b(?:zip|postal|postcode)(?:[\s/]*(?:code|postal))?\s*(?:#|:|is)?\s*)(?P<v>" + _ZIP + "|"
     + _POSTCODE_UK + "|" + _POSTCODE_CA.replace("[ -]", "[ -]?") + r"|\d{4}(?: ?[A-Z]{2})?)\b", 0.85),
    # UK "NW1 6XE", Canadian "M5H 2N2", and the town before them
    ("postcode", r"(?<![\w-])(?:" + _POSTCODE_UK + "|" + _POSTCODE_CA + r")(?![\w-])", 0.6),
    ("town before a postcode", r"\b(?P<v>" + _TOWN + r")(?=,?[ \t]+(?:" + _PROVINCE + r",?[ \t]+)?(?:" + _POSTCODE_UK + "|"
     + _POSTCODE_CA + r")\b)", 0.6),
    # "12 Rue des Lilas, 75020 Paris", "4 Calle de Alcalá": number, street word, name (no lower-case "via": "94 via V-P shunt")
    ("street name first", r"\b\d{1,5}(?:\s?(?:bis|ter))?,?\s+(?:Rue|rue|Avenue|Boulevard|Calle|calle|Carrer|"
     r"Via|Viale|Corso|Piazza|Avenida|avenida|Rua|rua|Chemin|chemin|Quai|quai|Allée|Impasse)\s+"
     r"(?:(?:de|des|du|la|le|les|del|della|di|do|da|dos|das|l['’]|d['’])\s*){0,3}\p{Lu}[\p{L}'’-]+(?:\s+\p{Lu}[\p{L}'’-]+){0,3}"
     r"(?:,\s*\d{4,5}\s+" + _TOWN + r")?", 0.7),
    # "City: Kalamazoo", "Town: Little Snoring"
    ("labelled town", r"(?i:\b(?:city|town|village|municipality|locality)[ \t]*:[ \t]*)(?P<v>" + _TOWN + r")", 0.7),
    # "Address line 2: Floor 3", "Address 2: Building C, Room 210": a secondary line up to its number (40 chars, one clause)
    ("address line 2", r"(?i:\b(?:address|addr\.?)[ \t]*(?:line[ \t]*)?2[ \t]*:[ \t]*)(?P<v>[^\n;.]{0,40}?\d[\w-]*)", 0.7),
    ("zip+4", r"(?<![\w-])\d{5}-\d{4}(?![\w-])", 0.5),
    ("labelled address", r"(?i:\b(?:address|addr\.?|residence|residing\s+at|lives\s+at|home\s+address|mailing\s+address|"
     r"street)\s*:?\s*)(?P<v>\d{1,6}[A-Za-z]?\s+[A-Z][\w'’-]*(?:[ \t]+[A-Z][\w'’-]*){0,4})", 0.7),
    # "lives in Fairview", "resident of Ann Arbor", "moved from Duluth", "transferred from Tacoma"
    ("city after verb", r"(?i:\b(?:live|lives|living|lived|resides|residing|resided|resident|moved|relocated|"
     r"native|born|raised|grew\s+up|originally|hometown|town|city|village|neighborhood|neighbourhood)"
     r"\s+(?:(?:here|back|up|down|alone|together)\s+)?(?:in|of|from|to|near|is)\s+(?:the\s+(?:town|city|village)\s+of\s+)?"
     r"(?:(?:rural|suburban|downtown|nearby|upstate|downstate)\s+)?)"
     r"(?P<v>" + _CITY + r")\b", 0.6),
    ("street without number", r"(?i:\b(?:live|lives|living|resides|residing|located|house|home|apartment)\s+(?:on|at|off)\s+)"
     r"(?P<v>(?:[A-Z][a-z]+\s+){1,3}" + _STREET_SUFFIX + r")", 0.7),
    ("city in a residence clause", r"(?i:\b(?:live|lives|living|resides|residing|moved|relocated)\b)[^.;\n]{0,40}?\b(?:in|to|from)\s+"
     r"(?P<v>" + _CITY + r")\b", 0.6),
    ("county", r"\b(?P<v>[A-Z][a-z]+(?:\s[A-Z][a-z]+)?\s+(?:County|Parish|Borough|Township))\b", 0.7),
]
# "flew in from Reykjavik", "works at Raytheon in Andover", "back from Tulsa": a place after a travel or
# work verb. A country, a US state or a continent names no place small enough to identify anyone
# (Safe Harbor removes subdivisions smaller than a state) and is travel history a clinician needs
# ("returned from Ghana"), so `is_small_place` keeps those.
TRAVEL_PLACE_ROWS: list[Row] = [
    ("city after travel", r"(?i:\b(?:flew|flown|flying|fly|travell?ed|travell?ing|trip|vacationing|vacation|holiday|"
     r"visiting|visited)\s+(?:in\s+|home\s+|up\s+|down\s+|over\s+)?(?:from|to|in)\s+)(?P<v>" + _CITY + r")\b", 0.6),
    # "returned to" and "arrived to" also take a ward ("returned to Recovery"): only "from" here
    ("city after return", r"(?i:\b(?:returned|returning|arrived|(?:came|got|just|is|was|be)\s+back)\s+(?:home\s+)?from\s+)"
     r"(?P<v>" + _CITY + r")\b", 0.6),
    # "works at Raytheon in Andover", "missionary work in Jos": the place, not the employer
    ("city after work", r"(?i:\b(?:works?|working|worked|stationed|deployed|commutes?|commuting)\s+(?:[^.;\n]{1,60}?\s+)?in\s+)"
     r"(?P<v>" + _CITY + r")\b", 0.6),
    # "Mail to PO Box 771, Dayton OH.", "lives in Portland OR": a town and a state code closing a clause,
    # after a number (an address line) or "in / from / near" ("Basal Cell CA." and "Colon CA" stay)
    ("town and state code", r"(?:(?<=\d[^,\n]{0,40}),\s*|\b(?i:in|from|near)\s+)(?P<v>" + _CITY + r")\s+(?:" + "|".join(STATE_ABBR)
     + r")(?=\s*(?:[.,;)\n]|$))", 0.6),
    # "seen in Tulsa ER": a town before an emergency room
    ("town before an emergency room", r"\b(?i:in|at|to|from)\s+(?P<v>" + _CITY + r")\s+(?:ER|ED|E\.R\.|ICU|"
     r"(?i:urgent\s+care|emergency\s+(?:room|department)))\b", 0.6),
    # "She is from Oaxaca", "comes from Tulsa"
    ("town after be from", r"(?i:\b(?:is|are|was|were|comes?|came|hails?)\s+from\s+)(?P<v>" + _CITY + r")\b", 0.6),
    # "a nurse at St. Luke's in Duluth": a named place and the town it is in
    ("town of a named place", r"\b(?i:at)\s+(?:the\s+)?[A-Z][\w'’.&-]*(?:\s+(?:[A-Z][\w'’.&-]*|of|and|&)){0,4}\s+in\s+"
     r"(?P<v>" + _CITY + r")\b", 0.6),
]
# "treated at the VA in Houston for ...", "her dentist in Sacaton before ...", "a scan in Sioux City in 1981": a town
# after a bare preposition, taken only when `is_town` finds it in the GeoNames list or it has a town's shape,
# and only when what follows ends the phrase or is a function word ("in Allen stirrups", "in Wilson disease" stay).
_TOWN_WORD = r"\p{Lu}[\p{Ll}'’-]*\p{Ll}"
_TOWN_FOLLOWERS = ("for|in|on|and|with|at|where|which|who|when|since|last|this|that|about|until|before|after|during|to|"
                   "from|by|or|but|is|was|were|are|has|had|have|he|she|they|we|it|her|his|their|as|because|so|then|now|"
                   "today|yesterday|recently|ago|area|while|brought|came|went|said|says|saw|sees|told|called|lives|works|"
                   "drove|took|gave|got|\\p{Ll}+ed")
TOWN_ROWS: list[Row] = [
    ("town after a preposition", r"(?<![\w-])(?i:in|from|near|outside(?:\s+of)?|around|visiting)[ \t]+(?P<v>" + _TOWN_WORD
     + r"(?:[ \t]+" + _TOWN_WORD + r"){0,2})(?=[ \t]*(?:[.,;:!?)]|\n|$)|[ \t]+(?:" + _TOWN_FOLLOWERS + r")\b)", 0.6),
]
#: Town shapes that no common word has ("East Jennifer", "Port Susan", "Harleton", "Stanfield Springs"); "-burg"
#: is left out for "in Trendelenburg".
TOWN_SHAPE = re.compile(
    r"(?:(?:North|South|East|West|New|Lake|Port|Mount|Fort)\s+[A-Z][a-z]+|[A-Z][a-z]+(?:ville|ton|burgh|borough|bury|"
    r"field|ford|port|mouth|stad|chester|haven|side|shire|wood|land|view|dale|town)(?:\s+(?:Springs|Falls|Heights|Park|"
    r"Hills|Beach|City))?)"
)
#: Common words of a town's shape ("in Review:", "in Bedside").
_SHAPED_WORDS = frozenset("""review preview overview interview support report passport transport skeleton cotton button
    baton proton crouton inside outside beside upside bedside seaside downtown mainland infield afford""".split())
#: First words that make a run a region, not a town ("in Central and South America", "from East Asia").
_REGION_FIRST = frozenset("central north south east west northern southern eastern western upper lower".split())


def is_town(value: str) -> bool:
    """A run of capitalized words after a bare preposition is a town if it is a known one (GeoNames, see
    `rag_dx.ingest.gazetteer`) or has a town's shape, and is no country, state, region, month or heading word."""
    from rag_dx.ingest.gazetteer import town_names

    if not is_small_place(value) or len(value) < 4:
        return False
    words = value.split()
    if words[0].casefold() in _REGION_FIRST and (len(words) == 1 or words[-1].casefold() in _LARGE_REGIONS):
        return False
    if value.casefold() in town_names():
        return True
    return TOWN_SHAPE.fullmatch(value) is not None and words[0].casefold() not in _SHAPED_WORDS


#: Regions that are no smaller than a state (kept in travel history); countries come from `phonenumbers`.
_LARGE_REGIONS = frozenset(
    ["africa", "asia", "europe", "america", "americas", "antarctica", "australia", "oceania", "caribbean",
     "scandinavia", "arctic", "usa", "us", "u.s", "uk", "england", "scotland", "wales", "britain", "great britain",
     "north america", "south america", "central america", "latin america", "middle east", "far east",
     "east africa", "west africa", "sub-saharan africa", "southeast asia", "south asia", "mainland", "overseas",
     "new england"]
)
#: Languages a place row must not take for a town ("an interpreter in French"); a single word ending in -ish,
#: -ese or -ian is taken for one too.
_LANGUAGES = frozenset("french dutch greek thai hindi urdu tagalog swahili farsi creole asl english spanish".split())


@functools.cache
def country_names() -> frozenset[str]:
    """Lower-cased English country names, from the region data `phonenumbers` ships (built on first use)."""
    import phonenumbers
    from phonenumbers import geocoder

    names = {geocoder.country_name_for_number(number, "en").casefold()
             for region in phonenumbers.SUPPORTED_REGIONS
             if (number := phonenumbers.example_number(region)) is not None}
    return frozenset(n for n in names if n)


def is_small_place(value: str) -> bool:
    """A place after a travel verb is an identifier unless it is a country, a US state, a large region,
    a calendar word ("back in January") or a heading word."""
    words = value.split()
    for n in range(len(words), 0, -1):  # "Costa Rica last" -> "Costa Rica"
        head = " ".join(words[:n]).casefold()
        if head in country_names() or head in _LARGE_REGIONS or head in _STATE_NAMES_LOWER:
            return False
    first = words[0].strip(".,").casefold() if words else ""
    if first in _LANGUAGES or (len(words) == 1 and first.endswith(("ish", "ese", "ian", "ic"))):
        return False  # "works as an interpreter in Spanish", "in Vietnamese"
    return bool(first) and first not in CALENDAR_WORDS and first not in NAME_STOPWORDS

# ---------------------------------------------------------------------------------------------
# Facilities: hospital, clinic, medical center, nursing home names.
# ---------------------------------------------------------------------------------------------

_FAC_WORD = r"(?:St\.|Mt\.|Ste\.|[A-Z][A-Za-z'’.-]+|of|the|and|&)"
_FAC_KIND = (
    r"(?:Hospital|Medical\s+Center|Medical\s+Centre|Clinic|Clinics|Health\s+Center|Health\s+Centre|Health\s+System|"
    r"Health\s+Services|Healthcare|Health\s+Care|Infirmary|Nursing\s+Home|Nursing\s+Facility|Nursing\s+Center|"
    r"Rehabilitation\s+(?:Center|Hospital|Institute)|Rehab\s+Center|Urgent\s+Care|Medical\s+Group|Medical\s+Associates|"
    r"Surgical\s+Center|Surgery\s+Center|Surgical\s+Hospital|Hospice|Pediatrics|Family\s+Practice|Family\s+Medicine|"
    r"Memorial|Sanatorium|Sanitarium|Care\s+Center|Care\s+Home|Senior\s+Living|Assisted\s+Living|Cancer\s+Center|"
    r"Cancer\s+Institute|Heart\s+Institute|Women's\s+Center|Dialysis\s+Center|"
    r"Imaging\s+Center|Pharmacy|Medical\s+Practice|Primary\s+Care|Urgent\s+Care\s+Center|Rehab|Rehabilitation|"
    r"Health\s+Partners|Healthcare\s+System|Behavioral\s+Health\s+Center|Psychiatric\s+Center|VA\s+Medical\s+Center)"
)
FACILITY_ROWS: list[Row] = [
    (
        "facility",
        r"\b(?:(?:St\.|Saint|Mt\.|Mount)\s+)?[A-Z][A-Za-z'’.-]+(?:\s+" + _FAC_WORD + r"){0,5}?\s+" + _FAC_KIND
        + r"(?:\s+(?:Hospital|Center|Centre|Clinic))?(?:\s+of\s+[A-Z][a-z]+(?:\s+[A-Z][a-z]+){0,2})?\b",
        0.7,
    ),
    ("named system", r"\b(?:Johns\s+Hopkins|Kaiser\s+Permanente|Cleveland\s+Clinic|Mass(?:achusetts)?\s+General|"
     r"Cedars[-\s]Sinai|Mount\s+Sinai|Mt\.?\s+Sinai|NYU\s+Langone|Brigham(?:\s+and\s+Women'?s)?|Beth\s+Israel(?:\s+Deaconess)?|"
     r"Dana[-\s]Farber|MD\s+Anderson|Memorial\s+Sloan[-\s]Kettering|Sloan[-\s]Kettering|Northwell|Intermountain|"
     r"Baylor\s+Scott\s+(?:&|and)\s+White|Sutter\s+Health|Banner\s+Health|Atrium\s+Health|"
     r"Advocate\s+(?:Aurora|Health)|CommonSpirit\s+Health|UCLA\s+Health|"
     r"Stanford\s+Health|Duke\s+Health|Emory\s+Healthcare|Vanderbilt\s+University\s+Medical)"
     r"(?:\s+[A-Z][a-z]+){0,2}\b", 0.7),
    ("after movement verb", r"(?i:\b(?:transferred|transported|admitted|discharged|referred|sent|taken|airlifted|flown)\s+(?:to|from)"
     r"|\b(?:seen|treated|followed|hospitali[sz]ed|evaluated|admitted)\s+at)\s+(?:the\s+)?"
     r"(?P<v>(?:(?:St|Mt|Ste)\.\s+)?[A-Z][a-z]+(?:['’]s)?(?:\s+[A-Z][a-z]+(?:['’]s)?){0,3})\b", 0.5),
    ("labelled facility", r"(?i:\b(?:hospital|facility|clinic|institution|site|employer|school|workplace|nursing\s+home|"
     r"practice|place\s+of\s+(?:work|employment)|works\s+at|employed\s+(?:at|by))\b\s*:?\s*)"
     r"(?P<v>(?:(?:St|Mt|Ste)\.\s+)?\p{Lu}[\p{L}'’&-]*(?:[ \t]+(?:of\s+|the\s+|&\s+)?\p{Lu}[\p{L}'’&-]*){0,4})", 0.6),
    ("hospital of", r"\b(?:Hospital|Clinic|Infirmary|University)\s+of\s+[A-Z][a-z]+(?:\s+[A-Z][a-z]+){0,2}\b", 0.7),
]
# First words that make a "facility" match a generic department, not a name ("Cardiology Clinic"
# is still redacted: over-redacting a department is the safe side; only sentence words go).
FACILITY_FIRST_WORD_STOP = frozenset(
    """the a an this that our your his her their at in to from of and seen admitted transferred previously
    follow treated discharged referred went presented call called""".split()
)

# Departments and services a "facility" found after "admitted to" names no place.
DEPARTMENT_WORDS = frozenset(
    """internal emergency intensive general family pediatric pediatrics cardiology oncology neurology surgery surgical
    medicine medical orthopedics orthopedic urology radiology psychiatry obstetrics gynecology labor delivery
    recovery postanesthesia operating ward floor unit icu ccu nicu picu er ed or pacu rehab rehabilitation
    physical occupational speech skilled hospice home palliative critical step telemetry observation same day
    outpatient inpatient ambulatory short long term acute care nursing dialysis infusion endoscopy cath
    catheterization interventional vascular thoracic cardiac cardiothoracic plastic trauma burn transplant
    pathology laboratory lab pharmacy his her the their our post anesthesia operative suite unit room hospitalist
    service services department clinic theatre theater bay holding preoperative postoperative hospital center
    centre""".split()
)


def is_facility_value(value: str) -> bool:
    """A facility name has at least one word that is not a department or service word."""
    words = [w.strip(".,'’s").casefold() for w in value.split()]
    return any(w and w not in DEPARTMENT_WORDS and w not in NAME_STOPWORDS for w in words[:-1]) or (
        len(words) == 1 and words[0] not in DEPARTMENT_WORDS)


# ---------------------------------------------------------------------------------------------
# Names: titles, relatives, labels, credentials. spaCy's NER adds untitled full names.
# ---------------------------------------------------------------------------------------------

_NAME_WORD = r"(?:\p{Lu}\p{Ll}+(?:['’-]\p{L}\p{Ll}+)*|\p{Lu}['’]\p{Lu}\p{Ll}+(?:-\p{Lu}\p{Ll}+)*|Mc\p{Lu}\p{Ll}+|Mac\p{Lu}\p{Ll}+)"
_NAME_WORD_UP = r"(?:\p{Lu}['’]\p{Lu}{2,}(?:-\p{Lu}+)*|\p{Lu}{2,}(?:['’-]\p{Lu}+)*)"
_PARTICLES = r"(?:(?:de|la|le|du|del|della|van|von|der|den|ter|ten|da|di|dos|das|bin|ibn|al|el|St\.?)\s+){0,3}"
_INITIAL = r"(?:[A-Z]\.)"
# what follows "<name>, <age>," when it is a person: "José García, 52, reports ..."
_PERSON_ACTS_NEXT = (r"(?=(?:presents|presented|reports|reported|is|was|has|had|comes|came|complains|denies|returns|"
                     r"here|with)\b)")
TITLES = r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Rev|Sr|Sra|Mme|Mlle|Herr|Frau|MR|MRS|MS|DR|Nurse|Sister|Father|Doctor|Professor)"
PERSON_AFTER_TITLE_ROWS: list[Row] = [
    # Ms. Eberhardt, Dr. Mary O'Neil, MR. FITZGERALD, Dr. J. Smith
    (
        "titled",
        r"(?<![\w])" + TITLES + r"\.?\s+(?P<v>(?:" + _INITIAL + r" ?){0,2}(?:" + _PARTICLES + _NAME_WORD + r"(?:\s+" + _INITIAL
        + r")?(?:\s+" + _PARTICLES + _NAME_WORD + r"){0,2}|" + _NAME_WORD_UP + r"(?:\s+" + _NAME_WORD_UP + r")?))(?![\w])",
        0.85,
    ),
    # her daughter Maria, wife Elena Petrov, son: James
    (
        "relative",
        r"(?i:\b(?:wife|husband|spouse|partner|fianc[eé]e?|son|daughter|mother|father|mom|dad|brother|sister|sibling|aunt|"
        r"uncle|niece|nephew|cousin|grandson|granddaughter|grandmother|grandfather|grandma|grandpa|caregiver|"
        r"guardian|neighbou?r|friend|roommate|boyfriend|girlfriend|stepson|stepdaughter|"
        r"emergency\s+contact|next\s+of\s+kin|nok|poa|proxy|married\s+to|engaged\s+to))(?:\s*[:,(]\s*|\s+)(?:(?i:is|named|called)\s+)?"
        r"(?P<v>" + _NAME_WORD + r"(?:\s+" + _INITIAL + r")?(?:\s+" + _NAME_WORD + r"){0,2})(?![\w])",
        0.75,
    ),
]
PERSON_ROWS: list[Row] = [
    # Name: John Smith / Patient: SMITH, JOHN / Pt Eberhardt / Patient Maria Okafor
    (
        "labelled",
        r"(?i:\b(?:(?:patient|pt|client|resident|member|insured|guarantor|subscriber)(?:'s)?\s+name|name|patient|pt|client|resident|"
        r"insured|guarantor|subscriber|signed\s+by|electronically\s+signed\s+by|dictated\s+by|transcribed\s+by|"
        r"attending|attending\s+physician|referring\s+physician|referred\s+by|pcp|provider|seen\s+by|"
        r"examined\s+by|interpreter|contact\s+person|contact|cc|obtained\s+from|history\s+from|spoke\s+(?:with|to)|"
        r"discussed\s+with|accompanied\s+by|informant|used\s+for|translated\s+for|on\s+behalf\s+of|"
        r"called|named|known\s+as|aka|a\.k\.a\.|goes\s+by|pt\.|attn\.?|attention|n[eé]e|maiden\s+name|re(?=\s*:)|"
        # a role before a colon ("Radiologist: Gustavo Henrique Lima"), a signer before "by"
        r"(?:radiologist|surgeon|assistant|anesthesiologist|anesthetist|pathologist|physician|nurse|witness|author|"
        r"reviewer|therapist|pharmacist|consultant|proxy|case\s+manager|social\s+worker|midwife|scribe|technologist|"
        r"sonographer|fellow|intern|(?:ordering|consulting|treating|admitting)\s+(?:provider|physician|doctor))(?=\s*:)|"
        r"(?:performed|reviewed|read|verified|approved|co-?signed|ordered|authored|prepared|completed|witnessed)\s+by))"
        r"(?:\s*:\s*|\s+[-–]\s+|\s+)['\"“‘]?"
        r"(?P<v>(?:" + _PARTICLES + _NAME_WORD + r",\s+" + _NAME_WORD + r"(?:\s+(?:" + _NAME_WORD + "|" + _INITIAL + r"))?"
        r"|" + _NAME_WORD_UP + r",?\s+" + _NAME_WORD_UP + r"(?:\s+[A-Z]\.?)?"
        r"|" + _NAME_WORD_UP + r",\s+" + _NAME_WORD + r"(?:\s+(?:" + _NAME_WORD + r"|" + _INITIAL + r"))?"
        r"|" + _NAME_WORD + r"(?:\s+" + _INITIAL + r")?(?:\s+" + _NAME_WORD + r"){0,2}))(?![\w])",
        0.6,
    ),
    # "pt name: john smith." A name label is evidence enough for a name typed in lower case: "name"
    # alone at the start of a line or sentence, or a person's name ("patient name"), not "drug name:".
    # The value ends at punctuation, a line end or the next header field.
    ("lower-case name after a name label",
     r"(?i:(?:(?:^|(?<=[\n.;|(]\s{0,3}))name|\b(?:patient|pt|client|resident|member|insured|subscriber)(?:'s)?\s+name)"
     r"\s*[:=]\s*)"
     r"(?P<v>\p{Ll}[\p{Ll}'’-]+(?:\s+\p{Ll}[\p{Ll}'’-]+){0,3})(?=\s*(?:[.,;:(\n]|$|(?i:dob|mrn|age|sex|id)\b))", 0.6),
    # "my name is tom and ...": one or two words, in any case, the second not a function word
    ("self-introduction",
     r"(?i:\bmy\s+name\s+is\s+)(?P<v>\p{L}[\p{L}'’-]+(?:\s+(?!(?i:and|i|im|who|from|with|but|aged?|age|a|an|the)\b)\p{L}[\p{L}'’-]+)?)",
     0.6),
    # "Baby boy Johnson", "Baby Girl Okafor": a newborn is named by the family name
    ("newborn", r"\b(?i:baby\s+(?:boy|girl))\s+(?!(?i:caucasian|white|black|hispanic|asian|african|latino|latina|"
     r"native|infant|born|delivered|with|who|was|is)\b)(?P<v>" + _NAME_WORD + r"(?:\s+" + _NAME_WORD + r")?)(?![\w'’-])", 0.7),
    # "Seen by NP Kelly Nguyen", "RN Maria Okafor": a nursing or pharmacy credential before a full name
    ("credential before name", r"\b(?:NP|NP-C|RN|LPN|LVN|CNA|APRN|FNP|CNM|CRNA|PharmD|MSW|LCSW)\s+"
     r"(?P<v>" + _NAME_WORD + r"(?:\s+" + _INITIAL + r")?\s+" + _NAME_WORD + r")(?![\w'’-])", 0.7),
    # "initials: J.R.S." (initials identify a person as the name does)
    ("initials", r"(?i:\binitials\s*[:=]?\s*)(?P<v>[A-Z]\.?(?:\s?[A-Z]\.?){1,3})(?![\w])", 0.7),
    # "HPI: Kwame is a 34 yo M with ...": a name-shaped word, then "is a <age>-year-old"
    ("name is an age", r"\b(?!(?i:patient|client|resident|baby|infant|child|boy|girl|man|woman|male|female)\b)"
     r"(?P<v>" + _NAME_WORD + r")\s+is\s+an?\s+\d{1,3}(?=\s*-?\s*(?i:years?|yrs?|y\.?\s?o\b\.?|y/o|yo\b|mo\b|month))",
     0.6),
    # "José García, 52, reports dizziness": a full name, the age between commas, then what the person does
    ("name, age,", r"\b(?P<v>" + _NAME_WORD + r"(?:\s+" + _NAME_WORD + r"){1,2}),\s+\d{1,3}(?:\s*(?:yo|y/o|[MF]))?,\s+"
     + _PERSON_ACTS_NEXT, 0.6),
    # "The patient, Eberhardt, is stable"
    ("appositive", r"(?i:\b(?:patient|pt|client|resident))\s*,\s*(?P<v>" + _NAME_WORD + r"(?:\s+" + _NAME_WORD + r"){0,3})\s*,", 0.6),
    # "Linda (sister)", "Tom Baker (son)"
    ("name then relation", r"\b(?P<v>" + _NAME_WORD + r"(?:\s+" + _NAME_WORD + r")?)\s*\((?i:wife|husband|spouse|partner|son|"
     r"daughter|mother|father|mom|dad|brother|sister|aunt|uncle|niece|nephew|cousin|grandson|granddaughter|"
     r"grandmother|grandfather|friend|neighbou?r|caregiver|guardian|patient|pt|self|roommate)\)", 0.7),
    # "Eberhardt's daughter called"
    ("possessive relative", r"\b(?P<v>" + _NAME_WORD + r")['’]s\s+(?i:wife|husband|spouse|partner|son|daughter|mother|father|"
     r"brother|sister|children|kids|family|caregiver|guardian)\b", 0.6),
    # "Eberhardt presented with chest pain": one name-shaped word then a verb only a person does
    ("name before person verb", r"(?:^|(?<=[.!?;:]\s{1,3})|(?<=\n))(?P<v>" + _NAME_WORD + r")\s+(?:presents|presented|reports|reported|"
     r"denies|denied|complains|complained|states|stated|endorses|endorsed|describes|described|admits|admitted\s+to|"
     r"agrees|agreed|declines|declined|refuses|refused|verbalizes|verbalized)\b", 0.6),
    # "August Delacroix presents", "Maria K. Okafor was admitted": two name words then a clinical verb
    (
        "name before verb",
        r"\b(?P<v>" + _NAME_WORD + r"(?:\s+" + _INITIAL + r")?\s+" + _NAME_WORD + r")(?:['’]s)?\s+"
        r"(?:presents|presented|was|is|has|had|reports|reported|denies|denied|complains|states|stated|returns|"
        r"returned|underwent|arrived|agrees|tolerated|notes|describes|endorses|comes|came|lives|works)\b",
        0.6,
    ),
    # "Nguyen Van An was admitted", "Maria del Carmen Ruiz Sanchez presented": a long name opening a sentence
    ("long name before person verb", r"(?:^|(?<=[.!?;:]\s{1,3})|(?<=\n))(?P<v>" + _NAME_WORD + r"(?:\s+(?:(?:de|del|la|van|von|"
     r"der|da|di|dos|du|le|bin|al|el)\s+)*" + _NAME_WORD + r"){2,4})\s+(?:presents|presented|reports|reported|denies|denied|"
     r"complains|complained|states|stated|endorses|endorsed|underwent|was\s+(?:admitted|seen|transferred|brought|evaluated|"
     r"examined)|is\s+an?\s+\d{1,3}[\s-]*(?i:years?|yrs?|y/?o\b|yo\b|month))\b", 0.6),
    # EBERHARDT, ANNA - DOB ... (a header line: upper-case "LAST, FIRST" at the start of a line or after "RE:")
    (
        "upper last, first",
        r"(?:^|\n|(?i:\bre:)\s*)\s*(?P<v>" + _NAME_WORD_UP + r",\s*" + _NAME_WORD_UP + r"(?:\s+[A-Z]\.?)?)(?=\s*(?:[-,(:]|\bDOB\b|\bMRN\b|$))",
        0.6,
    ),
    # John Smith, MD / Jane A. Doe, RN / J. Smith MD
    (
        "credentials",
        r"\b(?P<v>(?:" + _NAME_WORD + r"|" + _INITIAL + r")(?:\s+" + _INITIAL + r")?\s+" + _NAME_WORD + r")"
        r",?\s+(?:MD|M\.D\.|DO|D\.O\.|RN|NP|PA-C|PA|PhD|DNP|APRN|CNM|CRNA|LPN|MSW|LCSW|PharmD|DDS|DPM|FNP|FACP)\b",
        0.85,
    ),
]

# "I'm Keisha and ...", "This is Marcus, ...", "It's Priya again": a capitalized word after a
# self-introduction. Unlike "my name is" the phrase also introduces descriptions ("I am Diabetic",
# "I'm Hispanic"), so `is_introduced_name` rejects self-descriptions (adjective endings and a list).
INTRODUCED_NAME_ROWS: list[Row] = [
    ("introduced name", r"(?:^|(?<=[\s(\"“,;:]))(?:I['’]?m|I\s+am|(?i:this|it)\s+is|(?i:it)['’]s)\s+(?:(?i:me|only|just),?\s+)?"
     r"(?P<v>" + _NAME_WORD + r"(?:\s+" + _NAME_WORD + r")?)(?![\w'’-])", 0.6),
]
_SELF_DESCRIPTIONS = frozenset(
    """tired sick ill fine okay ok sorry sure here back home done better worse well sore weak dizzy
    pregnant married single divorced widowed retired unemployed disabled deaf blind vegan vegetarian
    asian black white caucasian latino latina latinx african american arab indian native hispanic jewish muslim
    hindu christian catholic protestant buddhist sikh mormon gay lesbian bisexual straight trans
    transgender nonbinary allergic diabetic asthmatic epileptic anemic hypertensive obese overweight
    underweight new old young afraid scared worried concerned anxious nervous exhausted confused
    depressed stressed bloated constipated nauseous feverish itchy hungry thirsty sleepy awake alone
    also still just not very really so too always never now currently calling writing here""".split()
)
_ADJECTIVE_ENDINGS = ("ic", "ish", "ous", "ful", "less", "ive", "able", "ible", "ical", "ated", "ened", "ied")


def is_introduced_name(value: str) -> bool:
    """After "I'm" / "this is" a capitalized word is a name unless it describes the speaker."""
    first = value.split()[0].strip(".,'’").casefold()
    if first in _SELF_DESCRIPTIONS or first.endswith(_ADJECTIVE_ENDINGS):
        return False
    return is_name_value(value)


# "Message left for Guadalupe Etxeberria", "in the presence of Anneliese Brandtmeyer", "Copy to Magdalena
# Wójcik", "Brought in by Eduardo Quispe Mamani": a full name (two or three words) after a handover cue,
# where spaCy's small model often tags nothing. The cues also take departments ("sent to Pathology",
# "forwarded to Primary Care", "arranged by Social Work"), so `is_handover_name` rejects a run holding a
# service word, and one word never counts.
HANDOVER_NAME_ROWS: list[Row] = [
    ("name after a handover cue",
     r"(?i:\b(?:in\s+the\s+presence\s+of|(?:message|voicemail|note)\s+(?:left\s+)?for|left\s+(?:a\s+)?(?:message|voicemail)\s+for|"
     r"(?:sent|faxed|mailed|e-?mailed|forwarded|forward|given|handed|released|copied|copy|cc|letter|referral)\s+to|"
     r"(?:requested|received|collected)\s+from|(?:arranged|witnessed|translated|interpreted)\s+by|"
     r"(?:brought|driven|dropped\s+off|picked\s+up)\s+(?:in\s+)?by|(?-i:notified|informed|paged|phoned|texted))\s*:?\s+)"
     r"(?P<v>(?:(?:Ó|Ní|Nic|Mac|Mc|O['’])\s*)?" + _NAME_WORD + r"(?:\s+" + _INITIAL + r")?(?:\s+" + _PARTICLES
     + r"(?:(?:Ó|Ní)\s+)?" + _NAME_WORD + r"){1,2})(?![\w'’-])", 0.6),
]
_SERVICE_WORDS = frozenset(
    """care surgery surgical therapy therapies therapist management medicine medical radiology physician physicians
    doctor doctors nurse nurses nursing practitioner hospital hospitals clinic clinics company services service
    health department dept team unit units records office pharmacy laboratory lab labs bank desk center centre
    services protective delivery labor insurance staff floor ward icu emergency ambulance ems police security
    administration admissions billing registration transport transportation pathology cardiology neurology oncology
    dermatology urology orthopedics orthopaedics pediatrics psychiatry psychology hospice rehab rehabilitation
    home family primary specialist specialists group association agency court school""".split()
)


def is_handover_name(value: str) -> bool:
    """A run after a handover cue is a person's name unless a word of it names a service or department,
    or it is a town."""
    words = [w.strip(".,'’").casefold() for w in value.split()]
    if any(w in _SERVICE_WORDS for w in words):
        return False
    return is_name_value(value) and not is_town(value)


# An age over 89 right after a person's name: "Mrs. Garcia is 93", "Mr. Lee, 99, presents",
# "José García, 92, reports ..." (AGE_ROWS come before the name patterns this needs).
NAMED_AGE_ROWS: list[Row] = [
    ("titled name is age", r"\b" + TITLES + r"\.?\s+" + _NAME_WORD + r"(?:\s+" + _NAME_WORD + r")?\s+is\s+(?:now\s+)?"
     r"(?P<v>" + _OLD + r")\b(?!\s*(?:[/%°.-]\d|[/%°]|(?i:degrees?|mm|bpm|kg|lbs?|pounds?|cm|percent|days?|weeks?|months?)\b))", 0.7),
    ("name, age,", r"\b(?:" + TITLES + r"\.?\s+" + _NAME_WORD + r"|" + _NAME_WORD + r"(?:\s+" + _NAME_WORD + r"){1,2}),\s+"
     r"(?P<v>" + _OLD + r")(?:\s*(?:yo|y/o|[MF]))?,\s+" + _PERSON_ACTS_NEXT, 0.7),
]


# Words a "name" found by a label or title is not (headings, verbs, clinical words).
NAME_STOPWORDS = frozenset(
    """
    education information instructions instruction history histories denies denied reports reported presents presented
    states stated is was has had care name names profile summary plan plans status consent portal identification number
    notes note reports complains complained tolerated agrees agreed returns returned underwent describes endorses
    admitted discharged seen came went did does will would should could may might must can also then
    left right bilateral acute chronic severe mild moderate the a an and or of in on at to for with without from by
    id mrn dob age sex male female man woman boy girl he she his her they them their who which that this these
    unknown none not no yes na n/a other same new old positive negative normal abnormal room bed unit floor ward
    emergency department clinic hospital office home phone fax email address street city state zip
    exam examination assessment impression diagnosis diagnoses medication medications allergies allergy vitals
    complaint chief present illness physical review systems social family surgical past medical problem problems
    well good fair poor stable unstable alert oriented awake presenting presentation visit follow followup follow-up
    today yesterday tomorrow morning evening night week month year day daily weekly
    january february march april may june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday
    labs lab results result imaging study studies procedure procedures surgery operation consult consultation
    informed mr mrs ms miss mx dr doctor prof professor sr rev nurse
    family parents parent mother father wife husband daughter son caregiver staff nursing radiology cardiology
    pathology chart record report note ems paramedics police school teacher pharmacy ultrasound echo ct mri xray
    everyone nobody someone it we you i one both neither either each all none who whom whose which
    more once then after before next another second first third this that there these those some any most several
    further additional again also however therefore although because since while when where during upon
    """.split()
)


# ---------------------------------------------------------------------------------------------
# Post-processing of a matched value.
# ---------------------------------------------------------------------------------------------

_TRAIL = ".,;:-/("


def trim_span(text: str, start: int, end: int) -> tuple[int, int]:
    """Drop trailing punctuation and an unbalanced closing parenthesis from a match."""
    while end > start and text[end - 1] in _TRAIL:
        end -= 1
    value = text[start:end]
    while end > start and value.endswith(")") and value.count(")") > value.count("("):
        end -= 1
        value = text[start:end]
    while start < end and text[start] == "(" and value.count("(") > value.count(")"):
        start += 1
        value = text[start:end]
    return start, end


VALIDATORS: dict[str, Callable[[str], bool]] = {
    "mixed code": mixed_code_ok,
    "dashed digit groups": dashed_groups_ok,
    "card": luhn_ok,
    "dea": dea_ok,
}


def labelled_value_ok(value: str) -> bool:
    """A labelled identifier has at least 4 letters/digits, 2 of them digits ("MRN 2" is no MRN)."""
    return sum(c.isalnum() for c in value) >= 4 and sum(c.isdigit() for c in value) >= 2


def phone_digits_ok(value: str) -> bool:
    n = sum(c.isdigit() for c in value)
    return 7 <= n <= 15


CALENDAR_WORDS = frozenset(
    """january february march april may june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday""".split()
)


def is_name_value(value: str) -> bool:
    """A label/title "name" that is a real word from a heading or sentence is no name.

    A month or weekday counts as a first name ("August Szymanski", "April") when another name
    word follows it, or when the pattern itself is strong evidence (see `is_name_after_relation`).
    """
    words = [w.strip(".,'’").casefold() for w in re.split(r"[\s,]+", value) if w.strip(".,")]
    if not words or all(w in NAME_STOPWORDS for w in words):
        return False
    first = words[0]
    if first in CALENDAR_WORDS:
        return len(words) >= 2 and words[1] not in NAME_STOPWORDS
    return first not in NAME_STOPWORDS


def is_name_after_relation(value: str) -> bool:
    """After "wife", "son", "Mr." a capitalized word is a name even if it is also a month."""
    words = [w.strip(".,'’").casefold() for w in re.split(r"[\s,]+", value) if w.strip(".,")]
    return bool(words) and (words[0] in CALENDAR_WORDS or words[0] not in NAME_STOPWORDS)
