"""Request and response bodies of the HTTP API. Unknown fields are refused (extra="forbid").

`POST /v1/diagnose` answers with `rag_dx.schemas.Differential` itself: the same JSON as
`rag-dx diagnose --json`. Its query id (for feedback and the audit log) is in the
``X-Query-Id`` response header, so the body stays identical to the CLI's.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from rag_dx.schemas import Versions

#: Longest case text accepted (characters); longer is refused with 413 before anything reads it.
MAX_TEXT_CHARS = 12_000
INDEX_NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DiagnoseRequest(_Body):
    """One case description to rank diagnoses for."""

    text: str = Field(..., min_length=1, description=f"the case description (at most {MAX_TEXT_CHARS} characters); "
                      "it is de-identified before anything else reads it and is never echoed back")
    index: str | None = Field(None, pattern=INDEX_NAME_PATTERN, description="index name (default: the server's)")
    k: int | None = Field(None, ge=1, le=50, description="at most this many diagnoses (settings.diagnosis."
                          "max_candidates for this query)")
    mode: Literal["full", "retrieval", "generator"] = Field(
        "full", description="full (default pipeline), retrieval (similarity vote only), generator (score "
        "`candidates` with the generator, no evidence; an ablation)")
    candidates: list[str] | None = Field(None, max_length=50, description="candidate names for mode=generator")


class FeedbackRequest(_Body):
    """A clinician's verdict on an answer this server gave (by its X-Query-Id)."""

    query_id: str = Field(..., pattern=r"^[0-9a-f]{32}$")
    kind: Literal["correct", "wrong", "evidence_wrong"]
    diagnosis: str | None = Field(None, max_length=300, description="for kind=correct: the correct diagnosis "
                                  "(one of the answer's, or typed; typed text is de-identified)")


class FeedbackResponse(_Body):
    query_id: str
    stored: bool = True
    message: str


class IndexInfo(_Body):
    name: str
    current: str | None = Field(None, description="the serving version")
    versions: list[str] = Field(default_factory=list)
    default: bool = False


class IndexList(_Body):
    indexes: list[IndexInfo]


class Health(_Body):
    status: Literal["ok"] = "ok"
    index: str = Field(..., description="the default index's name")
    version: str | None = Field(None, description="the serving index version")
    versions: Versions
    generator_backend: str
    ranking: str = Field(..., description="how `full` ranks on the serving version (learned ranker or vote + generator)")
    warnings: list[str] = Field(default_factory=list)
    auth: bool = Field(..., description="whether requests need a bearer token")


class ErrorBody(_Body):
    """Every 4xx/5xx body. It never quotes the request's text."""

    detail: str
