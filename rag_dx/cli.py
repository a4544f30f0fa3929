"""The `rag-dx` command line. Each command is a typed function whose docstring is its help.

Heavy imports happen inside commands, so `rag-dx --help` is instant and nothing loads at import.
Expected failures (RagDxError) print one line naming the problem and exit with status 2; they never
echo report text.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from rag_dx.errors import RagDxError

app = typer.Typer(help="rag-dx: retrieval-augmented diagnostic decision support (for clinicians, not a replacement).",
                  no_args_is_help=True, pretty_exceptions_enable=False)
index_app = typer.Typer(help="Build and inspect indexes.", no_args_is_help=True)
models_app = typer.Typer(help="Prepare the bundled models.", no_args_is_help=True)
deid_app = typer.Typer(help="De-identification tools.", no_args_is_help=True)
feedback_app = typer.Typer(help="Clinician feedback from the UI.", no_args_is_help=True)
finetune_app = typer.Typer(help="Fine-tune the encoder and the LoRA generator.", no_args_is_help=True)
audit_app = typer.Typer(help="Audit logs (index changes, UI queries).", no_args_is_help=True)
app.add_typer(index_app, name="index")
app.add_typer(models_app, name="models")
app.add_typer(deid_app, name="deid")
app.add_typer(feedback_app, name="feedback")
app.add_typer(audit_app, name="audit")
app.add_typer(finetune_app, name="finetune")

DISCLAIMER = "Decision support for a clinician, not a diagnosis: verify against the evidence and the patient."


def _quiet_libraries(level: str) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(level=getattr(logging, level.upper(), logging.WARNING),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("presidio-analyzer", "presidio-anonymizer", "sentence_transformers", "transformers", "httpx"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    logging.getLogger("bm25s").setLevel(logging.WARNING)


def _log_progress_without_terminal() -> None:
    """Long jobs run from cron or nohup have no progress bars; give them one log line per phase/step."""
    if not sys.stderr.isatty():
        logging.getLogger("finetune").setLevel(logging.INFO)


def _settings(**overrides):
    from rag_dx.settings import load_settings

    settings = load_settings(**overrides)
    _quiet_libraries(settings.log_level)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass
    return settings


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(code=2)


def _run(fn):
    try:
        return fn()
    except RagDxError as exc:
        _fail(exc)


@app.callback()
def main(
    config: Annotated[Optional[Path], typer.Option(help="TOML settings file (default ./rag-dx.toml)")] = None,
) -> None:
    """rag-dx: ranked, cited differentials from a practice's own reports and guidelines."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # Before torch loads libgomp: spinning OpenMP threads make torch 10-20x slower on a 2-core
    # machine that is doing anything else (13 s vs 0.9 s per scoring pass, measured).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if config is not None:
        if not config.is_file():
            _fail(RagDxError(f"settings file not found: {config}"))
        os.environ["RAG_DX_CONFIG"] = str(config)


@models_app.command("prepare")
def models_prepare(force: bool = typer.Option(False, help="Redo the conversion even if cached.")) -> None:
    """Dequantize the bundled generator once into the cache (about 30 s) and check the encoder loads."""
    def go() -> None:
        from rag_dx.embed import load_encoder
        from rag_dx.models import prepare_generator

        settings = _settings()
        path = prepare_generator(settings.cache_dir, force=force)
        typer.echo(f"generator ready: {path}")
        enc = load_encoder(settings)
        typer.echo(f"encoder ready: {enc.name} (dim {enc.dim}, fingerprint {enc.fingerprint[:12]})")
    _run(go)


TextCol = Annotated[str, typer.Option("--text-col", help="Column (or JSON key) holding the report text.")]
LabelCol = Annotated[str, typer.Option("--label-col", help="Column holding the diagnosis.")]
IdCol = Annotated[str, typer.Option("--id-col", help="Column holding the report id.")]
# options both fine-tune commands take
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


