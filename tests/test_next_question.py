"""Next questions from crafted evidence: findings in one top candidate's cited passages and not the
other's are asked, best supported first; findings the case already mentions (or denies) are not."""

from __future__ import annotations

import json

import pytest

from rag_dx.advice import annotate
from rag_dx.next_question import information_gain, next_questions, question_groups
from rag_dx.schemas import Diagnosis, Differential, Evidence, Versions


def ev(id_: str, text: str, label: str) -> Evidence:
    return Evidence(id=id_, kind="report" if id_.startswith("R:") else "guideline", title=id_, text=text,
                    score=1.0, label=label)


EVIDENCE = [
    ev("R:1", "Throbbing headache with nausea and photophobia.", "Migraine"),
    ev("R:2", "Headache with photophobia and vomiting.", "Migraine"),
    ev("G:1", "Bilateral pressing headache with neck pain. No nausea.", "Tension-type headache"),
    ev("R:3", "Headache and a high fever with a stiff neck.", "Meningitis"),
]


def make(*cands: tuple[str, float, list[str]], evidence=EVIDENCE) -> Differential:
    return Differential(differential=[Diagnosis(diagnosis=n, probability=p, evidence=e) for n, p, e in cands],
                        evidence=list(evidence), abstained=False, versions=Versions(package="test"))


MIGRAINE_VS_TENSION = make(("Migraine", 0.6, ["R:1", "R:2"]), ("Tension-type headache", 0.3, ["G:1"]))


def asked(questions) -> dict[str, tuple[str, str]]:
    return {q.finding.lower(): (q.favours, q.versus) for q in questions}


def test_findings_of_one_candidate_and_not_the_other_are_asked():
    qs = asked(next_questions("Headache for two days.", MIGRAINE_VS_TENSION))
    assert qs["photophobia"] == ("Migraine", "Tension-type headache")
    assert qs["vomiting"] == ("Migraine", "Tension-type headache")
    assert qs["neck pain"] == ("Tension-type headache", "Migraine")
    assert "headache" not in qs  # mentioned in the case, and in both candidates' evidence


def test_a_finding_the_other_candidate_denies_still_separates_them():
    # nausea: asserted in R:1 (Migraine), denied in G:1 (Tension-type): the tension passage does not support it
    qs = asked(next_questions("Headache for two days.", MIGRAINE_VS_TENSION))
    assert qs["nausea"] == ("Migraine", "Tension-type headache")


def test_findings_already_mentioned_in_any_assertion_are_not_asked():
    for case in ("Headache and photophobia.", "Headache, no photophobia.", "Headache, possibly photophobia.",
                 "Headache. Mother had photophobia."):
        qs = asked(next_questions(case, MIGRAINE_VS_TENSION))
        assert "photophobia" not in qs, case
        assert "vomiting" in qs, case  # the rest are still asked


def test_a_finding_both_candidates_cite_is_not_asked():
    both = make(("Migraine", 0.5, ["R:1", "R:2"]), ("Meningitis", 0.4, ["R:3", "R:2"]))
    qs = asked(next_questions("Headache.", both))
    assert "vomiting" not in qs and "photophobia" not in qs  # R:2 is cited by both
    assert qs["fever"] == ("Meningitis", "Migraine")


def test_a_more_specific_mention_counts_for_the_broader_finding():
    evidence = [ev("R:1", "Headache with nausea.", "A"), ev("R:2", "Thunderclap headache and vomiting.", "B")]
    d = make(("A", 0.5, ["R:1"]), ("B", 0.4, ["R:2"]), evidence=evidence)
    qs = asked(next_questions("Feels unwell.", d))
    assert "headache" not in qs  # B's thunderclap headache is a headache
    assert qs["thunderclap headache"] == ("B", "A")
    assert "headache" not in asked(next_questions("Thunderclap headache.", d))  # moot after the specific one


def test_better_supported_findings_come_first_and_cite_their_passages():
    qs = next_questions("Headache for two days.", MIGRAINE_VS_TENSION)
    photophobia = next(q for q in qs if q.finding == "Photophobia")
    vomiting = next(q for q in qs if q.finding == "Vomiting")
    assert photophobia.evidence == ["R:1", "R:2"] and vomiting.evidence == ["R:2"]
    assert photophobia.score > vomiting.score  # 2 of 2 Migraine passages vs 1 of 2
    assert [q.score for q in qs] == sorted((q.score for q in qs), reverse=True)


def test_information_gain_rewards_findings_that_separate_the_pair():
    assert information_gain(0.5, 0.3, 0.3) == pytest.approx(0.0)  # same likelihood: nothing learnt
    assert information_gain(0.5, 0.9, 0.1) > information_gain(0.5, 0.6, 0.4) > 0
    assert information_gain(0.99, 0.9, 0.1) < information_gain(0.5, 0.9, 0.1)  # little left to learn
    assert information_gain(0.5, 1.0, 0.0) == pytest.approx(1.0)  # a perfect test: one bit


def test_a_finding_that_names_a_candidate_is_not_a_question():
    evidence = [ev("G:1", "Cluster headache: orbital pain with tearing.", "Cluster headache"),
                ev("R:1", "Headache with photophobia.", "Migraine")]
    d = make(("Migraine", 0.5, ["R:1"]), ("Cluster headache", 0.4, ["G:1"]), evidence=evidence)
    qs = asked(next_questions("Headache.", d))
    assert "cluster headache" not in qs and "photophobia" in qs


