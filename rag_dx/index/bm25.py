"""Sparse retrieval with bm25s, stored as plain .npy/.json files (bm25s' own format, no pickle).

The corpus text is deliberately not saved with the BM25 index: the docstore is the only place
text lives, so there is exactly one copy of (de-identified) report text to protect and verify.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


def _bm25s():
    import logging

    import bm25s

    # bm25s sets its own logger to DEBUG on import, which would print to any root handler.
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


def _tokenize(texts: list[str]):
    return _bm25s().tokenize(texts, stopwords="en", show_progress=False)


@dataclass
class SparseIndex:
    retriever: object
    row_ids: np.ndarray  # BM25 position -> docstore row id

    @classmethod
    def build(cls, texts: list[str], row_ids: np.ndarray) -> "SparseIndex":
        retriever = _bm25s().BM25()
        retriever.index(_tokenize(texts), show_progress=False)
        return cls(retriever=retriever, row_ids=np.asarray(row_ids, dtype=np.int64))

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.retriever.save(str(directory), allow_pickle=False)
        np.save(directory / "row_ids.npy", self.row_ids, allow_pickle=False)

    @classmethod
    def load(cls, directory: Path) -> "SparseIndex":
        retriever = _bm25s().BM25.load(str(directory), allow_pickle=False, load_corpus=False)
        return cls(retriever=retriever, row_ids=np.load(directory / "row_ids.npy", allow_pickle=False))

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """(row id, score) best first; empty when no query term is in the vocabulary."""
        n_docs = len(self.row_ids)
        if n_docs == 0:
            return []
        tokens = _tokenize([query])
        if not tokens.ids or not tokens.ids[0]:
            return []
        docs, scores = self.retriever.retrieve(tokens, k=min(k, n_docs), show_progress=False, n_threads=1)
        return [
            (int(self.row_ids[d]), float(s)) for d, s in zip(docs[0], scores[0]) if float(s) > 0.0
        ]
