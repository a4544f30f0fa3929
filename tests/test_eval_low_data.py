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
