"""Training data for the fine-tunes: leakage-safe splits, pairs, sampling plans, recipes (fast)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import FIXTURE_CASES, write_reports_csv


def _csv(tmp_path: Path, extra_twins: bool = True) -> Path:
    rows = [{"report_id": f"fx-{i:03d}", "diagnosis": dx, "icd10": code, "text": text}
            for i, (dx, code, text) in enumerate(FIXTURE_CASES)]
    if extra_twins:  # a verbatim twin and a near-twin of fx-000
        rows.append({"report_id": "twin-a", "diagnosis": "Migraine", "icd10": "G43.909", "text": FIXTURE_CASES[0][2]})
        rows.append({"report_id": "twin-b", "diagnosis": "Migraine", "icd10": "G43.909",
                     "text": FIXTURE_CASES[0][2].replace("noise.", "noise!")})
    return write_reports_csv(tmp_path / "reports.csv", rows)


def test_groups_exclusions_and_pairs_respect_duplicates(tmp_path):
    from finetune.pairs import exclusion_map, load_labeled, report_pairs

    data = load_labeled([_csv(tmp_path)])
    ids = [r.report_id for r in data.reports]
    g = dict(zip(ids, data.groups.tolist()))
    assert g["fx-000"] == g["twin-a"] == g["twin-b"]
    excl = exclusion_map(data, extra={"held-out"})
    assert excl["fx-000"] == {"fx-000", "twin-a", "twin-b", "held-out"}
    assert excl["fx-003"] == {"fx-003", "held-out"}
    pairs = report_pairs(data, per_report=5, rng=np.random.default_rng(0))
    by_text = {r.text: r.report_id for r in data.reports}
    for p in pairs:
        a, b = by_text[p.anchor], by_text.get(p.positive)
        assert g[a] != g[b], "a case is never paired with its own duplicate"
        assert p.group == p.group.casefold()


def test_drop_eval_holdout_is_the_split_rag_dx_eval_tests_on(shared_data):
    from rag_dx.splits import duplicate_groups, holdout_split
    from finetune.pairs import drop_eval_holdout, load_labeled
    from rag_dx.ingest.loaders import load_reports

    path = shared_data / "symptom2disease" / "Symptom2Disease.csv"
    data = load_labeled([path], label_col="label")
    train, test_ids = drop_eval_holdout(data, 0.2, 0)
    # what eval.run.run_eval computes for --holdout 0.2 --seed 0
    loaded = load_reports(path, label_col="label")
    reports = loaded.reports
    groups = duplicate_groups([r.text for r in reports], patient_ids=loaded.patient_ids)
    split = holdout_split([r.diagnosis for r in reports], groups, test_size=0.2, seed=0)
    assert test_ids == {reports[i].report_id for i in split.test}
    assert {r.report_id for r in train.reports} == {reports[i].report_id for i in split.train}


def test_validation_split_is_group_safe(tmp_path):
    from finetune.pairs import load_labeled, validation_split

    data = load_labeled([_csv(tmp_path)])
    train, val = validation_split(data, 0.25, seed=0)
    assert len(train) + len(val) == len(data) and len(val) > 0
    assert not set(train.groups.tolist()) & set(val.groups.tolist())
    same, empty = validation_split(data, 0.0, seed=0)
    assert len(same) == len(data) and len(empty) == 0


def test_labels_required(tmp_path):
    from finetune.pairs import load_labeled
    from rag_dx.errors import ConfigError

    path = write_reports_csv(tmp_path / "r.csv", [{"report_id": "a", "diagnosis": "", "icd10": "", "text": "fever"}])
    with pytest.raises(ConfigError, match="line 2"):
        load_labeled([path])


def test_description_and_guideline_pairs():
    from finetune.pairs import diagnosis_description, guideline_pairs
    from rag_dx.schemas import Guideline
    from rag_dx.vocab import Vocabulary

    vocab = Vocabulary.load()
    text = diagnosis_description("Psoriasis", vocab)
    assert text.startswith("Diagnosis: Psoriasis") and "ICD-10-CM L40" in text
    assert diagnosis_description("Zzz unknown thing", None) == "Diagnosis: Zzz unknown thing."
    gls = [
        Guideline(doc_id="1", title="What is (are) Psoriasis ?", text="What is (are) Psoriasis ?\nA skin disease.",
                  topic="Psoriasis"),
        Guideline(doc_id="2", title="What are the symptoms of Psoriasis ?",
                  text="What are the symptoms of Psoriasis ?\nScaly plaques.", topic="Psoriasis"),
        Guideline(doc_id="3", title="Asthma overview", text="Wheeze and cough.", topic=None),
    ]
    pairs = guideline_pairs(gls, 2, np.random.default_rng(0))
    assert len(pairs) == 2
    assert pairs[0].anchor.startswith("What are the symptoms") and pairs[0].positive == "Scaly plaques."
    assert all(p.kind == "guideline" for p in pairs)


def test_augmentation_is_seeded_and_meaning_preserving():
    from finetune.pairs import augment_case

    text = "I have a fever, a headache and shortness of breath."
    a = augment_case(text, np.random.default_rng(3), prob=1.0)
    b = augment_case(text, np.random.default_rng(3), prob=1.0)
    assert a == b and a != text
    assert "shortness of breath" not in a  # the longest matching term is replaced as a whole
    assert augment_case(text, np.random.default_rng(3), prob=0.0) == text


def test_plan_draws_balances_classes():
    from finetune.generator import plan_draws
    from finetune.generator_recipe import GeneratorRecipe
    from finetune.pairs import CaseEvidence

    cases = [CaseEvidence(f"a{i}", "x", "Common", []) for i in range(90)]
    cases += [CaseEvidence(f"b{i}", "y", "Rare", []) for i in range(10)]
    rec = GeneratorRecipe(max_steps=250, grad_accum=4, balance="sampling", no_evidence_fraction=0.0)
    draws = plan_draws(cases, rec, rec.max_steps)
    counts = Counter(cases[d.case].label for d in draws)
    assert 0.4 < counts["Rare"] / len(draws) < 0.6
    assert all(not d.with_evidence for d in draws)  # these cases have no evidence to show
    rec_loss = GeneratorRecipe(max_steps=25, grad_accum=4, balance="loss")
    draws = plan_draws(cases, rec_loss, 25)
    w = {cases[d.case].label: d.weight for d in draws}
    assert w["Rare"] == pytest.approx(9 * w["Common"])
    assert plan_draws(cases, rec_loss, 25) == draws  # seeded


def test_recipes_parse_and_validate(tmp_path):
    from finetune.calibrate import CalibrationRecipe
    from finetune.commands import RECIPES_DIR, _recipe, load_recipe
    from finetune.encoder import EncoderRecipe
    from finetune.generator_recipe import GeneratorRecipe, SearchRecipe
    from rag_dx.errors import ConfigError

    for name in ("cpu", "gpu"):
        path, raw = load_recipe(RECIPES_DIR / f"{name}.toml")
        EncoderRecipe.from_dict(raw["encoder"])
        GeneratorRecipe.from_dict(raw["generator"])
        SearchRecipe.from_dict(raw["search"])
        CalibrationRecipe.from_dict(raw["calibration"])
    assert load_recipe("gpu")[0].name == "gpu.toml"
    bad = tmp_path / "bad.toml"
    bad.write_text("[generator]\nlora_rank = 8\n")
    _, raw = load_recipe(bad)
    with pytest.raises(ConfigError, match="unknown key\\(s\\) lora_rank"):
        _recipe(GeneratorRecipe, raw["generator"], bad)
    bad.write_text("[trainer]\nx = 1\n")
    with pytest.raises(ConfigError, match="unknown table"):
        load_recipe(bad)
    with pytest.raises(ValueError, match="batch_sampler"):
        EncoderRecipe(batch_sampler="random")


def test_ranking_candidates_put_gold_first_then_retrieved_then_seeded_others():
    from finetune.generator import choose_candidates
    from finetune.pairs import CaseEvidence

    labels = ["Acne", "Migraine", "Pneumonia", "Psoriasis", "Typhoid", "Malaria", "Dengue"]
    case = CaseEvidence("x", "text", "Malaria", [], candidates=["malaria", "Dengue", "Typhoid"])
    picked = choose_candidates(case, labels, 4, seed=1)
    assert picked[:3] == ["Malaria", "Dengue", "Typhoid"] and len(picked) == 4 and len(set(picked)) == 4
    assert choose_candidates(case, labels, 4, seed=1) == picked
    everything = choose_candidates(case, labels, 0, seed=1)
    assert everything[0] == "Malaria" and sorted(everything) == sorted(labels)
