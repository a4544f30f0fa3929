"""Diagnosis candidates from retrieved evidence: which labels compete, their votes and citations.

Kept apart from `diagnose` so the candidate policy (label merging, which guideline topics count as
diagnoses, vote weights) can change without touching how the pipeline is wired.

With a :class:`~rag_dx.vocab.Vocabulary` (issue 13):

* one candidate per concept: labels and topics are merged on :func:`concept_key` (the ICD-10-CM
  concept code, see :meth:`Vocabulary.concept_code`), so "COPD" / "Chronic obstructive pulmonary
  disease", "Asthma" / "Bronchial asthma" and three spellings of urinary tract infection are one
  candidate whose ``aliases`` keep every spelling;
* guideline topics that are not diagnoses (:func:`is_diagnosis`: symptoms such as "Cough" or
  "Chest Pain", body systems such as "Eye Diseases", populations such as "Heart Disease in Women"
  or "Toddler Health", tests, treatments and leaflet titles) do not become candidates; their hits
  stay in the evidence. Report labels are the practice's own diagnoses and always compete;
* with the case's findings, a hit whose text asserts what the case denies (or denies what the
  case has) votes less (``against_penalty`` per disagreement), and each candidate records the
  disagreements (``against``) and agreements (``matched``) for display.

Without a vocabulary the behaviour is the original one: candidates keyed by
:func:`rag_dx.labels.candidate_key`, every label competes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

from rag_dx.labels import candidate_key  # noqa: F401  (the one label key; re-exported)
from rag_dx.schemas import Hit

if TYPE_CHECKING:
    from rag_dx.findings import Finding
    from rag_dx.vocab import Vocabulary

TopicKind = Literal["diagnosis", "symptom", "group", "population", "leaflet", "procedure", "status", "other"]


@dataclass
class Candidate:
    name: str
    vote: float = 0.0
    evidence: list[str] = field(default_factory=list)
    icd10: dict[str, int] = field(default_factory=dict)
    #: merge key (``concept_key``); "" when built by hand
    key: str = ""
    #: ICD-10-CM concept code when the vocabulary resolved the name
    concept: str | None = None
    #: every spelling merged into this candidate, first seen first
    aliases: list[str] = field(default_factory=list)
    #: hits per evidence kind ("report" / "guideline")
    kinds: dict[str, int] = field(default_factory=dict)
    #: case findings its evidence supports / contradicts (finding names, display-ready)
    matched: list[str] = field(default_factory=list)
    against: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------- is it a diagnosis?
# Patterns on the normalized topic; the first that matches decides. Written from the MedQuAD /
# MedlinePlus topic list (leaflets, body-system and population pages) and NGC condition fields.
_LEAFLET = re.compile(
    r"\?|^(what|how|why|when|who|am i|can i|i can|do you|are you|should|\d+\s+steps?|tips|"
    r"diagnosis of|treatment of|causes of|symptoms of|nutrition for|exercise for|diet for|"
    r"treatment methods|financial|"
    r"prevent|preventing|creating|choosing|talking|understanding|managing|living with|coping|"
    r"facing|taking|keep|know|learn|help|monitor|monitoring|manage|controlling|a guide|guide|questions|faq|find|"
    r"surviving|overview)\b|"
    r"\b(your|you|resource list|need to know|for health care professionals|"
    r"information for|fact sheet|comprehensive report|right for you|what to expect|eat right|living with)\b"
)
_POPULATION = re.compile(
    r"\b(in (women|men|children|teens|adults|older adults|seniors|infants|pregnancy|babies|"
    r"the elderly|young people)|women s health|men s health|children s health|seniors health|"
    r"toddler|infant and newborn|newborn care|teen|teens|adolescent health|older adults|"
    r"health checkup|american health|islander|native american|hispanic|african american|"
    r"gay|lesbian|veterans|homeless|rural health|school health|college health|"
    r"occupational health|travelers health|traveler s health)\b"
)
_PROCEDURE = re.compile(
    r"\b(surgery|transplantation|transplant|replacement|medicines|medications|drugs|therapy|"
    r"therapies|tests?|screening|scans?|imaging|vaccines?|immunization|vaccination|shot|"
    r"dialysis|hemodialysis|rehabilitation|diet|diets|nutrition|exercise|fitness|care|safety|"
    r"supplements|devices?|hearing aids|mobility aids|implants?|biopsy|endoscopy|colonoscopy|mammography|ultrasound|"
    r"x rays?|anesthesia|counseling|donation|insurance|medicare|medicaid|clinical trials|"
    r"first aid|cpr|hygiene|prevention|checkup|statistics|research|testing|chemotherapy|grafts?|"
    r"reconstruction|diagnosis of|mastectomy|hysterectomy|circumcision|section|treatment|treatments|"
    r"vaccination|how its treated|control|stimulation)\b"
)
_GROUP = re.compile(
    r"\b(diseases|disorders|problems|conditions|injuries|infections and|abnormalities|defects|"
    r"complications|issues|health|system and|disorders and|illnesses|tumors and|cancers|infections$|"
    r"diagnosis$)\b"  # "Dual Diagnosis": a mental disorder with a substance use disorder, two diseases
)
_STATUS = re.compile(r"\b(pregnancy|childbirth|menstruation|puberty|aging|breastfeeding|bereavement|"
                     r"smoking|alcohol|caffeine|stress|sleep|pain relievers|weight|anatomy|genes|"
                     r"family history|end of life|disasters?|abuse|violence|safety)\b")
_PLURAL_GROUP = re.compile(r"\b(diseases|disorders|problems|conditions|abnormalities|defects|issues|"
                           r"risk factors|complications)$")
_SUBSTANCE = re.compile(r"^(anabolic )?(caffeine|cocaine|heroin|marijuana|methamphetamine|inhalants|steroids|"
                        r"e cigarettes|tobacco|smokeless tobacco|club drugs|opioids|alcohol|arsenic|"
                        r"mercury|lead|radon|asbestos|botox)$")
_MAX_DIAGNOSIS_WORDS = 8  # NGC "Disease/Condition(s)" fields that list several conditions


def topic_kind(topic: str, vocabulary: Vocabulary | None = None) -> TopicKind:
    """Why a guideline topic is or is not a diagnosis (see :func:`is_diagnosis`).

    Order: leaflet titles, populations, then a name the curated synonym table resolves (its code's
    chapter decides), then procedures/tests/treatments and grouping pages by pattern
    ("Eye Diseases", "Heart Disease in Women", "Childhood Immunization", "4 Steps to Manage Your
    Diabetes"); then, with a vocabulary, the resolved ICD-10-CM chapter: R codes are symptoms and
    signs ("Cough", "Chest Pain"), Z codes are statuses and encounters, V-Y external causes.
    Names nothing recognizes and no rule rejects count as diagnoses (rare diseases).
    """
    from rag_dx.vocab import normalize_text, without_age_group

    text = normalize_text(topic)
    if not text:
        return "leaflet"
    if _LEAFLET.search(topic.lower()) or _LEAFLET.search(text) or ":" in topic and len(text.split()) > 5:
        return "leaflet"
    if _POPULATION.search(text):
        return "population"
    if vocabulary is not None and (curated := vocabulary.curated_code(topic)) is not None:
        # a name the curated table resolves is what its code is: "Rotator Cuff Injuries" is one
        # diagnosis, not a group of injuries (rag_dx/data/curated_synonyms.tsv, guideline page names)
        return chapter_kind(curated)
    concept = vocabulary.normalize(topic) if vocabulary is not None else None
    if _ORGAN_GROUP.search(text) or text in ("cancer", "infections", "tumors", "benign tumors"):
        return "group"  # "Heart Disease", "Kidney Diseases" ("Lung Cancer" is not matched here)
    if _PLURAL_GROUP.search(text):
        return "group"  # "Eye Diseases", "Growth Disorders", "Breathing Problems"
    if _SUBSTANCE.search(text):
        return "status"  # drug and substance leaflets ("Cocaine", "Caffeine", "Anabolic Steroids")
    if _ANATOMY_ONLY.fullmatch(text) or _ANATOMY_ONLY.fullmatch(without_age_group(text) or ""):
        return "group"  # body parts only ("Tonsils and Adenoids", a synonym of J35.9 "Chronic disease of ...")
    words = text.split()
    if _PROCEDURE.search(words[-1]) or _PROCEDURE.fullmatch(" ".join(words[-2:])):
        return "procedure"  # the head noun is a test or treatment ("Varicella Vaccination", "Mobility Aids")
    if " for " in text and _PROCEDURE.search(text.split(" for ")[0]):
        return "procedure"  # "Deep Brain Stimulation for Parkinson's Disease"
    if concept is not None and concept.match in ("exact", "synonym"):
        # A recognized disease name wins over word patterns ("Bell's palsy", "Food allergy").
        return chapter_kind(concept.code)
    if (_PROCEDURE.search(text) and not _DISEASE_MORPHOLOGY.search(text)):
        return "procedure"  # "Cervical Cancer Screening", "Cancer Chemotherapy", "Flu Shot"
    if _GROUP.search(text):
        return "group"
    if _STATUS.search(text) and concept is None:
        return "status"
    if concept is None and (len(words) > _MAX_DIAGNOSIS_WORDS or " and " in f" {text} "):
        return "group"  # several conditions, or a condition and a topic ("Physical Activity and Diabetes")
    if concept is not None:
        return chapter_kind(concept.code)
    if not _DISEASE_MORPHOLOGY.search(text):
        # Not a recognized disease name and nothing disease-like in it ("Caregivers", "Arsenic",
        # "Blood Thinners"); rare diseases almost always carry a morphology (syndrome, -osis, ...).
        return "other"
    return "diagnosis"


_ORGAN_GROUP = re.compile(
    r"^(heart|kidney|renal|liver|lung|thyroid|bone|skin|eye|ear|brain|blood|bladder|breast|nail|"
    r"joint|muscle|nerve|spine|spinal cord|stomach|bowel|intestinal|vascular|heart valve|valve|"
    r"mental|genetic|rare|infectious|autoimmune|metabolic|sexually transmitted|lymphatic|pituitary|"
    r"adrenal gland|parathyroid|pancreatic|prostate|ovarian|testicular|penis|tongue|tooth|mouth|"
    r"throat|nose|foot|hand|hip|knee|leg|arm|back|neck|chest|digestive|respiratory|urinary tract|"
    r"cardiovascular|neurologic|neuromuscular|movement|sleep|eating|mood|personality|learning|"
    r"childhood|kidney and urinary|blood vessel|bacterial|viral|fungal|parasitic)"
    r"( \w+)? (disease|diseases|disorder|disorders|problems|conditions)$"
)
_ANATOMY = (r"(tonsils?|adenoids?|nose|throat|ears?|eyes?|skin|hair|nails?|teeth|tooth|gums?|mouth|lips?|tongue|"
            r"lungs?|heart|kidneys?|liver|bones?|joints?|muscles?|nerves?|brain|spine|head|neck|hands?|feet|foot|"
            r"legs?|arms?|back|chest|abdomen|belly|bladder|blood|blood vessels|sinuses|larynx|voice box)")
#: A name made only of body parts ("Tonsils and Adenoids", "Ear, Nose and Throat") is a body-system page.
_ANATOMY_ONLY = re.compile(rf"{_ANATOMY}((,| and| or)+ {_ANATOMY})*")
_POPULATION_SUFFIX = re.compile(
    r"\s+(in|among|for)\s+(children|child|kids|adults|adult|women|men|teens|teenagers|older adults|"
    r"seniors|the elderly|infants|babies|newborns|young people|my child)\s*$",
    re.IGNORECASE,
)
_ABOUT = re.compile(r"^(what (i|you) need to know about|living with|facts about|about)\s+(my child'?s\s+)?",
                    re.IGNORECASE)
_DISEASE_MORPHOLOGY = re.compile(
    r"(itis|osis|emia|aemia|oma|pathy|plasia|trophy|algia|uria|philia|penia|cytosis|ectasis|"
    r"syndrome|disease|disorder|deficiency|infection|fever|cancer|palsy|insufficiency|failure|"
    r"stenosis|atresia|dysplasia|sclerosis|dystrophy|poisoning|allergy|ulcer|hernia|abscess|"
    r"stones?|pox|flu|cold|virus|bites?|stings?|ism|tumors?|cysts?|polyps?|fractures?|burns?|"
    r"sores?|warts?|lice|rash|hives|eczema|acne|lupus|gout|asthma|malaria|measles|mumps|rabies|"
    r"tetanus|cholera|anthrax|plague|dengue|leukemia|lymphoma|melanoma|sarcoma|anemia|angina|"
    r"aneurysm|hepatitis|herpes|hiv|aids|copd|gerd|ebola|zika|covid|mrsa|hpv|concussion|"
    r"migraine|dementia|depression|anxiety|autism|insomnia|obesity|glaucoma|cataract|infertility|"
    r"pneumonia|sepsis|shingles|scabies|impetigo|psoriasis|typhoid|diabetes|hypertension|stroke|"
    r"diarrhea|jaundice|vertigo|epilepsy|seizures?|coma|shock|arrhythmia|tachycardia|embolism|"
    r"thrombosis|hemorrhage|infarction|apnea|hypoxia|croup|thrush|mono|mononucleosis)s?\b"
)


def _subjects(topic: str) -> list[str]:
    """The topic, then what a leaflet or population page is about ("X: subtitle",
    "What I need to know about X", "X in Children")."""
    t = re.sub(r"\s+", " ", topic).strip()
    out = [t]
    if ":" in t:
        # "Chronic pain disorder, including: Nociceptive pain ..." (an NGC conditions field)
        out.append(re.sub(r",?\s*(including|such as|e\.g\.)$", "", t.split(":", 1)[0].strip(), flags=re.I))
    if " - " in t:  # "Parasites - Scabies": the part after the dash names the disease
        out.insert(0, t.split(" - ", 1)[1].strip())
    m = _ABOUT.match(t)
    if m:
        out.append(t[m.end():].strip())
    for s in list(out):
        # "Adrenal Insufficiency and Addison's Disease": the first one named, when the second is a
        # disease too (not "Cold and Cough Medicines", "Alcohol Use and Older Adults")
        if " and " in s and "," not in s:
            first, second = (x.strip() for x in s.split(" and ", 1))
            if _DISEASE_MORPHOLOGY.search(second.lower()) and not _PROCEDURE.search(second.lower()) \
                    and not _POPULATION.search(second.lower()):
                out.append(first)
    for s in list(out):
        stripped = _POPULATION_SUFFIX.sub("", s)
        if stripped != s:
            out.append(stripped.strip())
    return [s for i, s in enumerate(out) if s and s not in out[:i]]


def diagnosis_name(topic: str, vocabulary: Vocabulary | None = None) -> str | None:
    """The diagnosis a guideline topic stands for, or None when it is not one.

    "Asthma in Children" -> "Asthma"; "What I need to know about Kidney Stones" -> "Kidney
    Stones"; "Dermatitis Herpetiformis: Skin Manifestation of Celiac Disease" -> "Dermatitis
    Herpetiformis"; "Heart Disease in Women", "Eye Diseases", "Toddler Health", "Cough" -> None.
    """
    for subject in _subjects(topic):
        if topic_kind(subject, vocabulary) == "diagnosis":
            return subject
    return None


#: ICD-10-CM codes outside chapter R that still name a symptom: G89 "Pain, not elsewhere
#: classified" and its acute and chronic pain codes ("Pain", "Chronic pain"; central pain syndrome
#: G89.0 and neoplasm-related pain G89.3 stay diagnoses). As a card, "Pain" was the most common
#: concept in the notes' diagnosis sections after hypertension, so the commonness prior put it in the
#: top 5 of 78 lay narratives of cervical spondylosis, urinary infection and varicose veins
#: (docs/results/protocols.md, "pain is a symptom").
SYMPTOM_CODES = ("G89",)
SYMPTOM_CODE_PREFIXES = ("G89.1", "G89.2")


def chapter_kind(code: str) -> TopicKind:
    """What an ICD-10-CM code names: symptoms (chapter R, SYMPTOM_CODES) and statuses cannot compete as diagnoses."""
    if code.startswith("R") or code in SYMPTOM_CODES or code.startswith(SYMPTOM_CODE_PREFIXES):
        return "symptom"
    if code.startswith("Z"):
        return "status"
    if code[0] in "VWXY":
        return "status"
    return "diagnosis"


def is_diagnosis(topic: str, vocabulary: Vocabulary | None = None) -> bool:
    """True when a guideline topic names a diagnosis that may compete as a candidate.

    Example:
        >>> is_diagnosis("Heart Disease in Women"), is_diagnosis("Eye Diseases")
        (False, False)
        >>> is_diagnosis("Pneumonia"), is_diagnosis("Alagille Syndrome")
        (True, True)

    Pass the vocabulary: without it, symptoms that are also ICD-10-CM R codes ("Jaundice") and
    names without disease morphology cannot be told apart.
    """
    return diagnosis_name(topic, vocabulary) is not None


def concept_key(name: str, vocabulary: Vocabulary | None = None) -> str:
    """The key candidates are merged on: ``"icd:<concept code>"`` when the vocabulary resolves
    the name, else :func:`candidate_key` (text). Without a vocabulary: always the text key.

    Example: ``concept_key("COPD", v) == concept_key("chronic obstructive pulmonary disease", v)
    == "icd:J44"``.
    """
    if vocabulary is not None:
        concept = vocabulary.normalize(name)
        if concept is not None:
            return "icd:" + vocabulary.concept_code(concept.code)
    return candidate_key(name)


# ---------------------------------------------------------------------------- votes
def hit_weights(hits: Sequence[Hit], temperature: float = 0.05, guideline_weight: float = 0.5) -> list[float]:
    """Similarity-weighted kNN votes: exp((cos - best cos) / T), guideline passages discounted.

    Fused RRF scores are good for ordering evidence but nearly flat across ranks (1/61 vs 1/70),
    so as votes they let a crowd of weak matches outvote three near-identical cases.
    """
    sims = [h.dense_score if h.dense_score is not None else -1.0 for h in hits]
    best = max(sims, default=0.0)
    return [
        float(np.exp((s - best) / temperature)) * (guideline_weight if h.chunk.kind == "guideline" else 1.0)
        for h, s in zip(hits, sims)
    ]


def collect_candidates(
    hits: Sequence[Hit],
    *,
    temperature: float = 0.05,
    guideline_weight: float = 0.5,
    vocabulary: Vocabulary | None = None,
    diagnoses_only: bool | None = None,
    query_findings: Sequence[Finding] | None = None,
    evidence_findings: Callable[[Hit], Sequence[Finding]] | None = None,
    against_penalty: float = 0.7,
) -> dict[str, Candidate]:
    """Candidates are the labels of retrieved evidence: report diagnoses and guideline topics.

    Each candidate's vote is the summed weight (`hit_weights`) of the hits that carry its label,
    and those hits are its citations. The displayed name is the first spelling seen (best hit).

    Args:
        vocabulary: merge labels by ICD-10-CM concept (:func:`concept_key`) and attach the
            concept code; None keeps the text key.
        diagnoses_only: drop guideline topics that are not diagnoses (:func:`is_diagnosis`) as
            candidates (their hits remain evidence for the caller). Default: on when a vocabulary
            is given.
        query_findings: the case's findings (:func:`rag_dx.findings.extract_findings`).
        evidence_findings: findings of a hit's text (stored in the index, or computed, e.g.
            ``lambda h: extractor.extract(h.chunk.text)``). With ``query_findings`` each hit's
            weight is multiplied by ``against_penalty ** n_disagreements``. Guideline passages list
            findings a disease *may* have, so a denied finding also hits the right diagnosis
            ("no fever" vs a UTI leaflet that mentions fever): keep the penalty mild (default 0.7)
            or learn it; :class:`rag_dx.cards.CardIndex` weighs disagreements by section and IDF.
    """
    if diagnoses_only is None:
        diagnoses_only = vocabulary is not None
    weights = hit_weights(hits, temperature, guideline_weight)
    use_findings = bool(query_findings) and evidence_findings is not None
    if use_findings:
        from rag_dx.findings import finding_match
    out: dict[str, Candidate] = {}
    name_cache: dict[str, str | None] = {}
    for hit, weight in zip(hits, weights):
        label = (hit.chunk.label or "").strip()
        if not label:
            continue
        if diagnoses_only and hit.chunk.kind == "guideline":
            if label not in name_cache:
                name_cache[label] = diagnosis_name(label, vocabulary)
            if name_cache[label] is None:
                continue
            label = name_cache[label] or label  # "Asthma in Children" competes as "Asthma"
        key = concept_key(label, vocabulary) if vocabulary is not None else candidate_key(label)
        cand = out.get(key)
        if cand is None:
            cand = out[key] = Candidate(name=label, key=key)
            if key.startswith("icd:"):
                cand.concept = key[4:]
        if label not in cand.aliases:
            cand.aliases.append(label)
        if use_findings:
            m = finding_match(query_findings or (), evidence_findings(hit))  # type: ignore[misc]
            weight *= against_penalty ** len(m.against)
            cand.matched.extend(x for x in m.matched if x not in cand.matched)
            cand.against.extend(x for x in m.against if x not in cand.against)
        cand.vote += weight
        cand.kinds[hit.chunk.kind] = cand.kinds.get(hit.chunk.kind, 0) + 1
        if hit.id not in cand.evidence:
            cand.evidence.append(hit.id)
        if hit.chunk.icd10:
            cand.icd10[hit.chunk.icd10] = cand.icd10.get(hit.chunk.icd10, 0) + 1
    return out
