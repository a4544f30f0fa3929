"""The two fine-tuning commands as plain typed functions (the CLI wires them to Typer).

``rag-dx finetune encoder``  -> :func:`finetune_encoder`
``rag-dx finetune generator`` -> :func:`finetune_generator`

A practice's retrain loop (the README's "Fine-tuning" section has it with measured results)::

    rag-dx finetune encoder --reports reports.csv --holdout 0.2 --out models/encoder-v2
    RAG_DX_ENCODER=models/encoder-v2 rag-dx index build --name practice-v2 --reports reports.csv
    RAG_DX_ENCODER=models/encoder-v2 rag-dx finetune generator --reports reports.csv --index practice-v2 \\
        --holdout 0.2 --out models/lora-v2
    rag-dx eval --labeled reports.csv --holdout 0.2 --ablations --compare-encoder models/encoder-v2 \\
        --compare-adapter models/lora-v2 --write-cards --out runs/finetune

``--holdout F --holdout-seed S`` on both commands leaves out exactly the test part that
``rag-dx eval --holdout F --seed S`` will test on (and keeps it out of the generator's retrieval),
so the evaluation after a fine-tune stays leakage-free.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import tomllib
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag_dx.settings import Settings

log = logging.getLogger(__name__)

RECIPES_DIR = Path(__file__).resolve().parent / "recipes"


def default_recipe(device: str) -> Path:
    """``recipes/gpu.toml`` on CUDA, else ``recipes/cpu.toml``."""
    return RECIPES_DIR / ("gpu.toml" if device.startswith("cuda") else "cpu.toml")


def load_recipe(path: Path | str | None, device: str = "cpu") -> tuple[Path, dict[str, Any]]:
    """Read a recipe TOML (default: by device). Unknown tables are refused with their names."""
    from rag_dx.errors import ConfigError

    p = Path(path) if path else default_recipe(device)
    if not p.is_file() and path and (RECIPES_DIR / f"{path}.toml").is_file():
        p = RECIPES_DIR / f"{path}.toml"  # "cpu" / "gpu" name the bundled recipes
    if not p.is_file():
        raise ConfigError(f"recipe file not found: {p} (bundled: {', '.join(x.stem for x in RECIPES_DIR.glob('*.toml'))})")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: {exc}") from None
    unknown = sorted(set(data) - {"encoder", "generator", "calibration", "search"})
    if unknown:
        raise ConfigError(f"{p}: unknown table(s) {', '.join(unknown)}; expected encoder, generator, calibration, search")
    return p, data


def _recipe(cls: Any, values: dict[str, Any], path: Path) -> Any:
    from rag_dx.errors import ConfigError

    try:
        return cls.from_dict(values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _fresh_out(out: Path, overwrite: bool) -> None:
    from rag_dx.errors import ConfigError

    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ConfigError(f"{out} exists and is not empty; choose a new --out (models are versioned by directory) "
                          "or pass --overwrite")


def _configure_threads(settings: "Settings") -> None:
    import torch

    torch.set_num_threads(settings.resolved_threads())


# ============================================================================ encoder
def finetune_encoder(
    settings: "Settings",
    reports: list[Path],
    guidelines: list[Path],
    out: Path,
    recipe: Path | None = None,
    text_col: str = "text",
    label_col: str = "diagnosis",
    id_col: str = "report_id",
    *,
    holdout: float | None = None,
    holdout_seed: int = 0,
    seed: int | None = None,
    max_steps: int | None = None,
    checkpoint_dir: Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Fine-tune the retrieval encoder on labeled reports (and optional public clinical text).

    Starts from the configured encoder (``settings.encoder``, default the bundled MiniLM). Pairs:
    case <-> same-diagnosis case, case <-> diagnosis description (ICD-10-CM title), and question
    <-> answer / title <-> passage from ``guidelines`` (MedQuAD JSONL and every other format
    ``rag-dx index build --guidelines`` reads). A group-safe validation part of the reports is the
    query set of an InformationRetrievalEvaluator run before and after training.

    Args:
        reports: labeled report files (CSV/TSV/JSONL, optionally .gz).
        guidelines: optional public text files.
        out: the new model directory (sentence-transformers layout + README.md model card +
            rag_dx_training.json + loss_log.jsonl; no pickled files).
        recipe: TOML file, or "cpu"/"gpu"; default by device (``finetune/recipes/``).
        holdout, holdout_seed: leave out the test part of ``rag-dx eval --holdout`` (same split).
        seed, max_steps: override the recipe.
        checkpoint_dir, resume: keep trainer checkpoints there and continue from the last one.

    Returns:
        ``out``.

    Example:
        >>> finetune_encoder(load_settings(), [Path("reports.csv")], [], Path("models/enc-v1"))  # doctest: +SKIP
    """
    from finetune.cards import encoder_card, write_card, write_manifest
    from finetune.encoder import EncoderRecipe, build_ir_evaluator, build_pairs, train_encoder
    from finetune.pairs import drop_eval_holdout, load_labeled, validation_split
    from rag_dx.ingest.loaders import load_guidelines
    from rag_dx.models import bundled_encoder_dir

    out = Path(out)
    _fresh_out(out, overwrite)
    device = settings.resolved_device()
    recipe_path, raw = load_recipe(recipe, device)
    r: EncoderRecipe = _recipe(EncoderRecipe, raw.get("encoder", {}), recipe_path)
    r = replace(r, **{k: v for k, v in {"seed": seed, "max_steps": max_steps}.items() if v is not None})
    _configure_threads(settings)

    loaded = load_labeled(reports, text_col=text_col, label_col=label_col, id_col=id_col)
    data, test_ids = drop_eval_holdout(loaded, holdout, holdout_seed) if holdout else (loaded, set())
    train, val = validation_split(data, r.val_fraction, r.seed)
    gls = [g for path in guidelines for g in load_guidelines(path)]
    vocabulary = None
    if r.description_pairs:
        from rag_dx.vocab import Vocabulary

        vocabulary = Vocabulary.load()
    pairs = build_pairs(train, r, guidelines=gls, vocabulary=vocabulary)
    evaluator = build_ir_evaluator(val, train) if len(val) else None
    base_dir = Path(settings.encoder) if settings.encoder else bundled_encoder_dir()
    summary = train_encoder(base_dir, pairs, out, r, evaluator=evaluator, device=device,
                            checkpoint_dir=checkpoint_dir, resume=resume, progress=progress)
    manifest = _encoder_manifest(out.name, settings, base_dir, device, recipe_path, r.seed, data, len(loaded),
                                 test_ids, {"fraction": holdout, "seed": holdout_seed} if holdout else None,
                                 train, val, guidelines, len(gls), summary)
    write_manifest(out, manifest)
    write_card(out, encoder_card(manifest))
    return out


