"""Everyday phrasings of common findings that HPO and the older lay table lacked, as data.

Why: read finding by finding, textbook cases of common conditions found little: a cystitis case
("burning when she passes urine, needs to go very often") found no urinary finding, a stroke case
("his speech is slurred") no speech finding, a heart-failure case ("has to sleep on three pillows,
wakes at night gasping for air") neither orthopnoea nor nocturnal dyspnoea, a thyroid case ("cold all
the time", "her skin is dry and her hair is thinning") nothing at all. What is not a finding is
missing three times over: the clinician does not see it under "matches", a denial of it ("no burning
when passing urine") denies nothing, and the disease cards' TF-IDF does not read its synonyms
(`rag_dx.topic_cards.with_finding_words`).

Two tables, both mapping to HPO preferred names (a test checks every target exists):

* :data:`STATED` -- what a body part or excretion is said to be ("urine is dark", "dark urine",
  "her speech is slurred", "nails are brittle"), written out by :func:`stated_phrases` with the verb
  agreeing with the subject (:func:`is_plural_site`, which the swelling and pain phrases use too).
* :data:`EVERYDAY` -- fixed phrases ("passing urine often", "sleeps on three pillows").

Choices: where HPO's term names a disease ("Sciatica", "Gastroesophageal reflux" for heartburn) only
phrasings that already say that much map to it; the more general finding is used otherwise
("pain down the back of her leg" is Lower limb pain, not Sciatica). A word that is a finding in one
place and something else in another is left out ("feels hot": a fever or heat intolerance;
"bumps"; "on edge").
"""

from __future__ import annotations

from collections.abc import Mapping

# subject -> {adjective: HPO preferred name}
STATED: Mapping[str, Mapping[str, str]] = {
    "urine": {"dark": "Dark urine", "pink": "Pink urine", "red": "Red urine", "cloudy": "Cloudy urine",
        "foamy": "Foamy urine", "frothy": "Foamy urine", "bloody": "Macroscopic hematuria"},
    "stools": {"pale": "Acholic stools", "black": "Melena", "tarry": "Melena", "loose": "Diarrhea",
        "watery": "Diarrhea", "bloody": "Hematochezia"},
    "stool": {"pale": "Acholic stools", "black": "Melena", "loose": "Diarrhea", "watery": "Diarrhea",
        "bloody": "Hematochezia"},
    "mouth": {"dry": "Xerostomia"}, "mouth and throat": {"dry": "Xerostomia"},
    "throat and mouth": {"dry": "Xerostomia"},
    "speech": {"slurred": "Slurred speech"},
    "face": {"drooping": "Facial palsy", "droopy": "Facial palsy", "weak": "Weakness of facial musculature"},
    "voice": {"hoarse": "Hoarse voice"},
    # not "dry": "skin is warm and dry" is a normal examination (HPO's own "dry skin" is read)
    "skin": {"yellow": "Jaundice", "pale": "Pallor", "itchy": "Pruritus",
        "scaly": "Scaling skin", "flaky": "Scaling skin"},
    "eyes": {"yellow": "Jaundice", "red": "Conjunctival hyperemia", "itchy": "Ocular pruritus", "watery": "Epiphora",
        "runny": "Epiphora", "wet": "Epiphora",
        "prominent": "Proptosis", "bulging": "Proptosis"},
    # one eye: "a red, itchy right eye" (its "itchy" had read as Pruritus, a skin finding)
    "eye": {"red": "Conjunctival hyperemia", "itchy": "Ocular pruritus", "watery": "Epiphora", "runny": "Epiphora",
        "bulging": "Proptosis"},
    "skin and eyes": {"yellow": "Jaundice"}, "eyes and skin": {"yellow": "Jaundice"},
    "whites of the eyes": {"yellow": "Jaundice"},
    "hair": {"thinning": "Alopecia", "falling out": "Alopecia"},
    "nails": {"brittle": "Fragile nails", "pitted": "Nail pits", "spoon-shaped": "Concave nail",
        "spoon shaped": "Concave nail"},
    "fingernails": {"brittle": "Fragile nails", "pitted": "Nail pits", "spoon-shaped": "Concave nail"},
    "eardrum": {"bulging": "Tympanic membrane bulging"},
    "tympanic membrane": {"bulging": "Tympanic membrane bulging"},
    "neck": {"stiff": "Stiff neck"},
    "joints": {"stiff": "Joint stiffness"},
    "vision": {"blurred": "Blurred vision", "blurry": "Blurred vision"},
    "breathing": {"noisy": "Stridor", "fast": "Tachypnea", "rapid": "Tachypnea"},
    "heartbeat": {"fast": "Palpitations", "racing": "Palpitations", "irregular": "Arrhythmia"},
    "heart": {"racing": "Palpitations", "pounding": "Palpitations"},
    "temperature": {"high": "Fever", "raised": "Fever", "elevated": "Fever", "up": "Fever"},
}
_BE_SINGULAR, _BE_PLURAL = ("is", "was", "has been", "looks", "looked", "feels", "felt", "is getting"), \
    ("are", "were", "have been", "look", "looked", "feel", "felt", "are getting")
