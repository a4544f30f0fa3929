"""Monitoring figures over the UI's audit log and feedback store: pure functions over records.

`rag-dx monitor` and the UI's admin panel read facts out of the records (`query_facts`,
`feedback_facts`), then `summarize` computes everything the report shows: queries and abstentions
per day, the distribution of the top-1 probability, how often clinicians' feedback agrees with the
top-1 and with the conformal set, and input drift, and it raises warnings where settings say so.
Reading the files is in `rag_dx/monitor_sources.py`; plots and HTML in `rag_dx/monitor_report.py`.

What is read: of an audit record, its event, query id, time, index version, abstention and the
numbers of `rag_dx.audit.answer_scores`; of a feedback row, its kind, time, query id, and, to
judge agreement, the clinician's diagnosis against the answer's top-1 and conformal set (compared
here, never returned). Nothing returned holds case or evidence text.

Drift: a case's best cosine to the practice's reports means little alone, so it is placed in the
serving index version's `SimilarityProfile` (each past report's similarity to its nearest other
report): its rank u in [0, 1]. Cases like the practice's own give u spread evenly over [0, 1]; the
population stability index of u over ten equal bins against 0.1 each says how far they are from
that (0 = same; 0.1-0.2 moderate; >= 0.2 large).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from statistics import median
from typing import Any, Literal, get_args

from rag_dx.errors import InputError
from rag_dx.labels import candidate_key
from rag_dx.schemas import Route

__all__ = [
    "PSI_BINS",
    "Agreement",
    "DayRow",
    "DriftRow",
    "FeedbackFact",
    "MonitorSummary",
    "QueryFact",
    "agreement",
    "confidence_histogram",
    "daily_rows",
    "drift_rows",
    "feedback_facts",
    "profile_ranker",
    "psi",
    "query_facts",
    "summarize",
]

PSI_BINS = 10
#: The route codes an answer may carry; anything else in a stored answer is not shown.
ROUTES = frozenset(get_args(Route))
PSI_FLOOR = 1e-4
"""An empty bin counts as this share, so the log stays finite (the usual PSI convention)."""
LOW_RANK = 0.1
"""A case below 10% of the practice's reports' nearest-neighbour similarities counts as 'low'."""

Period = Literal["day", "week"]


@dataclass(frozen=True)
class QueryFact:
    """One answered (or failed) query, as monitoring sees it: ids, version and numbers."""

    time: datetime
    query_id: str
    index: str | None
    failed: bool
    abstained: bool
    top1_probability: float | None
    best_similarity: float | None
    set_size: int | None


@dataclass(frozen=True)
class FeedbackFact:
    """The latest feedback on one answer: whether it agrees with the top-1 and the conformal set.

    `agrees_top1`: True for a "correct" naming the top-1, False for one naming another diagnosis or for
    "wrong"; None for "evidence_wrong" (about citations, not the diagnosis). `in_set`: for a
    "correct", whether the named diagnosis is in the answer's set at the monitored level (None when
    the answer had no such set, only one without the guarantee (a case outside the practice: a
    reading aid), or the feedback names no diagnosis).
    """

    time: datetime
    query_id: str
    kind: str
    agrees_top1: bool | None
    in_set: bool | None
    top1_probability: float | None
    index: str | None
    #: how the answer was ranked (`Differential.route`, a code from a closed set: never text); None for
    #: an answer stored before answers carried it
    route: str | None = None


@dataclass(frozen=True)
class DayRow:
    day: date
    queries: int
    failed: int
    abstained: int
    abstention_rate: float | None
    mean_top1: float | None


@dataclass(frozen=True)
class Agreement:
    """Clinician feedback against the answers (latest feedback per answer)."""

    answers: int = 0
    judged_top1: int = 0
    agree_top1: int = 0
    judged_set: int = 0
    in_set: int = 0
    evidence_wrong: int = 0
    mean_top1_probability: float | None = None

    @property
    def top1_rate(self) -> float | None:
        return self.agree_top1 / self.judged_top1 if self.judged_top1 else None

    @property
    def disagreement(self) -> float | None:
        return None if self.top1_rate is None else 1.0 - self.top1_rate

    @property
    def set_rate(self) -> float | None:
        return self.in_set / self.judged_set if self.judged_set else None


@dataclass(frozen=True)
class DriftRow:
    """Drift of the queries whose period starts on `start` (or of the recent window)."""

    start: date
    n: int
    psi: float | None
    median_similarity: float | None
    low_share: float | None


@dataclass
class MonitorSummary:
    """Everything the report shows. `warnings` are what an administrator must look at."""

    first_day: date | None
    last_day: date | None
    queries: int
    failed: int
    abstained: int
    daily: list[DayRow]
    confidence_bins: list[int]
    confidence_bins_abstained: list[int]
    agreement: Agreement
    recent_agreement: Agreement
    drift: list[DriftRow]
    recent_drift: DriftRow | None
    set_level: float
    window_days: int
    recent_since: date
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: `agreement` per route the answers took: a flagged case led by the guidelines and one kept with the
    #: practice's ranker are not equally trustworthy (docs/clinical.md), and one rate over all hides which
    agreement_by_route: dict[str, Agreement] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types (dates as ISO strings), with the agreement rates spelled out."""
        def conv(value: Any) -> Any:
            if isinstance(value, date):
                return value.isoformat()
            if isinstance(value, dict):
                return {k: conv(v) for k, v in value.items()}
            if isinstance(value, list):
                return [conv(v) for v in value]
            return value

        out = conv(asdict(self))
        for key in ("agreement", "recent_agreement"):
            a: Agreement = getattr(self, key)
            out[key].update(top1_rate=a.top1_rate, disagreement=a.disagreement, set_rate=a.set_rate)
        for route, a in self.agreement_by_route.items():
            out["agreement_by_route"][route].update(top1_rate=a.top1_rate, set_rate=a.set_rate)
        return out


