"""Serving with the practice model: channels -> ranked candidates -> cited diagnoses.

Citations stay honest: a candidate cites the shown evidence that carries its label; one the
classifier proposed with no such evidence cites its nearest reports from the dense or BM25 lists
the retriever returned for this case, and those reports are added to the evidence shown. A
candidate with nothing retrieved to cite is left out rather than shown without evidence.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from rag_dx.candidates import Candidate, candidate_key, collect_candidates, concept_key, hit_weights
from rag_dx.practice.features import Channels, Item
from rag_dx.practice.floor import (BLEND, FLOOR, KEPT_BY_CARDS, KEPT_BY_REPORTS, diagnosis_keys, floor_note, keys_of,
                                   card_leads, kept_share_note, over_reports_note, withheld_by)
from rag_dx.practice.model import PracticeModel
from rag_dx.retrieve import SearchResult
from rag_dx.practice.conformal import set_size
from rag_dx.schemas import Diagnosis, Hit, PredictionSet, Route
from rag_dx.patient_age import without_age
from rag_dx.topic_cards import COMMON_PRIOR, CONSUMER_PRIOR, with_finding_words

if TYPE_CHECKING:
    from rag_dx.topic_cards import TopicCards

#: Reports cited per diagnosis when none of the shown evidence carries it.
CITES_PER_CANDIDATE = 2

#: Share of a guideline diagnosis's weight that comes from its disease card; the rest is the
#: passage vote (how strongly the retrieved passages carry it). Cards alone spread their mass
#: thinly (their softmax is calibrated over many similar diseases) and lose a topic the passages
#: agree on ("Hemorrhoids" for a hemorrhoid case on the outside dev protocol); passages alone
#: let a leaflet that shares words win. The default of `diagnosis.card_share`: 0.5 until the
#: commonness prior made the cards the better judge of the whole case (docs/results/protocols.md,
#: "cards before the passage vote").
CARD_SHARE = 0.75


def channels_of(result: SearchResult, k_dense: int) -> Channels:
    """The ranker's view of a search: the first k_dense dense hits (cosine) and the BM25 hits."""
    return Channels(
        dense=[Item(h.chunk.label, h.chunk.kind, float(h.dense_score or 0.0)) for h in result.dense[:k_dense]],
        sparse=[Item(h.chunk.label, h.chunk.kind, float(h.score)) for h in result.sparse],
    )


def best_report_similarity(hits: Iterable[Hit]) -> float | None:
    """The case's cosine to its most similar past report among `hits` (None: no report with a dense score)."""
    sims = [h.dense_score for h in hits if h.chunk.kind == "report" and h.dense_score is not None]
    return max(sims) if sims else None


@dataclass
class Ranked:
    differential: list[Diagnosis]
    evidence: list[Hit]
    #: For a flagged case, why the guidelines' diagnoses got the share they did (shown with the ranking).
    note: str | None = None
    #: For a flagged case, which of merge_outside's routes it took (rag_dx.practice.floor); None: not flagged.
    route: Route | None = None

    @property
    def floored(self) -> bool:
        """The guideline floor applied (merge_outside): guideline diagnoses lead the case."""
        return self.route == FLOOR


def ranked_differential(
    practice: PracticeModel,
    text: str,
    result: SearchResult,
    shown: list[Hit],
    *,
    k_dense: int,
    max_candidates: int,
    icd10: Callable[[str, list[Hit]], str | None],
) -> Ranked:
    """The practice ranker's differential over `text`, each diagnosis citing retrieved reports."""
    ranked = practice.rank(text, channels_of(result, k_dense))[:max_candidates]
    evidence = list(shown)
    shown_ids = {h.id for h in evidence}
    pool = list(result.dense) + list(result.sparse)
    out: list[Diagnosis] = []
    for key, prob in ranked:
        cites = [h for h in evidence if h.chunk.label and candidate_key(h.chunk.label) == key]
        if not cites:
            extra: dict[str, Hit] = {}
            for h in pool:
                if h.chunk.kind == "report" and h.chunk.label and candidate_key(h.chunk.label) == key:
                    extra.setdefault(h.id, h)
                if len(extra) >= CITES_PER_CANDIDATE:
                    break
            cites = list(extra.values())
            for h in cites:
                if h.id not in shown_ids:
                    evidence.append(h)
                    shown_ids.add(h.id)
        if not cites:
            continue
        out.append(Diagnosis(diagnosis=practice.names.get(key, cites[0].chunk.label or key),
                             icd10=icd10(key, cites), probability=round(prob, 4),
                             evidence=[h.id for h in cites]))
    return Ranked(differential=out, evidence=evidence)