def _encoder_manifest(name: str, settings: "Settings", base_dir: Path, device: str, recipe_path: Path, seed: int,
                      data: Any, n_loaded: int, test_ids: set[str], holdout: dict[str, Any] | None, train: Any,
                      val: Any, guidelines: list[Path], n_passages: int, summary: dict[str, Any]) -> dict[str, Any]:
    from finetune.cards import base_manifest
    from rag_dx.models import BUNDLED_ENCODER_NAME, dir_fingerprint

    base_name = base_dir.name if settings.encoder else f"bundled:{BUNDLED_ENCODER_NAME}"
    return base_manifest("rag-dx fine-tuned encoder", seed) | {
        "name": name,
        "base_model": {"name": base_name, "path": str(base_dir), "fingerprint": dir_fingerprint(base_dir)},
        "device": device,
        "recipe_file": recipe_path.name,
        "data": {
            "sources": data.sources,
            "fingerprint": data.fingerprint(),
            "n_reports_loaded": n_loaded,
            "n_excluded_holdout": len(test_ids),
            "holdout": holdout,
            "n_train_reports": len(train),
            "n_validation_reports": len(val),
            "n_labels": len(set(data.labels)),
            "guideline_sources": [Path(g).name for g in guidelines],
            "n_guideline_passages": n_passages,
        },
        "training": summary,
    }


