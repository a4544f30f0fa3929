"""The FastAPI app behind `rag-dx serve`: versioned routes over one loaded assistant.

    POST /v1/diagnose   {text, index?, k?, mode?, candidates?} -> Differential (as `diagnose --json`),
                        its query id in the X-Query-Id header
    POST /v1/feedback   {query_id, kind, diagnosis?} -> FeedbackResponse
    GET  /v1/indexes    the indexes under settings.index_dir and their serving versions
    GET  /v1/health     serving index version, models, generator backend, warnings

Every route needs ``Authorization: Bearer <name>:<secret>`` when the app has a token verifier
(`rag-dx serve` requires one off loopback). The case text goes through the chat UI's own
query path (``ui.service.ClinicianService``: the same de-identification, the same audit record
per query, answer withheld when the audit write fails); the app never logs it and no error
body quotes it (FastAPI's default 422 body echoes the input: replaced here).

No module-level state: everything a request needs hangs on ``app.state.rdx`` (a `ServeContext`),
built once per app by its lifespan from `assistant_factory`. Each query reads one snapshot of the
index, so an answer comes from exactly one index version even while a new one is switched in.

Example (tests/test_serve.py builds one with a fake encoder)::

    app = create_app(settings, lambda name: build_assistant(settings, name), guards=guards)
    uvicorn.run(app, host="127.0.0.1", port=8000)
"""

# No `from __future__ import annotations`: FastAPI reads the route signatures at runtime, and the
# fastapi names they use are imported inside `create_app` (only `rag-dx serve` needs the extra).
import asyncio
import copy
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag_dx.errors import RagDxError
from rag_dx.index.store import IndexStore
from rag_dx.schemas import Differential
from rag_dx.serve.auth import BearerAuth, Verify
from rag_dx.serve.schemas import (
    INDEX_NAME_PATTERN,
    MAX_TEXT_CHARS,
    DiagnoseRequest,
    ErrorBody,
    FeedbackRequest,
    FeedbackResponse,
    Health,
    IndexInfo,
    IndexList,
)
from rag_dx.settings import Settings

__all__ = ["API_VERSION", "Guards", "ServeContext", "create_app"]

log = logging.getLogger(__name__)

API_VERSION = "v1"
QUERY_ID_HEADER = "X-Query-Id"
AssistantFactory = Callable[[str | None], Any]


@dataclass(frozen=True)
class Guards:
    """What keeps case text safe, supplied by the caller (the UI's implementations in production).

    Attributes:
        service_factory: assistant -> a query service with ``ask(state, text, user=)`` and
            ``give_feedback(state, kind, diagnosis, user=)`` (``ui.service.ClinicianService`` with
            its de-identifier, audit log and feedback store).
        refusal: the exception the service raises for a refusal the caller may read
            (``ui.service.UserFacingError``; its message never holds case text).
        verify: ``(name, secret) -> bool`` for bearer tokens (``ui.auth.Authenticator``); None: no auth.
        body_limit: an ASGI middleware class taking ``max_bytes`` (``ui.hardening.BodyLimit``); None: no cap.
        max_body_bytes: the request body cap.
    """

    service_factory: Callable[[Any], Any]
    refusal: type[Exception]
    verify: Verify | None = None
    body_limit: type | None = None
    max_body_bytes: int = 64 * 1024


class _Bound:
    """An assistant with this request's mode and candidates fixed: what the query service calls."""

    def __init__(self, assistant: Any, mode: str, candidates: list[str] | None) -> None:
        self.assistant, self.mode, self.candidates = assistant, mode, candidates

    def diagnose(self, text: str) -> Differential:
        return self.assistant.diagnose(text, mode=self.mode, candidates=self.candidates)


