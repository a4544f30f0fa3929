"""Term tables for :mod:`rag_dx.findings`: lay phrasings of findings and assertion triggers.

Data, written for rag-dx and documented where each table is defined; kept apart from the
extraction code so the tables can grow without the module doing so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rag_dx.everyday_findings import EVERYDAY, is_plural_site, stated_phrases

# Lay phrasings -> HPO preferred name (resolved to an id when the extractor loads; a test checks
# every target exists). Written for rag-dx from how patients and symptom-list datasets phrase
# common findings; HPO's own layperson synonyms are used as well.
LAY_FINDINGS: Mapping[str, str] = {
    "burning on urination": "Dysuria", "burning urination": "Dysuria",
    "burning when urinating": "Dysuria", "burning when i urinate": "Dysuria",
    "burning when i pee": "Dysuria", "pain when urinating": "Dysuria", "painful urination": "Dysuria",
    "burning micturition": "Dysuria", "burning sensation when urinating": "Dysuria",
    "frequent urination": "Pollakisuria", "urinary frequency": "Pollakisuria",
    "urinating frequently": "Pollakisuria", "peeing often": "Pollakisuria",
    "frequency of urination": "Pollakisuria", "urinating more often": "Pollakisuria",
    "peeing more often": "Pollakisuria", "going to the bathroom a lot": "Pollakisuria",
    "need to pee": "Urinary urgency", "urge to urinate": "Urinary urgency",
    "urgency": "Urinary urgency", "urinary urgency": "Urinary urgency",
    "blood in urine": "Hematuria", "blood in my urine": "Hematuria", "bloody urine": "Hematuria",
    "foul smelling urine": "Abnormal urinary odor", "foul smell of urine": "Abnormal urinary odor",
    "cloudy urine": "Cloudy urine",
    "runny nose": "Rhinorrhea", "running nose": "Rhinorrhea", "nasal discharge": "Rhinorrhea",
    "stuffy nose": "Nasal congestion", "blocked nose": "Nasal congestion",
    "congestion": "Nasal congestion", "nasal congestion": "Nasal congestion",
    "sneezing": "Sneeze", "continuous sneezing": "Sneeze", "sneeze": "Sneeze",
    "sore throat": "Pharyngalgia", "throat irritation": "Pharyngalgia", "scratchy throat": "Pharyngalgia",
    "throwing up": "Vomiting", "threw up": "Vomiting", "vomited": "Vomiting", "vomit": "Vomiting",
    "feeling sick": "Nausea", "nauseous": "Nausea", "nauseated": "Nausea",
    "stomach ache": "Abdominal pain", "stomachache": "Abdominal pain", "tummy ache": "Abdominal pain",
    "belly pain": "Abdominal pain", "stomach pain": "Abdominal pain", "abdominal pain": "Abdominal pain",
    "lower abdominal pain": "Abdominal pain", "pain in my stomach": "Abdominal pain",
    "high temperature": "Fever", "high fever": "Fever", "mild fever": "Fever", "febrile": "Fever",
    # "a temperature": "she has a temperature", "running a temperature"; not "changes in temperature"
    "a temperature": "Fever", "feverish": "Fever", "fevers": "Fever",
    "shortness of breath": "Dyspnea", "short of breath": "Dyspnea", "breathlessness": "Dyspnea",
    "difficulty breathing": "Dyspnea", "trouble breathing": "Dyspnea", "hard to breathe": "Dyspnea",
    "out of breath": "Dyspnea", "breathless": "Dyspnea",
    "tired": "Fatigue", "tiredness": "Fatigue", "exhausted": "Fatigue", "exhaustion": "Fatigue",
    "lethargy": "Lethargy", "weakness": "Asthenia", "feeling weak": "Asthenia",
    "itching": "Pruritus", "itchy": "Pruritus", "itchiness": "Pruritus",
    "rash": "Skin rash", "skin rash": "Skin rash", "rashes": "Skin rash", "red spots": "Skin rash",
    "joint pain": "Arthralgia", "joint pains": "Arthralgia", "pain in my joints": "Arthralgia",
    "muscle pain": "Myalgia", "muscle aches": "Myalgia", "body aches": "Myalgia", "body ache": "Myalgia",
    "chills": "Chills", "shivering": "Chills", "shivers": "Chills",
    "night sweats": "Night sweats", "sweating": "Hyperhidrosis", "sweats": "Hyperhidrosis",
    "loss of appetite": "Anorexia", "no appetite": "Anorexia", "poor appetite": "Anorexia",
    "weight loss": "Weight loss", "losing weight": "Weight loss", "lost weight": "Weight loss",
    "weight gain": "Increased body weight", "gaining weight": "Increased body weight",
    "yellow skin": "Jaundice", "yellowing of the skin": "Jaundice", "yellow eyes": "Jaundice",
    "yellowish skin": "Jaundice", "yellowing of eyes": "Jaundice", "yellowish eyes": "Jaundice",
    "flank pain": "Flank pain", "back pain": "Back pain", "lower back pain": "Low back pain",
    "chest pain": "Chest pain", "chest tightness": "Chest tightness", "tight chest": "Chest tightness",
    "heart racing": "Palpitations", "racing heart": "Palpitations", "palpitations": "Palpitations",
    "dizzy": "Vertigo", "dizziness": "Vertigo", "lightheaded": "Vertigo",
    "light headed": "Vertigo", "spinning": "Vertigo",
    "headache": "Headache", "headaches": "Headache", "head ache": "Headache",
    "cough": "Cough", "coughing": "Cough", "dry cough": "Nonproductive cough",
    "coughing up phlegm": "Productive cough", "phlegm": "Productive cough", "mucus": "Productive cough",
    "diarrhoea": "Diarrhea", "loose stools": "Diarrhea", "watery stools": "Diarrhea",
    "constipated": "Constipation", "bloating": "Abdominal distention", "bloated": "Abdominal distention",
    "heartburn": "Gastroesophageal reflux", "acid reflux": "Gastroesophageal reflux", "indigestion": "Dyspepsia",
    "acidity": "Gastroesophageal reflux", "swollen lymph nodes": "Lymphadenopathy", "swollen glands": "Lymphadenopathy",
    "swelling": "Edema", "swollen legs": "Edema", "swollen ankles": "Edema",
    "blurred vision": "Blurred vision", "blurry vision": "Blurred vision",
    "red eyes": "Conjunctival hyperemia", "red eye": "Conjunctival hyperemia",
    "watery eyes": "Epiphora", "itchy eyes": "Ocular pruritus",
    "ear pain": "Ear pain", "earache": "Ear pain",
    "stiff neck": "Stiff neck", "neck stiffness": "Stiff neck", "neck pain": "Neck pain",
    "excessive thirst": "Polydipsia", "very thirsty": "Polydipsia", "thirsty": "Polydipsia",
    "polyuria": "Polyuria", "peeing a lot": "Polyuria", "excessive hunger": "Polyphagia",
    "blisters": "Blistering by anatomical location", "pus filled pimples": "Pustule",
    "pimples": "Acne", "blackheads": "Comedonal acne",
    "hives": "Urticaria", "wheezing": "Wheezing", "wheeze": "Wheezing",
    "nosebleed": "Epistaxis", "nose bleed": "Epistaxis",
    "can't sleep": "Insomnia", "trouble sleeping": "Insomnia",
    "anxious": "Anxiety", "depressed": "Depression", "confused": "Confusion", "confusion": "Confusion",
    "fainted": "Syncope", "fainting": "Syncope", "passed out": "Syncope",
    "numbness": "Hypoesthesia", "tingling": "Paresthesia", "pins and needles": "Paresthesia",
    "loss of balance": "Unsteady gait", "unsteady": "Unsteady gait",
    "swollen joints": "Joint swelling", "joint swelling": "Joint swelling",
    "stiff joints": "Joint stiffness", "joint stiffness": "Joint stiffness",
    "weakness in limbs": "Limb muscle weakness", "muscle weakness": "Muscle weakness",
    "high blood pressure": "Hypertension", "diabetes": "Diabetes mellitus", "low blood pressure": "Hypotension",
    "bruising": "Bruising susceptibility", "bleeding gums": "Gingival bleeding",
    "mouth ulcers": "Oral ulcer", "ulcers on tongue": "Oral ulcer", "sores in mouth": "Oral ulcer",
    "hair loss": "Alopecia", "dark urine": "Dark urine", "pale stools": "Acholic stools",
    "sensitivity to light": "Photophobia", "sensitive to light": "Photophobia", "light sensitivity": "Photophobia",
    "sensitivity to sound": "Phonophobia", "sensitivity to noise": "Phonophobia", "sensitive to noise": "Phonophobia",
    "sensitive to sound": "Phonophobia", "flashing lights": "Photopsia", "flashes of light": "Photopsia",
    "sticky discharge": "Purulent eye discharge", "eye discharge": "Purulent eye discharge",
    "discharge from the eye": "Purulent eye discharge", "discharge from the eyes": "Purulent eye discharge",
    "discharge from her eyes": "Purulent eye discharge", "discharge from his eyes": "Purulent eye discharge",
    "crusted eyelids": "Purulent eye discharge", "bruised": "Ecchymosis",
    # how a vignette writes them (found missing in textbook cases of a kidney stone, a stroke, TB)
    "blood in the urine": "Hematuria", "blood in his urine": "Hematuria", "blood in her urine": "Hematuria",
    "blood in my urine": "Hematuria",  # "pink urine", "red urine", "bloody urine" are HPO's own, more specific terms
    # "urine is pink" and the like: rag_dx.everyday_findings.STATED
    **{f"{v} {q}blood": "Hemoptysis" for v in ("coughed up", "coughing up", "coughs up", "coughed", "coughing",
                                                  "spitting up", "spat up", "spitting", "spat")
       for q in ("", "a little ", "some ", "a bit of ", "streaks of ")},
    **{f"sick to {d} stomach": "Nausea" for d in ("my", "his", "her", "the", "their")},
    **{f"throat {be} sore": "Pharyngalgia" for be in ("is", "was", "feels", "felt")},
    "pain in the flank": "Flank pain", "pain in the right flank": "Flank pain", "pain in the left flank": "Flank pain",
    "black stools": "Melena", "black stool": "Melena", "tarry stools": "Melena", "black tarry stools": "Melena",
    "pounding heart": "Palpitations", "heart pounding": "Palpitations",
    "blood streaked sputum": "Hemoptysis", "blood-streaked sputum": "Hemoptysis", "bloody sputum": "Hemoptysis", "blood in the sputum": "Hemoptysis",
    "vaginal discharge": "Abnormal vaginal discharge", "welts": "Urticaria",
    "hair falls out": "Alopecia", "hair is falling out": "Alopecia",  # "falls" alone: NOT_FINDINGS
    "drooping face": "Facial palsy", "facial drooping": "Facial palsy", "face drooping": "Facial palsy",
    "drooping of the face": "Facial palsy",
    "weakness on one side": "Hemiparesis", "one sided weakness": "Hemiparesis", "one-sided weakness": "Hemiparesis",
    **{p.format(side=side): "Hemiparesis" for side in ("right", "left") for p in (
        "weakness of the {side} arm and leg", "weakness of his {side} arm and leg", "weakness of her {side} arm and leg",
        "weakness on the {side} side", "{side} sided weakness", "{side}-sided weakness")},
    **{p.format(side=side): "Facial palsy" for side in ("right", "left") for p in (
        "drooping {side} face", "drooping of the {side} side of the face", "drooping of the {side} side of her face",
        "drooping of the {side} side of his face", "{side} facial droop", "{side} facial drooping")},
    # clinical words HPO gives to a rarer sense: "irritable bowel" (60 times in MedQuAD and the transcriptions)
    # was Irritability, a mood; "drug hypersensitivity" and "hypersensitivity reaction" were Emotional
    # hypersensitivity. HPO's own terms for what notes mean by them:
    "irritable bowel": "Bowel irritability", "irritable bowel syndrome": "Bowel irritability",
    "hypersensitivity": "Immunologic hypersensitivity",
    "fetal hydrops": "Hydrops fetalis",  # bare "hydrops" (endolymphatic, of the gallbladder) is a stop term
}

# Swollen or enlarged body parts, as patients and leaflets write them: site -> (HPO preferred name,
# which words apply). HPO names a few of these ("Enlarged liver", "Swollen lymph nodes") but not
# the everyday variants, so "enlarged spleen", "swollen lymph glands" and "swelling of the joints"
# found nothing, or only Edema through "swelling". "enlarged" is not offered for soft parts
# ("enlarged eyes" is another finding), nor "swollen" for the heart or kidney.
_SWELL, _ENLARGE, _BOTH = ("swell",), ("enlarge",), ("swell", "enlarge")
SWELLING_SITES: Mapping[str, tuple[str, tuple[str, ...]]] = {
    **{s: ("Lymphadenopathy", _BOTH) for s in (
        "lymph nodes", "lymph node", "lymph glands", "lymph gland", "glands", "nodes")},
    **{s: ("Cervical lymphadenopathy", _BOTH) for s in (
        "lymph nodes in the neck", "lymph nodes in his neck", "lymph nodes in her neck",
        "lymph nodes in my neck", "neck lymph nodes", "glands in the neck", "glands in his neck",
        "glands in her neck", "glands in my neck", "neck glands", "cervical lymph nodes", "cervical nodes")},
    "spleen": ("Splenomegaly", _BOTH), "liver": ("Hepatomegaly", _BOTH),
    "liver and spleen": ("Hepatosplenomegaly", _BOTH),
    "thyroid": ("Goiter", _BOTH), "thyroid gland": ("Goiter", _BOTH),
    "tonsils": ("Enlarged tonsils", _BOTH), "tonsil": ("Enlarged tonsils", _BOTH),
    "parotid gland": ("Enlargement of parotid gland", _BOTH),
    "parotid glands": ("Enlargement of parotid gland", _BOTH),
    "salivary glands": ("Enlargement of parotid gland", _BOTH),
    **{s: ("Joint swelling", _SWELL) for s in ("joints", "joint", "knee", "knees", "knuckles")},
    "fingers": ("Finger swelling", _SWELL), "finger": ("Finger swelling", _SWELL),
    "lips": ("Swollen lip", _SWELL), "lip": ("Swollen lip", _SWELL),
    "eyelids": ("Palpebral edema", _SWELL), "eyelid": ("Palpebral edema", _SWELL),
    "face": ("Facial edema", _SWELL),
    **{s: ("Edema", _SWELL) for s in ("legs", "leg", "feet", "foot", "calf", "calves")},
    # one swollen ankle is an injury or a joint; "swollen ankles" stays Edema (LAY_FINDINGS)
    "ankle": ("Ankle swelling", _SWELL),
    **{s: ("Abdominal distention", _SWELL) for s in ("abdomen", "belly", "stomach")},
    "gums": ("Gingivitis", _SWELL),
    "heart": ("Cardiomegaly", _ENLARGE), "kidney": ("Enlarged kidney", _ENLARGE),
    "kidneys": ("Enlarged kidney", _ENLARGE), "prostate": ("Benign prostatic hyperplasia", _ENLARGE),
}
_SWELLING_FORMS: Mapping[str, tuple[str, ...]] = {
    "swell": ("swollen {side}{s}", "swelled {s}", "{s} swelling", "swelling of {d}{s}", "swelling in {d}{s}",
              "{s} {be} swollen"),
    "enlarge": ("enlarged {side}{s}", "{s} enlargement", "enlargement of {d}{s}", "{s} {be} enlarged"),
}
_DETERMINERS = ("", "the ", "my ", "his ", "her ", "both ")


def swelling_phrases() -> dict[str, str]:
    """Every phrasing of :data:`SWELLING_SITES` -> its HPO preferred name ("swollen spleen" -> Splenomegaly).

    "is" / "was" only after a singular site and "are" / "were" after a plural one, so "the sores on
    my face are swollen" does not read as a swollen face."""
    out: dict[str, str] = {}
    for site, (target, words) in SWELLING_SITES.items():
        verbs = (("are", "were", "have", "have been", "are getting") if is_plural_site(site)
                 else ("is", "was", "has", "has been", "is getting"))
        for form in (f for w in words for f in _SWELLING_FORMS[w]):
            for d in _DETERMINERS if "{d}" in form else ("",):
                for be in verbs if "{be}" in form else ("",):
                    for side in _LIMB_SIDES if "{side}" in form else ("",):  # "a swollen right knee"
                        out[form.format(s=site, d=d, be=be, side=side)] = target
    return out


