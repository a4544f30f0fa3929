"""Temperature calibration of the final (blended) diagnosis probabilities.

``diagnose`` returns p_i = w * softmax(generator)_i + (1 - w) * vote_i over the candidates. One
temperature T rescales them: p'_i = p_i^(1/T) / sum_j p_j^(1/T) (T < 1 sharpens, T > 1 flattens;
the ranking never changes). T is fitted on a validation split by minimizing the negative
log-likelihood of the gold diagnosis (Guo et al. 2017, "On calibration of modern neural
networks"), over the cases whose gold diagnosis is among the candidates.

It is stored beside the adapter as ``rag_dx_calibration.json``::

    {"temperature": 0.61, "applies_to": "...", "fitted_on": {...}, "validation": {...}}

and applied by ``diagnose`` (:mod:`rag_dx.calibration`) to the blended full-mode probabilities
whenever the generator is loaded with this adapter.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag_dx.labels import candidate_key
from finetune.recipe_keys import check_recipe_keys
from rag_dx.calibration import CALIBRATION_FILE, apply_temperature

__all__ = ["CALIBRATION_FILE", "apply_temperature", "fit_temperature", "write_calibration"]

T_MIN, T_MAX = 0.05, 20.0


@dataclass
class CalibrationRecipe:
    """The ``[calibration]`` table: whether to fit T, and on which mode's probabilities."""

    enabled: bool = True
    mode: str = "full"

    def __post_init__(self) -> None:
        if self.mode not in ("full",):
            raise ValueError(f"calibration recipe: mode must be 'full', got {self.mode!r}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "CalibrationRecipe":
        check_recipe_keys(cls, values, "calibration")
        return cls(**values)


def _gold_index(names: Sequence[str], gold: str) -> int:
    g = candidate_key(gold)
    return next((i for i, n in enumerate(names) if candidate_key(n) == g), -1)


def _log_matrix(prob_lists: Sequence[Sequence[float]], gold_idx: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Log-probabilities padded with -inf (one row per usable case) and the gold column per row."""
    rows = [(p, g) for p, g in zip(prob_lists, gold_idx) if g >= 0 and len(p)]
    width = max((len(p) for p, _ in rows), default=1)
    L = np.full((len(rows), width), -np.inf)
    for i, (p, _) in enumerate(rows):
        with np.errstate(divide="ignore"):
            L[i, : len(p)] = np.log(np.clip(np.asarray(p, dtype=np.float64), 0.0, None))
    return L, np.array([g for _, g in rows], dtype=int)


def _nll_matrix(L: np.ndarray, gold: np.ndarray, temperature: float) -> float:
    if not len(gold):
        return float("nan")
    Z = L / temperature
    top = np.max(Z, axis=1, keepdims=True)
    lse = top[:, 0] + np.log(np.exp(Z - top).sum(axis=1))
    g = Z[np.arange(len(gold)), gold]
    return float(np.mean(np.minimum(lse - g, -math.log(1e-12))))


def nll(prob_lists: Sequence[Sequence[float]], gold_idx: Sequence[int], temperature: float) -> float:
    """Mean -log p'(gold) over the cases whose gold is a candidate (capped at -log 1e-12 each)."""
    return _nll_matrix(*_log_matrix(prob_lists, gold_idx), temperature)


def fit_temperature(prob_lists: Sequence[Sequence[float]], gold_idx: Sequence[int]) -> float:
    """The T in [0.05, 20] minimizing :func:`nll`: a log-spaced grid, then golden-section refinement.

    Returns 1.0 when no case has its gold among two or more candidates (nothing to fit).
    """
    usable = [(p, g) for p, g in zip(prob_lists, gold_idx) if g >= 0 and len(p) > 1]
    if not usable:
        return 1.0
    L, G = _log_matrix([u[0] for u in usable], [u[1] for u in usable])

    def f(log_t: float) -> float:
        return _nll_matrix(L, G, math.exp(log_t))

    grid = np.linspace(math.log(T_MIN), math.log(T_MAX), 81)
    losses = [f(x) for x in grid]
    k = int(np.argmin(losses))
    a, b = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
    phi = (math.sqrt(5) - 1) / 2
    c, d = b - phi * (b - a), a + phi * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(40):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - phi * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + phi * (b - a)
            fd = f(d)
    return float(round(math.exp((a + b) / 2), 4))


def calibration_metrics(names: Sequence[Sequence[str]], probs: Sequence[Sequence[float]], golds: Sequence[str],
                        temperature: float) -> dict[str, float]:
    """ECE (top-1, 10 bins, as ``rag-dx eval``), NLL and mean confidence at temperature T."""
    from rag_dx.metrics import expected_calibration_error

    conf, correct, gidx, scaled = [], [], [], []
    for n, p, g in zip(names, probs, golds):
        q = apply_temperature(p, temperature) if len(p) else np.zeros(0)
        scaled.append(q)
        conf.append(float(q.max()) if q.size else 0.0)
        correct.append(bool(len(n)) and candidate_key(n[int(np.argmax(q))]) == candidate_key(g))
        gidx.append(_gold_index(n, g))
    return {
        "n": len(golds),
        "ece": round(float(expected_calibration_error(np.array(conf), np.array(correct))), 4),
        "nll": round(nll(scaled, gidx, 1.0), 4),
        "mean_confidence": round(float(np.mean(conf)), 4) if conf else float("nan"),
        "top1": round(float(np.mean(correct)), 4) if correct else float("nan"),
        "gold_in_candidates": round(float(np.mean([g >= 0 for g in gidx])), 4) if gidx else float("nan"),
    }


def fit_from_validation(names: Sequence[Sequence[str]], probs: Sequence[Sequence[float]],
                        golds: Sequence[str]) -> tuple[float, dict[str, Any]]:
    """Fit T on validation differentials; returns (T, {"before": metrics, "after": metrics})."""
    gidx = [_gold_index(n, g) for n, g in zip(names, golds)]
    t = fit_temperature(probs, gidx)
    return t, {"before": calibration_metrics(names, probs, golds, 1.0),
               "after": calibration_metrics(names, probs, golds, t)}


def write_calibration(adapter_dir: Path, temperature: float, *, validation: dict[str, Any],
                      fitted_on: dict[str, Any], generator_pmi: bool | None = None) -> Path:
    """Write ``rag_dx_calibration.json`` into the adapter directory.

    ``generator_pmi`` records the scoring the adapter was trained and calibrated with; serving
    with this adapter should use the same (``settings.diagnosis.generator_pmi``).
    """
    path = Path(adapter_dir) / CALIBRATION_FILE
    payload: dict[str, Any] = {
        "temperature": temperature,
        "applies_to": "final blended probabilities of diagnose(mode='full'): p_i <- p_i^(1/T) / sum_j p_j^(1/T)",
        "fitted_on": fitted_on,
        "validation": validation,
    }
    if generator_pmi is not None:
        payload["generator_pmi"] = bool(generator_pmi)
    path.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return path
