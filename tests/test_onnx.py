"""The encoder's ONNX backends: exported locally, cached, close to torch, and fingerprinted apart from it."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="the 'onnx' extra (onnxruntime, onnx) is not installed")
pytest.importorskip("onnx", reason="the 'onnx' extra (onnxruntime, onnx) is not installed")

pytestmark = pytest.mark.slow

TEXTS = [
    "  Fever, productive cough with green sputum and crackles in the right lower lobe.  ",
    "Crushing chest pain radiating to the left arm with sweating and nausea. " * 40,  # > 256 tokens: truncated
    "a",
    "Burning on urination, urinary frequency and urgency, cloudy urine.",
]


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="module")
def onnx_encoders(onnx_cache):
    from rag_dx.embed import OnnxSentenceEncoder

    return (OnnxSentenceEncoder.load(None, cache_dir=onnx_cache, threads=2),
            OnnxSentenceEncoder.load(None, cache_dir=onnx_cache, int8=True, threads=2))


def test_onnx_matches_torch(encoder, onnx_encoders):
    fp32, int8 = onnx_encoders
    ref = encoder.encode(TEXTS)
    v32, v8 = fp32.encode(TEXTS), int8.encode(TEXTS, batch_size=3)
    assert v32.shape == v8.shape == ref.shape and v32.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v8, axis=1), 1.0, atol=1e-5)
    assert (v32 * ref).sum(axis=1).min() > 0.9999
    assert (v8 * ref).sum(axis=1).min() > 0.97  # measured 0.985-0.995 on MTSamples chunks
    assert fp32.encode([]).shape == (0, fp32.dim)


def test_backends_have_distinct_fingerprints_and_names(encoder, onnx_encoders):
    from rag_dx.embed import encoder_identity

    fp32, int8 = onnx_encoders
    assert len({encoder.fingerprint, fp32.fingerprint, int8.fingerprint}) == 3
    assert encoder_identity(None, "torch") == (encoder.name, encoder.fingerprint)
    assert encoder_identity(None, "onnx-int8") == (int8.name, int8.fingerprint)
    assert int8.name.endswith("[onnx-int8]") and fp32.backend == "onnx"
    assert int8.tokenizer is not None and int8.max_tokens == encoder.max_tokens


def test_export_is_cached_not_redone(onnx_cache, onnx_encoders):
    from rag_dx.embed import INT8_FILE, ONNX_FILE, export_onnx

    files = {p.name: p.stat().st_mtime_ns for p in onnx_cache.rglob("*.onnx")}
    assert set(files) == {ONNX_FILE, INT8_FILE}
    export_onnx(None, onnx_cache, int8=True)
    assert {p.name: p.stat().st_mtime_ns for p in onnx_cache.rglob("*.onnx")} == files
    assert not list(onnx_cache.rglob("*.tmp"))


def test_settings_choose_the_backend(onnx_cache, onnx_encoders):
    from rag_dx.embed import OnnxSentenceEncoder, load_encoder
    from rag_dx.settings import Settings

    enc = load_encoder(Settings(encoder_backend="onnx-int8", cache_dir=onnx_cache, device="cpu"))
    assert isinstance(enc, OnnxSentenceEncoder) and enc.fingerprint == onnx_encoders[1].fingerprint


def test_index_built_with_int8_is_refused_by_torch(tmp_path, encoder, onnx_encoders):
    from rag_dx.errors import IndexMismatchError
    from rag_dx.build import build_index
    from rag_dx.index.reader import open_index
    from rag_dx.settings import Settings
    from tests.helpers import PassThroughDeid, fixture_reports

    int8 = onnx_encoders[1]
    settings = Settings(index_dir=tmp_path / "idx")
    build_index(settings, "q8", fixture_reports(), [], encoder=int8, deidentifier=PassThroughDeid())
    open_index(settings.index_dir, "q8", encoder_name=int8.name, encoder_fingerprint=int8.fingerprint)
    with pytest.raises(IndexMismatchError, match="rebuild"):
        open_index(settings.index_dir, "q8", encoder_name=encoder.name, encoder_fingerprint=encoder.fingerprint)


def test_gpu_requests_fail_cleanly(onnx_cache):
    import onnxruntime

    from rag_dx.embed import OnnxSentenceEncoder
    from rag_dx.errors import ConfigError

    with pytest.raises(ConfigError, match="CPU backend"):
        OnnxSentenceEncoder.load(None, cache_dir=onnx_cache, int8=True, device="cuda")
    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        with pytest.raises(ConfigError, match="onnxruntime-gpu"):
            OnnxSentenceEncoder.load(None, cache_dir=onnx_cache, device="cuda")
