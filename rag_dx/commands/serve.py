"""`rag-dx serve` (the HTTP API) and `rag-dx api-token add`; the app is rag_dx/serve/app.py.

The guards (de-identification, audit record per query, feedback store, token hashes, body cap)
are the chat UI's own implementations, imported here lazily (the CLI may import `ui`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from rag_dx.commands.common import cli_errors, load_cli_settings

if TYPE_CHECKING:
    from rag_dx.serve.app import Guards
    from rag_dx.settings import Settings

api_token_app = typer.Typer(help="Bearer tokens for `rag-dx serve`.", no_args_is_help=True)

#: Request bodies above this are refused with 413 (a 12,000-character case is ~12-48 KiB of JSON).
MAX_BODY_BYTES = 64 * 1024


def ui_guards(*, deidentifier: Any, audit_log: Any, feedback_store: Any, users: dict[str, str] | None,
              max_body_bytes: int = MAX_BODY_BYTES) -> "Guards":
    """The UI's query service (de-identify -> diagnose -> audit), token check and body cap, as `Guards`."""
    from rag_dx.serve.app import Guards
    from rag_dx.serve.schemas import MAX_TEXT_CHARS

    from ui.auth import Authenticator
    from ui.hardening import BodyLimit
    from ui.service import ClinicianService, UserFacingError

    def service(assistant: Any) -> Any:
        return ClinicianService(assistant, feedback_store=feedback_store, audit_log=audit_log,
                                deidentifier=deidentifier, max_turn_chars=MAX_TEXT_CHARS,
                                max_case_chars=MAX_TEXT_CHARS)

    return Guards(service_factory=service, refusal=UserFacingError,
                  verify=Authenticator(users) if users else None, body_limit=BodyLimit,
                  max_body_bytes=max_body_bytes)


def assistant_factory(settings: "Settings") -> Any:
    """index name (None: default) -> Assistant; the first call loads the models, later calls
    (other indexes) share its encoder, generator and vocabulary."""
    from dataclasses import replace

    from rag_dx.diagnose import build_assistant
    from rag_dx.index.reader import LiveIndex

    loaded: list[Any] = []

    def on_device(assistant: Any) -> Any:
        # build_assistant opens the index with faiss.device "auto"; honour "cpu" / "cuda" here
        if settings.faiss.device == "auto" or assistant.live is None:
            return assistant
        live = assistant.live
        return replace(assistant, live=LiveIndex(settings.index_dir, live.store.name, encoder_name=assistant.encoder.name,
                                                 encoder_fingerprint=assistant.encoder.fingerprint,
                                                 dense_device=settings.faiss.device))

    def make(name: str | None) -> Any:
        if not loaded:
            loaded.append(on_device(build_assistant(settings, name)))
            return loaded[0]
        base = loaded[0]
        other = build_assistant(settings, name, encoder=base.encoder, generator=base.generator, load_vocabulary=False)
        return on_device(replace(other, vocabulary=base.vocabulary))

    return make


def build_server_app(settings: "Settings", index: str | None, *, host: str, auth_file: Path | None) -> Any:
    """The app `rag-dx serve` runs, with the UI's state dir (audit log, feedback store) and users format.

    Raises:
        ConfigError: a non-loopback host without tokens, a bad token file, an unwritable audit log.
        DeidUnavailableError: the de-identifier cannot load (the API never runs without it).
    """
    from rag_dx.audit import AuditLog
    from rag_dx.errors import ConfigError
    from rag_dx.feedback import FeedbackStore
    from rag_dx.ingest.deid import Deidentifier
    from rag_dx.serve.app import create_app

    from ui.auth import is_loopback, load_users
    from ui.commands import AUDIT_FILE, FEEDBACK_FILE, private_dir, state_dir
    from ui.hardening import install_log_filters

    users = load_users(auth_file, env={}) if auth_file is not None else {}
    if not is_loopback(host) and not users:
        raise ConfigError(f"binding to {host} needs bearer tokens: pass --token-file FILE "
                          "(create one with `rag-dx api-token add FILE NAME`)")
    root = private_dir(state_dir(settings))
    audit = AuditLog(root / AUDIT_FILE)
    audit.check_writable()
    guards = ui_guards(deidentifier=Deidentifier.load(), audit_log=audit,
                       feedback_store=FeedbackStore.open(root / FEEDBACK_FILE), users=users or None)
    install_log_filters()
    make = assistant_factory(settings)

    def factory(name: str | None) -> Any:
        assistant = make(name or index)
        if name is None:  # the default index, made once at startup: its first request then runs at full speed
            assistant.warm_up()
        return assistant

    return create_app(settings, factory, guards=guards)


@cli_errors
def serve(
    index: Annotated[Optional[str], typer.Option(help="Default index name (default: settings.index_name).")] = None,
    host: Annotated[str, typer.Option(help="Bind address; anything but loopback needs --token-file.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    token_file: Annotated[Optional[Path], typer.Option("--token-file", help="Tokens file of 'name:scrypt$...' lines (rag-dx api-token add FILE NAME).")] = None,
) -> None:
    """Serve the HTTP API (POST /v1/diagnose, /v1/feedback; GET /v1/indexes, /v1/health) until Ctrl-C."""
    import uvicorn

    settings = load_cli_settings()
    app = build_server_app(settings, index, host=host, auth_file=token_file)
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    typer.echo(f"rag-dx API on http://{shown}:{port}/v1  (OpenAPI: /docs; "
               f"{'bearer tokens required' if token_file else 'no auth, loopback only'}; Ctrl-C to stop)", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


@api_token_app.command("add")
@cli_errors
def api_token_add(
    file: Annotated[Path, typer.Argument(help="Tokens file (created with mode 0600).")],
    name: Annotated[str, typer.Argument(help="Who the token is for (1-64 letters, digits or _.@-).")],
) -> None:
    """Make a token for NAME: its scrypt hash goes into FILE, the token is printed once."""
    from rag_dx.serve.auth import new_token

    from ui.auth import add_user

    token, secret = new_token(name)
    add_user(file, name, secret)
    typer.echo(token)
