"""Validation of a generator through ``assistant.diagnose`` (the serving code path)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from finetune.pairs import CaseEvidence
from rag_dx.labels import candidate_key


@dataclass
class ValidationResult:
    metrics: dict[str, float]
    full_probs: list[list[float]] = field(default_factory=list)
    full_names: list[list[str]] = field(default_factory=list)
    golds: list[str] = field(default_factory=list)


def validate(
    assistant: Any,
    cases: Sequence[CaseEvidence],
    label_names: Sequence[str],
    exclude: dict[str, set[str]],
    *,
    modes: Sequence[str] = ("generator", "full"),
    limit: int = 0,
    progress: bool = False,
) -> ValidationResult:
    """Score validation cases through ``assistant.diagnose`` (the serving code path).

    ``generator`` mode: the case alone, every training label a candidate (like ``rag-dx eval``'s
    generator-only ablation). ``full`` mode: retrieval (own report and duplicates excluded) +
    generator blend; its probabilities are what calibration fits.
    """
    cases = list(cases)[: limit or None]
    out = ValidationResult(metrics={"val_cases": float(len(cases))})
    if not cases:
        return out
    iterator: Any = cases
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(cases, desc=f"validating ({'+'.join(modes)})", unit="case")
    g_hits, g_logp, f_hits = [], [], []
    for case in iterator:
        gold = candidate_key(case.label)
        if "generator" in modes:
            d = assistant.diagnose(case.text, mode="generator", candidates=list(label_names))
            g_hits.append(bool(d.differential) and candidate_key(d.differential[0].diagnosis) == gold)
            # log p(gold) from the unrounded scores (the displayed probabilities are rounded to 1e-4)
            scores = np.array([x.generator_score for x in d.differential], dtype=np.float64)
            z = scores / assistant.settings.diagnosis.temperature
            z = z - z.max()
            logp = z - np.log(np.exp(z).sum())
            g_logp.append(next((float(lp) for x, lp in zip(d.differential, logp) if candidate_key(x.diagnosis) == gold),
                               math.log(1e-6)))
        if "full" in modes:
            d = assistant.diagnose(case.text, mode="full", exclude_doc_ids=set(exclude.get(case.report_id, set())))
            f_hits.append(bool(d.differential) and candidate_key(d.differential[0].diagnosis) == gold)
            out.full_names.append([x.diagnosis for x in d.differential])
            out.full_probs.append([float(x.probability) for x in d.differential])
            out.golds.append(case.label)
    if g_hits:
        out.metrics["val_generator_top1"] = round(float(np.mean(g_hits)), 4)
        out.metrics["val_gold_logprob"] = round(float(np.mean(g_logp)), 4)
    if f_hits:
        out.metrics["val_full_top1"] = round(float(np.mean(f_hits)), 4)
    return out
