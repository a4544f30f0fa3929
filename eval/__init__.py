"""Batch evaluation of rag-dx against labeled reports (``rag-dx eval``).

Modules: :mod:`eval.metrics` (pure metric functions), :mod:`eval.split` (leakage-safe splits),
:mod:`eval.baseline` (TF-IDF + logistic regression), :mod:`eval.report` (markdown/HTML) and
:mod:`eval.run` (the orchestration the CLI calls). Nothing is imported here so that importing
one module stays cheap.
"""
