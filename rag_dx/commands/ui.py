"""`rag-dx ui` (the clinician's chat) and `rag-dx feedback export`; the work is in ui/commands.py."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from rag_dx.commands.common import cli_errors, load_cli_settings

feedback_app = typer.Typer(help="Clinician feedback from the UI.", no_args_is_help=True)


@cli_errors
def ui(
    index: Annotated[Optional[str], typer.Option(help="Index name (default: settings.index_name).")] = None,
    host: Annotated[str, typer.Option(help="Bind address; anything but loopback needs --auth-file or RAG_DX_UI_USERS.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 7860,
    auth_file: Annotated[Optional[Path], typer.Option("--auth-file", help="Users file of 'username:scrypt$...' lines (python -m ui.auth add-user FILE USER).")] = None,
) -> None:
    """Serve the clinician's chat UI until Ctrl-C (decision support for clinicians, not a replacement)."""
    from ui.commands import launch_ui

    launch_ui(load_cli_settings(), index, host, port, auth_file)


@feedback_app.command("export")
@cli_errors
def feedback_export(
    out: Annotated[Path, typer.Option("--out", help="Output file.")],
    fmt: Annotated[str, typer.Option("--format", help="csv or jsonl.")] = "csv",
) -> None:
    """Write the (text, diagnosis) pairs clinicians confirmed in the UI as a reports file."""
    from ui.commands import export_feedback

    n = export_feedback(load_cli_settings(), out, fmt)
    typer.echo(f"{n} training pairs -> {out}")
