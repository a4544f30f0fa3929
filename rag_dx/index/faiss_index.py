"""Dense vectors in FAISS, keyed by docstore row ids, saved with faiss' own format (never pickle).

The index type follows the corpus size (:func:`choose_factory`): exact search (``IDMap2,Flat``)
below ``FaissConfig.exact_below`` vectors, an inverted file (``IDMap2,IVF{nlist},Flat``) above it,
and above ``FaissConfig.compress_above`` an inverted file of compressed codes
(``IDMap2,IVF{nlist},{compress_codec}``: SQ8 or IVF-PQ), whose float32 vectors would no longer fit
comfortably in memory (1.5 KB each at 384 dimensions). A compressed index reconstructs only
approximate vectors, so an update re-embeds instead of reusing them (:attr:`DenseIndex.exact_vectors`).
An IVF index's ``nprobe`` is calibrated when it is built: the smallest number of probed lists
whose recall@10 against exact search reaches ``target_recall`` on deliberately hard queries
(midpoints of random corpus pairs, :func:`calibration_queries`). ``nprobe`` is stored inside the
FAISS file and in the manifest with the calibration.

At 1M x 384 on a shared 2-core CPU, IVF1024 with the calibrated nprobe (32) answers in about
4 ms (p50) against about 290 ms for exact search, with recall@10 >= 0.99. Batched search (eval)
goes through BLAS once ``faiss.cvar.distance_compute_blas_threshold`` is below the batch size
(faiss 1.15 defaults it to 128000, i.e. never): 4-7x faster per query. The measurements and how
they are taken: docs/performance.md (``python -m eval.bench``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rag_dx.settings import FaissSettings

DEFAULT_FACTORY = "IDMap2,Flat"
METRIC = "inner_product"
#: Batches of at least this many queries use BLAS (single queries keep faiss' SIMD scan).
BATCH_BLAS_THRESHOLD = 2
#: IVF k-means trains on at most this many vectors per list (a seeded sample): enough for stable
#: centroids, and it keeps training at 1M vectors to seconds instead of minutes.
TRAIN_POINTS_PER_LIST = 64
#: faiss-gpu answers at most this many neighbours per query (its k-selection limit).
GPU_MAX_K = 2048
#: Fewest vectors a compressed index is built for: PQ trains 256 centroids per code book.
COMPRESS_MIN_VECTORS = 1_000
#: Calibrating a compressed index stops when doubling nprobe gains less recall than this: its
#: codes, not the probing, cap recall below an exact-search target (docs/performance.md).
COMPRESSED_PLATEAU = 0.002

log = logging.getLogger(__name__)


def _faiss():
    try:
        import faiss
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "faiss is not installed: install the 'cpu' extra (faiss-cpu) or the 'gpu' extra (faiss-gpu)"
        ) from exc
    return faiss


#: The one FAISS configuration, validated once: `Settings.faiss` is a FaissConfig. Fields:
#: exact_below, nlist, nprobe, target_recall, calibration_queries, nprobe_margin (see its descriptions).
FaissConfig = FaissSettings


def auto_nlist(n: int) -> int:
    """Power of two nearest sqrt(n), capped so every list has >= 39 training points (faiss' minimum)."""
    nlist = 2 ** max(0, round(math.log2(max(1.0, math.sqrt(n)))))
    while nlist > 1 and n < 39 * nlist:
        nlist //= 2
    return max(1, nlist)


def choose_factory(n: int, config: FaissConfig | None = None) -> str:
    """The FAISS factory string for `n` vectors under `config`."""
    config = config or FaissConfig()
    compress = 0 < config.compress_above < n and n >= COMPRESS_MIN_VECTORS
    if not compress and (n < max(config.exact_below, 1) or n < 39 * 2):
        return DEFAULT_FACTORY
    nlist = config.nlist or auto_nlist(n)
    if not compress:
        return f"IDMap2,IVF{nlist},Flat"
    # "np": no polysemous training, which only serves Hamming-filtered search (not used here) and
    # took 90% of an IVF-PQ build (145 of 157 s for PQ48 on 8,192 training points)
    codec = config.compress_codec + ("np" if config.compress_codec.startswith("PQ") else "")
    return f"IDMap2,IVF{nlist},{codec}"


def recall_at_k(found: np.ndarray, truth: np.ndarray, k: int = 10) -> float:
    """Mean |found[:, :k] & truth[:, :k]| / k over queries (ids -1 never count)."""
    hits = [len({int(i) for i in f[:k] if i >= 0} & {int(i) for i in t[:k] if i >= 0}) for f, t in zip(found, truth)]
    return float(np.mean(hits)) / k if hits else float("nan")


def _ivf(index):
    faiss = _faiss()
    try:
        return faiss.extract_index_ivf(index)
    except RuntimeError:
        return None


def calibration_queries(vectors: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Midpoints of random pairs of corpus vectors, normalized: queries that sit *between* the
    corpus's clusters, as real case descriptions often do.

    Corpus vectors themselves are too easy (each sits in its own list): calibrated on them, IVF1024
    at 1M needed nprobe 4, while real off-domain queries (Symptom2Disease descriptions against
    MTSamples chunks) needed 32 for recall@10 >= 0.99. Midpoints need about as many probes as
    those real queries (measured by ``python -m eval.bench``, section retrieval).
    """
    rng = np.random.default_rng(seed)
    a = vectors[rng.integers(0, len(vectors), n)]
    b = vectors[rng.integers(0, len(vectors), n)]
    q = (a + b).astype(np.float32)
    norms = np.linalg.norm(q, axis=1, keepdims=True)
    return np.ascontiguousarray(q / np.where(norms == 0, 1.0, norms))


def calibrate_nprobe(index, vectors: np.ndarray, ids: np.ndarray, *, target: float, n_queries: int, k: int = 10,
                     seed: int = 0, plateau: float = 0.0) -> tuple[int, float, int, dict[str, float]]:
    """Smallest nprobe (a power of two, or nlist) whose recall@k against exact search reaches
    `target` on :func:`calibration_queries`, or (``plateau`` > 0) the last one before doubling it
    gained less than ``plateau``; returns (nprobe, recall, number of queries, and the recall of
    every nprobe tried)."""
    faiss = _faiss()
    ivf = _ivf(index)
    q = calibration_queries(vectors, min(n_queries, max(10, len(vectors))), seed)
    _set_blas_threshold()
    _, positions = faiss.knn(q, np.ascontiguousarray(vectors, dtype=np.float32), k,
                             metric=faiss.METRIC_INNER_PRODUCT)  # exact, without copying the corpus
    truth = np.where(positions >= 0, np.asarray(ids)[np.maximum(positions, 0)], -1)
    nprobe, recall, tried = 1, 0.0, {}
    previous: tuple[int, float] | None = None
    while True:
        ivf.nprobe = nprobe
        _, found = index.search(q, k)
        recall = recall_at_k(found, truth, k)
        tried[str(nprobe)] = round(recall, 4)
        if plateau > 0 and previous is not None and recall - previous[1] < plateau:
            return previous[0], previous[1], len(q), tried
        if recall >= target or nprobe >= ivf.nlist:
            return nprobe, recall, len(q), tried
        previous = (nprobe, recall)
        nprobe = min(nprobe * 2, ivf.nlist)


def _set_blas_threshold() -> None:
    faiss = _faiss()
    if faiss.cvar.distance_compute_blas_threshold > BATCH_BLAS_THRESHOLD:
        faiss.cvar.distance_compute_blas_threshold = BATCH_BLAS_THRESHOLD


def _is_exact(index) -> bool:
    """Whether `index` (an IDMap2 over Flat or an IVF) keeps the vectors uncompressed."""
    faiss = _faiss()
    ivf = _ivf(index)
    if ivf is None:
        inner = faiss.downcast_index(index.index) if hasattr(index, "index") else index
        return isinstance(inner, faiss.IndexFlat)
    return isinstance(faiss.downcast_index(ivf), faiss.IndexIVFFlat)


def gpu_available() -> bool:
    """True when the installed faiss has GPU support and sees a GPU (the 'gpu' extra on a CUDA machine)."""
    faiss = _faiss()
    return hasattr(faiss, "StandardGpuResources") and getattr(faiss, "get_num_gpus", lambda: 0)() > 0


@dataclass
class DenseIndex:
    """An inner-product index over unit vectors, so scores are cosine similarities.

    Example:
        >>> import numpy as np
        >>> v = np.eye(4, dtype=np.float32)
        >>> DenseIndex.build(v, np.arange(4)).search(v[:1], 1)[1].tolist()
        [[0]]
    """

    index: object
    factory: str = DEFAULT_FACTORY
    calibration: dict = field(default_factory=dict)
    #: A GPU copy that answers `search` (see `to_gpu`); `index` stays the CPU original (save, reconstruct).
    search_index: object | None = field(default=None, repr=False, compare=False)
    #: Size of the saved file (set by `save`): the manifest's bytes per vector.
    file_bytes: int | None = field(default=None, repr=False, compare=False)

    @classmethod
    def build(cls, vectors: np.ndarray, ids: np.ndarray, factory: str = DEFAULT_FACTORY, *,
              config: FaissConfig | None = None) -> "DenseIndex":
        """Build with `factory`; an IVF factory gets its nprobe from `config` (or calibration)."""
        faiss = _faiss()
        config = config or FaissConfig()
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        ids = np.asarray(ids, dtype=np.int64)
        dim = int(vectors.shape[1])
        try:
            index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as exc:  # e.g. PQ{m} with m not dividing the dimension
            from rag_dx.errors import ConfigError

            raise ConfigError(f"faiss cannot build {factory!r} for {dim}-dimensional vectors (check "
                              f"faiss.compress_codec: PQ{{m}} needs m dividing {dim})") from exc
        _set_blas_threshold()  # IVF training and list assignment are batched searches
        if not index.is_trained:
            ivf = _ivf(index)
            cap = TRAIN_POINTS_PER_LIST * ivf.nlist if ivf is not None else len(vectors)
            sample = vectors
            if len(vectors) > cap:
                sample = vectors[np.sort(np.random.default_rng(0).choice(len(vectors), cap, replace=False))]
            index.train(sample)
        index.add_with_ids(vectors, ids)
        calibration: dict = {}
        ivf = _ivf(index)
        if ivf is not None:
            ivf.make_direct_map()  # reconstruct() by id: sparse-only hits and update's vector reuse need it
            if config.nprobe:
                ivf.nprobe = min(config.nprobe, ivf.nlist)
                calibration = {"nprobe": int(ivf.nprobe), "source": "settings"}
            else:
                exact = _is_exact(index)
                nprobe, recall, n_q, tried = calibrate_nprobe(
                    index, vectors, ids, target=config.target_recall, n_queries=config.calibration_queries,
                    plateau=0.0 if exact else COMPRESSED_PLATEAU)
                ivf.nprobe = min(ivf.nlist, max(nprobe, int(math.ceil(nprobe * config.nprobe_margin))))
                calibration = {"nprobe": int(ivf.nprobe), "source": "calibrated", "calibrated_nprobe": nprobe,
                               "margin": config.nprobe_margin, "recall_at_10": round(recall, 4),
                               "target_recall": config.target_recall, "queries": n_q,
                               "query_kind": "midpoints of random corpus pairs", "recall_by_nprobe": tried}
                if not exact:
                    calibration["stops_at_plateau"] = COMPRESSED_PLATEAU
            log.info("dense index %s: nprobe %d", factory, ivf.nprobe)
        return cls(index=index, factory=factory, calibration=calibration)

    @classmethod
    def build_auto(cls, vectors: np.ndarray, ids: np.ndarray, config: FaissConfig | None = None) -> "DenseIndex":
        """Build with the factory :func:`choose_factory` picks for this many vectors."""
        return cls.build(vectors, ids, choose_factory(len(vectors), config), config=config)

    @classmethod
    def load(cls, path: Path, factory: str = DEFAULT_FACTORY) -> "DenseIndex":
        return cls(index=_faiss().read_index(str(path)), factory=factory)

    def save(self, path: Path) -> None:
        _faiss().write_index(self.index, str(path))
        self.file_bytes = path.stat().st_size

    def describe(self) -> dict:
        """What the manifest records about this index."""
        out: dict = {"factory": self.factory, "ntotal": self.ntotal, "compressed": not self.exact_vectors}
        if self.file_bytes is not None:
            out["bytes_per_vector"] = round(self.file_bytes / max(1, self.ntotal), 1)
        if self.nprobe is not None:
            out["nprobe"] = self.nprobe
            out["nlist"] = int(_ivf(self.index).nlist)
        if self.calibration:
            out["calibration"] = self.calibration
        return out

    @property
    def nprobe(self) -> int | None:
        ivf = _ivf(self.index)
        return int(ivf.nprobe) if ivf is not None else None

    @property
    def exact_vectors(self) -> bool:
        """True when the index holds the float32 vectors (Flat, IVF-Flat); False for compressed codes
        (SQ, PQ), whose `vectors_for` are approximations that an update must not reuse."""
        return _is_exact(self.index)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), each (n_queries, k); missing slots have id -1.

        Batches (eval) go through BLAS; a single query keeps the SIMD scan.
        """
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if queries.ndim == 2 and queries.shape[0] >= BATCH_BLAS_THRESHOLD:
            _set_blas_threshold()
        k = max(1, min(k, self.ntotal))
        if self.search_index is not None:
            return self.search_index.search(queries, min(k, GPU_MAX_K))
        return self.index.search(queries, k)

    @property
    def device(self) -> str:
        return "cuda" if self.search_index is not None else "cpu"

    def to_gpu(self, device: int = 0) -> "DenseIndex":
        """This index with a GPU copy for search (faiss-gpu); the CPU original stays for saving and
        `vectors_for`. IVF keeps its nprobe. Raises ConfigError without a GPU."""
        from rag_dx.errors import ConfigError

        if not gpu_available():
            raise ConfigError("no GPU for faiss: install the 'gpu' extra (faiss-gpu) on a machine with CUDA, "
                              "or set faiss.device = \"cpu\"")
        faiss = _faiss()
        gpu = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), device, self.index)
        ivf = _ivf(self.index)
        if ivf is not None:
            faiss.GpuParameterSpace().set_index_parameter(gpu, "nprobe", int(ivf.nprobe))
        return DenseIndex(index=self.index, factory=self.factory, calibration=self.calibration, search_index=gpu)

    def on_device(self, device: str = "auto") -> "DenseIndex":
        """`device` "cpu": self; "cuda": `to_gpu()` (or ConfigError); "auto": a GPU when faiss-gpu sees one."""
        if device == "cuda":
            return self.to_gpu()
        if device == "auto" and gpu_available():
            try:
                return self.to_gpu()
            except RuntimeError as exc:  # a factory faiss-gpu cannot clone: search stays on the CPU
                log.warning("dense index %s stays on the CPU: faiss-gpu cannot hold it (%s)", self.factory,
                            type(exc).__name__)
        return self

    def vectors_for(self, ids: list[int]) -> np.ndarray:
        return np.stack([self.index.reconstruct(int(i)) for i in ids]) if ids else np.zeros((0, self.dim), np.float32)
