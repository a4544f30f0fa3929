"""The guideline floor's verdict on a case outside the practice, and the route each answer took.

Why a module of its own: `rag_dx.practice.serve.merge_outside` decides, for a case flagged as
outside the practice's recorded diagnoses, whether the diagnoses only the guidelines know get at
least the floor's share or the practice ranker's order is kept, and for which reason. That reason
is also what an answer reports as its `route` (`rag_dx.schemas.Route`), because the routes are not
equally trustworthy: on the dev protocols a floored answer, one the cards kept with the practice
and one retrieval kept with it were right at very different rates for the same shown probability
(docs/results/protocols.md, "floored cases"). A client, the UI and the evaluation read the route
instead of parsing the ranking sentence.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

from rag_dx.candidates import Candidate, candidate_key, concept_key
from rag_dx.schemas import Hit, Route

if TYPE_CHECKING:
    from rag_dx.practice.serve import CardTopics

#: The learned ranker on a case like the practice's reports.
PRACTICE: Route = "practice"
#: The similarity vote over retrieved evidence (with the generator in mode "full"): no learned ranker.
VOTE: Route = "vote"
#: The generator alone over an explicit candidate list (an ablation).
GENERATOR: Route = "generator"
#: Flagged; diagnoses the practice has not recorded hold at least the guideline floor.
FLOOR: Route = "outside_floor"
#: Flagged; the disease cards put enough of their probability on the practice's diagnoses (or, with
#: the older tests, name one of the ranker's), so the ranker's order is kept.
KEPT_BY_CARDS: Route = "outside_kept_by_cards"
#: Flagged; most of the retrieved evidence is past reports of the ranker's top diagnosis.
KEPT_BY_REPORTS: Route = "outside_kept_by_reports"
#: Flagged; the older card tests cannot judge the ranker's top diagnosis (it has no card).
KEPT_UNJUDGED: Route = "outside_kept_unjudged"
#: Flagged; no floor (no guideline diagnosis retrieved, or no card verdict for a case like the
#: reports): the ranker blended with the guidelines in proportion to the retrieved evidence.
BLEND: Route = "outside_blend"
#: Flagged only because the practice model is less sure of its top diagnosis than of its own reports
#: (rag_dx.practice.novelty.less_sure_than_its_reports); blended as BLEND, no floor (`floor_for`). A
#: route of its own because it is not trustworthy the way BLEND is: on the dev protocols 0 of 42 such
#: answers were right on unrecorded diagnoses and 3 of 3 on the practice's own cases.
UNSURE: Route = "outside_unsure"


def diagnosis_keys(name: str, vocabulary: Any) -> tuple[str, str]:
    """The two keys a diagnosis name is matched on: its concept and its normalised text."""
    return concept_key(name, vocabulary), candidate_key(name)


def keys_of(c: Candidate, vocabulary: Any) -> list[str]:
    """Every key a candidate is matched on: its concept key, then the text key of each of its names."""
    return [c.key or concept_key(c.name, vocabulary)] + [candidate_key(a) for a in (c.aliases or [c.name])]


def withheld_by(cards: "CardTopics | None", hits: Sequence[Hit],
                ranker_probs: Sequence[tuple[Collection[str], float]], ranker_top: Collection[str],
                vocabulary: Any, support_share: float = 0.0, practice_mass: float = 0.0) -> Route | None:
    """Why the ranker's order is kept on a flagged case (see `merge_outside`), as its route; None: the floor applies."""
    if cards is not None:
        if practice_mass > 0 and cards.practice_mass is not None:
            # the mass judges the case as a whole: a top diagnosis without a card is no reason to keep it
            if cards.practice_mass >= practice_mass:
                return KEPT_BY_CARDS
        else:
            if support_share > 0:
                supported = cards_support_share(cards, ranker_probs, vocabulary) > support_share
            else:
                supported = bool(supported_probabilities(cards, ranker_probs, vocabulary))
            if supported:
                return KEPT_BY_CARDS
            if not cards.judges(ranker_top):
                return KEPT_UNJUDGED
    return KEPT_BY_REPORTS if mostly_reports_of(hits, ranker_top, vocabulary) else None


def card_leads(cards: "CardTopics | None", share: float) -> bool:
    """Whether the cards' best diagnosis holds at least `share` of the probability of the case's best cards.

    `merge_outside` asks it of a case the reports keep (:data:`KEPT_BY_REPORTS`): most of a flagged
    case's evidence is one practice diagnosis's reports while the cards put little on any practice
    diagnosis, so two sources disagree. Retrieval's majority is the weaker one there. Reports are
    many and alike, so a case the practice never recorded still draws a majority of the label whose
    writing it resembles (influenza as Malaria, hepatitis A as Jaundice); that route's top answer was
    right on 0 of 231 dev cases of unrecorded diagnoses.
    A card that stands out from the case's other cards is evidence about this case's findings:
    where the best held half of their probability or more, the floored answer was right on 18 of
    20 dev cases, and no case the reports kept rightly had such a card (docs/results/protocols.md,
    "a confident card over the reports"; all 18 are one disease, reflux, so that may not transfer).
    """
    return share > 0 and cards is not None and bool(cards.candidates) and cards.candidates[0].vote >= share


def mostly_reports_of(hits: Sequence[Hit], keys: Collection[str], vocabulary: Any = None) -> bool:
    """Whether most of the case's evidence (more than half) is past reports of the diagnosis with these keys.

    Retrieval then ties the case to that diagnosis, however unlike the practice's writing it is;
    a case of a diagnosis the practice never recorded rarely draws a majority of one label.
    """
    if not hits or not keys:
        return False
    same = sum(1 for h in hits if h.chunk.kind == "report" and h.chunk.label
               and any(k in keys for k in diagnosis_keys(h.chunk.label, vocabulary)))
    return 2 * same > len(hits)


