"""Dense vectors in FAISS, keyed by docstore row ids, saved with faiss' own format (never pickle)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_FACTORY = "IDMap2,Flat"
METRIC = "inner_product"


def _faiss():
    try:
        import faiss
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "faiss is not installed: install the 'cpu' extra (faiss-cpu) or the 'gpu' extra (faiss-gpu)"
        ) from exc
    return faiss


@dataclass
class DenseIndex:
    """An inner-product index over unit vectors, so scores are cosine similarities."""

    index: object
    factory: str = DEFAULT_FACTORY

    @classmethod
    def build(cls, vectors: np.ndarray, ids: np.ndarray, factory: str = DEFAULT_FACTORY) -> "DenseIndex":
        faiss = _faiss()
        dim = int(vectors.shape[1])
        index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
        if not index.is_trained:
            index.train(vectors)
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))
        return cls(index=index, factory=factory)

    @classmethod
    def load(cls, path: Path, factory: str = DEFAULT_FACTORY) -> "DenseIndex":
        return cls(index=_faiss().read_index(str(path)), factory=factory)

    def save(self, path: Path) -> None:
        _faiss().write_index(self.index, str(path))

    @property
    def dim(self) -> int:
        return int(self.index.d)

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), each (n_queries, k); missing slots have id -1."""
        k = max(1, min(k, self.ntotal))
        return self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)

    def vectors_for(self, ids: list[int]) -> np.ndarray:
        return np.stack([self.index.reconstruct(int(i)) for i in ids]) if ids else np.zeros((0, self.dim), np.float32)