@dataclass
class ServeContext:
    """Everything the routes share, for one app: the loaded assistant(s), the query service, the
    token check, the answers feedback may refer to, and the bound on concurrent queries."""

    settings: Settings
    base: Any
    factory: AssistantFactory
    service: Any
    guards: Guards
    auth: BearerAuth
    slots: threading.BoundedSemaphore
    recent_limit: int = 4096
    _assistants: dict[tuple[str, int | None], Any] = field(default_factory=dict)
    _recent: OrderedDict[str, tuple[str, Any]] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def default_index(self) -> str:
        return self.base.live.store.name if getattr(self.base, "live", None) is not None else self.settings.index_name

    def index_names(self) -> list[str]:
        import re

        root = Path(self.settings.index_dir)
        if not root.is_dir():
            return []
        pattern = re.compile(INDEX_NAME_PATTERN)
        return sorted(p.name for p in root.iterdir()
                      if p.is_dir() and pattern.match(p.name) and IndexStore(root, p.name).versions())

    def assistant(self, index: str | None, k: int | None) -> Any:
        """The assistant for (index, k), made once: other indexes through the factory, `k` as a
        settings copy (``diagnosis.max_candidates``) sharing the loaded models."""
        name = index or self.default_index
        key = (name, k)
        with self._lock:
            found = self._assistants.get(key)
        if found is not None:
            return found
        if name != self.default_index and name not in self.index_names():
            raise _ApiError(404, f"unknown index '{name}' (GET /v1/indexes lists them)")
        if k is None:
            made = self.base if name == self.default_index else self.factory(name)
        else:
            inner = self.assistant(name, None)
            ds = inner.settings.diagnosis.model_copy(update={"max_candidates": k})
            made = inner.with_generator(inner.generator, settings=inner.settings.model_copy(update={"diagnosis": ds}))
        with self._lock:
            return self._assistants.setdefault(key, made)

    def bound_service(self, assistant: Any, mode: str, candidates: list[str] | None) -> Any:
        """The one query service (its de-identifier lock, salt, audit log and store shared) over
        this request's assistant: a shallow copy with only `assistant` replaced."""
        service = copy.copy(self.service)
        service.assistant = _Bound(assistant, mode, candidates)
        return service

    def remember(self, query_id: str, user: str, state: Any) -> None:
        with self._lock:
            self._recent[query_id] = (user, state)
            while len(self._recent) > self.recent_limit:
                self._recent.popitem(last=False)

    def recalled(self, query_id: str, user: str) -> Any | None:
        with self._lock:
            found = self._recent.get(query_id)
        return found[1] if found is not None and found[0] == user else None


class _ApiError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def _refusal_status(message: str) -> int:
    """HTTP status of a query-service refusal (the UI's messages; none quotes case text)."""
    if "longer than" in message:
        return 413
    if message.startswith(("De-identification is unavailable", "The audit log could not be written")):
        return 503
    if message.startswith("Something went wrong"):
        return 500
    return 422


_ERRORS = {code: {"model": ErrorBody} for code in (401, 404, 413, 422, 500, 503)}


