"""Scoring test-case predictions: every metric per system, paired comparisons, the metrics dict.

Strict correctness: same :meth:`Vocabulary.concept_key` (the ICD-10-CM disease concept, codes equal
up to default children, or normalized text when unmatched): the normalization candidates are merged
on (:func:`rag_dx.candidates.concept_key`), so a right answer under another name ("Heart attack"
for "Acute myocardial infarction, unspecified") counts as right. Lenient:
:meth:`Vocabulary.same_lenient` (3-char category or CCSR group). Only
test-part predictions reach this module.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from eval.plan import BASELINE, EvalPlan, Variant
from eval.systems import RETRIEVAL_K, CasePrediction, Runs
from rag_dx import metrics as M

if TYPE_CHECKING:
    from rag_dx.vocab import Vocabulary

TOP_KS = (1, 3, 5)
OTHER = "__other__"
NO_PREDICTION = "<none>"
COMPARED_METRICS = ("top1", "top3", "macro_f1", "ece", "brier", "retrieval_recall_at_10",
                    "retrieval_precision_at_10", "mrr", "abstain_rate")
ABLATION_METRICS = ("n", "top1", "top3", "top5", "top1_lenient", "top5_lenient", "macro_f1", "weighted_f1",
                    "macro_auroc", "ece", "brier", "abstain_rate", "retrieval_recall_at_10",
                    "retrieval_precision_at_10", "mrr")


@dataclass
class _Ranks:
    """Where each case's gold label sits in its prediction (-1 = absent), strictly and leniently."""

    gold_keys: list[str]
    gold_lenient: list[set[str]]
    strict: np.ndarray
    lenient: np.ndarray
    top1_key: list[str]
    confidence: np.ndarray


def top1_correct(p: CasePrediction, vocab: "Vocabulary") -> bool:
    return bool(p.ranked) and vocab.concept_key(p.ranked[0][0]) == vocab.concept_key(p.gold)


def gold_positions(p: CasePrediction, vocab: "Vocabulary") -> tuple[int, int]:
    """Where the gold label sits in one case's ranked list (0-based, -1 = absent): strictly, leniently.

    One definition for the metrics and for each row of predictions.jsonl, so a case read by hand
    counts exactly as it does in top-k.
    """
    gold, gold_lenient = vocab.concept_key(p.gold), vocab.lenient_keys(p.gold)
    strict = next((j for j, (name, _) in enumerate(p.ranked) if vocab.concept_key(name) == gold), -1)
    lenient = next((j for j, (name, _) in enumerate(p.ranked) if vocab.lenient_keys(name) & gold_lenient), -1)
    return strict, lenient


def _ranks(preds: Sequence[CasePrediction], vocab: "Vocabulary") -> _Ranks:
    n = len(preds)
    r = _Ranks([vocab.concept_key(p.gold) for p in preds], [vocab.lenient_keys(p.gold) for p in preds],
               np.full(n, -1, dtype=int), np.full(n, -1, dtype=int), [], np.zeros(n))
    for i, p in enumerate(preds):
        r.top1_key.append(vocab.concept_key(p.ranked[0][0]) if p.ranked else NO_PREDICTION)
        r.confidence[i] = p.ranked[0][1] if p.ranked else 0.0
        r.strict[i], r.lenient[i] = gold_positions(p, vocab)
    return r


def _probabilities(preds: Sequence[CasePrediction], vocab: "Vocabulary", columns: list[str]) -> np.ndarray:
    """Probability matrix over known classes + "other" (mass on unknown names or not listed)."""
    col = {k: j for j, k in enumerate(columns)}
    P = np.zeros((len(preds), len(columns) + 1))
    for i, p in enumerate(preds):
        for name, prob in p.ranked:
            P[i, col.get(vocab.concept_key(name), len(columns))] += max(float(prob), 0.0)
        P[i, -1] += max(0.0, 1.0 - P[i].sum())
    return P


