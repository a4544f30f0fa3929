"""The ``onnx`` and ``onnx-int8`` encoder backends: the same network exported once, locally, to ONNX
(``torch.onnx.export``) and run with ONNX Runtime; ``onnx-int8`` with dynamically quantized int8
weights (per-channel).

sentence-transformers' own ``backend="onnx"`` needs ``optimum-onnx``, which pins transformers < 4.58;
rag-dx needs transformers 5, so the export here uses torch's exporter and ONNX Runtime's quantizer
directly (packages: ``onnxruntime`` and ``onnx``, the ``onnx`` extra). The exports are cached under
``<cache_dir>/encoders/<fingerprint[:16]>/`` (written to a temporary file and renamed, so a crash
never leaves a half-written model) and are never downloaded.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rag_dx.errors import ConfigError, ModelUnavailableError
from rag_dx.models import bundled_encoder_dir, dir_fingerprint
from rag_dx.staging import staged_file

if TYPE_CHECKING:
    from rag_dx.settings import Settings

log = logging.getLogger(__name__)

#: Part of every ONNX fingerprint: change it whenever the export or quantization recipe changes,
#: so indexes embedded with the old recipe are refused instead of silently mixed.
ONNX_OPSET = 17
ONNX_RECIPE = f"torch.onnx.export(dynamo=False,opset={ONNX_OPSET})->sentence_embedding;v1"
INT8_RECIPE = "onnxruntime.quantize_dynamic(QInt8,per_channel=True,reduce_range=False);v1"
ONNX_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
_EXPORT_LOCK = threading.Lock()


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError as exc:
        raise ModelUnavailableError(
            "encoder_backend 'onnx'/'onnx-int8' needs ONNX Runtime: install the 'onnx' extra "
            "(pip install onnxruntime onnx), or set encoder_backend = \"torch\""
        ) from exc
    return onnxruntime


def _input_names(tokenizer) -> list[str]:
    keys = tokenizer(["a"], return_tensors="np").keys()
    return [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in keys]


def _export_fp32(model_dir: Path, target: Path) -> None:
    """Trace the whole sentence-transformers stack (transformer + pooling + dense/normalize modules)."""
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True).eval()
    names = _input_names(model.tokenizer)

    class _Wrapped(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *tensors):
            return self.inner(dict(zip(names, tensors)))["sentence_embedding"]

    sample = model.tokenizer(["a short example", "a somewhat longer example sentence"], padding=True,
                             return_tensors="pt")
    with staged_file(target) as tmp:
        axes = {n: {0: "batch", 1: "sequence"} for n in names}
        axes["sentence_embedding"] = {0: "batch"}
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about shape-dependent Python branches
            torch.onnx.export(_Wrapped(model), tuple(sample[n] for n in names), str(tmp), input_names=names,
                              output_names=["sentence_embedding"], dynamic_axes=axes, opset_version=ONNX_OPSET,
                              dynamo=False, do_constant_folding=True)


def _quantize_int8(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # onnxruntime logs a "consider pre-processing" warning on the root logger
    try:
        with staged_file(target) as tmp:
            quantize_dynamic(str(source), str(tmp), weight_type=QuantType.QInt8, per_channel=True, reduce_range=False)
    finally:
        root.setLevel(level)


def export_onnx(model_dir: str | Path | None, cache_dir: Path, *, int8: bool = False, force: bool = False) -> Path:
    """Export (once) a sentence-transformers directory to ONNX under `cache_dir`; return the file.

    Args:
        model_dir: a local sentence-transformers directory; None = the bundled encoder.
        cache_dir: ``settings.cache_dir``; files go to ``encoders/<fingerprint[:16]>/``.
        int8: also quantize (dynamic, per-channel int8 weights) and return that file.
        force: export again even if the cached file exists.

    Example:
        >>> path = export_onnx(None, Path("~/.cache/rag-dx").expanduser(), int8=True)  # doctest: +SKIP
    """
    _onnxruntime()
    model_dir = Path(model_dir) if model_dir else bundled_encoder_dir()
    base = dir_fingerprint(model_dir)
    folder = Path(cache_dir) / "encoders" / base[:16]
    fp32, q8 = folder / ONNX_FILE, folder / INT8_FILE
    with _EXPORT_LOCK:
        if force or not fp32.is_file():
            log.info("exporting the encoder to ONNX (one time, a few seconds)")
            _export_fp32(model_dir, fp32)
        if int8 and (force or not q8.is_file()):
            _quantize_int8(fp32, q8)
        meta = folder / "rag_dx_export.json"
        if force or not meta.is_file():
            with staged_file(meta) as tmp:
                tmp.write_text(json.dumps({"source": str(model_dir), "source_fingerprint": base,
                                           "onnx_recipe": ONNX_RECIPE, "int8_recipe": INT8_RECIPE}, indent=2))
    return q8 if int8 else fp32


def _read_max_seq_length(model_dir: Path, tokenizer) -> int:
    config = model_dir / "sentence_bert_config.json"
    if config.is_file():
        value = json.loads(config.read_text()).get("max_seq_length")
        if value:
            return int(value)
    return int(min(getattr(tokenizer, "model_max_length", 512), 512))


@dataclass
class OnnxSentenceEncoder:
    """The same encoder run by ONNX Runtime (fp32 or int8); same interface as `SentenceEncoder`.

    Example:
        >>> enc = OnnxSentenceEncoder.load(None, cache_dir=Path("/tmp/c"), int8=True)  # doctest: +SKIP
        >>> enc.encode(["fever and cough"]).shape                                       # doctest: +SKIP
        (1, 384)
    """

    session: object
    hf_tokenizer: object
    name: str
    fingerprint: str
    dim: int
    max_seq_length: int
    input_names: list[str]
    path: Path = field(default_factory=Path)
    backend: str = "onnx"
    lowercase: bool = False

    @classmethod
    def load(cls, path: str | Path | None = None, *, cache_dir: Path, int8: bool = False, device: str = "cpu",
             threads: int = 0) -> "OnnxSentenceEncoder":
        ort = _onnxruntime()
        from transformers import AutoTokenizer

        backend = "onnx-int8" if int8 else "onnx"
        if device == "cuda":
            if int8:
                raise ConfigError("encoder_backend 'onnx-int8' is a CPU backend; on a GPU use 'torch' or 'onnx'")
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise ConfigError("encoder_backend 'onnx' on cuda needs onnxruntime-gpu (CUDAExecutionProvider "
                                  "is not available); use encoder_backend 'torch' or device 'cpu'")
            providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        else:
            providers = ["CPUExecutionProvider"]
        model_dir = Path(path) if path else bundled_encoder_dir()
        onnx_file = export_onnx(model_dir, cache_dir, int8=int8)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or (os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        # Spinning worker threads are what makes a busy 2-core machine 10x slower (like OMP's ACTIVE wait).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(str(onnx_file), options, providers=providers)
        tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        from rag_dx.embed import encoder_identity

        name, fingerprint = encoder_identity(path, backend)
        dim = int(session.get_outputs()[0].shape[-1])
        bert_config = model_dir / "sentence_bert_config.json"
        lowercase = bool(bert_config.is_file() and json.loads(bert_config.read_text()).get("do_lower_case"))
        wanted = {i.name for i in session.get_inputs()}
        names = [n for n in _input_names(tokenizer) if n in wanted]
        return cls(session=session, hf_tokenizer=tokenizer, name=name, fingerprint=fingerprint, dim=dim,
                   max_seq_length=_read_max_seq_length(model_dir, tokenizer), input_names=names, path=model_dir,
                   backend=backend, lowercase=lowercase)

    @property
    def tokenizer(self):
        return self.hf_tokenizer

    @property
    def max_tokens(self) -> int:
        return self.max_seq_length

    def encode(self, texts: list[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        texts = [t.lower() if self.lowercase else t for t in texts]
        # Longest first, as sentence-transformers does: batches of similar length waste less padding.
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        starts = range(0, len(texts), batch_size)
        if progress:
            from tqdm import tqdm

            starts = tqdm(starts, desc="embed", unit="batch")
        for start in starts:
            idx = order[start : start + batch_size]
            enc = self.hf_tokenizer([texts[i] for i in idx], padding=True, truncation="longest_first",
                                    max_length=self.max_seq_length, return_tensors="np")
            feeds = {n: np.asarray(enc[n], dtype=np.int64) for n in self.input_names}
            out[idx] = self.session.run(None, feeds)[0]
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.ascontiguousarray(out / np.where(norms == 0, 1.0, norms), dtype=np.float32)


def load_fp32(settings: "Settings") -> OnnxSentenceEncoder:
    return OnnxSentenceEncoder.load(settings.encoder, cache_dir=settings.cache_dir, int8=False,
                                    device=settings.resolved_device(), threads=settings.resolved_threads())


def load_int8(settings: "Settings") -> OnnxSentenceEncoder:
    return OnnxSentenceEncoder.load(settings.encoder, cache_dir=settings.cache_dir, int8=True,
                                    device=settings.resolved_device(), threads=settings.resolved_threads())
