"""What the sections share in one run: settings, each model loaded once, a scratch directory."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


@dataclass
class BenchContext:
    settings: Any
    quick: bool
    out: Path
    work: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="rag-dx-bench-")))
    skip_ui: bool = False
    _encoders: dict[str, Any] = field(default_factory=dict)
    _generator: Any = None
    #: real chunk embeddings (torch backend) that later sections can reuse (FAISS seeds)
    real_vectors: np.ndarray | None = None
    real_vectors_source: str = ""
    #: faiss' own distance_compute_blas_threshold, read before rag-dx lowers it
    faiss_blas_default: int = 20

    def encoder(self, backend: str = "torch"):
        """The configured encoder model on `backend`, loaded once per run."""
        if backend not in self._encoders:
            from rag_dx.embed import load_encoder

            self._encoders[backend] = load_encoder(self.settings.model_copy(update={"encoder_backend": backend}))
        return self._encoders[backend]

    def generator(self):
        if self._generator is None:
            from rag_dx.generate import load_generator
            from rag_dx.models import prepare_generator

            if self.settings.generator is None:
                prepare_generator(self.settings.cache_dir)
            self._generator = load_generator(self.settings)
        return self._generator

    def onnx_available(self) -> bool:
        try:
            import onnx  # noqa: F401
            import onnxruntime  # noqa: F401
        except ImportError:
            return False
        return True
