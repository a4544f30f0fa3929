"""Disease cards: passages grouped per concept, findings weighted by section, case scoring."""

from __future__ import annotations

import pytest

from rag_dx.cards import CardIndex, CardPassage, section_of
from rag_dx.findings import Finding
from rag_dx.vocab import Vocabulary

FEVER, DYSURIA, FLANK, COUGH = "HP:0001945", "HP:0100518", "HP:0030157", "HP:0012735"
NAMES = {FEVER: "Fever", DYSURIA: "Dysuria", FLANK: "Flank pain", COUGH: "Cough"}


def fake_extract(text: str) -> list[Finding]:
    """Keyword findings, all present: enough to make scores exact."""
    out = []
    for word, fid in (("fever", FEVER), ("dysuria", DYSURIA), ("flank", FLANK), ("cough", COUGH)):
        if word in text.lower():
            out.append(Finding(fid, NAMES[fid], "present", (0, 1)))
    return out


def case(present: list[str], absent: list[str] = ()) -> list[Finding]:
    return [Finding(f, NAMES[f], "present", (0, 1)) for f in present] + [
        Finding(f, NAMES[f], "absent", (0, 1)) for f in absent
    ]


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    return Vocabulary.load()


@pytest.fixture(scope="module")
def cards(vocab: Vocabulary) -> CardIndex:
    passages = [
        CardPassage("Cystitis", "Dysuria and frequency.", "p1", "symptoms"),
        CardPassage("Pyelonephritis", "Fever, flank pain and dysuria.", "p2", "symptoms"),
        CardPassage("Pyelonephritis: Kidney Infection", "Untreated it may cause fever.", "p3", "complications"),
        CardPassage("Pneumonia", "Cough and fever.", "p4", None, "What are the symptoms of Pneumonia?"),
        CardPassage("Cough", "Cough is a symptom.", "p5", "information"),  # not a diagnosis: no card
        CardPassage("COPD", "Chronic cough.", "p6", "symptoms"),
        CardPassage("Chronic obstructive pulmonary disease", "Smoking causes it.", "p7", "causes"),
    ]
    return CardIndex.build(passages, vocabulary=vocab, extract=fake_extract)


def test_cards_group_by_concept_and_skip_non_diagnoses(cards: CardIndex, vocab: Vocabulary) -> None:
    assert len(cards) == 4
    pyelo = cards.cards["icd:N12"]
    assert pyelo.passages == ["p2", "p3"] and pyelo.name == "Pyelonephritis"
    assert pyelo.findings == {FEVER: 1.0, FLANK: 1.0, DYSURIA: 1.0}
    copd = cards.cards["icd:J44"]
    assert copd.aliases == ["COPD", "Chronic obstructive pulmonary disease"]
    assert copd.sections == {"symptoms": 1, "causes": 1}
    assert cards.cards["icd:J18"].sections == {"symptoms": 1}  # section inferred from the title


def test_scores_reward_coverage_and_penalize_denied_findings(cards: CardIndex) -> None:
    c = case([DYSURIA], [FEVER, FLANK])
    cyst = cards.score("icd:N30", c)
    pyelo = cards.score("icd:N12", c)
    assert cyst.coverage == pytest.approx(1.0) and cyst.contradiction == 0.0 and cyst.against == ()
    assert cyst.precision == pytest.approx(1.0)  # its only finding is the case's
    assert 0 < pyelo.precision < 1
    assert pyelo.coverage == pytest.approx(1.0) and pyelo.contradiction == pytest.approx(1.0)
    assert pyelo.against == ("no fever", "no flank pain") and pyelo.matched == ("dysuria",)
    ranked = cards.rank(c)
    assert ranked[0].name == "Cystitis" and ranked[-1].score.score < 0
    assert cards.score("nope", c) is None
    assert cards.rank(c, keys=["icd:J44"], top=1)[0].key == "icd:J44"


def test_rare_findings_weigh_more(cards: CardIndex) -> None:
    assert cards.idf(FLANK) > cards.idf(FEVER)  # fever is on more cards


@pytest.mark.parametrize(
    ("title", "section"),
    [("What are the symptoms of Cystitis?", "symptoms"), ("How to diagnose Cystitis?", "exams and tests"),
     ("What causes Cystitis?", "causes"), ("What are the treatments for Cystitis?", "treatment"),
     ("What is (are) Cystitis?", "information"), ("Cystitis", "other")],
)
def test_section_of(title: str, section: str) -> None:
    assert section_of(title) == section


@pytest.mark.parametrize(
    ("title", "topic", "section"),
    [("What is (are) Common Cold ?", "Common Cold", "information"),
     ("What are the symptoms of Common Cold ?", "Common Cold", "symptoms"),
     ("What is (are) Drug Reactions ?", "Drug Reactions", "information"),
     ("How many people are affected by Common variable immunodeficiency ?", "Common variable immunodeficiency",
      "frequency"),
     ("What causes Vital Signs ?", "vital signs", "causes")],
)
def test_section_of_reads_the_topic_out_of_the_title_first(title: str, topic: str, section: str) -> None:
    assert section_of(title, topic) == section


def test_without_the_topic_the_diseases_own_words_decide_the_section() -> None:
    assert section_of("What is (are) Common Cold ?") == "frequency"  # why build passes the topic


@pytest.mark.slow
def test_cards_with_real_findings(vocab: Vocabulary) -> None:
    from rag_dx.findings import extract_findings

    cards = CardIndex.build(
        [CardPassage("Cystitis", "Symptoms are burning on urination and frequent urination.", "c1", "symptoms"),
         CardPassage("Pyelonephritis", "Fever, flank pain and painful urination.", "c2", "symptoms")],
        vocabulary=vocab,
    )
    ranked = cards.rank(extract_findings("Burning on urination; no fever, no flank pain."))
    assert [r.name for r in ranked] == ["Cystitis", "Pyelonephritis"]
    assert ranked[1].score.against == ("no fever", "no flank pain")
