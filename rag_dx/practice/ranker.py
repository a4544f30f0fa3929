"""A calibrated linear ranker over the candidate features of `features.FEATURES`.

scikit-learn's logistic regression learns one weight per signal from (candidate, is-the-right-
diagnosis) rows; at serving time the weighted scores of one case's candidates go through a
softmax whose temperature was fitted on cross-fitted scores, so the probabilities shown mean what
they say. Linear on purpose: a practice with a few hundred reports cannot support more, and its
weights can be read in the eval report.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from rag_dx.practice.features import FEATURES

FILE = "ranker.json"


def softmax_t(scores: NDArray[np.float64], temperature: float) -> NDArray[np.float64]:
    if scores.size == 0:
        return scores
    z = (scores - scores.max()) / temperature
    e = np.exp(z)
    return e / e.sum()


@dataclass(frozen=True)
class CandidateRanker:
    weights: tuple[float, ...]
    bias: float
    temperature: float
    features: tuple[str, ...] = FEATURES
    #: Mean of each feature over the training rows and its scale, so weights are comparable.
    mean: tuple[float, ...] = ()
    scale: tuple[float, ...] = ()
    #: Signals left out (an ablation): their columns are zeroed in training and serving alike.
    dropped: tuple[str, ...] = ()
    #: How often the right diagnosis was among the candidates in training: the softmax is over
    #: candidates, so its probabilities are conditional on that and are scaled by it when shown.
    coverage: float = 1.0

    def scores(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        Z = (mask(X, self.dropped) - np.asarray(self.mean)) / np.asarray(self.scale)
        return Z @ np.asarray(self.weights) + self.bias

    def probabilities(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Calibrated probabilities over one case's candidates (rows of X); they sum to `coverage`:
        the rest is the chance that the right diagnosis is none of them."""
        return softmax_t(self.scores(X), self.temperature) * self.coverage

    def importances(self) -> dict[str, float]:
        """Standardized weights: the change in score per standard deviation of each signal."""
        return {f: round(float(w), 4) for f, w in zip(self.features, self.weights)}

    def save(self, directory: Path) -> list[str]:
        payload = {"features": list(self.features), "dropped": list(self.dropped), "weights": list(self.weights), "bias": self.bias,
                   "temperature": self.temperature, "coverage": self.coverage, "mean": list(self.mean), "scale": list(self.scale)}
        (directory / FILE).write_text(json.dumps(payload, indent=1), encoding="utf-8")
        return [FILE]

    @classmethod
    def load(cls, directory: Path) -> "CandidateRanker":
        raw = json.loads((directory / FILE).read_text(encoding="utf-8"))
        if tuple(raw["features"]) != FEATURES:
            raise ValueError(f"ranker in {directory} was trained on features {raw['features']}, this rag-dx "
                             f"computes {list(FEATURES)}; rebuild the index (`rag-dx index rebuild`)")
        n = len(FEATURES)
        if not (len(raw["weights"]) == len(raw["mean"]) == len(raw["scale"]) == n) or raw["temperature"] <= 0:
            raise ValueError(f"ranker in {directory}: malformed weights or temperature")
        return cls(weights=tuple(map(float, raw["weights"])), bias=float(raw["bias"]),
                   temperature=float(raw["temperature"]), features=FEATURES,
                   mean=tuple(map(float, raw["mean"])), scale=tuple(map(float, raw["scale"])),
                   dropped=tuple(raw.get("dropped", ())), coverage=float(raw.get("coverage", 1.0)))


def mask(X: NDArray[np.float64], dropped: Sequence[str]) -> NDArray[np.float64]:
    """X with the columns of the dropped signals zeroed (a constant column gets no weight)."""
    if not dropped:
        return X
    X = X.copy()
    for name in dropped:
        X[:, FEATURES.index(name)] = 0.0
    return X


def fit_ranker(
    X: NDArray[np.float64], y: NDArray[np.int64], query: NDArray[np.int64], *, C: float = 1.0, seed: int = 0,
    dropped: Sequence[str] = (), n_folds: int = 5,
) -> tuple[CandidateRanker, NDArray[np.float64]]:
    """Fit weights on all rows, and the softmax temperature on k-fold cross-fitted scores (by query).

    Returns the ranker and the cross-fitted scores (one per row), which conformal calibration reuses.

    Args:
        X: candidate feature rows; y: 1 for the right diagnosis; query: the case each row belongs to.
    """
    from sklearn.linear_model import LogisticRegression

    unknown = set(dropped) - set(FEATURES)
    if unknown:
        raise ValueError(f"unknown ranker signals {sorted(unknown)}; known: {list(FEATURES)}")
    X = mask(X, dropped)
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale < 1e-9] = 1.0
    Z = (X - mean) / scale

    def fit(rows: NDArray[np.bool_]) -> LogisticRegression:
        return LogisticRegression(C=C, max_iter=2000, random_state=seed).fit(Z[rows], y[rows])

    # Temperature from scores each query got from a ranker fitted without it (k-fold by query):
    # close to the final model (trained on (k-1)/k of the queries) yet never scored on its own rows.
    rng = np.random.default_rng(seed)
    queries = np.unique(query)
    fold_of = dict(zip(rng.permutation(queries).tolist(), np.arange(len(queries)) % n_folds))
    fold = np.array([fold_of[q] for q in query])
    cross = np.zeros(len(y))
    for f in range(n_folds):
        train_rows = fold != f
        if len(np.unique(y[train_rows])) < 2 or train_rows.all():
            continue
        cross[~train_rows] = fit(train_rows).decision_function(Z[~train_rows])
    model = fit(np.ones(len(y), dtype=bool))
    temperature = fit_temperature(cross, y, query)
    coverage = float(np.mean([y[query == q].sum() > 0 for q in queries])) if len(queries) else 1.0
    ranker = CandidateRanker(weights=tuple(float(w) for w in model.coef_[0]), bias=float(model.intercept_[0]),
                           temperature=temperature, mean=tuple(map(float, mean)), scale=tuple(map(float, scale)),
                           dropped=tuple(dropped), coverage=coverage)
    return ranker, cross


def fit_temperature(scores: NDArray[np.float64], y: NDArray[np.int64], query: NDArray[np.int64]) -> float:
    """The softmax temperature minimising the per-case negative log-likelihood of the right diagnosis.

    Cases whose right diagnosis is not among the candidates carry no information here and are skipped.
    """
    from scipy.optimize import minimize_scalar

    groups = [np.flatnonzero(query == q) for q in np.unique(query)]
    groups = [g for g in groups if y[g].sum() == 1]
    if not groups:
        return 1.0

    def nll(log_t: float) -> float:
        t = float(np.exp(log_t))
        total = 0.0
        for g in groups:
            s = scores[g] / t
            s = s - s.max()
            total -= s[y[g] == 1][0] - np.log(np.exp(s).sum())
        return total / len(groups)

    res = minimize_scalar(nll, bounds=(-3.0, 3.0), method="bounded")
    return float(np.exp(res.x))


def rank_rows(ranker: CandidateRanker, X: NDArray[np.float64], keys: Sequence[str]) -> list[tuple[str, float]]:
    probs = ranker.probabilities(X)
    order = np.argsort(-probs, kind="stable")
    return [(keys[i], float(probs[i])) for i in order]
