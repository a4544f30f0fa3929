"""Build a new index version from reports and guidelines, and switch to it only when complete.

Order matters for safety: de-identify before anything is embedded or written, build everything
into a hidden partial directory, checksum and fsync it, rename it into place, then flip CURRENT.
A failure (or a kill) at any step leaves the previous version serving.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rag_dx import __version__
from rag_dx.errors import RagDxError
from rag_dx.index.bm25 import SparseIndex
from rag_dx.index.docstore import write_docstore
from rag_dx.index.faiss_index import DEFAULT_FACTORY, METRIC, DenseIndex
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
) -> Path:
    """Build and switch to a new version of index `name`; returns the version directory.

    Args:
        reports: validated reports with raw text; they are de-identified here (fail closed).
        guidelines: public reference passages; not de-identified.
        encoder: defaults to the configured one; tests pass a small fake.
        deidentifier: defaults to `Deidentifier.load()`, which raises if it cannot load.
        sources: file names recorded in the manifest (names only, never content).
    """
    from rag_dx.ingest.chunking import chunk_guidelines, chunk_reports
    from rag_dx.ingest.deid import Deidentifier, deidentify_reports

    if not reports and not guidelines:
        raise RagDxError("nothing to index: no reports and no guidelines were given")
    store = IndexStore(settings.index_dir, name)
    if encoder is None:
        from rag_dx.embed import load_encoder

        encoder = load_encoder(settings)
    deid = deidentifier or Deidentifier.load()
    clean_reports = deidentify_reports(reports, deid) if reports else []

    cs = settings.chunk
    chunks = chunk_reports(clean_reports, encoder.tokenizer, cs.chunk_tokens, cs.overlap_tokens)
    chunks += chunk_guidelines(guidelines, encoder.tokenizer, cs.chunk_tokens, cs.overlap_tokens)
    seen: set[str] = set()
    for chunk in chunks:
        if chunk.chunk_id in seen:
            raise RagDxError(f"duplicate chunk id {chunk.chunk_id}: report and guideline ids must be unique")
        seen.add(chunk.chunk_id)

    vectors = encoder.encode([c.text for c in chunks], batch_size=settings.batch_size, progress=progress)
    if vectors.shape != (len(chunks), encoder.dim):
        raise RagDxError(f"encoder returned shape {vectors.shape}, expected {(len(chunks), encoder.dim)}")

    with store.writer_lock():
        store.clean_partials()
        partial = store.new_partial()
        try:
            row_ids = np.asarray(write_docstore(partial / DOCSTORE_FILE, chunks), dtype=np.int64)
            dense = DenseIndex.build(vectors, row_ids, DEFAULT_FACTORY)
            dense.save(partial / DENSE_FILE)
            SparseIndex.build([c.text for c in chunks], row_ids).save(partial / BM25_DIR)
            manifest = {
                "format_version": FORMAT_VERSION,
                "name": name,
                "version": store.next_version_name(),
                "created_at": utc_now(),
                "package_version": __version__,
                "git_commit": git_commit(),
                "encoder": {"name": encoder.name, "fingerprint": encoder.fingerprint, "dim": encoder.dim},
                "dim": encoder.dim,
                "metric": METRIC,
                "faiss_factory": dense.factory,
                "corpus_fingerprint": corpus_fingerprint(chunks),
                "counts": {
                    "reports": len(clean_reports),
                    "guidelines": len(guidelines),
                    "chunks": len(chunks),
                    "report_chunks": sum(c.kind == "report" for c in chunks),
                    "guideline_chunks": sum(c.kind == "guideline" for c in chunks),
                    "vectors": dense.ntotal,
                },
                "chunking": cs.model_dump(),
                "deidentification": _describe(deid),
                "sources": [Path(s).name for s in (sources or [])],
            }
            final = store.commit(partial, manifest)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
    log.info("index %s: version %s with %d chunks", name, final.name, len(chunks))
    return final