_POSSESSIVE = ("the ", "his ", "her ", "my ")
_SIDES = ("", "left ", "right ")
# "my neck has been really stiff": an intensifier between verb and adjective
INTENSIFIERS = ("", "very ", "really ", "extremely ", "quite ", "so ")
_PREFIX_SUBJECTS = frozenset({"urine", "stools", "stool", "speech", "voice", "skin", "eyes", "eye", "nails",
                              "fingernails", "eardrum", "neck", "joints", "vision", "breathing", "heartbeat"})
#: subjects a side word may precede: "itchy right eye", "bulging left eardrum"
_SIDED_SUBJECTS = frozenset({"eye", "eyes", "eardrum", "tympanic membrane"})


def is_plural_site(site: str) -> bool:
    """Whether a body site takes "are" / "were": its head noun (before " in ") is plural or names two parts
    ("knees", "lymph nodes in the neck", "liver and spleen", "skin and eyes"; not "testis", "abscess")."""
    head = site.split(" in ")[0]
    return " and " in head or (head.endswith("s") and not head.endswith(("ss", "us", "is")))


def stated_phrases() -> dict[str, str]:
    """Every phrasing of :data:`STATED` -> its HPO preferred name ("her urine is dark", "dark urine")."""
    out: dict[str, str] = {}
    for subject, adjectives in STATED.items():
        verbs = _BE_PLURAL if is_plural_site(subject) else _BE_SINGULAR
        for adjective, target in adjectives.items():
            for be in verbs:  # no determiner: the matcher finds "urine is dark" inside "his urine is dark"
                for very in INTENSIFIERS:
                    out[f"{subject} {be} {very}{adjective}"] = target
            if subject in _PREFIX_SUBJECTS and " " not in adjective:
                for side in _SIDES if subject in _SIDED_SUBJECTS else ("",):
                    out[f"{adjective} {side}{subject}"] = target
    return out


