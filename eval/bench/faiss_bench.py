"""(b) Retrieval at scale: the FAISS configuration rag-dx chooses vs IndexFlatIP brute force.

Two parts:

1. **Real embeddings** (the judge for recall): MTSamples chunk embeddings (an existing index's
   vectors when ``--real-index`` names one, else notes embedded here and cached), indexed the way
   rag-dx would index them if they were past the IVF threshold (``exact_below=0``: IVF with nprobe
   calibrated at build time), queried with *real queries* unlike the corpus (Symptom2Disease
   patient descriptions and the UI's sample cases). recall@10 against exact search.
2. **Scale** (latency): 10k, 100k and 1M synthetic vectors made from real chunk embeddings
   (:func:`synthetic`: convex combinations of a real chunk and two of its real neighbours, so the
   local structure is the real data's, unlike uniform random vectors, on which IVF recall is
   meaningless). Single-query p50/p95 on one FAISS thread (as diagnose runs), recall@10 vs exact
   for the same real queries, and batched search with faiss' BLAS threshold at its default vs
   lowered (eval's path).
"""

from __future__ import annotations

import gc
import hashlib
import logging
import time
from pathlib import Path

import numpy as np

from eval.bench.common import Section, load_mtsamples, load_symptom2disease, paired_ratio, summary_ms

log = logging.getLogger(__name__)


def _queries(ctx, n: int) -> tuple[np.ndarray, str]:
    from eval.bench.cases import CASES

    texts = list(CASES)
    rows = load_symptom2disease()
    if rows:
        rng = np.random.default_rng(1)
        texts += [rows[i][2] for i in rng.choice(len(rows), size=max(0, n - len(texts)), replace=False)]
    texts = texts[:n]
    src = "UI sample cases" + (" + Symptom2Disease descriptions" if rows else "")
    return ctx.encoder("torch").encode(texts), f"{len(texts)} real queries ({src}), torch encoder"


def synthetic(seeds: np.ndarray, n: int, *, seed: int = 0, neighbours: int = 10, noise: float = 0.08,
              block: int = 100_000) -> np.ndarray:
    """n unit vectors on the real data's manifold: each a random convex combination (Dirichlet(1,1,1))
    of a real seed and two of its `neighbours` nearest seeds, plus a little noise, normalized.

    Isotropic noise around seeds (or uniform random vectors) makes every neighbourhood a
    featureless ball, on which IVF recall says nothing about real embeddings.
    """
    rng = np.random.default_rng(seed)
    d = seeds.shape[1]
    k = max(1, min(neighbours, len(seeds) - 1))
    sims = seeds @ seeds.T
    np.fill_diagonal(sims, -np.inf)
    nn = np.argsort(-sims, axis=1)[:, :k]
    out = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, block):
        m = min(block, n - start)
        i = rng.integers(0, len(seeds), m)
        j = nn[i, rng.integers(0, k, m)]
        l = nn[i, rng.integers(0, k, m)]
        w = rng.dirichlet([1.0, 1.0, 1.0], m).astype(np.float32)
        v = (w[:, :1] * seeds[i] + w[:, 1:2] * seeds[j] + w[:, 2:] * seeds[l]
             + rng.standard_normal((m, d), dtype=np.float32) * (noise / np.sqrt(d)))
        out[start : start + m] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def _ivf_of(dense):
    from rag_dx.index.faiss_index import _ivf

    return _ivf(dense.index)


