"""What the retriever and the classifier read of a case: denied findings are never query terms.

"No fever, denies chest pain" must not pull in febrile or cardiac diagnoses. The retriever gets the
text with its negated parts removed (`rag_dx.findings.strip_negated`); the classifier gets that
text plus one token per denied finding ("absent_fever"), so a denial is a signal of its own
instead of a mention of the finding. Training applies the same transformation to the practice's
reports, so both sides of the classifier read alike.
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


def classifier_text(text: str, extractor: "FindingExtractor | None" = None) -> str:
    """`query_text` plus an `absent_<finding>` token per denied finding."""
    ex = _extractor(extractor)
    absent = [f for f in ex.extract(text) if f.assertion == "absent"]
    tokens = sorted({"absent_" + re.sub(r"[^a-z0-9]+", "_", f.name.lower()).strip("_") for f in absent})
    stripped = ex.strip_negated(text)
    return " ".join([stripped or "", *tokens]).strip() or text


def classifier_texts(texts: Sequence[str], extractor: "FindingExtractor | None" = None) -> list[str]:
    ex = _extractor(extractor)
    return [classifier_text(t, ex) for t in texts]
