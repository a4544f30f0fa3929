"""Train the practice model from the chunks and vectors of an index version being written.

Leakage control is the point of this module: every training signal for a report is computed as if
that report were a new case. Its retrieval lists come from the same dense and BM25 indexes the
version will serve, with the report itself and its duplicates (exact or near) removed; its classifier
probabilities come from a model fitted on the other folds (grouped by duplicate, so a twin never
sits on the other side).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rag_dx.candidates import candidate_key
from rag_dx.practice.features import Channels, Item, candidate_keys, feature_matrix
from rag_dx.practice.model import CLASSIFIER_TOP_K, PracticeModel, display_names
from rag_dx.practice.ood import SimilarityProfile
from rag_dx.practice.conformal import nonconformity, thresholds
from rag_dx.practice.ranker import CandidateRanker, fit_ranker, softmax_t
from rag_dx.practice.textclf import TextClassifier, TextFeatures
from rag_dx.schemas import Chunk
from rag_dx.splits import duplicate_groups

log = logging.getLogger(__name__)

#: Below this many labeled reports per diagnosis (on average), or this many in all, the ranker and
#: its temperature cannot be fitted honestly (each cross-fitting half needs a few cases per label).
MIN_REPORTS_PER_LABEL = 3
MIN_LABELED_REPORTS = 20


@dataclass
class Docs:
    """Labeled reports reassembled from their chunks."""

    ids: list[str]
    texts: list[str]
    labels: list[str]
    groups: NDArray[np.int64]           # duplicate group per report (exact or near)
    chunk_rows: list[list[int]]         # positions in the chunk list


def labeled_docs(chunks: Sequence[Chunk]) -> Docs:
    order: dict[str, list[int]] = {}
    for i, c in enumerate(chunks):
        if c.kind == "report" and c.label and c.label.strip():
            order.setdefault(c.doc_id, []).append(i)
    ids = list(order)
    texts = [" ".join(chunks[i].text for i in order[d]) for d in ids]
    labels = [chunks[order[d][0]].label.strip() for d in ids]  # type: ignore[union-attr]
    groups = duplicate_groups(texts)  # exact and near-duplicates (bigram Jaccard >= 0.8) share a group
    return Docs(ids=ids, texts=texts, labels=labels, groups=groups, chunk_rows=[order[d] for d in ids])


#: Cross-fitting folds of the practice classifier. Serving averages the fold models, so each one
#: should have seen nearly every diagnosis: with 3 folds a diagnosis whose reports are one or two
#: groups of near-duplicates is missing from a third of the models, and the average pushes it down.
#: On the disease-symptom holdout (243 train reports in 142 groups, 40 diagnoses) the averaged
#: classifier's test top-1 was 0.721 with 3 folds and 0.852 with 5, 10 or a refit on everything
#: (the TF-IDF + LR baseline's 0.852); the out-of-fold probabilities the ranker learns from move
#: closer to what serving sees (out-of-fold top-1 0.786 -> 0.823). Cost: two more fits per build.
CLASSIFIER_FOLDS = 5


def oof_probabilities(docs: Docs, texts: Sequence[str], features: TextFeatures, X: Any, *, n_folds: int = CLASSIFIER_FOLDS,
                      seed: int = 0) -> tuple[list[dict[str, float]], list[TextClassifier]]:
    """Out-of-fold classifier probabilities per report (keyed by candidate key), and the fold models.

    The vectorizers are fitted once on all reports (they see no labels); the classifier is
    refitted per fold on the other folds' rows, grouped so that duplicates share a fold.
    """
    from sklearn.model_selection import GroupKFold

    n_groups = len(np.unique(docs.groups))
    folds = GroupKFold(n_splits=min(n_folds, n_groups))
    out: list[dict[str, float]] = [{} for _ in docs.texts]
    models: list[TextClassifier] = []
    for train, test in folds.split(docs.texts, docs.labels, docs.groups):
        labels = [docs.labels[i] for i in train]
        if len(set(labels)) < 2:
            continue
        clf = TextClassifier.fit_features(features, X[train], labels, seed=seed)
        models.append(clf)
        keys = [candidate_key(c) for c in clf.classes]
        for i, row in zip(test, clf.predict_proba([texts[i] for i in test])):
            out[i] = dict(zip(keys, map(float, row)))
    return out, models


def _channels(docs: Docs, chunks: Sequence[Chunk], vectors: NDArray[np.float32], queries: NDArray[np.int64],
              k_dense: int, k_sparse: int) -> tuple[list[Channels], NDArray[np.float64]]:
    """Retrieval lists for each query report, itself and its duplicates excluded; and its best report cosine."""
    import faiss

    from rag_dx.index.bm25 import SparseIndex

    group_of_chunk = np.full(len(chunks), -1, dtype=np.int64)
    for d, rows in enumerate(docs.chunk_rows):
        group_of_chunk[rows] = docs.groups[d]
    biggest = max(Counter(group_of_chunk[group_of_chunk >= 0].tolist()).values(), default=1)
    margin = biggest + 2
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(np.ascontiguousarray(vectors, dtype=np.float32))
    qvec = np.stack([vectors[docs.chunk_rows[q][0]] for q in queries]).astype(np.float32)
    scores, ids = flat.search(qvec, k_dense + margin)
    sparse = SparseIndex.build([c.text for c in chunks], np.arange(len(chunks), dtype=np.int64))

    def item(row: int, score: float) -> Item:
        return Item(label=chunks[row].label, kind=chunks[row].kind, score=float(score))

    out, best = [], []
    for n, q in enumerate(queries):
        g = docs.groups[q]
        dense = [item(int(r), s) for r, s in zip(ids[n], scores[n]) if r >= 0 and group_of_chunk[r] != g][:k_dense]
        hits = sparse.search(docs.texts[q], k_sparse + margin)
        sp = [item(r, s) for r, s in hits if group_of_chunk[r] != g][:k_sparse]
        out.append(Channels(dense=dense, sparse=sp))
        best.append(max((i.score for i in dense if i.kind == "report"), default=-1.0))
    return out, np.asarray(best)


def train_practice(
    chunks: Sequence[Chunk],
    vectors: NDArray[np.float32],
    *,
    k_dense: int = 30,
    k_sparse: int = 30,
    vote_temperature: float = 0.05,
    max_queries: int = 4000,
    seed: int = 0,
    drop: Sequence[str] = (),
    negation_aware: bool = True,
    finding_tokens: bool = False,
) -> PracticeModel:
    """The practice model for one index version (see the module docstring for leakage control)."""
    t0 = time.perf_counter()
    docs = labeled_docs(chunks)
    if not docs.ids:
        return PracticeModel(status="no-labels", reason="the index holds no labeled reports")
    names = display_names(docs.labels)
    counts = Counter(candidate_key(label) for label in docs.labels)
    log_prior = {k: float(np.log(v / len(docs.ids))) for k, v in counts.items()}
    if (len(counts) < 2 or len(docs.ids) < MIN_REPORTS_PER_LABEL * len(counts)
            or len(docs.ids) < MIN_LABELED_REPORTS):
        return PracticeModel(
            status="vote-fallback", names=names, log_prior=log_prior,
            reason=(f"{len(docs.ids)} labeled reports for {len(counts)} diagnoses: fewer than "
                    f"{MIN_REPORTS_PER_LABEL} per diagnosis or {MIN_LABELED_REPORTS} in all, so the "
                    "similarity vote ranks candidates"))
    if negation_aware:  # the classifier and BM25 read what serving will read of a case
        from rag_dx.practice.negation import classifier_texts, query_text

        clf_texts = classifier_texts(docs.texts, finding_tokens=finding_tokens)
        query_texts = [query_text(t) for t in docs.texts]
    else:
        finding_tokens = False  # the tokens live in the negation-aware text form only
        clf_texts, query_texts = list(docs.texts), list(docs.texts)
    features = TextFeatures.fit(clf_texts)
    X_text = features.transform(clf_texts)
    oof, fold_models = oof_probabilities(docs, clf_texts, features, X_text, seed=seed)
    # Serving uses the fold models averaged, not one refit on everything: the ranker learned how far
    # to trust out-of-fold probabilities, and the average behaves like them (a refit on all reports
    # is sharper than anything the ranker saw, which made small practices overconfident).
    classifier = TextClassifier.average(fold_models) if fold_models else \
        TextClassifier.fit_features(features, X_text, docs.labels, seed=seed)
    docs = dataclasses.replace(docs, texts=query_texts)
    rng = np.random.default_rng(seed)
    queries = np.arange(len(docs.ids))
    if len(queries) > max_queries:
        queries = np.sort(rng.choice(queries, size=max_queries, replace=False))
    channels, best = _channels(docs, chunks, vectors, queries, k_dense, k_sparse)
    X_rows, y_rows, q_rows = [], [], []
    for n, (q, ch) in enumerate(zip(queries, channels)):
        gold = candidate_key(docs.labels[q])
        # The query's own label frequency is left as is: leaving it out would make the right label
        # the only one with a lowered prior, a signal that does not exist for a new case.
        prior = log_prior
        top = sorted(oof[q], key=oof[q].get, reverse=True)[:CLASSIFIER_TOP_K]
        keys = candidate_keys(ch, top)
        X_rows.append(feature_matrix(keys, ch, oof[q], prior, vote_temperature=vote_temperature))
        y_rows += [int(k == gold) for k in keys]
        q_rows += [n] * len(keys)
    X, y, qid = np.vstack(X_rows), np.asarray(y_rows), np.asarray(q_rows)
    label_profiles = same_label_profiles(docs, queries, channels)
    ranker, cross = fit_ranker(X, y, qid, seed=seed, dropped=drop)
    conformal = conformal_thresholds(cross, y, qid, ranker)
    metrics = {
        "labeled_reports": len(docs.ids), "diagnoses": len(counts), "ranker_queries": int(len(queries)),
        "candidate_recall": round(float(np.mean([y[qid == n].any() for n in range(len(queries))])), 4),
        "oof_classifier_top1": round(float(np.mean(
            [max(oof[q], key=oof[q].get, default="") == candidate_key(docs.labels[q]) for q in queries])), 4),
        "train_seconds": round(time.perf_counter() - t0, 1),
        "importances": ranker.importances(), "temperature": round(ranker.temperature, 4),
        "conformal_calibration_cases": int(len(queries)),
    }
    log.info("practice model: %s", metrics)
    return PracticeModel(status="ranker", reason="learned ranker over retrieval, classifier and prior signals",
                         names=names, log_prior=log_prior, classifier=classifier, ranker=ranker,
                         profile=SimilarityProfile.from_similarities(best), metrics=metrics,
                         vote_temperature=vote_temperature, conformal=conformal, negation_aware=negation_aware,
                         finding_tokens=finding_tokens,
                         label_profiles=label_profiles)


#: Diagnoses with fewer labeled reports than this get no per-diagnosis similarity profile.
MIN_PROFILE_REPORTS = 10


def same_label_profiles(docs: Docs, queries: NDArray[np.int64], channels: Sequence[Channels]) -> dict[str, SimilarityProfile]:
    """Per diagnosis: how similar each of its reports is to its nearest other report of the same diagnosis.

    Serving compares a case's nearest report of its top diagnosis with this: a case of a diagnosis
    the practice never recorded, written in the practice's own style, passes the overall profile but
    sits further from the reports of whatever it is mistaken for than those reports sit from each other.
    """
    sims: dict[str, list[float]] = {}
    for q, ch in zip(queries, channels):
        gold = candidate_key(docs.labels[q])
        same = [i.score for i in ch.dense if i.kind == "report" and i.label and candidate_key(i.label) == gold]
        if same:
            sims.setdefault(gold, []).append(max(same))
    return {k: SimilarityProfile.from_similarities(np.asarray(v)) for k, v in sims.items()
            if len(v) >= MIN_PROFILE_REPORTS}


def conformal_thresholds(cross: NDArray[np.float64], y: NDArray[np.int64], qid: NDArray[np.int64],
                         ranker: "CandidateRanker") -> dict[str, float]:
    """APS thresholds from each training case's cross-fitted candidate probabilities (see conformal.py)."""
    scores = []
    for q in np.unique(qid):
        rows = np.flatnonzero(qid == q)
        p = softmax_t(cross[rows], ranker.temperature) * ranker.coverage
        order = np.argsort(-p, kind="stable")
        gold = np.flatnonzero(y[rows][order] == 1)
        scores.append(nonconformity(p[order], int(gold[0]) if gold.size else None))
    return thresholds(scores)