# Pain at a body site, written the way cases say it: "pain in his left flank", "pains in her knees",
# "her calf is painful". HPO names the finding "Flank pain" / "Knee pain", and the matcher matches
# word for word, so a textbook renal-colic case ("colicky pain in his left flank that spreads to the
# groin") found no finding at all, neither for the cards' finding words nor for a denial ("no pain
# in the chest"). Site -> HPO preferred name, and which side words apply (a test checks every target
# exists). Where HPO has no site term the nearest broader one is used (calf, thigh -> Lower limb pain).
_LIMB_SIDES = ("", "left ", "right ")
_TRUNK_SIDES = ("", "left ", "right ", "upper ", "lower ", "upper right ", "upper left ", "lower right ",
                "lower left ", "right upper ", "left upper ", "right lower ", "left lower ")
PAIN_SITES: Mapping[str, tuple[str, tuple[str, ...]]] = {
    **{s: ("Abdominal pain", _TRUNK_SIDES) for s in ("abdomen", "belly", "stomach", "tummy")},
    **{s: ("Abdominal pain", ("",)) for s in ("belly button", "navel", "umbilicus")},
    **{s: ("Epigastric pain", ("",)) for s in ("epigastrium", "epigastric area", "epigastric region", "pit of the stomach")},
    "flank": ("Flank pain", _LIMB_SIDES), "chest": ("Chest pain", _TRUNK_SIDES),
    "back": ("Back pain", ("", "upper ", "middle ")), "lower back": ("Low back pain", ("",)),
    "neck": ("Neck pain", ("",)), "head": ("Headache", ("",)), "throat": ("Pharyngalgia", ("",)),
    "groin": ("Groin pain", _LIMB_SIDES), "pelvis": ("Pelvic pain", ("",)), "jaw": ("Jaw pain", _LIMB_SIDES),
    "joints": ("Arthralgia", ("",)), "muscles": ("Myalgia", ("",)), "bones": ("Bone pain", ("",)),
    **{s: ("Knee pain", _LIMB_SIDES) for s in ("knee", "knees")},
    **{s: ("Hip pain", _LIMB_SIDES) for s in ("hip", "hips")},
    **{s: ("Shoulder pain", _LIMB_SIDES) for s in ("shoulder", "shoulders")},
    **{s: ("Ear pain", _LIMB_SIDES) for s in ("ear", "ears")},
    **{s: ("Ocular pain", _LIMB_SIDES) for s in ("eye", "eyes")},
    **{s: ("Lower limb pain", _LIMB_SIDES) for s in ("leg", "legs", "calf", "calves", "thigh", "thighs")},
    **{s: ("Upper limb pain", _LIMB_SIDES) for s in ("arm", "arms")},
    **{s: ("Foot pain", _LIMB_SIDES) for s in ("foot", "feet", "heel", "heels")},
    **{s: ("Ankle pain", _LIMB_SIDES) for s in ("ankle", "ankles")},
    **{s: ("Wrist pain", _LIMB_SIDES) for s in ("wrist", "wrists")},
    **{s: ("Elbow pain", _LIMB_SIDES) for s in ("elbow", "elbows")},
    **{s: ("Hand pain", _LIMB_SIDES) for s in ("hand", "hands")},
    **{s: ("Finger pain", _LIMB_SIDES) for s in ("finger", "fingers")},
    **{s: ("Toe pain", _LIMB_SIDES) for s in ("toe", "toes", "big toe")},
    **{s: ("Testicular pain", _LIMB_SIDES) for s in ("testicle", "testicles", "testis")},
    "scrotum": ("Scrotal pain", ("",)), "anus": ("Anal pain", ("",)), **{s: ("Mastalgia", _LIMB_SIDES) for s in ("breast", "breasts")},
    **{s: ("Buttock pain", _LIMB_SIDES) for s in ("buttock", "buttocks")},
}
_PAIN_FORMS = ("pain in {d}{side}{s}", "pains in {d}{side}{s}", "pain over {d}{side}{s}", "aching in {d}{side}{s}",
               "pain around {d}{side}{s}", "pain in the bottom of {d}{side}{s}", "pain and tenderness in {d}{side}{s}",
               "pain on the {side}side of {d}{s}",
               "painful {side}{s}", "tender {side}{s}", "sore {side}{s}", "{d}{side}{s} {be} painful",
               "{d}{side}{s} {hurt}", "{side}{s} pain")


