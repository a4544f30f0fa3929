"""Synthetic clinical reports with known identifier spans, for measuring de-identification.

Every HIPAA Safe Harbor category that can appear in free text is injected (plus facility names),
each in several formats; which format, which template and which values a report gets is drawn
from the seed, so two seeds exercise different shapes. Every report also carries clinical content
(doses, vital signs, lab values, ICD-10 codes, durations, ages up to 89) whose spans are known too,
so the same run measures how much clinical content a rule erases.

All values are invented (names from small lists, numbers random); none is a real person's.

    >>> from tests.phi_synth import generate
    >>> reports = generate(3, seed=1)
    >>> all(r.text[s:e] for r in reports for _, s, e in r.phi)
    True

`write_jsonl(path, reports)` writes them in the shape `rag-dx deid check` scores: one object per
line with `report_id`, `text`, `phi` and `clinical` ([{"category", "start", "end"}, ...]).
"""

from __future__ import annotations

import json
import random
import string
from dataclasses import dataclass, field
from pathlib import Path

CATEGORIES: tuple[str, ...] = (
    "name", "name_titled", "surname", "relative", "street", "city_zip", "po_box", "apartment", "date",
    "age_over_89", "phone", "fax", "email", "ssn", "mrn", "health_plan", "account", "license", "vehicle",
    "device", "url", "ip", "payment_card", "facility",
)
"""Identifier categories injected (finer than the 18 Safe Harbor ones so a weak shape shows)."""

CLINICAL_KINDS: tuple[str, ...] = ("dose", "vital", "lab", "icd10", "duration", "age")

FIRST = ["Maria", "James", "Aisha", "Robert", "Elena", "Kwame", "Sofia", "Daniel", "Priya", "Thomas", "Hannah",
         "Miguel", "Grace", "Oliver", "Fatima", "Liam", "Yuki", "Noah", "Chloe", "Ethan", "Ingrid", "Tobias",
         "Marguerite", "Dmitri", "Siobhan", "Rafael", "Leonor", "August", "Beatrix", "Cornelius"]
LAST = ["Hernandez", "Okafor", "Lindqvist", "Whitaker", "Nakamura", "Petrov", "O'Brien", "Goldberg", "Castillo",
        "Eberhardt", "Kowalski", "Haddad", "Fitzgerald", "Moreau", "Banerjee", "Sullivan", "Vanderbilt",
        "Achterberg", "McAllister", "Szymanski", "Delacroix", "Oyelaran", "Brennan", "Thorvaldsen", "Quintero",
        "Abernathy", "Nguyen-Tran", "Rasmussen", "Ferreira", "Kapoor"]
STREET_NAMES = ["Maple", "Oak", "Harbor", "Elm", "Cedar", "Birch", "Willow", "Lakeview", "Sunset", "Pine Ridge",
                "Martin Luther King", "Old Mill", "Chestnut", "Magnolia", "Riverside", "Hawthorne"]
STREET_TYPES = ["Street", "St", "St.", "Avenue", "Ave", "Road", "Rd.", "Drive", "Dr", "Lane", "Ln", "Boulevard",
                "Blvd", "Court", "Way", "Place", "Terrace", "Circle", "Parkway"]
CITIES = [("Springfield", "IL", "Illinois"), ("Boston", "MA", "Massachusetts"), ("Portland", "OR", "Oregon"),
          ("Fairview", "TN", "Tennessee"), ("Madison", "WI", "Wisconsin"), ("Greenville", "SC", "South Carolina"),
          ("Ann Arbor", "MI", "Michigan"), ("Santa Fe", "NM", "New Mexico"), ("Burlington", "VT", "Vermont"),
          ("Flagstaff", "AZ", "Arizona"), ("Bozeman", "MT", "Montana"), ("Duluth", "MN", "Minnesota"),
          ("Savannah", "GA", "Georgia"), ("Tacoma", "WA", "Washington"), ("Lexington", "KY", "Kentucky")]
