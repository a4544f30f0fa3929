"""The commonness prior of the disease cards: the shipped table, lookups, bad rows, and the switch."""

from __future__ import annotations

import numpy as np
import pytest

from rag_dx.commonness import log_counts, read_commonness
from rag_dx.errors import ConfigError
from rag_dx.schemas import Chunk
from rag_dx.topic_cards import TopicCards
from rag_dx.vocab import Vocabulary

DIM = 8


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    return Vocabulary.load()


def test_the_shipped_table_ranks_common_diseases_above_rare_ones(vocab: Vocabulary) -> None:
    from rag_dx.candidates import concept_key

    table = read_commonness()
    assert len(table) > 100
    count = lambda name: table.get(concept_key(name, vocab), 0)  # noqa: E731
    for common in ("Hypertension", "Pneumonia", "Hypothyroidism", "Asthma", "Urinary Tract Infection"):
        assert count(common) >= 10, common
    for rare in ("Kawasaki Disease", "Stiff-Person Syndrome", "Septo-Optic Dysplasia"):
        assert count(rare) < count("Pneumonia"), rare


def test_a_card_is_found_by_concept_key_then_by_name() -> None:
    table = {"icd:J18": 36, "medullary sponge kidney": 2}
    got = log_counts(["icd:J18", "medullary sponge kidney", "icd:Q99"], ["Pneumonia", "Medullary Sponge Kidney", "X"],
                     table)
    assert got == pytest.approx(np.log1p([36, 2, 0]))


@pytest.mark.parametrize("row, field", [("icd:J18\tmany\tPneumonia", "count"), ("icd:J18", "key"),
                                        ("icd:J18\t-3\tPneumonia", "count"), ("\t4\tx", "key")])
