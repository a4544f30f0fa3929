"""The encoder: one sentence-transformers model, loaded once, identified by a content fingerprint.

The fingerprint (not the path) is what an index records, so an index built with one encoder is
refused by another even if someone swaps the files under the same directory name.

Backends run the same model (setting ``encoder_backend``); each is one entry of :data:`BACKENDS`
and one module:

* ``torch`` (default, :mod:`rag_dx.embed.backend_torch`): sentence-transformers on PyTorch.
  Fingerprint = the model directory's.
* ``onnx`` (:mod:`rag_dx.embed.backend_onnx`): the same network exported once, locally, to ONNX
  and run with ONNX Runtime. Cosine to torch >= 0.9999 on MTSamples chunks.
* ``onnx-int8``: that export with dynamically quantized int8 weights (per-channel), about 1.7-3x
  faster on a CPU; cosine to torch about 0.99 (min 0.985 on MTSamples chunks).

Each non-torch backend has its own fingerprint (the directory's fingerprint + backend + its
recipe), so an index embedded with int8 vectors is refused by a torch encoder and vice versa:
switching backends means `rag-dx index rebuild`. Adding a backend: a module with a loader, and
one entry in :data:`BACKENDS`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from rag_dx.embed import backend_onnx, backend_torch
from rag_dx.embed.backend_onnx import (  # noqa: F401  (public names)
    INT8_FILE,
    INT8_RECIPE,
    ONNX_FILE,
    ONNX_RECIPE,
    OnnxSentenceEncoder,
    export_onnx,
)
from rag_dx.embed.backend_torch import SentenceEncoder  # noqa: F401  (public name)
from rag_dx.errors import ConfigError
from rag_dx.models import BUNDLED_ENCODER_NAME, bundled_encoder_dir, dir_fingerprint

if TYPE_CHECKING:
    from rag_dx.settings import Settings


class TextEncoder(Protocol):
    """What the index and retriever need from an encoder; tests use a tiny fake with this shape."""

    name: str
    fingerprint: str
    dim: int

    def encode(self, texts: list[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """Unit-normalized float32 embeddings, shape (len(texts), dim)."""
        ...

    @property
    def tokenizer(self): ...


@dataclass(frozen=True)
class Backend:
    """One way to run the encoder.

    Args:
        name: the ``encoder_backend`` setting's value.
        load: builds the encoder from settings (model dir, device, threads, cache dir).
        recipe: what makes its vectors differ from the model directory's own (export, quantization);
            None = the model directory's fingerprint as is.
    """

    name: str
    load: Callable[["Settings"], TextEncoder]
    recipe: str | None = None


BACKENDS: dict[str, Backend] = {
    b.name: b for b in (
        Backend("torch", backend_torch.load),
        Backend("onnx", backend_onnx.load_fp32, recipe=ONNX_RECIPE),
        Backend("onnx-int8", backend_onnx.load_int8, recipe=ONNX_RECIPE + "|" + INT8_RECIPE),
    )
}


def get_backend(name: str) -> Backend:
    try:
        return BACKENDS[name]
    except KeyError:
        raise ConfigError(f"unknown encoder backend {name!r}; expected one of {', '.join(BACKENDS)}") from None


def backend_fingerprint(base_fingerprint: str, backend: str) -> str:
    """The fingerprint an index records for `backend`: the model dir's own one for torch."""
    recipe = get_backend(backend).recipe
    if recipe is None:
        return base_fingerprint
    return hashlib.sha256(f"{base_fingerprint}|{backend}|{recipe}".encode()).hexdigest()


def encoder_identity(path: str | Path | None, backend: str = "torch") -> tuple[str, str]:
    """(name, fingerprint) of an encoder without loading it: what `rag-dx index verify` compares."""
    model_dir = Path(path) if path else bundled_encoder_dir()
    base = f"bundled:{BUNDLED_ENCODER_NAME}" if path is None else model_dir.name
    name = base if get_backend(backend).recipe is None else f"{base} [{backend}]"
    return name, backend_fingerprint(dir_fingerprint(model_dir), backend)


def load_encoder(settings: "Settings") -> TextEncoder:
    """The configured encoder on the configured backend (see the module docstring)."""
    return get_backend(getattr(settings, "encoder_backend", "torch")).load(settings)
