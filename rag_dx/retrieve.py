"""Hybrid retrieval: dense (FAISS) + sparse (BM25), fused by reciprocal rank fusion.

RRF needs no score calibration between the two retrievers, which is why it is the default:
BM25 scores are unbounded and cosine similarities are not comparable with them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag_dx.embed import TextEncoder
from rag_dx.index.reader import LoadedIndex
from rag_dx.schemas import Hit
from rag_dx.settings import RetrievalSettings


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[int]], *, k: int = 60, weights: Sequence[float] | None = None
) -> list[tuple[int, float]]:
    """Fuse ranked id lists: score(d) = sum_i w_i / (k + rank_i(d)), ranks starting at 1.

    Ties are broken by first appearance in the earlier ranking, so the result is deterministic.

    >>> reciprocal_rank_fusion([[1, 2, 3], [3, 1]], k=60)[0][0]
    1
    """
    weights = list(weights) if weights is not None else [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    scores: dict[int, float] = {}
    order: dict[int, int] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, doc in enumerate(ranking, start=1):
            scores[doc] = scores.get(doc, 0.0) + weight / (k + rank)
            order.setdefault(doc, len(order))
    return sorted(scores.items(), key=lambda item: (-item[1], order[item[0]]))


#: Extra depth fetched from each index beyond what a query keeps (see `Retriever.search_channels`).
_MARGIN = 8


@dataclass
class Retriever:
    """Searches one loaded index version; holds no per-query state, so it is thread-safe."""

    index: LoadedIndex
    encoder: TextEncoder
    settings: RetrievalSettings

    def search(self, text: str, *, k: int | None = None, exclude_doc_ids: set[str] | None = None) -> list[Hit]:
        """The fused top-k hits for one query, best first.

        Args:
            exclude_doc_ids: documents never to return (e.g. the case's own report when training).
        """
        query = self.encoder.encode([text])
        return self.search_vector(text, query[0], k=k, exclude_doc_ids=exclude_doc_ids)

    def search_vector(
        self, text: str, vector: np.ndarray, *, k: int | None = None, exclude_doc_ids: set[str] | None = None
    ) -> list[Hit]:
        return self.search_channels(text, vector, k=k, exclude_doc_ids=exclude_doc_ids).hits

    def search_channels(
        self, text: str, vector: np.ndarray, *, k: int | None = None, exclude_doc_ids: set[str] | None = None,
        k_dense: int | None = None,
    ) -> "SearchResult":
        """The fused hits plus the dense and BM25 lists they were fused from (the ranker's input).

        Args:
            k_dense: how deep the dense list goes (at least the configured k_dense); deeper lists
                let a diagnosis proposed by the practice classifier cite its nearest reports.
        """
        s = self.settings
        k = k or s.k_evidence
        # A margin, so exclusions need no second query; the same for up to 4 excluded documents, so an
        # evaluated case asks the indexes exactly what the UI asks (FAISS orders tied scores by depth).
        extra = max(_MARGIN, len(exclude_doc_ids or ()) * 2)
        depth = max(k_dense or 0, s.k_dense)
        scores, ids = self.index.dense.search(vector[None, :], depth + extra)
        dense_all = [(int(i), float(sc)) for i, sc in zip(ids[0], scores[0]) if i >= 0]
        sparse_all = self.index.sparse.search(text, s.k_sparse + extra)
        chunks = self.index.docstore.get(list(dict.fromkeys([i for i, _ in dense_all] + [i for i, _ in sparse_all])))

        def keep(row_id: int) -> bool:
            chunk = chunks.get(row_id)
            return chunk is not None and not (exclude_doc_ids and chunk.doc_id in exclude_doc_ids)

        # Excluded documents leave the lists before fusion, each list cut to its usual length: the query
        # sees what it would see had they never been indexed. Cutting after fusion (as before) fused
        # longer lists whenever an id was excluded, even one not in the index, so an evaluated case
        # could be routed otherwise than the same case typed into the UI.
        dense = [(i, sc) for i, sc in dense_all if keep(i)][:depth]
        sparse = [(i, sc) for i, sc in sparse_all if keep(i)][: s.k_sparse]
        fused = reciprocal_rank_fusion(
            [[i for i, _ in dense[: s.k_dense]], [i for i, _ in sparse]],
            k=s.rrf_k,
            weights=[s.dense_weight, s.sparse_weight],
        )
        dense_rank = {i: r for r, (i, _) in enumerate(dense, start=1)}
        dense_score = dict(dense)
        sparse_rank = {i: r for r, (i, _) in enumerate(sparse, start=1)}
        missing = [i for i, _ in fused[:k] if i not in dense_score]
        if missing:
            # Sparse-only hits still get a cosine, so abstention can judge every hit alike.
            vecs = self.index.dense.vectors_for(missing)
            for i, sim in zip(missing, vecs @ vector):
                dense_score[i] = float(sim)
        hits = [Hit(chunk=chunks[row_id], score=score, dense_score=dense_score.get(row_id),
                    dense_rank=dense_rank.get(row_id), sparse_rank=sparse_rank.get(row_id))
                for row_id, score in fused[:k]]
        dense_hits = [Hit(chunk=chunks[i], score=sc, dense_score=sc, dense_rank=r)
                      for r, (i, sc) in enumerate(dense, start=1)]
        sparse_hits = [Hit(chunk=chunks[i], score=sc, dense_score=dense_score.get(i), sparse_rank=r)
                       for r, (i, sc) in enumerate(sparse, start=1)]
        return SearchResult(hits=hits, dense=dense_hits, sparse=sparse_hits)


@dataclass(frozen=True)
class SearchResult:
    """Fused evidence and the per-channel lists (dense: cosine as score; sparse: BM25 score)."""

    hits: list[Hit]
    dense: list[Hit]
    sparse: list[Hit]
