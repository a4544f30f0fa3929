"""Protocol-specific numbers from a `rag-dx eval` run: negation stability and abstention rates.

    python -m eval.protocols.score negation --predictions runs/eval-negation/predictions.jsonl \
        --queries runs/protocols/negation/queries.csv
    python -m eval.protocols.score abstention --predictions runs/eval-outside-out/predictions.jsonl

`negation`: for every pair_id, whether the top-1 of the negated variant equals the original's
(the issue's criterion: "the top-1 must not move"), plus top-1 accuracy of both variants.
`abstention`: share of cases that abstained (run it on the in-practice and the outside queries).
`paired`: two runs on the same cases (``--predictions`` = old, ``--against`` = new): top-1 / top-5
(strict and lenient via each row's ``correct_top1`` and the eval's concept-level matching of the
listed diagnoses), abstention, and the paired top-1 / top-5 difference (bootstrap CI, McNemar).

    python -m eval.protocols.score paired --predictions runs/eval-old/predictions.jsonl \
        --against runs/eval-new/predictions.jsonl
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path


def _predictions(path: Path) -> dict[str, dict]:
    with open(path, encoding="utf-8") as fh:
        return {p["id"]: p for p in map(json.loads, fh) if p}


def _top1(p: dict) -> str | None:
    preds = p.get("predictions") or []
    return preds[0]["diagnosis"] if preds else None


def negation(predictions: Path, queries: Path) -> dict:
    preds = _predictions(predictions)
    with open(queries, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    pairs: dict[str, dict[str, dict]] = {}
    for r in rows:
        if r["report_id"] in preds:
            pairs.setdefault(r["pair_id"], {})[r["variant"]] = preds[r["report_id"]]
    complete = [v for v in pairs.values() if {"original", "negated"} <= set(v)]
    n = len(complete)
    same = sum(_top1(v["original"]) == _top1(v["negated"]) for v in complete)
    acc_o = sum(bool(v["original"].get("correct_top1")) for v in complete)
    acc_n = sum(bool(v["negated"].get("correct_top1")) for v in complete)
    return {"pairs": n, "top1_unchanged": same / n if n else None,
            "top1_acc_original": acc_o / n if n else None, "top1_acc_negated": acc_n / n if n else None}


def abstention(predictions: Path) -> dict:
    preds = list(_predictions(predictions).values())
    n = len(preds)
    return {"cases": n, "abstained": sum(bool(p.get("abstained")) for p in preds) / n if n else None}


def _hits(p: dict, gold_key: str, vocab, k: int, lenient: bool) -> bool:
    names = [d["diagnosis"] for d in (p.get("predictions") or [])[:k]]
    if lenient:
        gold = vocab.lenient_keys(p["gold"])
        return any(vocab.lenient_keys(n) & gold for n in names)
    return any(vocab.concept_key(n) == gold_key for n in names)


def paired(old: Path, new: Path) -> dict:
    from rag_dx.metrics import paired_difference
    from rag_dx.vocab import Vocabulary

    vocab = Vocabulary.load()
    a, b = _predictions(old), _predictions(new)
    ids = sorted(set(a) & set(b))
    out: dict = {"cases": len(ids), "only_in_one_run": len(set(a) ^ set(b))}
    for name, run in (("old", a), ("new", b)):
        rows = [run[i] for i in ids]
        keys = [vocab.concept_key(r["gold"]) for r in rows]
        out[name] = {f"top{k}{'_lenient' if len_ else ''}": sum(_hits(r, g, vocab, k, len_) for r, g in zip(rows, keys))
                     / max(len(rows), 1) for k in (1, 5) for len_ in (False, True)}
        out[name]["abstained"] = sum(bool(r.get("abstained")) for r in rows) / max(len(rows), 1)
    for k in (1, 5):
        hits = [[_hits(run[i], vocab.concept_key(run[i]["gold"]), vocab, k, False) for i in ids] for run in (a, b)]
        out[f"paired_top{k}"] = paired_difference(hits[0], hits[1])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["negation", "abstention", "paired"])
    ap.add_argument("--against", type=Path, help="paired: the new run's predictions.jsonl")
    ap.add_argument("--predictions", type=Path, required=True)
    ap.add_argument("--queries", type=Path)
    a = ap.parse_args(argv)
    if a.what == "paired":
        if a.against is None:
            ap.error("paired needs --against NEW/predictions.jsonl")
        out = paired(a.predictions, a.against)
    else:
        out = negation(a.predictions, a.queries) if a.what == "negation" else abstention(a.predictions)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