def merge_outside(ranked: Ranked, pool: Mapping[str, Candidate], hits: Sequence[Hit], *, temperature: float,
                  guideline_weight: float, max_candidates: int, vocabulary: Any = None,
                  vote_weight: float = 0.0, cards: "CardTopics | None" = None,
                  guideline_share: float = 0.0, practice_names: Collection[str] = (),
                  support_share: float = 0.0, card_share: float = CARD_SHARE, practice_mass: float = 0.0,
                  reports_share: float = 0.0, kept_card_share: float = 0.0, card_lead: float = 0.0) -> Ranked:
    """For a case outside the practice: the ranker's diagnoses beside the guideline topics it cannot know.

    The practice ranker only knows the practice's labels, so for a case unlike any past report its
    candidates are blended with the diagnoses that only retrieved guideline passages name, in
    proportion to how much of the retrieved evidence (by similarity weight) is guidelines, and at
    least `guideline_share`. The retrieved share alone understates the guidelines exactly here:
    a case written another way still retrieves mostly reports, because reports are many and alike,
    and the ranker's confident practice diagnosis then led nearly every flagged case while being
    wrong on almost all of them (docs/results/protocols.md, "guideline share"). An index without
    guidelines keeps the ranker's order.

    The floor is withheld when the disease cards name any of the ranker's diagnoses: guideline
    cards do not depend on how the practice writes, so when they too find one of its diagnoses
    plausible, the case is more likely a practice diagnosis written another way than one the
    practice never recorded. Applied to every flagged case, the floor cost style-shifted cases of
    the practice's own diagnoses most of their top-1 accuracy once guidelines sat in the index
    (prose cases on a symptom-list practice: 0.622 -> 0.194); withheld this way it keeps most of
    its gain on unrecorded diagnoses (docs/results/protocols.md, "floor only without card support").
    Without cards there is nothing independent to judge by, and the floor applies. Nor can the cards
    judge a ranker whose top diagnosis has no card in the version at all (cervical spondylosis among
    MedQuAD's common sources): their silence on it is missing evidence, not evidence against, and
    the ranker's order is kept (prose cases on a symptom-list practice with guidelines: 0.554 ->
    0.592, no change on unrecorded diagnoses; docs/results/protocols.md, "a top diagnosis without a card").
    That holds only for the older tests: the mass test asks about the case, not about the top
    diagnosis, and under it the rule kept 33 wrong answers of the notes and unrecorded protocols at
    up to 0.48 (Cervical spondylosis for a stroke, Jaundice for cholestasis) for 1 right narrative
    (docs/results/protocols.md, "a top diagnosis without a card, under the mass test").
    `practice_mass` > 0 (the serving default, `diagnosis.outside_card_mass`) replaces that test: the
    floor is withheld when the cards, softmaxed over all of them, put at least that share of their
    probability on the practice's diagnoses (`CardTopics.practice_mass`). The older test counted a
    ranker diagnosis at 0.00 whose card was 15th of 20 as support, so it was passed by nearly every
    case on a practice of common diseases, vignettes of diseases it never recorded included; and it
    was failed by a practice diagnosis the ranker happened to leave out. At 0.05 the dev protocols
    gained on narratives on a symptom-list practice (7 won, 0 lost) and on unrecorded diagnoses (11/0),
    symptom lists on a narrative practice unchanged (1/1) (docs/results/protocols.md, "the cards'
    probability on the practice"). `support_share` > 0 (when `practice_mass` is 0) counts the cards as
    support only when more than that share of the ranker's probability lies on diagnoses among them
    (docs/results/protocols.md, "weighed by the ranker's probability").
    Nor is the floor applied when most of the case's evidence is past reports of the ranker's top
    diagnosis (`rag_dx.practice.floor.mostly_reports_of`): retrieval itself then ties the case to that diagnosis
    (docs/results/protocols.md, "evidence that is mostly one diagnosis's reports"). The cards still
    disagree there, so the guidelines' diagnoses get at least `reports_share` (the serving default
    `diagnosis.outside_reports_share`): the ranker's top diagnosis keeps the lead, but its peaked list
    (the 2nd at 0.01) no longer fills the top 5 with the practice's other labels. The ranker's top was
    right on 0 of 234 such dev cases of unrecorded diagnoses and on 24 of 33 of its own diagnoses
    written another way (docs/results/protocols.md, "cases the reports keep"). Unless the cards'
    best diagnosis stands out (`card_lead`, `diagnosis.outside_reports_card_lead`, :func:`floor.card_leads`):
    then the floor applies after all, and the note says which card outweighed the reports. When the cards keep the
    ranker's order, their diagnoses hold at least `kept_card_share` (`diagnosis.outside_kept_card_share`)
    beside it: the ranker's rows keep their probabilities and the guidelines' share comes out of what
    the outside scale leaves unassigned, because answers on that route were shown below their dev
    accuracy (0.60 right at about 0.34), unlike those the reports keep (0.09 at 0.44) ("cases the cards keep").

    A guideline diagnosis that is a practice diagnosis adds its share to that row: the guidelines
    then support what the practice also knows, instead of being dropped as a duplicate. That holds
    for the passages too when retrieved reports carry the same diagnosis.

    `vote_weight` also mixes the similarity vote into the practice's diagnoses: the ranker learned
    to trust the text classifier on the practice's own writing, which transfers poorly to a case
    written another way, while the embedding vote transfers better (measured on the cross-style
    dev protocol, docs/results/protocols.md).

    A guideline diagnosis that is one of `practice_names` (the practice's diagnoses) but not in the
    ranker's differential is shown under the practice's name: a clinician whose practice records
    "Hypertension" should not read "High Blood Pressure" as a diagnosis the practice does not know.

    `cards`: the guideline diagnoses ranked by disease card (rag_dx.topic_cards) are blended with
    the topics the retrieved passages carry (:func:`blend_topics`, `card_share` of the weight from
    the cards); the passages each card cites join the shown evidence.
    """
    # the ranker's own diagnoses, before the vote adds the retrieved reports' labels
    ranker_probs = [(diagnosis_keys(d.diagnosis, vocabulary), d.probability) for d in ranked.differential]
    ranker_top = diagnosis_keys(ranked.differential[0].diagnosis, vocabulary) if ranked.differential else ()
    top_name = ranked.differential[0].diagnosis if ranked.differential else None
    ranked = _blend_vote(ranked, pool, vote_weight) if vote_weight > 0 else ranked
    # Every diagnosis the retrieved guideline passages name, practice diagnoses included: in `pool` a
    # guideline topic that is also a report label is merged into the report candidate, and its
    # passages' share of `g` was lost to the guideline-only topics (prose urinary-infection cases on
    # a symptom-list practice, 8 passages naming it, were led by Medullary Sponge Kidney).
    source = list(collect_candidates([h for h in hits if h.chunk.kind == "guideline"], temperature=temperature,
                                     guideline_weight=guideline_weight, vocabulary=vocabulary).values())
    g, named = _guideline_share(hits, hit_weights(hits, temperature, guideline_weight), source)
    # `pool` is keyed like concept_key (ICD-10-CM concept with a vocabulary, text otherwise), so a
    # topic that is the same concept as a practice diagnosis ("UTI" / "Urinary tract infection") is
    # that row, not a second one.
    row_of: dict[str, int] = {}
    for i, d in enumerate(ranked.differential):
        for k in diagnosis_keys(d.diagnosis, vocabulary):
            row_of.setdefault(k, i)
    if cards is not None and cards.candidates:
        # the cards rank diagnoses for the whole case: they take the share of passages that name none
        source = blend_topics(source, cards, vocabulary, card_share=1.0 - (1.0 - card_share) * named)
    else:
        g *= named
    asked = bool(source) and guideline_share > 0
    kept = withheld_by(cards, hits, ranker_probs, ranker_top, vocabulary, support_share, practice_mass) if asked else None
    # the reports keep the ranker's order only while no card stands out (floor.card_leads)
    over_reports = kept == KEPT_BY_REPORTS and card_leads(cards, card_lead)
    if over_reports:
        kept = None
    floored = asked and kept is None
    rows_g = g  # the ranker's rows keep 1 - rows_g: the share the guidelines take from them
    if floored:
        g = rows_g = max(g, guideline_share)
    elif kept == KEPT_BY_REPORTS:
        g = rows_g = max(g, reports_share)
    elif kept == KEPT_BY_CARDS:
        g = max(g, kept_card_share)  # beside the ranker's rows, not out of them
    practice_of: dict[str, str] = {}
    for name in practice_names:
        for k in diagnosis_keys(name, vocabulary):
            practice_of.setdefault(k, name)
    mass = float(sum(c.vote for c in source))
    rows = list(ranked.differential)
    probs = [d.probability * (1.0 - rows_g) for d in rows]
    extra: dict[int, list[str]] = {}
    topics: list[tuple[Candidate, float]] = []
    for c in source:
        share = g * c.vote / mass if mass > 0 else 0.0
        keys = keys_of(c, vocabulary)
        row = next((row_of[k] for k in keys if k in row_of), None)
        practice_name = next((practice_of[k] for k in keys if k in practice_of), None)
        if row is None and practice_name is not None and share > 0:
            # a practice diagnosis the ranker left out: one row under the practice's name
            row = len(rows)
            rows.append(_from_candidate(c, 0.0).model_copy(update={"diagnosis": practice_name, "evidence": []}))
            probs.append(0.0)
            for k in [*keys, *diagnosis_keys(practice_name, vocabulary)]:
                row_of.setdefault(k, row)
        if row is None:
            topics.append((c, share))
        else:
            probs[row] += share
            extra.setdefault(row, []).extend(c.evidence)
    out = [d.model_copy(update={"probability": round(p, 4),
                                "evidence": d.evidence + [e for e in extra.get(i, []) if e not in d.evidence]})
           for i, (d, p) in enumerate(zip(rows, probs))]
    out += [_from_candidate(c, share) for c, share in topics if share > 0]
    out.sort(key=lambda d: -d.probability)
    out = out[:max_candidates]
    evidence = list(ranked.evidence)
    if cards is not None:
        cited = {e for d in out for e in d.evidence}
        shown = {h.id for h in evidence}
        evidence += [h for h in cards.hits if h.id in cited and h.id not in shown]
    note = kept_share_note(floor_note(floored, guideline_share, cards, practice_mass, kept, top_name), kept,
                           reports_share if kept == KEPT_BY_REPORTS else kept_card_share, g)
    if over_reports:
        note = over_reports_note(note, cards, top_name)
    return Ranked(differential=out, evidence=evidence, note=note,
                  route=FLOOR if floored else kept or BLEND)


