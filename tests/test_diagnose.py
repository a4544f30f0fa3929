"""The diagnose step: candidates from evidence, blended scores, citations and abstention."""

from __future__ import annotations

import pytest

from rag_dx.diagnose import build_assistant, candidate_key, collect_candidates
from rag_dx.build import build_index
from rag_dx.settings import Settings
from tests.helpers import KeywordScorer, PassThroughDeid, build_fixture_assistant, fixture_guidelines, fixture_reports


@pytest.fixture()
def assistant(tmp_path, fake_encoder):
    return build_fixture_assistant(tmp_path / "idx", fake_encoder)


def test_candidate_key_merges_spellings():
    assert candidate_key("COVID-19") == candidate_key("covid 19") == "covid 19"


def test_differential_is_ranked_cited_and_consistent(assistant):
    result = assistant.diagnose("Throbbing headache with nausea, photophobia and a visual aura.")
    assert not result.abstained
    names = [d.diagnosis for d in result.differential]
    assert names[0] == "Migraine"
    assert len(names) >= 3 and len(set(map(candidate_key, names))) == len(names)
    probs = [d.probability for d in result.differential]
    assert probs == sorted(probs, reverse=True) and sum(probs) == pytest.approx(1.0, abs=1e-3)
    evidence_ids = {e.id for e in result.evidence}
    for dx in result.differential:
        assert dx.evidence and set(dx.evidence) <= evidence_ids
        # every cited passage really carries that diagnosis
        for ev in result.evidence:
            if ev.id in dx.evidence:
                assert candidate_key(ev.label) == candidate_key(dx.diagnosis)
    assert result.differential[0].icd10 == "G43.909"
    assert result.versions.index == "fx/v0001" and result.versions.generator.startswith("keyword-scorer@")


def test_json_shape(assistant):
    data = assistant.diagnose("burning urination and frequency").model_dump(mode="json")
    assert {"differential", "evidence", "abstained", "versions"} <= set(data)
    assert {"diagnosis", "icd10", "probability", "evidence"} <= set(data["differential"][0])
    assert {"id", "kind", "title", "text", "score"} <= set(data["evidence"][0])
    assert {"index", "encoder", "generator", "adapter"} <= set(data["versions"])


def test_generator_changes_the_blend(assistant):
    # Retrieval favours Migraine; the scorer favours candidates whose name ("... headache") is in
    # the case text, so blending must move probability away from Migraine.
    case = "throbbing headache with nausea, photophobia and aura"
    full = assistant.diagnose(case)
    vote = assistant.diagnose(case, mode="retrieval")
    p_full = {d.diagnosis: d.probability for d in full.differential}
    p_vote = {d.diagnosis: d.probability for d in vote.differential}
    assert vote.differential[0].diagnosis == "Migraine"
    assert "Tension-type headache" in p_full
    assert p_full["Migraine"] < p_vote["Migraine"]
    assert p_full["Tension-type headache"] > p_vote["Tension-type headache"]
    assert all(d.generator_score is None for d in vote.differential)


def test_generator_only_mode_uses_given_candidates(assistant):
    result = assistant.diagnose("psoriasis of the scalp", mode="generator",
                                candidates=["Migraine", "Psoriasis", "Pneumonia"])
    assert result.evidence == [] and result.differential[0].diagnosis == "Psoriasis"


def test_abstains_when_nothing_is_similar(assistant):
    result = assistant.diagnose("zzzz qqqq xxxx")
    assert result.abstained and result.abstain_reason


def test_empty_case_is_an_error(assistant):
    from rag_dx.errors import RagDxError

    with pytest.raises(RagDxError):
        assistant.diagnose("   ")


def test_collect_candidates_votes_and_citations(assistant):
    hits = assistant.retrieve("silvery scaly plaques", k=6)
    pool = collect_candidates(hits)
    top = max(pool.values(), key=lambda c: c.vote)
    assert top.name == "Psoriasis" and len(top.evidence) == 3