def test_tumours_and_hpo_grouping_terms_are_not_bedside_questions():
    evidence = [ev("G:1", "A heart defect or a cancer may cause it, with fever and a cough.", "A"),
                ev("G:2", "Headache with photophobia.", "B")]
    d = make(("A", 0.5, ["G:1"]), ("B", 0.4, ["G:2"]), evidence=evidence)
    qs = asked(next_questions("Feels unwell.", d))
    assert "fever" in qs and "photophobia" in qs  # the symptoms still are
    assert "neoplasm" not in qs  # "cancer": imaging or pathology answers it
    assert "abnormal heart morphology" not in qs  # "heart defect": HPO's grouping term


@pytest.mark.slow  # loads the ICD-10-CM vocabulary
def test_a_finding_whose_name_is_a_candidate_s_diagnosis_under_another_name_is_not_a_question():
    from rag_dx.vocab import Vocabulary

    evidence = [ev("G:1", "A myocardial infarction causes crushing chest pain with sweating and nausea.", "Heart Attack"),
                ev("G:2", "Chest pain on exertion that is relieved by rest, with shortness of breath.", "Angina")]
    d = Differential(differential=[Diagnosis(diagnosis="Angina", icd10="I20.9", probability=0.4, evidence=["G:2"]),
                                   Diagnosis(diagnosis="Heart Attack", icd10="I21.9", probability=0.3, evidence=["G:1"])],
                     evidence=evidence, abstained=False, versions=Versions(package="test"))
    plain = asked(next_questions("Chest pain.", d))
    assert "myocardial infarction" in plain  # HPO's name for the candidate Heart Attack: no string in common
    qs = asked(next_questions("Chest pain.", d, vocabulary=Vocabulary.load()))
    assert "myocardial infarction" not in qs and "nausea" in qs and "dyspnea" in qs


def test_k_limits_and_pairs_of_three_candidates_are_all_compared():
    three = make(("Migraine", 0.5, ["R:1", "R:2"]), ("Tension-type headache", 0.3, ["G:1"]),
                 ("Meningitis", 0.2, ["R:3"]))
    assert len(next_questions("Headache.", three, k=2)) == 2
    qs = next_questions("Headache.", three, k=20)
    pairs = {frozenset((q.favours, q.versus)) for q in qs}
    assert frozenset(("Migraine", "Meningitis")) in pairs or frozenset(("Tension-type headache", "Meningitis")) in pairs
    groups = question_groups(qs)
    assert sum(len(g[2]) for g in groups) == len(qs)
    assert len({frozenset(g[:2]) for g in groups}) == len(groups)


@pytest.mark.parametrize("d", [
    make(("Migraine", 0.9, ["R:1", "R:2"])),                                          # one candidate
    make(("Migraine", 0.6, ["R:1"]), ("Tension-type headache", 0.3, ["G:404"])),     # other cites nothing shown
])
def test_no_questions_without_two_cited_candidates(d):
    assert next_questions("Headache.", d) == []


def test_annotate_fills_both_fields_and_the_answer_still_validates():
    text = "Sudden shortness of breath and pleuritic chest pain after a long flight."
    evidence = [ev("R:1", "Pleuritic chest pain with fever and productive cough.", "Pneumonia"),
                ev("R:2", "Pleuritic chest pain after a viral illness, pericardial rub.", "Pericarditis")]
    d = make(("Pneumonia", 0.5, ["R:1"]), ("Pericarditis", 0.4, ["R:2"]), evidence=evidence)
    out = annotate(d, text)
    assert "Pulmonary embolism" in [f.diagnosis for f in out.red_flags]
    assert {q.finding.lower() for q in out.next_questions} >= {"fever", "productive cough"}
    again = Differential.model_validate(json.loads(out.model_dump_json()))  # extra="forbid" round trip
    assert again == out and d.red_flags == [] and d.next_questions == []  # the input is not changed


def test_the_softer_variants_ask_shared_findings_when_one_side_asserts_them_more():
    evidence = [ev("R:1", "Fever and cough.", "A"), ev("R:2", "Fever and chills.", "A"),
                ev("R:3", "Fever and a rash.", "B"), ev("R:4", "Rash only.", "B")]
    d = make(("A", 0.5, ["R:1", "R:2"]), ("B", 0.5, ["R:3", "R:4"]), evidence=evidence)
    assert "fever" not in asked(next_questions("Unwell.", d))  # B's passages assert it too
    assert asked(next_questions("Unwell.", d, require_absent=False))["fever"] == ("A", "B")  # 2 of 2 vs 1 of 2


def test_the_prior_is_the_pair_s_probabilities_or_even():
    evidence = [ev("R:1", "Cough.", "A"), ev("R:2", "Cough and wheezing.", "A"), ev("R:3", "Rash.", "B")]
    d = make(("A", 0.6, ["R:1", "R:2"]), ("B", 0.2, ["R:3"]), evidence=evidence)
    q_a, q_b = 2.5 / 3, 0.5 / 2  # Cough: 2 of A's 2 passages, none of B's 1, smoothed
    skewed = {q.finding: q.score for q in next_questions("Unwell.", d)}
    even = {q.finding: q.score for q in next_questions("Unwell.", d, prior="even")}
    assert skewed["Cough"] == pytest.approx(information_gain(0.75, q_a, q_b) * 0.8, abs=1e-4)
    assert even["Cough"] == pytest.approx(information_gain(0.5, q_a, q_b) * 0.8, abs=1e-4)
