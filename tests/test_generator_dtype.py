"""Generator weights' dtype: float32 on CPU unless asked, bf16 on CUDA by default (GPU part skips without one)."""

from __future__ import annotations

import pytest

from rag_dx.generate import resolve_dtype


def test_auto_is_float32_on_cpu_and_explicit_values_win() -> None:
    assert resolve_dtype("auto", "cpu") == "float32"
    assert resolve_dtype("bfloat16", "cpu") == "bfloat16"
    assert resolve_dtype("float16", "cuda") == "float16"
    with pytest.raises(ValueError, match="int8"):
        resolve_dtype("int8", "cpu")


@pytest.mark.gpu
def test_auto_is_bf16_on_a_cuda_gpu_that_supports_it() -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    assert resolve_dtype("auto", "cuda") == ("bfloat16" if torch.cuda.is_bf16_supported() else "float32")


@pytest.mark.slow
def test_bf16_scores_stay_close_to_float32_on_cpu(generator, model_cache) -> None:
    """The bundled model in bf16 ranks like float32 (scores are computed in float32 either way)."""
    import numpy as np

    from rag_dx.generate import HFGenerator

    bf16 = HFGenerator.load(None, cache_dir=model_cache, dtype="bfloat16")
    assert next(bf16.model.parameters()).dtype.__str__() == "torch.bfloat16"
    prompt = generator.build_prompt("Fever, cough and chest pain for three days.", [])
    names = ["Pneumonia", "Migraine", "Psoriasis"]
    a, b = generator.score(prompt, names), bf16.score(prompt, names)
    assert np.argmax(a) == np.argmax(b)
    assert np.max(np.abs(a - b)) < 0.5