def create_app(settings: Settings, assistant_factory: AssistantFactory, *, guards: Guards,
               max_concurrent: int = 2, recent_answers: int = 4096) -> Any:
    """A FastAPI app serving `assistant_factory(None)` (loaded once, at startup) under /v1.

    Args:
        settings: the server's settings (index directory, default index).
        assistant_factory: index name (None: the default) -> a loaded ``Assistant``. Called once at
            startup, and once for each other index a request names.
        guards: de-identification + audit (the query service), token check, body cap.
        max_concurrent: queries computed at once (more wait); the models use every core already.
        recent_answers: answers remembered for feedback (by query id, per user), oldest dropped.
    """
    from fastapi import Depends, FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, Response
    from fastapi.security import HTTPBearer
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from rag_dx import __version__

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        base = assistant_factory(None)
        app.state.rdx = ServeContext(
            settings=settings, base=base, factory=assistant_factory, service=guards.service_factory(base),
            guards=guards, auth=BearerAuth(guards.verify), slots=threading.BoundedSemaphore(max(1, max_concurrent)),
            recent_limit=recent_answers)
        yield

    app = FastAPI(title="rag-dx", version=__version__, lifespan=lifespan,
                  description="Ranked, cited differentials from a practice's own reports and guidelines. "
                  "Decision support for clinicians, not a replacement.")
    if guards.body_limit is not None:
        app.add_middleware(guards.body_limit, max_bytes=guards.max_body_bytes)
    bearer = HTTPBearer(auto_error=False, description="`<name>:<secret>` from `rag-dx api-token add`")

    async def require_user(request: Request, _scheme: Any = Depends(bearer)) -> str:
        import anyio

        ctx: ServeContext = request.app.state.rdx
        user = await anyio.to_thread.run_sync(ctx.auth.user, request.headers.get("authorization"))
        if user is None:
            await asyncio.sleep(ctx.auth.failure_delay)
            raise _ApiError(401, "missing or invalid bearer token")
        return user

    @app.exception_handler(_ApiError)
    async def _api_error(request: Request, exc: _ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own body lists each error's `input`: the case text. Name field and problem only.
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'body'}: {e.get('msg', 'invalid')}"
                             for e in exc.errors())
        return JSONResponse({"detail": f"invalid request: {problems}"[:1000]}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s failed (%s)", request.method, request.url.path, type(exc).__name__)
        return JSONResponse({"detail": "internal error; it was logged without the request's content"}, status_code=500)

    @app.post(f"/{API_VERSION}/diagnose", response_model=Differential, responses=_ERRORS,
              summary="Rank diagnoses for a case description")
    def diagnose(body: DiagnoseRequest, request: Request, user: str = Depends(require_user)) -> Response:
        """The same JSON as `rag-dx diagnose --json`; the answer's id is in the X-Query-Id header."""
        ctx: ServeContext = request.app.state.rdx
        if len(body.text) > MAX_TEXT_CHARS:
            raise _ApiError(413, f"the case text is longer than {MAX_TEXT_CHARS} characters")
        if body.mode == "generator" and not body.candidates:
            raise _ApiError(422, "mode 'generator' needs `candidates`")
        try:
            assistant = ctx.assistant(body.index, body.k)
        except RagDxError as exc:
            raise _ApiError(404 if body.index else 503, str(exc)) from None
        service = ctx.bound_service(assistant, body.mode, body.candidates)
        t0 = time.perf_counter()
        with ctx.slots:
            try:
                answer = service.ask(None, body.text, user=user)
            except guards.refusal as exc:
                raise _ApiError(_refusal_status(str(exc)), str(exc)) from None
        ctx.remember(answer.query_id, user, answer.state)
        log.info("query %s answered in %.0f ms", answer.query_id, (time.perf_counter() - t0) * 1000)
        return Response(answer.result.model_dump_json(), media_type="application/json",
                        headers={QUERY_ID_HEADER: answer.query_id})

    @app.post(f"/{API_VERSION}/feedback", response_model=FeedbackResponse, responses=_ERRORS,
              summary="Record a clinician's verdict on an answer")
    def feedback(body: FeedbackRequest, request: Request, user: str = Depends(require_user)) -> FeedbackResponse:
        """Stored with the de-identified case and the answer (the UI's feedback store), and audited."""
        ctx: ServeContext = request.app.state.rdx
        state = ctx.recalled(body.query_id, user)
        if state is None:
            raise _ApiError(404, f"no recent answer {body.query_id} for this token (feedback is kept for the last "
                                 f"{ctx.recent_limit} answers of this server process)")
        try:
            message = ctx.service.give_feedback(state, body.kind, body.diagnosis, user=user)
        except guards.refusal as exc:
            raise _ApiError(_refusal_status(str(exc)), str(exc)) from None
        return FeedbackResponse(query_id=body.query_id, message=message)

    @app.get(f"/{API_VERSION}/indexes", response_model=IndexList, responses=_ERRORS, summary="List indexes")
    def indexes(request: Request, user: str = Depends(require_user)) -> IndexList:
        ctx: ServeContext = request.app.state.rdx
        out = []
        for name in ctx.index_names():
            store = IndexStore(Path(ctx.settings.index_dir), name)
            out.append(IndexInfo(name=name, current=store.current_version(),
                                 versions=[p.name for p in store.versions()], default=name == ctx.default_index))
        return IndexList(indexes=out)

    @app.get(f"/{API_VERSION}/health", response_model=Health, responses=_ERRORS, summary="Serving versions")
    def health(request: Request, user: str = Depends(require_user)) -> Health:
        ctx: ServeContext = request.app.state.rdx
        retriever = ctx.base.retriever
        if retriever is None:
            raise _ApiError(503, "no index is loaded")
        return Health(index=ctx.default_index, version=retriever.index.version_id,
                      versions=ctx.base.versions_for(retriever),
                      generator_backend=getattr(ctx.settings, "generator_backend", "hf"),
                      ranking=_ranking(ctx.base, retriever), warnings=list(retriever.index.warnings),
                      auth=ctx.auth.enabled)

    return app


def _ranking(assistant: Any, retriever: Any) -> str:
    """How mode=full ranks on this version: the learned ranker, or the vote blended with the generator."""
    from rag_dx.practice.model import DIRNAME, PracticeModel

    if not assistant.settings.diagnosis.ranker:
        return "similarity vote + generator (learned ranker switched off in settings)"
    practice = retriever.index.artefact(DIRNAME, PracticeModel.load)
    if practice is not None and practice.active:
        return "learned ranker"
    return "similarity vote + generator (" + (practice.reason if practice is not None else "no practice model") + ")"