def _guideline_share(hits: Sequence[Hit], weights: Sequence[float], topics: Sequence[Candidate]) -> tuple[float, float]:
    """The guidelines' share of the evidence (by similarity weight), and the part of it that names a diagnosis.

    A passage on "Foot Health", "Edema" or "Anal Disorders" is guideline evidence but proposes no
    diagnosis of its own. Its weight was handed to whatever diagnoses the other passages named,
    however weakly: a prose varicose-veins case whose evidence was five such leaflets and one
    varicose-veins report was led by Hypertension, on three BM25-only high-blood-pressure passages
    at near-zero similarity. Now that part goes to the disease cards, which rank diagnoses for the
    whole case, and without cards back to the practice (docs/results/protocols.md, "passages that
    name no diagnosis").
    """
    cited = {e for c in topics for e in c.evidence}
    total = float(sum(weights))
    guideline = float(sum(w for h, w in zip(hits, weights) if h.chunk.kind == "guideline"))
    named = float(sum(w for h, w in zip(hits, weights) if h.chunk.kind == "guideline" and h.id in cited))
    return (guideline / total if total > 0 else 0.0), (named / guideline if guideline > 0 else 0.0)


@dataclass
class CardTopics:
    """Guideline diagnoses ranked by disease card for one case, with the passages they cite."""

    candidates: list[Candidate]
    hits: list[Hit]
    known: frozenset[str]  # every key with a card in the version, not only this case's best
    # The case's best cards by match alone, when the priors of how common a disease is (commonness,
    # consumer topic) changed the ranking. Whether the
    # case matches a practice diagnosis's card (the guideline floor's test, `floor.withheld_by`) is a
    # question about the case: with the prior in it, the big cards of common practice diagnoses (peptic
    # ulcer, GERD) entered the best 20 of hemorrhoid cases and kept the practice's wrong answer on top.
    matched: list[Candidate] | None = None
    #: The cards' probability, over every card, on the practice's diagnoses (None: not asked for).
    practice_mass: float | None = None

    def judges(self, keys: Collection[str]) -> bool:
        """Whether the version has a card for a diagnosis with any of these keys (empty keys: nothing to judge, yes)."""
        return not keys or any(k in self.known for k in keys)


