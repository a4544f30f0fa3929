"""Split-conformal prediction sets over the ranker's candidates (the LAC / threshold score).

Why a short implementation instead of MAPIE / crepes / torchcp: those assume one fixed class set
per model, while here every case has its own candidate list (retrieved labels + classifier top-k)
and the right diagnosis may be missing from it. The score 1 - p(right diagnosis) (1 when it is not
a candidate) needs nothing else, so it fits that shape in a few lines. Why not adaptive sets
(APS): on a confident ranker the cumulative-mass threshold lands within a hair of 1, and the sets
swallowed every candidate of p=0.00 (measured on the demo index: 9 of 10 at 90%); the threshold
score keeps them to the diagnoses that carry real probability.

Calibration cases are the practice's labeled reports scored by rankers that did not see them
(cross-fitted) with out-of-fold classifier probabilities, exactly as the temperature is fitted.
The guarantee (the set holds the right diagnosis with probability >= level) assumes a new case is
exchangeable with those reports: it does not hold for a diagnosis the practice has never recorded
or a case outside what it has seen, and `diagnose` says so on such cases.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

LEVELS: tuple[float, ...] = (0.8, 0.9, 0.95)


def nonconformity(probs_desc: Sequence[float], gold_rank: int | None) -> float:
    """1 - the right diagnosis's probability; 1 when it is not among the candidates."""
    if gold_rank is None:
        return 1.0
    return 1.0 - float(probs_desc[gold_rank])


def thresholds(scores: Sequence[float], levels: Sequence[float] = LEVELS) -> dict[str, float]:
    """The conformal quantile of the calibration scores per level (inf when the data cannot support it)."""
    s = np.sort(np.asarray(scores, dtype=np.float64))
    n = len(s)
    out: dict[str, float] = {}
    for level in levels:
        k = math.ceil((n + 1) * level)
        out[f"{level:g}"] = float(s[k - 1]) if 0 < k <= n else math.inf
    return out


def set_size(probs_desc: Sequence[float], threshold: float) -> int:
    """How many of the ranked candidates have probability >= 1 - threshold (all when it is inf).

    The set may be empty: no candidate is probable enough for the level, which is itself an answer.
    """
    if not math.isfinite(threshold):
        return len(probs_desc)
    return int(np.sum(np.asarray(probs_desc, dtype=np.float64) >= 1.0 - threshold - 1e-9))