def _retrieval(preds: Sequence[CasePrediction], vocab: "Vocabulary", r: _Ranks) -> dict[str, Any]:
    def relevant(i: int, p: CasePrediction, lenient: bool) -> list[bool]:
        return [kind == "report" and lab is not None
                and (bool(vocab.lenient_keys(lab) & r.gold_lenient[i]) if lenient
                     else vocab.concept_key(lab) == r.gold_keys[i])
                for _, kind, lab in p.retrieved]

    strict = [relevant(i, p, False) for i, p in enumerate(preds)]
    lenient = [relevant(i, p, True) for i, p in enumerate(preds)]
    return {
        f"retrieval_recall_at_{RETRIEVAL_K}": M.retrieval_recall_at_k(strict, RETRIEVAL_K),
        f"retrieval_recall_at_{RETRIEVAL_K}_lenient": M.retrieval_recall_at_k(lenient, RETRIEVAL_K),
        "retrieval_recall_at_1": M.retrieval_recall_at_k(strict, 1),
        f"retrieval_precision_at_{RETRIEVAL_K}": M.retrieval_precision_at_k(strict, RETRIEVAL_K),
        "mrr": M.mean_reciprocal_rank(strict, RETRIEVAL_K),
        "retrieved_twins": int(sum(p.twins > 0 for p in preds)),
    }


def _calibration(preds: Sequence[CasePrediction], r: _Ranks, P: np.ndarray, y_idx: np.ndarray,
                 correct: np.ndarray) -> tuple[dict[str, Any], dict[str, Any]]:
    abst = np.array([p.abstained for p in preds], dtype=bool)
    cr = M.coverage_risk_curve(r.confidence, correct)
    out = {"ece": M.expected_calibration_error(r.confidence, correct), "brier": M.brier_score(y_idx, P),
           "aurc": cr["aurc"], "abstain_rate": M.abstention_rate(abst),
           "accuracy_answered": M.accuracy_answered(correct, abst)}
    return out, {"reliability": M.reliability_bins(r.confidence, correct), "coverage_risk": cr}


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
    """All metrics for one system on test cases. Returns (metrics, plot data)."""
    n = len(preds)
    r = _ranks(preds, vocab)
    hits = {f"top{k}": M.top_k_hits(r.strict, k) for k in TOP_KS}
    hits |= {f"top{k}_lenient": M.top_k_hits(r.lenient, k) for k in TOP_KS}
    out: dict[str, Any] = {"n": n, **{k: float(h.mean()) if n else float("nan") for k, h in hits.items()}}
    ci = {k: M.bootstrap_ci(h, seed=seed) for k, h in hits.items()}
    out["mrr_differential"] = float(M.reciprocal_ranks(r.strict).mean()) if n else float("nan")

    labels = sorted(set(r.gold_keys))
    cls = M.classification_summary(r.gold_keys, r.top1_key, labels)
    names = dict(class_names or {})
    display = {k: names.get(k, k) for k in labels}
    out.update({k: v for k, v in cls.items() if k not in ("per_class", "accuracy")})
    out["per_class"] = {
        display[k]: {**row, "icd10": k if not k.startswith("~") else None} for k, row in cls["per_class"].items()
    }
    columns = sorted(set(labels) | {vocab.concept_key(c) for c in extra_classes})
    P = _probabilities(preds, vocab, columns)
    y_idx = np.array([{k: j for j, k in enumerate(columns)}.get(k, -1) for k in r.gold_keys])
    auc = M.one_vs_rest_auc(y_idx, P[:, :-1], [names.get(k, k) for k in columns])
    out.update(macro_auroc=auc["macro_auroc"], macro_auprc=auc["macro_auprc"], auc_per_class=auc["per_class"])
    calibration, curves = _calibration(preds, r, P, y_idx, hits["top1"])
    out.update(calibration)
    if with_retrieval:
        out.update(_retrieval(preds, vocab, r))
    out["ci"] = ci
    conformal = conformal_coverage(preds, r)
    if conformal:
        out["conformal"] = conformal
    if any(p.route for p in preds):
        # Accuracy against shown confidence per route: one global ECE hides routes that are miscalibrated in
        # opposite directions (docs/results/protocols.md, "floored cases"; rag_dx.practice.floor).
        out["routes"] = M.subgroup_breakdown([p.route for p in preds],
                                             {"top1": hits["top1"], "top5": hits["top5"], "confidence": r.confidence})
    if groups:
        per_case = {"top1": hits["top1"], "top5": hits["top5"]}
        out["subgroups"] = {
            attr: M.subgroup_breakdown(vals, per_case) for attr, vals in groups.items() if any(v for v in vals)
        }
    plots = {"confusion": M.confusion(r.gold_keys, r.top1_key, labels),
             "confusion_labels": [display[k] for k in labels], **curves}
    return out, plots


