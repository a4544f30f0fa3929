"""FAISS configuration by corpus size: exact below a threshold, calibrated IVF above, recorded in the manifest."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rag_dx.errors import ConfigError
from rag_dx.index.faiss_index import (
    DEFAULT_FACTORY,
    DenseIndex,
    FaissConfig,
    auto_nlist,
    choose_factory,
    recall_at_k,
)


def clustered(n: int, d: int = 32, centers: int = 40, seed: int = 0) -> np.ndarray:
    """Unit vectors around a few centres: structured like embeddings, unlike uniform noise."""
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centers, d)).astype(np.float32)
    x = c[rng.integers(0, centers, n)] + 0.35 * rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("kwargs", [dict(exact_below=-1), dict(nlist=-2), dict(nprobe=-1), dict(target_recall=0),
                                    dict(target_recall=1.5), dict(calibration_queries=5), dict(nprobe_margin=0.5)])
def test_config_rejects_bad_values(kwargs):
    with pytest.raises(ConfigError):
        FaissConfig(**kwargs)


def test_factory_follows_corpus_size():
    cfg = FaissConfig(exact_below=50_000)
    assert choose_factory(10, cfg) == DEFAULT_FACTORY
    assert choose_factory(49_999, cfg) == DEFAULT_FACTORY
    assert choose_factory(100_000, cfg) == "IDMap2,IVF256,Flat"
    assert choose_factory(1_000_000, cfg) == "IDMap2,IVF1024,Flat"
    assert choose_factory(1_000_000, FaissConfig(nlist=4096)) == "IDMap2,IVF4096,Flat"
    # too few vectors to train even two lists: exact, whatever the threshold
    assert choose_factory(50, FaissConfig(exact_below=0)) == DEFAULT_FACTORY


def test_auto_nlist_leaves_enough_training_points():
    for n in (100, 1_000, 5_000, 100_000):
        assert n >= 39 * auto_nlist(n)


def test_ivf_is_calibrated_and_survives_save_load(tmp_path):
    x = clustered(6000)
    ids = np.arange(6000, dtype=np.int64) * 7 + 3  # ids unlike positions, as docstore row ids are
    cfg = FaissConfig(exact_below=1000, target_recall=0.95, calibration_queries=200)
    dense = DenseIndex.build_auto(x, ids, cfg)
    assert dense.factory.startswith("IDMap2,IVF") and dense.nprobe >= 1
    cal = dense.calibration
    assert cal["source"] == "calibrated" and cal["recall_at_10"] >= 0.95
    assert dense.nprobe == cal["calibrated_nprobe"]  # default margin 1
    # held-out queries from the same distribution: recall vs exact close to the target
    q = clustered(100, seed=1)
    exact = DenseIndex.build(x, ids)
    _, truth = exact.search(q, 10)
    _, found = dense.search(q, 10)
    assert recall_at_k(found, truth, 10) >= 0.9
    np.testing.assert_allclose(dense.vectors_for([int(ids[5])])[0], x[5], atol=1e-6)  # reconstruct by id
    dense.save(tmp_path / "d.faiss")
    again = DenseIndex.load(tmp_path / "d.faiss", dense.factory)
    assert again.nprobe == dense.nprobe and again.ntotal == 6000
    np.testing.assert_allclose(again.vectors_for([int(ids[7])])[0], x[7], atol=1e-6)


def test_fixed_nprobe_from_settings_skips_calibration():
    dense = DenseIndex.build_auto(clustered(2000), np.arange(2000), FaissConfig(exact_below=100, nprobe=3))
    assert dense.nprobe == 3 and dense.calibration == {"nprobe": 3, "source": "settings"}


def test_batched_search_equals_single_queries():
    import faiss

    x = clustered(3000)
    dense = DenseIndex.build(x, np.arange(3000))
    q = clustered(16, seed=2)
    _, batched = dense.search(q, 5)
    assert faiss.cvar.distance_compute_blas_threshold <= 16  # the batch went through BLAS
    singles = np.vstack([dense.search(q[i : i + 1], 5)[1] for i in range(16)])
    assert recall_at_k(batched, singles, 5) == 1.0


def test_recall_at_k_ignores_missing_slots():
    assert recall_at_k(np.array([[1, 2, -1]]), np.array([[2, 1, -1]]), 3) == pytest.approx(2 / 3)


def test_build_index_records_ivf_in_manifest_and_serves(tmp_path, fake_encoder):
    from rag_dx.build import build_index, update_index
    from rag_dx.index.reader import open_index
    from rag_dx.retrieve import Retriever
    from rag_dx.schemas import Report
    from rag_dx.settings import Settings
    from tests.helpers import PassThroughDeid, fixture_reports

    rng = np.random.default_rng(0)
    words = [f"w{i}" + "x" * 3 for i in range(300)]
    filler = [Report(report_id=f"syn-{i}", text=" ".join(rng.choice(words, 12)), diagnosis="Other")
              for i in range(400)]
    settings = Settings(index_dir=tmp_path / "idx", faiss={"exact_below": 100, "target_recall": 0.9})
    path = build_index(settings, "big", fixture_reports() + filler, [], encoder=fake_encoder,
                       deidentifier=PassThroughDeid())
    m = json.loads((path / "manifest.json").read_text())
    assert m["faiss_factory"].startswith("IDMap2,IVF")
    assert m["faiss"]["factory"] == m["faiss_factory"] and m["faiss"]["nprobe"] >= 1
    assert m["faiss"]["calibration"]["source"] == "calibrated"
    loaded = open_index(settings.index_dir, "big", encoder_name=fake_encoder.name,
                        encoder_fingerprint=fake_encoder.fingerprint)
    assert loaded.dense.nprobe == m["faiss"]["nprobe"]
    hits = Retriever(index=loaded, encoder=fake_encoder, settings=settings.retrieval).search(
        "silvery scaly plaques elbows", k=3)
    assert hits[0].chunk.label == "Psoriasis"
    # an update reuses stored vectors (reconstruct through the IVF direct map) and stays IVF
    path2 = update_index(settings, "big", [], delete_ids=["syn-0"], encoder=fake_encoder)
    m2 = json.loads((path2 / "manifest.json").read_text())
    assert m2["embedded_chunks"] == 0 and m2["faiss_factory"].startswith("IDMap2,IVF")


def test_small_corpus_keeps_exact_search(tmp_path, fake_encoder):
    from rag_dx.build import build_index
    from rag_dx.settings import Settings
    from tests.helpers import PassThroughDeid, fixture_reports

    path = build_index(Settings(index_dir=tmp_path / "idx"), "small", fixture_reports(), [], encoder=fake_encoder,
                       deidentifier=PassThroughDeid())
    m = json.loads((path / "manifest.json").read_text())
    assert m["faiss_factory"] == DEFAULT_FACTORY and "nprobe" not in m["faiss"]