def pain_phrases() -> dict[str, str]:
    """Every phrasing of :data:`PAIN_SITES` -> its HPO preferred name ("pain in his left flank" -> Flank pain).

    Verbs agree with the site ("her calf is painful", "his knees hurt"); a site with no determiner
    ("pain in left flank") is kept, as notes write it. Word-for-word matching has its limits, as
    for the swelling phrases: "the sores on my legs are painful" reads as leg pain, "pain in the
    neck of the femur" as neck pain."""
    out: dict[str, str] = {}
    for site, (target, sides) in PAIN_SITES.items():
        plural = is_plural_site(site)
        be = ("are", "were", "have been") if plural else ("is", "was", "has been")
        hurt = ("hurt", "ache", "have been hurting") if plural else ("hurts", "aches", "has been hurting")
        for form in _PAIN_FORMS:
            for d in _DETERMINERS if "{d}" in form else ("",):
                if d == "" and form.startswith("{d}"):
                    continue  # "left knee hurts" alone reads as a fragment of another phrase
                for side in sides:
                    for b in be if "{be}" in form else ("",):
                        for h in hurt if "{hurt}" in form else ("",):
                            out[form.format(d=d, side=side, s=site, be=b, hurt=h)] = target
    return out


# How physicians write exam findings: as adjectives of the patient ("tachycardic and diaphoretic",
# "jaundiced", "hypoxic on room air"). HPO names the nouns only, so none of these was a finding: not
# for the red-flag rules that ask for them (ACS: sweating; sepsis: cyanosis, hypotension, tachypnoea),
# not for the cards' finding words, not for the UI's matches. Adjective -> HPO preferred name.
CLINICAL_ADJECTIVES: Mapping[str, str] = {
    "tachycardic": "Tachycardia", "bradycardic": "Bradycardia", "hypotensive": "Hypotension",
    "hypertensive": "Hypertension", "tachypneic": "Tachypnea", "tachypnoeic": "Tachypnea",
    "hypoxic": "Hypoxemia", "hypoxemic": "Hypoxemia", "hypoxaemic": "Hypoxemia", "diaphoretic": "Hyperhidrosis",
    "jaundiced": "Jaundice", "icteric": "Jaundice", "cyanotic": "Cyanosis", "cyanosed": "Cyanosis",
    "lethargic": "Lethargy", "dehydrated": "Dehydration", "dyspneic": "Dyspnea", "dyspnoeic": "Dyspnea",
    "orthopneic": "Orthopnea", "hypothermic": "Hypothermia", "somnolent": "Drowsiness", "drowsy": "Drowsiness",
    "agitated": "Agitation", "tremulous": "Tremor", "pruritic": "Pruritus", "edematous": "Edema",
    "oedematous": "Edema", "erythematous": "Erythema", "anemic": "Anemia", "anaemic": "Anemia",
    "oliguric": "Oliguria", "anuric": "Anuria", "ataxic": "Ataxia", "aphasic": "Aphasia",
    "dysarthric": "Dysarthria", "photophobic": "Photophobia", "hypoglycemic": "Hypoglycemia",
    "hypoglycaemic": "Hypoglycemia", "hyperglycemic": "Hyperglycemia", "hyperglycaemic": "Hyperglycemia",
    "looks pale": "Pallor", "looked pale": "Pallor", "appears pale": "Pallor", "appeared pale": "Pallor",
    "is pale": "Pallor", "was pale": "Pallor", "pale skin": "Pallor",
}
# Words that deny a finding by themselves ("afebrile", "anicteric", "temperature is normal"): the
# matcher finds them as that finding and the extractor asserts it absent (`findings._extract_segment`).
# Before, "afebrile" was nothing and "my temperature is normal" a fever (the lay table's "temperature").
ABSENT_PHRASES: Mapping[str, str] = {
    "afebrile": "Fever", "apyrexial": "Fever", "anicteric": "Jaundice", "acyanotic": "Cyanosis",
    "normal temperature": "Fever", "temperature is normal": "Fever", "temperature was normal": "Fever",
    "temperature normal": "Fever", "temperature has been normal": "Fever",
}


