"""The faiss GPU path: `DenseIndex.to_gpu` / `on_device` and `settings.faiss.device`.

Without faiss-gpu and CUDA (CI, these machines) the GPU tests skip and the CPU behaviour is
checked; with them (scripts/gpu_check.sh) the GPU copy must answer as the CPU index does."""

from __future__ import annotations

import numpy as np
import pytest

from rag_dx.errors import ConfigError
from rag_dx.index.faiss_index import DenseIndex, gpu_available
from rag_dx.settings import load_settings

needs_gpu = pytest.mark.skipif(not gpu_available(), reason="needs faiss-gpu and a CUDA device (the 'gpu' extra)")


def _vectors(n: int = 4000, dim: int = 64, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_device_setting_is_validated():
    assert load_settings().faiss.device == "auto"
    assert load_settings(faiss={"device": "cpu"}).faiss.device == "cpu"
    with pytest.raises(ConfigError, match="faiss.device"):
        load_settings(faiss={"device": "tpu"})


@pytest.mark.skipif(gpu_available(), reason="checks the behaviour without a GPU")
def test_without_a_gpu_auto_stays_on_cpu_and_cuda_is_refused():
    v = _vectors(200)
    index = DenseIndex.build(v, np.arange(200))
    assert index.on_device("auto") is index and index.device == "cpu"
    assert index.on_device("cpu") is index
    with pytest.raises(ConfigError, match="gpu"):
        index.on_device("cuda")


def test_live_index_takes_the_device(tmp_path, fake_encoder):
    from rag_dx.index.reader import LiveIndex
    from tests.helpers import build_fixture_assistant

    assistant = build_fixture_assistant(tmp_path, fake_encoder)
    live = LiveIndex(tmp_path, "fx", encoder_name=fake_encoder.name, encoder_fingerprint=fake_encoder.fingerprint,
                     dense_device="cpu")
    assert live.snapshot().dense.device == "cpu" and live.dense_device == "cpu"
    expected = "cuda" if gpu_available() else "cpu"
    assert assistant.live.snapshot().dense.device == expected  # build_assistant's default: "auto"


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("factory", ["IDMap2,Flat", "IDMap2,IVF64,Flat"])
def test_gpu_search_answers_as_the_cpu_index(factory):
    v = _vectors()
    ids = np.arange(1000, 1000 + len(v))
    cpu = DenseIndex.build(v, ids, factory)
    gpu = cpu.to_gpu()
    assert gpu.device == "cuda" and gpu.index is cpu.index and gpu.nprobe == cpu.nprobe
    q = _vectors(50, seed=1)
    s_cpu, i_cpu = cpu.search(q, 10)
    s_gpu, i_gpu = gpu.search(q, 10)
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(i_cpu, i_gpu)])
    if "IVF" in factory:  # same lists probed (nprobe carried over); float order may swap a tie at the edge
        assert overlap >= 0.98
    else:  # exact search: the same neighbours and scores
        assert overlap == 1.0
        np.testing.assert_allclose(s_cpu, s_gpu, atol=1e-4)
    np.testing.assert_allclose(gpu.vectors_for([1000, 1001]), v[:2], atol=1e-6)  # reconstruct: the CPU original


@pytest.mark.gpu
@needs_gpu
def test_retrieval_on_gpu_equals_cpu(tmp_path, fake_encoder):
    from rag_dx.index.reader import LiveIndex
    from rag_dx.retrieve import Retriever
    from tests.helpers import build_fixture_assistant

    assistant = build_fixture_assistant(tmp_path, fake_encoder)
    hits = {}
    for device in ("cpu", "cuda"):
        live = LiveIndex(tmp_path, "fx", encoder_name=fake_encoder.name, encoder_fingerprint=fake_encoder.fingerprint,
                         dense_device=device)
        r = Retriever(index=live.snapshot(), encoder=fake_encoder, settings=assistant.settings.retrieval)
        hits[device] = [h.id for h in r.search("throbbing headache with nausea and photophobia", k=8)]
    assert hits["cpu"] == hits["cuda"]