def test_langchain_adapters(assistant):
    from rag_dx.lc import RagDxRetriever, as_runnable

    docs = RagDxRetriever(assistant=assistant, k=3).invoke("silvery scaly plaques on elbows")
    assert len(docs) == 3 and docs[0].metadata["label"] == "Psoriasis" and docs[0].id.startswith("R:")
    out = as_runnable(assistant).invoke("silvery scaly plaques on elbows")
    assert out["differential"][0]["diagnosis"] == "Psoriasis"


def _write_calibration(adapter_dir, **fields):
    import json

    adapter_dir.mkdir(parents=True, exist_ok=True)
    (adapter_dir / "rag_dx_calibration.json").write_text(json.dumps(fields))
    return adapter_dir


def test_adapter_calibration_is_applied_to_full_mode_only(tmp_path, fake_encoder):
    """The temperature stored with an adapter rescales the blended full-mode probabilities (same
    order), leaves the other modes alone, and the adapter's scoring wins over the default only."""
    from rag_dx.calibration import apply_temperature

    settings = Settings(index_dir=tmp_path / "idx")
    build_index(settings, "fx", fixture_reports(), fixture_guidelines(), encoder=fake_encoder,
                deidentifier=PassThroughDeid())
    plain = build_assistant(settings, "fx", encoder=fake_encoder, generator=KeywordScorer(), load_vocabulary=False)
    tuned_gen = KeywordScorer()
    tuned_gen.adapter_dir = str(_write_calibration(tmp_path / "lora", temperature=0.5, generator_pmi=False))
    tuned = build_assistant(settings, "fx", encoder=fake_encoder, generator=tuned_gen, load_vocabulary=False)
    assert plain.calibration_temperature == 1.0 and plain.settings.diagnosis.generator_pmi is True
    assert tuned.calibration_temperature == 0.5 and tuned.settings.diagnosis.generator_pmi is False

    case = "throbbing headache with nausea, photophobia and aura"
    # same scoring on both sides, so only the temperature differs
    base = build_assistant(settings.model_copy(update={"diagnosis": settings.diagnosis.model_copy(
        update={"generator_pmi": False})}), "fx", encoder=fake_encoder, generator=KeywordScorer(), load_vocabulary=False)
    raw, cal = base.diagnose(case), tuned.diagnose(case)
    assert [d.diagnosis for d in raw.differential] == [d.diagnosis for d in cal.differential]
    expected = apply_temperature([d.probability for d in raw.differential], 0.5)
    assert [d.probability for d in cal.differential] == pytest.approx(expected.tolist(), abs=2e-4)
    assert cal.differential[0].probability > raw.differential[0].probability  # T < 1 sharpens
    for mode, kw in (("retrieval", {}), ("generator", {"candidates": ["Migraine", "Tension-type headache"]})):
        a, b = base.diagnose(case, mode=mode, **kw), tuned.diagnose(case, mode=mode, **kw)
        assert [d.probability for d in a.differential] == [d.probability for d in b.differential]

    # a value the user set explicitly is kept; the switch turns the file off
    explicit = settings.model_copy(update={"diagnosis": settings.diagnosis.model_copy(update={"generator_pmi": True})})
    kept = build_assistant(explicit, "fx", encoder=fake_encoder, generator=tuned_gen, load_vocabulary=False)
    assert kept.settings.diagnosis.generator_pmi is True and kept.calibration_temperature == 0.5
    off = settings.model_copy(update={"diagnosis": settings.diagnosis.model_copy(update={"adapter_calibration": False})})
    assert build_assistant(off, "fx", encoder=fake_encoder, generator=tuned_gen,
                           load_vocabulary=False).calibration_temperature == 1.0


@pytest.mark.parametrize("content, field", [
    ('{"generator_pmi": false}', "temperature"),
    ('{"temperature": -1}', "temperature"),
    ('{"temperature": "warm"}', "temperature"),
    ('{"temperature": 0.7, "generator_pmi": "no"}', "generator_pmi"),
    ("{not json", None),
])
def test_bad_calibration_file_is_a_clear_error(tmp_path, content, field):
    from rag_dx.calibration import read_adapter_calibration
    from rag_dx.errors import ConfigError

    (tmp_path / "rag_dx_calibration.json").write_text(content)
    with pytest.raises(ConfigError) as err:
        read_adapter_calibration(tmp_path)
    assert "rag_dx_calibration.json" in str(err.value)
    if field:
        assert f"'{field}'" in str(err.value)
    assert read_adapter_calibration(tmp_path / "missing") is None and read_adapter_calibration(None) is None


