"""Diagnosis candidates from retrieved evidence: which labels compete, their votes and citations.

Kept apart from `diagnose` so the candidate policy (label merging, which guideline topics count as
diagnoses, vote weights) can change without touching how the pipeline is wired.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rag_dx.labels import candidate_key  # noqa: F401  (the one label key; re-exported)
from rag_dx.schemas import Hit


@dataclass
class Candidate:
    name: str
    vote: float = 0.0
    evidence: list[str] = field(default_factory=list)
    icd10: dict[str, int] = field(default_factory=dict)


def hit_weights(hits: Sequence[Hit], temperature: float = 0.05, guideline_weight: float = 0.5) -> list[float]:
    """Similarity-weighted kNN votes: exp((cos - best cos) / T), guideline passages discounted.

    Fused RRF scores are good for ordering evidence but nearly flat across ranks (1/61 vs 1/70),
    so as votes they let a crowd of weak matches outvote three near-identical cases.
    """
    sims = [h.dense_score if h.dense_score is not None else -1.0 for h in hits]
    best = max(sims, default=0.0)
    return [
        float(np.exp((s - best) / temperature)) * (guideline_weight if h.chunk.kind == "guideline" else 1.0)
        for h, s in zip(hits, sims)
    ]


def collect_candidates(
    hits: Sequence[Hit], *, temperature: float = 0.05, guideline_weight: float = 0.5
) -> dict[str, Candidate]:
    """Candidates are the labels of retrieved evidence: report diagnoses and guideline topics.

    Each candidate's vote is the summed weight (`hit_weights`) of the hits that carry its label,
    and those hits are its citations. The displayed name is the first spelling seen (best hit).
    """
    out: dict[str, Candidate] = {}
    for hit, weight in zip(hits, hit_weights(hits, temperature, guideline_weight)):
        label = (hit.chunk.label or "").strip()
        if not label:
            continue
        cand = out.setdefault(candidate_key(label), Candidate(name=label))
        cand.vote += weight
        if hit.id not in cand.evidence:
            cand.evidence.append(hit.id)
        if hit.chunk.icd10:
            cand.icd10[hit.chunk.icd10] = cand.icd10.get(hit.chunk.icd10, 0) + 1
    return out
