"""`rag-dx eval` (batch evaluation on labeled reports) and `rag-dx bench` (benchmarks)."""

from __future__ import annotations

import sys
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
from rag_dx.errors import RagDxError


@cli_errors
def eval_command(
    labeled: Annotated[Path, typer.Option(help="Labeled reports (CSV/TSV/JSONL, .gz ok) with text and diagnosis.")],
    out: Annotated[Path, typer.Option(help="Directory for metrics.json, predictions.jsonl, report.md/html.")],
    index: Annotated[Optional[str], typer.Option(help="Evaluate against this existing index.")] = None,
    holdout: Annotated[Optional[float], typer.Option(help="Test fraction: leakage-safe split, temporary index from the rest.")] = None,
    cv: Annotated[Optional[int], typer.Option(help="K-fold cross-validation (K >= 2).")] = None,
    split_by: Annotated[Optional[str], typer.Option(help="'random' (default) or 'date' (train strictly earlier).")] = None,
    ablations: Annotated[bool, typer.Option(help="Also score retrieval-only, generator-only and TF-IDF+LR.")] = False,
    guidelines: Annotated[list[Path], typer.Option("--guidelines", help="Guideline files added to temporary indexes.")] = [],
    text_col: TextCol = "text",
    label_col: LabelCol = "diagnosis",
    id_col: IdCol = "report_id",
    seed: Annotated[int, typer.Option(help="Seed for splits, bootstrap and the baseline.")] = 0,
    train_per_label: Annotated[Optional[int], typer.Option(help="Keep at most this many train reports per diagnosis (a low-data practice; the test part is unchanged).")] = None,
    skip_generator: Annotated[bool, typer.Option(help="With --ablations, leave out the generator-only system (the slowest).")] = False,
    index_dir: IndexDir = None,
    compare_encoder: Annotated[Optional[Path], typer.Option(help="Also evaluate this (fine-tuned) encoder on the same split, paired with the configured one.")] = None,
    compare_adapter: Annotated[Optional[Path], typer.Option(help="Also evaluate this LoRA adapter (with its calibration) on the same split.")] = None,
    write_cards: Annotated[bool, typer.Option(help="Write the comparison into the compared models' cards (README.md).")] = False,
    engine: Engine = None,
) -> None:
    """Evaluate rag-dx on labeled reports: top-k, F1, calibration, per-class, ablations and plots.

    Give exactly one of --index, --holdout or --cv. Duplicate and near-duplicate texts (and one
    patient's reports) never straddle a split. --compare-encoder / --compare-adapter add the
    fine-tuned models on the same split and report base vs fine-tuned, paired, case by case.
    --engine ray embeds the temporary indexes' chunks on Ray (test cases are still encoded here).
    """
    from eval.run import compare_variants, format_summary, run_eval

    settings = load_cli_settings(index_dir=index_dir, **engine_override(engine))
    variants = compare_variants(compare_encoder, compare_adapter)
    if write_cards and not variants:
        raise RagDxError("--write-cards needs --compare-encoder or --compare-adapter")
    result = run_eval(settings, labeled=labeled, out=out, index=index, holdout=holdout, cv=cv, split_by=split_by,
                      ablations=ablations, text_col=text_col, label_col=label_col, id_col=id_col, seed=seed,
                      guidelines=guidelines, progress=progress(), compare=variants, train_per_label=train_per_label,
                      skip_generator=skip_generator)
    typer.echo(format_summary(result))
    if write_cards and variants:
        from finetune.cards import add_comparison_to_cards

        for card in add_comparison_to_cards(result, variants, command=" ".join(["rag-dx", *sys.argv[1:]])):
            typer.echo(f"results -> {card}")
    typer.echo(f"wrote {out}/metrics.json, predictions.jsonl, report.md, report.html")


@cli_errors
def bench(
    out: Annotated[Path, typer.Option(help="Where bench.json and bench.md go.")] = Path("runs/bench"),
    quick: Annotated[bool, typer.Option(help="CI-sized smoke run (same JSON structure).")] = False,
    only: Annotated[list[str], typer.Option("--only", help="Run only this section (repeatable).")] = [],
    skip_ui: Annotated[bool, typer.Option(help="Skip the browser measurement.")] = False,
) -> None:
    """Benchmarks as ratios against baselines run side by side (eval/bench): build, retrieval, diagnose, UI."""
    from eval.bench import SECTIONS, run_bench
    from eval.bench.report import render

    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        raise RagDxError(f"--only: unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    data = run_bench(out=out, quick=quick, sections=list(only or SECTIONS), real_index=None, real_notes=400,
                     skip_ui=skip_ui)
    typer.echo(render(data))
    typer.echo(f"wrote {out / 'bench.json'} and {out / 'bench.md'}")
