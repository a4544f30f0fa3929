"""Index build, load, manifest and atomic switching, on a fake encoder so results are exact."""

from __future__ import annotations

import json

import pytest

from rag_dx.errors import IndexMismatchError, IndexNotFoundError, RagDxError
from rag_dx.build import build_index
from rag_dx.index.reader import open_index
from rag_dx.index.store import IndexStore, check_name
from rag_dx.retrieve import Retriever
from rag_dx.settings import Settings
from tests.helpers import PassThroughDeid, fixture_guidelines, fixture_reports


@pytest.fixture()
def settings(tmp_path):
    return Settings(index_dir=tmp_path / "idx")


@pytest.fixture()
def built(settings, fake_encoder):
    path = build_index(settings, "fx", fixture_reports(), fixture_guidelines(), encoder=fake_encoder,
                       deidentifier=PassThroughDeid())
    return settings, path


def test_build_writes_a_self_describing_version(built, fake_encoder):
    settings, path = built
    names = {p.name for p in path.iterdir()}
    assert {"manifest.json", "dense.faiss", "docstore.sqlite", "bm25"} <= names
    assert not any(p.suffix in {".pkl", ".pickle"} for p in path.rglob("*"))
    m = json.loads((path / "manifest.json").read_text())
    assert m["encoder"]["fingerprint"] == fake_encoder.fingerprint
    assert m["dim"] == fake_encoder.dim and m["metric"] == "inner_product"
    assert m["faiss_factory"] == "IDMap2,Flat"
    assert m["counts"]["reports"] == 12 and m["counts"]["guidelines"] == 3
    assert m["counts"]["chunks"] == m["counts"]["vectors"] == 15
    assert len(m["corpus_fingerprint"]) == 64 and m["created_at"] and m["package_version"]
    assert set(m["files"]) >= {"dense.faiss", "docstore.sqlite"}
    assert IndexStore(settings.index_dir, "fx").current_version() == path.name == "v0001"


def test_second_build_switches_pointer_and_keeps_old(built, fake_encoder):
    settings, first = built
    second = build_index(settings, "fx", fixture_reports()[:6], [], encoder=fake_encoder,
                         deidentifier=PassThroughDeid())
    store = IndexStore(settings.index_dir, "fx")
    assert second.name == "v0002" and store.current_version() == "v0002"
    assert first.is_dir()
    loaded = open_index(settings.index_dir, "fx", encoder_name="fake", encoder_fingerprint=fake_encoder.fingerprint)
    assert loaded.dense.ntotal == 6


def test_mismatched_encoder_is_refused_with_instructions(built):
    settings, _ = built
    with pytest.raises(IndexMismatchError, match="rag-dx index build --name fx"):
        open_index(settings.index_dir, "fx", encoder_name="other", encoder_fingerprint="0" * 64)


def test_flipped_byte_is_detected(built, fake_encoder):
    settings, path = built
    target = path / "dense.faiss"
    data = bytearray(target.read_bytes())
    data[-5] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(RagDxError, match="checksum mismatch"):
        open_index(settings.index_dir, "fx", encoder_name="fake", encoder_fingerprint=fake_encoder.fingerprint)


def test_missing_index_says_what_to_run(settings, fake_encoder):
    with pytest.raises(IndexNotFoundError, match="rag-dx index build --name nope"):
        open_index(settings.index_dir, "nope", encoder_name="fake", encoder_fingerprint=fake_encoder.fingerprint)


def test_failed_build_leaves_previous_version_serving(built, fake_encoder, monkeypatch):
    settings, first = built
    import rag_dx.index.writer as build_mod

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(build_mod.SparseIndex, "build", boom)
    with pytest.raises(RuntimeError):
        build_index(settings, "fx", fixture_reports(), [], encoder=fake_encoder, deidentifier=PassThroughDeid())
    store = IndexStore(settings.index_dir, "fx")
    assert store.current_version() == first.name
    assert [p.name for p in store.versions()] == [first.name]
    assert not list(store.versions_dir.glob(".partial-*"))


def test_leftover_partial_is_cleaned_by_next_build(built, fake_encoder):
    settings, _ = built
    store = IndexStore(settings.index_dir, "fx")
    leftover = store.versions_dir / ".partial-999-1"
    leftover.mkdir()
    (leftover / "dense.faiss").write_bytes(b"trunc")
    build_index(settings, "fx", fixture_reports(), [], encoder=fake_encoder, deidentifier=PassThroughDeid())
    assert not leftover.exists()


@pytest.mark.parametrize("bad", ["../x", "a/b", ".hidden", "", "x" * 65])
def test_index_names_cannot_escape(bad):
    with pytest.raises(RagDxError):
        check_name(bad)


def test_retrieval_finds_the_right_cases(built, fake_encoder):
    settings, _ = built
    loaded = open_index(settings.index_dir, "fx", encoder_name="fake", encoder_fingerprint=fake_encoder.fingerprint)
    retriever = Retriever(index=loaded, encoder=fake_encoder, settings=settings.retrieval)
    hits = retriever.search("itchy silvery scaly plaques on my elbows and knees", k=5)
    assert hits[0].chunk.kind == "report" and hits[0].chunk.label == "Psoriasis"
    assert [h.chunk.label for h in hits[:3]] == ["Psoriasis"] * 3
    assert all(h.dense_score is not None for h in hits)
    assert hits == sorted(hits, key=lambda h: -h.score)
    # Guideline passages are evidence too.
    hits = retriever.search("throbbing headache with photophobia and aura", k=6)
    kinds = {h.chunk.kind for h in hits}
    assert kinds == {"report", "guideline"}
    assert hits[0].chunk.label == "Migraine"


