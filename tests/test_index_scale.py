"""An index far past SQLite's variable limit (32,766) can still be updated: chunks are read in batches."""

from __future__ import annotations

import hashlib
import json
import sqlite3

import numpy as np

from rag_dx.build import update_index
from rag_dx.index.store import IndexStore
from rag_dx.index.writer import write_version
from rag_dx.schemas import Chunk, Report
from rag_dx.settings import Settings
from tests.helpers import PassThroughDeid

#: Past the 32,766-variable limit with room to spare; 100,000 took ~4 min of CI (mostly training the
#: practice model on every chunk) for no extra coverage of the batching.
N = 40_000


class TinyEncoder:
    """Eight dimensions (40,000 x 2,048 floats would be 320 MB); real tokenizer for chunking."""

    name = "tiny-hash"
    dim = 8
    fingerprint = hashlib.sha256(b"tiny-hash-8").hexdigest()

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer

    def encode(self, texts, *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        rows = [np.frombuffer(hashlib.sha256(t.encode()).digest()[:8], dtype=np.uint8) for t in texts]
        out = np.asarray(rows, dtype=np.float32).reshape(len(texts), self.dim) + 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def _default_sqlite_limit(monkeypatch) -> None:
    """SQLite's default build allows 32,766 variables per statement; some distributions raise it
    (Debian: 250,000), which would hide the bug this file guards against. Apply the default."""
    connect = sqlite3.connect

    def limited(*args, **kwargs):
        conn = connect(*args, **kwargs)
        conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 32_766)
        return conn

    monkeypatch.setattr(sqlite3, "connect", limited)


def test_update_of_a_40k_chunk_index_reuses_every_stored_vector(tmp_path, fake_encoder, monkeypatch):
    """One `IN (...)` over every row id failed here (SQLite allows 32,766 variables by default)."""
    _default_sqlite_limit(monkeypatch)
    encoder = TinyEncoder(fake_encoder.tokenizer)
    settings = Settings(index_dir=tmp_path / "idx", faiss={"exact_below": 10 * N})
    chunks = [Chunk(chunk_id=f"R:r{i}#0", kind="report", doc_id=f"r{i}", title=f"Report r{i}",
                    text=f"case {i} fever cough", label=f"D{i % 50}", source="synthetic") for i in range(N)]
    store = IndexStore(settings.index_dir, "big")
    with store.writer_lock():
        write_version(store, chunks, encoder.encode([c.text for c in chunks]), encoder, {"operation": "build"})

    path = update_index(settings, "big", [Report(report_id="new-1", text="new case with rash", diagnosis="D1")],
                        delete_ids=["r7"], encoder=encoder, deidentifier=PassThroughDeid())
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["counts"]["chunks"] == N  # one added, one deleted
    assert manifest["embedded_chunks"] == 1 and manifest["changes"] == {"added": 1, "replaced": 0, "deleted": 1}