def _load_inputs(reports: list[Path], guidelines: list[Path], text_col: str, label_col: str, id_col: str,
                 skip_invalid: bool):
    from rag_dx.ingest.loaders import load_guidelines, load_reports

    all_reports, all_guidelines, rejects = [], [], []
    for path in reports:
        loaded = load_reports(path, text_col=text_col, label_col=label_col, id_col=id_col, skip_invalid=skip_invalid)
        all_reports.extend(loaded.reports)
        rejects.extend(loaded.rejects)
    for path in guidelines:
        all_guidelines.extend(load_guidelines(path))
    return all_reports, all_guidelines, rejects


@index_app.command("build")
def index_build(
    name: Annotated[str, typer.Option(help="Index name (a folder under the index directory).")],
    reports: Annotated[list[Path], typer.Option("--reports", help="Reports CSV/JSONL (repeatable; .gz ok).")] = [],
    guidelines: Annotated[list[Path], typer.Option("--guidelines", help="Guidelines JSONL/MD/TXT/PDF (repeatable).")] = [],
    text_col: TextCol = "text",
    label_col: LabelCol = "diagnosis",
    id_col: IdCol = "report_id",
    skip_invalid: Annotated[bool, typer.Option(help="Index the valid rows and write the rejects next to the index.")] = False,
    index_dir: Annotated[Optional[Path], typer.Option(help="Override the index directory.")] = None,
) -> None:
    """Build a new version of an index from reports and guidelines, then switch to it.

    Every input is validated before anything is written: a bad row aborts the build with its
    file, line and field, unless --skip-invalid is given.
    """
    def go() -> None:
        from rag_dx.build import build_index

        settings = _settings(index_dir=index_dir)
        if not reports and not guidelines:
            raise RagDxError("give at least one --reports or --guidelines file")
        rep, gl, rejects = _load_inputs(reports, guidelines, text_col, label_col, id_col, skip_invalid)
        path = build_index(settings, name, rep, gl, progress=sys.stderr.isatty(),
                           sources=[str(p) for p in [*reports, *guidelines]])
        _report_version(name, path)
        _report_rejects(rejects, path)
    _run(go)


@index_app.command("update")
def index_update(
    name: Annotated[str, typer.Option(help="Index to update.")],
    reports: Annotated[list[Path], typer.Option("--reports", help="New or changed reports (repeatable).")] = [],
    guidelines: Annotated[list[Path], typer.Option("--guidelines", help="Guideline documents to add (repeatable).")] = [],
    delete: Annotated[Optional[Path], typer.Option("--delete", help="File of report/document ids to delete, one per line.")] = None,
    text_col: TextCol = "text",
    label_col: LabelCol = "diagnosis",
    id_col: IdCol = "report_id",
    skip_invalid: Annotated[bool, typer.Option(help="Apply the valid rows and list the rejects.")] = False,
    gate: Annotated[Optional[Path], typer.Option(help="Labeled file the new version must pass before it serves.")] = None,
    min_top1: Annotated[float, typer.Option(help="Top-1 accuracy the new version needs on --gate.")] = 0.0,
    index_dir: Annotated[Optional[Path], typer.Option(help="Override the index directory.")] = None,
) -> None:
    """Add new reports, replace changed ones (same report_id) and delete listed ids, as a new version.

    Only new or changed text is embedded; everything else reuses the serving version's vectors.
    """
    def go() -> None:
        from rag_dx.build import update_index

        settings = _settings(index_dir=index_dir)
        delete_ids = _read_ids(delete) if delete else []
        if not reports and not guidelines and not delete_ids:
            raise RagDxError("nothing to do: give --reports, --guidelines or --delete")
        rep, gl, rejects = _load_inputs(reports, guidelines, text_col, label_col, id_col, skip_invalid)
        path = update_index(settings, name, rep, delete_ids=delete_ids, guidelines=gl,
                            progress=sys.stderr.isatty(), sources=[str(p) for p in [*reports, *guidelines]],
                            switch=gate is None)
        _report_version(name, path)
        if gate is not None:
            _gate_and_switch(settings, name, path, gate, min_top1, text_col, label_col, id_col)
        _report_rejects(rejects, path)
    _run(go)


