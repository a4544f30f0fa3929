"""Component check for issue 13: does one-concept-per-candidate help, with retrieval held fixed?

BM25 (bm25s) over MedQuAD question+answer passages, the top 30 passages per case; candidates by
``collect_candidates`` without a vocabulary (text keys, every topic competes), with one (concept
keys, non-diagnosis topics dropped), and with the case's findings as well. Scored by ICD-10-CM
concept (``concept_key``), each ranking deduplicated by concept, so the text-key baseline is not
penalized for listing one disease twice. Not the system's protocol result: no dense retrieval,
no generator, no practice model.

    python -m eval.protocols.candidates_check --queries runs/protocols/guidelines_only/s2d_queries.csv \
        --medquad ../shared/data/medquad/medquad_answered.jsonl.gz
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    import bm25s

    from rag_dx.candidates import collect_candidates, concept_key
    from rag_dx.findings import FindingExtractor
    from rag_dx.schemas import Chunk, Hit
    from rag_dx.vocab import Vocabulary

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--queries", type=Path, required=True)
    ap.add_argument("--medquad", type=Path, required=True)
    ap.add_argument("--k", type=int, default=30)
    a = ap.parse_args(argv)
    with gzip.open(a.medquad, "rt", encoding="utf-8") as fh:
        docs = [json.loads(line) for line in fh]
    texts = [d["question"] + "\n" + d["answer"][:1500] for d in docs]
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
    vocab, fx = Vocabulary.load(), FindingExtractor()
    cache: dict[str, list] = {}

    def evidence(h: Hit) -> list:
        if h.id not in cache:
            cache[h.id] = fx.extract(h.chunk.text)
        return cache[h.id]

    with open(a.queries, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    score = {k: [0, 0] for k in ("text keys", "concepts", "concepts+findings")}
    for r in rows:
        gold = concept_key(r["diagnosis"], vocab)
        ids, sc = retriever.retrieve(bm25s.tokenize([r["text"]], stopwords="en", show_progress=False),
                                     k=a.k, show_progress=False)
        top = max(float(sc[0].max()), 1e-9)
        hits = [Hit(chunk=Chunk(chunk_id=f"G:{i}", kind="guideline", doc_id=str(i), title=docs[i]["question"],
                                text=texts[i], label=docs[i]["focus"]), score=float(x), dense_score=0.5 + 0.5 * float(x) / top)
                for i, x in zip(ids[0], sc[0])]
        pools = {
            "text keys": collect_candidates(hits),
            "concepts": collect_candidates(hits, vocabulary=vocab),
            "concepts+findings": collect_candidates(hits, vocabulary=vocab, query_findings=fx.extract(r["text"]),
                                                    evidence_findings=evidence),
        }
        for name, pool in pools.items():
            ranked: list[str] = []
            for c in sorted(pool.values(), key=lambda c: -c.vote):
                k = concept_key(c.name, vocab)
                if k not in ranked:
                    ranked.append(k)
            score[name][0] += ranked[:1] == [gold]
            score[name][1] += gold in ranked[:5]
    n = len(rows)
    print(json.dumps({"queries": str(a.queries), "n": n,
                      **{k: {"top1": round(t1 / n, 3), "top5": round(t5 / n, 3)} for k, (t1, t5) in score.items()}},
                     indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
