"""Disease cards: guideline passages aggregated per diagnosis concept, scored against a case.

Why: passage-level retrieval finds the one paragraph that shares words with the case; a disease is
better judged by everything its guidelines say it looks like. A card gathers a concept's passages
(MedQuAD ``focus`` / NGC topic, merged on :func:`rag_dx.candidates.concept_key`), keeps the
findings they assert (HPO concepts from :mod:`rag_dx.findings`, weighted by section: a finding named
in "What are the symptoms of X?" counts more than one in "How to prevent X?") and scores how well
a case's present findings are covered and how many of its denied findings the card expects.

The score is one signal for the ranker; the lead decides whether and how to use it.

Example:
    >>> from rag_dx.findings import extract_findings
    >>> cards = CardIndex.build([CardPassage("Cystitis", "Symptoms are dysuria and frequency.", "c1"),
    ...                          CardPassage("Pyelonephritis", "Fever, flank pain and dysuria.", "c2")])
    >>> best = cards.rank(extract_findings("burning on urination; no fever, no flank pain"))[0]
    >>> best.name, best.score.against
    ('Cystitis', ())
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rag_dx.candidates import candidate_key, concept_key, diagnosis_name

if TYPE_CHECKING:
    from rag_dx.findings import Finding
    from rag_dx.vocab import Vocabulary

#: how much a finding counts by the section it was found in (MedQuAD question types / headings)
SECTION_WEIGHTS: Mapping[str, float] = {
    "symptoms": 1.0, "exams and tests": 0.8, "information": 0.7, "causes": 0.5, "complications": 0.4,
    "frequency": 0.3, "outlook": 0.3, "susceptibility": 0.3, "treatment": 0.2, "prevention": 0.2,
    "other": 0.5,
}
_SECTION_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("symptoms", re.compile(r"\b(symptoms?|signs?|look like|feel like|clinical features|presentation)\b", re.I)),
    ("exams and tests", re.compile(r"\b(diagnos\w*|tests?|exams?|evaluation)\b", re.I)),
    ("causes", re.compile(r"\b(causes?|caused|risk factors?|why)\b", re.I)),
    ("complications", re.compile(r"\bcomplications?\b", re.I)),
    ("treatment", re.compile(r"\b(treat\w*|therap\w*|manage\w*|medicines?|drugs?)\b", re.I)),
    ("prevention", re.compile(r"\b(prevent\w*|avoid)\b", re.I)),
    ("outlook", re.compile(r"\b(outlook|prognosis)\b", re.I)),
    ("frequency", re.compile(r"\b(how many|common|frequency)\b", re.I)),
    ("susceptibility", re.compile(r"\b(who is at risk|susceptib\w*|at risk)\b", re.I)),
    ("information", re.compile(r"^\s*(what is|what are|do you have information)\b", re.I)),
)


def section_of(title: str, topic: str | None = None) -> str:
    """The section a passage title or MedQuAD question belongs to ("What are the symptoms of
    Cystitis?" -> "symptoms"); "other" when nothing matches.

    `topic`: the disease the title names, read out of the title first. Without it the disease's own
    words count as a section's: "What is (are) Common Cold ?" was "frequency" ("common") and "What is
    (are) Drug Reactions ?" "treatment" ("drug"), so neither disease had a card."""
    title = title or ""
    if topic and topic.strip():
        title = re.sub(re.escape(topic.strip()), " ", title, flags=re.I)
    for name, pattern in _SECTION_PATTERNS:
        if pattern.search(title):
            return name
    return "other"


@dataclass(frozen=True)
class CardPassage:
    """One guideline passage for card building: its topic (disease name), text, id and section
    (a MedQuAD ``qtype`` or a heading; None: inferred from ``title`` with :func:`section_of`)."""

    topic: str
    text: str
    passage_id: str = ""
    section: str | None = None
    title: str = ""


@dataclass(frozen=True)
class CardScore:
    """How a case fits a card. ``score`` = coverage - penalty * contradiction, in [-penalty, 1].

    ``coverage``: share of the case's present findings (IDF-weighted) that the card names.
    ``contradiction``: share of the case's denied findings (IDF-weighted, times the card's weight
    for them) that the card expects. ``matched`` / ``against`` are display names.
    """

    score: float
    coverage: float
    contradiction: float
    matched: tuple[str, ...]
    against: tuple[str, ...]
    #: share of the card's own findings (IDF x section weight) that the case has present: low for
    #: long pages that mention everything, so rank all cards with it, not with coverage alone
    precision: float = 0.0


@dataclass
class DiseaseCard:
    """Everything the guidelines say about one concept."""

    key: str
    name: str
    concept: str | None = None
    aliases: list[str] = field(default_factory=list)
    passages: list[str] = field(default_factory=list)
    sections: dict[str, int] = field(default_factory=dict)
    #: HPO id -> weight in (0, 1]: the best section weight of a passage asserting it present
    findings: dict[str, float] = field(default_factory=dict)
    #: HPO id -> display name
    finding_names: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RankedCard:
    key: str
    name: str
    score: CardScore


class CardIndex:
    """Cards by concept key, with finding IDF over the cards. Build with :meth:`build`."""

    def __init__(self, cards: Mapping[str, DiseaseCard]) -> None:
        self.cards = dict(cards)
        n = len(self.cards)
        df: dict[str, int] = {}
        for card in self.cards.values():
            for fid in card.findings:
                df[fid] = df.get(fid, 0) + 1
        self._idf = {fid: math.log((n + 1) / (d + 1)) + 1.0 for fid, d in df.items()}
        self._idf_unseen = math.log(n + 1) + 1.0

    def __len__(self) -> int:
        return len(self.cards)

    def __contains__(self, key: object) -> bool:
        return key in self.cards

    def idf(self, finding_id: str) -> float:
        return self._idf.get(finding_id, self._idf_unseen)

    @classmethod
    def build(
        cls,
        passages: Iterable[CardPassage],
        *,
        vocabulary: Vocabulary | None = None,
        extract: Callable[[str], Sequence[Finding]] | None = None,
        diagnoses_only: bool = True,
    ) -> CardIndex:
        """Group passages by concept and collect their findings.

        Args:
            vocabulary: merge topics by ICD-10-CM concept (:func:`concept_key`); None: by text.
            extract: text -> findings; default :func:`rag_dx.findings.extract_findings`.
            diagnoses_only: skip topics that are not diagnoses (:func:`diagnosis_name`).
        """
        if extract is None:
            from rag_dx.findings import extract_findings

            extract = extract_findings
        cards: dict[str, DiseaseCard] = {}
        names: dict[str, str | None] = {}
        for p in passages:
            topic = (p.topic or "").strip()
            if not topic:
                continue
            if topic not in names:
                names[topic] = diagnosis_name(topic, vocabulary) if diagnoses_only else topic
            name = names[topic]
            if name is None:
                continue
            key = concept_key(name, vocabulary) if vocabulary is not None else candidate_key(name)
            card = cards.get(key)
            if card is None:
                card = cards[key] = DiseaseCard(key=key, name=name, concept=key[4:] if key.startswith("icd:") else None)
            if name not in card.aliases:
                card.aliases.append(name)
            section = (p.section or section_of(p.title or p.text.split("\n", 1)[0], topic)).lower()
            weight = SECTION_WEIGHTS.get(section, SECTION_WEIGHTS["other"])
            card.sections[section] = card.sections.get(section, 0) + 1
            if p.passage_id:
                card.passages.append(p.passage_id)
            for f in extract(p.text):
                if f.assertion not in ("present", "possible"):
                    continue
                if weight > card.findings.get(f.concept_id, 0.0):
                    card.findings[f.concept_id] = weight
                card.finding_names.setdefault(f.concept_id, f.name)
        return cls(cards)

    def score(self, key: str, case_findings: Sequence[Finding], *, penalty: float = 0.5) -> CardScore | None:
        """Score one card (None when there is no card for `key`)."""
        card = self.cards.get(key)
        if card is None:
            return None
        present = {f.concept_id: f.name for f in case_findings if f.assertion == "present"}
        absent = {f.concept_id: f.name for f in case_findings if f.assertion == "absent"}
        p_total = sum(self.idf(fid) for fid in present)
        a_total = sum(self.idf(fid) for fid in absent)
        matched = [fid for fid in present if fid in card.findings]
        against = [fid for fid in absent if fid in card.findings]
        coverage = sum(self.idf(fid) for fid in matched) / p_total if p_total else 0.0
        contradiction = (
            sum(self.idf(fid) * card.findings[fid] for fid in against) / a_total if a_total else 0.0
        )
        card_total = sum(self.idf(fid) * w for fid, w in card.findings.items())
        precision = (sum(self.idf(fid) * card.findings[fid] for fid in matched) / card_total) if card_total else 0.0
        return CardScore(
            score=coverage - penalty * contradiction,
            coverage=coverage,
            contradiction=contradiction,
            matched=tuple(present[fid].lower() for fid in matched),
            against=tuple("no " + absent[fid].lower() for fid in against),
            precision=precision,
        )

    def rank(
        self, case_findings: Sequence[Finding], *, keys: Iterable[str] | None = None, penalty: float = 0.5,
        top: int | None = None,
    ) -> list[RankedCard]:
        """Cards (all, or `keys`) by score, best first; ties broken by name for determinism."""
        out = []
        for key in keys if keys is not None else self.cards:
            s = self.score(key, case_findings, penalty=penalty)
            if s is not None:
                out.append(RankedCard(key, self.cards[key].name, s))
        out.sort(key=lambda r: (-r.score.score, -r.score.coverage, r.name))
        return out[:top] if top is not None else out
