"""The index evaluation gate's metric: top-1 of an unserved version on a labeled check set.

Computed directly through the assistant (each case diagnosed with its own report id excluded
from retrieval, as ``rag-dx eval --index`` does), with the same strict correctness as the eval
report (same ICD-10-CM concept), but without writing a report.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from eval.plan import load_labeled
from eval.systems import diagnose_all

if TYPE_CHECKING:
    from rag_dx.settings import Settings


def version_top1(settings: "Settings", name: str, version: str, labeled: Path, *, text_col: str = "text",
                 label_col: str = "diagnosis", id_col: str = "report_id", progress: bool = False) -> tuple[float, int]:
    """(top-1 accuracy, number of cases) of index `name` at `version` on the labeled file."""
    from tqdm.auto import tqdm

    from rag_dx.diagnose import build_assistant
    from rag_dx.vocab import Vocabulary

    reports, _ = load_labeled(labeled, text_col=text_col, label_col=label_col, id_col=id_col)
    assistant = build_assistant(settings, name, version=version)
    vocab = getattr(assistant, "vocabulary", None) or Vocabulary.load()
    with tqdm(total=len(reports), desc="rag-dx gate", unit="case", disable=not progress, file=sys.stderr) as bar:
        diffs = diagnose_all(assistant, reports, mode="full", candidates=None, exclude_own=True, bar=bar)
    correct = [bool(d.differential) and vocab.concept_key(d.differential[0].diagnosis) == vocab.concept_key(r.diagnosis or "")
               for r, d in zip(reports, diffs)]
    return (sum(correct) / len(correct) if correct else 0.0), len(correct)
