"""Batch evaluation of rag-dx against labeled reports (``rag-dx eval``).

Modules: :mod:`rag_dx.metrics` (pure metric functions), :mod:`rag_dx.splits` (leakage-safe splits),
:mod:`eval.baseline` (TF-IDF + logistic regression), :mod:`eval.report` (markdown/HTML) and
:mod:`eval.run` (the orchestration the CLI calls). Nothing is imported here so that importing
one module stays cheap.
"""
