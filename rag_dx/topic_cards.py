"""Guideline topics as diagnoses: one card per disease concept, ranked against a whole case.

Why: for a case the practice has never recorded, the diagnoses can only come from the guidelines.
Passage retrieval finds the ten paragraphs that look most like the case, and any topic they carry
becomes a candidate, so a leaflet that happens to share words ("Toddler Health") or a rare
syndrome with a long symptom list wins. A card instead gathers everything the guidelines say a
disease looks like (its "symptoms", "information" and "exams" passages, merged on the disease
concept with :func:`rag_dx.candidates.concept_key`, non-diagnoses dropped with
:func:`rag_dx.candidates.diagnosis_name`, a rare-disease page kept off a common disease's card
unless it names that disease, :func:`joining_chunks`) and the case is scored against every card at once:

    score = MEAN_POOL x cosine(case, mean of the card's passage vectors)
            + (1 - MEAN_POOL) x max over the card's passages of cosine(case, passage)
            + TEXT_WEIGHT x TF-IDF cosine
            + RARE_PRIOR when every passage comes from a rare-disease source (MedQuAD's GARD, GHR)
            + COMMON_PRIOR x log(1 + notes naming the disease as a diagnosis) (rag_dx.commonness)
            + CONSUMER_PRIOR when a page comes from a consumer health-topic source (MedlinePlus)

The max term is there because a big card's mean is a blur of its pages: Stroke's 42 describing
passages (risk factors, kinds of stroke, tests) put its mean at cosine 0.19 to a textbook stroke
case while its "warning signs" passage says what the case says. A version built before the
passage vectors were stored scores by the mean alone.

The vectors are the index's own (no second embedding pass); the TF-IDF is fitted on the cards.
Weights and temperature were chosen on the disease-symptom dev queries of the guidelines-only
protocol and checked on Symptom2Disease's (docs/results/protocols.md); they are constants of the
method, recorded in the version's manifest, not tuned per index.

Stored in `cards/` of a version as JSON + `.npy` / `.npz` (no pickle), checksummed in the manifest.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag_dx.errors import IndexCorruptError
from rag_dx.patient_age import without_age

if TYPE_CHECKING:
    from rag_dx.schemas import Chunk

DIRNAME = "cards"
META_FILE = "cards.json"
VECTORS_FILE = "card_vectors.npy"
PASSAGES_FILE = "card_passage_vectors.npy"   # every describing passage's vector, float16, card by card
OWNERS_FILE = "card_passage_owners.npy"      # the card of each row of PASSAGES_FILE (ascending)
TFIDF_FILE = "card_tfidf.npz"
IDF_FILE = "card_idf.npy"
#: MedQuAD sources that cover genetic and rare diseases (about two thirds of its topics).
RARE_SOURCES = frozenset({"GHR", "GARD"})
#: MedQuAD sources of consumer health topics: NLM's MedlinePlus covers the conditions the public asks
#: about (flu, pinkeye, kidney stones), so a card with such a page is a common disease.
CONSUMER_SOURCES = frozenset({"MPlusHealthTopics"})
#: Sections whose passages describe what a disease looks like (see rag_dx.cards.section_of).
DESCRIBING = ("symptoms", "information", "exams and tests", "other")
TEXT_WEIGHT = 1.0
#: Weight of the mean-vector cosine in the dense part; the rest is the best passage's cosine. 0.5,
#: the untuned middle: at card level on the dev cards (guidelines-only and all-of-MedQuAD indexes)
#: it won more top-1 than it lost on lay narratives (12/1, 8/1) and short notes (2/1, 3/2), and top-5
#: on symptom lists (9/2, 11/1); long physician notes 1/1 and 1/2 (docs/results/protocols.md).
MEAN_POOL = 0.5
#: -0.1: against -0.05 on the three dev query sets (all common conditions), top-5 +0.013 on DSP lists,
#: +0.011 on S2D narratives (p = 2e-4), top-1 +0.019 on physician notes, nothing significantly
#: worse (`python -m eval.protocols.card_prior`, docs/results/protocols.md).
RARE_PRIOR = -0.1
#: 0.03, the middle of 0.01-0.08 tried on the guidelines-only dev queries: card-level top-1 0.098 ->
#: 0.198 (S2D narratives), 0.116 -> 0.216 (DSP lists), 0.253 -> 0.266 (physician notes, n.s.); 0.05
#: gained more top-1 but 0.08 lost top-5 on DSP (docs/results/protocols.md, "a commonness prior").
COMMON_PRIOR = 0.03
#: 0.04: at card level on both dev card sets (guidelines-only, all of MedQuAD) the gold moved up for
#: 8-232 cases per query set and down for 1-18; top-1 won/lost vignettes 2/0, notes 0/0 and 1/0,
#: short notes 0/1 and 1/2, lists 0/0 (top-5 +9, +3), narratives 4/0; 0.02 and 0.06 within a case
#: (docs/results/protocols.md, "a consumer-topic prior").
CONSUMER_PRIOR = 0.04
#: Softmax temperature over card scores: mean top-1 confidence ~ top-1 accuracy on the dev queries.
TEMPERATURE = 0.12
#: Passages a card cites (best section first).
CITES = 2


@dataclass
class TopicCards:
    """Cards of one index version. Build with :meth:`build`, rank a case with :meth:`rank`."""

    keys: list[str]
    names: list[str]
    codes: list[str | None]
    rows: list[list[int]]   # docstore rows each card cites, best first
    rare: np.ndarray        # bool per card
    vectors: np.ndarray     # (n, dim) unit vectors
    vocabulary: dict[str, int]
    idf: np.ndarray
    matrix: Any             # scipy CSR (n, V), L2-normalised TF-IDF rows
    #: concept key -> notes naming it (rag_dx.commonness); None: the bundled table
    commonness: Mapping[str, int] | None = field(default=None, repr=False)
    #: (m, dim) vectors of every describing passage and the card each belongs to (ascending); None in a
    #: version built before they were stored, which is then scored by the mean vector alone
    passage_vectors: np.ndarray | None = field(default=None, repr=False)
    passage_owners: np.ndarray | None = field(default=None, repr=False)
    #: bool per card: a page of it comes from a CONSUMER_SOURCES source; None (a version built before
    #: it was stored): no card has one, and the consumer-topic prior changes nothing
    consumer: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.keys)

    @classmethod
    def build(cls, chunks: Sequence["Chunk"], vectors: np.ndarray, vocabulary: Any = None) -> "TopicCards | None":
        """Cards from a version's guideline chunks; None when no guideline topic is a diagnosis."""
        groups: dict[str, dict[str, Any]] = {}
        for key, name, section, row in joining_chunks(chunks, vocabulary):
            g = groups.setdefault(key, {"names": {}, "rows": [], "sources": set(), "code": None})
            g["names"][name] = g["names"].get(name, 0) + 1
            g["rows"].append((DESCRIBING.index(section), row))
            g["sources"].add(chunks[row].source)
            if key.startswith("icd:"):
                g["code"] = key[4:]
        if not groups:
            return None
        keys = sorted(groups)
        rows = [[r for _, r in sorted(groups[k]["rows"])] for k in keys]
        card_vectors = np.stack([_unit(vectors[r].mean(axis=0)) for r in rows]).astype(np.float32)
        # float16 as stored (half the disk; cosines move by ~1e-4), so a loaded version scores as built
        passages = np.asarray(vectors[[r for rs in rows for r in rs]], dtype=np.float16)
        owners = np.array([i for i, rs in enumerate(rows) for _ in rs], dtype=np.int32)
        texts = [" ".join(chunks[r].text for r in rs) for rs in rows]
        vectorizer = card_vectorizer(len(keys))
        matrix = vectorizer.fit_transform(texts).astype(np.float32).tocsr()
        return cls(keys=keys, names=[card_name(k, groups[k]["names"], vocabulary) for k in keys],
                   codes=[groups[k]["code"] for k in keys], rows=[r[:CITES] for r in rows],
                   rare=np.array([bool(groups[k]["sources"]) and groups[k]["sources"] <= RARE_SOURCES for k in keys]),
                   vectors=card_vectors, vocabulary={t: int(i) for t, i in vectorizer.vocabulary_.items()},
                   idf=vectorizer.idf_.astype(np.float32), matrix=matrix, passage_vectors=passages,
                   passage_owners=owners,
                   consumer=np.array([bool(groups[k]["sources"] & CONSUMER_SOURCES) for k in keys]))

    def dense_scores(self, query_vectors: np.ndarray) -> np.ndarray:
        """(queries x cards) dense part of :meth:`scores`: the mean-vector cosine blended with the best passage's."""
        q = np.atleast_2d(np.asarray(query_vectors, dtype=np.float32))
        mean = q @ self.vectors.T
        if self.passage_vectors is None or self.passage_owners is None:
            return mean
        best = np.maximum.reduceat(q @ self.passage_vectors.T, self._starts, axis=1)
        return MEAN_POOL * mean + (1.0 - MEAN_POOL) * best

    def scores(self, query: str, query_vector: np.ndarray, *, rare_prior: float = RARE_PRIOR,
               common_prior: float = COMMON_PRIOR, consumer_prior: float = CONSUMER_PRIOR,
               words: str | None = None) -> np.ndarray:
        """One score per card (see the module docstring); any prior at 0 is switched off.

        `words`: what the TF-IDF half reads instead of `query` (see `with_finding_words`)."""
        dense = self.dense_scores(query_vector)[0]
        text = np.asarray((self.matrix @ self._tfidf(query if words is None else words).T).todense()).ravel()
        return dense + TEXT_WEIGHT * text + self.priors(rare_prior, common_prior, consumer_prior)

    def priors(self, rare_prior: float = RARE_PRIOR, common_prior: float = COMMON_PRIOR,
               consumer_prior: float = CONSUMER_PRIOR) -> np.ndarray:
        """The part of :meth:`scores` that does not depend on the case: every prior, one value per card."""
        return rare_prior * self.rare + self.prevalence(common_prior, consumer_prior)

    def prevalence(self, common_prior: float = COMMON_PRIOR, consumer_prior: float = CONSUMER_PRIOR) -> np.ndarray:
        """The part of :meth:`scores` that says how common a disease is rather than how well it matches."""
        return common_prior * self.common + consumer_prior * self.consumer

    def rank(self, query: str, query_vector: np.ndarray, top: int = 10, *, rare_prior: float = RARE_PRIOR,
             common_prior: float = COMMON_PRIOR, consumer_prior: float = CONSUMER_PRIOR,
             words: str | None = None) -> list[tuple[int, float]]:
        """The `top` cards as (card index, probability), probabilities a softmax over those cards."""
        return self.top_cards(self.scores(query, query_vector, rare_prior=rare_prior, common_prior=common_prior,
                                          consumer_prior=consumer_prior, words=words), top)

    def top_cards(self, scores: np.ndarray, top: int = 10) -> list[tuple[int, float]]:
        """:meth:`rank` on scores already computed by :meth:`scores` (one pass serves several questions)."""
        s = np.where(self.candidate, scores, -np.inf)
        order = np.argsort(-s, kind="stable")[:min(top, int(self.candidate.sum()))]
        p = np.exp((s[order] - s[order].max()) / TEMPERATURE)
        p /= p.sum()
        return [(int(i), float(q)) for i, q in zip(order, p)]

    def mass(self, query: str, query_vector: np.ndarray, members: np.ndarray, *, rare_prior: float = RARE_PRIOR,
             common_prior: float = COMMON_PRIOR, words: str | None = None) -> float:
        """The share of the softmax over every candidate card that falls on the `members` cards (a bool mask).

        Over all cards, not the `top` that :meth:`rank` returns: how much of the guidelines' belief
        about the whole case lies on a set of diagnoses (a practice's), however far down they rank.
        Without the consumer-topic prior, as the floor's test reads it (`card_topics`): a practice's
        diagnoses are common ones, and with it their share rose on every case."""
        return self.share_of(self.scores(query, query_vector, rare_prior=rare_prior, common_prior=common_prior,
                                         consumer_prior=0.0, words=words), members)

    def share_of(self, scores: np.ndarray, members: np.ndarray) -> float:
        """:meth:`mass` on scores already computed by :meth:`scores`."""
        s = np.where(self.candidate, scores, -np.inf)
        p = np.exp((s - s.max()) / TEMPERATURE)
        return float(p[members].sum() / p.sum())

    def members(self, keys: "Collection[str]") -> np.ndarray:
        """Which cards are one of these diagnoses: a card whose concept key or name key is among `keys`.

        The last answer for a frozenset is kept while the same object is asked again (a practice's
        cached key set, on every flagged case); the pair is written whole, so racing threads never
        read half of it. The mask is read-only: it may be shared."""
        cached = self.__dict__.get("_members")
        if cached is not None and cached[0] is keys:
            return cached[1]
        mask = np.array([k in keys or n in keys for k, n in zip(self.keys, self._name_keys)], bool)
        mask.flags.writeable = False
        if isinstance(keys, frozenset):
            self.__dict__["_members"] = (keys, mask)
        return mask

    def __post_init__(self) -> None:
        from rag_dx.candidates import chapter_kind, candidate_key
        from rag_dx.commonness import log_counts, read_commonness

        # Built once per loaded version; transform() only reads it, so threads can share it.
        self._vectorizer = card_vectorizer(len(self.keys), vocabulary=self.vocabulary)
        self._vectorizer.idf_ = self.idf
        # every concept and name key with a card in this version: "can the cards judge this diagnosis?"
        self._name_keys = [candidate_key(n) for n in self.names]
        self.known: frozenset[str] = frozenset(self.keys) | frozenset(self._name_keys)
        # looked up when loaded, from the table that ships with the code (not stored in the version)
        self.common: np.ndarray = log_counts(self.keys, self.names,
                                             read_commonness() if self.commonness is None else self.commonness)
        # Cards that may compete as a diagnosis under today's rules: a version built before a concept
        # was ruled a symptom (G89 pain) still holds its card, which stays evidence-only.
        self.candidate: np.ndarray = np.array([c is None or chapter_kind(c) == "diagnosis" for c in self.codes], bool)
        self.consumer = (np.zeros(len(self.keys), bool) if self.consumer is None
                         else np.asarray(self.consumer, dtype=bool))
        if self.consumer.shape != (len(self.keys),):
            raise ValueError("consumer flags do not cover the cards")
        if self.passage_vectors is not None and self.passage_owners is not None:
            self.passage_vectors = np.asarray(self.passage_vectors, dtype=np.float32)
            owners = np.asarray(self.passage_owners)
            # every card has at least one describing passage, stored card by card: reduceat's segments
            if owners.shape != (len(self.passage_vectors),) or not np.array_equal(np.unique(owners),
                                                                                   np.arange(len(self.keys))) \
                    or np.any(np.diff(owners) < 0):
                raise ValueError("passage owners do not cover the cards in order")
            self._starts = np.flatnonzero(np.r_[True, np.diff(owners) != 0])

    def _tfidf(self, text: str) -> Any:
        return self._vectorizer.transform([text])

    # ------------------------------------------------------------------ storage
    def save(self, version_dir: Path) -> dict[str, Any]:
        """Write `cards/` inside a version directory; returns the manifest entry."""
        from scipy.sparse import save_npz

        from rag_dx.index.layout import artefact_checksums

        out = version_dir / DIRNAME
        out.mkdir(parents=True, exist_ok=True)
        meta = {"keys": self.keys, "names": self.names, "codes": self.codes, "rows": self.rows,
                "rare": [bool(x) for x in self.rare], "consumer": [bool(x) for x in self.consumer],
                "vocabulary": self.vocabulary,
                "method": {"text_weight": TEXT_WEIGHT, "rare_prior": RARE_PRIOR, "temperature": TEMPERATURE,
                           "rare_sources": sorted(RARE_SOURCES), "consumer_sources": sorted(CONSUMER_SOURCES),
                           "sections": list(DESCRIBING),
                           "mean_pool": MEAN_POOL if self.passage_vectors is not None else 1.0}}
        (out / META_FILE).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        np.save(out / VECTORS_FILE, self.vectors, allow_pickle=False)
        np.save(out / IDF_FILE, self.idf, allow_pickle=False)
        save_npz(out / TFIDF_FILE, self.matrix, compressed=True)
        files: tuple[str, ...] = (META_FILE, VECTORS_FILE, IDF_FILE, TFIDF_FILE)
        if self.passage_vectors is not None and self.passage_owners is not None:
            np.save(out / PASSAGES_FILE, self.passage_vectors.astype(np.float16), allow_pickle=False)
            np.save(out / OWNERS_FILE, np.asarray(self.passage_owners, dtype=np.int32), allow_pickle=False)
            files += (PASSAGES_FILE, OWNERS_FILE)
        return {"cards": len(self.keys), "rare": int(self.rare.sum()), "consumer": int(self.consumer.sum()),
                "files": artefact_checksums(version_dir, DIRNAME, files)}

    @classmethod
    def load(cls, version_dir: Path, entry: Mapping[str, Any] | None,
             commonness: Mapping[str, int] | None = None) -> "TopicCards | None":
        """The version's cards, or None for a version without guideline diagnoses or built before cards.

        `commonness`: a practice's own table for the prior (`diagnosis.commonness_table`), read and
        checked when the assistant is built so that its errors name that file, not the index.
        """
        if not entry or not entry.get("files"):
            return None
        from scipy.sparse import load_npz

        from rag_dx.index.layout import verify_artefact

        base = version_dir / DIRNAME
        try:
            verify_artefact(version_dir, entry["files"], "disease-card")
            meta = json.loads((base / META_FILE).read_text(encoding="utf-8"))
            pooled = f"{DIRNAME}/{PASSAGES_FILE}" in entry["files"]  # a version built before: the mean alone
            return cls(keys=list(meta["keys"]), names=list(meta["names"]), codes=list(meta["codes"]),
                       rows=[list(map(int, r)) for r in meta["rows"]], rare=np.array(meta["rare"], dtype=bool),
                       vectors=np.load(base / VECTORS_FILE, allow_pickle=False),
                       vocabulary={str(t): int(i) for t, i in meta["vocabulary"].items()},
                       idf=np.load(base / IDF_FILE, allow_pickle=False), matrix=load_npz(base / TFIDF_FILE).tocsr(),
                       commonness=commonness,
                       passage_vectors=np.load(base / PASSAGES_FILE, allow_pickle=False) if pooled else None,
                       passage_owners=np.load(base / OWNERS_FILE, allow_pickle=False) if pooled else None,
                       consumer=np.array(meta["consumer"], dtype=bool) if "consumer" in meta else None)
        except (OSError, ValueError, KeyError) as exc:
            raise IndexCorruptError(f"index version {version_dir.name}: disease cards cannot be read ({exc}); "
                                    "rebuild it with `rag-dx index rebuild`") from None


