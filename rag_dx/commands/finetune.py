"""`rag-dx finetune encoder` and `rag-dx finetune generator` (the recipes live in finetune/)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from rag_dx.commands.common import (
    IdCol,
    LabelCol,
    TextCol,
    cli_errors,
    load_cli_settings,
    log_progress_without_terminal,
    progress,
)

finetune_app = typer.Typer(help="Fine-tune the encoder and the LoRA generator.", no_args_is_help=True)

TrainReports = Annotated[list[Path], typer.Option("--reports", help="Labeled reports (repeatable).")]
RecipeOpt = Annotated[Optional[Path], typer.Option("--recipe", help="Recipe TOML (default finetune/recipes/cpu.toml).")]
HoldoutOpt = Annotated[Optional[float], typer.Option(
    "--holdout", help="Exclude this eval test fraction (same split as rag-dx eval --holdout).")]
HoldoutSeedOpt = Annotated[int, typer.Option(
    "--holdout-seed", help="The --seed of the `rag-dx eval --holdout` run to leave out.")]
MaxStepsOpt = Annotated[Optional[int], typer.Option("--max-steps", help="Stop after this many steps.")]
ResumeOpt = Annotated[bool, typer.Option("--resume/--no-resume", help="Resume from the last checkpoint.")]
SeedOpt = Annotated[Optional[int], typer.Option("--seed", help="Training seed (default: the recipe's).")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite/--no-overwrite", help="Replace a non-empty --out directory.")]


@finetune_app.command("encoder")
@cli_errors
def finetune_encoder_command(
    reports: TrainReports,
    out: Annotated[Path, typer.Option(help="Output model directory.")],
    guidelines: Annotated[list[Path], typer.Option("--guidelines", help="Public clinical text, e.g. MedQuAD JSONL (repeatable).")] = [],
    recipe: RecipeOpt = None,
    holdout: HoldoutOpt = None,
    max_steps: MaxStepsOpt = None,
    resume: ResumeOpt = False,
    holdout_seed: HoldoutSeedOpt = 0,
    seed: SeedOpt = None,
    overwrite: OverwriteOpt = False,
    text_col: TextCol = "text",
    label_col: LabelCol = "diagnosis",
    id_col: IdCol = "report_id",
) -> None:
    """Contrastive fine-tune of the retrieval encoder on the practice's reports (MNRL, IR evaluator)."""
    from finetune.commands import finetune_encoder

    log_progress_without_terminal()
    path = finetune_encoder(load_cli_settings(), reports, guidelines, out, recipe, text_col, label_col, id_col,
                            holdout=holdout, holdout_seed=holdout_seed, seed=seed, max_steps=max_steps,
                            resume=resume, overwrite=overwrite, progress=progress())
    typer.echo(f"encoder -> {path} (set RAG_DX_ENCODER={path}, then `rag-dx index rebuild`)")


@finetune_app.command("generator")
@cli_errors
def finetune_generator_command(
    reports: TrainReports,
    index: Annotated[str, typer.Option(help="Index to retrieve evidence from (own report excluded).")],
    out: Annotated[Path, typer.Option(help="Output adapter directory.")],
    recipe: RecipeOpt = None,
    merge: Annotated[bool, typer.Option(help="Also save the adapter merged into the base model.")] = False,
    search: Annotated[bool, typer.Option(help="Small learning-rate/rank search on the validation split.")] = False,
    holdout: HoldoutOpt = None,
    max_steps: MaxStepsOpt = None,
    resume: ResumeOpt = False,
    holdout_seed: HoldoutSeedOpt = 0,
    seed: SeedOpt = None,
    augment: Annotated[Optional[bool], typer.Option("--augment/--no-augment", help="Synonym/abbreviation augmentation (default: the recipe's).")] = None,
    overwrite: OverwriteOpt = False,
    text_col: TextCol = "text",
    label_col: LabelCol = "diagnosis",
    id_col: IdCol = "report_id",
) -> None:
    """Train a LoRA adapter on the exact diagnosis prompt, then fit a calibration temperature."""
    from finetune.commands import finetune_generator

    log_progress_without_terminal()
    path = finetune_generator(load_cli_settings(), reports, index, out, recipe, text_col, label_col, id_col, merge,
                              search, holdout=holdout, holdout_seed=holdout_seed, seed=seed, max_steps=max_steps,
                              augment=augment, resume=resume, overwrite=overwrite, progress=progress())
    typer.echo(f"adapter -> {path} (set RAG_DX_ADAPTER={path})")
