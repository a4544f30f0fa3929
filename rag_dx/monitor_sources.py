"""Where monitoring's records come from: the UI's audit log, its feedback store, index profiles.

The audit log is verified first and only its verified records are read (a broken chain is itself
a warning in the report). Feedback rows are reduced to `FeedbackFact`s at once, so case text
never leaves this module. Each index version's `SimilarityProfile` is read from its practice
model (checksums verified), without loading the index or any model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from rag_dx.audit import verify
from rag_dx.errors import InputError, RagDxError
from rag_dx.monitor import (
    FeedbackFact,
    MonitorSummary,
    Period,
    QueryFact,
    feedback_facts,
    profile_ranker,
    query_facts,
    summarize,
)

__all__ = ["MonitorInputs", "index_profiles", "monitor_summary", "read_audit", "read_feedback", "read_inputs"]


@dataclass
class MonitorInputs:
    """What a report is computed from, and what went wrong reading it."""

    queries: list[QueryFact]
    feedback: list[FeedbackFact]
    profiles: dict[str, Any]
    fallbacks: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def read_audit(path: Path) -> tuple[list[QueryFact], list[str], list[str]]:
    """The query facts of the verified part of the log, with warnings (broken chain) and notes (no log)."""
    if not path.exists():
        return [], [], [f"no audit log at {path} (no query has been answered there yet)"]
    result = verify(path)
    warnings = []
    n = result.records
    if not result.ok:
        # a changed record shows as a break at the record after it: count only those before that one
        n = min(n, max(0, (result.line or 1) - 2))
        warnings.append(f"AUDIT LOG DOES NOT VERIFY: {path} line {result.line}: {result.error}; only its first "
                        f"{n} records are counted. Keep the log as evidence (`rag-dx audit verify`).")
    records = []
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if lineno > n:
                break
            try:
                rec = json.loads(raw)
            except ValueError:  # verified lines parse; this guards a log changed since
                raise InputError(path, lineno, None, "not valid JSON") from None
            records.append(rec)
    return query_facts(records, source=str(path)), warnings, []


def read_feedback(path: Path, *, set_level: float) -> tuple[list[FeedbackFact], list[str]]:
    """Feedback facts (latest feedback per answer), and a note when there is no store."""
    import sqlite3

    from rag_dx.feedback import FeedbackStore

    if not path.exists():
        return [], [f"no feedback store at {path} (no clinician has given feedback there yet)"]
    try:
        rows = FeedbackStore(path).records()
    except sqlite3.Error as exc:
        raise RagDxError(f"cannot read the feedback store {path}: {type(exc).__name__}") from None
    return feedback_facts(rows, set_level=set_level, source=str(path)), []


def index_profiles(index_dir: Path, version_ids: set[str]) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """`{"name/vNNNN": SimilarityProfile}` for the versions named; for an index with a version that is
    gone (gc) or has no profile, its current version's profile as the fallback (`{name: profile}`);
    and notes saying which."""
    from rag_dx.index.layout import read_manifest
    from rag_dx.index.store import IndexStore
    from rag_dx.practice.model import DIRNAME, PracticeModel

    def load(directory: Path) -> Any:
        practice = PracticeModel.load(directory, read_manifest(directory).get(DIRNAME))
        return practice.profile if practice is not None and practice.profile.percentiles else None

    profiles: dict[str, Any] = {}
    notes: list[str] = []
    missing: set[str] = set()
    for version_id in sorted(version_ids):
        name, _, version = version_id.partition("/")
        try:
            profile = load(IndexStore(index_dir, name).version_dir(version))
        except RagDxError:
            profile = None
            notes.append(f"drift: index version {version_id} is not under {index_dir} (removed by gc?)")
        else:
            if profile is None:
                notes.append(f"drift: index version {version_id} has no similarity profile (built without a "
                             "practice model)")
        if profile is None:
            missing.add(name)
        else:
            profiles[version_id] = profile
    fallbacks: dict[str, Any] = {}
    for name in sorted(missing):
        try:
            fallback = load(IndexStore(index_dir, name).current_dir())
        except RagDxError as exc:
            notes.append(f"drift: no current version of index '{name}' to fall back on ({exc})")
            continue
        if fallback is not None:
            fallbacks[name] = fallback
            notes.append(f"drift: queries of '{name}' versions without a profile are placed in its current version's")
    return profiles, fallbacks, notes


def read_inputs(audit_path: Path, feedback_path: Path, index_dir: Path, *, index: str | None,
                set_level: float) -> MonitorInputs:
    """Everything `summarize` needs. `index`: count only queries (and feedback) of this index name."""
    queries, warnings, notes = read_audit(audit_path)
    feedback, fb_notes = read_feedback(feedback_path, set_level=set_level)
    notes += fb_notes
    if index is not None:
        queries = [q for q in queries if (q.index or "").partition("/")[0] == index]
        feedback = [f for f in feedback if (f.index or "").partition("/")[0] == index]
    names = {q.index for q in queries if q.index and "/" in q.index and q.best_similarity is not None}
    profiles, fallbacks, profile_notes = index_profiles(index_dir, names)
    return MonitorInputs(queries=queries, feedback=feedback, profiles=profiles, fallbacks=fallbacks,
                         warnings=warnings, notes=notes + profile_notes)


def monitor_summary(audit_path: Path, feedback_path: Path, index_dir: Path, settings: Any, *,
                    index: str | None = None, since: date | None = None, now: datetime | None = None,
                    period: Period = "week") -> MonitorSummary:
    """Read the records and compute the report's figures and warnings (`settings`: `MonitorSettings`);
    what reading found (a broken audit chain, a missing store or profile) joins its warnings and notes."""
    inputs = read_inputs(audit_path, feedback_path, index_dir, index=index, set_level=settings.set_level)
    summary = summarize(inputs.queries, inputs.feedback, rank_of=profile_ranker(inputs.profiles, inputs.fallbacks),
                        settings=settings, now=now or datetime.now(UTC), since=since, period=period)
    summary.warnings[:0] = inputs.warnings
    summary.notes[:0] = inputs.notes
    return summary
