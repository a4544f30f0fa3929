"""Running the planned systems on every fold's test cases, reduced to :class:`CasePrediction` rows.

Per fold: build a temporary index from the train part (or use the existing index), run each
configured mode through the assistant, then each compared variant, then the TF-IDF baseline.
Only test cases are ever diagnosed.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from eval.plan import BASELINE, SIGNAL_ABLATIONS, EvalPlan
from rag_dx.labels import unique_labels
from rag_dx.splits import jaccard, word_bigrams

if TYPE_CHECKING:
    from rag_dx.schemas import Differential, Guideline, Report
    from rag_dx.settings import Settings

RETRIEVAL_K = 10
#: Retrieved reports at least this similar (word-bigram Jaccard) to the case count as its twins.
TWIN_JACCARD = 0.8


class AssistantLike(Protocol):
    """What eval needs from :class:`rag_dx.diagnose.Assistant` (fakes in tests implement it)."""

    def diagnose(self, text: str, *, mode: str = "full", candidates: Sequence[str] | None = None,
                 exclude_doc_ids: set[str] | None = None) -> "Differential": ...

    def diagnose_many(self, texts: Sequence[str], *, mode: str = "full",
                      candidates: Sequence[str] | None = None) -> list["Differential"]: ...


IndexBuilder = Callable[["Settings", str, list["Report"], list["Guideline"]], Path]
AssistantFactory = Callable[["Settings", str], AssistantLike]


@dataclass
class CasePrediction:
    """One system's answer for one test case, reduced to what scoring needs."""

    case_id: str
    gold: str
    ranked: list[tuple[str, float]]
    evidence_ids: list[list[str]] = field(default_factory=list)  # per ranked diagnosis
    retrieved: list[tuple[str, str, str | None]] = field(default_factory=list)  # (id, kind, label)
    abstained: bool = False
    #: why the system abstained (the shown reason: which rule fired), for reading cases by hand
    abstain_reason: str | None = None
    #: how the candidates were ranked (``Differential.ranking``: the learned ranker, or blended with
    #: guideline diagnoses for a flagged case and whether the guideline floor applied)
    ranking: str | None = None
    #: the same as a code (``Differential.route``): the eval reports accuracy and confidence per route
    route: str | None = None
    twins: int = 0
    fold: int = 0
    #: conformal sets by level ("0.9" -> diagnoses) and whether each was guaranteed (inside the practice)
    sets: dict[str, list[str]] = field(default_factory=dict)
    sets_guaranteed: bool = True


@dataclass
class Runs:
    """What running the systems produced: predictions per system, and what each ran with."""

    preds: dict[str, list[CasePrediction]]
    fold_rows: list[dict[str, Any]] = field(default_factory=list)
    train_label_names: set[str] = field(default_factory=set)
    system_versions: dict[str, Any] = field(default_factory=dict)
    #: The practice model's manifest entry (status, training metrics, ranker importances) per fold.
    ranker: dict[int, Any] = field(default_factory=dict)

    @property
    def versions(self) -> dict[str, Any]:
        return self.system_versions.get("full", {})


def from_differential(case_id: str, gold: str, text: str, d: "Differential", fold: int) -> CasePrediction:
    case_set = word_bigrams(text)
    twins = sum(1 for e in d.evidence[:RETRIEVAL_K]
                if e.kind == "report" and jaccard(case_set, word_bigrams(e.text)) >= TWIN_JACCARD)
    return CasePrediction(
        case_id=case_id,
        gold=gold,
        ranked=[(x.diagnosis, float(x.probability)) for x in d.differential],
        evidence_ids=[list(x.evidence) for x in d.differential],
        retrieved=[(e.id, e.kind, e.label) for e in d.evidence],
        abstained=bool(d.abstained),
        abstain_reason=d.abstain_reason,
        ranking=d.ranking,
        route=d.route,
        twins=twins,
        fold=fold,
        sets={f"{ps.level:g}": list(ps.diagnoses) for ps in getattr(d, "prediction_sets", [])},
        sets_guaranteed=all(ps.guaranteed for ps in getattr(d, "prediction_sets", [])),
    )


