import pytest

from rag_dx.retrieve import reciprocal_rank_fusion


def test_rrf_matches_hand_worked_example():
    # dense: a, b, c   sparse: c, a, d   (k = 60)
    # a: 1/61 + 1/62 = 0.032522  c: 1/63 + 1/61 = 0.032266  b: 1/62 = 0.016129  d: 1/63 = 0.015873
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "a", "d"]], k=60)
    assert [doc for doc, _ in fused] == ["a", "c", "b", "d"]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[1][1] == pytest.approx(1 / 63 + 1 / 61)
    assert fused[3][1] == pytest.approx(1 / 63)


def test_rrf_weights_and_ties():
    # Equal scores keep first-seen order: deterministic output.
    assert [d for d, _ in reciprocal_rank_fusion([[1], [2]], k=10)] == [1, 2]
    # Weighting the second ranking above the first flips the tie.
    assert [d for d, _ in reciprocal_rank_fusion([[1], [2]], k=10, weights=[1.0, 2.0])] == [2, 1]
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([[1]], weights=[1.0, 2.0])


def test_rrf_empty_rankings():
    assert reciprocal_rank_fusion([[], []]) == []
