"""Metric functions for batch evaluation: pure functions over arrays, no I/O, no model.

Why pure: the same functions score one laptop run or a cluster's ``map_batches`` output, and
tests can compare them with hand-computed cases and scikit-learn. Conventions:

* ``gold_rank``: for each case, the 0-based rank of the first prediction that matches the gold
  label, or -1 when no prediction matches (including abstentions that predicted nothing).
* ``confidence``: the top-1 probability; ``correct``: whether top-1 matches the gold label.
* Probability matrices have one row per case and one column per class; rows need not sum to 1
  (callers put unassigned mass in an explicit "other" column when they want a proper
  distribution).

scikit-learn computes what it can (P/R/F1, AUROC, AUPRC, confusion matrix); the rest is a few
lines of numpy, written out so the definitions are visible.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray


def _as_float(x: float | np.floating[Any]) -> float:
    return float(x)


# ----------------------------------------------------------------------------- accuracy
def top_k_accuracy(gold_rank: ArrayLike, k: int) -> float:
    """Fraction of cases whose gold label is among the first ``k`` predictions.

    >>> top_k_accuracy([0, 2, -1, 1], k=2)
    0.5
    """
    r = np.asarray(gold_rank, dtype=int)
    if r.size == 0:
        return float("nan")
    return _as_float(np.mean((r >= 0) & (r < k)))


def top_k_hits(gold_rank: ArrayLike, k: int) -> NDArray[np.bool_]:
    """Per-case booleans behind :func:`top_k_accuracy` (input to bootstrap and subgroups)."""
    r = np.asarray(gold_rank, dtype=int)
    return (r >= 0) & (r < k)


def bootstrap_ci(
    values: ArrayLike,
    statistic: Callable[[NDArray[Any]], float] | None = None,
    *,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval (default 95%) of a per-case statistic.

    Args:
        values: per-case values (e.g. 0/1 hits); resampled with replacement, cases as the unit.
        statistic: reduces a resampled array to a number; default the mean (vectorized).
        n_boot: resamples; 1000 keeps the interval's endpoints stable to about +-0.005.
        alpha: 0.05 for a 95% interval.
        seed: makes the interval reproducible run to run.
    """
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, v.size, size=(n_boot, v.size))
    if statistic is None:
        stats = v[idx].mean(axis=1)
    else:
        stats = np.array([statistic(v[i]) for i in idx])
    lo, hi = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return (_as_float(lo), _as_float(hi))


# ----------------------------------------------------------------------------- classification
def classification_summary(
    y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str] | None = None
) -> dict[str, Any]:
    """Accuracy, macro/weighted precision/recall/F1 and a per-class table with specificity.

    Args:
        y_true, y_pred: one label per case (strings; an abstention can be a label like
            ``"<abstain>"`` that is never gold, so it counts as a miss).
        labels: the classes to report; default the sorted gold labels. Predictions outside this
            set still count as false negatives for the gold class, as they should.

    Returns:
        ``{"accuracy", "macro_precision", "macro_recall", "macro_f1", "weighted_precision",
        "weighted_recall", "weighted_f1", "per_class": {label: {precision, recall, f1,
        specificity, support}}}``. Macro averages are over ``labels`` (classes with support).
    """
    from sklearn.metrics import multilabel_confusion_matrix, precision_recall_fscore_support

    yt = list(y_true)
    yp = list(y_pred)
    labs = list(labels) if labels is not None else sorted(set(yt))
    if not yt:
        return {"accuracy": float("nan"), "per_class": {}}
    p, r, f, s = precision_recall_fscore_support(yt, yp, labels=labs, zero_division=0)
    mcm = multilabel_confusion_matrix(yt, yp, labels=labs)
    tn, fp = mcm[:, 0, 0], mcm[:, 0, 1]
    spec = np.divide(tn, tn + fp, out=np.zeros(len(labs)), where=(tn + fp) > 0)
    out: dict[str, Any] = {"accuracy": _as_float(np.mean(np.array(yt) == np.array(yp)))}
    for avg in ("macro", "weighted"):
        ap, ar, af, _ = precision_recall_fscore_support(yt, yp, labels=labs, average=avg, zero_division=0)
        out[f"{avg}_precision"], out[f"{avg}_recall"], out[f"{avg}_f1"] = float(ap), float(ar), float(af)
    out["macro_specificity"] = _as_float(np.mean(spec)) if len(labs) else float("nan")
    out["per_class"] = {
        lab: {
            "precision": float(p[i]),
            "recall": float(r[i]),
            "f1": float(f[i]),
            "specificity": float(spec[i]),
            "support": int(s[i]),
        }
        for i, lab in enumerate(labs)
    }
    return out