def describing_chunks(chunks: Sequence["Chunk"], vocabulary: Any = None) -> Iterator[tuple[str, str, str, int]]:
    """(concept key, diagnosis name, section, row) for every guideline chunk a card is made of: a
    topic that is a diagnosis, in a section that describes what the disease looks like."""
    from rag_dx.candidates import concept_key, diagnosis_name
    from rag_dx.cards import section_of

    names: dict[str, str | None] = {}
    for row, chunk in enumerate(chunks):
        if chunk.kind != "guideline" or not chunk.label:
            continue
        if chunk.label not in names:
            names[chunk.label] = diagnosis_name(chunk.label, vocabulary)
        name = names[chunk.label]
        section = section_of(chunk.title, chunk.label)
        if name is not None and section in DESCRIBING:
            yield concept_key(name, vocabulary), name, section, row


def joining_chunks(chunks: Sequence["Chunk"], vocabulary: Any = None) -> list[tuple[str, str, str, int]]:
    """:func:`describing_chunks` less the rare-disease pages that would join a common disease's
    card under a name that is not that disease's.

    Why: cards merge on the ICD-10-CM concept, and a rare disease's name often resolves only by a
    looser rule, onto a common disease: GHR's "Pfeiffer syndrome" (a craniosynostosis) went to
    B27 through "Pfeiffer's disease", so the card for infectious mononucleosis carried its page,
    its name and a vector half about skull sutures, and ranked below 80 other cards for a textbook
    mononucleosis case; "Werner syndrome" joined multiple endocrine neoplasia. Those names are
    curated now (rag_dx/data/curated_synonyms.tsv); this rule catches the ones nobody has read
    ("Leukoencephalopathy - dystonia - motor neuropathy" named the Dystonia card, "Encephalomyopathy"
    joined Encephalopathy). A page from a rare-disease source (`RARE_SOURCES`)
    joins a concept that a common source also describes only when its whole topic is one of that
    card's names or resolves to the concept as written (:meth:`Vocabulary.literal_code`); otherwise it
    stays evidence for passage retrieval, and the common pages make the card. Concepts only rare
    sources describe are merged as before.
    """
    from rag_dx.candidates import concept_key
    from rag_dx.labels import candidate_key

    found = list(describing_chunks(chunks, vocabulary))
    if vocabulary is None:
        return found
    common: dict[str, set[str]] = {}
    for key, name, _, row in found:
        if chunks[row].source not in RARE_SOURCES:
            common.setdefault(key, set()).add(candidate_key(name))
    verdict: dict[tuple[str, str], bool] = {}

    def joins(key: str, topic: str) -> bool:
        # the page's whole topic, not the diagnosis read off its first part: "Cataract and
        # cardiomyopathy" and "Deafness and myopia syndrome" are one syndrome each, not a cataract
        # and a hearing loss
        if (key, topic) not in verdict:
            literal = vocabulary.literal_code(topic)
            verdict[key, topic] = candidate_key(topic) in common[key] or (
                literal is not None and concept_key(literal, vocabulary) == key)
        return verdict[key, topic]

    return [(key, name, section, row) for key, name, section, row in found
            if key not in common or chunks[row].source not in RARE_SOURCES or joins(key, chunks[row].label or name)]