def supported_probabilities(cards: "CardTopics", ranker_probs: Sequence[tuple[Collection[str], float]],
                             vocabulary: Any = None) -> list[float]:
    """The ranker's probabilities of its diagnoses that are among the case's disease cards (by concept or name key)."""
    judged = cards.matched if cards.matched is not None else cards.candidates
    card_keys = {k for c in judged for k in keys_of(c, vocabulary)}
    return [p for keys, p in ranker_probs if any(k in card_keys for k in keys)]


def cards_support_share(cards: "CardTopics", ranker_probs: Sequence[tuple[Collection[str], float]],
                        vocabulary: Any = None) -> float:
    """The share of the practice ranker's probability on diagnoses that are among the case's disease cards.

    0 when no card is one of the ranker's diagnoses. A ranker diagnosis at 0.001 that happens to
    have a card among the case's 20 supports nothing: the ranker lists nearly every practice
    diagnosis, so on a practice of common diseases some card always matches one of them.
    """
    matched = supported_probabilities(cards, ranker_probs, vocabulary)
    total = float(sum(p for _, p in ranker_probs))
    if total <= 0:
        return 1.0 if matched else 0.0
    return float(sum(matched)) / total




def floor_note(floored: bool, share: float, cards: "CardTopics | None", threshold: float,
               kept: Route | None = None, top: str | None = None) -> str | None:
    """What the clinician reads of the floor's verdict beside the ranking (None: nothing to say).

    Every reason to keep the practice ranker's order on a flagged case is said, with the diagnosis
    it keeps: kept by the reports, such answers were right on none of 232 dev cases of diagnoses the
    practice never recorded while shown at 0.44 (docs/results/protocols.md, "routes"), and a clinician
    can judge "most of the evidence is past reports of Typhoid" against the case in front of them."""
    mass = cards.practice_mass if cards is not None else None
    if floored:
        why = "" if mass is None else f": the guidelines' disease cards put only {mass:.1%} of theirs on its diagnoses"
        return f"diagnoses the practice has not recorded hold at least {share:.0%} of the probability{why}"
    if share > 0 and mass is not None and threshold > 0 and mass >= threshold:
        return (f"the practice's diagnoses keep their weight: the guidelines' disease cards put {mass:.1%} of their "
                f"probability on them")
    if kept == KEPT_BY_REPORTS and top:
        return f"the practice's ranking is kept: most of the evidence is its past reports of {top}"
    if kept == KEPT_UNJUDGED and top:
        return f"the practice's ranking is kept: the guidelines have no disease card for {top} to judge it by"
    return None


def kept_share_note(note: str | None, kept: Route | None, share: float, listed: float) -> str | None:
    """`note` with what a kept route's guideline share did, when it was asked for (`share` > 0).

    The route's sentence stays with the other route sentences here; `listed` is the share the
    guidelines' diagnoses ended up holding (the asked share, or the retrieved one when larger)."""
    said = None
    if kept == KEPT_BY_REPORTS and share > 0:
        said = f"the guidelines' disease cards point elsewhere, so their diagnoses hold at least {listed:.0%}"
    elif kept == KEPT_BY_CARDS and share > 0:
        said = f"the guidelines' diagnoses are listed beside the practice's with {listed:.0%}"
    return f"{note}; {said}" if note and said else note or said


def over_reports_note(note: str | None, cards: "CardTopics | None", top: str | None) -> str | None:
    """`note` with why the floor applied although most of the evidence is past reports of `top` (:func:`card_leads`).

    The clinician sees a practice diagnosis with many similar past reports ranked below one the
    practice never recorded; the sentence says which card outweighed them, and by how much."""
    if not top or cards is None or not cards.candidates:
        return note
    best = cards.candidates[0]
    said = (f"most of the evidence is past reports of {top}, but the guidelines' disease cards favour {best.name} "
            f"({best.vote:.0%} of their probability)")
    return f"{note}; {said}" if note else said


def floor_for(share: float, *, unlike: bool, cards: "CardTopics | None", unsure: bool = False) -> float:
    """The guideline floor `merge_outside` gets for a flagged case: `share` or 0.

    A case unlike every past report always gets it. A case like the reports whose top diagnosis is
    only weakly supported (`Assistant._novel`) gets it only when the cards' probability on the
    practice's diagnoses can judge it (`CardTopics.practice_mass`): without that guard the floor never
    helped such cases on the dev protocols and cost correct practice diagnoses; with it, 8 reflux
    cases of the unrecorded-diagnoses protocol that the practice's peptic ulcer had led were won and
    no in-practice top-1 lost, though 3 right ones fell from about 0.45 to 0.09 (docs/results/protocols.md,
    "the cards' probability on the practice").

    A case flagged only because the ranker is less sure of it than of its own reports (`unsure`,
    `rag_dx.practice.novelty.less_sure_than_its_reports`) never gets it: floored, two of the
    practice's own cases on the full dev index were led by guideline diagnoses (Shingles for a
    dengue case, a rare ichthyosis for psoriasis) for 2 unrecorded top-1 and 8 top-5 won; without
    the floor those keep the ranker's answer, flagged and deflated (docs/results/protocols.md, "less
    sure than on its own reports").
    """
    if unsure:
        return 0.0
    return share if unlike or (cards is not None and cards.practice_mass is not None) else 0.0