def test_excluded_documents_never_come_back(built, fake_encoder):
    settings, _ = built
    loaded = open_index(settings.index_dir, "fx", encoder_name="fake", encoder_fingerprint=fake_encoder.fingerprint)
    retriever = Retriever(index=loaded, encoder=fake_encoder, settings=settings.retrieval)
    query = fixture_reports()[3].text
    assert retriever.search(query, k=3)[0].chunk.doc_id == "fx-003"
    hits = retriever.search(query, k=3, exclude_doc_ids={"fx-003"})
    assert "fx-003" not in {h.chunk.doc_id for h in hits} and len(hits) == 3


def test_an_exclusion_retrieves_what_the_index_without_those_documents_would(built, fake_encoder):
    """Leakage control must not change the retrieval it guards: the lists are cut to their usual
    length after the excluded documents leave them, so excluding a document absent from the index
    changes nothing (the evaluation excludes every case's own id; it used to fuse longer lists, and a
    vignette typed into the UI was routed otherwise than the same vignette evaluated)."""
    settings, _ = built
    loaded = open_index(settings.index_dir, "fx", encoder_name="fake", encoder_fingerprint=fake_encoder.fingerprint)
    short = settings.retrieval.model_copy(update={"k_dense": 3, "k_sparse": 3})
    retriever = Retriever(index=loaded, encoder=fake_encoder, settings=short)
    for report in fixture_reports():
        vector = fake_encoder.encode([report.text])[0]
        for k in (3, 5, 8):
            plain = retriever.search_channels(report.text, vector, k=k)
            absent = retriever.search_channels(report.text, vector, k=k, exclude_doc_ids={"no-such-report", "nor-this"})
            assert absent == plain, (report.report_id, k)
    query = fixture_reports()[3].text
    vector = fake_encoder.encode([query])[0]
    plain = retriever.search_channels(query, vector, k=4)
    gone = retriever.search_channels(query, vector, k=4, exclude_doc_ids={"fx-003"})
    assert len(gone.dense) == len(plain.dense) == 3 and 0 < len(gone.hits) <= 4
    assert "fx-003" not in {h.chunk.doc_id for h in gone.dense + gone.sparse + gone.hits}
    kept = [h.chunk.chunk_id for h in plain.dense if h.chunk.doc_id != "fx-003"]
    assert [h.chunk.chunk_id for h in gone.dense][: len(kept)] == kept  # the rest move up, in order
    assert [h.dense_rank for h in gone.dense] == [1, 2, 3]


def test_extra_artefacts_are_written_checksummed_and_listed(tmp_path, fake_encoder):
    """The writer's extension point: an artefact writes under partial/NAME and returns its manifest entry."""
    import json

    from rag_dx.build import build_index
    from rag_dx.errors import IndexCorruptError
    from rag_dx.index.layout import read_manifest, verify_files
    from rag_dx.settings import Settings

    def write_labels(partial, chunks):
        (partial / "labels").mkdir()
        (partial / "labels" / "labels.json").write_text(json.dumps(sorted({c.label for c in chunks if c.label})))
        return {"status": "ok"}

    settings = Settings(index_dir=tmp_path / "idx")
    path = build_index(settings, "art", fixture_reports(), [], encoder=fake_encoder, deidentifier=PassThroughDeid(),
                       artefacts={"labels": write_labels})
    manifest = read_manifest(path)
    assert "labels" in manifest["artefacts"] and manifest["labels"] == {"status": "ok"}
    assert "labels/labels.json" in manifest["files"]
    verify_files(path, manifest)
    (path / "labels" / "labels.json").write_text("[]")
    with pytest.raises(IndexCorruptError, match="labels/labels.json"):
        verify_files(path, manifest)
    with pytest.raises(Exception, match="reserved"):
        build_index(settings, "art", fixture_reports(), [], encoder=fake_encoder, deidentifier=PassThroughDeid(),
                    artefacts={"bm25": write_labels})


def test_a_version_built_with_another_reading_of_names_and_findings_is_served_with_a_warning(built, fake_encoder,
                                                                                            monkeypatch, caplog):
    import rag_dx.provenance as provenance
    from rag_dx.provenance import READING_SOURCES, reading_digest

    settings, path = built
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["reading_digest"] == reading_digest()
    assert {"vocab.py", "finding_terms.py", "data/curated_synonyms.tsv"} <= set(READING_SOURCES)
    same = open_index(settings.index_dir, "fx", encoder_name="fake", encoder_fingerprint=fake_encoder.fingerprint)
    assert same.warnings == []
    monkeypatch.setattr(provenance, "reading_digest", lambda: "0" * 16)  # as if the vocabulary had changed since
    moved = open_index(settings.index_dir, "fx", encoder_name="fake", encoder_fingerprint=fake_encoder.fingerprint)
    assert len(moved.warnings) == 1 and "rebuilt" in moved.warnings[0] and "--name fx" in moved.warnings[0]
    assert moved.warnings[0] in caplog.text  # logged as well, so a batch evaluation shows it


def test_the_demo_index_is_rebuilt_when_it_was_built_with_another_reading(built, monkeypatch):
    import rag_dx.provenance as provenance
    from rag_dx.commands.diagnose import _read_otherwise

    settings, _ = built
    store = IndexStore(settings.index_dir, "fx")
    assert not _read_otherwise(store)
    monkeypatch.setattr(provenance, "reading_digest", lambda: "0" * 16)
    assert _read_otherwise(store)  # `rag-dx demo` rebuilds it, where another index only warns
