"""Embedding on Ray Data (the `scale` extra): an actor pool of encoders, one GPU each when the
cluster has GPUs, for corpora that outgrow one process.

Why Ray Data: it streams batches of texts to long-lived actors (``map_batches`` with an
``ActorPoolStrategy``), so each worker loads the encoder once, on one machine or a cluster, and
the driver never holds more than the finished vectors. The pipeline around it (de-identification,
chunking, the index writer) is unchanged: only the encoder pass moves (:mod:`rag_dx.build`).

Same vectors as a local build: every actor loads the encoder with the project's own loader
(:func:`rag_dx.embed.load_encoder`, or ``settings.scale.encoder_factory``), refuses to run if its
fingerprint differs from the encoder the index will record, and encodes with the configured
``batch_size``. Each row carries its position; the driver puts every vector back in place and
checks that each position came back exactly once.

Settings cross to the workers as their JSON (no object of ours is pickled); the model directory
must exist on every node (shared storage or the same path). Nothing of the texts is logged.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rag_dx.errors import ConfigError, RagDxError

if TYPE_CHECKING:
    from rag_dx.embed import TextEncoder
    from rag_dx.settings import Settings

log = logging.getLogger(__name__)

#: Most encoder actors started when the count is left to the cluster's size (CPU-only clusters).
MAX_AUTO_ACTORS = 8


def _ray():
    try:
        import ray
        import ray.data  # noqa: F401  (needs pyarrow; fails here, not inside a worker)
    except ImportError as exc:
        raise ConfigError("the ray engine needs the 'scale' extra: pip install 'rag-dx[scale]'") from exc
    return ray


def encoder_factory(settings: "Settings") -> Callable[["Settings"], "TextEncoder"]:
    """The function a worker builds its encoder with: ``settings.scale.encoder_factory``
    ('module:function', for encoders outside the backend registry) or :func:`load_encoder`."""
    spec = settings.scale.encoder_factory
    if not spec:
        from rag_dx.embed import load_encoder

        return load_encoder
    module, _, name = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"scale.encoder_factory {spec!r} cannot be imported: {type(exc).__name__}") from None


class EncoderActor:
    """One Ray actor: loads the encoder once, then encodes the batches Ray Data hands it."""

    def __init__(self, settings_json: str, fingerprint: str | None, threads: int) -> None:
        from rag_dx.settings import Settings

        settings = Settings.model_validate_json(settings_json)
        if threads:
            settings = settings.model_copy(update={"threads": threads})
            import torch

            torch.set_num_threads(threads)
        self.encoder = encoder_factory(settings)(settings)
        self.batch_size = settings.batch_size
        if fingerprint is not None and self.encoder.fingerprint != fingerprint:
            raise RagDxError(f"a Ray worker loaded encoder {self.encoder.name!r} with fingerprint "
                             f"{self.encoder.fingerprint[:12]}, not the {fingerprint[:12]} the index records: "
                             "the model directory differs on that node")

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = self.encoder.encode([str(t) for t in batch["text"]], batch_size=self.batch_size)
        return {"row": np.asarray(batch["row"], dtype=np.int64), "vector": np.asarray(vectors, dtype=np.float32)}


def ensure_ray(settings: "Settings") -> Any:
    """The ray module, connected: the running instance, ``settings.scale.ray_address``, or a local
    instance started here (no dashboard, worker logs kept off the console; it stops at exit)."""
    ray = _ray()
    if not ray.is_initialized():
        address = settings.scale.ray_address
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(address="local", num_cpus=os.cpu_count() or 1, include_dashboard=False, log_to_driver=False)
    return ray


def pool_shape(ray: Any, requested: int) -> tuple[int, dict[str, float]]:
    """(number of actors, resources per actor): one GPU per actor on a GPU cluster, else the CPUs
    shared out; `requested` 0 = as many as the cluster holds (at most MAX_AUTO_ACTORS on CPUs)."""
    resources = ray.cluster_resources()
    gpus, cpus = int(resources.get("GPU", 0)), max(1, int(resources.get("CPU", 1)))
    if gpus:
        return (requested or gpus), {"num_gpus": 1}
    actors = requested or min(cpus, MAX_AUTO_ACTORS)
    # more actors than CPUs share them (fractional CPUs), else Ray would wait for CPUs that never come
    return actors, {"num_cpus": cpus // actors if actors <= cpus else cpus / actors}


def worker_error(exc: BaseException) -> str:
    """The line naming a worker's rag-dx error (e.g. an encoder mismatch), else the exception's type:
    Ray's own message carries a remote traceback, which is not repeated to the user."""
    for line in str(exc).splitlines():
        if line.startswith("rag_dx.errors."):
            return line.split(": ", 1)[-1]
    return type(exc).__name__


def embed_with_ray(texts: Sequence[str], settings: "Settings", *, fingerprint: str | None = None,
                   batch_size: int | None = None, num_actors: int | None = None, dim: int | None = None,
                   progress: bool = False) -> np.ndarray:
    """Unit float32 vectors of `texts`, in order, from a pool of encoder actors on Ray.

    Args:
        fingerprint: the encoder identity the caller will record; a worker whose encoder differs fails.
        batch_size: texts per Ray batch (default ``settings.scale.rows_per_batch``).
        num_actors: encoder actors (default ``settings.scale.actors``; 0 = by cluster size).
        dim: expected vector width, checked when given.
    """
    if not texts:
        return np.zeros((0, dim or 0), dtype=np.float32)
    ray = ensure_ray(settings)
    actors, per_actor = pool_shape(ray, settings.scale.actors if num_actors is None else num_actors)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = progress
    threads = max(1, int(per_actor["num_cpus"])) if "num_cpus" in per_actor else 0
    rows = [{"row": i, "text": t} for i, t in enumerate(texts)]
    ds = ray.data.from_items(rows, override_num_blocks=max(1, min(len(rows), actors * 4)))
    mapped = ds.map_batches(
        EncoderActor, batch_size=batch_size or settings.scale.rows_per_batch, batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=actors),
        fn_constructor_args=(settings.model_dump_json(), fingerprint, threads), **per_actor)
    log.info("embedding %d texts on Ray with %d actor(s), %s each", len(texts), actors, per_actor)
    out: np.ndarray | None = None
    seen = np.zeros(len(texts), dtype=bool)
    try:
        for batch in mapped.iter_batches(batch_size=None, batch_format="numpy"):
            row, vec = batch["row"], batch["vector"]
            if out is None:
                out = np.empty((len(texts), vec.shape[1]), dtype=np.float32)
            if np.any(seen[row]):
                raise RagDxError("Ray returned a text's vector twice; the embedding was not written")
            out[row], seen[row] = vec, True
    except ray.exceptions.RayError as exc:
        raise RagDxError(f"embedding on Ray failed: {worker_error(exc)}") from None
    if out is None or not seen.all():
        raise RagDxError(f"Ray returned vectors for {int(seen.sum())} of {len(texts)} texts")
    if dim is not None and out.shape[1] != dim:
        raise RagDxError(f"Ray workers returned {out.shape[1]}-dimensional vectors, expected {dim}")
    return out
