"""Clinician feedback on answers, kept in SQLite, and its export as training pairs.

One row per feedback action: which answer (`query_id`), what the clinician said (`kind`:
``correct`` with the right diagnosis, ``wrong``, or ``evidence_wrong``), the *de-identified*
case text, the answer's JSON and the versions that produced it (index, encoder, generator,
adapter, package). The store never de-identifies: callers pass text that already went through
`rag_dx.ingest.deid.Deidentifier.redact` (the UI does).

`export_training_pairs` writes what the clinicians confirmed as reports with a label: CSV
(``report_id,text,diagnosis,icd10,date``) or JSONL with the same keys, which
``rag-dx index build --reports FILE`` and the fine-tune recipes read as (text, diagnosis) pairs.
Only the latest feedback on each answer counts, so a clinician who first marks a diagnosis and
then "wrong" withdraws the pair.

Every call opens its own short-lived connection, so one `FeedbackStore` can be shared by
Gradio's worker threads.

Example:
    >>> import tempfile, pathlib
    >>> store = FeedbackStore.open(pathlib.Path(tempfile.mkdtemp()) / "feedback.sqlite")
    >>> _ = store.record(query_id="q1", kind="correct", diagnosis="Migraine",
    ...                  case_text="throbbing headache", output={"differential": [], "versions": {}})
    >>> [(p.text, p.diagnosis) for p in store.training_pairs()]
    [('throbbing headache', 'Migraine')]
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel

from rag_dx.errors import RagDxError

__all__ = [
    "EXPORT_COLUMNS",
    "FeedbackError",
    "FeedbackKind",
    "FeedbackRecord",
    "FeedbackStore",
    "TrainingPair",
    "canonical_json",
    "export_training_pairs",
]

FeedbackKind = Literal["correct", "wrong", "evidence_wrong"]
KINDS: tuple[str, ...] = get_args(FeedbackKind)
EXPORT_COLUMNS: tuple[str, ...] = ("report_id", "text", "diagnosis", "icd10", "date")
MAX_DIAGNOSIS_CHARS = 200
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    query_id TEXT NOT NULL,
    user TEXT,
    kind TEXT NOT NULL CHECK (kind IN ('correct', 'wrong', 'evidence_wrong')),
    diagnosis TEXT,
    icd10 TEXT,
    in_differential INTEGER,
    evidence_ids TEXT NOT NULL DEFAULT '[]',
    case_text TEXT NOT NULL,
    output_json TEXT NOT NULL,
    index_version TEXT,
    encoder_version TEXT,
    generator_version TEXT,
    adapter_version TEXT,
    package_version TEXT
);
CREATE INDEX IF NOT EXISTS feedback_query ON feedback (query_id, id);
"""


class FeedbackError(RagDxError):
    """Feedback that cannot be stored (bad kind, missing diagnosis) or a store that cannot be opened."""


class FeedbackRecord(BaseModel):
    id: int
    created_at: str
    query_id: str
    user: str | None
    kind: FeedbackKind
    diagnosis: str | None
    icd10: str | None
    in_differential: bool | None
    evidence_ids: list[str]
    case_text: str
    output: dict[str, Any]
    index_version: str | None
    encoder_version: str | None
    generator_version: str | None
    adapter_version: str | None
    package_version: str | None


@dataclass(frozen=True)
class TrainingPair:
    report_id: str
    text: str
    diagnosis: str
    icd10: str | None
    date: str

    def row(self) -> dict[str, str]:
        return {"report_id": self.report_id, "text": self.text, "diagnosis": self.diagnosis,
                "icd10": self.icd10 or "", "date": self.date}


