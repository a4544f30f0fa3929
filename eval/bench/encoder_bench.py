"""Fast path: the encoder on torch vs ONNX Runtime fp32 vs ONNX Runtime int8 (setting ``encoder_backend``).

Speed: the same texts encoded by each backend, interleaved (MTSamples chunks, about 170 tokens;
and single short queries, as diagnose encodes them). Quality: cosine of each backend's vectors to
torch's on the same chunks, and retrieval on the Symptom2Disease dev holdout
(``rag_dx.splits.holdout_split``, seed 0, test 0.2): each test description retrieves its 10 nearest
train descriptions (exact search); recall@10 = share of test cases with a same-diagnosis report in
the 10 (the eval's retrieval metric), precision@10 = share of the 10 with the same diagnosis,
1-NN accuracy = the nearest report's diagnosis is right.
"""

from __future__ import annotations

import logging

import numpy as np

from eval.bench.common import Section, interleave, load_mtsamples, paired_ratio, summary_ms

log = logging.getLogger(__name__)


def _retrieval_quality(train_vecs, train_labels, test_vecs, test_labels, k: int = 10) -> dict:
    sims = test_vecs @ train_vecs.T
    top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    tl = np.asarray(train_labels)
    same = tl[top] == np.asarray(test_labels)[:, None]
    return {"recall_at_10": round(float(same.any(axis=1).mean()), 4),
            "precision_at_10": round(float(same.mean()), 4),
            "nn1_accuracy": round(float(same[:, 0].mean()), 4),
            "n_test": int(len(test_labels)), "n_train": int(len(train_labels))}


def run(ctx) -> Section:
    from eval.bench.eval_bench import holdout, labeled_rows

    sec = Section("encoder")
    backends = ["torch"]
    if ctx.onnx_available():
        backends += ["onnx", "onnx-int8"]
    else:
        sec.notes.append("onnx backends skipped: install the 'onnx' extra (onnxruntime, onnx)")
    if ctx.quick:
        backends = backends[:1]
        sec.notes.append("--quick measures the torch backend only (the ONNX export takes ~15 s the first time)")
    encs = {b: ctx.encoder(b) for b in backends}
    notes = load_mtsamples(6 if ctx.quick else 24)
    if notes:
        from rag_dx.ingest.chunking import chunk_reports
        from rag_dx.schemas import Report

        cs = ctx.settings.chunk
        chunks = chunk_reports([Report(report_id=i, text=t) for i, t in notes], encs["torch"].tokenizer,
                               cs.chunk_tokens, cs.overlap_tokens)
        texts = [c.text for c in chunks][: 16 if ctx.quick else 64]
        text_src = f"{len(texts)} MTSamples chunks"
    else:
        from rag_dx.demo import demo_reports_path
        from rag_dx.ingest.loaders import load_reports

        texts = [r.text for r in load_reports(demo_reports_path()).reports][:96]
        text_src = f"{len(texts)} demo reports (../shared absent)"
    for enc in encs.values():
        enc.encode(texts[:4])  # warm-up
    out: dict = {}
    vecs: dict = {}

    def batch(b):
        def go():
            vecs[b] = encs[b].encode(texts, batch_size=ctx.settings.batch_size)
        return go

    rounds = 1 if ctx.quick else 2
    times = interleave({b: batch(b) for b in backends}, rounds)
    from eval.bench.cases import CASES

    q_times = interleave({b: (lambda b=b: [encs[b].encode([c]) for c in CASES]) for b in backends}, rounds)
    for b in backends:
        cos = (vecs[b] * vecs["torch"]).sum(axis=1)
        out[b] = {"name": encs[b].name, "fingerprint": encs[b].fingerprint[:12],
                  "texts_per_s": round(len(texts) / float(np.median(times[b])), 2),
                  "query_ms": summary_ms([t / len(CASES) for t in q_times[b]])["p50_ms"],
                  "cosine_to_torch": {"min": round(float(cos.min()), 4), "mean": round(float(cos.mean()), 4)}}
    for b in backends[1:]:
        sec.headline[f"{b} / torch encode throughput"] = paired_ratio(times["torch"], times[b])
        sec.headline[f"{b} cosine to torch (min)"] = out[b]["cosine_to_torch"]["min"]
    rows, source = labeled_rows(ctx)
    if not ctx.quick:
        train, test = holdout(rows)
        # fp32 ONNX is torch to cosine 0.9999+, so its holdout numbers would repeat torch's
        for b in [b for b in backends if b != "onnx"]:
            tv = encs[b].encode([r[2] for r in train], batch_size=ctx.settings.batch_size)
            qv = encs[b].encode([r[2] for r in test], batch_size=ctx.settings.batch_size)
            out[b]["dev_holdout"] = _retrieval_quality(tv, [r[1] for r in train], qv, [r[1] for r in test])
        for b in [b for b in backends[1:] if "dev_holdout" in out[b]]:
            d, t = out[b]["dev_holdout"], out["torch"]["dev_holdout"]
            sec.headline[f"{b} retrieval change (precision@10, recall@10)"] = (
                round(d["precision_at_10"] - t["precision_at_10"], 4), round(d["recall_at_10"] - t["recall_at_10"], 4))
    else:
        sec.notes.append("dev-holdout retrieval quality is skipped in --quick")
    sec.results = {"texts": text_src, "rounds": rounds, "holdout_data": source, "backends": out,
                   "threads": ctx.settings.resolved_threads()}
    return sec