def test_a_bad_row_names_the_file_line_and_field(tmp_path, row: str, field: str) -> None:
    path = tmp_path / "commonness.tsv"
    path.write_text(f"# header\nicd:I10\t182\tHypertension\n{row}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"commonness.tsv:3 field '{field}'"):
        read_commonness(path)


def _cards(vocab: Vocabulary) -> TopicCards:
    text = "Swollen red painful skin with fever."
    chunks = [Chunk(chunk_id=f"G:{i}", kind="guideline", doc_id=f"d{i}", title=f"What are the symptoms of {t}?",
                    text=text, label=t, source="MPlusHealthTopics")
              for i, t in enumerate(["Cellulitis", "Kawasaki Disease"])]
    vectors = np.ones((2, DIM), np.float32) / np.sqrt(DIM)
    cards = TopicCards.build(chunks, vectors, vocab)
    assert cards is not None
    return cards


def test_between_two_equally_matching_cards_the_common_disease_leads_and_zero_switches_it_off(vocab) -> None:
    cards = _cards(vocab)
    q = np.ones(DIM, np.float32) / np.sqrt(DIM)
    on = cards.scores("red swollen skin and fever", q)
    off = cards.scores("red swollen skin and fever", q, common_prior=0.0)
    cell, kawa = cards.names.index("Cellulitis"), cards.names.index("Kawasaki Disease")
    assert off[cell] == pytest.approx(off[kawa])  # the same passage text and vector: a tie without the prior
    assert on[cell] > on[kawa]
    assert on[cell] - off[cell] == pytest.approx(0.03 * cards.common[cell])
    assert cards.rank("red swollen skin and fever", q, top=1)[0][0] == cell


def test_the_table_counts_diagnosis_sections_only_and_plain_name_forms() -> None:
    from eval.commonness_table import diagnosis_text, surface_forms

    note = ("HISTORY OF PRESENT ILLNESS:, She had a stroke of luck. PAST MEDICAL HISTORY:, Hypertension. "
            "PHYSICAL EXAMINATION:, Normal. IMPRESSION:, Cellulitis of the leg.")
    text = diagnosis_text(note)
    assert "Hypertension" in text and "Cellulitis" in text
    assert "stroke" not in text and "Normal" not in text
    assert surface_forms("Chronic Fatigue Syndrome (CFS)") == {"chronic fatigue syndrome", "cfs"}
    assert surface_forms("Kidney Stones") == {"kidney stones", "kidney stone"}


def test_the_floors_card_test_reads_the_match_alone_not_the_prior(vocab) -> None:
    """A common practice diagnosis lifted into the case's cards by the prior is no sign the case is one."""
    from rag_dx.practice.floor import supported_probabilities
    from rag_dx.practice.serve import card_topics

    chunks = [Chunk(chunk_id=f"G:{i}", kind="guideline", doc_id=f"d{i}", title=f"What are the symptoms of {t}?",
                    text="fever and rash for days", label=t, source="MPlusHealthTopics")
              for i, t in enumerate(["Pneumonia", "Kawasaki Disease"])]
    vectors = np.eye(2, DIM, dtype=np.float32)
    cards = TopicCards.build(chunks, vectors, vocab)
    assert cards is not None
    q = np.array([0.6, 0.8] + [0.0] * (DIM - 2), np.float32)  # matches Kawasaki by 0.2 more than Pneumonia
    pneu, kawa = cards.names.index("Pneumonia"), cards.names.index("Kawasaki Disease")
    fetch = lambda rows: dict(enumerate(chunks))  # noqa: E731
    ranker = [(("icd:J18", "pneumonia"), 0.9)]
    strong = card_topics(cards, "fever and rash", q, fetch, top=1, common_prior=1.0)
    assert strong.candidates[0].name == "Pneumonia"  # the prior alone put it first
    assert [c.name for c in strong.matched] == ["Kawasaki Disease"]
    assert supported_probabilities(strong, ranker, vocab) == []
    off = card_topics(cards, "fever and rash", q, fetch, top=1, common_prior=0.0)
    assert off.matched is None and off.candidates[0].name == "Kawasaki Disease"
    same = card_topics(cards, "fever and rash", np.eye(1, DIM, pneu, dtype=np.float32)[0], fetch, top=1)
    assert same.matched is None  # the prior changed nothing: the cards shown are the cards judged
    assert supported_probabilities(same, ranker, vocab) == [0.9]


def test_a_practices_own_table_replaces_the_bundled_counts(tmp_path, vocab) -> None:
    """`diagnosis.commonness_table`: a practice that sees Kawasaki disease daily can say so."""
    cards = _cards(vocab)
    entry = cards.save(tmp_path)
    own = {"icd:M30.3": 500}
    loaded = TopicCards.load(tmp_path, entry, commonness=own)
    q = np.ones(DIM, np.float32) / np.sqrt(DIM)
    kawa, cell = loaded.names.index("Kawasaki Disease"), loaded.names.index("Cellulitis")
    assert loaded.keys[kawa] == "icd:M30.3"
    assert loaded.common[kawa] == pytest.approx(np.log1p(500)) and loaded.common[cell] == 0.0
    assert loaded.rank("red swollen skin and fever", q, top=1)[0][0] == kawa
    assert TopicCards.load(tmp_path, entry).rank("red swollen skin and fever", q, top=1)[0][0] == cell


def test_a_bad_own_table_stops_the_assistant_at_start_naming_the_file(tmp_path, fake_encoder) -> None:
    from rag_dx.diagnose import build_assistant
    from tests.helpers import KeywordScorer, build_fixture_assistant

    plain = build_fixture_assistant(tmp_path / "idx", fake_encoder)
    bad = tmp_path / "ours.tsv"
    bad.write_text("icd:I10\tlots\tHypertension\n", encoding="utf-8")
    for path, message in ((bad, r"ours.tsv:1 field 'count'"), (tmp_path / "missing.tsv", r"missing.tsv: the commonness")):
        settings = plain.settings.model_copy(update={"diagnosis": plain.settings.diagnosis.model_copy(
            update={"commonness_table": path})})
        with pytest.raises(ConfigError, match=message):
            build_assistant(settings, "fx", encoder=fake_encoder, generator=KeywordScorer(), load_vocabulary=False)
    good = tmp_path / "good.tsv"
    good.write_text("# ours\nicd:I10\t7\tHypertension\n", encoding="utf-8")
    settings = plain.settings.model_copy(update={"diagnosis": plain.settings.diagnosis.model_copy(
        update={"commonness_table": good})})
    assistant = build_assistant(settings, "fx", encoder=fake_encoder, generator=KeywordScorer(), load_vocabulary=False)
    assert assistant.commonness == {"icd:I10": 7}
    assert assistant.diagnose("burning urination and frequency").differential