FACILITY = ["St. Mary's Hospital", "Mercy General Hospital", "Lakeside Medical Center", "Riverside Family Clinic",
            "Good Samaritan Nursing Home", "Northside Urgent Care", "Cedar Valley Health System",
            "Children's Hospital of Oakdale", "Hillcrest Rehabilitation Center", "Saint Luke's Regional Medical Center",
            "Pinewood Surgical Center", "Bayview Memorial Hospital", "Mount Hope Hospice", "Grandview Pediatrics",
            "Westbrook Community Health Center"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
DOMAINS = ["mail.example.com", "example.org", "clinicmail.net", "inbox.example.net", "patients.example.edu"]
TLDS = ["com", "org", "net", "health", "io"]


@dataclass
class SynthReport:
    report_id: str
    text: str
    phi: list[tuple[str, int, int]] = field(default_factory=list)
    clinical: list[tuple[str, int, int]] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "report_id": self.report_id,
            "text": self.text,
            "phi": [{"category": c, "start": s, "end": e} for c, s, e in self.phi],
            "clinical": [{"category": c, "start": s, "end": e} for c, s, e in self.clinical],
        }


class _Builder:
    """Concatenate literal text and tagged values, recording each tagged value's span."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.n = 0
        self.phi: list[tuple[str, int, int]] = []
        self.clinical: list[tuple[str, int, int]] = []

    def lit(self, s: str) -> None:
        self.parts.append(s)
        self.n += len(s)

    def tag(self, kind: str, value: str, *, clinical: bool = False) -> None:
        if not kind:
            self.lit(value)
            return
        (self.clinical if clinical else self.phi).append((kind, self.n, self.n + len(value)))
        self.lit(value)

    def add(self, template: str, values: dict[str, tuple[str, str]], clinical: dict[str, tuple[str, str]] | None = None) -> None:
        """`template` with `{key}` fields; `values[key] = (category, text)` are PHI, `clinical` not."""
        clinical = clinical or {}
        for literal, key, _, _ in string.Formatter().parse(template):
            self.lit(literal)
            if key is None:
                continue
            if key in values:
                self.tag(values[key][0], values[key][1])
            else:
                self.tag(clinical[key][0], clinical[key][1], clinical=True)

    def text(self) -> str:
        return "".join(self.parts)


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def _letters(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(n))


def _luhn_complete(rng: random.Random, prefix: str, length: int) -> str:
    body = prefix + _digits(rng, length - len(prefix) - 1)
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return body + str((10 - total % 10) % 10)


def _dea(rng: random.Random, last: str) -> str:
    d = [int(c) for c in _digits(rng, 6)]
    check = (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10
    return rng.choice("ABFGMPR") + last[0].upper() + "".join(map(str, d)) + str(check)


def _npi(rng: random.Random) -> str:
    body = rng.choice("12") + _digits(rng, 8)
    total = 24  # the 80840 prefix's Luhn contribution
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return body + str((10 - total % 10) % 10)


def _phone(rng: random.Random) -> str:
    a, b, c = str(rng.randint(201, 989)), str(rng.randint(200, 999)), _digits(rng, 4)
    return rng.choice([
        f"({a}) {b}-{c}", f"{a}-{b}-{c}", f"{a}.{b}.{c}", f"{a} {b} {c}", f"+1 {a} {b} {c}", f"1-{a}-{b}-{c}",
        f"{a}{b}{c}", f"+1 ({a}) {b}-{c}", f"({a}){b}-{c}", f"{a}-{b}-{c} ext. {rng.randint(10, 999)}",
        f"+1-{a}-{b}-{c}", f"{a}/{b}-{c}", f"+44 20 {_digits(rng, 4)} {_digits(rng, 4)}",
    ])


def _date(rng: random.Random) -> str:
    y, m, d = rng.randint(1990, 2025), rng.randint(1, 12), rng.randint(1, 28)
    mon = MONTHS[m - 1]
    return rng.choice([
        f"{m:02d}/{d:02d}/{y}", f"{m}/{d}/{y % 100:02d}", f"{y}-{m:02d}-{d:02d}", f"{mon} {d}, {y}", f"{mon} {d}",
        f"{d} {mon[:3]} {y}", f"{d}-{mon[:3]}-{y}", f"{mon[:3]}. {d}, {y}", f"{d}th of {mon}", f"{mon} {y}",
        f"{m}-{d}-{y}", f"{d}.{m:02d}.{y}", f"{d}{mon[:3].upper()}{y}", f"{mon.upper()} {d}, {y}",
        f"{['Monday', 'Tuesday', 'Friday'][d % 3]}, {mon} {d}",
    ])


def _values(rng: random.Random, i: int) -> dict[str, tuple[str, str]]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    rel_first = rng.choice(FIRST)
    city, st, state = rng.choice(CITIES)
    zip5 = f"{rng.randint(1000, 99950):05d}"
    zip_full = zip5 + (f"-{_digits(rng, 4)}" if rng.random() < 0.3 else "")
    street = f"{rng.randint(2, 9899)} {rng.choice(['', 'N. ', 'West '])}{rng.choice(STREET_NAMES)} {rng.choice(STREET_TYPES)}"
    ssn_a, ssn_b, ssn_c = str(rng.randint(100, 665)), _digits(rng, 2), _digits(rng, 4)
    user = rng.choice([f"{first.lower()}.{last.lower()}", f"{first[0].lower()}{last.lower()}", f"{last.lower()}{rng.randint(1, 99)}"])
    user = user.replace("'", "")
    host = f"{rng.choice(['myportal', 'carenotes', last.lower().replace(chr(39), ''), 'health-share'])}.{rng.choice(TLDS)}"
    plate = rng.choice([f"{rng.randint(1, 9)}{_letters(rng, 3)}{_digits(rng, 3)}", f"{_letters(rng, 3)}-{_digits(rng, 4)}",
                        f"{_letters(rng, 3)} {_digits(rng, 3)}"])
    vin = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ0123456789") for _ in range(16))
    vin = rng.choice("123456789") + vin
    card = _luhn_complete(rng, rng.choice(["4", "51", "37", "6011"]), rng.choice([16, 16, 15]))
    if rng.random() < 0.6:
        sep = rng.choice([" ", "-"])
        card = sep.join(card[k:k + 4] for k in range(0, len(card), 4))
    ipv6 = rng.choice([
        ":".join(f"{rng.randint(0, 65535):x}" for _ in range(8)),
        f"2001:db8:{rng.randint(1, 65535):x}::{rng.randint(1, 65535):x}",
        f"fe80::{rng.randint(1, 65535):x}:{rng.randint(1, 65535):x}",
    ])
    return {
        "name": ("name", f"{first} {last}"),
        "name_mid": ("name", f"{first} {rng.choice('ABCDEJKLMRST')}. {last}"),
        "name_rev": ("name", f"{last.upper()}, {first.upper()}"),
        "last": ("name_titled", last),
        "surname": ("surname", last),
        "relative": ("relative", rel_first),
        "relative_full": ("relative", f"{rel_first} {rng.choice(LAST)}"),
        "street": ("street", street),
        "city": ("city_zip", city),
        "st": ("", rng.choice([st, state])),  # a state may stay (Safe Harbor): not scored
        "zip": ("city_zip", zip_full),
        "po_box": ("po_box", rng.choice([f"P.O. Box {rng.randint(1, 99999)}", f"PO Box {rng.randint(1, 9999)}",
                                          f"Post Office Box {rng.randint(1, 999)}", f"POB {rng.randint(10, 9999)}"])),
        "apartment": ("apartment", rng.choice([f"Apt {rng.randint(1, 40)}{rng.choice('ABCD')}", f"Apartment {rng.randint(1, 999)}",
                                                f"Unit {rng.randint(1, 300)}", f"Suite {rng.randint(100, 999)}",
                                                f"#{rng.randint(1, 40)}{rng.choice('ABC')}"])),
        "date": ("date", _date(rng)),
        "date2": ("date", _date(rng)),
        "dob": ("date", _date(rng)),
        "age": ("age_over_89", str(rng.randint(90, 108))),
        "phone": ("phone", _phone(rng)),
        "phone2": ("phone", _phone(rng)),
        "fax": ("fax", _phone(rng)),
        "email": ("email", f"{user}@{rng.choice(DOMAINS)}"),
        "ssn": ("ssn", rng.choice([f"{ssn_a}-{ssn_b}-{ssn_c}", f"{ssn_a} {ssn_b} {ssn_c}", f"{ssn_a}{ssn_b}{ssn_c}",
                                   f"{ssn_a}.{ssn_b}.{ssn_c}"])),
        "mrn": ("mrn", rng.choice([_digits(rng, 8), f"{_digits(rng, 2)}-{_digits(rng, 2)}-{_digits(rng, 4)}",
                                   f"{rng.choice('ABCMRK')}{_digits(rng, 7)}", f"MR-{_digits(rng, 6)}",
                                   f"{_digits(rng, 3)}-{_digits(rng, 3)}-{_digits(rng, 3)}", _digits(rng, 7),
                                   f"{_letters(rng, 2)}{_digits(rng, 6)}", f"{_digits(rng, 4)} {_digits(rng, 4)}"])),
        "plan": ("health_plan", rng.choice([f"{_letters(rng, 3)}{_digits(rng, 9)}", f"{_digits(rng, 1)}{_letters(rng, 2)}{_digits(rng, 1)}-{_letters(rng, 2)}{_digits(rng, 1)}-{_letters(rng, 2)}{_digits(rng, 2)}",
                                            f"W{_digits(rng, 8)}", f"{_digits(rng, 11)}", f"{_letters(rng, 1)}{_digits(rng, 3)}-{_digits(rng, 5)}"])),
        "account": ("account", rng.choice([_digits(rng, 9), f"{_digits(rng, 4)}-{_digits(rng, 6)}", f"AC{_digits(rng, 7)}",
                                           f"{_digits(rng, 6)}", f"{_letters(rng, 1)}-{_digits(rng, 8)}"])),
        "dl": ("license", rng.choice([f"{_letters(rng, 1)}{_digits(rng, 7)}", f"{_letters(rng, 1)}{_digits(rng, 3)}-{_digits(rng, 4)}-{_digits(rng, 4)}",
                                      _digits(rng, 9), f"{_letters(rng, 2)}{_digits(rng, 6)}"])),
        "dea": ("license", _dea(rng, last)),
        "npi": ("license", _npi(rng)),
        "cert": ("license", rng.choice([f"RN{_digits(rng, 6)}", f"{_digits(rng, 2)}-{_digits(rng, 5)}", f"MD.{_digits(rng, 6)}"])),
        "plate": ("vehicle", plate),
        "vin": ("vehicle", vin),
        "device": ("device", rng.choice([f"SN-{_digits(rng, 4)}-{_letters(rng, 2)}", f"{_letters(rng, 3)}{_digits(rng, 6)}",
                                         f"{_digits(rng, 2)}{_letters(rng, 1)}{_digits(rng, 5)}", f"PJN{_digits(rng, 6)}H",
                                         f"(01){_digits(rng, 14)}(21){_digits(rng, 6)}"])),
        "url": ("url", rng.choice([f"https://{host}/patients/{rng.randint(1000, 99999)}", f"http://www.{host}/{last.lower().replace(chr(39), '')}",
                                   f"www.{host}/p?id={rng.randint(100, 99999)}", f"{host}/{first.lower()}-{last.lower().replace(chr(39), '')}"])),
        "ipv4": ("ip", f"{rng.randint(10, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"),
        "ipv6": ("ip", ipv6),
        "card": ("payment_card", card),
        "facility": ("facility", rng.choice(FACILITY)),
        "facility2": ("facility", rng.choice(FACILITY)),
    }


# Each template exercises one category (sometimes two). `{x}` fields are PHI from `_values`,
# `{c_*}` fields are clinical spans from `_clinical`.
TEMPLATES: dict[str, list[str]] = {
    "name": ["Patient {name} presents with {c_case}", "Name: {name}. ", "{name} is a {c_age}-year-old seen for {c_case}",
             "Pt: {name_rev}. ", "History obtained from {name_mid}, who reports {c_case}", "Interpreter used for {name}."],
    "name_titled": ["Ms. {last} was seen in follow-up.", "Mr. {last} denies chest pain.", "Spoke with Dr. {last} about the plan.",
                    "Mrs. {last} reports {c_case}", "Seen by Dr {last} today.", "MR. {last} tolerated the procedure well."],
    "surname": ["Patient {name} was admitted. {surname} reports {c_case}", "Pt {surname} complains of {c_case}",
                "{surname} was counselled on diet.", "Discussed with patient {surname}; agrees with plan.",
                "{name} presents. On exam, {surname} is afebrile."],
    "relative": ["Accompanied by her daughter {relative}.", "His wife {relative_full} provided the history.",
                 "Emergency contact: son {relative_full}.", "Lives with husband {relative}."],
    "street": ["Lives at {street}.", "Address: {street}, {city}, {st} {zip}.", "Home address {street}; stairs at home.",
               "Discharged home to {street} with family."],
    "city_zip": ["Resides in {city}, {st} {zip}.", "Lives in {city} with her sister.", "Moved from {city}, {st} last year.",
                 "ZIP code {zip}.", "Transferred from {city}, {st}."],
    "po_box": ["Mailing address: {po_box}, {city}, {st} {zip}.", "Send records to {po_box}."],
    "apartment": ["Lives at {street}, {apartment}.", "Lives alone in {apartment}, {street}, no elevator."],
    "date": ["Admitted on {date}. ", "Seen {date} for {c_case}", "DOB: {dob}. ", "Date of birth {dob}. ",
             "Discharged {date}, follow-up {date2}.", "Symptoms started on {date}. ", "Last visit: {date}. "],
    "age_over_89": ["{age}-year-old woman with {c_case}", "Patient aged {age} with {c_case}", "{age} y/o male, {c_case}",
                    "Age: {age}. ", "A {age} yo female presents with {c_case}", "She is {age} years old.",
                    "{age}-yr-old man, lives alone."],
    "phone": ["Call {phone} with results.", "Phone: {phone}. ", "Cell {phone}, home {phone2}.", "Contact number {phone}.",
              "Reachable at {phone} after 5 pm.", "Tel. {phone}. "],
    "fax": ["Fax: {fax}. ", "Records faxed to {fax}.", "Fax number {fax} (office)."],
    "email": ["Email {email} for questions.", "E-mail: {email}. ", "Portal login {email}."],
    "ssn": ["SSN {ssn}. ", "SSN# {ssn}. ", "Social Security Number: {ssn}. ", "SS# {ssn}. ", "ssn:{ssn}. "],
    "mrn": ["MRN: {mrn}. ", "MR# {mrn}. ", "Chart {mrn}. ", "Medical record number {mrn}. ", "Med Rec # {mrn}. ",
            "Patient ID {mrn}. ", "Record no. {mrn}. ", "Encounter #{mrn}. "],
    "health_plan": ["Member ID: {plan}. ", "Medicare # {plan}. ", "Insurance policy number {plan}. ",
                    "Health plan beneficiary number {plan}. ", "Medicaid ID {plan}. ", "Subscriber #: {plan}. "],
    "account": ["Account #: {account}. ", "Acct {account}. ", "Billing account number {account}. ", "Account no. {account}. "],
    "license": ["Driver's license: {dl}. ", "DL# {dl}. ", "DEA # {dea}. ", "Prescriber DEA {dea}; NPI {npi}. ",
                "NPI: {npi}. ", "License number {cert}. ", "Driver license no. {dl}. ", "Nursing licence {cert}. "],
    "vehicle": ["License plate {plate}. ", "Vehicle plate # {plate}. ", "VIN {vin}. ", "Car: plate {plate}, VIN: {vin}. ",
                "Involved vehicle tag {plate}. "],
    "device": ["Pacemaker serial number {device}. ", "Device S/N: {device}. ", "Insulin pump SN {device}. ",
               "Implant UDI {device}. ", "Serial # {device}. ", "Device ID: {device}. "],
    "url": ["Images uploaded to {url} for review.", "See {url}. ", "Portal: {url}. "],
    "ip": ["Telehealth session from IP {ipv4}. ", "Login from {ipv6}. ", "Remote address {ipv4}. ", "Connected via {ipv6}. "],
    "payment_card": ["Copay charged to card {card}. ", "Visa {card}. ", "Card number: {card}. ", "Paid with {card}. "],
    "facility": ["Transferred from {facility}. ", "Previously treated at {facility} for {c_case}",
                 "Follow up at {facility2} in 2 weeks.", "Admitted to {facility}. ", "Seen at {facility} ED."],
}

CLINICAL_TEMPLATES: list[str] = [
    "Started amoxicillin {c_dose} three times daily {c_duration}. ",
    "Vitals: {c_bp}, {c_hr}, {c_temp}, {c_spo2}. ",
    "Labs: {c_lab1}, {c_lab2}, {c_lab3}. ",
    "Assessment: {c_icd}. ",
    "{c_age}-year-old with symptoms {c_duration}. ",
    "Metformin {c_dose} daily; {c_lab1}. ",
    "Pain {c_pain}, takes {c_half} at night. ",
    "Diagnosed {c_duration2} ago with {c_icd}. ",
]


def _clinical(rng: random.Random) -> dict[str, tuple[str, str]]:
    return {
        "c_case": ("case", rng.choice(["fever and productive cough.", "headache with nausea.", "burning on urination.",
                                       "itchy scaly plaques on the elbows.", "shortness of breath on exertion."])),
        "c_age": ("age", str(rng.randint(18, 89))),
        "c_dose": ("dose", rng.choice(["500 mg", "0.5 mg/kg", "250mg", "10 units", "2.5 mg", "1 g", "40 mg IV", "5 mL"])),
        "c_duration": ("duration", rng.choice(["for 3 days", "for two weeks", "x 5 days", "for 10 days", "since 2019"])),
        "c_duration2": ("duration", rng.choice(["3 months", "6 weeks", "2 years", "10 days"])),
        "c_bp": ("vital", f"BP {rng.randint(95, 180)}/{rng.randint(55, 110)}"),
        "c_hr": ("vital", f"HR {rng.randint(50, 130)}"),
        "c_temp": ("vital", rng.choice([f"T {rng.randint(360, 405) / 10:.1f}", f"temp {rng.randint(97, 104)}.{rng.randint(0, 9)} F"])),
        "c_spo2": ("vital", f"SpO2 {rng.randint(85, 100)}%"),
        "c_lab1": ("lab", rng.choice([f"WBC {rng.randint(30, 250) / 10:.1f}", f"Hb {rng.randint(70, 170) / 10:.1f} g/dL",
                                      f"HbA1c {rng.randint(50, 120) / 10:.1f}%"])),
        "c_lab2": ("lab", rng.choice([f"Na {rng.randint(125, 150)}", f"creatinine {rng.randint(5, 40) / 10:.1f} mg/dL",
                                      f"INR {rng.randint(8, 40) / 10:.1f}"])),
        "c_lab3": ("lab", rng.choice([f"platelets {rng.randint(50, 450)},000", f"glucose {rng.randint(60, 400)} mg/dL",
                                      f"CRP {rng.randint(1, 300)} mg/L", f"TSH {rng.randint(1, 90) / 10:.1f}"])),
        "c_icd": ("icd10", rng.choice(["J44.1", "E11.9", "I10", "N39.0", "J18.9", "G43.909", "S72.001A", "K21.9"])),
        "c_pain": ("lab", f"{rng.randint(1, 10)}/10"),
        "c_half": ("dose", rng.choice(["1/2 tablet", "2 tablets", "1 puff"])),
    }


def generate(n: int, seed: int = 0) -> list[SynthReport]:
    """`n` reports; together they hold every category of `CATEGORIES` (each report a handful).

    Args:
        n: number of reports (at least 1; with n >= 12 every category appears several times).
        seed: drives values, formats, templates and their order.
    """
    rng = random.Random(seed)
    cats = list(TEMPLATES)
    out: list[SynthReport] = []
    for i in range(n):
        values = _values(rng, i)
        clin = _clinical(rng)
        b = _Builder()
        # every category comes round once every len(cats)/k reports, in a seed-dependent order
        chosen = [cats[(i * 6 + k) % len(cats)] for k in range(6)]
        rng.shuffle(chosen)
        body: list[tuple[str, str]] = [("phi", c) for c in chosen]
        body += [("clin", t) for t in rng.sample(CLINICAL_TEMPLATES, 3)]
        rng.shuffle(body)
        for kind, what in body:
            template = rng.choice(TEMPLATES[what]) if kind == "phi" else what
            # a case phrase is content, not a scored clinical span
            b.add(template, values, {k: v for k, v in clin.items()})
            b.lit(" " if not template.endswith(" ") else "")
        text = b.text()
        clinical = [(c, s, e) for c, s, e in b.clinical if c != "case"]
        out.append(SynthReport(report_id=f"synth-{seed}-{i:04d}", text=text, phi=b.phi, clinical=clinical))
    return out


def write_jsonl(path: Path, reports: list[SynthReport]) -> Path:
    """Write `reports` with their spans, one JSON object a line (what `rag-dx deid check` scores)."""
    with Path(path).open("w", encoding="utf-8") as fh:
        for r in reports:
            fh.write(json.dumps(r.to_json()) + "\n")
    return Path(path)


if __name__ == "__main__":  # python -m tests.phi_synth OUT.jsonl [N] [SEED]
    import sys

    out_path = Path(sys.argv[1])
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    write_jsonl(out_path, generate(count, seed=int(sys.argv[3]) if len(sys.argv) > 3 else 0))
    print(f"wrote {count} synthetic reports to {out_path}")
