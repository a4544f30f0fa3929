"""The indexing pipeline: de-identify -> chunk -> embed -> write a version; update and rebuild.

Order matters for safety: de-identify before anything is embedded or written; the storage writer
(:func:`rag_dx.index.writer.write_version`) builds everything in a hidden partial directory,
checksums and fsyncs it, renames it into place, then flips CURRENT. A failure (or a kill -9) at
any step leaves the previous version serving.

Every version is self-contained (its own FAISS, BM25 and docstore), so rollback is a pointer
switch. An update reuses the vectors of every chunk whose text is unchanged and embeds only new
or changed text; the serving version's chunks are read in batches, so an index of any size can
be updated.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rag_dx.errors import RagDxError
from rag_dx.index.docstore import DocStore
from rag_dx.index.faiss_index import DenseIndex
from rag_dx.index.layout import DENSE_FILE, DOCSTORE_FILE, check_encoder
from rag_dx.index.store import IndexStore
from rag_dx.index.writer import ArtefactWriter, check_unique, write_version
from rag_dx.ingest.loaders import unique_doc_ids
from rag_dx.schemas import Chunk, Guideline, Report

if TYPE_CHECKING:
    from rag_dx.embed import TextEncoder
    from rag_dx.ingest.deid import Deidentifier
    from rag_dx.settings import Settings

log = logging.getLogger(__name__)

#: Chunks read from the serving version's docstore per query during an update.
READ_BATCH = 10_000


def _describe(deid: object) -> dict:
    describe = getattr(deid, "describe", None)
    return describe() if callable(describe) else {"engine": type(deid).__name__}


def text_key(chunk: Chunk) -> str:
    return hashlib.sha256(chunk.text.encode()).hexdigest()


def _encoder(settings: "Settings", encoder: "TextEncoder | None") -> "TextEncoder":
    if encoder is not None:
        return encoder
    from rag_dx.embed import load_encoder

    return load_encoder(settings)


def prepare_chunks(settings: "Settings", encoder: "TextEncoder", reports: list[Report],
                   guidelines: list[Guideline], deid: "Deidentifier | None") -> list[Chunk]:
    """De-identify reports (fail closed), then chunk reports and guidelines in encoder tokens."""
    from rag_dx.ingest.chunking import chunk_guidelines, chunk_reports
    from rag_dx.ingest.deid import deidentify_reports

    if reports and deid is None:
        raise RagDxError("reports cannot be indexed without a de-identifier")
    clean = deidentify_reports(reports, deid) if reports else []
    cs = settings.chunk
    chunks = chunk_reports(clean, encoder.tokenizer, cs.chunk_tokens, cs.overlap_tokens)
    chunks += chunk_guidelines(guidelines, encoder.tokenizer, cs.chunk_tokens, cs.overlap_tokens)
    return chunks


def encode_texts(settings: "Settings", encoder: "TextEncoder", texts: list[str], progress: bool = False) -> np.ndarray:
    """The encoder pass, on the configured engine: this process, or Ray actors (``settings.scale``)
    that load the same encoder and must match its fingerprint (:mod:`rag_dx.embed.ray_engine`)."""
    if settings.scale.engine == "ray" and texts:
        from rag_dx.embed.ray_engine import embed_with_ray

        return embed_with_ray(texts, settings, fingerprint=encoder.fingerprint, dim=encoder.dim, progress=progress)
    return encoder.encode(texts, batch_size=settings.batch_size, progress=progress)


def embed_chunks(settings: "Settings", encoder: "TextEncoder", chunks: list[Chunk],
                 reuse: Mapping[str, np.ndarray] | None = None, progress: bool = False) -> tuple[np.ndarray, int]:
    """Vectors for `chunks`, embedding only texts not found in `reuse`; returns (vectors, n_embedded)."""
    reuse = reuse or {}
    keys = [text_key(c) for c in chunks]
    todo = sorted({k: i for i, k in enumerate(keys) if k not in reuse}.values())
    fresh = encode_texts(settings, encoder, [chunks[i].text for i in todo], progress)
    if fresh.shape != (len(todo), encoder.dim):
        raise RagDxError(f"encoder returned shape {fresh.shape}, expected {(len(todo), encoder.dim)}")
    table = dict(reuse)
    table.update({keys[i]: fresh[j] for j, i in enumerate(todo)})
    vectors = np.stack([table[k] for k in keys]) if chunks else np.zeros((0, encoder.dim), np.float32)
    return np.ascontiguousarray(vectors, dtype=np.float32), len(todo)


def with_practice_model(settings: "Settings", artefacts: Mapping[str, ArtefactWriter] | None,
                        vectors: np.ndarray) -> dict[str, ArtefactWriter]:
    """The caller's artefacts plus what the version learns from its chunks and vectors: the practice
    model and the guideline disease cards (rag_dx.topic_cards)."""
    from rag_dx.practice.model import DIRNAME
    from rag_dx.topic_cards import DIRNAME as CARDS_DIR

    out = dict(artefacts or {})
    if settings.diagnosis.practice_model and DIRNAME not in out:
        def write(partial: Path, chunks: Sequence[Chunk]) -> dict:
            from rag_dx.practice.train import train_practice

            model = train_practice(chunks, vectors, k_dense=settings.retrieval.k_dense,
                                   k_sparse=settings.retrieval.k_sparse,
                                   vote_temperature=settings.diagnosis.vote_temperature,
                                   negation_aware=settings.diagnosis.negation_aware,
                                   finding_tokens=settings.diagnosis.finding_tokens)
            return model.save(partial)

        out[DIRNAME] = write
    if settings.diagnosis.topic_cards and CARDS_DIR not in out:
        def write_cards(partial: Path, chunks: Sequence[Chunk]) -> dict:
            from rag_dx.topic_cards import TopicCards
            from rag_dx.vocab import Vocabulary

            if not any(c.kind == "guideline" and c.label for c in chunks):
                # a reports-only version has no cards; reading the ICD-10-CM vocabulary (about 7 s on
                # 2 cores) would only find that out
                return {"cards": 0}
            cards = TopicCards.build(chunks, vectors, Vocabulary.load(cache_dir=settings.cache_dir))
            return cards.save(partial) if cards is not None else {"cards": 0}

        out[CARDS_DIR] = write_cards
    return out


def build_index(
    settings: "Settings",
    name: str,
    reports: list[Report],
    guidelines: list[Guideline],
    *,
    encoder: "TextEncoder | None" = None,
    deidentifier: "Deidentifier | None" = None,
    progress: bool = False,
    sources: list[str] | None = None,
    switch: bool = True,
    artefacts: Mapping[str, ArtefactWriter] | None = None,
) -> Path:
    """Build and (unless switch=False) switch to a new version of index `name`.

    Args:
        reports: validated reports with raw text; they are de-identified here (fail closed).
        guidelines: public reference passages; not de-identified.
        encoder: defaults to the configured one; tests pass a small fake.
        deidentifier: defaults to `Deidentifier.load()`, which raises if it cannot load.
        sources: file names recorded in the manifest (names only, never content).
        switch: False keeps the new version unserved (for an evaluation gate).
        artefacts: extra artefacts written into the version (see :mod:`rag_dx.index.writer`).
    """
    from rag_dx.ingest.deid import Deidentifier

    if not reports and not guidelines:
        raise RagDxError("nothing to index: no reports and no guidelines were given")
    store = IndexStore(settings.index_dir, name)
    encoder = _encoder(settings, encoder)
    deid = deidentifier or Deidentifier.load()
    chunks = prepare_chunks(settings, encoder, reports, guidelines, deid)
    check_unique(chunks)
    vectors, _ = embed_chunks(settings, encoder, chunks, None, progress)
    extra = {
        "operation": "build",
        "chunking": settings.chunk.model_dump(),
        "deidentification": _describe(deid),
        "sources": [Path(s).name for s in (sources or [])],
        "embedded_chunks": len(chunks),
        "embedding_engine": settings.scale.engine,
    }
    with store.writer_lock():
        store.clean_partials()
        final = write_version(store, chunks, vectors, encoder, extra, switch=switch,
                              faiss_config=settings.faiss,
                              artefacts=with_practice_model(settings, artefacts, vectors))
    log.info("index %s: version %s with %d chunks", name, final.name, len(chunks))
    return final


def read_version_chunks(version_dir: Path, *, dense: DenseIndex | None = None,
                        batch_size: int = READ_BATCH) -> tuple[list[Chunk], dict[str, np.ndarray]]:
    """Every chunk of a version in row order, read `batch_size` rows at a time, and (given its
    dense index) the stored vector of each distinct chunk text, for reuse by an update."""
    store = DocStore(version_dir / DOCSTORE_FILE)
    chunks: list[Chunk] = []
    reuse: dict[str, np.ndarray] = {}
    try:
        for batch in store.iter_chunks(batch_size):
            chunks.extend(chunk for _, chunk in batch)
            if dense is not None:
                fresh = [(row, text_key(chunk)) for row, chunk in batch]
                fresh = [(row, key) for row, key in fresh if key not in reuse]
                if fresh:
                    vectors = dense.vectors_for([row for row, _ in fresh])
                    reuse.update({key: vectors[i] for i, (_, key) in enumerate(fresh) if key not in reuse})
    finally:
        store.close()
    return chunks, reuse


def _update_extra(settings: "Settings", manifest: dict, current: Path, deid, sources, n_embedded: int, *,
                  reembed: bool, old_docs: set[str], replaced: set[str], delete: set[str]) -> dict:
    return {
        "operation": "rebuild" if reembed else "update",
        "parent_version": current.name,
        "chunking": settings.chunk.model_dump(),
        "deidentification": _describe(deid) if deid else manifest.get("deidentification"),
        "sources": [Path(s).name for s in (sources or [])],
        "embedded_chunks": n_embedded,
        "embedding_engine": settings.scale.engine,
        "changes": {
            "added": len(replaced - old_docs),
            "replaced": len(replaced & old_docs),
            "deleted": len(delete - replaced),
        },
    }


def update_index(
    settings: "Settings",
    name: str,
    reports: list[Report],
    *,
    delete_ids: Iterable[str] = (),
    guidelines: list[Guideline] | None = None,
    encoder: "TextEncoder | None" = None,
    deidentifier: "Deidentifier | None" = None,
    progress: bool = False,
    sources: list[str] | None = None,
    reembed: bool = False,
    switch: bool = True,
    artefacts: Mapping[str, ArtefactWriter] | None = None,
) -> Path:
    """Make a new version from the serving one: add reports, replace changed ones by report_id,
    delete listed ids (reports or guideline documents), and add guideline documents.

    Only chunks whose text is not already in the serving version are embedded, unless
    `reembed` (a rebuild, e.g. after fine-tuning the encoder; required when the encoder changed).
    """
    from rag_dx.ingest.deid import Deidentifier

    store = IndexStore(settings.index_dir, name)
    encoder = _encoder(settings, encoder)
    # Reports are de-identified (fail closed); with no new reports nothing needs it.
    deid = deidentifier or (Deidentifier.load() if reports else None)
    delete_list = list(delete_ids)
    delete = set(delete_list)
    with store.writer_lock():
        store.clean_partials()
        current = store.current_dir()
        manifest = store.read_manifest(current)
        store.verify_files(current, manifest)
        if manifest.get("encoder", {}).get("fingerprint") != encoder.fingerprint and not reembed:
            check_encoder(manifest, name, encoder.name, encoder.fingerprint)
        dense = None if reembed else DenseIndex.load(current / DENSE_FILE)
        if dense is not None and not dense.exact_vectors:  # compressed codes: reusing them would degrade vectors
            log.info("index %s: %s holds compressed vectors; every chunk is embedded again", name, current.name)
            dense = None
        old_chunks, reuse = read_version_chunks(current, dense=dense)
        old_docs = {c.doc_id for c in old_chunks}
        unknown = delete - old_docs
        if unknown:
            # by its place in the list, not its value: a report id may identify a patient
            first = next(i for i, d in enumerate(delete_list, start=1) if d in unknown)
            raise RagDxError(f"cannot delete {len(unknown)} id(s) that index '{name}' does not hold "
                             f"(the first is id number {first} of the list given)")
        # A guideline replaces a held one only as its revision (same id and title); MedQuAD's reused
        # ids would otherwise delete other diseases' pages (rag_dx.ingest.loaders.unique_doc_ids).
        held = {c.doc_id: (c.title if c.kind == "guideline" else None) for c in old_chunks if c.doc_id not in delete}
        new_chunks = prepare_chunks(settings, encoder, reports, unique_doc_ids(guidelines or [], held), deid)
        replaced = {c.doc_id for c in new_chunks}
        chunks = [c for c in old_chunks if c.doc_id not in delete and c.doc_id not in replaced] + new_chunks
        if not reembed and _same_chunks(old_chunks, chunks):
            log.info("index %s: the update changes nothing; %s stays the serving version", name, current.name)
            return current
        vectors, n_embedded = embed_chunks(settings, encoder, chunks, reuse, progress)
        extra = _update_extra(settings, manifest, current, deid, sources, n_embedded, reembed=reembed,
                              old_docs=old_docs, replaced=replaced, delete=delete)
        final = write_version(store, chunks, vectors, encoder, extra, switch=switch,
                              faiss_config=settings.faiss,
                              artefacts=with_practice_model(settings, artefacts, vectors))
    log.info("index %s: %s -> %s, %d chunks embedded", name, current.name, final.name, n_embedded)
    return final


def _same_chunks(old: list[Chunk], new: list[Chunk]) -> bool:
    """True when an update would write exactly the chunks the serving version holds (an unchanged
    or header-only file): then no new version is made."""
    return len(old) == len(new) and sorted(c.model_dump_json() for c in old) == sorted(c.model_dump_json() for c in new)


def rebuild_index(settings: "Settings", name: str, *, encoder: "TextEncoder | None" = None,
                  progress: bool = False, switch: bool = True,
                  artefacts: Mapping[str, ArtefactWriter] | None = None) -> Path:
    """Re-embed every chunk of the serving version with the configured encoder (no new input).

    The docstore already holds de-identified text, so nothing is de-identified again.
    """
    return update_index(settings, name, [], encoder=encoder, progress=progress, reembed=True, switch=switch,
                        artefacts=artefacts)
