"""Per-candidate signals for the ranker, computed the same way at training and at serving time.

Both sides hand over the same raw material, `Channels`: the dense and BM25 result lists (label,
kind, score) before fusion. Training builds them by searching the version being written with
each labeled report (itself and its duplicates excluded); serving takes them from the retriever.
One function turns them into features, so the two can never drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from rag_dx.candidates import candidate_key

FEATURES = (
    "dense_vote",       # similarity-weighted kNN vote share among retrieved reports
    "dense_gap",        # best cosine of the candidate's reports minus the best report cosine
    "dense_top",        # 1 when the nearest report carries the candidate
    "bm25_vote",        # rank-weighted vote share among BM25-retrieved reports
    "clf_logp",         # log probability from the practice's text classifier
    "clf_top",          # 1 when the classifier ranks the candidate first
    "guideline_vote",   # similarity-weighted share of retrieved guideline passages on the candidate
    "log_prior",        # log frequency of the candidate among the practice's labeled reports
    "unretrieved",      # 1 when no retrieved report carries the candidate (classifier-only)
)
#: Shown when a candidate has no retrieved report: a cosine gap larger than any real one.
NO_MATCH_GAP = -0.5


@dataclass(frozen=True)
class Item:
    """One retrieved chunk as the ranker sees it."""

    label: str | None
    kind: str
    score: float


@dataclass(frozen=True)
class Channels:
    dense: Sequence[Item]   # best first, cosine similarity
    sparse: Sequence[Item]  # best first, BM25 score


def _vote(items: Sequence[Item], weights: Sequence[float]) -> dict[str, float]:
    total = float(sum(weights)) or 1.0
    out: dict[str, float] = {}
    for item, w in zip(items, weights):
        if item.label:
            key = candidate_key(item.label)
            out[key] = out.get(key, 0.0) + w / total
    return out


def candidate_keys(channels: Channels, clf_top: Sequence[str]) -> list[str]:
    """Retrieved report labels (dense, then BM25), then the classifier's top labels; no repeats."""
    keys: dict[str, None] = {}
    for item in list(channels.dense) + list(channels.sparse):
        if item.kind == "report" and item.label:
            keys.setdefault(candidate_key(item.label))
    for label in clf_top:
        keys.setdefault(candidate_key(label))
    return list(keys)


def feature_matrix(
    keys: Sequence[str],
    channels: Channels,
    clf_probs: Mapping[str, float],
    log_prior: Mapping[str, float],
    *,
    vote_temperature: float = 0.05,
) -> NDArray[np.float64]:
    """(len(keys), len(FEATURES)) features; `clf_probs` and `log_prior` are keyed by candidate key."""
    reports = [i for i in channels.dense if i.kind == "report"]
    guides = [i for i in channels.dense if i.kind != "report"]
    best = max((i.score for i in reports), default=0.0)
    dense_vote = _vote(reports, [np.exp((i.score - best) / vote_temperature) for i in reports])
    best_by_key: dict[str, float] = {}
    for i in reports:
        if i.label:
            k = candidate_key(i.label)
            best_by_key[k] = max(best_by_key.get(k, -1.0), i.score)
    top_key = candidate_key(reports[0].label) if reports and reports[0].label else None
    sparse_reports = [i for i in channels.sparse if i.kind == "report"]
    bm25_vote = _vote(sparse_reports, [1.0 / (5.0 + r) for r in range(len(sparse_reports))])
    gbest = max((i.score for i in guides), default=0.0)
    guide_vote = _vote(guides, [np.exp((i.score - gbest) / vote_temperature) for i in guides])
    clf_best = max(clf_probs, key=clf_probs.get) if clf_probs else None
    floor = min(log_prior.values(), default=0.0) - 1.0
    rows = []
    for k in keys:
        rows.append([
            dense_vote.get(k, 0.0),
            best_by_key[k] - best if k in best_by_key else NO_MATCH_GAP,
            1.0 if k == top_key else 0.0,
            bm25_vote.get(k, 0.0),
            float(np.log(clf_probs.get(k, 0.0) + 1e-4)),
            1.0 if k == clf_best else 0.0,
            guide_vote.get(k, 0.0),
            log_prior.get(k, floor),
            0.0 if k in best_by_key or k in bm25_vote else 1.0,
        ])
    return np.asarray(rows, dtype=np.float64).reshape(len(keys), len(FEATURES))
