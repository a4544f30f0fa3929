"""The next-question protocol's helpers: removing a finding's mentions, the interval it reports."""

from __future__ import annotations

import pytest

from eval.protocols.next_question import remove_concept, wilson


def test_removing_mentions_leaves_tidy_text():
    text = "I have a fever, a cough and chills. No rash."
    spans = [(text.index("chills"), text.index("chills") + len("chills"))]
    assert remove_concept(text, spans) == "I have a fever, a cough. No rash."
    spans = [(9, 14), (text.index("rash"), text.index("rash") + 4)]
    assert "fever" not in remove_concept(text, spans) and "rash" not in remove_concept(text, spans)


def test_wilson_interval_brackets_the_share():
    lo, hi = wilson(56, 100)
    assert lo < 0.56 < hi and hi - lo == pytest.approx(0.19, abs=0.01)
    assert wilson(0, 0) == (0.0, 0.0)
