"""Next-question protocol: remove a finding from a case, see whether rag-dx asks for it, and what the answer buys.

For held-out Symptom2Disease cases (``rag_dx.splits``: duplicate groups + a seeded group-safe
holdout; the index is built from the train part only):

1. Extract the case's findings (:mod:`rag_dx.findings`) and pick one present concept at random
   (seeded) among cases with at least two distinct present concepts.
2. Remove every mention of that concept from the text (any assertion) and check the extractor no
   longer finds it; cases where it still does are skipped and counted.
3. Diagnose the original case, the reduced case, and the reduced case with the answer appended
   ("Also: <the removed mention>."), and compute the reduced case's questions
   (:func:`rag_dx.next_question.next_questions`, k = 5).

Reported: recall@5 (the removed concept is among the five questions; also "related": a question
is the concept, an ancestor or a descendant), the same for a frequency baseline (the findings most
often asserted in the top-3 candidates' cited passages, not yet in the case: no discrimination),
the ceiling (the removed concept is asserted in some cited passage of the top-3 candidates at
all), and top-1 accuracy before removal, after removal, after the answer when it was asked (the
chat's follow-up turn), and after the answer always (an upper bound).

Cheap by design: one small index (the train part, pass-through de-identification because S2D is
public text with no identifiers, no guidelines, no generator: the practice model ranks), about
100 cases, three diagnoses each. Nothing from ../shared is written: outputs hold ids, labels and
HPO concept ids only.

Run: ``.venv/bin/python -m eval.protocols.next_question --shared ../shared/data --out runs/next-question``
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from eval.protocols.build import Case, load_s2d


class _PassThroughDeid:
    """S2D is public, synthetic-style patient text without identifiers: skip presidio (minutes) here."""

    def redact(self, text: str) -> str:
        return text

    def redact_many(self, texts: list[str]) -> list[str]:
        return list(texts)

    def describe(self) -> dict:
        return {"engine": "pass-through (next-question protocol on public S2D text)"}


#: The question rankers compared: next_questions' keyword arguments (the first is the default).
VARIANTS: dict[str, dict] = {
    "absent-from-other, differential prior (default)": {"require_absent": True, "prior": "differential"},
    "absent-from-other, even prior": {"require_absent": True, "prior": "even"},
    "larger share, differential prior": {"require_absent": False, "prior": "differential"},
    "larger share, even prior": {"require_absent": False, "prior": "even"},
}


@dataclass
class Row:
    case_id: str
    label: str
    removed: str
    top1_before: bool
    top1_removed: bool
    top1_answered: bool
    asked: bool
    asked_related: bool
    variants_asked: dict
    baseline_asked: bool
    reachable: bool
    n_questions: int


def split_cases(cases: Sequence[Case], seed: int, test_size: float) -> tuple[list[Case], list[Case]]:
    """The project's leakage-safe holdout: near-duplicate groups never straddle train and test."""
    from rag_dx.splits import duplicate_groups, holdout_split

    groups = duplicate_groups([c.text for c in cases])
    split = holdout_split([c.diagnosis for c in cases], groups, test_size=test_size, seed=seed)
    return [cases[i] for i in split.train], [cases[i] for i in split.test]


def remove_concept(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """`text` without the given character spans, with the punctuation and spaces they leave tidied."""
    out, pos = [], 0
    for s, e in sorted(spans):
        if s < pos:
            continue
        out.append(text[pos:s])
        pos = e
    out.append(text[pos:])
    t = "".join(out)
    t = re.sub(r"\b(and|or)\s*([,.;])", r"\2", t)
    t = re.sub(r"\s+([,.;])", r"\1", t)
    t = re.sub(r"([,;])\s*([,.;])", r"\2", t)
    return re.sub(r"\s{2,}", " ", t).strip()


def frequency_baseline(text: str, differential, k: int, tree, extractor=None) -> list[str]:
    """The k findings most often asserted in the top-3 candidates' cited passages and not in the case."""
    from rag_dx.findings import extract_findings

    by_id = {ev.id: ev for ev in differential.evidence}
    moot: set[str] = set()
    for f in extract_findings(text, extractor):
        moot |= tree.ancestors(f.concept_id)
    counts: Counter[str] = Counter()
    for i in dict.fromkeys(i for d in differential.differential[:3] for i in d.evidence if i in by_id):
        seen = {f.concept_id for f in extract_findings(by_id[i].text, extractor) if f.assertion in ("present", "possible")}
        counts.update(c for c in seen if c not in moot)
    return [c for c, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:k]]


def cited_concepts(differential, extractor=None) -> set[str]:
    from rag_dx.findings import extract_findings

    by_id = {ev.id: ev for ev in differential.evidence}
    out: set[str] = set()
    for i in dict.fromkeys(i for d in differential.differential[:3] for i in d.evidence if i in by_id):
        out |= {f.concept_id for f in extract_findings(by_id[i].text, extractor) if f.assertion in ("present", "possible")}
    return out


