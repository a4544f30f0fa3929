"""Serving with the practice model: channels -> ranked candidates -> cited diagnoses.

Citations stay honest: a candidate cites the shown evidence that carries its label; one the
classifier proposed with no such evidence cites its nearest reports from the dense or BM25 lists
the retriever returned for this case, and those reports are added to the evidence shown. A
candidate with nothing retrieved to cite is left out rather than shown without evidence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rag_dx.candidates import candidate_key
from rag_dx.practice.features import Channels, Item
from rag_dx.practice.model import PracticeModel
from rag_dx.retrieve import SearchResult
from rag_dx.schemas import Diagnosis, Hit

#: Reports cited per diagnosis when none of the shown evidence carries it.
CITES_PER_CANDIDATE = 2


def channels_of(result: SearchResult, k_dense: int) -> Channels:
    """The ranker's view of a search: the first k_dense dense hits (cosine) and the BM25 hits."""
    return Channels(
        dense=[Item(h.chunk.label, h.chunk.kind, float(h.dense_score or 0.0)) for h in result.dense[:k_dense]],
        sparse=[Item(h.chunk.label, h.chunk.kind, float(h.score)) for h in result.sparse],
    )


def best_report_similarity(result: SearchResult) -> float | None:
    sims = [h.dense_score for h in result.dense if h.chunk.kind == "report" and h.dense_score is not None]
    return max(sims) if sims else None


@dataclass
class Ranked:
    differential: list[Diagnosis]
    evidence: list[Hit]


def ranked_differential(
    practice: PracticeModel,
    text: str,
    result: SearchResult,
    shown: list[Hit],
    *,
    k_dense: int,
    max_candidates: int,
    icd10: Callable[[str, list[Hit]], str | None],
) -> Ranked:
    """The practice ranker's differential over `text`, each diagnosis citing retrieved reports."""
    ranked = practice.rank(text, channels_of(result, k_dense))[:max_candidates]
    evidence = list(shown)
    shown_ids = {h.id for h in evidence}
    pool = list(result.dense) + list(result.sparse)
    out: list[Diagnosis] = []
    for key, prob in ranked:
        cites = [h for h in evidence if h.chunk.label and candidate_key(h.chunk.label) == key]
        if not cites:
            extra: dict[str, Hit] = {}
            for h in pool:
                if h.chunk.kind == "report" and h.chunk.label and candidate_key(h.chunk.label) == key:
                    extra.setdefault(h.id, h)
                if len(extra) >= CITES_PER_CANDIDATE:
                    break
            cites = list(extra.values())
            for h in cites:
                if h.id not in shown_ids:
                    evidence.append(h)
                    shown_ids.add(h.id)
        if not cites:
            continue
        out.append(Diagnosis(diagnosis=practice.names.get(key, cites[0].chunk.label or key),
                             icd10=icd10(key, cites), probability=round(prob, 4),
                             evidence=[h.id for h in cites]))
    return Ranked(differential=out, evidence=evidence)