@index_app.command("rebuild")
def index_rebuild(
    name: Annotated[str, typer.Option(help="Index to re-embed.")],
    gate: Annotated[Optional[Path], typer.Option(help="Labeled file the new version must pass before it serves.")] = None,
    min_top1: Annotated[float, typer.Option(help="Top-1 accuracy the new version needs on --gate.")] = 0.0,
    text_col: TextCol = "text",
    label_col: LabelCol = "diagnosis",
    id_col: IdCol = "report_id",
    index_dir: Annotated[Optional[Path], typer.Option(help="Override the index directory.")] = None,
) -> None:
    """Re-embed every chunk of the serving version with the configured encoder (e.g. after fine-tuning)."""
    def go() -> None:
        from rag_dx.build import rebuild_index

        settings = _settings(index_dir=index_dir)
        path = rebuild_index(settings, name, progress=sys.stderr.isatty(), switch=gate is None)
        _report_version(name, path)
        if gate is not None:
            _gate_and_switch(settings, name, path, gate, min_top1, text_col, label_col, id_col)
    _run(go)


@index_app.command("rollback")
def index_rollback(
    name: Annotated[str, typer.Option(help="Index to roll back.")],
    to: Annotated[str, typer.Option("--to", help="Version to serve, e.g. v0003.")],
    index_dir: Annotated[Optional[Path], typer.Option(help="Override the index directory.")] = None,
) -> None:
    """Serve an earlier (or later) version again; it is verified before the switch."""
    def go() -> None:
        from rag_dx.index.reader import open_version
        from rag_dx.index.store import IndexStore

        settings = _settings(index_dir=index_dir)
        store = IndexStore(settings.index_dir, name)
        enc_name, fingerprint = _encoder_identity(settings)
        with store.writer_lock():
            path = store.version_dir(to)
            open_version(store, path, encoder_name=enc_name, encoder_fingerprint=fingerprint)
            store.switch(path.name)
        typer.echo(f"index '{name}' now serves {to}")
    _run(go)


@index_app.command("verify")
def index_verify(
    name: Annotated[str, typer.Option(help="Index to verify.")],
    all_versions: Annotated[bool, typer.Option("--all", help="Verify every version, not only the serving one.")] = False,
    index_dir: Annotated[Optional[Path], typer.Option(help="Override the index directory.")] = None,
) -> None:
    """Check checksums, counts, dimension and encoder match; exit 1 if anything is wrong."""
    def go() -> None:
        from rag_dx.errors import IndexCorruptError, IndexMismatchError
        from rag_dx.index.reader import open_version
        from rag_dx.index.store import IndexStore

        settings = _settings(index_dir=index_dir)
        store = IndexStore(settings.index_dir, name)
        enc_name, fingerprint = _encoder_identity(settings)
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
    _run(go)


@index_app.command("gc")
def index_gc(
    name: Annotated[str, typer.Option(help="Index to clean.")],
    keep: Annotated[int, typer.Option(help="Newest versions to keep (the serving one is always kept).")] = 3,
    index_dir: Annotated[Optional[Path], typer.Option(help="Override the index directory.")] = None,
) -> None:
    """Remove leftover partial builds and old versions."""
    def go() -> None:
        from rag_dx.index.store import IndexStore

        settings = _settings(index_dir=index_dir)
        store = IndexStore(settings.index_dir, name)
        with store.writer_lock():
            removed = store.gc(keep)
        typer.echo(f"removed {len(removed)}: {', '.join(removed) if removed else 'nothing'}")
    _run(go)


def _gate_and_switch(settings, name: str, path: Path, gate: Path, min_top1: float, text_col: str,
                     label_col: str, id_col: str) -> None:
    """Evaluate an unserved version on a labeled file; switch to it only if it reaches min_top1."""
    from eval.gate import version_top1
    from rag_dx.index.store import IndexStore

    top1, n = version_top1(settings, name, path.name, gate, text_col=text_col, label_col=label_col, id_col=id_col,
                           progress=sys.stderr.isatty())
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


def _encoder_identity(settings) -> tuple[str, str]:
    """(name, fingerprint) of the configured encoder and backend, without loading the model."""
    from rag_dx.embed import encoder_identity

    return encoder_identity(settings.encoder, settings.encoder_backend)