def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion."""
    if n == 0:
        return (0.0, 0.0)
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (round(centre - half, 3), round(centre + half, 3))


def build_assistant_for(train: Sequence[Case], work: Path, index_reports: int | None, seed: int):
    from rag_dx.build import build_index
    from rag_dx.diagnose import build_assistant
    from rag_dx.embed import load_encoder
    from rag_dx.schemas import Report
    from rag_dx.settings import Settings

    settings = Settings(index_dir=work / "indexes")
    encoder = load_encoder(settings)
    pool = list(train)
    if index_reports is not None and index_reports < len(pool):  # the same number per diagnosis
        by_label: dict[str, list[Case]] = {}
        for c in sorted(pool, key=lambda c: c.case_id):
            by_label.setdefault(c.diagnosis, []).append(c)
        per = max(1, index_reports // len(by_label))
        rng = random.Random(seed)
        pool = [c for label in sorted(by_label) for c in rng.sample(by_label[label], min(per, len(by_label[label])))]
    reports = [Report(report_id=c.case_id, text=c.text, diagnosis=c.diagnosis, source="s2d") for c in pool]
    build_index(settings, "s2d-nq", reports, [], encoder=encoder, deidentifier=_PassThroughDeid())
    return build_assistant(settings, "s2d-nq", encoder=encoder, load_generator=False), len(reports)


def run(shared: Path, out: Path, *, n_cases: int, seed: int, test_size: float, k: int,
        index_reports: int | None) -> dict:
    from rag_dx.findings import extract_findings
    from rag_dx.hpo_tree import load_hpo_tree
    from rag_dx.labels import candidate_key
    from rag_dx.next_question import next_questions

    t0 = time.perf_counter()
    train, test = split_cases(load_s2d(shared), seed, test_size)
    with tempfile.TemporaryDirectory(prefix="rag-dx-nq-") as tmp:
        assistant, n_index = build_assistant_for(train, Path(tmp), index_reports, seed)
        t_build = time.perf_counter() - t0
        tree = load_hpo_tree()
        rng = random.Random(seed)
        order = list(test)
        rng.shuffle(order)
        rows: list[Row] = []
        skipped = Counter()

        def top1(text: str, label: str) -> tuple[bool, object]:
            d = assistant.diagnose(text)
            return bool(d.differential) and candidate_key(d.differential[0].diagnosis) == candidate_key(label), d

        for case in order:
            if len(rows) >= n_cases:
                break
            findings = extract_findings(case.text)
            present = sorted({f.concept_id for f in findings if f.assertion == "present"})
            if len(present) < 2:
                skipped["fewer than two present findings"] += 1
                continue
            removed = rng.choice(present)
            mentions = [f for f in findings if f.concept_id == removed]
            reduced = remove_concept(case.text, [f.span for f in mentions])
            if any(f.concept_id == removed for f in extract_findings(reduced)):
                skipped["still extracted after removal"] += 1
                continue
            before, _ = top1(case.text, case.diagnosis)
            after, d_reduced = top1(reduced, case.diagnosis)
            qs = next_questions(reduced, d_reduced, k=k, vocabulary=assistant.vocabulary)  # as the assistant asks
            asked_ids = [q.concept_id for q in qs]
            variants = {name: removed in [q.concept_id for q in next_questions(reduced, d_reduced, k=k, vocabulary=assistant.vocabulary, **kw)]
                        for name, kw in VARIANTS.items()}
            related = tree.ancestors(removed) | tree.descendants(removed)
            answered, _ = top1(f"{reduced} Also: {mentions[0].text}.", case.diagnosis)
            rows.append(Row(
                case_id=case.case_id, label=case.diagnosis, removed=removed, top1_before=before,
                top1_removed=after, top1_answered=answered, asked=removed in asked_ids,
                asked_related=any(c in related for c in asked_ids), variants_asked=variants,
                baseline_asked=removed in frequency_baseline(reduced, d_reduced, k, tree),
                reachable=removed in cited_concepts(d_reduced), n_questions=len(qs)))
    n = len(rows)

    def share(pred) -> float:
        return round(sum(map(pred, rows)) / n, 3) if n else 0.0

    realistic = share(lambda r: r.top1_answered if r.asked else r.top1_removed)
    metrics = {
        "cases": n, "skipped": dict(skipped), "index_reports": n_index, "seed": seed, "k": k,
        "recall_at_k": share(lambda r: r.asked), "recall_at_k_ci95": wilson(sum(r.asked for r in rows), n),
        "recall_at_k_related": share(lambda r: r.asked_related),
        "variants_recall_at_k": {name: share(lambda r, name=name: r.variants_asked[name]) for name in VARIANTS},
        "variants_top1_after_answer_when_asked": {
            name: share(lambda r, name=name: r.top1_answered if r.variants_asked[name] else r.top1_removed)
            for name in VARIANTS},
        "baseline_frequency_recall_at_k": share(lambda r: r.baseline_asked),
        "ceiling_in_cited_passages": share(lambda r: r.reachable),
        "recall_at_k_when_reachable": round(sum(r.asked for r in rows if r.reachable)
                                            / max(1, sum(r.reachable for r in rows)), 3),
        "mean_questions": round(sum(r.n_questions for r in rows) / n, 2) if n else 0.0,
        "top1_before_removal": share(lambda r: r.top1_before),
        "top1_after_removal": share(lambda r: r.top1_removed),
        "top1_after_answer_when_asked": realistic,
        "top1_after_answer_always": share(lambda r: r.top1_answered),
        "seconds_build": round(t_build, 1), "seconds_total": round(time.perf_counter() - t0, 1),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    with (out / "cases.jsonl").open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(asdict(r)) + "\n")
    return metrics


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("runs/next-question"))
    ap.add_argument("--cases", type=int, default=100, help="held-out cases to score")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--test-size", type=float, default=0.2)
    ap.add_argument("-k", type=int, default=5, help="questions asked")
    ap.add_argument("--index-reports", type=int, default=None, help="index about this many train reports, the same number per diagnosis (default: all)")
    args = ap.parse_args(argv)
    if not (args.shared / "symptom2disease" / "Symptom2Disease.csv").is_file():
        print(f"no Symptom2Disease under {args.shared}", file=sys.stderr)
        return 2
    metrics = run(args.shared, args.out, n_cases=args.cases, seed=args.seed, test_size=args.test_size, k=args.k,
                  index_reports=args.index_reports)
    print(json.dumps(metrics, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
