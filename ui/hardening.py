"""Keep case text out of logs and bound what a request may carry.

Gradio, uvicorn, starlette and httpx log and print on their own: Gradio prints the traceback of a
failed event with `traceback.print_exc()`, and the message of some of its errors quotes the
request's input values ("Received inputs: [...]"), which is the clinician's raw, not yet
de-identified case text. Three guards, installed by `ui.app.launch_app`:

* `LibraryLogFilter` on those libraries' loggers: a record keeps its constant format string and,
  for an exception, the exception's type; its arguments, exception message and traceback text
  are dropped (access-log lines keep method, path without query, status).
* `quiet_library_tracebacks()`: Gradio's `traceback.print_exc()` calls print the exception type
  and where it was raised, never its message.
* `BodyLimit`: an ASGI middleware that refuses a request body over its limit (413) on every
  route, by Content-Length up front and by reading a streamed body (into memory, at most the
  limit) before any route sees it.

Nothing here is installed at import.
"""

from __future__ import annotations

import logging
import sys
import traceback
import types
from typing import Any

__all__ = ["BodyLimit", "LibraryLogFilter", "LIBRARY_LOGGERS", "install_log_filters", "quiet_library_tracebacks"]

LIBRARY_LOGGERS: tuple[str, ...] = (
    "gradio", "gradio_client", "uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi", "starlette",
    "fastapi", "httpx", "httpcore", "websockets", "asyncio", "python_multipart", "multipart",
)
"""Loggers (and, by prefix, their children) that get `LibraryLogFilter`."""

_MAX_MESSAGE = 300


class LibraryLogFilter(logging.Filter):
    """Strip what may hold request content from a library's log record (it is never dropped)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_rdx_sanitized", False):
            return True
        exc_type = None
        if record.exc_info and record.exc_info[0] is not None:
            exc_type = record.exc_info[0].__name__
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, path, version, status = record.args
            record.args = (client, method, str(path).split("?", 1)[0], version, status)
        else:
            record.msg = str(record.msg)[:_MAX_MESSAGE]
            record.args = None
        if exc_type:
            record.msg = f"{record.msg} [{exc_type}; message and traceback withheld: they may quote case text]"
        record._rdx_sanitized = True
        return True


_FILTER = LibraryLogFilter()


def install_log_filters(names: tuple[str, ...] = LIBRARY_LOGGERS) -> None:
    """Add the filter to each named logger and every existing child (idempotent).

    A logger's filters see only records logged on that logger, so children are covered one by
    one; call again after importing more of a library.
    """
    def ours(n: str) -> bool:
        return any(n == p or n.startswith(p + ".") for p in names)

    # modules log on `getLogger(__name__)`: cover every imported module of those libraries too,
    # before it has logged anything
    existing = [n for n in logging.root.manager.loggerDict if ours(n)] + [n for n in list(sys.modules) if ours(n)]
    for name in {*names, *existing}:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


def _safe_print_exc(limit: int | None = None, file: Any = None, chain: bool = True) -> None:
    """`traceback.print_exc` without the exception message: type and frames (file:line) only."""
    exc = sys.exc_info()[1]
    out = file or sys.stderr
    if exc is None:
        return
    frames = traceback.extract_tb(exc.__traceback__, limit=limit)
    where = "; ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} in {f.name}" for f in frames[-4:])
    print(f"{type(exc).__name__} (message withheld: it may quote case text) at {where}", file=out)


_SAFE_TRACEBACK = types.SimpleNamespace(**{k: getattr(traceback, k) for k in dir(traceback) if not k.startswith("__")})
_SAFE_TRACEBACK.print_exc = _safe_print_exc
_SAFE_TRACEBACK.print_exception = lambda *a, **k: _safe_print_exc()

_GRADIO_MODULES = ("gradio.queueing", "gradio.routes", "gradio.utils", "gradio.route_utils", "gradio.blocks")


def quiet_library_tracebacks() -> None:
    """Make Gradio's own `traceback.print_exc()` calls print type and location only (idempotent)."""
    import importlib

    for name in _GRADIO_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:  # pragma: no cover - another Gradio layout
            continue
        if getattr(module, "traceback", None) is traceback:
            module.traceback = _SAFE_TRACEBACK


class BodyLimit:
    """ASGI middleware: 413 for a request body over `max_bytes` (per path prefix), on every route.

    Args:
        app: the wrapped ASGI app.
        max_bytes: the limit for every route not in `limits`.
        limits: path prefix -> limit (e.g. Gradio's upload route, which takes files up to its own cap).
    """

    def __init__(self, app: Any, max_bytes: int = 256 * 1024, limits: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.limits = sorted((limits or {}).items(), key=lambda kv: -len(kv[0]))

    def _limit(self, path: str) -> int:
        for prefix, limit in self.limits:
            if path.startswith(prefix):
                return limit
        return self.max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope.get("path", ""))
        for key, value in scope.get("headers", []):
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _reject(send, 400, b"bad Content-Length")
                    return
                if declared > limit:
                    await _reject(send, 413, b"request body too large")
                    return
        # Read the whole body (at most `limit` bytes) before the app sees any of it, so an
        # oversized streamed body is refused with 413 instead of being half-parsed by a route.
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message.get("type") != "http.request":  # http.disconnect: nothing to answer
                return
            body = message.get("body", b"")
            seen += len(body)
            if seen > limit:
                await _reject(send, 413, b"request body too large")
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()  # later calls wait for the disconnect, as the app expects

        await self.app(scope, replay, send)


async def _reject(send: Any, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