def conformal_coverage(preds: Sequence[CasePrediction], r: _Ranks) -> dict[str, Any]:
    """Per level: how often the conformal set held the right diagnosis, and its mean size.

    Reported overall and on the cases the system called inside the practice (where the guarantee
    is claimed), so a coverage shortfall on outside cases is visible rather than averaged away.
    """
    out: dict[str, Any] = {}
    levels = sorted({lvl for p in preds for lvl in p.sets}, key=float)
    for level in levels:
        rows = [(i, p) for i, p in enumerate(preds) if level in p.sets]
        # r.strict[i] is the gold's rank in the differential; the set is a prefix of it
        covered = np.array([0 <= r.strict[i] < len(p.sets[level]) for i, p in rows], dtype=float)
        sizes = np.array([len(p.sets[level]) for _, p in rows], dtype=float)
        inside = np.array([p.sets_guaranteed for _, p in rows], dtype=bool)
        out[level] = {"n": len(rows), "coverage": float(covered.mean()), "mean_size": float(sizes.mean()),
                      "n_guaranteed": int(inside.sum()),
                      "coverage_guaranteed": float(covered[inside].mean()) if inside.any() else None,
                      "mean_size_guaranteed": float(sizes[inside].mean()) if inside.any() else None}
    return out


def class_names(gold_labels: Sequence[str], vocab: "Vocabulary") -> dict[str, str]:
    """Display name per strict class: the gold spellings that fell into it, most frequent first."""
    by_key: dict[str, Counter[str]] = {}
    for lab in gold_labels:
        by_key.setdefault(vocab.concept_key(lab), Counter())[lab.strip()] += 1
    return {k: " / ".join(name for name, _ in c.most_common()) for k, c in by_key.items()}


def comparisons(preds: Mapping[str, Sequence[CasePrediction]], results: Mapping[str, Mapping[str, Any]],
                variant_systems: Sequence[tuple[Variant, str, str]], vocab: "Vocabulary",
                seed: int) -> list[dict[str, Any]]:
    """Configured vs compared system, case by case on the same test cases (paired)."""
    rows = []
    for _, system, mode in variant_systems:
        base, tuned = preds[mode], preds[system]
        if [p.case_id for p in base] != [p.case_id for p in tuned]:
            raise RuntimeError(f"{system} and {mode} were not run on the same cases in the same order")
        row: dict[str, Any] = {"system": system, "baseline": mode, "n": len(base)}
        for k in COMPARED_METRICS:
            a, b = results[mode].get(k), results[system].get(k)
            if a is None and b is None:
                continue
            row[k] = {"baseline": a, "compared": b,
                      "delta": (b - a) if isinstance(a, (int, float)) and isinstance(b, (int, float)) else None}
        hits = [np.array([top1_correct(p, vocab) for p in ps], dtype=float) for ps in (base, tuned)]
        row["top1_paired"] = M.paired_difference(hits[0], hits[1], seed=seed)
        rows.append(row)
    return rows


def versus_baseline(preds: Mapping[str, Sequence[CasePrediction]], systems: Sequence[str], vocab: "Vocabulary",
                    seed: int, reference: str = BASELINE) -> dict[str, Any]:
    """Each system against `reference` (the TF-IDF + LR baseline, or the retrieval vote) on the same
    cases: top-1 delta (system - reference), bootstrap CI, McNemar p."""
    base = np.array([top1_correct(p, vocab) for p in preds[reference]], dtype=float)
    out: dict[str, Any] = {}
    for system in systems:
        if system == reference or len(preds[system]) != len(base):
            continue
        hits = np.array([top1_correct(p, vocab) for p in preds[system]], dtype=float)
        out[system] = M.paired_difference(base, hits, seed=seed)
    return out