def diagnose_all(assistant: AssistantLike, reports: Sequence["Report"], *, mode: str,
                 candidates: Sequence[str] | None, exclude_own: bool, bar: Any,
                 batch: int = 16) -> list["Differential"]:
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


def index_labels(assistant: Any) -> list[str]:
    """Report labels stored in the assistant's index (empty if it does not expose them)."""
    try:
        return [str(x) for x in assistant.retriever.index.docstore.labels() if x]
    except AttributeError:
        return []


class DefaultPipeline:
    """Builds indexes and assistants with the real pipeline, loading each model once per run.

    Models are cached by what they are loaded from, so compared variants share the models they
    have in common (the base generator, the encoder) instead of loading them again.
    """

    def __init__(self, progress: bool, vocabulary: Any = None) -> None:
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


@dataclass
class _Fold:
    """One fold's context while its systems run."""

    number: int
    test: list["Report"]
    train: list["Report"]
    settings: "Settings"
    index_name: str
    candidates: list[str]
    bar: Any


def _run_mode(plan: EvalPlan, runs: Runs, fold: _Fold, assistant: AssistantLike, system: str, mode: str) -> None:
    diffs = diagnose_all(assistant, fold.test, mode=mode, candidates=fold.candidates if mode == "generator" else None,
                         exclude_own=plan.index is not None, bar=fold.bar)
    for r, d in zip(fold.test, diffs):
        runs.preds[system].append(from_differential(r.report_id, r.diagnosis or "", r.text, d, fold.number))
    if diffs and system not in runs.system_versions:
        runs.system_versions[system] = diffs[0].versions.model_dump()


def _run_variants(plan: EvalPlan, runs: Runs, fold: _Fold, make_assistant: AssistantFactory,
                  build: IndexBuilder) -> None:
    encoder_index: dict[str, str] = {}  # one index per compared encoder, shared by its variants
    for variant in plan.compare:
        s_var = variant.settings(fold.settings)
        var_name = fold.index_name
        if variant.encoder is not None and plan.index is None:
            if variant.encoder not in encoder_index:
                encoder_index[variant.encoder] = "eval-" + variant.name.replace("+", "-")
                fold.bar.set_postfix_str(f"fold {fold.number}: indexing with {variant.name}")
                build(s_var, encoder_index[variant.encoder], fold.train, plan.guidelines)
            var_name = encoder_index[variant.encoder]
        fold.bar.set_postfix_str(f"fold {fold.number}: {variant.name}")
        assistant = make_assistant(s_var, var_name)
        for vv, system, mode in plan.variant_systems:
            if vv is variant:
                _run_mode(plan, runs, fold, assistant, system, mode)
        del assistant


def _run_signal_ablations(plan: EvalPlan, runs: Runs, fold: _Fold, assistant: Any) -> None:
    """The ranker retrained on the fold's index with each group of signals left out, then run in full mode."""
    import dataclasses

    from rag_dx.build import read_version_chunks
    from rag_dx.build import text_key
    from rag_dx.index.faiss_index import DenseIndex
    from rag_dx.index.layout import DENSE_FILE
    from rag_dx.practice.train import train_practice

    index = getattr(getattr(assistant, "retriever", None), "index", None)
    if index is None or index.manifest.get("practice", {}).get("status") != "ranker":
        return  # no learned ranker in this index: the signal ablations are dropped from the report
    entry = index.manifest.get("practice", {})
    runs.ranker.setdefault(fold.number, {k: v for k, v in entry.items() if k != "files"})
    chunks, reuse = read_version_chunks(index.path, dense=DenseIndex.load(index.path / DENSE_FILE,
                                                                          index.manifest.get("faiss_factory", "")))
    vectors = np.stack([reuse[text_key(c)] for c in chunks]).astype(np.float32)
    rs, ds = fold.settings.retrieval, fold.settings.diagnosis
    for system, dropped in SIGNAL_ABLATIONS.items():
        if system not in plan.systems:
            continue
        fold.bar.set_postfix_str(f"fold {fold.number}: {system}")
        practice = train_practice(chunks, vectors, k_dense=rs.k_dense, k_sparse=rs.k_sparse,
                                  vote_temperature=ds.vote_temperature, drop=dropped, seed=plan.seed,
                                  negation_aware=ds.negation_aware, finding_tokens=ds.finding_tokens)
        _run_mode(plan, runs, fold, dataclasses.replace(assistant, practice_override=practice), system, "full")


