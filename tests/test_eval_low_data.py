"""--train-per-label: a low-data practice measured on the same test part."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from eval.plan import cap_train
from rag_dx.errors import ConfigError
from rag_dx.schemas import Report
from rag_dx.splits import Split


def test_cap_train_keeps_the_test_part_and_caps_each_label():
    reports = [Report(report_id=str(i), text=f"t{i}", diagnosis="ab"[i % 2]) for i in range(40)]
    split = Split(np.arange(30, dtype=np.int64), np.arange(30, 40, dtype=np.int64), note="x")
    capped = cap_train(split, reports, 5, seed=1)
    assert capped.test.tolist() == split.test.tolist()
    assert Counter(reports[i].diagnosis for i in capped.train) == {"a": 5, "b": 5}
    assert set(capped.train.tolist()) <= set(split.train.tolist())
    assert cap_train(split, reports, 5, seed=1).train.tolist() == capped.train.tolist()
    with pytest.raises(ConfigError):
        cap_train(split, reports, 0, seed=1)


def test_conformal_coverage_counts_the_gold_inside_each_set():
    from eval.scoring import _Ranks, conformal_coverage
    from eval.systems import CasePrediction

    preds = [
        CasePrediction("a", "x", [("x", 0.6), ("y", 0.4)], sets={"0.8": ["x"], "0.9": ["x", "y"]}),
        CasePrediction("b", "y", [("x", 0.6), ("y", 0.4)], sets={"0.8": ["x"], "0.9": ["x", "y"]}),
        CasePrediction("c", "z", [("x", 0.6), ("y", 0.4)], sets={"0.8": ["x"], "0.9": ["x", "y"]},
                       sets_guaranteed=False),
    ]
    ranks = _Ranks(["x", "y", "z"], [set(), set(), set()], np.array([0, 1, -1]), np.array([0, 1, -1]),
                   ["x", "x", "x"], np.zeros(3))
    cov = conformal_coverage(preds, ranks)
    assert cov["0.8"]["coverage"] == pytest.approx(1 / 3) and cov["0.8"]["mean_size"] == 1.0
    assert cov["0.9"]["coverage"] == pytest.approx(2 / 3) and cov["0.9"]["mean_size"] == 2.0
    assert cov["0.9"]["n_guaranteed"] == 2 and cov["0.9"]["coverage_guaranteed"] == 1.0
