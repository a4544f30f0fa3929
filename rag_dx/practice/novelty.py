"""Whether a case in the practice's style may be a diagnosis the practice never recorded.

Why a module of its own: a case unlike every past report is flagged by `Assistant._outside`
(`rag_dx.practice.ood`), but a diagnosis the practice never recorded is often written just like
the ones it did (chickenpox narratives on a practice that records dengue, reflux on one that
records peptic ulcer). The practice ranker then names its nearest diagnosis with confidence, and
nothing about the case's distance to the reports says otherwise. Two tests look at the answer
instead, each against the practice's own reports, so that each flags about the share of the
practice's own cases it was set to:

* :func:`weakly_supported`: the nearest report of the top diagnosis is less similar than nearly
  all of that diagnosis's reports are to each other;
* :func:`less_sure_than_its_reports`: the ranker is less sure of its top diagnosis than it was, in
  cross-fitting, of nearly all of the practice's own reports (its conformal set at that level is
  empty, `rag_dx.practice.conformal`).

A flagged case goes the way of a case outside the practice (`merge_outside`): its probabilities
are scaled down and the guidelines' diagnoses are blended in, with the guideline floor for the
first test only (`rag_dx.practice.floor.floor_for`).
"""

from __future__ import annotations

from collections.abc import Sequence

from rag_dx.labels import candidate_key
from rag_dx.practice.conformal import set_size
from rag_dx.practice.model import PracticeModel
from rag_dx.schemas import Diagnosis, Hit

_READ_AS = "Treat the list below as reading suggestions, not a differential."


def weakly_supported(practice: PracticeModel, dense: Sequence[Hit], differential: Sequence[Diagnosis],
                     quantile: float) -> str | None:
    """Why the top diagnosis may stand in for one the practice never recorded (by its reports' similarity), or None."""
    if not differential:
        return None
    top = differential[0].diagnosis
    profile = practice.label_profiles.get(candidate_key(top))
    sims = [h.dense_score for h in dense if h.chunk.kind == "report" and h.chunk.label
            and candidate_key(h.chunk.label) == candidate_key(top) and h.dense_score is not None]
    if profile is None or not sims or (rank := profile.rank(max(sims))) is None or rank >= quantile:
        return None
    return (f"this case may be a diagnosis the practice has not recorded: its most similar past report of "
            f"{top} (cosine {max(sims):.2f}) is less similar than {100 * (1 - rank):.0f}% of the practice's "
            f"{top} reports are to each other. {_READ_AS}")


def less_sure_than_its_reports(practice: PracticeModel, differential: Sequence[Diagnosis], level: float) -> str | None:
    """Why the ranker's answer may stand in for a diagnosis the practice never recorded (by its confidence), or None.

    The conformal threshold at `level` says how sure the ranker was of the right diagnosis on all
    but 1 - `level` of the practice's own reports, scored by rankers that had not seen them. A top
    diagnosis below it (an empty conformal set) is rarer on the practice's own cases than that. On
    the unrecorded-diagnoses dev protocol the ranker's unflagged answers were all wrong at a mean
    0.82, while on the practice's own cases it was right at 0.999 (docs/results/protocols.md, "less
    sure than on its own reports"). A practice whose ranker sometimes misses outright has an
    infinite or 1.0 threshold at that level, and the test never fires: its own data cannot tell an
    unsure answer from an ordinary one. `level` 0 switches it off.
    """
    threshold = practice.conformal.get(f"{level:g}") if level > 0 else None
    # the prediction sets' own rule: a set that would hold the top diagnosis (always, at an infinite threshold)
    if not differential or threshold is None or set_size([differential[0].probability], threshold):
        return None
    p = differential[0].probability
    return (f"this case may be a diagnosis the practice has not recorded: the practice model gives its top "
            f"diagnosis, {differential[0].diagnosis}, {p:.2f}, less than it gave the right diagnosis on "
            f"{100 * level:.0f}% of the practice's own past reports. {_READ_AS}")
