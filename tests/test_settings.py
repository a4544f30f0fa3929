from pathlib import Path

import pytest

from rag_dx.errors import ConfigError
from rag_dx.settings import Settings, load_settings


def test_defaults_are_bundled_and_local():
    s = Settings()
    assert s.encoder is None and s.generator is None
    assert s.index_dir == Path("indexes")


def test_toml_then_env_precedence(tmp_path, monkeypatch):
    cfg = tmp_path / "cfg.toml"
    cfg.write_text('index_name = "from-toml"\nthreads = 1\n[retrieval]\nk_dense = 7\n')
    monkeypatch.setenv("RAG_DX_CONFIG", str(cfg))
    s = Settings()
    assert (s.index_name, s.threads, s.retrieval.k_dense) == ("from-toml", 1, 7)
    monkeypatch.setenv("RAG_DX_RETRIEVAL__K_DENSE", "9")
    monkeypatch.setenv("RAG_DX_INDEX_NAME", "from-env")
    s = Settings()
    assert (s.index_name, s.retrieval.k_dense) == ("from-env", 9)


def test_invalid_settings_name_every_problem(monkeypatch, tmp_path):
    monkeypatch.setenv("RAG_DX_RETRIEVAL__K_DENSE", "0")
    with pytest.raises(ConfigError, match="k_dense"):
        load_settings()
    monkeypatch.delenv("RAG_DX_RETRIEVAL__K_DENSE")
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(encoder=str(tmp_path / "nope"))
