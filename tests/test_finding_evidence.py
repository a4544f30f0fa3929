"""Per-diagnosis 'matches' / 'against' come from that diagnosis's own cited evidence."""

from __future__ import annotations

from rag_dx.finding_evidence import with_findings
from rag_dx.schemas import Diagnosis, Differential, Evidence, Versions


def _answer() -> Differential:
    ev = [
        Evidence(id="G:cyst", kind="guideline", title="Cystitis", text="Symptoms are dysuria and urinary frequency.",
                 score=0.5),
        Evidence(id="G:pyelo", kind="guideline", title="Pyelonephritis",
                 text="Patients have fever, flank pain and dysuria.", score=0.4),
        Evidence(id="R:1", kind="report", title="report", text="No fever. Dysuria for two days.", score=0.3,
                 label="Cystitis"),
    ]
    return Differential(
        differential=[Diagnosis(diagnosis="Cystitis", probability=0.6, evidence=["G:cyst", "R:1"]),
                      Diagnosis(diagnosis="Pyelonephritis", probability=0.3, evidence=["G:pyelo"]),
                      Diagnosis(diagnosis="Uncited", probability=0.1, evidence=["G:missing"])],
        evidence=ev, abstained=False, versions=Versions(package="t", encoder="e"))


def test_matches_and_against_follow_each_diagnosis_citations() -> None:
    out = with_findings(_answer(), "Burning on urination and frequency. No fever, no flank pain.")
    cyst, pyelo, uncited = out.differential
    assert "dysuria" in cyst.matches
    assert not any("flank" in a for a in cyst.against)
    assert "no flank pain" in pyelo.against and "no fever" in pyelo.against
    assert "dysuria" in pyelo.matches
    assert uncited.matches == [] and uncited.against == []
    # explaining never reorders or re-weighs the answer
    assert [d.probability for d in out.differential] == [d.probability for d in _answer().differential]


def test_a_finding_present_in_one_citation_is_not_counted_against_by_another() -> None:
    # R:1 says "No fever" but nothing of Cystitis's says fever is present: absence in evidence vs a febrile case
    out = with_findings(_answer(), "Fever and dysuria.")
    cyst = out.differential[0]
    assert "fever (absent in evidence)" in cyst.against
    out = with_findings(_answer(), "Fever, flank pain and dysuria.")
    assert out.differential[1].against == []


def test_case_without_findings_leaves_answer_unchanged() -> None:
    answer = _answer()
    assert with_findings(answer, "zzz qqq") == answer


def test_ui_and_cli_show_matches_and_against() -> None:
    from rag_dx.commands.render import format_differential
    from ui.render import differential_html

    out = with_findings(_answer(), "Burning on urination. No fever, no flank pain.")
    html = differential_html(out)
    assert '<span class="rdx-against">against: ' in html and "no flank pain" in html
    text = format_differential(out)
    pyelo_line = text.splitlines()[[i for i, l in enumerate(text.splitlines()) if "Pyelonephritis" in l][0] + 2]
    assert pyelo_line.strip().startswith("matches: dysuria; against: ")


def _one(text: str) -> Differential:
    ev = [Evidence(id="G:1", kind="guideline", title="t", text=text, score=0.5)]
    return Differential(differential=[Diagnosis(diagnosis="D", probability=0.5, evidence=["G:1"])], evidence=ev,
                        abstained=False, versions=Versions(package="t", encoder="e"))


def test_a_broader_or_narrower_finding_in_the_evidence_matches_through_hpo() -> None:
    """A leaflet's "swollen lymph glands" (Lymphadenopathy) supports a case's "posterior cervical
    lymphadenopathy", and a case's "fever" is supported by "a low-grade fever"; compared by exact
    concept neither matched."""
    page = _one("Symptoms include fever, sore throat and swollen lymph glands, sometimes an enlarged spleen.")
    d = with_findings(page, "Sore throat and posterior cervical lymphadenopathy; splenomegaly.").differential[0]
    assert {"cervical lymphadenopathy", "splenomegaly", "pharyngalgia"} <= set(d.matches)
    assert "fever" in with_findings(_one("Patients have a low-grade fever."), "Fever for 3 days.").differential[0].matches


def test_only_a_narrower_evidence_finding_counts_against_a_denied_one() -> None:
    # denying fever denies a low-grade fever; denying a low-grade fever says nothing against "fever"
    assert with_findings(_one("Patients have a low-grade fever."), "No fever.").differential[0].against == ["no fever"]
    assert with_findings(_one("Patients have a fever."), "No low-grade fever.").differential[0].against == []
    # evidence that denies a cough denies a productive one
    d = with_findings(_one("There is no cough."), "Productive cough.").differential[0]
    assert d.against == ["productive cough (absent in evidence)"]
