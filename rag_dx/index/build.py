"""Build, update and rebuild index versions; switch to a new version only when it is complete.

Order matters for safety: de-identify before anything is embedded or written, build everything
into a hidden partial directory, checksum and fsync it, rename it into place, then flip CURRENT.
A failure (or a kill -9) at any step leaves the previous version serving.

Every version is self-contained (its own FAISS, BM25 and docstore), so rollback is a pointer
switch. An update reuses the vectors of every chunk whose text is unchanged and embeds only new
or changed text.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rag_dx import __version__
from rag_dx.errors import RagDxError
from rag_dx.index.bm25 import SparseIndex
from rag_dx.index.docstore import DocStore, write_docstore
from rag_dx.index.faiss_index import METRIC, DenseIndex, FaissConfig
from rag_dx.index.store import FORMAT_VERSION, IndexStore, git_commit, utc_now
from rag_dx.schemas import Chunk, Guideline, Report

if TYPE_CHECKING:
    from rag_dx.embed import TextEncoder
    from rag_dx.ingest.deid import Deidentifier
    from rag_dx.settings import Settings

log = logging.getLogger(__name__)

DENSE_FILE = "dense.faiss"
DOCSTORE_FILE = "docstore.sqlite"
BM25_DIR = "bm25"


def _describe(deid: object) -> dict:
    describe = getattr(deid, "describe", None)
    return describe() if callable(describe) else {"engine": type(deid).__name__}


def corpus_fingerprint(chunks: list[Chunk]) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        for part in (chunk.chunk_id, chunk.kind, chunk.label or "", chunk.text):
            digest.update(part.encode())
            digest.update(b"\x00")
    return digest.hexdigest()


def _text_key(chunk: Chunk) -> str:
    return hashlib.sha256(chunk.text.encode()).hexdigest()


def _check_unique(chunks: Iterable[Chunk]) -> None:
    seen: set[str] = set()
    for chunk in chunks:
        if chunk.chunk_id in seen:
            raise RagDxError(f"duplicate chunk id {chunk.chunk_id}: report and guideline ids must be unique")
        seen.add(chunk.chunk_id)


def _prepare_chunks(settings: "Settings", encoder: "TextEncoder", reports: list[Report],
                    guidelines: list[Guideline], deid: "Deidentifier | None") -> list[Chunk]:
    from rag_dx.ingest.chunking import chunk_guidelines, chunk_reports
    from rag_dx.ingest.deid import deidentify_reports

    if reports and deid is None:
        raise RagDxError("reports cannot be indexed without a de-identifier")
    clean = deidentify_reports(reports, deid) if reports else []
    cs = settings.chunk
    chunks = chunk_reports(clean, encoder.tokenizer, cs.chunk_tokens, cs.overlap_tokens)
    chunks += chunk_guidelines(guidelines, encoder.tokenizer, cs.chunk_tokens, cs.overlap_tokens)
    return chunks


def _embed(settings: "Settings", encoder: "TextEncoder", chunks: list[Chunk],
           reuse: dict[str, np.ndarray] | None, progress: bool) -> tuple[np.ndarray, int]:
    """Vectors for `chunks`, embedding only texts not found in `reuse`; returns (vectors, n_embedded)."""
    reuse = reuse or {}
    keys = [_text_key(c) for c in chunks]
    todo = sorted({k: i for i, k in enumerate(keys) if k not in reuse}.values())
    fresh = encoder.encode([chunks[i].text for i in todo], batch_size=settings.batch_size, progress=progress)
    if fresh.shape != (len(todo), encoder.dim):
        raise RagDxError(f"encoder returned shape {fresh.shape}, expected {(len(todo), encoder.dim)}")
    table = dict(reuse)
    table.update({keys[i]: fresh[j] for j, i in enumerate(todo)})
    vectors = np.stack([table[k] for k in keys]) if chunks else np.zeros((0, encoder.dim), np.float32)
    return np.ascontiguousarray(vectors, dtype=np.float32), len(todo)


def _faiss_config(settings: "Settings") -> FaissConfig:
    faiss_settings = getattr(settings, "faiss", None)
    return FaissConfig(**faiss_settings.model_dump()) if faiss_settings is not None else FaissConfig()


def _write_version(store: IndexStore, chunks: list[Chunk], vectors: np.ndarray, encoder: "TextEncoder",
                   extra: dict, *, switch: bool = True, faiss_config: FaissConfig | None = None) -> Path:
    """Write one complete version under the writer lock (the caller holds it).

    The FAISS type follows the corpus size (exact below `faiss_config.exact_below`, IVF above).
    """
    _check_unique(chunks)
    if not chunks:
        raise RagDxError("refusing to write an empty index version")
    partial = store.new_partial()
    try:
        row_ids = np.asarray(write_docstore(partial / DOCSTORE_FILE, chunks), dtype=np.int64)
        dense = DenseIndex.build_auto(vectors, row_ids, faiss_config)
        dense.save(partial / DENSE_FILE)
        SparseIndex.build([c.text for c in chunks], row_ids).save(partial / BM25_DIR)
        report_docs = {c.doc_id for c in chunks if c.kind == "report"}
        guideline_docs = {c.doc_id for c in chunks if c.kind == "guideline"}
        manifest = {
            "format_version": FORMAT_VERSION,
            "name": store.name,
            "version": store.next_version_name(),
            "created_at": utc_now(),
            "package_version": __version__,
            "git_commit": git_commit(),
            "encoder": {"name": encoder.name, "fingerprint": encoder.fingerprint, "dim": encoder.dim},
            "dim": encoder.dim,
            "metric": METRIC,
            "faiss_factory": dense.factory,
            "faiss": dense.describe(),
            "corpus_fingerprint": corpus_fingerprint(chunks),
            "counts": {
                "reports": len(report_docs),
                "guidelines": len(guideline_docs),
                "chunks": len(chunks),
                "report_chunks": sum(c.kind == "report" for c in chunks),
                "guideline_chunks": sum(c.kind == "guideline" for c in chunks),
                "vectors": dense.ntotal,
            },
            **extra,
        }
        return store.commit(partial, manifest, switch=switch)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


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
) -> Path:
    """Build and (unless switch=False) switch to a new version of index `name`.

    Args:
        reports: validated reports with raw text; they are de-identified here (fail closed).
        guidelines: public reference passages; not de-identified.
        encoder: defaults to the configured one; tests pass a small fake.
        deidentifier: defaults to `Deidentifier.load()`, which raises if it cannot load.
        sources: file names recorded in the manifest (names only, never content).
        switch: False keeps the new version unserved (for an evaluation gate).
    """
    from rag_dx.ingest.deid import Deidentifier

    if not reports and not guidelines:
        raise RagDxError("nothing to index: no reports and no guidelines were given")
    store = IndexStore(settings.index_dir, name)
    if encoder is None:
        from rag_dx.embed import load_encoder

        encoder = load_encoder(settings)
    deid = deidentifier or Deidentifier.load()
    chunks = _prepare_chunks(settings, encoder, reports, guidelines, deid)
    _check_unique(chunks)
    vectors, _ = _embed(settings, encoder, chunks, None, progress)
    extra = {
        "operation": "build",
        "chunking": settings.chunk.model_dump(),
        "deidentification": _describe(deid),
        "sources": [Path(s).name for s in (sources or [])],
        "embedded_chunks": len(chunks),
    }
    with store.writer_lock():
        store.clean_partials()
        final = _write_version(store, chunks, vectors, encoder, extra, switch=switch,
                               faiss_config=_faiss_config(settings))
    log.info("index %s: version %s with %d chunks", name, final.name, len(chunks))
    return final


def _read_all_chunks(version_dir: Path) -> tuple[list[Chunk], list[int]]:
    store = DocStore(version_dir / DOCSTORE_FILE)
    try:
        row_ids = store.all_row_ids()
        chunks = store.get(row_ids)
        return [chunks[r] for r in row_ids], row_ids
    finally:
        store.close()


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
) -> Path:
    """Make a new version from the serving one: add reports, replace changed ones by report_id,
    delete listed ids (reports or guideline documents), and add guideline documents.

    Only chunks whose text is not already in the serving version are embedded, unless
    `reembed` (a rebuild, e.g. after fine-tuning the encoder; required when the encoder changed).
    """
    from rag_dx.index.reader import check_encoder
    from rag_dx.ingest.deid import Deidentifier

    store = IndexStore(settings.index_dir, name)
    if encoder is None:
        from rag_dx.embed import load_encoder

        encoder = load_encoder(settings)
    # Reports are de-identified (fail closed); with no new reports nothing needs it.
    deid = deidentifier or (Deidentifier.load() if reports else None)
    delete = set(delete_ids)
    with store.writer_lock():
        store.clean_partials()
        current = store.current_dir()
        manifest = store.read_manifest(current)
        store.verify_files(current, manifest)
        encoder_changed = manifest.get("encoder", {}).get("fingerprint") != encoder.fingerprint
        if encoder_changed and not reembed:
            check_encoder(manifest, name, encoder.name, encoder.fingerprint)
        old_chunks, old_rows = _read_all_chunks(current)
        unknown = delete - {c.doc_id for c in old_chunks}
        if unknown:
            raise RagDxError(f"cannot delete {len(unknown)} id(s) that index '{name}' does not hold "
                             f"(first: {sorted(unknown)[0]})")
        new_chunks = _prepare_chunks(settings, encoder, reports, guidelines or [], deid)
        replaced = {c.doc_id for c in new_chunks}
        kept = [c for c in old_chunks if c.doc_id not in delete and c.doc_id not in replaced]
        chunks = kept + new_chunks
        reuse: dict[str, np.ndarray] = {}
        if not reembed:
            dense = DenseIndex.load(current / DENSE_FILE)
            for chunk, row in zip(old_chunks, old_rows):
                reuse.setdefault(_text_key(chunk), dense.index.reconstruct(int(row)))
        vectors, n_embedded = _embed(settings, encoder, chunks, reuse, progress)
        old_docs = {c.doc_id for c in old_chunks}
        extra = {
            "operation": "rebuild" if reembed else "update",
            "parent_version": current.name,
            "chunking": settings.chunk.model_dump(),
            "deidentification": _describe(deid) if deid else manifest.get("deidentification"),
            "sources": [Path(s).name for s in (sources or [])],
            "embedded_chunks": n_embedded,
            "changes": {
                "added": len(replaced - old_docs),
                "replaced": len(replaced & old_docs),
                "deleted": len(delete - replaced),
            },
        }
        final = _write_version(store, chunks, vectors, encoder, extra, switch=switch,
                               faiss_config=_faiss_config(settings))
    log.info("index %s: %s -> %s, %d chunks embedded", name, current.name, final.name, n_embedded)
    return final


def rebuild_index(settings: "Settings", name: str, *, encoder: "TextEncoder | None" = None,
                  progress: bool = False, switch: bool = True) -> Path:
    """Re-embed every chunk of the serving version with the configured encoder (no new input).

    The docstore already holds de-identified text, so nothing is de-identified again.
    """
    return update_index(settings, name, [], encoder=encoder, progress=progress, reembed=True, switch=switch)
