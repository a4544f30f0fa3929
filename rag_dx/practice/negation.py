"""What the retriever and the classifier read of a case: denied findings are never query terms.

"No fever, denies chest pain" must not pull in febrile or cardiac diagnoses. The retriever gets the
text with its negated parts removed (`rag_dx.findings.strip_negated`); the classifier gets that
text plus one token per denied finding ("absent_fever"), so a denial is a signal of its own
instead of a mention of the finding. Training applies the same transformation to the practice's
reports, so both sides of the classifier read alike.

With `finding_tokens` the classifier also gets one token per present finding, named by its HPO
concept ("finding_dysuria"), whatever words the text used for it. The classifier's word and
character n-grams learn how the practice writes; a case written another way ("it burns when I
pee" against the practice's "burning micturition") shares none of them, but shares the concept
token. Measured classifier-only on the cross-style dev sets (docs/results/protocols.md): S2D
narratives on a symptom-list practice 0.542 -> 0.598 top-1, the reverse 0.813 -> 0.830, in-style
cross-validation unchanged (0.990 / 0.984 -> 0.993 / 0.986). HPO parent concepts as extra tokens
did worse (0.578 / 0.791) and are not used. In the whole system the gain does not show (cases
written another way are mostly flagged, and there the similarity vote carries 90% of the weight),
so the tokens are opt-in (`diagnosis.finding_tokens`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rag_dx.findings import FindingExtractor


def _extractor(extractor: "FindingExtractor | None") -> "FindingExtractor":
    if extractor is not None:
        return extractor
    from rag_dx.findings import default_extractor

    return default_extractor()


def query_text(text: str, extractor: "FindingExtractor | None" = None) -> str:
    """The case without its denied findings (the original when everything was denied)."""
    stripped = _extractor(extractor).strip_negated(text)
    return stripped or text


def _token(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def classifier_text(text: str, extractor: "FindingExtractor | None" = None, *, finding_tokens: bool = False) -> str:
    """`query_text` plus an `absent_<finding>` token per denied finding (and, with
    `finding_tokens`, a `finding_<finding>` token per present one)."""
    ex = _extractor(extractor)
    findings = ex.extract(text)
    tokens = sorted({"absent_" + _token(f.name) for f in findings if f.assertion == "absent"})
    if finding_tokens:
        tokens += sorted({"finding_" + _token(f.name) for f in findings if f.assertion == "present"})
    stripped = ex.strip_negated(text)
    return " ".join([stripped or "", *tokens]).strip() or text


def classifier_texts(texts: Sequence[str], extractor: "FindingExtractor | None" = None, *,
                     finding_tokens: bool = False) -> list[str]:
    ex = _extractor(extractor)
    return [classifier_text(t, ex, finding_tokens=finding_tokens) for t in texts]
