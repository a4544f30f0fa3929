"""Write one complete index version: docstore, FAISS, BM25, any extra artefacts, then the manifest.

Storage only: the caller hands over finished chunks (already de-identified) and their vectors
(see :mod:`rag_dx.build` for the pipeline that produces them). Everything is written into a hidden
partial directory; :meth:`IndexStore.commit` checksums every file in it into the manifest, fsyncs,
renames it into place and (optionally) switches CURRENT.

Extra artefacts (for example a model trained on the version's labeled reports) are passed as
``artefacts={"name": writer}``. Each writer gets the partial directory and the version's chunks,
writes its files under ``partial/name/``, and returns a JSON-able manifest entry stored under
``manifest[name]``; its files are covered by the manifest checksums like every other file.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rag_dx import __version__
from rag_dx.errors import RagDxError
from rag_dx.index.bm25 import SparseIndex
from rag_dx.index.docstore import write_docstore
from rag_dx.index.faiss_index import METRIC, DenseIndex, FaissConfig
from rag_dx.index.layout import BM25_DIR, DENSE_FILE, DOCSTORE_FILE, FORMAT_VERSION, RESERVED_NAMES
from rag_dx.index.store import IndexStore, git_commit, utc_now
from rag_dx.provenance import reading_digest
from rag_dx.schemas import Chunk

#: Writes one artefact into the partial version directory; returns its manifest entry.
ArtefactWriter = Callable[[Path, Sequence[Chunk]], "dict[str, Any] | None"]

#: Top-level manifest keys an artefact entry may not replace.
_MANIFEST_KEYS = frozenset({
    "format_version", "name", "version", "created_at", "package_version", "git_commit", "encoder", "dim",
    "metric", "faiss_factory", "faiss", "corpus_fingerprint", "counts", "files", "artefacts", "reading_digest",
})


class EncoderIdentity(Protocol):
    name: str
    fingerprint: str
    dim: int


def corpus_fingerprint(chunks: Iterable[Chunk]) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        for part in (chunk.chunk_id, chunk.kind, chunk.label or "", chunk.text):
            digest.update(part.encode())
            digest.update(b"\x00")
    return digest.hexdigest()


def check_unique(chunks: Iterable[Chunk]) -> None:
    seen: set[str] = set()
    for chunk in chunks:
        if chunk.chunk_id in seen:
            # a report's id may identify a patient: it is never quoted (guideline ids are public text)
            which = chunk.chunk_id if chunk.kind == "guideline" else "of a report"
            raise RagDxError(f"duplicate chunk id {which}: report and guideline ids must be unique")
        seen.add(chunk.chunk_id)


def _counts(chunks: Sequence[Chunk], dense: DenseIndex) -> dict[str, int]:
    return {
        "reports": len({c.doc_id for c in chunks if c.kind == "report"}),
        "guidelines": len({c.doc_id for c in chunks if c.kind == "guideline"}),
        "chunks": len(chunks),
        "report_chunks": sum(c.kind == "report" for c in chunks),
        "guideline_chunks": sum(c.kind == "guideline" for c in chunks),
        "vectors": dense.ntotal,
    }


def _write_core(partial: Path, chunks: Sequence[Chunk], vectors: np.ndarray,
                faiss_config: FaissConfig | None) -> DenseIndex:
    """The three files every version has; the FAISS type follows the corpus size."""
    row_ids = np.asarray(write_docstore(partial / DOCSTORE_FILE, list(chunks)), dtype=np.int64)
    dense = DenseIndex.build_auto(vectors, row_ids, faiss_config)
    dense.save(partial / DENSE_FILE)
    SparseIndex.build([c.text for c in chunks], row_ids).save(partial / BM25_DIR)
    return dense


def _write_artefacts(partial: Path, chunks: Sequence[Chunk],
                     artefacts: Mapping[str, ArtefactWriter]) -> dict[str, Any]:
    """Run each extra artefact's writer; returns {name: manifest entry}."""
    entries: dict[str, Any] = {}
    for name, write in artefacts.items():
        if name in RESERVED_NAMES or name in _MANIFEST_KEYS or "/" in name or name.startswith("."):
            raise RagDxError(f"artefact name {name!r} is reserved or not a plain directory name")
        entries[name] = write(partial, chunks) or {}
    return entries


def write_version(store: IndexStore, chunks: Sequence[Chunk], vectors: np.ndarray, encoder: EncoderIdentity,
                  extra: Mapping[str, Any], *, switch: bool = True, faiss_config: FaissConfig | None = None,
                  artefacts: Mapping[str, ArtefactWriter] | None = None) -> Path:
    """Write one complete version under the writer lock (the caller holds it); returns its directory.

    Args:
        chunks: the version's chunks, de-identified, in docstore row order.
        vectors: one unit vector per chunk, shape (len(chunks), encoder.dim).
        encoder: whose name, fingerprint and dim the manifest records (readers refuse another).
        extra: manifest fields describing how the version was made (operation, chunking, sources...).
        switch: False keeps the new version unserved (for an evaluation gate).
        artefacts: extra files written into the version; see the module docstring.
    """
    check_unique(chunks)
    if not chunks:
        raise RagDxError("refusing to write an empty index version")
    partial = store.new_partial()
    try:
        dense = _write_core(partial, chunks, vectors, faiss_config)
        entries = _write_artefacts(partial, chunks, artefacts or {})
        manifest = {
            "format_version": FORMAT_VERSION,
            "name": store.name,
            "version": store.next_version_name(),
            "created_at": utc_now(),
            "package_version": __version__,
            "git_commit": git_commit(),
            "reading_digest": reading_digest(),
            "encoder": {"name": encoder.name, "fingerprint": encoder.fingerprint, "dim": encoder.dim},
            "dim": encoder.dim,
            "metric": METRIC,
            "faiss_factory": dense.factory,
            "faiss": dense.describe(),
            "corpus_fingerprint": corpus_fingerprint(chunks),
            "counts": _counts(chunks, dense),
            **extra,
            **({"artefacts": sorted(entries), **entries} if entries else {}),
        }
        return store.commit(partial, manifest, switch=switch)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