def test_warm_up_answers_a_made_up_case_and_leaves_the_assistant_ready(assistant, monkeypatch):
    seen: list[str] = []
    real = type(assistant).diagnose

    def spy(self, text, **kw):
        seen.append(text)
        return real(self, text, **kw)

    monkeypatch.setattr(type(assistant), "diagnose", spy)
    assert assistant.warm_up() >= 0.0
    assert seen == [assistant.WARM_UP_CASE]  # one made-up case, never a patient's words
    d = assistant.diagnose("fever and productive cough")
    assert d.differential


def test_an_answer_from_guidelines_alone_shows_its_lower_confidence(tmp_path, fake_encoder):
    """Guideline passages alone were right about a third as often as their probabilities said, so an
    index without reports scales them by `guidelines_only_confidence` (same order) and says why it abstains."""
    settings = Settings(index_dir=tmp_path / "idx")
    build_index(settings, "gl", [], fixture_guidelines(), encoder=fake_encoder, deidentifier=PassThroughDeid())

    def assistant(confidence: float):
        s = settings.model_copy(update={"diagnosis": settings.diagnosis.model_copy(
            update={"guidelines_only_confidence": confidence})})
        return build_assistant(s, "gl", encoder=fake_encoder, generator=KeywordScorer(), load_vocabulary=False)

    case = "throbbing headache with nausea, photophobia and aura"
    full, scaled = assistant(1.0).diagnose(case), assistant(0.2).diagnose(case)
    assert {e.kind for e in scaled.evidence} == {"guideline"}
    assert [d.diagnosis for d in scaled.differential] == [d.diagnosis for d in full.differential]
    assert sum(d.probability for d in full.differential) == pytest.approx(1.0, abs=1e-3)
    assert [d.probability for d in scaled.differential] == pytest.approx(
        [0.2 * d.probability for d in full.differential], abs=2e-4)
    assert scaled.differential[0].probability < settings.diagnosis.abstain_below <= full.differential[0].probability
    assert not full.abstained
    assert scaled.abstained and "guideline passages alone" in (scaled.abstain_reason or "")


def test_an_index_with_reports_keeps_its_probabilities_whole(assistant):
    """The guidelines-only scaling is for answers without any past report among the evidence."""
    result = assistant.diagnose("burning urination and frequency")
    assert any(e.kind == "report" for e in result.evidence)
    assert sum(d.probability for d in result.differential) == pytest.approx(1.0, abs=1e-3)


def test_an_evaluated_case_gets_the_answer_the_ui_gives(tmp_path, fake_encoder):
    """`rag-dx eval` excludes each case's own id from retrieval; an id the index does not hold must
    change nothing, or the evaluation measures another system than the one clinicians use (it once
    routed a vignette to Typhoid that the UI answered as Appendicitis). Shallow retrieval lists, so
    that what enters them matters."""
    from rag_dx.settings import Settings
    from tests.helpers import KeywordScorer, PassThroughDeid

    settings = Settings(index_dir=tmp_path / "idx")
    settings = settings.model_copy(update={"retrieval": settings.retrieval.model_copy(
        update={"k_dense": 3, "k_sparse": 3, "k_evidence": 3})})
    build_index(settings, "fx", fixture_reports(), fixture_guidelines(), encoder=fake_encoder,
                deidentifier=PassThroughDeid())
    assistant = build_assistant(settings, "fx", encoder=fake_encoder, generator=KeywordScorer(), load_vocabulary=False)
    cases = [r.text for r in fixture_reports()] + ["throbbing headache with nausea", "burning urination, no fever"]
    for case in cases:
        served = assistant.diagnose(case).model_dump(exclude={"timings_ms"})
        evaluated = assistant.diagnose(case, exclude_doc_ids={"case-not-indexed"}).model_dump(exclude={"timings_ms"})
        assert evaluated == served, case
