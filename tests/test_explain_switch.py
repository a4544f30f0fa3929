"""`diagnosis.explain`: the benchmark's baseline switch leaves the ranking alone and only drops the explanation."""

from __future__ import annotations

from dataclasses import replace

from tests.helpers import build_fixture_assistant

CASE = "Throbbing headache with nausea, photophobia and a visual aura. No fever."


def test_explain_off_keeps_the_ranking_and_drops_only_the_explanation(tmp_path, fake_encoder):
    on = build_fixture_assistant(tmp_path / "idx", fake_encoder)
    ds = on.settings.diagnosis
    off = replace(on, settings=on.settings.model_copy(update={"diagnosis": ds.model_copy(update={"explain": False})}))
    explained, plain = on.diagnose(CASE), off.diagnose(CASE)

    assert "explain_ms" in explained.timings_ms and "explain_ms" not in plain.timings_ms
    assert explained.timings_ms["total_ms"] >= explained.timings_ms["explain_ms"]
    # the ranking, probabilities and citations are computed before the explanation step
    assert [(d.diagnosis, d.probability, d.evidence) for d in plain.differential] == \
        [(d.diagnosis, d.probability, d.evidence) for d in explained.differential]
    assert [e.id for e in plain.evidence] == [e.id for e in explained.evidence]
    assert any(d.matches for d in explained.differential)  # the switch has something to drop
    assert all(not d.matches and not d.against for d in plain.differential)
    assert plain.red_flags == [] and plain.next_questions == []
