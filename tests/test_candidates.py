"""Candidates: one per ICD-10-CM concept, non-diagnosis topics dropped, finding disagreements penalized."""

from __future__ import annotations

import pytest

from rag_dx.candidates import collect_candidates, concept_key, diagnosis_name, hit_weights, is_diagnosis, topic_kind
from rag_dx.findings import Finding
from rag_dx.schemas import Chunk, Hit
from rag_dx.vocab import Vocabulary


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    return Vocabulary.load()


def _hit(i: int, label: str, kind: str = "guideline", sim: float = 0.8, text: str = "") -> Hit:
    chunk = Chunk(chunk_id=f"c{i}", kind=kind, doc_id=f"d{i}", title=label, text=text or label, label=label)
    return Hit(chunk=chunk, score=1.0 / (60 + i), dense_score=sim)


@pytest.mark.parametrize(
    "topic",
    ["Cough", "Chest Pain", "Eye Diseases", "Heart Disease in Women", "Toddler Health", "Childhood Immunization",
     "4 Steps to Manage Your Diabetes for Life", "What I need to know about Physical Activity and Diabetes",
     "Kidney Diseases", "Hearing Aids", "Cervical Cancer Screening", "Cancer Chemotherapy", "Caregivers",
     "Blood Thinners", "Flu Shot", "Anatomy", "Fever", "Monitor Your Diabetes", "Manage Your Weight",
     "Tonsils and Adenoids", "Ear, Nose and Throat", "Mobility Aids", "Infection Control",
     "Deep Brain Stimulation for Parkinson's Disease", "Cancer--Living with Cancer", "Chronic Diarrhea in Children",
     "Eye Infections", "Pneumococcal Infections", "Dual Diagnosis"],
)
def test_not_diagnoses(vocab: Vocabulary, topic: str) -> None:
    assert not is_diagnosis(topic, vocab), (topic, topic_kind(topic, vocab))


@pytest.mark.parametrize(
    ("topic", "name"),
    [
        ("Pneumonia", "Pneumonia"),
        ("Alagille Syndrome", "Alagille Syndrome"),  # unknown to ICD-10-CM titles, still a disease
        ("Asthma in Children", "Asthma"),
        ("What I need to know about Kidney Stones", "Kidney Stones"),
        ("Dermatitis Herpetiformis: Skin Manifestation of Celiac Disease (For Health Care Professionals)",
         "Dermatitis Herpetiformis"),
        ("Parasites - Scabies", "Scabies"),
        ("Urinary tract infection (UTI)", "Urinary tract infection (UTI)"),
        ("Acromegaly", "Acromegaly"),
        ("Breast Cancer", "Breast Cancer"),
        ("Ear Infections", "Ear Infections"),
        ("Hand, Foot and Mouth Disease", "Hand, Foot and Mouth Disease"),  # body parts, but a disease
        ("Head and Neck Cancer", "Head and Neck Cancer"),
        # an NGC conditions field: the name, without the list's lead-in
        ("Chronic pain disorder, including: Nociceptive pain Neuropathic pain Psychogenic pain", "Chronic pain disorder"),
    ],
)
def test_diagnoses(vocab: Vocabulary, topic: str, name: str) -> None:
    assert diagnosis_name(topic, vocab) == name


@pytest.mark.parametrize(
    ("topic", "concept"),
    [("Rotator Cuff Injuries", "icd:M75.1"), ("Poison Ivy, Oak and Sumac", "icd:L23.7"),
     ("Psychotic Disorders", "icd:F29"), ("Anxiety Disorders", "icd:F41"),
     ("Alcoholism and Alcohol Abuse", "icd:F10.2"), ("Temporomandibular Joint Dysfunction", "icd:M26.6"),
     ("Insect Bites and Stings", "icd:T63.4"),
     # pages nothing resolved, so each was a card keyed by its text beside its own disease's card
     ("Coronary Heart Disease", "icd:I25.1"), ("Immune Thrombocytopenia", "icd:D69.3"),
     ("Interstitial Cystitis/Painful Bladder Syndrome", "icd:N30.1"), ("Valley Fever", "icd:B38"),
     ("Chronic Myeloid Leukemia", "icd:C92.1")],
)
def test_a_guideline_page_name_the_curated_table_resolves_is_a_diagnosis(vocab: Vocabulary, topic: str,
                                                                           concept: str) -> None:
    # without the curated rows the group and substance patterns dropped these pages, so the disease had no card
    assert diagnosis_name(topic, vocab) == topic, topic_kind(topic, vocab)
    assert concept_key(topic, vocab) == concept
    assert vocab.curated_code("Eye Diseases") is None and not is_diagnosis("Eye Diseases", vocab)


