"""Split-conformal prediction sets over the ranker's candidates (adaptive prediction sets, APS).

Why a short implementation instead of MAPIE / crepes / torchcp: those assume one fixed class set
per model, while here every case has its own candidate list (retrieved labels + classifier top-k)
and the right diagnosis may be missing from it. APS needs only each calibration case's probability
mass ranked at or above its right diagnosis, so it fits that shape in a few lines.

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
    """Probability mass ranked at or above the right diagnosis; inf when it is not a candidate."""
    if gold_rank is None:
        return math.inf
    return float(np.sum(probs_desc[: gold_rank + 1]))


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
    """How many of the ranked candidates the set at this threshold holds (all when the threshold is inf)."""
    if not math.isfinite(threshold):
        return len(probs_desc)
    cum = np.cumsum(np.asarray(probs_desc, dtype=np.float64))
    reached = np.flatnonzero(cum >= threshold - 1e-12)
    return int(reached[0]) + 1 if reached.size else len(probs_desc)