# ============================================================================ generator
def finetune_generator(
    settings: "Settings",
    reports: list[Path],
    index: str,
    out: Path,
    recipe: Path | None = None,
    text_col: str = "text",
    label_col: str = "diagnosis",
    id_col: str = "report_id",
    merge: bool = False,
    search: bool = False,
    *,
    holdout: float | None = None,
    holdout_seed: int = 0,
    seed: int | None = None,
    max_steps: int | None = None,
    augment: bool | None = None,
    calibrate: bool | None = None,
    merged_out: Path | None = None,
    checkpoint_dir: Path | None = None,
    resume: bool = False,
    keep_checkpoints: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    encoder: Any | None = None,
) -> Path:
    """Train a LoRA adapter for the generator on the diagnosis prompt, then calibrate it.

    For every labeled report, the evidence is what ``diagnose`` would retrieve from index
    ``index`` with the report itself and its duplicates (and, with ``holdout``, the evaluation
    test part) excluded; the prompt is ``HFGenerator.build_prompt(case, evidence)`` and the target
    the report's diagnosis. A group-safe validation part is scored through ``diagnose`` before and
    after training and fits the temperature stored as ``rag_dx_calibration.json``.

    Args:
        reports: labeled report files; their report ids must be the ones in ``index``
            (build the index from the same files).
        index: name of the index to retrieve evidence from (built with ``settings.encoder``).
        out: the new adapter directory: adapter_config.json, adapter_model.safetensors,
            README.md (model card), rag_dx_training.json, loss_log.jsonl,
            rag_dx_calibration.json. Nothing pickled.
        recipe: TOML file, or "cpu"/"gpu"; default by device.
        merge: also save base + adapter merged into a full model directory (``merged_out``,
            default ``<out>-merged``), usable as ``generator = ...`` without peft.
        search: first run the recipe's [search] grid (learning rate x rank, short runs) and
            train with the best by the validation metric.
        holdout, holdout_seed: leave out the test part of ``rag-dx eval --holdout``.
        seed, max_steps, augment, calibrate: override the recipe.
        checkpoint_dir: where checkpoints go (default ``<out>.checkpoints``); ``resume`` continues
            from the latest one; they are deleted after success unless ``keep_checkpoints``.
        encoder: an already loaded encoder (tests); default the configured one.

    Returns:
        ``out``.

    Example:
        >>> finetune_generator(load_settings(), [Path("reports.csv")], "clinic", Path("models/lora-v1"))  # doctest: +SKIP
    """
    from finetune.cards import adapter_card, write_card, write_manifest
    from rag_dx.staging import staged_directory

    out = Path(out)
    _fresh_out(out, overwrite)
    run = _setup_generator(settings, reports, index, recipe, text_col=text_col, label_col=label_col, id_col=id_col,
                           holdout=holdout, holdout_seed=holdout_seed, overrides={"seed": seed, "max_steps": max_steps,
                           "augment": augment}, calibrate=calibrate, encoder=encoder, progress=progress)
    run.ckpt_dir = Path(checkpoint_dir) if checkpoint_dir else out.with_name(out.name + ".checkpoints")
    run.holdout = {"fraction": holdout, "seed": holdout_seed} if holdout else None
    # the base generator as it serves today (the settings' scoring)
    log.info("validating the base generator on %d cases", len(run.val_cases))
    before = _validate(run, run.base.model, ("generator",), tuned=False).metrics if run.val_cases else {}
    log.info("base generator: %s", before)
    merged_dir = (Path(merged_out) if merged_out else out.with_name(out.name + "-merged")) if merge else None
    with staged_directory(out) as tmp:
        model, result, trials = _fit_generator(run, tmp, search=search, resume=resume, progress=progress)
        after, calibration = _validate_and_calibrate(run, model, tmp, index)
        manifest = _generator_manifest(run, out.name, index, result, trials, before, after, calibration)
        if merged_dir is not None:
            manifest["merged_model"] = str(merged_dir)
        write_manifest(tmp, manifest)
        write_card(tmp, adapter_card(manifest))
    if merged_dir is not None:
        _write_merged(model, run.base.tokenizer, out, merged_dir, overwrite)
    if not keep_checkpoints:
        shutil.rmtree(run.ckpt_dir, ignore_errors=True)
    return out


