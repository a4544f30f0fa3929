"""The practice model: what rag-dx learns from the practice's own labeled reports at index time.

Three parts, all trained by `train.train_practice` when an index version is written and stored
inside that version (arrays + JSON, never pickle), each file listed with its sha256:

- `textclf.TextClassifier`: TF-IDF word and character n-grams into logistic regression, the
  strongest simple model on a practice's own report style;
- `ranker.CandidateRanker`: a calibrated linear ranker over per-candidate signals (kNN vote,
  BM25 vote, the classifier's probability, guideline support, label frequency), trained
  leakage-safely (each report retrieved with itself and its duplicates excluded, the classifier's
  probabilities out-of-fold);
- `ood.SimilarityProfile`: how similar a report usually is to its nearest other report, so a
  case unlike anything the practice has recorded can be recognised and abstained on.
"""
