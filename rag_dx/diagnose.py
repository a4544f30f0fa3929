"""The one place the pipeline is wired: retrieve -> candidates -> generator scores -> differential.

`build_assistant(settings)` loads each model once; an `Assistant` holds no per-query state, so one
instance can serve many threads (the UI) or a batch job (eval).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, Literal

import numpy as np

from rag_dx import __version__
from rag_dx.abbreviations import expand as expand_abbreviations
from rag_dx.calibration import apply_temperature, read_adapter_calibration
from rag_dx.embed import TextEncoder
from rag_dx.errors import RagDxError
from rag_dx.generate import CandidateScorer
from rag_dx.index.reader import LiveIndex
from rag_dx.patient_sex import without_other_sex
from rag_dx.practice.model import practice_of
from rag_dx.practice.ranker import softmax_t
from rag_dx.practice.floor import GENERATOR, PRACTICE, UNSURE, VOTE, floor_for
from rag_dx.practice.novelty import less_sure_than_its_reports, weakly_supported
from rag_dx.practice.serve import (CardTopics, best_report_similarity, card_topics, merge_outside, prediction_sets,
                                   ranked_differential, with_card_topics)
from rag_dx.retrieve import Retriever, SearchResult
from rag_dx.candidates import Candidate, candidate_key, collect_candidates, hit_weights  # noqa: F401 (re-exported)
from rag_dx.schemas import Diagnosis, Differential, Evidence, Hit, Versions
from rag_dx.scoring import NoCasePrior, generator_scores
from rag_dx.settings import Settings

if TYPE_CHECKING:
    from rag_dx.practice.model import PracticeModel

log = logging.getLogger(__name__)

Mode = Literal["full", "retrieval", "generator"]


@dataclass
class Assistant:
    """A loaded pipeline. Use `build_assistant` rather than constructing this by hand."""

    settings: Settings
    live: LiveIndex | None
    generator: CandidateScorer | None
    encoder: TextEncoder
    vocabulary: object | None = None
    #: Temperature fitted with the adapter on full-mode probabilities (1.0: none). See rag_dx.calibration.
    calibration_temperature: float = 1.0
    #: A practice model to rank with instead of the serving version's (eval's signal ablations).
    practice_override: "PracticeModel | None" = None
    #: The practice's own commonness table (`diagnosis.commonness_table`), read once; None: the bundled one.
    commonness: dict[str, int] | None = None
    # name -> generator log-likelihood with no case (the PMI prior), cached for this generator.
    _prior: NoCasePrior | None = field(default=None, repr=False)

    def _prior_scores(self, names: list[str]) -> np.ndarray:
        if self._prior is None or self._prior.generator is not self.generator:
            self._prior = NoCasePrior(self.generator, evidence_chars=self.settings.diagnosis.evidence_chars)
        return self._prior(names)

    def with_generator(self, generator: CandidateScorer | None, *, settings: Settings | None = None) -> "Assistant":
        """A copy that scores with another generator (and optionally other settings), sharing the
        loaded index, encoder and vocabulary; fine-tuning validates a model in training this way."""
        return replace(self, generator=generator, settings=settings or self.settings, _prior=None)

    @property
    def retriever(self) -> Retriever | None:
        """A retriever over the serving version right now (a new version is picked up per call)."""
        if self.live is None:
            return None
        return Retriever(index=self.live.snapshot(), encoder=self.encoder, settings=self.settings.retrieval)

    def versions_for(self, retriever: Retriever | None) -> Versions:
        return Versions(
            package=__version__,
            index=retriever.index.version_id if retriever else None,
            encoder=f"{self.encoder.name}@{self.encoder.fingerprint[:12]}",
            generator=f"{self.generator.name}@{self.generator.fingerprint[:12]}" if self.generator else None,
            adapter=getattr(self.generator, "adapter", None) if self.generator else None,
        )

    def _icd10(self, cand: Candidate) -> str | None:
        if cand.icd10:
            return max(cand.icd10.items(), key=lambda kv: kv[1])[0]
        if self.vocabulary is not None:
            concept = self.vocabulary.normalize(cand.name)
            return getattr(concept, "code", None) if concept else None
        return None

    @property
    def versions(self) -> Versions:
        return self.versions_for(self.retriever)

    def _retriever(self) -> Retriever:
        retriever = self.retriever
        if retriever is None:
            raise RagDxError("this assistant has no index; build one with `rag-dx index build`")
        return retriever

    #: A made-up case (no patient's words) that exercises every lazily loaded part of an answer.
    WARM_UP_CASE = "Fever, cough and shortness of breath for three days; no chest pain."

    def warm_up(self) -> float:
        """Answer one made-up case so the first clinician's query does not pay for loading; seconds taken.

        The first answer of a process opens the index snapshot, the practice model, the disease cards,
        the finding extractor and the red-flag tables (up to about 5 s on 2 cores); a server calls
        this once before it accepts requests. It bypasses the UI service, so it is neither audited
        nor logged as a query.
        """
        t = time.perf_counter()
        if self.retriever is not None:
            self.diagnose(self.WARM_UP_CASE)
        return time.perf_counter() - t

    def retrieve(self, text: str, *, k: int | None = None, exclude_doc_ids: set[str] | None = None) -> list[Hit]:
        return self._retriever().search(text, k=k, exclude_doc_ids=exclude_doc_ids)

    def diagnose(
        self,
        text: str,
        *,
        mode: Mode = "full",
        candidates: Sequence[str] | None = None,
        exclude_doc_ids: set[str] | None = None,
    ) -> Differential:
        """Rank diagnoses for one case description.

        Args:
            mode: "full" (retrieval + generator), "retrieval" (retrieval vote only) or
                "generator" (generator over `candidates` with no evidence; an ablation).
            candidates: the label set for mode="generator".
            exclude_doc_ids: reports the retriever must not return (leakage control in training).
        """
        text = (text or "").strip()
        if not text:
            raise RagDxError("the case description is empty")
        ds = self.settings.diagnosis
        text = expand_abbreviations(text) if ds.expand_abbreviations else text
        timings: dict[str, float] = {}
        t0 = time.perf_counter()

        hits: list[Hit] = []
        card_hits: list[Hit] = []
        pool: dict[str, Candidate] = {}
        # One snapshot per query: the whole answer comes from exactly one index version.
        retriever = self.retriever if mode != "generator" else None
        ranking, route = ("generator", GENERATOR) if mode == "generator" else ("similarity vote", VOTE)
        if mode == "generator":
            if not candidates:
                raise RagDxError("mode 'generator' needs an explicit candidate list")
            for name in candidates:
                pool.setdefault(candidate_key(name), Candidate(name=name))
        else:
            if retriever is None:
                raise RagDxError("this assistant has no index; build one with `rag-dx index build`")
            practice = self._practice(retriever) if mode == "full" else None
            query = self._query_text(text)
            query_vector = self.encoder.encode([query])[0]
            result = retriever.search_channels(
                query, query_vector,
                k=max(ds.max_candidates * 3, self.settings.retrieval.k_evidence * 2),
                exclude_doc_ids=exclude_doc_ids, k_dense=100 if practice is not None else None)
            hits = self._keep_evidence(result.hits)
            timings["retrieve_ms"] = (time.perf_counter() - t0) * 1000
            if practice is not None:
                return self._explained(text, self._ranked(text, practice, result, hits, retriever, timings, t0,
                                                          query=query, query_vector=query_vector), timings)
            elif mode == "full":
                ranking = f"similarity vote + generator ({self._practice_note(retriever)})"
            pool = collect_candidates(hits, temperature=ds.vote_temperature, guideline_weight=ds.guideline_vote_weight,
                                      vocabulary=self.vocabulary)
            cards = self._card_topics(retriever, query, query_vector)
            if cards is not None:
                pool = with_card_topics(pool, cards, self.vocabulary, ds.card_share)
                card_hits = cards.hits
        timings.setdefault("retrieve_ms", (time.perf_counter() - t0) * 1000)

        t1 = time.perf_counter()
        differential = self._vote_differential(text, pool, hits, mode)
        guidelines_only = mode != "generator" and bool(hits) and all(h.chunk.kind == "guideline" for h in hits)
        if guidelines_only and ds.guidelines_only_confidence < 1.0:
            # Answers from guideline passages alone were right less than half as often as their vote and
            # generator probabilities said (guidelines-only dev protocol: shown 0.29-0.33, right 0.12-0.15).
            differential = [d.model_copy(update={"probability": round(d.probability * ds.guidelines_only_confidence, 4)})
                            for d in differential]
        if card_hits:  # the passages the shown card diagnoses cite join the evidence
            cited, shown = {e for d in differential for e in d.evidence}, {h.id for h in hits}
            hits = hits + [h for h in card_hits if h.id in cited and h.id not in shown]
        timings["score_ms"] = (time.perf_counter() - t1) * 1000
        abstained, reason = self._abstain(differential, hits, mode)
        if abstained and guidelines_only and reason and reason.startswith("top diagnosis probability"):
            reason = f"the differential rests on guideline passages alone, with no past report among the evidence: {reason}"
        timings["total_ms"] = (time.perf_counter() - t0) * 1000
        answer = Differential(differential=differential, evidence=[_evidence(h) for h in hits], abstained=abstained,
                              abstain_reason=reason, versions=self.versions_for(retriever),
                              warnings=list(retriever.index.warnings) if retriever else [],
                              timings_ms={k: round(v, 1) for k, v in timings.items()}, ranking=ranking, route=route,
                              best_similarity=_rounded(best_report_similarity(hits)))
        return self._explained(text, answer, timings)

    def _explained(self, text: str, answer: Differential, timings: dict[str, float]) -> Differential:
        """The answer with what a clinician checks it by: per diagnosis the case findings its evidence
        matches and contradicts, red flags the differential omits, and the next questions to ask."""
        answer = without_other_sex(answer, text) if self.settings.diagnosis.sex_filter else answer
        if not self.settings.diagnosis.explain:  # the benchmark's baseline for what this step costs
            return answer
        from rag_dx.advice import annotate
        from rag_dx.finding_evidence import with_findings

        t = time.perf_counter()
        answer = annotate(with_findings(answer, text), text, vocabulary=self.vocabulary)
        timings["explain_ms"] = (time.perf_counter() - t) * 1000
        timings["total_ms"] = timings.get("total_ms", 0.0) + timings["explain_ms"]
        return answer.model_copy(update={"timings_ms": {k: round(v, 1) for k, v in timings.items()}})

    def _vote_differential(self, text: str, pool: dict[str, Candidate], hits: list[Hit], mode: Mode) -> list[Diagnosis]:
        """The similarity vote, blended with the generator's scores unless mode is "retrieval"."""
        ds = self.settings.diagnosis
        ranked = sorted(pool.values(), key=lambda c: -c.vote)[: ds.max_candidates]
        names = [c.name for c in ranked]
        votes = np.array([c.vote for c in ranked], dtype=np.float64)
        p_vote = votes / votes.sum() if votes.sum() > 0 else np.full(len(ranked), 1.0 / max(len(ranked), 1))
        gen_scores = None
        probs = p_vote
        if mode != "retrieval" and self.generator is not None and ranked:
            prompt_hits = hits[: ds.prompt_evidence] if mode == "full" else []
            # With generator_pmi, subtract what the model thinks of each name with no case at all, so a
            # name that is merely common or short does not win on its prior (domain-conditional PMI).
            gen_scores = generator_scores(self.generator, text, prompt_hits, names, evidence_chars=ds.evidence_chars,
                                          prior=self._prior_scores if ds.generator_pmi else None)
            w = 1.0 if mode == "generator" else ds.generator_weight
            probs = w * softmax_t(gen_scores, ds.temperature) + (1.0 - w) * p_vote
            if mode == "full" and self.calibration_temperature != 1.0:
                # fitted on exactly these blended probabilities; the ranking does not change
                probs = apply_temperature(probs, self.calibration_temperature)
        return [
            Diagnosis(
                diagnosis=ranked[i].name,
                icd10=self._icd10(ranked[i]),
                probability=round(float(probs[i]), 4),
                generator_score=None if gen_scores is None else round(float(gen_scores[i]), 4),
                retrieval_vote=round(float(p_vote[i]), 4) if mode != "generator" else None,
                evidence=ranked[i].evidence,
            )
            for i in np.argsort(-probs, kind="stable")
        ]

    def _query_text(self, text: str) -> str:
        """What the retriever reads of the case: without its denied findings, when so configured."""
        if not self.settings.diagnosis.negation_aware:
            return text
        from rag_dx.practice.negation import query_text

        return query_text(text)

    def _keep_evidence(self, wide: list[Hit]) -> list[Hit]:
        """Widen the evidence past k_evidence until it names enough distinct diagnoses for a differential."""
        ds = self.settings.diagnosis
        n_keep = min(self.settings.retrieval.k_evidence, len(wide))
        while n_keep < len(wide) and len(collect_candidates(wide[:n_keep])) < ds.min_candidates:
            n_keep += 1
        return wide[:n_keep]

    def _practice(self, retriever: Retriever) -> "PracticeModel | None":
        """The serving version's learned ranker, when it has one and ranking by it is switched on."""
        if not self.settings.diagnosis.ranker:
            return None
        practice = self.practice_override or practice_of(retriever.index)
        return practice if practice is not None and practice.active else None

    def _practice_note(self, retriever: Retriever) -> str:
        practice = self.practice_override or practice_of(retriever.index)
        if not self.settings.diagnosis.ranker:
            return "learned ranker switched off in settings"
        if practice is None:
            return "this index version has no practice model; rebuild it to train one"
        return practice.reason

    def _outside(self, practice: "PracticeModel", result: SearchResult) -> str | None:
        """Why this case lies outside what the practice has recorded, or None when it does not."""
        best = best_report_similarity(result.dense)
        cut = self.settings.diagnosis.outside_quantile
        if best is None and result.dense and cut > 0:
            # Not one past report among the case's nearest passages: as far outside the practice as
            # a case gets. Left unflagged, the ranker had nothing to rank and the answer was empty
            # (a fifth of the physician notes on the dev protocol).
            return (f"this case is outside the practice's recorded diagnoses: none of its {len(result.dense)} most "
                    f"similar passages is a past report. The list below is led by guideline diagnoses; treat it as "
                    f"reading suggestions, not a differential.")
        rank = practice.profile.rank(best) if best is not None else None
        if rank is None or rank >= cut:
            return None
        return (f"this case is outside the practice's recorded diagnoses: its most similar past report "
                f"(cosine {best:.2f}) is less similar than {100 * (1 - rank):.0f}% of past reports are to "
                f"their nearest neighbour. The list below mixes the practice's diagnoses with guideline topics; "
                f"treat it as reading suggestions, not a differential.")

    def _novel(self, practice: "PracticeModel", result: SearchResult, differential: list[Diagnosis]) -> str | None:
        """Why the top diagnosis may stand in for one the practice never recorded (its reports), or None (practice.novelty)."""
        return weakly_supported(practice, result.dense, differential, self.settings.diagnosis.novel_quantile)

    def _ranked(self, text: str, practice: "PracticeModel", result: SearchResult, hits: list[Hit],
                retriever: Retriever, timings: dict[str, float], t0: float, *, query: str,
                query_vector: np.ndarray) -> Differential:
        ds = self.settings.diagnosis
        t1 = time.perf_counter()
        ranked = ranked_differential(
            practice, text, result, hits, k_dense=self.settings.retrieval.k_dense,
            max_candidates=ds.max_candidates, icd10=lambda key, cites: self._icd10_of(key, cites))
        unlike = self._outside(practice, result)
        novel = unlike or self._novel(practice, result, ranked.differential)
        unsure = None if novel else less_sure_than_its_reports(practice, ranked.differential, ds.novel_conformal_level)
        outside = novel or unsure
        if outside is not None:
            pool = collect_candidates(hits, temperature=ds.vote_temperature, guideline_weight=ds.guideline_vote_weight,
                                      vocabulary=self.vocabulary)
            cards = self._card_topics(retriever, query, query_vector, practice)
            ranked = merge_outside(ranked, pool, hits, temperature=ds.vote_temperature,
                                   guideline_weight=ds.guideline_vote_weight, max_candidates=ds.max_candidates,
                                   vocabulary=self.vocabulary, cards=cards,
                                   vote_weight=ds.outside_vote_weight if unlike else ds.novel_vote_weight,
                                   guideline_share=floor_for(ds.outside_guideline_share, unlike=unlike is not None,
                                                             cards=cards, unsure=unsure is not None),
                                   practice_names=list(practice.names.values()), support_share=ds.outside_support_share,
                                   card_share=ds.card_share, practice_mass=ds.outside_card_mass, reports_share=ds.outside_reports_share,
                                   kept_card_share=ds.outside_kept_card_share, card_lead=ds.outside_reports_card_lead)
            if unsure:  # blended without the floor (floor_for), on a route of its own
                ranked.route = UNSURE
            # Flagged cases are right far less often than the ranker says; a floored one is led by the cards' scale.
            scale = ds.floored_confidence if ranked.floored else ds.outside_confidence
            ranked.differential = [d.model_copy(update={"probability": round(d.probability * scale, 4)})
                                   for d in ranked.differential]
        timings["score_ms"] = (time.perf_counter() - t1) * 1000
        evidence = [_evidence(h) for h in ranked.evidence]
        abstained, reason = self._abstain(ranked.differential, ranked.evidence, "full")
        if outside is not None:
            abstained, reason = True, outside
        timings["total_ms"] = (time.perf_counter() - t0) * 1000
        return Differential(differential=ranked.differential, evidence=evidence, abstained=abstained,
                            abstain_reason=reason, versions=self.versions_for(retriever),
                            warnings=list(retriever.index.warnings),
                            prediction_sets=prediction_sets(practice, ranked.differential, outside=outside is not None),
                            ranking="learned ranker" if outside is None else
                            "learned ranker blended with guideline topics (case outside the practice's recorded "
                            f"diagnoses{'; ' + ranked.note if ranked.note else ''})",
                            route=PRACTICE if outside is None else ranked.route,
                            timings_ms={k: round(v, 1) for k, v in timings.items()},
                            best_similarity=_rounded(best_report_similarity(result.dense)))

    def _card_topics(self, retriever: Retriever, query: str, query_vector: np.ndarray,
                     practice: "PracticeModel | None" = None) -> "CardTopics | None":
        """Guideline diagnoses by disease card (and their mass on `practice`'s diagnoses when asked), if switched on."""
        if not (ds := self.settings.diagnosis).topic_cards:
            return None
        from rag_dx.topic_cards import DIRNAME, TopicCards

        cards = retriever.index.artefact(DIRNAME, partial(TopicCards.load, commonness=self.commonness))
        if cards is None:
            return None
        keys = practice.concept_keys(self.vocabulary) if practice is not None and ds.outside_card_mass > 0 else None
        return card_topics(cards, query, query_vector, retriever.index.docstore.get, top=ds.max_candidates * 2,
                           rare_prior=ds.rare_source_prior, common_prior=ds.commonness_prior, practice_keys=keys,
                           consumer_prior=ds.consumer_topic_prior, finding_words=ds.card_finding_words)

    def _icd10_of(self, key: str, cites: list[Hit]) -> str | None:
        codes: dict[str, int] = {}
        for h in cites:
            if h.chunk.icd10:
                codes[h.chunk.icd10] = codes.get(h.chunk.icd10, 0) + 1
        name = next((h.chunk.label for h in cites if h.chunk.label), key)
        return self._icd10(Candidate(name=name, icd10=codes))

    def _abstain(self, differential: list[Diagnosis], hits: list[Hit], mode: Mode) -> tuple[bool, str | None]:
        ds = self.settings.diagnosis
        if not differential:
            return True, "no retrieved evidence names a diagnosis"
        if mode != "generator":
            best = max((h.dense_score for h in hits if h.dense_score is not None), default=-1.0)
            if best < ds.min_similarity:
                return True, f"no evidence is similar enough to this case (best similarity {best:.2f})"
        if differential[0].probability < ds.abstain_below:
            return True, (f"top diagnosis probability {differential[0].probability:.2f} is below the "
                          f"abstention threshold {ds.abstain_below:.2f}")
        return False, None

    def diagnose_many(
        self, texts: Sequence[str], *, mode: Mode = "full", candidates: Sequence[str] | None = None,
        progress: bool = False,
    ) -> list[Differential]:
        iterator = texts
        if progress:
            from tqdm import tqdm

            iterator = tqdm(texts, desc=f"diagnose ({mode})", unit="case")
        return [self.diagnose(t, mode=mode, candidates=candidates) for t in iterator]