def _recall(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    from rag_dx.index.faiss_index import recall_at_k

    return round(recall_at_k(found, truth, k), 4)


def _real_corpus(ctx, real_index: str | None, n_notes: int) -> tuple[np.ndarray | None, str]:
    """Real MTSamples chunk embeddings: from an index, a cache, or embedded now (then cached)."""
    settings = ctx.settings
    if real_index:
        try:
            from rag_dx.index.reader import open_index

            enc = ctx.encoder("torch")
            loaded = open_index(settings.index_dir, real_index, encoder_name=enc.name,
                                encoder_fingerprint=enc.fingerprint, verify=False)
            ids = loaded.docstore.all_row_ids()
            vecs = loaded.dense.vectors_for(ids)
            return vecs.astype(np.float32), f"{len(vecs)} chunk vectors of index '{real_index}' ({loaded.version})"
        except Exception as exc:  # noqa: BLE001 - fall back to embedding notes here, and say why
            log.info("real index %s unusable: %s", real_index, exc)
    notes = load_mtsamples(n_notes)
    if not notes:
        return None, "no MTSamples notes (../shared absent)"
    backend = "onnx-int8" if ctx.onnx_available() else "torch"
    enc = ctx.encoder(backend)
    key = hashlib.sha256(f"{enc.fingerprint}|{n_notes}|{settings.chunk.model_dump()}".encode()).hexdigest()[:16]
    cache = Path(settings.cache_dir) / "bench" / f"mtsamples-{key}.npy"
    if cache.is_file():
        vecs = np.load(cache)
        return vecs, f"{len(vecs)} chunks of {len(notes)} MTSamples notes ({backend} encoder, cached)"
    from rag_dx.ingest.chunking import chunk_reports
    from rag_dx.schemas import Report

    reports = [Report(report_id=f"mts-{i}", text=t) for i, t in notes]
    chunks = chunk_reports(reports, enc.tokenizer, settings.chunk.chunk_tokens, settings.chunk.overlap_tokens)
    vecs = enc.encode([c.text for c in chunks], batch_size=settings.batch_size)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, vecs)
    return vecs, f"{len(vecs)} chunks of {len(notes)} MTSamples notes ({backend} encoder, embedded now)"


