"""Per diagnosis: which of the case's findings its cited evidence supports, and which it contradicts.

Why: a probability says how much to believe a diagnosis, not why. A clinician checks a differential
by its findings ("matches: fever, dysuria; against: no flank pain"), so each proposed diagnosis
carries the case findings its own citations assert (`matches`) and the ones they disagree with
(`against`: the case denies what the evidence describes, or the evidence denies what the case has).
Read from the evidence the answer shows, never from anything the user cannot open, and computed
after ranking so it explains the answer without changing it.

Findings compare through one step of HPO's is-a hierarchy (:func:`_widened`): a leaflet says
"swollen lymph glands" (Lymphadenopathy) where a clinician writes "posterior cervical
lymphadenopathy", and "fever" where a vignette says "low-grade fever". Compared by exact concept
they did not match, so a textbook mononucleosis case showed no lymph-node match on its own card's
page. A parent or child counts as a match; only a narrower evidence finding counts against a
denied one ("no fever" against "low-grade fever", not "no low-grade fever" against "fever").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from rag_dx.schemas import Differential

if TYPE_CHECKING:
    from rag_dx.findings import Finding, FindingExtractor
    from rag_dx.hpo_tree import HpoTree

#: findings shown per side and diagnosis (a UI line, not a report)
MAX_SHOWN = 6


def with_findings(answer: Differential, text: str, extractor: "FindingExtractor | None" = None) -> Differential:
    """`answer` with `matches` / `against` filled for every diagnosis from its cited evidence."""
    if not answer.differential:
        return answer
    from rag_dx.findings import default_extractor, finding_match

    ex = extractor or default_extractor()
    case = ex.extract(text)
    if not case:
        return answer
    by_id = {e.id: e for e in answer.evidence}
    cited = sorted({i for d in answer.differential for i in d.evidence if i in by_id})
    found: dict[str, Sequence[Finding]] = dict(zip(cited, ex.extract_many([by_id[i].text for i in cited])))
    from rag_dx.hpo_tree import load_hpo_tree

    tree = load_hpo_tree()
    out = []
    for d in answer.differential:
        for_match, for_against = _widened([f for i in d.evidence if i in found for f in found[i]], tree)
        matched = finding_match(case, _consistent(for_match)).matched
        against = finding_match(case, _consistent(for_against)).against
        out.append(d.model_copy(update={"matches": list(matched[:MAX_SHOWN]), "against": list(against[:MAX_SHOWN])}))
    return answer.model_copy(update={"differential": out})


def _widened(findings: Sequence["Finding"], tree: "HpoTree") -> tuple[list["Finding"], list["Finding"]]:
    """The evidence's findings with their HPO neighbours added: (for matches, for disagreements).

    For matches, every present finding also stands for its parents and children. For disagreements,
    a present finding stands for its parents (low-grade fever is a fever, so a case that denies fever
    disagrees) and an absent one for its children (no cough is no productive cough); not the other
    way round, which would read "fever" as evidence of every kind of fever.
    """
    children = tree.children_of
    as_match, as_against = list(findings), list(findings)
    for f in findings:
        if f.assertion in ("present", "possible"):
            ups = tree.parents.get(f.concept_id, ())
            as_match += [replace(f, concept_id=c) for c in (*ups, *children(f.concept_id))]
            as_against += [replace(f, concept_id=c) for c in ups]
        elif f.assertion == "absent":
            as_against += [replace(f, concept_id=c) for c in children(f.concept_id)]
    return as_match, as_against


def _consistent(findings: Sequence["Finding"]) -> list["Finding"]:
    """One assertion per concept across several passages: present wins over absent.

    Two reports of one diagnosis may differ (one has fever, one says no fever); the diagnosis is
    then compatible with fever, so the absent mention must not count against a febrile case.
    """
    present = {f.concept_id for f in findings if f.assertion in ("present", "possible")}
    return [f for f in findings if f.assertion in ("present", "possible") or f.concept_id not in present]
