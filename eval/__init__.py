"""Batch evaluation of rag-dx against labeled reports (``rag-dx eval``).

Modules: :mod:`eval.run` (``run_eval``, the orchestration the CLI calls) in four steps:
:mod:`eval.plan` (options, cases, leakage-safe splits, systems), :mod:`eval.systems` (diagnose
each fold's test cases), :mod:`eval.scoring` (metrics, paired comparisons) and :mod:`eval.writing`
(metrics.json, predictions, manifest, summary); :mod:`eval.report` (markdown/HTML with plots),
:mod:`eval.baseline` (TF-IDF + logistic regression), :mod:`eval.gate` (the index gate's top-1) and
:mod:`eval.bench` (benchmarks). Splits and metric functions live in :mod:`rag_dx.splits` and
:mod:`rag_dx.metrics`, shared with fine-tuning. Nothing is imported here so that importing one
module stays cheap.
"""