EVERYDAY: Mapping[str, str] = {
    # urinary
    **{f"{w} {when} {p}": "Dysuria" for w in ("burning", "pain", "stinging") for when in ("when", "on", "while")
       for p in ("passing urine", "passing water", "urinating", "peeing")},
    **{f"burning when {who}{v}": "Dysuria" for who in ("he ", "she ") for v in ("passes urine", "pees", "urinates")},
    **{f"{v} {often}": "Pollakisuria" for v in ("passing urine", "passing water", "urinating", "peeing",
                                                  "needs to urinate", "needs to pee", "needs to go", "going to the toilet")
       for often in ("often", "frequently", "more often", "very often", "all the time")},
    "urgent need to urinate": "Urinary urgency", "urgent need to pee": "Urinary urgency",
    **{f"{v} at night to {u}": "Nocturia" for v in ("getting up", "gets up", "get up", "waking up", "wakes up",
                                                      "waking", "wakes") for u in ("urinate", "pee", "pass urine")},
    **{f"{n} times a night to {u}": "Nocturia" for n in ("two", "three", "four", "several", "2", "3", "4")
       for u in ("urinate", "pee", "pass urine")},
    **{f"{v} a lot of urine": "Polyuria" for v in ("passing", "passes", "producing", "making")},
    "urinating a lot": "Polyuria",
    **{f"{w} {v}": "Urinary hesitancy" for w in ("trouble", "difficulty") for v in ("starting to urinate",
                                                                                   "starting urination", "starting to pee")},
    "has to wait before he starts": "Urinary hesitancy", "leaking urine": "Urinary incontinence",
    # a weak stream is HPO's "difficulty with flow" (a synonym of Urinary hesitancy); HPO has no term of its own
    **{f"{w} {u}stream": "Urinary hesitancy" for w in ("weak", "poor", "slow", "reduced", "decreased")
       for u in ("", "urine ", "urinary ")},
    # not "incomplete emptying" alone: an oesophagus or a stomach empties too
    "incomplete bladder emptying": "Urinary retention",
    **{f"incomplete emptying of {p}bladder": "Urinary retention" for p in _POSSESSIVE},
    "bladder does not empty completely": "Urinary retention", "bladder doesn't empty completely": "Urinary retention",
    "bladder does not empty fully": "Urinary retention", "bladder doesn't empty fully": "Urinary retention",
    # "non-productive": the matcher's tokens are "non - productive", so without these "productive cough" matched
    **{f"non{h}productive cough": "Nonproductive cough" for h in ("-", " ")},
    **{f"non{h}bloody {d}": "Diarrhea" for h in ("-", " ", "") for d in ("diarrhea", "diarrhoea")},
    **{f"non{h}bilious {v}": "Vomiting" for h in ("-", " ", "") for v in ("vomiting", "emesis")},
    # breathing and the heart
    **{f"{v} on {n} pillows": "Orthopnea" for v in ("sleep", "sleeps", "sleeping", "sleeps propped up", "propped up")
       for n in ("two", "three", "four", "several", "more", "extra")},
    **{f"{w} {when}": "Orthopnea" for w in ("breathless", "short of breath") for when in ("lying flat", "when lying flat",
                                                                                          "when lying down", "lying down")},
    "cannot lie flat": "Orthopnea", "can't lie flat": "Orthopnea",
    **{f"{v} at night gasping for air": "Paroxysmal nocturnal dyspnea" for v in ("wakes", "waking", "wakes up", "waking up",
                                                                                 "woke up", "wake up")},
    "gasping for air": "Dyspnea", "breathing fast": "Tachypnea",
    "breathing rapidly": "Tachypnea", "breathing quickly": "Tachypnea",
    "rapid heartbeat": "Palpitations",  # "fast heartbeat", "heart is racing": STATED; "heart racing": LAY_FINDINGS
    # the gut
    **{f"burning {f}behind the breastbone": "Gastroesophageal reflux" for f in ("", "feeling ", "sensation ", "pain ")},
    "burning in the chest": "Gastroesophageal reflux", "acid coming up": "Gastroesophageal reflux",
    "sour taste in the mouth": "Gastroesophageal reflux", "sour taste in his mouth": "Gastroesophageal reflux",
    "sour taste in her mouth": "Gastroesophageal reflux", "sour taste in my mouth": "Gastroesophageal reflux",
    "stomach cramps": "Abdominal cramps", "tummy cramps": "Abdominal cramps", "belly cramps": "Abdominal cramps",
    "colicky pain": "Abdominal colic", "colicky abdominal pain": "Abdominal colic",
    **{f"blood {w} {p}{x}": "Hematochezia" for w in ("on", "in") for p in _POSSESSIVE for x in ("stool", "stools",
                                                                                                "toilet paper")},
    "blood on the toilet paper": "Hematochezia", "bleeding from the rectum": "Hematochezia",
    "rectal bleeding": "Hematochezia", "clay-colored stools": "Acholic stools", "clay-coloured stools": "Acholic stools",
    "tea-colored urine": "Dark urine", "tea-coloured urine": "Dark urine", "cola-colored urine": "Dark urine",
    **{f"yellowing of {p}{s}": "Jaundice" for p in _POSSESSIVE for s in ("skin", "eyes", "skin and eyes", "eyes and skin")},
    "yellow skin and eyes": "Jaundice",
    # the head, mind and nerves
    **{f"{w} {p}{side}arm": "Upper limb muscle weakness" for w in ("could not lift", "cannot lift", "can't lift",
                                                                   "unable to lift") for p in _POSSESSIVE for side in _SIDES},
    "bothered by light": "Photophobia", "light hurts her eyes": "Photophobia", "light hurts his eyes": "Photophobia",
    "forgetful": "Memory impairment", "forgetfulness": "Memory impairment", "memory loss": "Memory impairment",
    "memory problems": "Memory impairment", "trouble remembering": "Memory impairment",
    "lost interest": "Anhedonia", "loss of interest": "Anhedonia", "restless": "Restlessness",
    "worries excessively": "Anxiety", "excessive worry": "Anxiety", "constant worry": "Anxiety",
    "no energy": "Fatigue", "low energy": "Fatigue", "lack of energy": "Fatigue",
    "sleeps poorly": "Insomnia", "sleeping poorly": "Insomnia", "poor sleep": "Insomnia",
    "difficulty sleeping": "Insomnia", "trouble falling asleep": "Sleep onset insomnia",
    "shaky": "Tremor", "trembling": "Tremor", "shaking chills": "Chills", "sweaty": "Hyperhidrosis",
    "clammy": "Hyperhidrosis",
    # temperature, weight, skin, hair, nails
    "cold all the time": "Cold intolerance", "always cold": "Cold intolerance", "always feels cold": "Cold intolerance",
    "intolerant of cold": "Cold intolerance", "intolerant of heat": "Heat intolerance",
    "always feels hot": "Heat intolerance", "hot all the time": "Heat intolerance",
    "gained weight": "Increased body weight", "put on weight": "Increased body weight",
    "heavy periods": "Menorrhagia", "heavy menstrual bleeding": "Menorrhagia",
    "nail pitting": "Nail pits", "thinning hair": "Alopecia", "hair falling out": "Alopecia",
    "scaly patches": "Scaling skin", "silvery scales": "Scaling skin", "redness": "Erythema", "red patches": "Erythema",
    "eye redness": "Conjunctival hyperemia", "redness of the eye": "Conjunctival hyperemia",
    "redness of the eyes": "Conjunctival hyperemia",
    "bull's-eye rash": "Erythema migrans", "bullseye rash": "Erythema migrans", "bull's eye rash": "Erythema migrans",
    "blistering rash": "Blistering by anatomical location",
    # joints and limbs
    "morning stiffness": "Joint stiffness", "stiffness in the morning": "Joint stiffness",
    "grating feeling": "Joint crepitus", "grating sensation": "Joint crepitus", "grinding sensation": "Joint crepitus",
    **{f"pain down {p}{b}{side}leg": "Lower limb pain" for p in _POSSESSIVE for b in ("", "back of the ", "back of his ",
                                                                                     "back of her ")
       for side in _SIDES if not (b and p != "the ")},
    # the mouth, ears and a child's signs
    **{f"sores in {p}mouth": "Oral ulcer" for p in _POSSESSIVE}, "mouth sores": "Oral ulcer",
    "canker sore": "Oral ulcer", "canker sores": "Oral ulcer", "ulcers in the mouth": "Oral ulcer",
    **{f"{v} at {p}{side}ear": "Ear pain" for v in ("pulls", "pulling", "pulled", "tugs", "tugging", "tugged")
       for p in _POSSESSIVE for side in _SIDES},
    **{f"runny {side}nostril": "Rhinorrhea" for side in _SIDES},
    "vaginal itching": "Vaginal pruritus", "vaginal itch": "Vaginal pruritus", "itchy vagina": "Vaginal pruritus",
    "twisted veins": "Varicose veins", "bulging veins": "Varicose veins", "varicosities": "Varicose veins",
    **{f"{w} {u} {o}": "Abnormal urinary odor" for w in ("bad", "foul", "strong", "weird", "unpleasant", "smelly")
       for u in ("urine", "pee") for o in ("odour", "odor", "smell")},
    "urine odour": "Abnormal urinary odor", "urine odor": "Abnormal urinary odor", "smelly urine": "Abnormal urinary odor",
    "smelly pee": "Abnormal urinary odor", "foul smelling pee": "Abnormal urinary odor",
    "can't hold my pee": "Urinary incontinence", "cannot hold my urine": "Urinary incontinence",
    "can't hold my urine": "Urinary incontinence", "dry mouth": "Xerostomia",
    "always hungry": "Polyphagia", "constantly hungry": "Polyphagia", "more hungry": "Polyphagia",
    "hungry all the time": "Polyphagia", "balance problems": "Unsteady gait", "balance issues": "Unsteady gait",
    "trouble with balance": "Unsteady gait", "belching": "Excessive eructation", "burping": "Excessive eructation",
    "visible veins": "Prominent superficial veins", "veins are very noticeable": "Prominent superficial veins",
    # the words alone are procedures or a response in notes ("fine needle aspiration", "a 150 joule shock",
    # "unresponsive to therapy"): rag_dx.finding_terms._STOP_TERMS
    **{f"{s} shock": "Shock" for s in ("septic", "hypotensive", "distributive", "circulatory", "hemorrhagic", "haemorrhagic")},
    "in shock": "Shock", "into shock": "Shock", "signs of shock": "Shock",
    **{f"{w} temperature": "Fever" for w in ("elevated", "raised", "mild")}, "temperature elevation": "Fever",
    # not "episodes of" / "history of" aspiration: they would take "aspiration pneumonia" apart, or its history
    **{f"{w} aspiration": "Aspiration" for w in ("silent", "problems with", "witnessed")},
    **{f"{v} unresponsive": "Reduced consciousness" for v in ("is", "was", "found", "became", "becomes", "being",
                                                             "remains", "remained")},
    "disoriented": "Confusion",  # HPO lists it under Confusional arousal, a sleep disorder
    **dict.fromkeys(("tearing eyes", "eye tearing", "excessive tearing", "tearing of the eyes", "tearing of the eye",
                     "eyes are tearing", "eye is tearing", "persistent tearing"), "Epiphora"),
    "difficulty feeding": "Feeding difficulties", "poor feeding": "Feeding difficulties",
    "feeding poorly": "Feeding difficulties", "not feeding well": "Feeding difficulties",
}