@dataclass
class _GeneratorRun:
    """What fine-tuning the generator set up: recipes, data, evidence, the base model."""

    settings: "Settings"
    tuned_settings: "Settings"    # the settings with the scoring (generator_pmi) the adapter is for
    recipe: Any                   # GeneratorRecipe
    calibration: Any              # CalibrationRecipe
    search: Any                   # SearchRecipe
    recipe_path: Path
    pmi: bool
    device: str
    loaded: Any                   # LabeledReports as loaded
    test_ids: set[str]
    train: Any
    val: Any
    exclude: dict[str, set[str]]
    assistant: Any                # the index's assistant, without a generator
    index_version: str
    train_cases: list[Any]
    val_cases: list[Any]
    label_names: list[str]
    base: Any                     # the base HFGenerator
    base_dir: Path
    progress: bool
    ckpt_dir: Path = Path()
    holdout: dict[str, Any] | None = None


def _recipes(settings: "Settings", recipe: Path | None, overrides: dict[str, Any],
             calibrate: bool | None) -> tuple[Path, Any, Any, Any]:
    from finetune.calibrate import CalibrationRecipe
    from finetune.generator_recipe import GeneratorRecipe, SearchRecipe

    recipe_path, raw = load_recipe(recipe, settings.resolved_device())
    r = _recipe(GeneratorRecipe, raw.get("generator", {}), recipe_path)
    cal = _recipe(CalibrationRecipe, raw.get("calibration", {}), recipe_path)
    sr = _recipe(SearchRecipe, raw.get("search", {}), recipe_path)
    r = replace(r, **{k: v for k, v in overrides.items() if v is not None})
    if calibrate is not None:
        cal = replace(cal, enabled=calibrate)
    return recipe_path, r, cal, sr


def _setup_generator(settings: "Settings", reports: list[Path], index: str, recipe: Path | None, *, text_col: str,
                     label_col: str, id_col: str, holdout: float | None, holdout_seed: int,
                     overrides: dict[str, Any], calibrate: bool | None, encoder: Any,
                     progress: bool) -> _GeneratorRun:
    """Recipes, the labeled data and its group-safe split, each case's evidence, the base model."""
    from finetune.pairs import drop_eval_holdout, exclusion_map, load_labeled, retrieve_cases, validation_split
    from rag_dx.diagnose import build_assistant
    from rag_dx.errors import ConfigError
    from rag_dx.generate import HFGenerator
    from rag_dx.labels import unique_labels
    from rag_dx.models import prepared_generator_dir

    recipe_path, r, cal, sr = _recipes(settings, recipe, overrides, calibrate)
    _configure_threads(settings)
    ds = settings.diagnosis
    pmi = ds.generator_pmi if r.generator_pmi is None else r.generator_pmi
    tuned = settings.model_copy(update={"diagnosis": ds.model_copy(update={"generator_pmi": pmi})})
    loaded = load_labeled(reports, text_col=text_col, label_col=label_col, id_col=id_col)
    data, test_ids = (drop_eval_holdout(loaded, holdout, holdout_seed) if holdout else (loaded, set()))
    train, val = validation_split(data, r.val_fraction, r.seed)
    exclude = exclusion_map(loaded, extra=test_ids)
    assistant = build_assistant(settings, index, encoder=encoder, load_generator=False, load_vocabulary=False)
    if assistant.retriever is None:
        raise ConfigError(f"index '{index}' could not be opened")
    index_version = assistant.retriever.index.version_id
    log.info("retrieving evidence for %d training and %d validation reports from %s", len(train), len(val),
             index_version)
    train_cases = retrieve_cases(assistant, train, exclude, progress=progress, desc="evidence (train)")
    val_cases = retrieve_cases(assistant, val, exclude, progress=progress, desc="evidence (validation)")
    device = settings.resolved_device()
    base_dir = Path(settings.generator) if settings.generator else prepared_generator_dir(settings.cache_dir)
    base = HFGenerator.load(settings.generator, cache_dir=settings.cache_dir, adapter=None, device=device)
    return _GeneratorRun(settings, tuned, r, cal, sr, recipe_path, pmi, device, loaded, test_ids, train, val, exclude,
                         assistant, index_version, train_cases, val_cases, unique_labels(train.labels), base,
                         base_dir, progress)


