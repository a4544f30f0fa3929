"""The records that flow through the pipeline: ingest -> chunks -> hits -> differential.

Plain pydantic models so they validate on construction and serialize to JSON for the CLI, the
LangChain adapter and the UI without any of those layers knowing about each other.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["report", "guideline"]
#: How an answer was ranked (constants and meanings: rag_dx.practice.floor). A client tells a case the
#: practice ranker answered from one flagged as outside the practice, and which rule then led it.
Route = Literal["practice", "vote", "generator", "outside_floor", "outside_kept_by_cards", "outside_kept_by_reports",
                "outside_kept_unjudged", "outside_blend", "outside_unsure"]

#: The one disclaimer: every answer carries it (JSON, terminal, chat UI).
DISCLAIMER = (
    "Decision support for a clinician, not a replacement. rag-dx ranks diagnoses from similar past "
    "reports and guideline passages; verify every suggestion against the cited evidence and the patient."
)


class _Output(BaseModel):
    """Output records refuse unknown fields, so a caller (or a test fake) cannot pass one silently."""

    model_config = ConfigDict(extra="forbid")


class Report(BaseModel):
    """A historical diagnosis report, after validation and de-identification.

    `patient_id` is deliberately absent: it is used only transiently (e.g. for leakage-safe
    splitting) and never stored in an index.
    """

    model_config = ConfigDict(frozen=True)

    report_id: str
    text: str
    diagnosis: str | None = None
    icd10: str | None = None
    date: str | None = None
    age: float | None = None
    sex: str | None = None
    specialty: str | None = None
    source: str = ""
    line: int | None = Field(default=None, description="line in the source file, for error messages")


class Guideline(BaseModel):
    """A guideline or reference passage (public text, not patient data)."""

    model_config = ConfigDict(frozen=True)

    doc_id: str
    title: str
    text: str
    topic: str | None = Field(default=None, description="the disease this passage is about (MedQuAD focus)")
    source: str = ""
    url: str | None = None
    date: str | None = None


class Chunk(BaseModel):
    """A unit of retrieval: a piece of a report or a guideline with everything a citation needs."""

    model_config = ConfigDict(frozen=True)

    chunk_id: str
    kind: Kind
    doc_id: str
    title: str
    text: str
    label: str | None = Field(default=None, description="diagnosis (reports) or topic (guidelines)")
    icd10: str | None = None
    source: str = ""
    url: str | None = None
    date: str | None = None


class Hit(BaseModel):
    """A retrieved chunk with its fused score and the ranks that produced it."""

    chunk: Chunk
    score: float
    dense_score: float | None = None
    dense_rank: int | None = None
    sparse_rank: int | None = None

    @property
    def id(self) -> str:
        return self.chunk.chunk_id


class Evidence(_Output):
    """What the user sees of a hit: enough to check the citation."""

    id: str
    kind: Kind
    title: str
    text: str
    score: float
    label: str | None = None
    source: str = ""
    url: str | None = None
    date: str | None = None


class Diagnosis(_Output):
    diagnosis: str
    icd10: str | None = None
    probability: float
    generator_score: float | None = None
    retrieval_vote: float | None = None
    evidence: list[str]
    matches: list[str] = Field(default_factory=list, description="case findings its cited evidence describes")
    against: list[str] = Field(
        default_factory=list, description="findings where case and cited evidence disagree ('no flank pain')")


class PredictionSet(_Output):
    """Diagnoses that together hold the right one with probability >= level (split conformal).

    `guaranteed` is False when the case lies outside what the calibration reports represent
    (the set is then a reading aid only), or when the calibration data could not support the
    level (the set is then every candidate).
    """

    level: float
    diagnoses: list[str]
    guaranteed: bool = True


class RedFlag(_Output):
    """A can't-miss diagnosis the case's findings point to and the differential does not list.

    `trigger` names the findings that fired the rule, in the rule's words (HPO names and the
    table's phrases, never case text); `source` is the guideline the rule comes from.
    """

    diagnosis: str
    trigger: str
    source: str
    url: str | None = None
    rule: str = Field(description="the rule's id in rag_dx/data/red_flags.tsv")


class NextQuestion(_Output):
    """A finding to ask about that would tell two top candidates apart.

    Present in the cited evidence of `favours`, absent from that of `versus`, and not mentioned
    in the case in any assertion. `evidence` lists the cited passages of `favours` that assert it.
    """

    finding: str
    concept_id: str
    favours: str
    versus: str
    evidence: list[str]
    score: float


class Versions(_Output):
    package: str
    index: str | None = None
    encoder: str | None = None
    generator: str | None = None
    adapter: str | None = None


class Differential(_Output):
    """The answer: a ranked, cited differential, or an explicit abstention.

    The case text is deliberately not echoed back: it may hold identifiers the clinician typed,
    and everything in this object can end up in logs, exports or feedback records.
    """

    differential: list[Diagnosis]
    evidence: list[Evidence]
    abstained: bool
    abstain_reason: str | None = None
    versions: Versions
    timings_ms: dict[str, float] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list, description="e.g. served from a fallback index version")
    prediction_sets: list[PredictionSet] = Field(
        default_factory=list, description="conformal sets at the levels the practice model was calibrated for")
    ranking: str | None = Field(
        None, description="how the candidates were ranked: the learned ranker, or the similarity vote and why")
    route: Route | None = Field(
        None, description="the ranking's route as a code: practice, vote, generator, or for a case outside the "
                          "practice's recorded diagnoses outside_floor (guideline diagnoses lead), outside_kept_by_cards, "
                          "outside_kept_by_reports, outside_kept_unjudged (the practice ranker's order kept, and why), "
                          "outside_blend, or outside_unsure (flagged only because the practice model is less sure of "
                          "its top diagnosis than of its own reports)")
    red_flags: list[RedFlag] = Field(
        default_factory=list, description="can't-miss diagnoses the case's findings point to and the list omits")
    next_questions: list[NextQuestion] = Field(
        default_factory=list, description="findings to ask about that would best tell the top candidates apart")
    best_similarity: float | None = Field(
        None, description="cosine of the case to its most similar past report (drift monitoring; None: no report)")
    disclaimer: str = DISCLAIMER
