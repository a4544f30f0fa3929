"""What rag-dx adds to a differential for the clinician: red flags and the next questions to ask.

One entry point, :func:`annotate`, so every surface (assistant, UI, CLI, HTTP API) fills both the
same way: red flags (:mod:`rag_dx.red_flags`) and discriminating questions
(:mod:`rag_dx.next_question`). Both read the case with the same negation-aware finding extractor
and never copy case text into the answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag_dx.findings import FindingExtractor
from rag_dx.next_question import next_questions
from rag_dx.red_flags import RedFlagChecker, red_flags
from rag_dx.schemas import Differential

if TYPE_CHECKING:
    from rag_dx.vocab import Vocabulary

__all__ = ["annotate"]


def annotate(
    differential: Differential,
    text: str,
    *,
    k_questions: int = 5,
    checker: RedFlagChecker | None = None,
    extractor: FindingExtractor | None = None,
    vocabulary: "Vocabulary | None" = None,
) -> Differential:
    """A copy of `differential` with ``red_flags`` and ``next_questions`` filled for case `text`.

    Questions are left out of an answer with fewer than two cited candidates. Red flags are
    computed for every answer, abstentions included: an abstention is when a can't-miss
    diagnosis matters most.
    """
    flags = red_flags(text, differential, checker=checker)
    questions = next_questions(text, differential, k=k_questions, extractor=extractor, vocabulary=vocabulary)
    return differential.model_copy(update={"red_flags": flags, "next_questions": questions})
