"""`rag-dx audit verify` (hash-chained logs) and `rag-dx deid check` (what would be redacted)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from rag_dx.commands.common import IndexDir, TextCol, cli_errors, load_cli_settings
from rag_dx.errors import RagDxError

audit_app = typer.Typer(help="Audit logs (index changes, UI queries).", no_args_is_help=True)
deid_app = typer.Typer(help="De-identification tools.", no_args_is_help=True)


@audit_app.command("verify")
@cli_errors
def audit_verify(
    path: Annotated[Optional[Path], typer.Argument(help="An audit.jsonl file (default: the index's log).")] = None,
    name: Annotated[Optional[str], typer.Option("--name", help="Verify this index's change log.")] = None,
    index_dir: IndexDir = None,
) -> None:
    """Check an append-only audit log's hash chain; exit 1 at the first edited, missing or torn record."""
    from rag_dx.audit import verify
    from rag_dx.index.store import AUDIT, IndexStore

    if path is None and name is None:
        raise RagDxError("give an audit log file or --name INDEX")
    target = path or IndexStore(load_cli_settings(index_dir=index_dir).index_dir, name).root / AUDIT
    result = verify(target)
    if result.ok:
        typer.echo(f"ok: {result.records} records, head {result.head}")
    else:
        typer.echo(f"FAIL {target}: {result.error} (line {result.line})")
        raise typer.Exit(code=1)


@deid_app.command("check")
@cli_errors
def deid_check(
    file: Annotated[Path, typer.Argument(help="A reports CSV/JSONL, a plain text file, or an annotated JSONL set "
                                              "(text + phi spans, as tests/phi_synth.py writes) to score recall.")],
    text_col: TextCol = "text",
    per_text: Annotated[bool, typer.Option("--per-text", help="Also list types and offsets per text.")] = False,
) -> None:
    """Count what de-identification would redact, per entity type; on an annotated set, recall per
    identifier category and the clinical content erased. Never prints a value."""
    from rag_dx.ingest.deid import Deidentifier
    from rag_dx.ingest.deid_eval import check_file

    load_cli_settings()
    deid = Deidentifier.load()
    lines, _ = check_file(file, deid.find_many, text_col=text_col, per_text=per_text)
    for line in lines:
        typer.echo(line)
