"""Leakage-safe splits: duplicates and near-duplicates never straddle, patients grouped, dates ordered."""

from __future__ import annotations

import time

import numpy as np
import pytest

from rag_dx.splits import (
    LeakageError,
    Split,
    check_no_leakage,
    date_split,
    duplicate_groups,
    holdout_split,
    kfold_splits,
    near_duplicate_pairs,
    normalize_for_dedup,
)

WORDS = ("fever cough rash itch pain headache nausea vomiting dizziness fatigue chills sweats swelling "
         "redness stiffness burning urination thirst weight loss blurred vision chest pressure").split()


def _corpus(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=20)) + f" case {i}" for i in range(n)]


def test_normalize_for_dedup() -> None:
    assert normalize_for_dedup("  Fever,  COUGH!\n and rash. ") == "fever cough and rash"


def test_exact_and_near_duplicates_share_a_group() -> None:
    base = "I have had a high fever, a dry cough and aching muscles for three days now and I feel exhausted"
    texts = [
        base,
        base.upper() + "!!",  # exact after normalization
        base.replace("three", "four"),  # near-duplicate
        "My skin is itchy with red scaly patches on my elbows and knees that get worse in winter",
    ]
    g = duplicate_groups(texts)
    assert g[0] == g[1] == g[2]
    assert g[3] != g[0]
    assert near_duplicate_pairs(texts, 0.8) == [(0, 1), (0, 2), (1, 2)]
    g_exact_only = duplicate_groups(texts, near_dup_jaccard=None)
    assert g_exact_only[0] == g_exact_only[1] != g_exact_only[2]


def test_near_duplicate_join_is_exact_against_brute_force() -> None:
    rng = np.random.default_rng(3)
    texts = _corpus(120)
    # plant near-duplicates by editing one word
    for i in range(0, 120, 10):
        toks = texts[i].split()
        toks[int(rng.integers(0, 5))] = "zzz"
        texts.append(" ".join(toks))
    from rag_dx.splits import _shingles

    sets = [_shingles(normalize_for_dedup(t)) for t in texts]
    brute = sorted(
        (i, j)
        for i in range(len(sets))
        for j in range(i + 1, len(sets))
        if len(sets[i] & sets[j]) / len(sets[i] | sets[j]) >= 0.8
    )
    assert near_duplicate_pairs(texts, 0.8) == brute
    assert len(brute) >= 12


def test_grouping_1200_texts_is_instant() -> None:
    texts = _corpus(1200)
    t = time.perf_counter()
    duplicate_groups(texts)
    assert time.perf_counter() - t < 2.0  # generous for a noisy 2-core box; typically ~0.05 s


def test_holdout_never_splits_a_duplicate_group() -> None:
    texts = _corpus(100)
    labels = [f"dx{i % 5}" for i in range(100)]
    texts += texts[:20]  # 20 verbatim twins
    labels += labels[:20]
    g = duplicate_groups(texts)
    for seed in range(5):
        s = holdout_split(labels, g, test_size=0.2, seed=seed)
        check_no_leakage(s, g)
        test_norm = {normalize_for_dedup(texts[i]) for i in s.test}
        assert not any(normalize_for_dedup(texts[i]) in test_norm for i in s.train)
        assert len(s.train) + len(s.test) == 120
        assert 0.12 < len(s.test) / 120 < 0.3
    # deterministic
    a, b = holdout_split(labels, g, seed=7), holdout_split(labels, g, seed=7)
    assert a.test.tolist() == b.test.tolist()


def test_a_straddling_duplicate_is_caught() -> None:
    texts = ["fever and cough for days", "Fever and cough, for days!", "itchy rash on arms"]
    g = duplicate_groups(texts)
    with pytest.raises(LeakageError):
        check_no_leakage(Split(np.array([0, 2]), np.array([1])), g)


def test_patient_grouping() -> None:
    texts = _corpus(60)
    labels = [f"dx{i % 3}" for i in range(60)]
    patients = [f"p{i // 4}" for i in range(60)]  # 15 patients, 4 reports each
    patients[0] = None  # unknown patient: grouped with nobody
    g = duplicate_groups(texts, patient_ids=patients)
    assert len(set(g.tolist())) == 16
    for seed in range(3):
        s = holdout_split(labels, g, test_size=0.25, seed=seed)
        train_p = {patients[i] for i in s.train} - {None}
        test_p = {patients[i] for i in s.test} - {None}
        assert not train_p & test_p
    for s in kfold_splits(labels, g, k=3, seed=0):
        assert not ({patients[i] for i in s.train} - {None}) & ({patients[i] for i in s.test} - {None})


def test_kfold_tests_every_case_once() -> None:
    texts = _corpus(50) + _corpus(5)  # 5 exact duplicates of the first 5
    labels = [f"dx{i % 2}" for i in range(50)] + [f"dx{i % 2}" for i in range(5)]
    g = duplicate_groups(texts)
    folds = kfold_splits(labels, g, k=5, seed=1)
    tested = np.concatenate([f.test for f in folds])
    assert sorted(tested.tolist()) == list(range(55))
    for f in folds:
        check_no_leakage(f, g)


def test_date_split_keeps_train_strictly_earlier() -> None:
    dates = [f"2024-01-{d:02d}" for d in range(1, 21)]
    texts = _corpus(20)
    texts[19] = texts[2]  # a twin of an early report in the latest (test) period
    g = duplicate_groups(texts)
    s = date_split(dates, g, test_size=0.25)
    assert max(dates[i] for i in s.train) < min(dates[i] for i in s.test)
    assert 2 in s.dropped.tolist() and 2 not in s.train.tolist()
    check_no_leakage(s, g)
    with pytest.raises(ValueError, match="no date"):
        date_split([None] + dates[1:], g)
    labels = ["a", "b"] * 10
    via_holdout = holdout_split(labels, g, test_size=0.25, split_by="date", dates=dates)
    assert via_holdout.test.tolist() == s.test.tolist()
    folds = kfold_splits(labels, g, k=3, split_by="date", dates=dates)
    for f in folds:
        assert max(dates[i] for i in f.train) < min(dates[i] for i in f.test)
