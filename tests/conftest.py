"""Shared fixtures: offline, deterministic, each real model loaded once per session."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Must precede the first torch import: with spinning OpenMP threads, a 2-core machine that is busy
# with anything else makes torch 10-20x slower (measured: 13 s vs 0.9 s for one scoring pass).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
#: Fixtures that load a real model (spaCy + presidio, the encoder, the generator): a test using one
#: is marked slow here, so the marker cannot be forgotten (CI runs the slow tests too).
MODEL_FIXTURES = frozenset({"deidentifier", "encoder", "generator"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def _deterministic() -> None:
    import random

    import torch

    torch.set_num_threads(2)
    torch.manual_seed(0)
    random.seed(0)
    np.random.seed(0)


@pytest.fixture(scope="session", autouse=True)
def _vocabulary_parsed_once():
    """`Vocabulary.load()` parses the whole ICD-10-CM tabular XML on every call (~7 s on these 2
    cores; ~1.7 s once its tables are in the on-disk cache, tests/test_vocab_cache.py), and every index build or update calls it (for the topic cards), as does every
    `build_assistant` that loads a vocabulary (tests/test_lifecycle.py: 678 s parsing it per call,
    154 s parsing it once). The default vocabulary depends only on files shipped in installed packages, so
    within one test session it is parsed once and the same instance is returned. Its only state is
    the per-instance memo of lookups (deterministic), so sharing it changes no result; a call with
    explicit files still parses them. Processes a test starts (the CLI in a subprocess, a builder
    killed mid-build) still parse it themselves."""
    from rag_dx.vocab import Vocabulary

    original = Vocabulary.__dict__["load"]
    parsed: dict[str, Vocabulary] = {}

    def load(cls, tabular_xml: Path | None = None, ccsr_json: Path | None = None, *, cache_dir: Path | None = None):
        if cls is not Vocabulary or tabular_xml is not None or ccsr_json is not None:
            return original.__func__(cls, tabular_xml, ccsr_json, cache_dir=cache_dir)
        if "default" not in parsed:
            parsed["default"] = original.__func__(cls, cache_dir=cache_dir)
        return parsed["default"]

    patch = pytest.MonkeyPatch()
    patch.setattr(Vocabulary, "load", classmethod(load))
    yield
    patch.undo()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"needs ../shared/data beside the checkout ({SHARED_DATA} is absent)")
    return SHARED_DATA


class FakeEncoder:
    """A hashed bag-of-words encoder: exact, instant, and enough to make retrieval tests precise.

    Texts that share words get high cosine; texts with no words in common get about zero.
    Uses the real MiniLM tokenizer so chunking behaves as in production.
    """

    name = "fake-bow"
    dim = 2048

    def __init__(self) -> None:
        from transformers import AutoTokenizer

        from rag_dx.models import bundled_encoder_dir

        self._tokenizer = AutoTokenizer.from_pretrained(bundled_encoder_dir(), local_files_only=True)
        self.fingerprint = hashlib.sha256(b"fake-bow-2048").hexdigest()

    @property
    def tokenizer(self):
        return self._tokenizer

    def encode(self, texts, *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z]{3,}", text.lower()):
                out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)


@pytest.fixture(scope="session")
def fake_encoder() -> FakeEncoder:
    return FakeEncoder()


@pytest.fixture(scope="session")
def encoder():
    from rag_dx.embed import SentenceEncoder

    return SentenceEncoder.load(None, device="cpu")


@pytest.fixture(scope="session")
def model_cache() -> Path:
    """The real cache dir, so the one-time generator conversion is shared with `make run`."""
    from rag_dx.settings import Settings

    return Settings().cache_dir


@pytest.fixture(scope="session")
def generator(model_cache):
    from rag_dx.generate import HFGenerator
    from rag_dx.models import prepare_generator

    prepare_generator(model_cache)
    return HFGenerator.load(None, cache_dir=model_cache, device="cpu")


@pytest.fixture(scope="session")
def deidentifier():
    from rag_dx.ingest.deid import Deidentifier

    return Deidentifier.load()
