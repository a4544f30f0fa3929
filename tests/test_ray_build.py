"""Scale-out builds on a local Ray instance (the `scale` extra): the vectors and the index a Ray
build writes equal a local build's."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("ray.data", reason="the ray engine needs the 'scale' extra (pip install 'rag-dx[scale]')")

pytestmark = pytest.mark.slow  # each test starts work on a local Ray instance (10-30 s on 2 cores)

from rag_dx.settings import Settings  # noqa: E402
from tests.conftest import FakeEncoder  # noqa: E402

#: The worker-side encoder of these tests (settings.scale.encoder_factory imports it on every worker).
FACTORY = "tests.test_ray_build:fake_encoder_for"


def fake_encoder_for(settings: Settings) -> FakeEncoder:
    """What each Ray worker loads: the conftest's hashed bag-of-words encoder."""
    return FakeEncoder()


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray instance for the module (started by the engine itself), stopped afterwards."""
    import ray

    yield
    if ray.is_initialized():
        ray.shutdown()


def _reports(n: int = 50):
    from rag_dx.demo import demo_reports_path
    from rag_dx.ingest.loaders import load_reports

    return load_reports(demo_reports_path()).reports[:n]


def _all_vectors(version_dir) -> np.ndarray:
    from rag_dx.index.faiss_index import DenseIndex

    dense = DenseIndex.load(version_dir / "dense.faiss")
    return dense.vectors_for(list(range(dense.ntotal)))


def test_embed_with_ray_keeps_order_across_uneven_batches(local_ray):
    from rag_dx.embed.ray_engine import embed_with_ray

    texts = [("fever cough " * (i % 13)) + f"marker{i} rash" for i in range(103)]  # 103: no batch size divides it
    settings = Settings(scale={"engine": "ray", "encoder_factory": FACTORY, "rows_per_batch": 7})
    local = FakeEncoder().encode(texts)
    got = embed_with_ray(texts, settings, fingerprint=FakeEncoder().fingerprint, num_actors=2, dim=FakeEncoder.dim)
    assert got.shape == local.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, local, atol=1e-6)


def test_ray_build_writes_the_same_index_as_a_local_build(tmp_path, fake_encoder, local_ray):
    from rag_dx.build import build_index
    from rag_dx.index.store import IndexStore
    from tests.helpers import PassThroughDeid

    reports = _reports(50)
    local_settings = Settings(index_dir=tmp_path / "local")
    ray_settings = Settings(index_dir=tmp_path / "ray",
                            scale={"engine": "ray", "encoder_factory": FACTORY, "actors": 2, "rows_per_batch": 16})
    local = build_index(local_settings, "idx", reports, [], encoder=fake_encoder, deidentifier=PassThroughDeid())
    on_ray = build_index(ray_settings, "idx", reports, [], encoder=fake_encoder, deidentifier=PassThroughDeid())

    a, b = _all_vectors(local), _all_vectors(on_ray)
    assert a.shape == b.shape and a.shape[0] >= 50
    np.testing.assert_allclose(b, a, atol=1e-6)
    ma = IndexStore(tmp_path / "local", "idx").read_manifest(local)
    mb = IndexStore(tmp_path / "ray", "idx").read_manifest(on_ray)
    assert (ma.pop("embedding_engine"), mb.pop("embedding_engine")) == ("local", "ray")
    for m in (ma, mb):
        m.pop("created_at")
    assert json.dumps(ma, sort_keys=True) == json.dumps(mb, sort_keys=True)  # same files, checksums, counts


def test_a_worker_with_another_encoder_is_refused(local_ray):
    from rag_dx.embed.ray_engine import embed_with_ray
    from rag_dx.errors import RagDxError

    settings = Settings(scale={"engine": "ray", "encoder_factory": FACTORY})
    with pytest.raises(RagDxError, match="fingerprint"):
        embed_with_ray(["fever and cough"], settings, fingerprint="0" * 64, num_actors=1)


def test_ray_vectors_equal_the_bundled_encoders(encoder, local_ray):
    """The real MiniLM on Ray actors (other batch composition, one thread each) vs this process."""
    from rag_dx.embed.ray_engine import embed_with_ray

    texts = [r.text for r in _reports(50)]
    settings = Settings(device="cpu", scale={"engine": "ray", "actors": 2, "rows_per_batch": 16})
    local = encoder.encode(texts, batch_size=settings.batch_size)
    got = embed_with_ray(texts, settings, fingerprint=encoder.fingerprint, dim=encoder.dim)
    np.testing.assert_allclose(got, local, atol=1e-6)  # measured: max difference 1.3e-7