def blend_topics(passage_topics: Sequence[Candidate], cards: CardTopics, vocabulary: Any = None,
                 card_share: float = CARD_SHARE) -> list[Candidate]:
    """Guideline diagnoses weighted `card_share` x card probability + the rest x passage-vote share.

    Votes of the result sum to 1; a diagnosis both name merges into one candidate citing both.
    """
    p_mass = float(sum(c.vote for c in passage_topics))
    c_mass = float(sum(c.vote for c in cards.candidates))
    card_w = card_share if p_mass > 0 else 1.0
    out: dict[str, Candidate] = {}
    by_name: dict[str, str] = {}  # text key of every name -> merge key (cards are concept-keyed, topics may be text-keyed)
    for c, w in [(c, card_w * c.vote / c_mass) for c in cards.candidates if c_mass > 0] + \
                [(c, (1.0 - card_w) * c.vote / p_mass) for c in passage_topics if p_mass > 0]:
        names = [candidate_key(a) for a in (c.aliases or [c.name])]
        key = c.key or concept_key(c.name, vocabulary)
        key = key if key in out else next((by_name[n] for n in names if n in by_name), key)
        by_name.update({n: key for n in names})
        have = out.get(key)
        if have is None:
            out[key] = Candidate(name=c.name, vote=w, evidence=list(c.evidence), key=key, concept=c.concept,
                                 icd10=dict(c.icd10), aliases=list(c.aliases or [c.name]), kinds=dict(c.kinds))
        else:
            have.vote += w
            have.evidence += [e for e in c.evidence if e not in have.evidence]
            have.aliases += [a for a in (c.aliases or [c.name]) if a not in have.aliases]
    return sorted(out.values(), key=lambda c: -c.vote)