def test_a_curated_name_is_what_its_code_is(vocab: Vocabulary) -> None:
    assert vocab.curated_code("pinkeye") is not None and topic_kind("Pinkeye", vocab) == "diagnosis"
    assert topic_kind("Cyclic Vomiting Syndrome", vocab) == "symptom"  # not curated; chapter R decides


def test_concept_key(vocab: Vocabulary) -> None:
    assert concept_key("Coronary Heart Disease", vocab) == concept_key("CAD", vocab)
    assert concept_key("Interstitial Cystitis/Painful Bladder Syndrome", vocab) == concept_key("Interstitial Cystitis", vocab)
    assert concept_key("COPD", vocab) == concept_key("chronic obstructive pulmonary disease", vocab) == "icd:J44"
    assert concept_key("Asthma", vocab) == concept_key("Bronchial Asthma", vocab) == "icd:J45"
    assert concept_key("xyzzy syndrome", vocab) == "xyzzy syndrome"
    assert concept_key("COVID-19") == "covid 19"  # no vocabulary: the text key


def test_merges_same_concept_and_drops_non_diagnoses(vocab: Vocabulary) -> None:
    hits = [
        _hit(0, "COPD", "report", 0.90),
        _hit(1, "Chronic obstructive pulmonary disease", "guideline", 0.88),
        _hit(2, "Bronchial Asthma", "report", 0.87),
        _hit(3, "Asthma", "guideline", 0.86),
        _hit(4, "Asthma in Children", "guideline", 0.85),
        _hit(5, "urinary tract infection", "report", 0.84),
        _hit(6, "Urinary Tract Infections", "guideline", 0.84),
        _hit(7, "UTI", "guideline", 0.83),
        _hit(8, "Cough", "guideline", 0.95),
        _hit(9, "Heart Disease in Women", "guideline", 0.90),
        _hit(10, "Toddler Health", "guideline", 0.90),
        _hit(11, "Jaundice", "report", 0.80),  # a practice label competes even if it is a sign
    ]
    pool = collect_candidates(hits, temperature=0.05, guideline_weight=0.5, vocabulary=vocab)
    assert set(pool) == {"icd:J44", "icd:J45", "icd:N39.0", "icd:R17"}
    copd = pool["icd:J44"]
    assert copd.name == "COPD" and copd.aliases == ["COPD", "Chronic obstructive pulmonary disease"]
    assert copd.evidence == ["c0", "c1"] and copd.kinds == {"report": 1, "guideline": 1} and copd.concept == "J44"
    assert pool["icd:J45"].aliases == ["Bronchial Asthma", "Asthma"]
    assert pool["icd:J45"].evidence == ["c2", "c3", "c4"]
    assert len(pool["icd:N39.0"].evidence) == 3
    # votes: the merged candidate sums its hits' weights (dropped topics still set the scale)
    w = hit_weights(hits, 0.05, 0.5)
    assert copd.vote == pytest.approx(w[0] + w[1])


def test_without_vocabulary_behaviour_is_unchanged() -> None:
    hits = [_hit(0, "COPD", "report"), _hit(1, "Cough", "guideline"), _hit(2, "copd", "report")]
    pool = collect_candidates(hits)
    assert set(pool) == {"copd", "cough"}
    assert pool["copd"].evidence == ["c0", "c2"]


def test_findings_against_lower_the_vote(vocab: Vocabulary) -> None:
    fever = Finding("HP:0001945", "Fever", "present", (0, 5))
    flank_absent = Finding("HP:0030157", "Flank pain", "absent", (10, 20))
    case = [fever, flank_absent]
    ev = {
        "c0": [Finding("HP:0001945", "Fever", "present", (0, 5)), Finding("HP:0030157", "Flank pain", "present", (6, 9))],
        "c1": [Finding("HP:0001945", "Fever", "present", (0, 5))],
    }
    hits = [_hit(0, "Pyelonephritis", "guideline", 0.8), _hit(1, "Cystitis", "guideline", 0.8)]
    pool = collect_candidates(hits, vocabulary=vocab, query_findings=case,
                              evidence_findings=lambda h: ev[h.id], against_penalty=0.5)
    pyelo, cyst = pool[concept_key("Pyelonephritis", vocab)], pool[concept_key("Cystitis", vocab)]
    assert pyelo.vote == pytest.approx(cyst.vote * 0.5)
    assert pyelo.against == ["no flank pain"] and pyelo.matched == ["fever"]
    assert cyst.against == [] and cyst.matched == ["fever"]