def _fold_top1(runs: Runs, system: str, vocab: "Vocabulary") -> None:
    for row in runs.fold_rows:
        fp = [p for p in runs.preds[system] if p.fold == row["fold"]]
        row[f"top1_{system}"] = float(np.mean([top1_correct(p, vocab) for p in fp])) if fp else None


def score_systems(plan: EvalPlan, runs: Runs, vocab: "Vocabulary") -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Metrics per system (subgroups and plots for the full pipeline); per-fold top-1 with several folds."""
    tests = plan.test_reports()
    names = class_names([r.diagnosis or "" for r in tests], vocab)
    subgroups = {"sex": [r.sex for r in tests], "age_band": [M.age_band(r.age) for r in tests],
                 "specialty": [r.specialty for r in tests]}
    results: dict[str, dict[str, Any]] = {}
    plots_main: dict[str, Any] = {}
    for system in plan.systems:
        results[system], plots = score_predictions(
            runs.preds[system], vocab, seed=plan.seed, class_names=names, extra_classes=runs.train_label_names,
            groups=subgroups if system == "full" else None,
            with_retrieval=system != BASELINE and system.split("+")[0] != "generator",
        )
        if system == "full":
            plots_main = plots
        if len(plan.splits) > 1:
            _fold_top1(runs, system, vocab)
    return results, plots_main


def _setup(plan: EvalPlan) -> dict[str, Any]:
    setup = {
        "mode": plan.mode,
        "split_by": plan.split_by,
        "labeled_file": plan.labeled.name,
        "test_cases": plan.n_test,
        "train_cases": ", ".join(str(int(s.train.size)) for s in plan.splits) if plan.index is None else "n/a",
        "duplicate/near-duplicate/patient groups": plan.duplicate_groups,
        "seed": plan.seed,
        "systems": ", ".join(plan.systems),
    }
    for v in plan.compare:
        parts = [f"encoder {Path(v.encoder).name}" if v.encoder else "",
                 f"adapter {Path(v.adapter).name}" if v.adapter else ""]
        setup[f"compared: {v.name}"] = ", ".join(p for p in parts if p)
    return setup


def build_metrics(plan: EvalPlan, runs: Runs, results: Mapping[str, dict[str, Any]],
                  vocab: "Vocabulary") -> dict[str, Any]:
    """The content of metrics.json: the full pipeline's metrics plus ablations, comparison, folds, setup."""
    metrics: dict[str, Any] = dict(results["full"])
    gold_concepts = vocab.coverage([r.diagnosis or "" for r in plan.reports])
    metrics["unmatched_gold_labels"] = sorted(k for k, c in gold_concepts.items() if c is None)
    metrics["gold_label_concepts"] = {
        k: (None if c is None else {"code": c.code, "title": c.title, "ccsr": c.ccsr, "match": c.match})
        for k, c in sorted(gold_concepts.items())
    }
    metrics["ablations"] = {
        s: {k: results[s].get(k) for k in ABLATION_METRICS if k in results[s]} | {"top1_ci": results[s]["ci"]["top1"]}
        for s in plan.systems
    }
    if BASELINE in plan.systems:
        metrics["vs_baseline"] = versus_baseline(runs.preds, plan.systems, vocab, plan.seed)
    if "retrieval" in plan.systems and "full" in plan.systems:  # today's vote, the system the ranker replaces
        metrics["vs_vote"] = versus_baseline(runs.preds, ["full"], vocab, plan.seed, reference="retrieval")
    if runs.ranker:
        metrics["ranker"] = runs.ranker
    if plan.variant_systems:
        metrics["comparison"] = comparisons(runs.preds, results, plan.variant_systems, vocab, plan.seed)
    if len(plan.splits) > 1:
        metrics["folds"] = runs.fold_rows
        tops = [r["top1_full"] for r in runs.fold_rows if r.get("top1_full") is not None]
        metrics["top1_fold_mean"] = float(np.mean(tops)) if tops else None
        metrics["top1_fold_std"] = float(np.std(tops, ddof=1)) if len(tops) > 1 else None
    metrics["setup"] = _setup(plan)
    return metrics