def lay_phrases() -> dict[str, str]:
    """The extractor's default lay table: :data:`LAY_FINDINGS` over the generated swelling and pain phrasings,
    the everyday phrasings (:mod:`rag_dx.everyday_findings`), the clinical adjectives and the self-denying
    phrases."""
    return {**swelling_phrases(), **pain_phrases(), **stated_phrases(), **EVERYDAY, **CLINICAL_ADJECTIVES,
            **ABSENT_PHRASES, **LAY_FINDINGS}


# NegEx-style trigger sets for the non-negation assertion classes (ConText categories).
POSSIBLE_TRIGGERS: Mapping[str, list[str]] = {
    "preceding": ["possible", "possibly", "probable", "probably", "suspected", "suspect", "suspicion of",
                  "concern for", "concerning for", "questionable", "question of", "may have", "might have",
                  "could be", "could have", "rule out", "r/o", "evaluate for", "consider", "versus", "vs",
                  "differential", "maybe", "not sure if"],
    "pseudo": ["not rule out"],
    "following": ["is possible", "is suspected", "suspected", "cannot be excluded", "not excluded",
                  "can not be ruled out", "is likely", "?", "versus", "vs"],
}
HISTORICAL_TRIGGERS: Mapping[str, list[str]] = {
    "preceding": ["history of", "hx of", "h/o", "past medical history", "pmh", "previous", "previously",
                  "status post", "s/p", "childhood", "had a history", "remote history of", "in the past had",
                  "historically", "formerly"],
    "following": ["years ago", "as a child", "previously", "last year", "resolved", "months ago",
                  "in childhood", "historically"],
    # a duration up to now is not history: "worries ... every day for the last year", and "a 3-day history
    # of back pain" or "a 2-week history of cough" is the presenting illness (the tokenizer splits "3-day")
    "pseudo": ["no history of", "history of present illness", "history of the present illness", "for the last year",
               "over the last year", "during the last year", "in the last year", "since last year", "for the past year",
               "over the past year",
               *(f"{unit} history of" for unit in ("hour", "hours", "day", "days", "week", "weeks", "month",
                                                     "months", "year", "years"))],
}
FAMILY_TRIGGERS: Mapping[str, list[str]] = {
    "preceding": ["family history of", "family history", "fhx", "fh of", "mother", "father", "mom", "dad",
                  "sister", "brother", "sibling", "siblings", "parents", "grandmother", "grandfather",
                  "aunt", "uncle", "cousin", "family member", "family members", "relatives"],
    "following": ["in the family", "runs in the family", "runs in my family", "in his family",
                  "in her family", "in my family"],
}
# Words that end a trigger's scope in addition to negspacy's clinical terminations.
EXTRA_TERMINATIONS: list[str] = [
    "reports", "reported", "complains", "complaining", "presents", "presenting", "presented", "admitted for",
    "admitted with", "endorses", "admits",
    "positive for", "has had", "but has", "and has", "patient has", "he has", "she has", "i have",
    "i've", "i am having", "i'm having", "now has", "developed", "experiencing", "i feel", "feels",
    "and now", "then", "so", "because", ";", "patient", "the patient", "he", "she", "i",
    "and my", "and i", "also", "and there", "there is", "there's", "and it", "it is", "it's",
    "due to", "because of", "thanks to", "lying",
    # a determiner after "and" starts a new, asserted item: "no energy and a fever"
    "and a", "and an", "and some", "and have", "and has", "and am", "and feel", "and now have",
    # the present after a history: "history of lymphoma, now with fever"
    "now with", "currently with", "presently with",
]
# "has" opens a new clause about the patient: "with a previous heart attack has increasing
# breathlessness", "denies chest pain, has cough". It ends an absent, possible or historical scope,
# not a family one ("his mother has diabetes"); "have" ends none ("does not have a fever").
PATIENT_CLAUSE_TERMINATIONS: list[str] = ["has"]
# Not a negation of what follows: "could not lift his right arm, ... his speech is slurred" denied the speech.
# Nor of what precedes: negspacy's following trigger "was not" made "disoriented and confused, was not able
# to answer questions" deny the confusion.
PSEUDO_NEGATIONS: list[str] = ["could not", "can not", "was not able", "were not able", "is not able", "are not able"]
# Patient-written text: these are not negations of the finding that follows.
_NOT_NEGATIONS = {"cannot", "can't", "cant", "couldn't", "couldnt", "versus", "rule out", "r/o", "ro",
                  "evaluate for", "rule him out", "rule her out", "rule patient out", "rule the patient out"}
