"""`rag-dx eval`: score the assistant on labeled reports, leakage-safely, next to honest baselines.

Three ways to run (exactly one):

* ``index=NAME``: evaluate every labeled report against an existing index. Each case's own
  report id is excluded from retrieval; retrieved reports whose text is a near-twin of the case
  are counted in ``retrieved_twins`` so a leaky index is visible. No baseline (no train part).
* ``holdout=0.2``: split the file leakage-safely (:mod:`rag_dx.splits`), build a temporary index
  from the train part with the current settings, evaluate on the test part.
* ``cv=K``: the same for K group-safe folds; every case is tested once, metrics are computed on
  the pooled test predictions, and per-fold top-1 is listed.

Only test-part predictions are ever scored: nothing here reports a number computed on data the
system (or the baseline) was built from.

The run is four steps, each its own module: plan (:mod:`eval.plan`: options, cases, splits,
systems), run (:mod:`eval.systems`: diagnose each fold's test cases with every system), score
(:mod:`eval.scoring`) and write (:mod:`eval.writing`).

Outputs in ``out``: ``metrics.json``, ``predictions.jsonl`` (full pipeline; ablations in
``predictions_<system>.jsonl``), ``report.md``, ``report.html``, ``plots/*.png`` and
``manifest.json``. Report text is never written (ids, labels and evidence ids only).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eval.plan import SIGNAL_ABLATIONS, SYSTEMS_ABLATION, Variant, compare_variants, plan_eval  # noqa: F401  (public names)
from eval.scoring import build_metrics, score_predictions, score_systems  # noqa: F401
from eval.systems import AssistantFactory, CasePrediction, DefaultPipeline, IndexBuilder, run_systems  # noqa: F401
from eval.writing import clean, format_summary, write_run  # noqa: F401

if TYPE_CHECKING:
    from rag_dx.settings import Settings
    from rag_dx.vocab import Vocabulary


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
    train_per_label: int | None = None,
    skip_generator: bool = False,
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
        train_per_label: keep at most this many train reports per diagnosis (seeded), to measure a
            low-data practice on the same test part.
        skip_generator: leave the generator-only ablation out (it takes most of an ablation run's time).

    Returns:
        The content of ``metrics.json``.

    Example:
        >>> run_eval(load_settings(), labeled=Path("Symptom2Disease.csv"), out=Path("runs/s2d"),
        ...          holdout=0.2, ablations=True, label_col="label")  # doctest: +SKIP
    """
    started = time.time()
    plan = plan_eval(settings, labeled=Path(labeled), index=index, holdout=holdout, cv=cv, split_by=split_by,
                     ablations=ablations, text_col=text_col, label_col=label_col, id_col=id_col, seed=seed,
                     guidelines=list(guidelines), compare=list(compare), train_per_label=train_per_label,
                     skip_generator=skip_generator)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if vocabulary is None:
        from rag_dx.vocab import Vocabulary

        vocabulary = Vocabulary.load(cache_dir=settings.cache_dir)
    pipeline = DefaultPipeline(progress=False, vocabulary=vocabulary)
    runs = run_systems(plan, assistant_factory or pipeline.assistant, index_builder or pipeline.build_index,
                       progress=progress)
    skipped = [s for s in plan.systems if s in SIGNAL_ABLATIONS and not runs.preds.get(s)]
    if skipped:  # the index had no learned ranker (too few labels): nothing to ablate
        plan = dataclasses.replace(plan, systems=[s for s in plan.systems if s not in skipped])
    results, plots = score_systems(plan, runs, vocabulary)
    metrics = clean(build_metrics(plan, runs, results, vocabulary))
    write_run(out, plan, runs, metrics, plots, vocabulary, time.time() - started)
    return metrics