def with_card_topics(pool: Mapping[str, Candidate], cards: CardTopics, vocabulary: Any = None,
                     card_share: float = CARD_SHARE) -> dict[str, Candidate]:
    """The vote pool with its guideline-only topics re-weighted by disease card (:func:`blend_topics`).

    The blended topics share the vote mass the passage topics had, so the balance between the
    practice's reports and the guidelines stays what retrieval found; only which guideline
    diagnoses compete, and with what weight, changes. A guideline diagnosis that is already a
    report candidate adds its share to that candidate's vote (no second row).
    """
    pool = {k: replace(c) for k, c in pool.items()}  # votes change below; the caller's pool stays as it was
    reports = {k: c for k, c in pool.items() if any(not e.startswith("G:") for e in c.evidence)}
    topics = [c for k, c in pool.items() if k not in reports]
    mass = float(sum(c.vote for c in topics))
    if mass <= 0:
        mass = float(sum(c.vote for c in reports.values())) or 1.0
    out = dict(reports)
    # by concept key and by name: an assistant without a vocabulary keys reports by text ("migraine")
    # while cards are keyed by concept at build time ("icd:G43")
    by_name = {candidate_key(a): c for c in reports.values() for a in (c.aliases or [c.name])}
    for c in blend_topics(topics, cards, vocabulary, card_share):
        same = out.get(c.key) or next((by_name[n] for n in (candidate_key(a) for a in (c.aliases or [c.name]))
                                       if n in by_name), None)
        if same is not None:  # the guidelines point to a diagnosis the reports carry: it gets their share
            same.vote += c.vote * mass
            continue
        c.vote *= mass
        out[c.key] = c
    return out


