"""An index past SQLite's variable limit can still be updated: chunks are read in keyset batches.

The guarded bug (fixed in f21a8e6): an update read the serving version's chunks with one
`SELECT ... WHERE row_id IN (?, ?, ...)` over every row id, which fails with "too many SQL
variables" as soon as the index holds more rows than SQLite's variable limit. The limit is a
per-connection setting (`Connection.setlimit`), so the test lowers it to 999 (SQLite's default
before 3.32) and uses 2,500 rows instead of building an index past the modern default of 32,766:
the old query fails the same way, and the test asserts that it does before updating, so it
cannot pass vacuously (e.g. on a build whose limit cannot be lowered). This
took 40,000 rows and ~3.5 min before; the rows only have to outnumber the limit.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3

import numpy as np
import pytest

from rag_dx.build import update_index
from rag_dx.index.docstore import DocStore
from rag_dx.index.store import IndexStore
from rag_dx.index.writer import write_version
from rag_dx.schemas import Chunk, Report
from rag_dx.settings import Settings
from tests.helpers import PassThroughDeid

#: SQLite's default variable limit before 3.32 (32,766 since); any limit below N reproduces the bug.
LIMIT = 999
#: Rows in the index: 2.5x the limit, so one `IN (...)` over every row id is refused.
N = 2_500
#: Rows per keyset page while reading (production reads 10,000): three pages, the last one partial,
#: so the page boundaries are crossed as they were with 40,000 rows and 10,000-row pages.
PAGE = 1_000


class TinyEncoder:
    """Eight dimensions, hashed; real tokenizer for chunking."""

    name = "tiny-hash"
    dim = 8
    fingerprint = hashlib.sha256(b"tiny-hash-8").hexdigest()

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer

    def encode(self, texts, *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        rows = [np.frombuffer(hashlib.sha256(t.encode()).digest()[:8], dtype=np.uint8) for t in texts]
        out = np.asarray(rows, dtype=np.float32).reshape(len(texts), self.dim) + 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.fixture()
def limited_sqlite(monkeypatch) -> None:
    """Every connection opened during the test allows only LIMIT variables per statement (Debian's
    build allows 250,000, which would hide the bug this file guards against)."""
    connect = sqlite3.connect

    def limited(*args, **kwargs):
        conn = connect(*args, **kwargs)
        conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, LIMIT)
        return conn

    monkeypatch.setattr(sqlite3, "connect", limited)


@pytest.fixture()
def small_pages(monkeypatch) -> list[int]:
    """Keyset pages of PAGE rows, so N rows take several pages (the default page is 10,000).
    Returns the size of every page read, for the test to check the boundaries were crossed."""
    iter_chunks = DocStore.iter_chunks
    sizes: list[int] = []

    def paged(self, batch_size: int = PAGE):
        for batch in iter_chunks(self, min(batch_size, PAGE)):
            sizes.append(len(batch))
            yield batch

    monkeypatch.setattr(DocStore, "iter_chunks", paged)
    return sizes


def test_update_of_an_index_past_the_variable_limit_reuses_every_stored_vector(tmp_path, fake_encoder,
                                                                               limited_sqlite, small_pages):
    """One `IN (...)` over every row id failed here (more rows than SQLite's variable limit)."""
    encoder = TinyEncoder(fake_encoder.tokenizer)
    settings = Settings(index_dir=tmp_path / "idx", faiss={"exact_below": 10 * N})
    chunks = [Chunk(chunk_id=f"R:r{i}#0", kind="report", doc_id=f"r{i}", title=f"Report r{i}",
                    text=f"case {i} fever cough", label=f"D{i % 50}", source="synthetic") for i in range(N)]
    store = IndexStore(settings.index_dir, "big")
    with store.writer_lock():
        write_version(store, chunks, encoder.encode([c.text for c in chunks]), encoder, {"operation": "build"})

    # The premise: under the lowered limit, the pre-fix read (one IN over every row id) is refused.
    conn = sqlite3.connect(store.current_dir() / "docstore.sqlite")
    try:
        ids = [r[0] for r in conn.execute("SELECT row_id FROM chunks ORDER BY row_id")]
        assert len(ids) == N > LIMIT
        with pytest.raises(sqlite3.OperationalError, match="too many SQL variables"):
            conn.execute(f"SELECT row_id FROM chunks WHERE row_id IN ({','.join('?' * len(ids))})", ids)
    finally:
        conn.close()

    path = update_index(settings, "big", [Report(report_id="new-1", text="new case with rash", diagnosis="D1")],
                        delete_ids=["r7"], encoder=encoder, deidentifier=PassThroughDeid())
    assert small_pages == [PAGE, PAGE, N - 2 * PAGE]  # the read crossed page boundaries
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["counts"]["chunks"] == N  # one added, one deleted
    assert manifest["embedded_chunks"] == 1 and manifest["changes"] == {"added": 1, "replaced": 0, "deleted": 1}