def _validate(run: _GeneratorRun, model: Any, modes: tuple[str, ...], tuned: bool = True) -> Any:
    """Validation through diagnose with ``model`` scoring, with the scoring the adapter is for (or the base's)."""
    from finetune.generator import training_generator
    from finetune.validation import validate

    assistant = run.assistant.with_generator(training_generator(run.base, model),
                                             settings=run.tuned_settings if tuned else run.settings)
    return validate(assistant, run.val_cases, run.label_names, run.exclude, modes=modes,
                    limit=run.recipe.eval_val_limit, progress=run.progress)


def _train(run: _GeneratorRun, model: Any, recipe: Any, log_path: Path, **kwargs: Any) -> Any:
    from finetune.generator import train_adapter

    ds = run.settings.diagnosis
    return train_adapter(run.base, model, run.train_cases, recipe, evidence_chars=ds.evidence_chars,
                         log_path=log_path, progress=run.progress, labels=run.label_names, pmi=run.pmi,
                         temperature=ds.temperature, **kwargs)


def _fit_generator(run: _GeneratorRun, tmp: Path, *, search: bool, resume: bool,
                   progress: bool) -> tuple[Any, Any, list[dict[str, Any]]]:
    """The optional recipe search, then the LoRA training of the chosen recipe; saves the adapter into ``tmp``."""
    from finetune.generator import LOSS_LOG, load_base_model, save_adapter, wrap_lora
    from finetune.generator_recipe import run_search
    from rag_dx.errors import ConfigError

    r, trials = run.recipe, []
    if search:
        if not run.val_cases:
            raise ConfigError("--search needs a validation part (recipe val_fraction > 0 and enough reports)")

        def fit(model: Any, trial: Any, steps: int) -> None:
            with tempfile.TemporaryDirectory() as scratch:
                _train(run, model, trial, Path(scratch) / LOSS_LOG, max_steps=steps)

        def metric(model: Any) -> dict[str, float]:
            modes = ("generator", "full") if run.search.metric == "val_full_top1" else ("generator",)
            return _validate(run, model, modes).metrics

        r, trials = run_search(lambda trial: wrap_lora(load_base_model(run.base_dir, run.device), trial), fit,
                               metric, r, run.search)
        run.recipe = r
    model = wrap_lora(load_base_model(run.base_dir, run.device), r)
    fingerprints = {"data_fingerprint": run.train.fingerprint(), "base_fingerprint": run.base.fingerprint}
    result = _train(run, model, r, tmp / LOSS_LOG, checkpoint_dir=run.ckpt_dir, resume=resume,
                    fingerprints=fingerprints)
    save_adapter(model, tmp)
    return model, result, trials