def _run_baseline(plan: EvalPlan, runs: Runs, fold: _Fold) -> None:
    from eval.baseline import TfidfLogRegBaseline

    base = TfidfLogRegBaseline(seed=plan.seed).fit([r.text for r in fold.train], [r.diagnosis or "" for r in fold.train])
    for r, ranked in zip(fold.test, base.rank([r.text for r in fold.test], k=10)):
        runs.preds[BASELINE].append(CasePrediction(r.report_id, r.diagnosis or "", ranked, fold=fold.number))


def _run_fold(plan: EvalPlan, runs: Runs, fold: _Fold, tmp: Path, make_assistant: AssistantFactory,
              build: IndexBuilder) -> None:
    if plan.index is None:
        fold.settings = plan.settings.model_copy(update={"index_dir": tmp})
        fold.bar.set_postfix_str(f"fold {fold.number}: indexing {len(fold.train)} reports")
        build(fold.settings, fold.index_name, fold.train, plan.guidelines)
        fold.candidates = unique_labels(r.diagnosis or "" for r in fold.train)
    fold.bar.set_postfix_str(f"fold {fold.number}: loading models")
    assistant = make_assistant(fold.settings, fold.index_name)
    if plan.index is not None:
        # the generator-only ablation chooses among the index's labels, not the test file's
        fold.candidates = unique_labels(index_labels(assistant) or [r.diagnosis or "" for r in plan.reports])
    fold.bar.set_postfix_str(f"fold {fold.number}")
    for system in plan.systems:
        if system != BASELINE and "+" not in system and system not in SIGNAL_ABLATIONS:
            _run_mode(plan, runs, fold, assistant, system, system)
    if plan.index is None and any(s in SIGNAL_ABLATIONS for s in plan.systems):
        _run_signal_ablations(plan, runs, fold, assistant)
    del assistant
    _run_variants(plan, runs, fold, make_assistant, build)
    if BASELINE in plan.systems:
        _run_baseline(plan, runs, fold)


def run_systems(plan: EvalPlan, make_assistant: AssistantFactory, build: IndexBuilder, *, progress: bool) -> Runs:
    """Every planned system on every fold's test cases (a temporary index per fold unless --index)."""
    from tqdm.auto import tqdm

    runs = Runs(preds={s: [] for s in plan.systems})
    n_llm_systems = len([s for s in plan.systems if s != BASELINE])
    bar = tqdm(total=plan.n_test * n_llm_systems, desc="rag-dx eval", unit="case", disable=not progress,
               file=sys.stderr)
    try:
        for number, split in enumerate(plan.splits):
            fold = _Fold(number=number, test=[plan.reports[i] for i in split.test],
                         train=[plan.reports[i] for i in split.train], settings=plan.settings,
                         index_name=plan.index or "eval", candidates=[], bar=bar)
            runs.train_label_names.update(r.diagnosis or "" for r in fold.train)
            with tempfile.TemporaryDirectory(prefix="rag-dx-eval-") as tmp:
                _run_fold(plan, runs, fold, Path(tmp), make_assistant, build)
            runs.fold_rows.append({"fold": number, **split.sizes(), "split": split.note})
    finally:
        bar.close()
    return runs
