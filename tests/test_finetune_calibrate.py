"""Temperature calibration and model-card helpers (fast, no models)."""

from __future__ import annotations

import json

import numpy as np
import pytest


def test_apply_temperature_keeps_order_and_sums_to_one():
    from finetune.calibrate import apply_temperature

    p = np.array([0.6, 0.3, 0.1, 0.0])
    for t in (0.3, 1.0, 3.0):
        q = apply_temperature(p, t)
        assert q.sum() == pytest.approx(1.0)
        assert list(np.argsort(-q)[:3]) == [0, 1, 2] and q[3] == 0.0
    assert apply_temperature(p, 0.3)[0] > 0.6 > apply_temperature(p, 3.0)[0]
    with pytest.raises(ValueError):
        apply_temperature(p, 0.0)


def test_fit_temperature_recovers_a_known_miscalibration():
    from finetune.calibrate import apply_temperature, calibration_metrics, fit_temperature

    rng = np.random.default_rng(0)
    probs, gold = [], []
    for _ in range(3000):
        z = rng.normal(0, 1.5, size=5)
        q = np.exp(z) / np.exp(z).sum()  # the truth
        gold.append(int(rng.choice(5, p=q)))
        probs.append(apply_temperature(q, 2.0))  # an overconfident model: q^(1/2)
    t = fit_temperature(probs, gold)
    assert t == pytest.approx(0.5, rel=0.15)
    names = [[f"d{i}" for i in range(5)]] * len(probs)
    golds = [f"d{g}" for g in gold]
    before = calibration_metrics(names, probs, golds, 1.0)
    after = calibration_metrics(names, probs, golds, t)
    assert after["nll"] < before["nll"] and after["ece"] < before["ece"]
    assert fit_temperature([[1.0]], [-1]) == 1.0  # nothing to fit


def test_calibration_file_roundtrip(tmp_path):
    from finetune.calibrate import CALIBRATION_FILE, write_calibration
    from rag_dx.calibration import read_adapter_calibration

    assert read_adapter_calibration(tmp_path) is None and read_adapter_calibration(None) is None
    write_calibration(tmp_path, 0.7, validation={"before": {}, "after": {}}, fitted_on={"validation_cases": 3},
                      generator_pmi=False)
    assert json.loads((tmp_path / CALIBRATION_FILE).read_text())["temperature"] == 0.7
    cal = read_adapter_calibration(tmp_path)
    assert cal.temperature == 0.7 and cal.generator_pmi is False


def test_card_eval_section_is_replaced_not_duplicated(tmp_path):
    from finetune.cards import EVAL_BEGIN, add_eval_results, write_card

    write_card(tmp_path, f"# card\n\n{EVAL_BEGIN}\n<!-- rag-dx eval results: end -->\n\ntail\n")
    add_eval_results(tmp_path, "| a | 1 |")
    add_eval_results(tmp_path, "| a | 2 |")
    text = (tmp_path / "README.md").read_text()
    assert text.count(EVAL_BEGIN) == 1 and "| a | 2 |" in text and "| a | 1 |" not in text
    assert text.rstrip().endswith("tail")
