"""The docstore: chunk text and citation metadata in SQLite, keyed by the ids FAISS and BM25 return.

SQLite because it is one file, transactional, readable by any tool a practice already has, and
safe to read from several threads when opened read-only.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from rag_dx.schemas import Chunk

_COLUMNS = ("chunk_id", "kind", "doc_id", "title", "text", "label", "icd10", "source", "url", "date")

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
        if not row_ids:
            return {}
        marks = ",".join("?" * len(row_ids))
        rows = self._conn.execute(
            f"SELECT row_id, {', '.join(_COLUMNS)} FROM chunks WHERE row_id IN ({marks})",
            [int(r) for r in row_ids],
        ).fetchall()
        return {row[0]: Chunk(**dict(zip(_COLUMNS, row[1:]))) for row in rows}

    def all_row_ids(self) -> list[int]:
        return [r[0] for r in self._conn.execute("SELECT row_id FROM chunks ORDER BY row_id")]

    def labels(self) -> list[str]:
        rows = self._conn.execute(
            "SELECT DISTINCT label FROM chunks WHERE kind = 'report' AND label IS NOT NULL ORDER BY label"
        ).fetchall()
        return [r[0] for r in rows]
