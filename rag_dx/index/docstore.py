"""The docstore: chunk text and citation metadata in SQLite, keyed by the ids FAISS and BM25 return.

SQLite because it is one file, transactional, readable by any tool a practice already has, and
safe to read from several threads when opened read-only.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

from rag_dx.schemas import Chunk

_COLUMNS = ("chunk_id", "kind", "doc_id", "title", "text", "label", "icd10", "source", "url", "date")

#: Ids per `IN (...)` query: far below SQLite's variable limit (999 on old builds, 32,766 since 3.32).
_IN_BATCH = 900

_SCHEMA = """
CREATE TABLE chunks (
    row_id   INTEGER PRIMARY KEY,
    chunk_id TEXT NOT NULL UNIQUE,
    kind     TEXT NOT NULL CHECK (kind IN ('report', 'guideline')),
    doc_id   TEXT NOT NULL,
    title    TEXT NOT NULL,
    text     TEXT NOT NULL,
    label    TEXT,
    icd10    TEXT,
    source   TEXT NOT NULL DEFAULT '',
    url      TEXT,
    date     TEXT
);
CREATE INDEX chunks_doc ON chunks (doc_id);
"""


def _chunk(row: tuple) -> Chunk:
    return Chunk(**dict(zip(_COLUMNS, row[1:])))


def write_docstore(path: Path, chunks: list[Chunk]) -> list[int]:
    """Write all chunks in one transaction; returns their row ids (0..n-1, in order)."""
    conn = sqlite3.connect(path)
    try:
        conn.executescript(_SCHEMA)
        with conn:
            conn.executemany(
                f"INSERT INTO chunks (row_id, {', '.join(_COLUMNS)}) VALUES (?{', ?' * len(_COLUMNS)})",
                [(i, *(getattr(c, col) for col in _COLUMNS)) for i, c in enumerate(chunks)],
            )
    finally:
        conn.close()
    return list(range(len(chunks)))


class DocStore:
    """Read-only access; one connection shared across threads (sqlite3 serializes access)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)

    def close(self) -> None:
        self._conn.close()

    def count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    def get(self, row_ids: list[int]) -> dict[int, Chunk]:
        """Chunks by row id; asked in batches, so any number of ids stays under SQLite's variable limit."""
        out: dict[int, Chunk] = {}
        ids = [int(r) for r in row_ids]
        for start in range(0, len(ids), _IN_BATCH):
            part = ids[start:start + _IN_BATCH]
            rows = self._conn.execute(
                f"SELECT row_id, {', '.join(_COLUMNS)} FROM chunks WHERE row_id IN ({','.join('?' * len(part))})",
                part,
            ).fetchall()
            out.update((row[0], _chunk(row)) for row in rows)
        return out

    def iter_chunks(self, batch_size: int = 10_000) -> Iterator[list[tuple[int, Chunk]]]:
        """Every (row_id, chunk) in row order, `batch_size` rows per query (keyset pagination)."""
        last = -1
        while True:
            rows = self._conn.execute(
                f"SELECT row_id, {', '.join(_COLUMNS)} FROM chunks WHERE row_id > ? ORDER BY row_id LIMIT ?",
                (last, batch_size),
            ).fetchall()
            if not rows:
                return
            yield [(row[0], _chunk(row)) for row in rows]
            last = rows[-1][0]

    def all_row_ids(self) -> list[int]:
        return [r[0] for r in self._conn.execute("SELECT row_id FROM chunks ORDER BY row_id")]

    def labels(self) -> list[str]:
        rows = self._conn.execute(
            "SELECT DISTINCT label FROM chunks WHERE kind = 'report' AND label IS NOT NULL ORDER BY label"
        ).fetchall()
        return [r[0] for r in rows]