def _validate_and_calibrate(run: _GeneratorRun, model: Any, tmp: Path,
                            index: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Score the adapter on the validation part; fit and write its temperature (``rag_dx_calibration.json``)."""
    from finetune.calibrate import fit_from_validation, write_calibration

    if not run.val_cases:
        return {}, None
    log.info("validating the adapter on %d cases", len(run.val_cases))
    model.merge_adapter()  # validation speed; the saved adapter is unaffected
    try:
        v = _validate(run, model, ("generator", "full"))
    finally:
        model.unmerge_adapter()
    if not (run.calibration.enabled and v.full_probs):
        return v.metrics, None
    ds, enc = run.settings.diagnosis, run.assistant.encoder
    temperature, report = fit_from_validation(v.full_names, v.full_probs, v.golds)
    fitted_on = {"validation_cases": len(v.golds), "mode": run.calibration.mode, "index": index,
                 "index_version": run.index_version, "encoder": f"{enc.name}@{enc.fingerprint[:12]}",
                 "generator_weight": ds.generator_weight, "generator_temperature": ds.temperature}
    write_calibration(tmp, temperature, validation=report, fitted_on=fitted_on, generator_pmi=run.pmi)
    log.info("calibration: T=%.4f, validation ECE %.4f -> %.4f", temperature, report["before"]["ece"],
             report["after"]["ece"])
    return v.metrics, {"temperature": temperature, "validation": report, "fitted_on": fitted_on}


def _generator_manifest(run: _GeneratorRun, name: str, index: str, result: Any, trials: list[dict[str, Any]],
                        before: dict[str, Any], after: dict[str, Any],
                        calibration: dict[str, Any] | None) -> dict[str, Any]:
    from finetune.cards import base_manifest

    r, ds, base, enc = run.recipe, run.settings.diagnosis, run.base, run.assistant.encoder
    return base_manifest("rag-dx LoRA adapter", r.seed) | {
        "name": name,
        "base_model": {"name": base.name, "path": str(run.base_dir), "fingerprint": base.fingerprint},
        "device": run.device,
        "recipe_file": run.recipe_path.name,
        "recipe": asdict(r),
        "index": {"name": index, "version": run.index_version,
                  "encoder": {"name": enc.name, "fingerprint": enc.fingerprint}},
        "prompt": {"builder": "rag_dx.generate.HFGenerator.build_prompt", "prompt_evidence": ds.prompt_evidence,
                   "evidence_chars": ds.evidence_chars, "max_case_tokens": base.max_case_tokens,
                   "target": "' ' + diagnosis + eos_token", "generator_pmi": run.pmi,
                   "loss": f"{r.lm_loss_weight} x mean NLL of the target tokens + {r.rank_loss_weight} x "
                           "cross-entropy of the gold among candidates scored as diagnose scores them"},
        "data": {
            "sources": run.loaded.sources,
            "fingerprint": run.train.fingerprint(),
            "n_reports_loaded": len(run.loaded),
            "n_excluded_holdout": len(run.test_ids),
            "holdout": run.holdout,
            "n_train_reports": len(run.train),
            "n_validation_reports": len(run.val),
            "n_labels": len(run.label_names),
            "labels": run.label_names,
            "cases_without_evidence": sum(1 for c in run.train_cases if not c.hits),
        },
        "training": {"steps": result.steps, "examples_seen": result.examples_seen, "first_loss": result.first_loss,
                     "last_loss": result.last_loss, "seconds": result.seconds, "resumed_from_step": result.resumed_from},
        "validation": {"before": before, "after": after},
        "calibration": calibration,
        "search": trials,
    }


def _write_merged(model: Any, tokenizer: Any, out: Path, merged_dir: Path, overwrite: bool) -> None:
    """Base + adapter as one model directory, with the adapter's card and calibration beside it."""
    from finetune.generator import merge_into_base

    _fresh_out(merged_dir, overwrite)
    merge_into_base(model, tokenizer, merged_dir)
    (merged_dir / "rag_dx_source.json").write_text(
        f'{{"source": "merged LoRA adapter {out.name}", "adapter_manifest": "{out.name}/rag_dx_training.json"}}')
    for name in ("README.md", "rag_dx_calibration.json"):
        if (out / name).is_file():
            shutil.copy(out / name, merged_dir / name)