_EXTRA_NEGATIONS = ["absent", "denies any", "no history of", "not having", "haven't had", "havent had",
                    "have not had", "hasn't had", "has not had", "not experiencing", "no signs of", "none"]
# A review of systems writes "negative cough, negative rash.": negspacy's termset has bare "negative"
# only after a finding ("HIV negative"), so the last item of such a list read as present. As a
# preceding trigger its scope would run on ("CT negative, headache persists"), so it negates only
# the finding written right after it.
_NEGATIVE_BEFORE = frozenset({"negative", "neg"})
_EXTRA_FOLLOWING_NEGATIONS = ["absent", "not present", "denied", "negative", "resolved"]

_MIN_TERM_CHARS = 3
_SPAN_KEY = "rag_dx_findings"
#: Phrases that contain a finding's name but are no finding: matched like terms under this label, so the
#: longest-match rule lets them cover the name, then dropped (`FindingExtractor._doc`). "falls asleep",
#: "falls within normal limits" were Falls (HPO's term for a patient who falls: "recurrent falls", "he falls
#: often" still are).
NOT_A_FINDING = "not-a-finding"
NOT_FINDINGS: frozenset[str] = frozenset(
    [f"falls {w}" for w in ("asleep", "within", "into", "below", "under", "above", "short", "between", "outside")]
    # PACS, the imaging archive ("report was saved to PACS"), is not PACs (Premature atrial contractions)
    + [f"{w} pacs" for w in ("to", "to the", "on", "on the", "in", "in the", "via", "from", "from the")]
    + ["pacs system", "pacs images", "pacs report"])
