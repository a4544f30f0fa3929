"""`rag-dx index ...`: build, update, rebuild (each optionally behind an evaluation gate), rollback,
verify, gc, list."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from rag_dx.commands.common import (
    Engine,
    IdCol,
    IndexDir,
    LabelCol,
    TextCol,
    cli_errors,
    engine_override,
    load_cli_settings,
    progress,
)
from rag_dx.commands.inputs import load_inputs, read_ids
from rag_dx.commands.render import report_rejects, report_version
from rag_dx.errors import RagDxError

index_app = typer.Typer(help="Build and inspect indexes.", no_args_is_help=True)

Gate = Annotated[Optional[Path], typer.Option(help="Labeled file the new version must pass before it serves.")]
MinTop1 = Annotated[float, typer.Option(help="Top-1 accuracy the new version needs on --gate.")]


def gate_and_switch(settings, name: str, path: Path, gate: Path, min_top1: float, text_col: str,
                    label_col: str, id_col: str) -> None:
    """Evaluate an unserved version on a labeled file; switch to it only if it reaches min_top1."""
    from eval.gate import version_top1
    from rag_dx.index.store import IndexStore

    top1, n = version_top1(settings, name, path.name, gate, text_col=text_col, label_col=label_col, id_col=id_col,
                           progress=progress())
    if top1 < min_top1:
        raise RagDxError(
            f"gate failed: {path.name} scored top-1 {top1:.3f} < {min_top1:.3f} on {gate.name} ({n} cases); it was "
            f"kept for inspection but not switched to. Serve it anyway with "
            f"`rag-dx index rollback --name {name} --to {path.name}`"
        )
    store = IndexStore(settings.index_dir, name)
    with store.writer_lock():
        store.switch(path.name)
    typer.echo(f"gate passed: top-1 {top1:.3f} >= {min_top1:.3f}; index '{name}' now serves {path.name}")


def encoder_identity(settings) -> tuple[str, str]:
    """(name, fingerprint) of the configured encoder and backend, without loading the model."""
    from rag_dx.embed import encoder_identity as identity

    return identity(settings.encoder, settings.encoder_backend)


@index_app.command("build")
@cli_errors
def index_build(
    name: Annotated[str, typer.Option(help="Index name (a folder under the index directory).")],
    reports: Annotated[list[Path], typer.Option("--reports", help="Reports CSV/JSONL (repeatable; .gz ok).")] = [],
    guidelines: Annotated[list[Path], typer.Option("--guidelines", help="Guidelines JSONL/MD/TXT/PDF (repeatable).")] = [],
    text_col: TextCol = "text",
    label_col: LabelCol = "diagnosis",
    id_col: IdCol = "report_id",
    skip_invalid: Annotated[bool, typer.Option(help="Index the valid rows and write the rejects next to the index.")] = False,
    index_dir: IndexDir = None,
    engine: Engine = None,
) -> None:
    """Build a new version of an index from reports and guidelines, then switch to it.

    Every input is validated before anything is written: a bad row aborts the build with its
    file, line and field, unless --skip-invalid is given.
    """
    from rag_dx.build import build_index

    settings = load_cli_settings(index_dir=index_dir, **engine_override(engine))
    if not reports and not guidelines:
        raise RagDxError("give at least one --reports or --guidelines file")
    rep, gl, rejects = load_inputs(reports, guidelines, text_col, label_col, id_col, skip_invalid)
    path = build_index(settings, name, rep, gl, progress=progress(), sources=[str(p) for p in [*reports, *guidelines]])
    report_version(name, path)
    report_rejects(rejects, path)


@index_app.command("update")
@cli_errors
def index_update(
    name: Annotated[str, typer.Option(help="Index to update.")],
    reports: Annotated[list[Path], typer.Option("--reports", help="New or changed reports (repeatable).")] = [],
    guidelines: Annotated[list[Path], typer.Option("--guidelines", help="Guideline documents to add (repeatable).")] = [],
    delete: Annotated[Optional[Path], typer.Option("--delete", help="File of report/document ids to delete, one per line.")] = None,
    text_col: TextCol = "text",
    label_col: LabelCol = "diagnosis",
    id_col: IdCol = "report_id",
    skip_invalid: Annotated[bool, typer.Option(help="Apply the valid rows and list the rejects.")] = False,
    gate: Gate = None,
    min_top1: MinTop1 = 0.0,
    index_dir: IndexDir = None,
    engine: Engine = None,
) -> None:
    """Add new reports, replace changed ones (same report_id) and delete listed ids, as a new version.

    Only new or changed text is embedded; everything else reuses the serving version's vectors.
    """
    from rag_dx.build import update_index

    settings = load_cli_settings(index_dir=index_dir, **engine_override(engine))
    delete_ids = read_ids(delete) if delete else []
    if not reports and not guidelines and not delete_ids:
        raise RagDxError("nothing to do: give --reports, --guidelines or --delete")
    rep, gl, rejects = load_inputs(reports, guidelines, text_col, label_col, id_col, skip_invalid)
    from rag_dx.index.store import IndexStore

    before = IndexStore(settings.index_dir, name).current_version()
    path = update_index(settings, name, rep, delete_ids=delete_ids, guidelines=gl, progress=progress(),
                        sources=[str(p) for p in [*reports, *guidelines]], switch=gate is None)
    if path.name == before:  # the update changed nothing: no version was made
        typer.echo(f"nothing changed: index '{name}' stays at {before}")
        report_rejects(rejects, path)
        return
    report_version(name, path)
    if gate is not None:
        gate_and_switch(settings, name, path, gate, min_top1, text_col, label_col, id_col)
    report_rejects(rejects, path)


@index_app.command("rebuild")
@cli_errors
def index_rebuild(
    name: Annotated[str, typer.Option(help="Index to re-embed.")],
    gate: Gate = None,
    min_top1: MinTop1 = 0.0,
    text_col: TextCol = "text",
    label_col: LabelCol = "diagnosis",
    id_col: IdCol = "report_id",
    index_dir: IndexDir = None,
    engine: Engine = None,
) -> None:
    """Re-embed every chunk of the serving version with the configured encoder (e.g. after fine-tuning)."""
    from rag_dx.build import rebuild_index

    settings = load_cli_settings(index_dir=index_dir, **engine_override(engine))
    path = rebuild_index(settings, name, progress=progress(), switch=gate is None)
    report_version(name, path)
    if gate is not None:
        gate_and_switch(settings, name, path, gate, min_top1, text_col, label_col, id_col)


@index_app.command("rollback")
@cli_errors
def index_rollback(
    name: Annotated[str, typer.Option(help="Index to roll back.")],
    to: Annotated[str, typer.Option("--to", help="Version to serve, e.g. v0003.")],
    index_dir: IndexDir = None,
) -> None:
    """Serve an earlier (or later) version again; it is verified before the switch."""
    from rag_dx.index.reader import open_version
    from rag_dx.index.store import IndexStore

    settings = load_cli_settings(index_dir=index_dir)
    store = IndexStore(settings.index_dir, name)
    enc_name, fingerprint = encoder_identity(settings)
    with store.writer_lock():
        path = store.version_dir(to)
        open_version(store, path, encoder_name=enc_name, encoder_fingerprint=fingerprint)
        store.switch(path.name)
    typer.echo(f"index '{name}' now serves {to}")


@index_app.command("verify")
@cli_errors
def index_verify(
    name: Annotated[str, typer.Option(help="Index to verify.")],
    all_versions: Annotated[bool, typer.Option("--all", help="Verify every version, not only the serving one.")] = False,
    index_dir: IndexDir = None,
) -> None:
    """Check checksums, counts, dimension and encoder match; exit 1 if anything is wrong."""
    from rag_dx.errors import IndexCorruptError, IndexMismatchError
    from rag_dx.index.reader import open_version
    from rag_dx.index.store import IndexStore

    settings = load_cli_settings(index_dir=index_dir)
    store = IndexStore(settings.index_dir, name)
    enc_name, fingerprint = encoder_identity(settings)
    targets = store.versions() if all_versions else [store.current_dir()]
    bad = 0
    for path in targets:
        try:
            open_version(store, path, encoder_name=enc_name, encoder_fingerprint=fingerprint)
            typer.echo(f"ok   {name}/{path.name}")
        except (IndexCorruptError, IndexMismatchError) as exc:
            bad += 1
            typer.echo(f"FAIL {name}/{path.name}: {exc}")
    partials = list(store.versions_dir.glob(".partial-*")) if store.versions_dir.is_dir() else []
    if partials:
        typer.echo(f"note: {len(partials)} leftover partial build(s); `rag-dx index gc --name {name}` removes them")
    if bad:
        raise typer.Exit(code=1)


@index_app.command("gc")
@cli_errors
def index_gc(
    name: Annotated[str, typer.Option(help="Index to clean.")],
    keep: Annotated[int, typer.Option(help="Newest versions to keep (the serving one is always kept).")] = 3,
    index_dir: IndexDir = None,
) -> None:
    """Remove leftover partial builds and old versions."""
    from rag_dx.index.store import IndexStore

    settings = load_cli_settings(index_dir=index_dir)
    store = IndexStore(settings.index_dir, name)
    with store.writer_lock():
        removed = store.gc(keep)
    typer.echo(f"removed {len(removed)}: {', '.join(removed) if removed else 'nothing'}")


@index_app.command("list")
@cli_errors
def index_list(index_dir: IndexDir = None) -> None:
    """List indexes and their versions (the serving one marked with *)."""
    from rag_dx.index.store import IndexStore

    settings = load_cli_settings(index_dir=index_dir)
    root = Path(settings.index_dir)
    names = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if not names:
        typer.echo(f"no indexes under {root}")
    for name in names:
        store = IndexStore(root, name)
        current = store.current_version()
        for version in store.versions():
            m = store.read_manifest(version)
            mark = "*" if version.name == current else " "
            typer.echo(f"{mark} {name}/{version.name}  {m.get('created_at')}  chunks={m['counts']['chunks']}  "
                       f"encoder={m['encoder']['name']}")