# -- facts out of records ---------------------------------------------------------------------------------


Where = tuple[str, int | None]
"""(file, line or row) of a record, for errors."""


def _time(value: Any, where: Where, key: str) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise InputError(where[0], where[1], key, "not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise InputError(where[0], where[1], key, "a time without a time zone")
    return moment


def _number(rec: Mapping[str, Any], key: str, where: Where) -> float | None:
    value = rec.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(where[0], where[1], key, "not a finite number")
    return float(value)


def query_facts(records: Iterable[Mapping[str, Any]], *, source: str = "audit log") -> list[QueryFact]:
    """The `query` and `query_failed` events of audit records, in order.

    Records written before `answer_scores` existed lack its numbers: those are None. A record whose
    field has the wrong type raises `InputError` naming `source`, the record's line (its `seq`: in a
    verified log they are equal) and the field.
    """
    out: list[QueryFact] = []
    for rec in records:
        event = rec.get("event")
        if event not in ("query", "query_failed"):
            continue
        seq = rec.get("seq")
        where: Where = (source, seq if isinstance(seq, int) else None)
        abstained = rec.get("abstained", False)
        if not isinstance(abstained, bool):
            raise InputError(source, where[1], "abstained", "not true/false")
        size = _number(rec, "set_size", where)
        versions = rec.get("versions") if isinstance(rec.get("versions"), dict) else {}
        out.append(QueryFact(
            time=_time(rec.get("time"), where, "time"), query_id=str(rec.get("query_id", "")),
            index=versions.get("index"), failed=event == "query_failed", abstained=abstained and event == "query",
            top1_probability=_number(rec, "top1_probability", where),
            best_similarity=_number(rec, "best_similarity", where),
            set_size=None if size is None else int(size)))
    return out


def feedback_facts(rows: Iterable[Any], *, set_level: float = 0.9, source: str = "feedback store") -> list[FeedbackFact]:
    """The latest feedback on each answer (as `FeedbackStore.training_pairs` counts it), judged.

    `rows` are `rag_dx.feedback.FeedbackRecord`s (read by attribute); their case text is not read.
    A bad time raises `InputError` naming `source` and the row id.
    """
    latest: dict[str, Any] = {}
    for row in rows:
        latest[row.query_id] = row
    out = []
    for row in latest.values():
        output = row.output if isinstance(row.output, dict) else {}
        differential = output.get("differential") or []
        top1 = differential[0] if differential and isinstance(differential[0], dict) else {}
        named = candidate_key(row.diagnosis) if row.diagnosis else None
        agrees: bool | None = None
        in_set: bool | None = None
        if row.kind == "wrong":
            agrees = False
        elif row.kind == "correct" and named:
            agrees = bool(top1) and candidate_key(str(top1.get("diagnosis", ""))) == named
            chosen = next((ps for ps in output.get("prediction_sets") or [] if isinstance(ps, dict)
                           and abs(float(ps.get("level", -1)) - set_level) < 1e-9 and ps.get("guaranteed", True)),
                          None)
            if chosen is not None:
                in_set = named in {candidate_key(str(d)) for d in chosen.get("diagnoses", [])}
        prob = top1.get("probability")
        route = output.get("route")
        out.append(FeedbackFact(
            time=_time(row.created_at, (source, row.id), "created_at"), query_id=row.query_id,
            kind=row.kind, agrees_top1=agrees, in_set=in_set,
            top1_probability=float(prob) if isinstance(prob, (int, float)) and not isinstance(prob, bool) else None,
            index=row.index_version, route=route if route in ROUTES else None))
    return sorted(out, key=lambda f: f.time)


# -- figures ---------------------------------------------------------------------------------------------


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def daily_rows(queries: Sequence[QueryFact]) -> list[DayRow]:
    """Queries, failures, abstentions and the mean top-1 probability per UTC day (days with none omitted).

    The abstention rate is over answered queries (failures gave no answer to abstain from).
    """
    days: dict[date, list[QueryFact]] = {}
    for q in queries:
        days.setdefault(q.time.date(), []).append(q)
    rows = []
    for day in sorted(days):
        qs = days[day]
        answered = [q for q in qs if not q.failed]
        abstained = sum(q.abstained for q in answered)
        rows.append(DayRow(
            day=day, queries=len(qs), failed=len(qs) - len(answered), abstained=abstained,
            abstention_rate=abstained / len(answered) if answered else None,
            mean_top1=_mean([q.top1_probability for q in answered if q.top1_probability is not None])))
    return rows


def confidence_histogram(values: Iterable[float], bins: int = 10) -> list[int]:
    """Counts of probabilities in `bins` equal bins over [0, 1] (1.0 goes in the last bin)."""
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, max(0, int(v * bins)))] += 1
    return counts


