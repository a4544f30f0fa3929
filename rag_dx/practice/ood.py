"""How close a new case is to the practice's recorded reports, relative to how close they are to each other.

A raw cosine means little on its own (long structured reports sit closer to each other than short
free-text notes do), so the profile stores the distribution of each labeled report's similarity
to its nearest other report (itself and its duplicates excluded) and places a new case's best
similarity in it. A case below nearly every report's nearest-neighbour similarity resembles
nothing the practice knows well.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class SimilarityProfile:
    #: The 0th..100th percentiles of nearest-other-report cosine over the labeled reports.
    percentiles: tuple[float, ...]
    n: int

    @classmethod
    def from_similarities(cls, sims: NDArray[np.float64]) -> "SimilarityProfile":
        sims = np.asarray(sims, dtype=np.float64)
        if sims.size == 0:
            return cls(percentiles=(), n=0)
        return cls(percentiles=tuple(float(x) for x in np.percentile(sims, np.arange(101))), n=int(sims.size))

    def rank(self, similarity: float) -> float | None:
        """Fraction (0-1) of the practice's reports whose nearest neighbour is less similar than this case's."""
        if not self.percentiles:
            return None
        return float(np.interp(similarity, self.percentiles, np.linspace(0.0, 1.0, 101), left=0.0, right=1.0))

    def to_json(self) -> dict:
        return {"percentiles": [round(p, 6) for p in self.percentiles], "n": self.n}

    @classmethod
    def from_json(cls, raw: dict) -> "SimilarityProfile":
        pct = tuple(float(x) for x in raw.get("percentiles", ()))
        if pct and (len(pct) != 101 or any(b < a for a, b in zip(pct, pct[1:]))):
            raise ValueError("similarity profile: expected 101 non-decreasing percentiles")
        return cls(percentiles=pct, n=int(raw.get("n", 0)))
