"""Chunking in encoder tokens: ids, citation fields, size limits, overlap and self-describing
guideline chunks. Uses the real MiniLM tokenizer (via the session `fake_encoder`)."""

from __future__ import annotations

import re

import pytest

from rag_dx.ingest.chunking import chunk_guidelines, chunk_reports
from rag_dx.schemas import Guideline, Report

SENTENCES = [
    f"Sentence {i} describes finding number {i} with {w} detail about the patient's {w} symptoms."
    for i, w in enumerate(["cardiac", "renal", "hepatic", "pulmonary", "neurologic", "dermatologic"] * 12)
]
LONG_TEXT = " ".join(SENTENCES[:36]) + "\n\n" + " ".join(SENTENCES[36:])


@pytest.fixture(scope="module")
def tokenizer(fake_encoder):
    return fake_encoder.tokenizer


def _ntok(tokenizer, text: str) -> int:
    return len(tokenizer.tokenize(text))


def test_short_report_is_one_chunk(tokenizer) -> None:
    r = Report(report_id="a1", text="  Fever and cough for two weeks.  ", diagnosis="Pneumonia", icd10="J18.9",
               date="2023", specialty="Pulmonology", source="reports.csv", line=2)
    (c,) = chunk_reports([r], tokenizer, 200, 30)
    assert c.chunk_id == "R:a1#0" and c.kind == "report" and c.doc_id == "a1"
    assert c.title == "Report a1 (Pulmonology)"
    assert c.text == "Fever and cough for two weeks."
    assert (c.label, c.icd10, c.source, c.date, c.url) == ("Pneumonia", "J18.9", "reports.csv", "2023", None)
    (c2,) = chunk_reports([Report(report_id="b", text="Rash.")], tokenizer, 200, 30)
    assert c2.title == "Report b" and c2.label is None


def test_long_report_is_split_within_the_limit(tokenizer) -> None:
    r = Report(report_id="long", text=LONG_TEXT, diagnosis="X")
    chunks = chunk_reports([r], tokenizer, 64, 16)
    assert len(chunks) > 3
    assert [c.chunk_id for c in chunks] == [f"R:long#{i}" for i in range(len(chunks))]
    assert all(_ntok(tokenizer, c.text) <= 64 for c in chunks)
    assert all(c.label == "X" and c.doc_id == "long" for c in chunks)
    # every sentence survives somewhere, and consecutive chunks overlap
    for s in SENTENCES:
        assert any(s in c.text for c in chunks), s
    # sentence-aware: chunks end at a sentence boundary
    assert all(c.text.endswith(".") for c in chunks)


def test_consecutive_chunks_overlap(tokenizer) -> None:
    text = " ".join(f"Finding {i} is {w}." for i, w in enumerate(["mild", "severe", "acute", "chronic"] * 10))
    chunks = chunk_reports([Report(report_id="o", text=text)], tokenizer, 40, 16)
    assert len(chunks) > 3
    for a, b in zip(chunks, chunks[1:]):
        first_sentence = re.match(r"[^.]*\.", b.text).group(0)
        assert first_sentence in a.text  # the overlap repeats the end of the previous chunk


def test_no_overlap_means_no_repeated_sentences(tokenizer) -> None:
    chunks = chunk_reports([Report(report_id="n", text=LONG_TEXT)], tokenizer, 64, 0)
    for s in SENTENCES:
        assert sum(s in c.text for c in chunks) == 1


def test_guideline_chunks_are_self_describing(tokenizer) -> None:
    title = "What is (are) Chronic Kidney Disease ?"
    g = Guideline(doc_id="0000042-1", title=title, text=title + "\n" + LONG_TEXT, topic="Chronic Kidney Disease",
                  source="NIDDK", url="https://example.org/ckd", date="2019-01-01")
    chunks = chunk_guidelines([g], tokenizer, 64, 8)
    assert len(chunks) > 3
    assert [c.chunk_id for c in chunks] == [f"G:0000042-1#{i}" for i in range(len(chunks))]
    assert all(c.kind == "guideline" and c.title == title and c.label == "Chronic Kidney Disease" for c in chunks)
    assert all((c.source, c.url, c.date, c.icd10) == ("NIDDK", "https://example.org/ckd", "2019-01-01", None)
               for c in chunks)
    assert chunks[0].text.startswith(title) and chunks[0].text.count(title) == 1
    for c in chunks[1:]:
        assert c.text.startswith(title + "\n")
    assert all(_ntok(tokenizer, c.text) <= 64 for c in chunks)
    for s in SENTENCES:
        assert any(s in c.text for c in chunks), s


def test_guideline_long_title_is_cut_in_the_prefix(tokenizer) -> None:
    title = "A very long guideline title " * 20
    g = Guideline(doc_id="t", title=title.strip(), text=LONG_TEXT)
    chunks = chunk_guidelines([g], tokenizer, 64, 8)
    assert chunks[0].text.startswith("Sentence 0")  # the first chunk gets nothing prepended
    assert all(_ntok(tokenizer, c.text) <= 64 for c in chunks)
    assert chunks[1].text.startswith("A very long guideline title") and " ...\n" in chunks[1].text


def test_short_guideline_is_one_chunk(tokenizer) -> None:
    g = Guideline(doc_id="g1", title="Migraine", text="Migraine causes throbbing headache.", topic="Migraine")
    (c,) = chunk_guidelines([g], tokenizer, 200, 30)
    assert (c.chunk_id, c.text, c.label) == ("G:g1#0", "Migraine causes throbbing headache.", "Migraine")


def test_bad_arguments(tokenizer) -> None:
    r = [Report(report_id="a", text="x")]
    with pytest.raises(ValueError):
        chunk_reports(r, tokenizer, 32, 32)
    with pytest.raises(ValueError):
        chunk_guidelines([], tokenizer, 0, 0)
    with pytest.raises(TypeError):
        chunk_reports(r, object(), 32, 4)
    assert chunk_reports([], tokenizer, 32, 4) == []