def _read_ids(path: Path) -> list[str]:
    if not path.is_file():
        raise RagDxError(f"{path}: file not found")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _report_version(name: str, path: Path) -> None:
    manifest = json.loads((path / "manifest.json").read_text())
    c = manifest["counts"]
    typer.echo(f"index '{name}' version {manifest['version']}: {c['reports']} reports, "
               f"{c['guidelines']} guideline documents, {c['chunks']} chunks "
               f"({manifest.get('embedded_chunks', c['chunks'])} embedded) -> {path}")


def _report_rejects(rejects: list, version_dir: Path) -> None:
    """List skipped rows on stderr and in a rejects file beside the version (reasons, never values)."""
    if not rejects:
        return
    out = version_dir.parent.parent / f"rejects-{version_dir.name}.txt"
    out.write_text("".join(f"{err}\n" for err in rejects), encoding="utf-8")
    typer.echo(f"skipped {len(rejects)} invalid rows (listed in {out}):", err=True)
    for err in rejects[:20]:
        typer.echo(f"  {err}", err=True)


@index_app.command("list")
def index_list(
    index_dir: Annotated[Optional[Path], typer.Option(help="Override the index directory.")] = None,
) -> None:
    """List indexes and their versions (the serving one marked with *)."""
    def go() -> None:
        from rag_dx.index.store import IndexStore

        settings = _settings(index_dir=index_dir)
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
    _run(go)


def _format_differential(result) -> str:
    lines = [f"rag-dx differential  ({DISCLAIMER})", ""]
    if result.abstained:
        lines.append(f"ABSTAINED: insufficient evidence - {result.abstain_reason}")
        lines.append("The candidates below are shown for transparency only.")
        lines.append("")
    for rank, dx in enumerate(result.differential, start=1):
        code = f" [{dx.icd10}]" if dx.icd10 else ""
        lines.append(f"{rank:>2}. {dx.diagnosis}{code}  p={dx.probability:.2f}")
        lines.append(f"     cites: {', '.join(dx.evidence) if dx.evidence else '(no evidence)'}")
    lines.append("")
    lines.append("Evidence:")
    for ev in result.evidence:
        label = f" | {ev.label}" if ev.label else ""
        lines.append(f"  [{ev.id}] {ev.kind}: {ev.title}{label}  (score {ev.score:.4f})")
        snippet = " ".join(ev.text.split())
        lines.append(f"      {snippet[:220]}{'...' if len(snippet) > 220 else ''}")
    v = result.versions
    lines.append("")
    lines.append(f"versions: index={v.index} encoder={v.encoder} generator={v.generator} adapter={v.adapter}")
    lines.append(f"time: {result.timings_ms.get('total_ms', 0):.0f} ms")
    return "\n".join(lines)


@app.command()
def diagnose(
    text: Annotated[str, typer.Argument(help="The case description (use '-' to read it from stdin).")],
    index: Annotated[Optional[str], typer.Option(help="Index name (default: settings.index_name).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full result as JSON.")] = False,
    index_dir: Annotated[Optional[Path], typer.Option(help="Override the index directory.")] = None,
) -> None:
    """Rank diagnoses for a case description, each with the evidence that supports it."""
    def go() -> None:
        from rag_dx.diagnose import build_assistant

        settings = _settings(index_dir=index_dir)
        case = sys.stdin.read() if text == "-" else text
        assistant = build_assistant(settings, index)
        result = assistant.diagnose(case)
        if as_json:
            typer.echo(result.model_dump_json(indent=2))
        else:
            typer.echo(_format_differential(result))
    _run(go)


