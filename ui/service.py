"""What happens on each chat turn and feedback click, without Gradio.

    message --de-identify--> turn --append to the case--> diagnose --audit--> answer
                                                                   (refused if the audit write fails)

`ClinicianService` holds only shared, read-only things (the assistant, the stores, the
de-identifier behind a lock); everything about one clinician's case lives in an immutable
`CaseState` that the UI keeps per browser session (`gr.State`). So one service serves all of
Gradio's threads, and nothing about a case leaks between sessions.

Nothing here logs case text. Log lines name the query id and the exception type only.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from rag_dx.audit import AuditError, AuditLog, answer_scores, sha256_hex
from rag_dx.errors import RagDxError
from rag_dx.feedback import FeedbackError, FeedbackStore, canonical_json
from rag_dx.schemas import Differential

from ui.render import chat_summary, md_escape

__all__ = ["Answer", "CaseState", "ClinicianService", "Turn", "UserFacingError"]

log = logging.getLogger(__name__)

ANONYMOUS_USER = "local"


class Diagnoser(Protocol):
    def diagnose(self, text: str) -> Differential: ...


class Redactor(Protocol):
    def redact(self, text: str) -> str: ...


class UserFacingError(Exception):
    """A refusal the clinician should read. Its message never contains case text."""


@dataclass(frozen=True)
class CaseState:
    """One clinician's current case. Immutable: every step returns a new one.

    Attributes:
        turns: the de-identified messages that make up the case, in order.
        messages: the chat as (role, markdown) pairs.
        query_id: the id of the latest answer (its audit record and feedback refer to it).
        case_text: the de-identified text the latest answer was computed from.
        output_json: the latest answer as canonical JSON (its sha256 is in the audit record).
        choices: the diagnoses of the latest answer, for the feedback picker.
    """

    turns: tuple[str, ...] = ()
    messages: tuple[tuple[str, str], ...] = ()
    query_id: str | None = None
    case_text: str | None = None
    output_json: str | None = None
    choices: tuple[str, ...] = ()
    seen: frozenset[str] = frozenset()
    """Salted hashes (never the values) of identifiers found in earlier turns, so that a surname
    typed alone in a follow-up ("Eberhardt also reports...") is redacted like in the first turn."""

    def chat(self) -> list[dict[str, str]]:
        return [{"role": role, "content": content} for role, content in self.messages]

    def with_message(self, role: str, content: str) -> CaseState:
        return replace(self, messages=(*self.messages, (role, content)))


@dataclass(frozen=True)
class Turn:
    """A de-identified message, ready to be added to the case."""

    redacted: str
    changed: bool
    case_text: str
    seen: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Answer:
    state: CaseState
    result: Differential
    query_id: str
    audit: dict[str, Any] = field(repr=False)


def _tb(exc: BaseException) -> str:
    """Where it failed, without the exception's message (which might quote input)."""
    return "".join(traceback.format_tb(exc.__traceback__, limit=6)).rstrip()


