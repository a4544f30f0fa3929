"""(f) Practice-model training at index time: rag-dx's classifier + ranker vs fitting the baseline alone.

The practice model is trained inside every `index build` / `update` / `rebuild`, so its cost is
build latency. Measured on MTSamples notes labeled by specialty (the only large labeled corpus at
hand; 10,000 = the 4,966 notes twice, the copy marked so it is not an exact duplicate), with
random unit vectors standing in for embeddings (the encoder is measured in the build section).
The side-by-side reference is fitting the TF-IDF + LR baseline once on the same texts: the
practice model does that plus cross-fitting and the ranker, so the ratio says what leakage-safe
training costs on top of the simplest model.
"""

from __future__ import annotations

import csv
import gzip
import time

import numpy as np

from eval.bench.common import Section, shared_data_dir


def _labeled_notes() -> list[tuple[str, str]]:
    root = shared_data_dir()
    path = root / "mtsamples" / "mtsamples.csv.gz" if root else None
    if path is None or not path.is_file():
        return []
    with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
        return [((r.get("transcription") or "").strip(), (r.get("medical_specialty") or "").strip())
                for r in csv.DictReader(fh) if (r.get("transcription") or "").strip()]


def run(ctx) -> Section:
    from eval.baseline import TfidfLogRegBaseline
    from rag_dx.practice.train import train_practice
    from rag_dx.schemas import Chunk

    sec = Section("practice")
    notes = _labeled_notes()
    if not notes:
        sec.skipped = "needs ../shared/data/mtsamples beside the checkout"
        return sec
    sizes = [300] if ctx.quick else [2000, 5000, 10000]
    rng = np.random.default_rng(0)
    for n in sizes:
        texts = [notes[i % len(notes)][0] + (f" (copy {i // len(notes)})" if i >= len(notes) else "")
                 for i in range(n)]
        labels = [notes[i % len(notes)][1] for i in range(n)]
        chunks = [Chunk(chunk_id=f"R:{i}#0", kind="report", doc_id=str(i), title="r", text=t, label=lab)
                  for i, (t, lab) in enumerate(zip(texts, labels))]
        vectors = rng.normal(size=(n, 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        t0 = time.perf_counter()
        TfidfLogRegBaseline().fit(texts, labels)
        t1 = time.perf_counter()
        model = train_practice(chunks, vectors)
        t2 = time.perf_counter()
        sec.results[f"n{n}"] = {"reports": n, "diagnoses": len(set(labels)), "practice_s": round(t2 - t1, 1),
                                "baseline_fit_s": round(t1 - t0, 1), "ratio_to_baseline": round((t2 - t1) / (t1 - t0), 2),
                                "status": model.status, "oof_classifier_top1": model.metrics.get("oof_classifier_top1")}
    last = sec.results[f"n{sizes[-1]}"]
    sec.headline = {"practice_training_s": last["practice_s"], "reports": last["reports"],
                    "ratio_to_baseline_fit": last["ratio_to_baseline"]}
    sec.notes.append("texts are full MTSamples transcriptions (about 3,000 characters each), longer than "
                     "most practice reports; vectors are random (the encoder is measured in 'build')")
    return sec