@app.command()
def demo(
    case: Annotated[Optional[str], typer.Option(help="Case to diagnose (default: the bundled sample case).")] = None,
    rebuild: Annotated[bool, typer.Option(help="Rebuild the demo index even if it exists.")] = False,
) -> None:
    """Prepare the bundled models, build the demo index if missing, and diagnose a sample case."""
    def go() -> None:
        from rag_dx.demo import SAMPLE_CASE, build_demo_guidelines, demo_reports_path
        from rag_dx.diagnose import build_assistant
        from rag_dx.build import build_index
        from rag_dx.index.store import IndexStore
        from rag_dx.ingest.loaders import load_guidelines, load_reports
        from rag_dx.models import prepare_generator

        settings = _settings()
        prepare_generator(settings.cache_dir)
        name = settings.index_name
        if rebuild or IndexStore(settings.index_dir, name).current_version() is None:
            typer.echo(f"building the demo index '{name}' in {settings.index_dir} ...", err=True)
            guideline_file = build_demo_guidelines(Path(settings.cache_dir) / "demo" / "guidelines.jsonl")
            reports = load_reports(demo_reports_path()).reports
            build_index(settings, name, reports, load_guidelines(guideline_file),
                        sources=[str(demo_reports_path()), str(guideline_file)])
        assistant = build_assistant(settings, name)
        sample = case or SAMPLE_CASE
        typer.echo(f"case: {sample}\n")
        typer.echo(_format_differential(assistant.diagnose(sample)))
    _run(go)


@app.command("eval")
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
    index_dir: Annotated[Optional[Path], typer.Option(help="Override the index directory.")] = None,
    compare_encoder: Annotated[Optional[Path], typer.Option(help="Also evaluate this (fine-tuned) encoder on the same split, paired with the configured one.")] = None,
    compare_adapter: Annotated[Optional[Path], typer.Option(help="Also evaluate this LoRA adapter (with its calibration) on the same split.")] = None,
    write_cards: Annotated[bool, typer.Option(help="Write the comparison into the compared models' cards (README.md).")] = False,
) -> None:
    """Evaluate rag-dx on labeled reports: top-k, F1, calibration, per-class, ablations and plots.

    Give exactly one of --index, --holdout or --cv. Duplicate and near-duplicate texts (and one
    patient's reports) never straddle a split. --compare-encoder / --compare-adapter add the
    fine-tuned models on the same split and report base vs fine-tuned, paired, case by case.
    """
    def go() -> None:
        from eval.run import compare_variants, format_summary, run_eval

        settings = _settings(index_dir=index_dir)
        variants = compare_variants(compare_encoder, compare_adapter)
        if write_cards and not variants:
            raise RagDxError("--write-cards needs --compare-encoder or --compare-adapter")
        result = run_eval(settings, labeled=labeled, out=out, index=index, holdout=holdout, cv=cv,
                          split_by=split_by, ablations=ablations, text_col=text_col, label_col=label_col,
                          id_col=id_col, seed=seed, guidelines=guidelines, progress=sys.stderr.isatty(),
                          compare=variants)
        typer.echo(format_summary(result))
        if write_cards and variants:
            from finetune.cards import add_comparison_to_cards

            for card in add_comparison_to_cards(result, variants, command=" ".join(["rag-dx", *sys.argv[1:]])):
                typer.echo(f"results -> {card}")
        typer.echo(f"wrote {out}/metrics.json, predictions.jsonl, report.md, report.html")
    _run(go)