# HPO synonyms that are ordinary words in case text and would match everywhere.
_STOP_TERMS = frozenset({
    "pain", "all", "other", "high", "low", "short", "tall", "death", "large", "small", "abnormal",
    "mild", "severe", "acute", "chronic", "normal", "increased", "decreased", "fat", "cold", "hot",
    "tired", "weak", "thin", "big", "long", "bad", "sick", "poor", "ill", "stress", "crying", "anger",
    "irritability", "obesity", "overweight", "it", "one",
    # "terminal dribbling" is urinary, not Drooling; "non-cutting trocar", "cutting back" are not self-harm;
    # "fine needle aspiration", "a biphasic shock", "pain unresponsive to therapy" (HPO: Confusional arousal)
    # are procedures and a response; rag_dx.everyday_findings holds the phrasings that are findings
    "dribbling", "cutting", "aspiration", "shock", "unresponsive",
    # HPO abbreviations and synonyms that are something else in notes: "LFTs were normal" (Filum terminale
    # lipoma), "multiple eye drops" (Ptosis), "odd-looking lesions", "BPD" (a fetus's biparietal diameter),
    # "maximal dullness" to percussion (Lethargy), "a tearing pain" (Epiphora), "the collecting system"
    "lft", "eye drop", "odd", "bpd", "dullness", "tearing", "collecting",
    # HPO's one-word names for stereotypies and compulsions that are everyday words in a note: "pain on
    # hopping" (a sign of appendicitis, read as the stereotypy Jumping and offered as a next question),
    # "jumping jacks", "ordering labs", "arranging follow-up" (Atypical sorting), "good self-control"
    # (Disinhibition); the specific ones ("head-banging", "hand-wringing") still match
    "jumping", "hopping", "bouncing", "twirling", "ordering", "arranging", "self-control",
    # HPO synonyms more specific than the word: "laryngitis" was Subglottic laryngitis (a croup finding),
    # bare "hydrops" (endolymphatic, of the gallbladder) was Edema; "fetal hydrops" is in LAY_FINDINGS
    "laryngitis", "hydrops",
})