def card_topics(cards: "TopicCards", query: str, query_vector: Any, fetch: Callable[[list[int]], Mapping[int, Any]],
                top: int = 10, finding_words: bool = False, practice_keys: Collection[str] | None = None,
                **rank_options: Any) -> CardTopics:
    """The `top` cards for a case as candidates (vote = card probability) citing their passages.

    `fetch(rows)` returns the version's chunks by docstore row (``LoadedIndex.docstore.get``);
    `finding_words`: the cards' TF-IDF also reads the synonyms of the case's findings
    (:func:`rag_dx.topic_cards.with_finding_words`); either way it does not read the patient's age
    (:func:`rag_dx.patient_age.without_age`); `practice_keys`: the keys of the practice's
    diagnoses, whose share of the cards' probability becomes `CardTopics.practice_mass`.
    """
    rank_options = {**rank_options, "words": with_finding_words(query) if finding_words else without_age(query)}
    scores = cards.scores(query, query_vector, **rank_options)  # once, for the ranking and the practice's share
    ranked = cards.top_cards(scores, top)
    matched = None
    consumer_prior = rank_options.get("consumer_prior", CONSUMER_PRIOR)
    prevalence = cards.prevalence(rank_options.get("common_prior", COMMON_PRIOR), consumer_prior)
    if prevalence.any():
        # the same scores less the priors of how common a disease is (not a second pass: the dense part
        # reads every card's passages)
        by_match = cards.top_cards(scores - prevalence, top)
        if [i for i, _ in by_match] != [i for i, _ in ranked]:
            matched = [Candidate(name=cards.names[i], vote=p, evidence=[], key=cards.keys[i], concept=cards.codes[i],
                                 aliases=[cards.names[i]]) for i, p in by_match]
    chunks = fetch(sorted({r for i, _ in ranked for r in cards.rows[i]}))
    out: list[Candidate] = []
    hits: dict[str, Hit] = {}
    for i, prob in ranked:
        cites = [chunks[r] for r in cards.rows[i] if r in chunks]
        if not cites:
            continue
        for c in cites:
            hits.setdefault(c.chunk_id, Hit(chunk=c, score=round(prob, 5)))
        out.append(Candidate(name=cards.names[i], vote=prob, evidence=[c.chunk_id for c in cites], key=cards.keys[i],
                             concept=cards.codes[i], aliases=[cards.names[i]], kinds={"guideline": len(cites)}))
    mass = None
    if practice_keys is not None:
        # without the consumer-topic prior: a practice's diagnoses are common ones, so with it their share
        # rose on every case and kept the practice's order on cases of diagnoses it never recorded
        # (common colds led by allergy at 0.45, docs/results/protocols.md, "a consumer-topic prior")
        mass = cards.share_of(scores - consumer_prior * cards.consumer, cards.members(practice_keys))
    return CardTopics(candidates=out, hits=list(hits.values()), known=cards.known, matched=matched, practice_mass=mass)


def _from_candidate(c: Candidate, probability: float) -> Diagnosis:
    """A vote-pool candidate as a diagnosis: its concept code (else its most cited ICD-10 code) and citations."""
    code = c.concept or (max(c.icd10, key=c.icd10.get) if c.icd10 else None)
    return Diagnosis(diagnosis=c.name, icd10=code, probability=round(probability, 4), evidence=list(c.evidence))


def _blend_vote(ranked: Ranked, pool: Mapping[str, Candidate], weight: float) -> Ranked:
    """(1 - weight) x the ranker + weight x the vote share among candidates carried by retrieved reports."""
    reports = [c for c in pool.values() if any(e.startswith("R:") for e in c.evidence)]
    mass = float(sum(c.vote for c in reports))
    if mass <= 0:
        return ranked
    by_key: dict[str, Candidate] = {}
    for c in reports:
        for name in {c.name, *(c.aliases or [])}:
            by_key.setdefault(candidate_key(name), c)
    seen: set[int] = set()
    out = []
    for d in ranked.differential:
        c = by_key.get(candidate_key(d.diagnosis))
        if c is not None:
            seen.add(id(c))
        p = (1.0 - weight) * d.probability + weight * (c.vote / mass if c is not None else 0.0)
        out.append(d.model_copy(update={"probability": round(p, 4)}))
    out += [_from_candidate(c, weight * c.vote / mass) for c in reports if id(c) not in seen]
    out.sort(key=lambda d: -d.probability)
    return Ranked(differential=out, evidence=ranked.evidence)


def prediction_sets(practice: PracticeModel, differential: Sequence[Diagnosis], *, outside: bool) -> list[PredictionSet]:
    """The conformal set per calibrated level over the shown, ranked differential."""
    import math

    probs = [d.probability for d in differential]
    out = []
    for level, threshold in sorted(practice.conformal.items(), key=lambda kv: float(kv[0])):
        k = set_size(probs, threshold)
        out.append(PredictionSet(level=float(level), diagnoses=[d.diagnosis for d in differential[:k]],
                                 guaranteed=not outside and math.isfinite(threshold)))
    return out