def with_finding_words(text: str) -> str:
    """`text` without its age phrase, followed by the names and synonyms of its present findings, for
    the cards' TF-IDF.

    Why: guideline pages say "shortness of breath when lying down" where a clinician writes
    "orthopnea", and "itchy skin" where a patient writes "my skin itches"; the finding extractor
    maps both to one HPO concept, whose exact and lay synonyms bridge the two vocabularies.
    Card level on the guidelines-only dev queries (`python -m eval.protocols.card_words`): top-1
    0.216 -> 0.254 on symptom lists (11 won / 2 lost; top-5 2/9), 0.208 -> 0.259 on lay narratives
    (16/3), physician notes level (1/1; top-5 4/0). End to end, narratives on a symptom-list practice
    top-1 +0.015 (p = 0.001), nothing significantly worse (docs/results/protocols.md, "finding
    words"). Only the TF-IDF half reads them: the encoder given the same words lost top-5 on every set.
    """
    from rag_dx.findings import default_extractor

    extractor = default_extractor()
    found = [f.concept_id for f in extractor.extract(text) if f.assertion == "present"]
    words = [w for cid in dict.fromkeys(found) for w in extractor.words_of(cid)]
    text = without_age(text)
    return f"{text} {' '.join(words)}" if words else text


def card_name(key: str, counts: Mapping[str, int], vocabulary: Any = None) -> str:
    """The name a card shows: its most frequent page name (the shorter on a tie), without an age group
    when the card joins several pages and the name without it is the card's own concept.

    Why: the adult and childhood cancer pages of one disease share a card, and a child's case showed
    "Adult Non-Hodgkin Lymphoma". "Childhood Interstitial Lung Disease" (J84.84) keeps its name, since
    "Interstitial Lung Disease" is another concept (J84.9)."""
    from rag_dx.candidates import concept_key
    from rag_dx.vocab_tables import without_age_group

    name = max(counts, key=lambda n: (counts[n], -len(n)))
    if len(counts) > 1 and without_age_group(name) is not None:
        rest = name.split(None, 1)[1]
        if concept_key(rest, vocabulary) == key:
            return rest
    return name


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def card_vectorizer(n_cards: int, vocabulary: Mapping[str, int] | None = None) -> Any:
    """Word unigrams, English stop words out; terms on most cards carry no disease signal (max_df)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    small = n_cards < 20
    return TfidfVectorizer(sublinear_tf=True, stop_words="english", dtype=np.float32, vocabulary=vocabulary,
                           min_df=1 if small else 2, max_df=1.0 if small else 0.3)