def possessive_forms(term: str) -> list[str]:
    """An ontology term's forms with its eponym possessive, lower-cased: "Non-Hodgkin lymphoma" ->
    "non-hodgkin's lymphoma", "non-hodgkins lymphoma".

    Notes write the possessive; without these forms "non-Hodgkin's lymphoma" matched only the
    synonym "Hodgkin's lymphoma" inside it. An eponym is a word with a capital after the term's
    first letter and a lower-case last letter (not "II", not "Fever")."""
    words = term.split()
    out = []
    for i, w in enumerate(words[:-1]):
        if w[-1:].islower() and any(c.isupper() for c in (w[1:] if i == 0 else w)):
            out += [" ".join([*words[:i], w + end, *words[i + 1:]]).lower() for end in ("'s", "s")]
    return out


def denied_by_list_cue(doc: Any, mentions: Sequence[Any]) -> set[int]:
    """Start tokens of the mentions the words right before them deny (a "(-)" / "negative" cue, the prefix
    "non-"), and of the mentions that continue the list such a cue starts.

    The cue denies the finding written right after it and the ones that continue that list with nothing but
    list words between them ("(-) fever, chills, night sweats" denied the fever alone, and the chills and
    sweats read as present). A word that is no list word ends it ("HIV (-), CD4 count low": the cue is not
    followed by a finding, so nothing after it is denied). The prefix "non-" denies its own word only:
    "non-tender, swollen knee" is swollen. `mentions`: the segment's spans, by start."""
    out: set[int] = set()
    end = None
    for m in mentions:
        between = [t.lower_ for t in doc[end:m.start]] if end is not None and end <= m.start else None
        if (between is not None and all(w in _LIST_WORDS for w in between)) or _cue_before(doc, m.start):
            out.add(m.start)
            end = m.end
        else:
            end = None
            if _non_prefix(doc, m.start):  # "non-": this word, no list
                out.add(m.start)
    return out


_LIST_WORDS = frozenset({",", "or", "and", "nor", "/", "such", "as", "including"})


def _non_prefix(doc: Any, start: int) -> bool:
    """Whether token `start` carries the prefix "non-" ("non-painful right knee", "non-icteric"; the tokenizer
    splits it into "non" and "-").

    "non-" before a capitalised word is part of a name, not a denial: "non-Hodgkin's lymphoma" is a
    lymphoma, and had read as Hodgkin lymphoma absent."""
    return (start > 1 and doc[start - 1].text == "-" and doc[start - 2].lower_ == "non"
            and not doc[start].text[:1].isupper())


def _cue_before(doc: Any, start: int) -> bool:
    """A review of systems' cue right before token `start`: "negative" / "neg", or "(-)" ("(-) fever, (+) cough")."""
    if start > 0 and doc[start - 1].lower_ in _NEGATIVE_BEFORE:
        return True
    return start > 2 and [t.text for t in doc[start - 3:start]] == ["(", "-", ")"]