def _rounded(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def _evidence(hit: Hit) -> Evidence:
    """What the user sees of a hit: enough to check the citation."""
    c = hit.chunk
    return Evidence(id=hit.id, kind=c.kind, title=c.title, text=c.text, score=round(hit.score, 5), label=c.label,
                    source=c.source, url=c.url, date=c.date)


def configure_threads(settings: Settings) -> None:
    """Torch gets the cores; FAISS single-query search is faster on one thread (see issue 7)."""
    import torch

    torch.set_num_threads(settings.resolved_threads())
    try:
        import faiss

        faiss.omp_set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass


def build_assistant(
    settings: Settings,
    index_name: str | None = None,
    *,
    encoder: TextEncoder | None = None,
    generator: CandidateScorer | None = None,
    load_generator: bool = True,
    load_vocabulary: bool = True,
    version: str | None = None,
) -> Assistant:
    """Load encoder, index (verified against the encoder), generator and vocabulary once.

    `version` pins one index version (the evaluation gate uses it before switching); by default
    the assistant follows the index's CURRENT pointer and picks up new versions as they appear.
    """
    configure_threads(settings)
    if encoder is None:
        from rag_dx.embed import load_encoder

        encoder = load_encoder(settings)
    name = index_name or settings.index_name
    live = LiveIndex(settings.index_dir, name, encoder_name=encoder.name, encoder_fingerprint=encoder.fingerprint,
                     version=version, dense_device=settings.faiss.device)
    if generator is None and load_generator:
        from rag_dx.generate import load_generator as _load_generator

        generator = _load_generator(settings)
    settings, temperature = _adapter_calibration(settings, generator)
    vocabulary = None
    if load_vocabulary:
        try:
            from rag_dx.vocab import Vocabulary

            vocabulary = Vocabulary.load(cache_dir=settings.cache_dir)
        except ImportError:
            vocabulary = None
    commonness = None
    if settings.diagnosis.commonness_table is not None:
        from rag_dx.commonness import read_commonness

        commonness = read_commonness(settings.diagnosis.commonness_table)  # a bad row fails here, naming file:line
    return Assistant(settings=settings, live=live, generator=generator, encoder=encoder,
                     vocabulary=vocabulary, calibration_temperature=temperature, commonness=commonness)


def _adapter_calibration(settings: Settings, generator: CandidateScorer | None) -> tuple[Settings, float]:
    """Serve an adapter the way it was calibrated: its temperature and its scoring (PMI or not).

    The adapter's ``generator_pmi`` wins over the default but not over a value the user set
    (settings file or RAG_DX_DIAGNOSIS__GENERATOR_PMI). A generator without an adapter
    directory (the base model, or one built around a model in training) gets T = 1.
    """
    ds = settings.diagnosis
    cal = read_adapter_calibration(getattr(generator, "adapter_dir", None)) if generator is not None else None
    if cal is None or not ds.adapter_calibration:
        return settings, 1.0
    if cal.generator_pmi is not None and "generator_pmi" not in ds.model_fields_set and cal.generator_pmi != ds.generator_pmi:
        log.info("generator_pmi=%s as the adapter was calibrated", cal.generator_pmi)
        settings = settings.model_copy(update={"diagnosis": ds.model_copy(update={"generator_pmi": cal.generator_pmi})})
    return settings, cal.temperature