def run(ctx, *, real_index: str | None = None, real_notes: int = 400) -> Section:
    import faiss

    from rag_dx.index.faiss_index import BATCH_BLAS_THRESHOLD, DenseIndex, FaissConfig, choose_factory

    sec = Section("retrieval")
    quick = ctx.quick
    faiss.omp_set_num_threads(1)  # what diagnose.configure_threads sets for single queries
    config = FaissConfig(**ctx.settings.faiss.model_dump())
    n_queries = 10 if quick else 40
    queries, qsrc = _queries(ctx, n_queries)
    k = 10
    sec.results["queries"] = qsrc
    sec.results["faiss_threads"] = 1

    # ---- 1. recall judged on real embeddings
    corpus, csrc = (None, "skipped in --quick") if quick else _real_corpus(ctx, real_index, real_notes)
    if corpus is not None and len(corpus) >= 39 * 8:
        real_cfg = FaissConfig(**{**ctx.settings.faiss.model_dump(), "exact_below": 0})
        t0 = time.perf_counter()
        ivf = DenseIndex.build_auto(corpus, np.arange(len(corpus)), real_cfg)
        build_s = time.perf_counter() - t0
        exact = faiss.IndexFlatIP(corpus.shape[1])
        exact.add(corpus)
        _, truth = exact.search(queries, 30)
        _, found = ivf.search(queries, 30)
        from rag_dx.index.faiss_index import _ivf

        ivf_part, chosen_nprobe, curve = _ivf(ivf.index), ivf.nprobe, {}
        p = 1
        while p <= ivf_part.nlist:  # what recall each nprobe would give these real queries
            ivf_part.nprobe = p
            curve[str(p)] = _recall(ivf.search(queries, 10)[1], truth, 10)
            p *= 2
        ivf_part.nprobe = chosen_nprobe
        sec.results["real_embeddings"] = {
            "corpus": csrc, "factory": ivf.factory, "nprobe": ivf.nprobe, "calibration": ivf.calibration,
            "recall_at_10_vs_exact": _recall(found, truth, 10), "recall_at_30_vs_exact": _recall(found, truth, 30),
            "recall_at_10_by_nprobe": curve, "build_s": round(build_s, 2)}
        sec.headline["recall@10 vs exact, real MTSamples embeddings + real queries"] = \
            sec.results["real_embeddings"]["recall_at_10_vs_exact"]
    else:
        sec.notes.append(f"recall on real embeddings skipped: {csrc if corpus is None else 'corpus too small'}"
                         + (" (--quick)" if quick else ""))

    # ---- 2. scale
    seeds = ctx.real_vectors
    seed_src = ctx.real_vectors_source
    if seeds is None or len(seeds) < 8:
        from rag_dx.demo import demo_reports_path
        from rag_dx.ingest.loaders import load_reports

        texts = [r.text for r in load_reports(demo_reports_path()).reports]
        seeds, seed_src = ctx.encoder("torch").encode(texts), f"{len(texts)} demo reports, torch encoder"
    if corpus is not None and len(corpus) > len(seeds):
        seeds, seed_src = corpus, csrc
    sizes = [10_000] if quick else [10_000, 100_000, 1_000_000]
    rows = {}
    for n in sizes:
        vecs = synthetic(seeds, n)
        ids = np.arange(n, dtype=np.int64)
        flat = faiss.IndexFlatIP(vecs.shape[1])
        flat.add(vecs)
        t0 = time.perf_counter()
        chosen = DenseIndex.build_auto(vecs, ids, config)
        build_s = time.perf_counter() - t0
        _, truth = flat.search(queries, 30)
        _, found = chosen.search(queries, 30)
        lat = {"flat": [], "chosen": []}
        for q in queries:  # interleaved, one query at a time
            q1 = q[None, :]
            t = time.perf_counter(); flat.search(q1, k); lat["flat"].append(time.perf_counter() - t)
            t = time.perf_counter(); chosen.search(q1, k); lat["chosen"].append(time.perf_counter() - t)
        # batched search (eval): faiss' default BLAS threshold vs rag-dx's lowered one
        batch = np.ascontiguousarray(np.tile(queries, (max(1, 64 // len(queries)), 1))[:64])
        default = ctx.faiss_blas_default
        bt = {"default": [], "lowered": []}
        for _ in range(1 if quick else 2):
            faiss.cvar.distance_compute_blas_threshold = default
            t = time.perf_counter(); flat.search(batch, k); bt["default"].append((time.perf_counter() - t) / len(batch))
            faiss.cvar.distance_compute_blas_threshold = BATCH_BLAS_THRESHOLD
            t = time.perf_counter(); flat.search(batch, k); bt["lowered"].append((time.perf_counter() - t) / len(batch))
        curve = {}
        part = _ivf_of(chosen)
        if part is not None:  # recall and latency each nprobe would give the real queries
            calibrated = part.nprobe
            p = 1
            while p <= min(part.nlist, 256):
                part.nprobe = p
                f = chosen.search(queries, 10)[1]
                ts = []
                for q in queries[: 10 if quick else 20]:
                    t = time.perf_counter(); chosen.search(q[None, :], k); ts.append(time.perf_counter() - t)
                curve[str(p)] = {"recall_at_10": _recall(f, truth, 10), "p50_ms": summary_ms(ts)["p50_ms"]}
                p *= 2
            part.nprobe = calibrated
        rows[str(n)] = {
            "recall_at_10_by_nprobe": curve,
            "factory": chosen.factory, "expected_factory": choose_factory(n, config), "nprobe": chosen.nprobe,
            "calibration": chosen.calibration, "build_s": round(build_s, 2),
            "flat": summary_ms(lat["flat"]), "chosen": summary_ms(lat["chosen"]),
            "speedup_p50": paired_ratio(lat["flat"], lat["chosen"]),
            "recall_at_10_vs_exact": _recall(found, truth, 10), "recall_at_30_vs_exact": _recall(found, truth, 30),
            "batch64_ms_per_query": {"blas_threshold_default": summary_ms(bt["default"])["p50_ms"],
                                     "blas_threshold_lowered": summary_ms(bt["lowered"])["p50_ms"]},
            "batch64_speedup": paired_ratio(bt["default"], bt["lowered"]),
        }
        del vecs, flat, chosen
        gc.collect()
    sec.results["synthetic_seeds"] = seed_src
    sec.results["sizes"] = rows
    big = rows[str(sizes[-1])]
    sec.headline[f"p50 ms at {sizes[-1]:,} ({big['factory']})"] = big["chosen"]["p50_ms"]
    sec.headline[f"p50 ms at {sizes[-1]:,} (IndexFlatIP)"] = big["flat"]["p50_ms"]
    sec.headline[f"recall@10 at {sizes[-1]:,} (synthetic)"] = big["recall_at_10_vs_exact"]
    sec.headline[f"batched search speedup at {sizes[-1]:,} (lowered BLAS threshold)"] = big["batch64_speedup"]
    return sec