class ClinicianService:
    """De-identify, diagnose, audit and record feedback for the chat UI.

    Args:
        assistant: anything with `diagnose(text) -> Differential` (a `rag_dx.diagnose.Assistant`).
        feedback_store: where feedback goes.
        audit_log: one record per query and per feedback; a failed write refuses the action.
        deidentifier: anything with `redact(text) -> str`; required (there is no pass-through default).
        max_turn_chars / max_case_chars: longer input is refused with a message.
        clock: for tests.
    """

    def __init__(
        self,
        assistant: Diagnoser,
        *,
        feedback_store: FeedbackStore,
        audit_log: AuditLog,
        deidentifier: Redactor,
        max_turn_chars: int = 4000,
        max_case_chars: int = 12000,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if deidentifier is None:
            raise ValueError("a de-identifier is required: the UI never stores or logs raw case text")
        self.assistant = assistant
        self.feedback_store = feedback_store
        self.audit_log = audit_log
        self._deid = deidentifier
        self._deid_lock = threading.Lock()  # presidio/spaCy are not documented as thread-safe
        self._salt = uuid.uuid4().hex  # per process: the hashes in a CaseState mean nothing elsewhere
        self.max_turn_chars = max_turn_chars
        self.max_case_chars = max_case_chars
        self._clock = clock

    # -- the chat turn ---------------------------------------------------------------------

    def redact(self, text: str) -> str:
        return self.redact_turn(text, frozenset())[0]

    def redact_turn(self, text: str, seen: frozenset[str]) -> tuple[str, frozenset[str]]:
        """De-identify `text`, also replacing words and numbers found as identifiers in earlier turns
        of the case (`seen`: their salted hashes); return the text and the updated hashes."""
        try:
            with self._deid_lock:
                find = getattr(self._deid, "find", None)
                spans = find(text) if callable(find) else None
                redacted = self._deid.redact(text) if spans is None else None
        except Exception as exc:  # noqa: BLE001 - any failure must refuse, never pass raw text on
            log.error("de-identification failed (%s); the message was refused\n%s", type(exc).__name__, _tb(exc))
            raise UserFacingError("De-identification is unavailable, so this message was not processed "
                                  "or stored. Please tell the administrator.") from None
        if spans is None:
            return redacted, seen
        spans = list(spans)
        for m in _TOKEN.finditer(text):
            if any(s <= m.start() < e for _, s, e in spans):
                continue
            if self._hash(m.group(0)) in seen or self._hash(_digits(m.group(0))) in seen:
                spans.append(("PERSON" if m.group(0)[0].isalpha() else "ID", m.start(), m.end()))
        new_seen = set(seen)
        for kind, s, e in spans:
            value = text[s:e]
            for token in ([w for w in _TOKEN.findall(value) if w[0].isalpha() and len(w) >= 3] if kind == "PERSON"
                          else [value, _digits(value)]):
                if len(token) >= 3:
                    new_seen.add(self._hash(token))
        out, last = [], 0
        for kind, s, e in sorted(spans, key=lambda x: x[1]):
            if s < last:
                continue
            out.append(text[last:s] + f"<{kind}>")
            last = e
        out.append(text[last:])
        return "".join(out), frozenset(new_seen)

    def _hash(self, token: str) -> str:
        return sha256_hex(self._salt + token)

    def begin_turn(self, state: CaseState | None, message: str) -> tuple[CaseState, Turn]:
        """Validate and de-identify a message; return the chat showing it, and the turn to answer."""
        state = state or CaseState()
        message = (message or "").strip()
        if not message:
            raise UserFacingError("Type a case description first.")
        if len(message) > self.max_turn_chars:
            raise UserFacingError(f"That message is longer than {self.max_turn_chars} characters; shorten it.")
        redacted, seen = self.redact_turn(message, state.seen)
        case_text = "\n".join((*state.turns, redacted))
        if len(case_text) > self.max_case_chars:
            raise UserFacingError(f"The case is longer than {self.max_case_chars} characters; start a new case.")
        turn = Turn(redacted=redacted, changed=redacted != message, case_text=case_text, seen=seen)
        return state.with_message("user", _shown(turn)), turn

    def answer(self, state: CaseState | None, turn: Turn, *, user: str | None = None) -> Answer:
        """Diagnose the case with this turn added, write the audit record, and return the new state.

        Raises:
            UserFacingError: the diagnosis failed or the audit record could not be written (the
                answer is then withheld and the turn is not added to the case).
        """
        state = state or CaseState()
        user = user or ANONYMOUS_USER
        query_id = uuid.uuid4().hex
        t0 = self._clock()
        try:
            result = self.assistant.diagnose(turn.case_text)
        except RagDxError as exc:  # expected failures: their messages never quote input
            log.warning("query %s failed: %s", query_id, type(exc).__name__)
            self._audit_failure(query_id, user, type(exc).__name__)
            raise UserFacingError(f"rag-dx could not answer: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - the browser must not see internals
            log.error("query %s failed (%s)\n%s", query_id, type(exc).__name__, _tb(exc))
            self._audit_failure(query_id, user, type(exc).__name__)
            raise UserFacingError("Something went wrong while answering; the error was logged. "
                                  "Please try again.") from None
        output_json = canonical_json(result)
        record = {
            "event": "query",
            "query_id": query_id,
            "user": user,
            "turn": len(state.turns) + 1,
            "versions": result.versions.model_dump(mode="json"),
            "evidence_ids": [ev.id for ev in result.evidence],
            "abstained": result.abstained,
            "n_diagnoses": len(result.differential),
            "output_sha256": sha256_hex(output_json),
            "latency_ms": round((self._clock() - t0) * 1000, 1),
            **answer_scores(result),  # numbers only, for `rag-dx monitor`
        }
        try:
            written = self.audit_log.append(record)
        except (AuditError, OSError, ValueError) as exc:
            log.error("query %s refused: the audit record could not be written (%s)", query_id, type(exc).__name__)
            raise UserFacingError("The audit log could not be written, so this answer is withheld. "
                                  "Please tell the administrator.") from None
        new_state = CaseState(
            turns=(*state.turns, turn.redacted),
            messages=(*state.messages, ("user", _shown(turn)), ("assistant", chat_summary(result))),
            query_id=query_id,
            case_text=turn.case_text,
            output_json=output_json,
            choices=tuple(d.diagnosis for d in result.differential),
            seen=turn.seen,
        )
        return Answer(state=new_state, result=result, query_id=query_id, audit=written)

    def ask(self, state: CaseState | None, message: str, *, user: str | None = None) -> Answer:
        """`begin_turn` then `answer`, for callers that do not show the message first."""
        _, turn = self.begin_turn(state, message)
        return self.answer(state, turn, user=user)

    def _audit_failure(self, query_id: str, user: str, error: str) -> None:
        try:
            self.audit_log.append({"event": "query_failed", "query_id": query_id, "user": user, "error": error})
        except (AuditError, OSError, ValueError):
            log.error("query %s: the failure could not be audited either", query_id)

    # -- feedback ----------------------------------------------------------------------------

    def give_feedback(self, state: CaseState | None, kind: str, diagnosis: str | None = None, *,
                      user: str | None = None) -> str:
        """Store feedback on the latest answer; return a confirmation for the clinician.

        `diagnosis` (for kind "correct") may be one of `state.choices` or typed; typed text is
        de-identified like the case.
        """
        user = user or ANONYMOUS_USER
        if state is None or state.query_id is None or state.output_json is None or state.case_text is None:
            raise UserFacingError("There is no answer to give feedback on yet.")
        diagnosis = " ".join((diagnosis or "").split()) or None
        if kind == "correct":
            if not diagnosis:
                raise UserFacingError("Pick the correct diagnosis from the list, or type it, first.")
            if diagnosis not in state.choices:
                diagnosis = self.redact_turn(diagnosis, state.seen)[0]
        elif kind not in ("wrong", "evidence_wrong"):
            raise UserFacingError("Unknown feedback.")
        else:
            diagnosis = None
        try:
            self.audit_log.append({"event": "feedback", "query_id": state.query_id, "user": user, "kind": kind})
        except (AuditError, OSError, ValueError) as exc:
            log.error("feedback on %s refused: audit write failed (%s)", state.query_id, type(exc).__name__)
            raise UserFacingError("The audit log could not be written, so the feedback was not stored.") from None
        try:
            self.feedback_store.record(query_id=state.query_id, kind=kind, diagnosis=diagnosis,  # type: ignore[arg-type]
                                       case_text=state.case_text, output=json.loads(state.output_json), user=user)
        except FeedbackError as exc:
            log.error("feedback on %s not stored (%s)", state.query_id, type(exc).__name__)
            raise UserFacingError(f"The feedback was not stored: {exc}") from None
        return {
            "correct": f"Thank you: recorded \"{md_escape(diagnosis or '')}\" as the correct diagnosis for this case.",
            "wrong": "Thank you: recorded that this answer is wrong.",
            "evidence_wrong": "Thank you: recorded that the evidence shown is wrong.",
        }[kind]


_TOKEN = re.compile(r"[A-Za-z][A-Za-z'’-]*[A-Za-z]|\d[\d ./-]*\d")


def _digits(value: str) -> str:
    return "".join(c for c in value if c.isdigit())


def _shown(turn: Turn) -> str:
    shown = md_escape(turn.redacted)
    if turn.changed:
        shown += "\n\n<small>(identifiers were redacted before processing)</small>"
    return shown
