"""Per diagnosis: which of the case's findings its cited evidence supports, and which it contradicts.

Why: a probability says how much to believe a diagnosis, not why. A clinician checks a differential
by its findings ("matches: fever, dysuria; against: no flank pain"), so each proposed diagnosis
carries the case findings its own citations assert (`matches`) and the ones they disagree with
(`against`: the case denies what the evidence describes, or the evidence denies what the case has).
Read from the evidence the answer shows, never from anything the user cannot open, and computed
after ranking so it explains the answer without changing it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rag_dx.schemas import Differential

if TYPE_CHECKING:
    from rag_dx.findings import Finding, FindingExtractor

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
    out = []
    for d in answer.differential:
        evidence = [f for i in d.evidence if i in found for f in found[i]]
        match = finding_match(case, _consistent(evidence))
        out.append(d.model_copy(update={"matches": list(match.matched[:MAX_SHOWN]),
                                        "against": list(match.against[:MAX_SHOWN])}))
    return answer.model_copy(update={"differential": out})


def _consistent(findings: Sequence["Finding"]) -> list["Finding"]:
    """One assertion per concept across several passages: present wins over absent.

    Two reports of one diagnosis may differ (one has fever, one says no fever); the diagnosis is
    then compatible with fever, so the absent mention must not count against a febrile case.
    """
    present = {f.concept_id for f in findings if f.assertion in ("present", "possible")}
    return [f for f in findings if f.assertion in ("present", "possible") or f.concept_id not in present]