@app.command()
def bench(
    out: Annotated[Path, typer.Option(help="Where bench.json and bench.md go.")] = Path("runs/bench"),
    quick: Annotated[bool, typer.Option(help="CI-sized smoke run (same JSON structure).")] = False,
    only: Annotated[list[str], typer.Option("--only", help="Run only this section (repeatable).")] = [],
    skip_ui: Annotated[bool, typer.Option(help="Skip the browser measurement.")] = False,
) -> None:
    """Benchmarks as ratios against baselines run side by side (eval/bench): build, retrieval, diagnose, UI."""
    def go() -> None:
        from eval.bench import SECTIONS, run_bench
        from eval.bench.report import render

        unknown = sorted(set(only) - set(SECTIONS))
        if unknown:
            raise RagDxError(f"--only: unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
        data = run_bench(out=out, quick=quick, sections=list(only or SECTIONS), real_index=None, real_notes=400,
                         skip_ui=skip_ui)
        typer.echo(render(data))
        typer.echo(f"wrote {out / 'bench.json'} and {out / 'bench.md'}")
    _run(go)


@app.command()
def ui(
    index: Annotated[Optional[str], typer.Option(help="Index name (default: settings.index_name).")] = None,
    host: Annotated[str, typer.Option(help="Bind address; anything but loopback needs --auth-file or RAG_DX_UI_USERS.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 7860,
    auth_file: Annotated[Optional[Path], typer.Option("--auth-file", help="Users file of 'username:scrypt$...' lines (python -m ui.auth add-user FILE USER).")] = None,
) -> None:
    """Serve the clinician's chat UI until Ctrl-C (decision support for clinicians, not a replacement)."""
    def go() -> None:
        from ui.commands import launch_ui

        launch_ui(_settings(), index, host, port, auth_file)
    _run(go)


@feedback_app.command("export")
def feedback_export(
    out: Annotated[Path, typer.Option("--out", help="Output file.")],
    fmt: Annotated[str, typer.Option("--format", help="csv or jsonl.")] = "csv",
) -> None:
    """Write the (text, diagnosis) pairs clinicians confirmed in the UI as a reports file."""
    def go() -> None:
        from ui.commands import export_feedback

        n = export_feedback(_settings(), out, fmt)
        typer.echo(f"{n} training pairs -> {out}")
    _run(go)


@finetune_app.command("encoder")
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
    def go() -> None:
        from finetune.commands import finetune_encoder

        _log_progress_without_terminal()

        path = finetune_encoder(_settings(), reports, guidelines, out, recipe, text_col, label_col, id_col,
                                holdout=holdout, holdout_seed=holdout_seed, seed=seed, max_steps=max_steps,
                                resume=resume, overwrite=overwrite, progress=sys.stderr.isatty())
        typer.echo(f"encoder -> {path} (set RAG_DX_ENCODER={path}, then `rag-dx index rebuild`)")
    _run(go)


@finetune_app.command("generator")
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
    def go() -> None:
        from finetune.commands import finetune_generator

        _log_progress_without_terminal()

        path = finetune_generator(_settings(), reports, index, out, recipe, text_col, label_col, id_col, merge,
                                  search, holdout=holdout, holdout_seed=holdout_seed, seed=seed, max_steps=max_steps,
                                  augment=augment, resume=resume, overwrite=overwrite, progress=sys.stderr.isatty())
        typer.echo(f"adapter -> {path} (set RAG_DX_ADAPTER={path})")
    _run(go)


@audit_app.command("verify")
def audit_verify(
    path: Annotated[Optional[Path], typer.Argument(help="An audit.jsonl file (default: the index's log).")] = None,
    name: Annotated[Optional[str], typer.Option("--name", help="Verify this index's change log.")] = None,
    index_dir: Annotated[Optional[Path], typer.Option(help="Override the index directory.")] = None,
) -> None:
    """Check an append-only audit log's hash chain; exit 1 at the first edited, missing or torn record."""
    def go() -> None:
        from rag_dx.audit import verify
        from rag_dx.index.store import AUDIT, IndexStore

        if path is None and name is None:
            raise RagDxError("give an audit log file or --name INDEX")
        target = path or IndexStore(_settings(index_dir=index_dir).index_dir, name).root / AUDIT
        result = verify(target)
        if result.ok:
            typer.echo(f"ok: {result.records} records, head {result.head}")
        else:
            typer.echo(f"FAIL {target}: {result.error} (line {result.line})")
            raise typer.Exit(code=1)
    _run(go)


@deid_app.command("check")
def deid_check(
    file: Annotated[Path, typer.Argument(help="A reports CSV/JSONL or a plain text file.")],
    text_col: TextCol = "text",
) -> None:
    """Show what de-identification would redact (entity types and positions, never the values)."""
    def go() -> None:
        from rag_dx.ingest.deid import Deidentifier
        from rag_dx.ingest.loaders import load_reports

        _settings()
        deid = Deidentifier.load()
        if file.suffix.lower() in {".txt", ".md"}:
            items = [(f"{file}", file.read_text(encoding="utf-8"))]
        else:
            items = [(f"{file}:{r.line}", r.text) for r in load_reports(file, text_col=text_col).reports]
        total = 0
        for where, body in items:
            found = deid.find(body)
            total += len(found)
            if found:
                summary = ", ".join(f"{kind}@{start}-{end}" for kind, start, end in found)
                typer.echo(f"{where}: {summary}")
        typer.echo(f"{total} spans would be redacted in {len(items)} texts")
    _run(go)


if __name__ == "__main__":  # pragma: no cover
    app()