def agreement(feedback: Sequence[FeedbackFact]) -> Agreement:
    """Counts of judged feedback: agreeing with the top-1, inside the conformal set."""
    judged = [f for f in feedback if f.agrees_top1 is not None]
    in_set = [f for f in feedback if f.in_set is not None]
    return Agreement(
        answers=len(feedback), judged_top1=len(judged), agree_top1=sum(bool(f.agrees_top1) for f in judged),
        judged_set=len(in_set), in_set=sum(bool(f.in_set) for f in in_set),
        evidence_wrong=sum(f.kind == "evidence_wrong" for f in feedback),
        mean_top1_probability=_mean([f.top1_probability for f in judged if f.top1_probability is not None]))


def psi(ranks: Sequence[float], bins: int = PSI_BINS, floor: float = PSI_FLOOR) -> float:
    """Population stability index of ranks in [0, 1] against the uniform distribution.

    sum over `bins` equal bins of (o - e) * ln(o / e), with e = 1 / bins and o the observed share
    (at least `floor`). Ranks are where cases fall in the practice's own similarity profile, so the
    uniform distribution is exactly the practice's reports' own.

    Raises:
        ValueError: no ranks, or a rank outside [0, 1].
    """
    if not ranks:
        raise ValueError("PSI needs at least one value")
    if any(not (0.0 <= r <= 1.0) for r in ranks):
        raise ValueError("ranks must lie in [0, 1]")
    expected = 1.0 / bins
    counts = confidence_histogram(ranks, bins)
    total = 0.0
    for count in counts:
        observed = max(count / len(ranks), floor)
        total += (observed - expected) * math.log(observed / expected)
    return total


RankOf = Callable[[QueryFact], float | None]


def _drift_row(start: date, pairs: Sequence[tuple[QueryFact, float]]) -> DriftRow:
    if not pairs:
        return DriftRow(start=start, n=0, psi=None, median_similarity=None, low_share=None)
    ranks = [u for _, u in pairs]
    sims = [q.best_similarity for q, _ in pairs if q.best_similarity is not None]
    return DriftRow(start=start, n=len(pairs), psi=psi(ranks), median_similarity=median(sims) if sims else None,
                    low_share=sum(u < LOW_RANK for u in ranks) / len(ranks))


def _period_start(day: date, period: Period) -> date:
    return day - timedelta(days=day.weekday()) if period == "week" else day


def _ranked(queries: Sequence[QueryFact], rank_of: RankOf) -> list[tuple[QueryFact, float]]:
    out = []
    for q in queries:
        if q.failed or q.best_similarity is None:
            continue
        u = rank_of(q)
        if u is not None:
            out.append((q, u))
    return out


def drift_rows(queries: Sequence[QueryFact], rank_of: RankOf, period: Period = "week") -> list[DriftRow]:
    """Drift per day or per week (weeks start on Monday) over the queries that recorded a best
    similarity and whose index version has a profile (`rank_of` returns None otherwise)."""
    groups: dict[date, list[tuple[QueryFact, float]]] = {}
    for q, u in _ranked(queries, rank_of):
        groups.setdefault(_period_start(q.time.date(), period), []).append((q, u))
    return [_drift_row(start, groups[start]) for start in sorted(groups)]


def profile_ranker(profiles: Mapping[str, Any], fallbacks: Mapping[str, Any] | None = None) -> RankOf:
    """`rank_of` for `drift_rows`: `SimilarityProfile.rank` of the query's index version
    (`profiles["name/vNNNN"]`), else of its index's fallback (`fallbacks["name"]`, e.g. the current
    version when the serving one was garbage-collected); None without either."""
    fallbacks = fallbacks or {}

    def rank_of(q: QueryFact) -> float | None:
        key = q.index or ""
        profile = profiles.get(key) or fallbacks.get(key.partition("/")[0])
        if profile is None or q.best_similarity is None:
            return None
        return profile.rank(q.best_similarity)
    return rank_of


