"""`rag-dx diagnose`, `rag-dx demo` and `rag-dx models prepare`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from rag_dx.commands.common import IndexDir, cli_errors, load_cli_settings
from rag_dx.commands.render import format_differential

if TYPE_CHECKING:
    from rag_dx.index.store import IndexStore

models_app = typer.Typer(help="Prepare the bundled models.", no_args_is_help=True)


@models_app.command("prepare")
@cli_errors
def models_prepare(force: bool = typer.Option(False, help="Redo the conversion even if cached.")) -> None:
    """Dequantize the bundled generator once into the cache (about 30 s) and check the encoder loads."""
    from rag_dx.embed import load_encoder
    from rag_dx.models import prepare_generator

    settings = load_cli_settings()
    path = prepare_generator(settings.cache_dir, force=force)
    typer.echo(f"generator ready: {path}")
    enc = load_encoder(settings)
    typer.echo(f"encoder ready: {enc.name} (dim {enc.dim}, fingerprint {enc.fingerprint[:12]})")


@models_app.command("clinical-encoder")
@cli_errors
def models_clinical_encoder(
    out: Path = typer.Option(Path("models/clinical-minilm"), help="Model directory to write."),
    seed: int = typer.Option(0, help="Seed of pairs, batches and initialisation."),
    max_steps: int = typer.Option(0, help="Training steps (0: one epoch over the pairs)."),
    overwrite: bool = typer.Option(False, help="Replace an existing model directory."),
) -> None:
    """Fine-tune the bundled MiniLM on public clinical pairs (HPO, ICD-10-CM; opt-in, see
    docs/results/clinical-encoder.md). Byte-identical on a re-run with the same options."""
    from finetune.clinical_encoder import ClinicalEncoderRecipe, train_clinical_encoder, with_overrides
    from rag_dx.errors import ConfigError

    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ConfigError(f"{out} exists and is not empty; choose another --out or pass --overwrite")
    recipe = with_overrides(ClinicalEncoderRecipe(), seed=seed, max_steps=max_steps or None)
    path = train_clinical_encoder(out, recipe)
    typer.echo(f"clinical encoder written: {path} (model card: {path / 'README.md'}); to use it set "
               f'encoder = "{path}" in rag-dx.toml and run `rag-dx index rebuild` for every index')


@cli_errors
def diagnose(
    text: Annotated[str, typer.Argument(help="The case description (use '-' to read it from stdin).")],
    index: Annotated[Optional[str], typer.Option(help="Index name (default: settings.index_name).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full result as JSON.")] = False,
    index_dir: IndexDir = None,
) -> None:
    """Rank diagnoses for a case description, each with the evidence that supports it."""
    from rag_dx.diagnose import build_assistant

    settings = load_cli_settings(index_dir=index_dir)
    case = sys.stdin.read() if text == "-" else text
    result = build_assistant(settings, index).diagnose(case)
    typer.echo(result.model_dump_json(indent=2) if as_json else format_differential(result))


@cli_errors
def demo(
    case: Annotated[Optional[str], typer.Option(help="Case to diagnose (default: the bundled sample case).")] = None,
    rebuild: Annotated[bool, typer.Option(help="Rebuild the demo index even if it exists.")] = False,
) -> None:
    """Prepare the bundled models, build the demo index if missing, and diagnose a sample case.

    The demo index is also rebuilt when it was built by a rag-dx that read diagnosis names and findings
    otherwise (`rag_dx.provenance.reading_digest`): it holds only bundled data, so an updated checkout's
    `make run` shows the updated reading instead of a warning."""
    from rag_dx.build import build_index
    from rag_dx.demo import SAMPLE_CASE, build_demo_guidelines, demo_reports_path
    from rag_dx.diagnose import build_assistant
    from rag_dx.index.store import IndexStore
    from rag_dx.ingest.loaders import load_guidelines, load_reports
    from rag_dx.models import prepare_generator

    settings = load_cli_settings()
    prepare_generator(settings.cache_dir)
    name = settings.index_name
    store = IndexStore(settings.index_dir, name)
    if rebuild or store.current_version() is None or _read_otherwise(store):
        typer.echo(f"building the demo index '{name}' in {settings.index_dir} ...", err=True)
        guideline_file = build_demo_guidelines(Path(settings.cache_dir) / "demo" / "guidelines.jsonl")
        reports = load_reports(demo_reports_path()).reports
        build_index(settings, name, reports, load_guidelines(guideline_file),
                    sources=[str(demo_reports_path()), str(guideline_file)])
    assistant = build_assistant(settings, name)
    sample = case or SAMPLE_CASE
    typer.echo(f"case: {sample}\n")
    typer.echo(format_differential(assistant.diagnose(sample)))


def _read_otherwise(store: IndexStore) -> bool:
    from rag_dx.index.layout import read_manifest
    from rag_dx.provenance import built_with_other_reading

    return built_with_other_reading(read_manifest(store.current_dir()))
