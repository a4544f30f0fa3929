"""The ``torch`` encoder backend: sentence-transformers on PyTorch (the default).

Its fingerprint is the model directory's own (:func:`rag_dx.models.dir_fingerprint`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rag_dx.models import BUNDLED_ENCODER_NAME, bundled_encoder_dir, dir_fingerprint

if TYPE_CHECKING:
    from rag_dx.settings import Settings


@dataclass
class SentenceEncoder:
    """A sentence-transformers model with normalized float32 output (so inner product = cosine)."""

    model: object
    name: str
    fingerprint: str
    dim: int
    path: Path = field(default_factory=Path)
    backend: str = "torch"

    @classmethod
    def load(cls, path: str | Path | None = None, *, device: str = "cpu") -> "SentenceEncoder":
        from sentence_transformers import SentenceTransformer

        model_dir = Path(path) if path else bundled_encoder_dir()
        name = f"bundled:{BUNDLED_ENCODER_NAME}" if path is None else model_dir.name
        model = SentenceTransformer(str(model_dir), device=device, local_files_only=True)
        dim = int(model.get_embedding_dimension())
        return cls(model=model, name=name, fingerprint=dir_fingerprint(model_dir), dim=dim, path=model_dir)

    @property
    def tokenizer(self):
        return self.model.tokenizer

    @property
    def max_tokens(self) -> int:
        return int(self.model.max_seq_length)

    def encode(self, texts: list[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def load(settings: "Settings") -> SentenceEncoder:
    return SentenceEncoder.load(settings.encoder, device=settings.resolved_device())
