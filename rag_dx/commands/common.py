"""What every command shares: settings loading, quiet libraries, the one error wrapper, option types."""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, TypeVar

import typer

from rag_dx.errors import RagDxError

F = TypeVar("F", bound=Callable[..., Any])

TextCol = Annotated[str, typer.Option("--text-col", help="Column (or JSON key) holding the report text.")]
LabelCol = Annotated[str, typer.Option("--label-col", help="Column holding the diagnosis.")]
IdCol = Annotated[str, typer.Option("--id-col", help="Column holding the report id.")]
IndexDir = Annotated[Optional[Path], typer.Option(help="Override the index directory.")]
Engine = Annotated[Optional[Literal["local", "ray"]], typer.Option(
    help="Where chunks are embedded: local (this process) or ray (Ray Data encoder actors, GPUs when present; "
         "the 'scale' extra). Default: the scale.engine setting. See docs/scale.md")]


def engine_override(engine: str | None) -> dict[str, Any]:
    """Settings overrides for an --engine option (none when it was not given)."""
    return {"scale": {"engine": engine}} if engine else {}


def quiet_libraries(level: str) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(level=getattr(logging, level.upper(), logging.WARNING),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("presidio-analyzer", "presidio-anonymizer", "sentence_transformers", "transformers", "httpx"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    logging.getLogger("bm25s").setLevel(logging.WARNING)


def log_progress_without_terminal() -> None:
    """Long jobs run from cron or nohup have no progress bars; give them one log line per phase/step."""
    if not sys.stderr.isatty():
        logging.getLogger("finetune").setLevel(logging.INFO)


def load_cli_settings(**overrides: Any):
    """Settings for a command (defaults < TOML < env < these overrides), with library logging quieted."""
    from rag_dx.settings import load_settings

    settings = load_settings(**overrides)
    quiet_libraries(settings.log_level)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass
    return settings


def fail(exc: Exception) -> None:
    """Print one line naming the problem (never report text) and exit with status 2."""
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(code=2)


def cli_errors(fn: F) -> F:
    """The one error wrapper: an expected failure (RagDxError) becomes `error: ...` and exit status 2."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RagDxError as exc:
            fail(exc)
    return wrapper  # type: ignore[return-value]


def progress() -> bool:
    """Progress bars only on a terminal."""
    return sys.stderr.isatty()
