"""How strong should the rare-source prior be? Card ranking on all of MedQuAD, one prior against another, paired.

Why this and not a full ``rag-dx eval``: the prior only matters where rare-disease pages compete
(MedQuAD's GARD / GHR, two thirds of its diagnosis topics), and embedding all of MedQuAD as an
index did not fit the 2-core budget. The unit is the disease card of
:mod:`eval.encoder_cards` (name + symptom answers, else information answers, 1,500 characters),
scored the way :class:`rag_dx.topic_cards.TopicCards` scores a case: cosine with the card vector
(bundled encoder) + TF-IDF cosine (fitted on the cards, the same vectorizer settings) + the prior
when the card is rare-source only. Query sets: the guidelines-only protocol's DSP and S2D cases
and the MTSamples physician notes (denied findings removed), gold matched strictly through
``concept_key``. Reports top-1 / top-5 per prior and the paired difference of each prior against
``--baseline`` (bootstrap CI, McNemar).

Usage::

    python -m eval.protocols.card_prior --priors 0 -0.05 -0.1 -0.15 -0.2 --baseline -0.05
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any


QUERY_FILES = {"dsp": Path("runs/protocols/guidelines_only/dsp_queries.csv"),
               "s2d": Path("runs/protocols/guidelines_only/s2d_queries.csv"),
               "notes": Path("runs/protocols/notes/queries.csv")}


def compare_priors(priors: Sequence[float], baseline: float, medquad: Path, cache: Path,
                   query_files: dict[str, Path] = QUERY_FILES) -> dict[str, Any]:
    """Per query set and prior: top-1 / top-5, and the paired difference against `baseline`."""
    from eval.encoder_cards import build_cards, encode_cached, hits_at
    from eval.protocols.extra import read_queries
    from rag_dx.candidates import concept_key
    from rag_dx.metrics import paired_difference
    from rag_dx.practice.negation import query_text
    from rag_dx.topic_cards import card_vectorizer
    from rag_dx.vocab import Vocabulary

    vocabulary = Vocabulary.load()
    keys, texts, rare = build_cards(medquad, vocabulary, cache)
    vectors = encode_cached(None, texts, cache)
    vectorizer = card_vectorizer(len(keys))
    matrix = vectorizer.fit_transform(texts)
    out: dict[str, Any] = {"n_cards": len(keys), "n_rare_cards": int(rare.sum()), "sets": {}}
    for name, path in query_files.items():
        rows = read_queries(path)
        gold = [concept_key(r["diagnosis"], vocabulary) for r in rows]
        queries = [query_text(r["text"]) for r in rows]
        base = encode_cached(None, queries, cache) @ vectors.T + (vectorizer.transform(queries) @ matrix.T).toarray()
        hits = {prior: hits_at(base + prior * rare[None, :], keys, gold) for prior in sorted({*priors, baseline})}
        out["sets"][name] = {"n": len(rows), "by_prior": {
            str(p): {"top1": float(h["top1"].mean()), "top5": float(h["top5"].mean()),
                     "vs_baseline_top1": paired_difference(hits[baseline]["top1"], h["top1"]),
                     "vs_baseline_top5": paired_difference(hits[baseline]["top5"], h["top5"])}
            for p, h in hits.items()}}
    return out


def to_markdown(result: dict[str, Any], baseline: float) -> str:
    lines = [f"{result['n_cards']} cards ({result['n_rare_cards']} rare-source only); Δ against prior {baseline}",
             "", "| queries | n | prior | top-1 | top-5 | Δ top-1 [95% CI] | Δ top-5 [95% CI], McNemar p |",
             "|---|---:|---:|---:|---:|---|---|"]
    for name, s in result["sets"].items():
        for p, r in s["by_prior"].items():
            d1, d5 = r["vs_baseline_top1"], r["vs_baseline_top5"]
            lines.append(f"| {name} | {s['n']} | {p} | {r['top1']:.3f} | {r['top5']:.3f} | "
                         f"{d1['delta']:+.3f} [{d1['ci_low']:+.3f}, {d1['ci_high']:+.3f}] | "
                         f"{d5['delta']:+.3f} [{d5['ci_low']:+.3f}, {d5['ci_high']:+.3f}], p = {d5['mcnemar_p']:.2g} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--priors", type=float, nargs="+", default=[0.0, -0.05, -0.1, -0.15, -0.2])
    parser.add_argument("--baseline", type=float, default=-0.05)
    parser.add_argument("--medquad", type=Path, default=Path("../shared/data/medquad/medquad_answered.jsonl.gz"))
    parser.add_argument("--cache", type=Path, default=Path("runs/encoder_cards_cache"))
    parser.add_argument("--out", type=Path, default=None, help="also write result.json here")
    args = parser.parse_args(argv)
    from eval.protocols.extra import InputError

    if not args.medquad.is_file():
        parser.exit(2, f"error: {args.medquad}: not found (needs ../shared/data's medquad/)\n")
    try:
        result = compare_priors(args.priors, args.baseline, args.medquad, args.cache)
    except (InputError, ValueError) as exc:  # build_cards: "<file>: line N: a row needs ..."
        parser.exit(2, f"error: {exc}\n")
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "result.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(to_markdown(result, args.baseline))


if __name__ == "__main__":
    main()