# -- the summary and its warnings ---------------------------------------------------------------------------


def summarize(
    queries: Sequence[QueryFact],
    feedback: Sequence[FeedbackFact],
    *,
    rank_of: RankOf,
    settings: Any,
    now: datetime,
    since: date | None = None,
    period: Period = "week",
) -> MonitorSummary:
    """All figures and warnings. `settings` is a `rag_dx.settings.MonitorSettings`; the recent
    window is the `settings.window_days` days up to `now`; `since` drops older records first."""
    if since is not None:
        queries = [q for q in queries if q.time.date() >= since]
        feedback = [f for f in feedback if f.time.date() >= since]
    recent_since = (now - timedelta(days=settings.window_days)).date()
    recent_cut = now - timedelta(days=settings.window_days)
    answered = [q for q in queries if not q.failed]
    probs = [(q.top1_probability, q.abstained) for q in answered if q.top1_probability is not None]
    recent_pairs = _ranked([q for q in queries if recent_cut <= q.time <= now], rank_of)
    days = sorted({q.time.date() for q in queries})
    summary = MonitorSummary(
        first_day=days[0] if days else None, last_day=days[-1] if days else None,
        queries=len(queries), failed=len(queries) - len(answered), abstained=sum(q.abstained for q in answered),
        daily=daily_rows(queries),
        confidence_bins=confidence_histogram(p for p, a in probs if not a),
        confidence_bins_abstained=confidence_histogram(p for p, a in probs if a),
        agreement=agreement(feedback), recent_agreement=agreement([f for f in feedback if recent_cut <= f.time <= now]),
        agreement_by_route={r: agreement([f for f in feedback if f.route == r])
                            for r in sorted({f.route for f in feedback if f.route})},
        drift=drift_rows(queries, rank_of, period),
        recent_drift=_drift_row(recent_since, recent_pairs) if recent_pairs else None,
        set_level=settings.set_level, window_days=settings.window_days, recent_since=recent_since)
    _judge(summary, settings, answered)
    return summary


def _judge(summary: MonitorSummary, settings: Any, answered: Sequence[QueryFact]) -> None:
    """Fill `summary.warnings` (thresholds crossed) and `summary.notes` (what could not be judged)."""
    window = f"the last {settings.window_days} days"
    drift = summary.recent_drift
    if answered and not any(q.best_similarity is not None for q in answered):
        summary.notes.append("drift: no query recorded its best report similarity (audit field best_similarity), "
                             "so input drift cannot be computed")
    elif drift is None:
        summary.notes.append(f"drift: no query in {window} has both a best similarity and an index profile")
    elif drift.n < settings.min_queries:
        summary.notes.append(f"drift: {drift.n} queries in {window}, fewer than the {settings.min_queries} "
                             f"needed to judge (PSI {drift.psi:.3f} not judged)")
    elif drift.psi is not None and drift.psi >= settings.drift_psi_warn:
        summary.warnings.append(
            f"INPUT DRIFT: PSI {drift.psi:.3f} over {window} ({drift.n} queries) is at or above "
            f"{settings.drift_psi_warn:g}; {100 * (drift.low_share or 0):.0f}% of recent cases are less similar to "
            f"the practice's reports than 90% of its reports are to each other (expected 10%)")
    recent = summary.recent_agreement
    if recent.judged_top1 < settings.min_feedback:
        summary.notes.append(f"feedback: {recent.judged_top1} judged answers in {window}, fewer than the "
                             f"{settings.min_feedback} needed to judge disagreement")
    elif recent.disagreement is not None and recent.disagreement >= settings.disagreement_warn:
        summary.warnings.append(
            f"CLINICIAN DISAGREEMENT: {100 * recent.disagreement:.0f}% of the {recent.judged_top1} answers judged "
            f"in {window} disagree with the top-1 diagnosis (threshold {100 * settings.disagreement_warn:.0f}%)")
    if recent.set_rate is not None and recent.judged_set >= settings.min_feedback:
        level = summary.set_level
        low = level - 2 * math.sqrt(level * (1 - level) / recent.judged_set)
        if recent.set_rate < low:
            summary.warnings.append(
                f"CONFORMAL SET MISSES: the confirmed diagnosis was in the {100 * level:.0f}% set for "
                f"{100 * recent.set_rate:.0f}% of {recent.judged_set} answers, below the level by more than "
                "sampling error (clinicians confirm selectively: check before recalibrating)")
