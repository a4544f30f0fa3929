"""Metric functions against hand-computed cases and scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from rag_dx import metrics as M


def test_top_k_accuracy_by_hand() -> None:
    ranks = [0, 2, -1, 1, 4]
    assert M.top_k_accuracy(ranks, 1) == pytest.approx(1 / 5)
    assert M.top_k_accuracy(ranks, 3) == pytest.approx(3 / 5)
    assert M.top_k_accuracy(ranks, 5) == pytest.approx(4 / 5)
    assert math.isnan(M.top_k_accuracy([], 1))
    assert M.top_k_hits(ranks, 2).tolist() == [True, False, False, True, False]


def test_bootstrap_ci_is_seeded_and_brackets_the_mean() -> None:
    v = np.array([1] * 70 + [0] * 30)
    lo, hi = M.bootstrap_ci(v, seed=1)
    assert (lo, hi) == M.bootstrap_ci(v, seed=1)
    assert lo < 0.7 < hi
    # binomial standard error ~0.046 -> a 95% interval about 0.18 wide
    assert 0.12 < hi - lo < 0.24
    assert M.bootstrap_ci(np.ones(10)) == (1.0, 1.0)
    lo2, hi2 = M.bootstrap_ci(v, statistic=np.median, n_boot=200, seed=0)
    assert lo2 <= hi2


def test_classification_summary_matches_sklearn() -> None:
    y_true = ["a", "a", "b", "b", "b", "c", "c", "a"]
    y_pred = ["a", "b", "b", "b", "c", "c", "a", "<none>"]
    labels = ["a", "b", "c"]
    s = M.classification_summary(y_true, y_pred, labels)
    kw = dict(labels=labels, zero_division=0)
    assert s["macro_precision"] == pytest.approx(precision_score(y_true, y_pred, average="macro", **kw))
    assert s["macro_recall"] == pytest.approx(recall_score(y_true, y_pred, average="macro", **kw))
    assert s["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro", **kw))
    assert s["weighted_f1"] == pytest.approx(f1_score(y_true, y_pred, average="weighted", **kw))
    assert s["accuracy"] == pytest.approx(4 / 8)
    # by hand for class "a": TP=1, FN=2 (b, <none>), FP=1 (c->a); TN = 8 - 1 - 2 - 1 = 4
    a = s["per_class"]["a"]
    assert (a["precision"], a["recall"], a["support"]) == (0.5, pytest.approx(1 / 3), 3)
    assert a["specificity"] == pytest.approx(4 / 5)
    b = s["per_class"]["b"]  # TP=2, FP=1, FN=1, TN=4
    assert b["specificity"] == pytest.approx(4 / 5)
    assert b["f1"] == pytest.approx(2 / 3)


def test_confusion_matches_sklearn() -> None:
    y_true = ["a", "b", "b", "c"]
    y_pred = ["a", "a", "b", "x"]
    cm = M.confusion(y_true, y_pred, ["a", "b", "c"])
    assert cm.tolist() == confusion_matrix(y_true, y_pred, labels=["a", "b", "c"]).tolist()
    assert cm.tolist() == [[1, 0, 0], [1, 1, 0], [0, 0, 0]]


def test_one_vs_rest_auc_matches_sklearn_and_skips_absent_classes() -> None:
    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.ones(4), size=40)
    y = rng.integers(0, 3, size=40)  # class 3 never occurs -> skipped
    out = M.one_vs_rest_auc(y, P, ["a", "b", "c", "d"])
    assert set(out["per_class"]) == {"a", "b", "c"}
    for j, name in enumerate(["a", "b", "c"]):
        assert out["per_class"][name]["auroc"] == pytest.approx(roc_auc_score(y == j, P[:, j]))
        assert out["per_class"][name]["auprc"] == pytest.approx(average_precision_score(y == j, P[:, j]))
    assert out["macro_auroc"] == pytest.approx(np.mean([out["per_class"][k]["auroc"] for k in "abc"]))
    perfect = M.one_vs_rest_auc([0, 1, 0, 1], np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.4, 0.6]]), ["a", "b"])
    assert perfect["macro_auroc"] == 1.0 and perfect["macro_auprc"] == 1.0


def test_ece_and_reliability_by_hand() -> None:
    conf = [0.95, 0.95, 0.55, 0.55, 0.15]
    correct = [1, 0, 1, 1, 0]
    bins = M.reliability_bins(conf, correct, n_bins=10)
    assert len(bins) == 10 and sum(b["count"] for b in bins) == 5
    top = bins[9]
    assert top["count"] == 2 and top["accuracy"] == 0.5 and top["confidence"] == pytest.approx(0.95)
    # |0.5-0.95|*2 + |1-0.55|*2 + |0-0.15|*1, over 5
    assert M.expected_calibration_error(conf, correct) == pytest.approx((0.9 + 0.9 + 0.15) / 5)
    assert M.expected_calibration_error([1.0, 1.0], [1, 1]) == pytest.approx(0.0)
    assert M.reliability_bins([1.0], [1])[-1]["count"] == 1  # 1.0 lands in the last bin


def test_brier_by_hand() -> None:
    P = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    y = np.array([0, 1])
    # (0.09 + 0.04 + 0.01) + (0.01 + 0.81 + 0.64) = 0.14 + 1.46
    assert M.brier_score(y, P) == pytest.approx((0.14 + 1.46) / 2)
    # gold not a column: sum p^2 + 1
    assert M.brier_score([-1], [[0.5, 0.5]]) == pytest.approx(1.5)
    assert M.brier_score([0], [[1.0, 0.0]]) == 0.0


def test_retrieval_recall_and_mrr_by_hand() -> None:
    rel = [[False, True, False], [False, False, False], [True], [False, False, False, True]]
    assert M.retrieval_recall_at_k(rel, 1) == pytest.approx(1 / 4)
    assert M.retrieval_recall_at_k(rel, 2) == pytest.approx(2 / 4)
    assert M.retrieval_recall_at_k(rel, 10) == pytest.approx(3 / 4)
    assert M.mean_reciprocal_rank(rel) == pytest.approx((1 / 2 + 0 + 1 + 1 / 4) / 4)
    assert M.mean_reciprocal_rank(rel, k=3) == pytest.approx((1 / 2 + 0 + 1 + 0) / 4)
    assert M.reciprocal_ranks([0, 1, -1]).tolist() == [1.0, 0.5, 0.0]


def test_abstention_and_coverage_risk() -> None:
    correct = np.array([1, 0, 1, 1])
    abstained = np.array([False, True, False, True])
    assert M.abstention_rate(abstained) == 0.5
    assert M.accuracy_answered(correct, abstained) == 1.0
    assert math.isnan(M.accuracy_answered(correct, np.ones(4, bool)))
    cr = M.coverage_risk_curve([0.9, 0.8, 0.7, 0.1], [1, 1, 0, 0])
    assert cr["coverage"] == [0.25, 0.5, 0.75, 1.0]
    assert cr["risk"] == pytest.approx([0.0, 0.0, 1 / 3, 0.5])
    assert cr["aurc"] == pytest.approx((0 + 0 + 1 / 3 + 0.5) / 4)


def test_subgroups_and_age_bands() -> None:
    assert [M.age_band(a) for a in (None, 5, 18, 39.9, 40, 64, 65, 90)] == [
        None, "0-17", "18-39", "18-39", "40-64", "40-64", "65+", "65+"]
    out = M.subgroup_breakdown(["F", "M", "F", None, "M"], {"top1": [1, 0, 0, 1, 1]}, min_size=2)
    assert out == {"F": {"n": 2, "top1": 0.5}, "M": {"n": 2, "top1": 0.5}}
    small = M.subgroup_breakdown(["F", "M", "M"], {"top1": [1, 0, 1]}, min_size=2)
    assert small["F"] == {"n": 1}


def test_retrieval_precision_at_k_counts_missing_items_as_misses():
    from rag_dx.metrics import retrieval_precision_at_k

    rel = [[True, False, True], [False] * 10, [True] * 12]
    assert retrieval_precision_at_k(rel, 10) == pytest.approx((0.2 + 0.0 + 1.0) / 3)
    assert retrieval_precision_at_k(rel, 1) == pytest.approx(2 / 3)
    assert np.isnan(retrieval_precision_at_k([], 10))


def test_paired_difference_mcnemar_and_bootstrap():
    from rag_dx.metrics import paired_difference

    a = np.array([1] * 80 + [0] * 20)
    b = np.array([1] * 80 + [1] * 15 + [0] * 5)  # b fixes 15 of a's 20 misses, breaks none
    r = paired_difference(a, b)
    assert r["delta"] == pytest.approx(0.15) and (r["only_a"], r["only_b"]) == (0, 15)
    assert r["mcnemar_p"] < 0.001 and 0 < r["ci_low"] <= 0.15 <= r["ci_high"]
    same = paired_difference(a, a)
    assert same["delta"] == 0 and same["mcnemar_p"] == 1.0
    swapped = paired_difference(b, a)
    assert swapped["delta"] == pytest.approx(-0.15) and swapped["mcnemar_p"] == pytest.approx(r["mcnemar_p"])
    with pytest.raises(ValueError):
        paired_difference(a, b[:-1])
