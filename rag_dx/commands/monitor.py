"""`rag-dx monitor`: figures, plots and warnings over the UI's audit log and feedback store."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional

import typer

from rag_dx.commands.common import IndexDir, cli_errors, load_cli_settings
from rag_dx.errors import RagDxError


@cli_errors
def monitor(
    out: Annotated[Path, typer.Option("--out", help="Directory for monitor.html, monitor.json and the PNG plots.")],
    since: Annotated[Optional[datetime], typer.Option(formats=["%Y-%m-%d"],
                                                      help="Count records from this UTC day on (YYYY-MM-DD).")] = None,
    index: Annotated[Optional[str], typer.Option(help="Count only queries and feedback of this index name.")] = None,
    period: Annotated[str, typer.Option(help="Drift per 'day' or per 'week'.")] = "week",
    state_dir: Annotated[Optional[Path], typer.Option(
        "--state-dir", help="The UI's state directory holding audit.jsonl and feedback.sqlite "
                            "(default: settings ui_state_dir).")] = None,
    index_dir: IndexDir = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit with status 1 when a warning is raised.")] = False,
) -> None:
    """Queries per day, abstention rate, confidence, clinician agreement and input drift, with warnings
    when the thresholds of the monitor settings are crossed (docs/monitoring.md). Reads ids, versions
    and scores; prints no case text."""
    from rag_dx.monitor_report import summary_rows, write_report
    from rag_dx.monitor_sources import monitor_summary

    from ui.commands import AUDIT_FILE, FEEDBACK_FILE

    if period not in ("day", "week"):
        raise RagDxError(f"--period must be 'day' or 'week', not {period!r}")
    settings = load_cli_settings(**({"ui_state_dir": state_dir} if state_dir else {}),
                                 **({"index_dir": index_dir} if index_dir else {}))
    root = Path(settings.ui_state_dir).expanduser()
    summary = monitor_summary(root / AUDIT_FILE, root / FEEDBACK_FILE, settings.index_dir, settings.monitor,
                              index=index, since=since.date() if since else None, period=period)  # type: ignore[arg-type]
    written = write_report(summary, out, drift_psi_warn=settings.monitor.drift_psi_warn)
    width = max(len(k) for k, _ in summary_rows(summary))
    for key, value in summary_rows(summary):
        typer.echo(f"{key:<{width}}  {value}")
    for note in summary.notes:
        typer.echo(f"note: {note}")
    for warning in summary.warnings:
        typer.secho(f"WARNING: {warning}", fg=typer.colors.RED, bold=True)
    typer.echo(f"report -> {written['html']}")
    if strict and summary.warnings:
        raise typer.Exit(code=1)