def confusion(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> NDArray[np.int64]:
    """Confusion matrix (rows gold, columns predicted) over ``labels``; other predictions dropped."""
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(list(y_true), list(y_pred), labels=list(labels)).astype(np.int64)


def one_vs_rest_auc(y_true_idx: ArrayLike, proba: ArrayLike, class_names: Sequence[str]) -> dict[str, Any]:
    """One-vs-rest AUROC and AUPRC per class, and their macro means.

    Classes without a positive (or without a negative) among the cases are skipped: their AUROC
    is undefined, and reporting 0 or 1 would bias the mean.

    Args:
        y_true_idx: column index of each case's gold class in ``proba`` (-1: gold not a column).
        proba: (n_cases, n_classes) scores; higher means more likely.
        class_names: one name per column.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = np.asarray(y_true_idx, dtype=int)
    P = np.asarray(proba, dtype=float)
    per: dict[str, dict[str, float]] = {}
    for j, name in enumerate(class_names):
        pos = y == j
        if pos.sum() == 0 or pos.sum() == len(y):
            continue
        per[name] = {
            "auroc": float(roc_auc_score(pos, P[:, j])),
            "auprc": float(average_precision_score(pos, P[:, j])),
            "prevalence": _as_float(pos.mean()),
        }
    auroc = [v["auroc"] for v in per.values()]
    auprc = [v["auprc"] for v in per.values()]
    return {
        "macro_auroc": _as_float(np.mean(auroc)) if auroc else float("nan"),
        "macro_auprc": _as_float(np.mean(auprc)) if auprc else float("nan"),
        "n_classes_scored": len(per),
        "per_class": per,
    }


# ----------------------------------------------------------------------------- calibration
def reliability_bins(confidence: ArrayLike, correct: ArrayLike, n_bins: int = 10) -> list[dict[str, float]]:
    """Equal-width confidence bins on [0, 1]: count, mean confidence and accuracy per bin.

    A confidence of exactly 1.0 falls in the last bin; empty bins are returned with count 0 so a
    plot shows the gaps.
    """
    c = np.clip(np.asarray(confidence, dtype=float), 0.0, 1.0)
    ok = np.asarray(correct, dtype=float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.minimum(np.digitize(c, edges[1:-1], right=True), n_bins - 1)
    bins = []
    for b in range(n_bins):
        m = which == b
        n = int(m.sum())
        bins.append(
            {
                "lo": float(edges[b]),
                "hi": float(edges[b + 1]),
                "count": n,
                "confidence": _as_float(c[m].mean()) if n else float("nan"),
                "accuracy": _as_float(ok[m].mean()) if n else float("nan"),
            }
        )
    return bins


def expected_calibration_error(confidence: ArrayLike, correct: ArrayLike, n_bins: int = 10) -> float:
    """ECE: bin-size-weighted mean |accuracy - confidence| over equal-width bins of top-1 confidence."""
    c = np.asarray(confidence, dtype=float)
    if c.size == 0:
        return float("nan")
    total = 0.0
    for b in reliability_bins(c, correct, n_bins):
        if b["count"]:
            total += b["count"] * abs(b["accuracy"] - b["confidence"])
    return total / c.size


def brier_score(y_true_idx: ArrayLike, proba: ArrayLike) -> float:
    """Multi-class Brier score: mean over cases of sum_k (p_k - 1[k == gold])^2, in [0, 2].

    A gold index of -1 (the gold class is not a column) contributes sum_k p_k^2 + 1: all the
    probability went to wrong answers, and the missing truth column counts as a full miss.
    """
    y = np.asarray(y_true_idx, dtype=int)
    P = np.asarray(proba, dtype=float)
    if P.size == 0:
        return float("nan")
    onehot = np.zeros_like(P)
    has = y >= 0
    onehot[np.nonzero(has)[0], y[has]] = 1.0
    per_case = ((P - onehot) ** 2).sum(axis=1) + (~has).astype(float)
    return _as_float(per_case.mean())


# ----------------------------------------------------------------------------- retrieval
def retrieval_recall_at_k(relevant: Sequence[Sequence[bool]], k: int) -> float:
    """Fraction of cases with at least one relevant item among the first ``k`` retrieved.

    ``relevant[i][j]``: whether the j-th retrieved item for case i is relevant (here: a retrieved
    report whose diagnosis matches the case's gold diagnosis). Ragged lists are fine.
    """
    if not len(relevant):
        return float("nan")
    return _as_float(np.mean([any(list(r)[:k]) for r in relevant]))


def retrieval_precision_at_k(relevant: Sequence[Sequence[bool]], k: int) -> float:
    """Mean share of the first ``k`` retrieved items that are relevant (missing items count as not).

    Recall@k saturates once one similar case is found; precision@k keeps measuring how much of
    the evidence shown to the vote and the clinician actually shares the diagnosis, which is
    what a better encoder changes.
    """
    if not len(relevant):
        return float("nan")
    return _as_float(np.mean([sum(bool(x) for x in list(r)[:k]) / k for r in relevant]))


def paired_difference(a: ArrayLike, b: ArrayLike, *, seed: int = 0) -> dict[str, float]:
    """Paired comparison of two systems' per-case 0/1 hits on the same cases (b minus a).

    Returns the mean difference, its percentile bootstrap 95% CI (cases resampled together) and
    the exact McNemar p-value (two-sided binomial test on the discordant cases).
    """
    from scipy.stats import binomtest

    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    if x.shape != y.shape:
        raise ValueError("paired_difference needs the same cases in the same order")
    if not x.size:
        return {"delta": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "mcnemar_p": float("nan"),
                "only_a": 0, "only_b": 0}
    d = y - x
    lo, hi = bootstrap_ci(d, seed=seed)
    only_a = int(((x == 1) & (y == 0)).sum())
    only_b = int(((x == 0) & (y == 1)).sum())
    p = float(binomtest(only_b, only_a + only_b, 0.5).pvalue) if only_a + only_b else 1.0
    return {"delta": _as_float(d.mean()), "ci_low": lo, "ci_high": hi, "mcnemar_p": p, "only_a": only_a,
            "only_b": only_b}


def mean_reciprocal_rank(relevant: Sequence[Sequence[bool]], k: int | None = None) -> float:
    """Mean over cases of 1 / (rank of the first relevant item), 0 when none (within ``k``)."""
    if not len(relevant):
        return float("nan")
    rr = []
    for r in relevant:
        items = list(r)[:k] if k is not None else list(r)
        rr.append(next((1.0 / (i + 1) for i, x in enumerate(items) if x), 0.0))
    return _as_float(np.mean(rr))


def reciprocal_ranks(gold_rank: ArrayLike) -> NDArray[np.float64]:
    """Per-case 1/(rank+1) of the gold label in the differential (0 when absent)."""
    r = np.asarray(gold_rank, dtype=float)
    return np.where(r >= 0, 1.0 / np.maximum(r + 1.0, 1.0), 0.0)


# ----------------------------------------------------------------------------- abstention
def abstention_rate(abstained: ArrayLike) -> float:
    a = np.asarray(abstained, dtype=bool)
    return _as_float(a.mean()) if a.size else float("nan")


def accuracy_answered(correct: ArrayLike, abstained: ArrayLike) -> float:
    """Top-1 accuracy on the cases the system did not abstain on (nan if it abstained on all)."""
    ok = np.asarray(correct, dtype=bool)
    a = np.asarray(abstained, dtype=bool)
    answered = ~a
    return _as_float(ok[answered].mean()) if answered.any() else float("nan")


def coverage_risk_curve(confidence: ArrayLike, correct: ArrayLike) -> dict[str, Any]:
    """Selective prediction: answer only the most confident fraction of cases.

    Cases are sorted by confidence (descending, stable); point i answers the first i+1 of them.
    ``risk`` is the error rate among answered cases. ``aurc`` is the mean risk over all coverage
    levels (lower is better); a confidence that ranks errors last gives a low AURC.

    Returns:
        ``{"coverage": [...], "risk": [...], "threshold": [...], "aurc": float}``.
    """
    c = np.asarray(confidence, dtype=float)
    ok = np.asarray(correct, dtype=float)
    if c.size == 0:
        return {"coverage": [], "risk": [], "threshold": [], "aurc": float("nan")}
    order = np.argsort(-c, kind="stable")
    errors = np.cumsum(1.0 - ok[order])
    answered = np.arange(1, c.size + 1)
    risk = errors / answered
    return {
        "coverage": (answered / c.size).tolist(),
        "risk": risk.tolist(),
        "threshold": c[order].tolist(),
        "aurc": _as_float(risk.mean()),
    }


# ----------------------------------------------------------------------------- subgroups
def age_band(age: float | None) -> str | None:
    """Coarse, conventional bands so that subgroups are big enough to say anything."""
    if age is None or (isinstance(age, float) and np.isnan(age)):
        return None
    if age < 18:
        return "0-17"
    if age < 40:
        return "18-39"
    if age < 65:
        return "40-64"
    return "65+"


def subgroup_breakdown(
    groups: Sequence[str | None], per_case: Mapping[str, ArrayLike], *, min_size: int = 1
) -> dict[str, dict[str, float]]:
    """Mean of each per-case metric within each group (cases with a None group are skipped).

    Args:
        groups: one group value per case (e.g. sex), None when unknown.
        per_case: metric name -> per-case values (0/1 hits, reciprocal ranks...).
        min_size: groups smaller than this are reported with ``n`` only, since a mean over two
            cases invites over-reading.
    """
    g = np.array([x if x is not None else "" for x in groups], dtype=object)
    known = np.array([x is not None and x != "" for x in groups], dtype=bool)
    arrays = {k: np.asarray(v, dtype=float) for k, v in per_case.items()}
    out: dict[str, dict[str, float]] = {}
    for value in sorted({str(x) for x in g[known]}):
        m = known & (g == value)
        n = int(m.sum())
        row: dict[str, float] = {"n": n}
        if n >= min_size:
            for k, arr in arrays.items():
                row[k] = _as_float(arr[m].mean())
        out[value] = row
    return out
