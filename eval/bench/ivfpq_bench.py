"""Compressed dense index (IVF-PQ, IVF-SQ8) vs IVF-Flat at 1M vectors: recall@10 against exact
search, single-query latency, bytes per vector; 10M by extrapolation.

    python -m eval.bench.ivfpq_bench --out runs/bench-ivfpq [--n 1000000] [--queries 200]
    python -m eval.bench.ivfpq_bench --n 1000000 --rag-dx SQ8 PQ96   # what rag-dx builds

``--factories`` measures raw faiss factories at every nprobe; ``--rag-dx CODEC...`` measures the
index rag-dx itself writes above ``faiss.compress_above`` (:meth:`DenseIndex.build_auto`, nprobe
calibrated as in a real build, the file saved as the writer saves it).

Vectors are synthetic on the real embedding manifold (:func:`eval.bench.faiss_bench.synthetic`,
seeded with Symptom2Disease descriptions or the demo reports, torch encoder); queries are real
case texts (:func:`eval.bench.faiss_bench._queries`). Exact truth: ``IndexFlatIP``. Bytes per
vector: the serialized index size / n (codes + ids + inverted-list overhead; the CPU original of
an IVF-Flat index holds the float32 vectors). 10M: bytes scale linearly per vector (measured at
1M, not built); latency at 10M is not extrapolated. ``...,RFlat`` re-ranks 16 x k PQ candidates
with the exact vectors, which it keeps in memory too (they could live on disk; not measured).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import time
from pathlib import Path

import numpy as np


class _Ctx:
    """The two things `faiss_bench._queries` needs from the bench context."""

    def __init__(self) -> None:
        self._enc = None

    def encoder(self, backend: str = "torch"):
        if self._enc is None:
            from rag_dx.embed import load_encoder
            from rag_dx.settings import load_settings

            self._enc = load_encoder(load_settings(encoder_backend=backend))
        return self._enc


def _prepare(n: int, n_queries: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
    """(vectors, queries, exact top-10 ids, exact 10th score, description) for `n` synthetic vectors."""
    import faiss

    from eval.bench.common import load_symptom2disease, machine
    from eval.bench.faiss_bench import _queries, synthetic

    ctx = _Ctx()
    queries, qsrc = _queries(ctx, n_queries)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    rows = load_symptom2disease()
    if rows:
        texts, seed_src = [r[2] for r in rows], f"{len(rows)} Symptom2Disease descriptions"
    else:
        from rag_dx.demo import demo_reports_path
        from rag_dx.ingest.loaders import load_reports

        texts = [r.text for r in load_reports(demo_reports_path()).reports]
        seed_src = f"{len(texts)} demo reports"
    seeds = ctx.encoder().encode(texts)
    vecs = synthetic(np.asarray(seeds, dtype=np.float32), n)
    d = vecs.shape[1]
    flat = faiss.IndexFlatIP(d)
    flat.add(vecs)
    exact_scores, truth = flat.search(queries, 10)
    # Synthetic points are dense: many share a seed triple, so neighbours past the 3rd decimal tie and
    # recall by id is pessimistic. Tie-aware recall counts a returned vector as a hit when its exact
    # score is within 1e-3 of the 10th exact score.
    tenth = exact_scores[:, -1]
    flat_bytes = len(faiss.serialize_index(flat)) / n
    del flat
    gc.collect()
    meta = {"machine": machine(), "n": n, "dim": d, "queries": qsrc, "seeds": seed_src,
            "exact_bytes_per_vector": round(flat_bytes, 1)}
    return vecs, queries, truth, tenth, meta


def _tie_aware(vecs: np.ndarray, queries: np.ndarray, found: np.ndarray, tenth: np.ndarray) -> float:
    """Share of returned vectors whose exact score is within 1e-3 of the exact 10th score."""
    got = np.einsum("qkd,qd->qk", vecs[np.clip(found, 0, len(vecs) - 1)], queries)
    return float(np.mean((got >= tenth[:, None] - 1e-3) & (found >= 0)))


def _p50_single(search, queries: np.ndarray) -> float:
    from eval.bench.common import summary_ms

    ts = []
    for q in queries[:50]:
        t = time.perf_counter()
        search(q[None, :], 10)
        ts.append(time.perf_counter() - t)
    return summary_ms(ts)["p50_ms"]


def run_rag_dx(out: Path, *, n: int = 1_000_000, n_queries: int = 200, codecs: tuple[str, ...] = ("SQ8",)) -> dict:
    """The compressed index rag-dx writes above ``faiss.compress_above``, one per codec."""
    import tempfile

    import faiss

    from rag_dx.index.faiss_index import DenseIndex, FaissConfig, recall_at_k

    vecs, queries, truth, tenth, results = _prepare(n, n_queries)
    results["rag_dx"] = {}
    for codec in codecs:
        faiss.omp_set_num_threads(os.cpu_count() or 1)
        # "Flat": the uncompressed IVF rag-dx builds below compress_above, for the side-by-side ratio
        config = (FaissConfig(exact_below=1, compress_above=0) if codec == "Flat"
                  else FaissConfig(compress_above=n - 1, compress_codec=codec))
        t0 = time.perf_counter()
        dense = DenseIndex.build_auto(vecs, np.arange(n, dtype=np.int64), config)
        build_s = time.perf_counter() - t0
        with tempfile.TemporaryDirectory() as tmp:
            dense.save(Path(tmp) / "dense.faiss")
        found = dense.search(queries, 10)[1]
        faiss.omp_set_num_threads(1)  # single queries: one FAISS thread, as serving does
        p50 = _p50_single(dense.search, queries)
        per_vector = dense.file_bytes / n
        results["rag_dx"][codec] = {
            "factory": dense.factory, "nprobe": dense.nprobe, "build_s_with_calibration": round(build_s, 1),
            "calibration": dense.calibration, "bytes_per_vector": round(per_vector, 1),
            "recall_at_10": round(recall_at_k(found, truth, 10), 4),
            "recall_at_10_tie_aware": round(_tie_aware(vecs, queries, found, tenth), 4), "p50_ms": p50,
            "extrapolated_gb_at_10m": round(per_vector * 1e7 / 2**30, 2)}
        print(codec, json.dumps(results["rag_dx"][codec]), flush=True)
        del dense
        gc.collect()
    out.mkdir(parents=True, exist_ok=True)
    (out / "ivfpq_rag_dx.json").write_text(json.dumps(results, indent=2))
    return results


def run(out: Path, *, n: int = 1_000_000, n_queries: int = 200,
        factories: tuple[str, ...] = ("IVF1024,Flat", "IVF1024,PQ48", "IVF1024,PQ96")) -> dict:
    import faiss

    from rag_dx.index.faiss_index import recall_at_k

    vecs, queries, truth, tenth, results = _prepare(n, n_queries)
    d = vecs.shape[1]
    results["factories"] = {}
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    for factory in factories:
        index = faiss.index_factory(d, "IDMap2," + factory, faiss.METRIC_INNER_PRODUCT)
        ivf = faiss.extract_index_ivf(index)
        if factory.endswith(",RFlat"):  # PQ candidates re-ranked with the exact vectors (k_factor x k)
            faiss.downcast_index(index.index).k_factor = 16
        t0 = time.perf_counter()
        sample = vecs[np.sort(np.random.default_rng(0).choice(n, min(n, 64 * ivf.nlist), replace=False))]
        index.train(sample)
        index.add_with_ids(vecs, np.arange(n, dtype=np.int64))
        build_s = time.perf_counter() - t0
        size = len(faiss.serialize_index(index))
        faiss.omp_set_num_threads(1)  # single queries: one FAISS thread, as serving does
        curve = {}
        for nprobe in (8, 16, 32, 64, 128):
            ivf.nprobe = nprobe
            found = index.search(queries, 10)[1]
            curve[str(nprobe)] = {"recall_at_10": round(recall_at_k(found, truth, 10), 4),
                                  "recall_at_10_tie_aware": round(_tie_aware(vecs, queries, found, tenth), 4),
                                  "p50_ms": _p50_single(index.search, queries)}
        faiss.omp_set_num_threads(os.cpu_count() or 1)
        results["factories"][factory] = {"build_s": round(build_s, 1), "bytes_per_vector": round(size / n, 1),
                                         "index_mb_at_1m_scale": round(size / n * 1e6 / 2**20, 1),
                                         "extrapolated_gb_at_10m": round(size / n * 1e7 / 2**30, 2),
                                         "by_nprobe": curve}
        print(factory, json.dumps(results["factories"][factory]), flush=True)
        del index
        gc.collect()
    out.mkdir(parents=True, exist_ok=True)
    (out / "ivfpq_bench.json").write_text(json.dumps(results, indent=2))
    return results


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/bench-ivfpq"))
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--factories", nargs="+", default=["IVF1024,Flat", "IVF1024,PQ48", "IVF1024,PQ96"],
                        help="faiss factory strings (each prefixed with IDMap2,)")
    parser.add_argument("--rag-dx", nargs="+", default=None, metavar="CODEC",
                        help="instead: the index rag-dx builds with faiss.compress_codec = CODEC "
                             "(Flat: uncompressed IVF)")
    args = parser.parse_args(argv)
    if args.rag_dx:
        r = run_rag_dx(args.out, n=args.n, n_queries=args.queries, codecs=tuple(args.rag_dx))
        print(f"n={r['n']:,} dim={r['dim']}; exact: {r['exact_bytes_per_vector']} B/vector")
        for v in r["rag_dx"].values():
            print(f"{v['factory']} (nprobe {v['nprobe']}): {v['bytes_per_vector']} B/vector "
                  f"({v['extrapolated_gb_at_10m']} GB at 10M, extrapolated); recall@10 {v['recall_at_10']} "
                  f"(tie-aware {v['recall_at_10_tie_aware']}); p50 {v['p50_ms']} ms; "
                  f"build {v['build_s_with_calibration']} s")
        return 0
    r = run(args.out, n=args.n, n_queries=args.queries, factories=tuple(args.factories))
    print(f"n={r['n']:,} dim={r['dim']}; exact: {r['exact_bytes_per_vector']} B/vector")
    for f, v in r["factories"].items():
        best = {k: x for k, x in v["by_nprobe"].items()}
        print(f"{f}: {v['bytes_per_vector']} B/vector ({v['extrapolated_gb_at_10m']} GB at 10M, extrapolated); "
              f"recall@10 (tie-aware) / p50 ms by nprobe: " + ", ".join(
                  f"{k}: {x['recall_at_10']} ({x['recall_at_10_tie_aware']}) / {x['p50_ms']}" for k, x in best.items()))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    raise SystemExit(main())