def canonical_json(output: Mapping[str, Any] | BaseModel) -> str:
    """The answer as compact, key-sorted JSON: what the feedback store keeps and the audit log hashes
    (`sha256(canonical_json(answer))` is the audit record's `output_sha256`)."""
    out = output.model_dump(mode="json") if isinstance(output, BaseModel) else dict(output)
    return json.dumps(out, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _norm(name: str) -> str:
    return " ".join(name.casefold().split())


class FeedbackStore:
    """Feedback rows in one SQLite file. Use `FeedbackStore.open(path)` to create it if needed.

    Args:
        path: the SQLite file.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @classmethod
    def open(cls, path: str | Path) -> FeedbackStore:
        """Create the file (mode 0600) and schema if missing, and return the store."""
        store = cls(path)
        try:
            store.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not store.path.exists():
                os.close(os.open(store.path, os.O_CREAT | os.O_WRONLY, 0o600))
            with store._connect() as conn:
                conn.executescript(_SCHEMA)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except (OSError, sqlite3.Error) as exc:
            raise FeedbackError(f"cannot open the feedback store {store.path}: {exc}") from exc
        return store

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=10.0)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            with conn:  # commit on success, roll back on error
                yield conn
        finally:
            conn.close()

    def record(
        self,
        *,
        query_id: str,
        kind: FeedbackKind,
        case_text: str,
        output: Mapping[str, Any] | BaseModel,
        diagnosis: str | None = None,
        user: str | None = None,
        evidence_ids: list[str] | None = None,
    ) -> int:
        """Store one feedback action and return its row id.

        Args:
            query_id: the answer this feedback is about (as written to the audit log).
            kind: "correct" (then `diagnosis` is required), "wrong" or "evidence_wrong".
            case_text: the de-identified case text the answer was computed from.
            output: the answer (`Differential` or its JSON dict); versions are read from it.
            diagnosis: the correct diagnosis, picked from the differential or typed.
            user: who gave the feedback.
            evidence_ids: for "evidence_wrong", the passages at fault (optional).
        """
        if kind not in KINDS:
            raise FeedbackError(f"feedback kind must be one of {', '.join(KINDS)}, not {kind!r}")
        out = output.model_dump(mode="json") if isinstance(output, BaseModel) else dict(output)
        diagnosis = " ".join((diagnosis or "").split()) or None
        if kind == "correct" and not diagnosis:
            raise FeedbackError("feedback 'correct' needs the correct diagnosis")
        if diagnosis and len(diagnosis) > MAX_DIAGNOSIS_CHARS:
            raise FeedbackError(f"the diagnosis is longer than {MAX_DIAGNOSIS_CHARS} characters")
        if not case_text or not case_text.strip():
            raise FeedbackError("feedback needs the (de-identified) case text")
        icd10, in_diff = None, None
        if diagnosis:
            match = next((d for d in out.get("differential", []) if _norm(d.get("diagnosis", "")) == _norm(diagnosis)),
                         None)
            in_diff = match is not None
            icd10 = match.get("icd10") if match else None
        versions = out.get("versions") or {}
        row = (
            datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            query_id, user, kind, diagnosis, icd10,
            None if in_diff is None else int(in_diff),
            json.dumps(list(evidence_ids or [])), case_text,
            canonical_json(out),
            versions.get("index"), versions.get("encoder"), versions.get("generator"),
            versions.get("adapter"), versions.get("package"),
        )
        try:
            with self._connect() as conn:
                cur = conn.execute(
                    "INSERT INTO feedback (created_at, query_id, user, kind, diagnosis, icd10, in_differential,"
                    " evidence_ids, case_text, output_json, index_version, encoder_version, generator_version,"
                    " adapter_version, package_version) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    row,
                )
                return int(cur.lastrowid)
        except sqlite3.Error as exc:
            raise FeedbackError(f"cannot write the feedback store {self.path}: {exc}") from exc

    def records(self, *, query_id: str | None = None) -> list[FeedbackRecord]:
        """All rows (or those about one answer), oldest first."""
        sql = "SELECT * FROM feedback" + (" WHERE query_id = ?" if query_id else "") + " ORDER BY id"
        with closing(sqlite3.connect(self.path, timeout=10.0)) as conn:
            conn.row_factory = sqlite3.Row
            rows = conn.execute(sql, (query_id,) if query_id else ()).fetchall()
        return [
            FeedbackRecord(
                id=r["id"], created_at=r["created_at"], query_id=r["query_id"], user=r["user"], kind=r["kind"],
                diagnosis=r["diagnosis"], icd10=r["icd10"],
                in_differential=None if r["in_differential"] is None else bool(r["in_differential"]),
                evidence_ids=json.loads(r["evidence_ids"]), case_text=r["case_text"],
                output=json.loads(r["output_json"]), index_version=r["index_version"],
                encoder_version=r["encoder_version"], generator_version=r["generator_version"],
                adapter_version=r["adapter_version"], package_version=r["package_version"],
            )
            for r in rows
        ]

    def training_pairs(self) -> list[TrainingPair]:
        """(text, diagnosis) pairs: for each answer, its latest feedback, if that names a diagnosis."""
        latest: dict[str, FeedbackRecord] = {}
        for rec in self.records():
            latest[rec.query_id] = rec
        return [
            TrainingPair(report_id=f"fb-{rec.query_id}", text=rec.case_text, diagnosis=rec.diagnosis,
                         icd10=rec.icd10, date=rec.created_at[:10])
            for rec in latest.values()
            if rec.kind == "correct" and rec.diagnosis
        ]


def export_training_pairs(store: FeedbackStore, out: str | Path, fmt: Literal["csv", "jsonl"] = "csv") -> int:
    """Write the store's training pairs to `out` (CSV or JSONL) and return how many were written.

    The file is written next to `out` and renamed into place, so a reader never sees half of it.
    """
    if fmt not in ("csv", "jsonl"):
        raise FeedbackError(f"export format must be 'csv' or 'jsonl', not {fmt!r}")
    if not store.path.exists():
        raise FeedbackError(f"no feedback store at {store.path}")
    pairs = store.training_pairs()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
        if fmt == "csv":
            writer = csv.DictWriter(fh, fieldnames=list(EXPORT_COLUMNS))
            writer.writeheader()
            writer.writerows(p.row() for p in pairs)
        else:
            for p in pairs:
                fh.write(json.dumps(p.row(), ensure_ascii=False) + "\n")
    os.replace(tmp, out)
    return len(pairs)
