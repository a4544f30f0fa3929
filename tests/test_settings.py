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



def test_an_invalid_setting_names_its_toml_line_or_environment_variable(monkeypatch, tmp_path):
    cfg = tmp_path / "rag-dx.toml"
    cfg.write_text('index_name = "x"\n\n[diagnosis]\n# the floor\noutside_support_share = 1.5\n'
                   '[retrieval]\nk_dense = "many"\n', encoding="utf-8")
    monkeypatch.setenv("RAG_DX_CONFIG", str(cfg))
    monkeypatch.setenv("RAG_DX_DIAGNOSIS__COMMONNESS_PRIOR", "-1")
    with pytest.raises(ConfigError) as err:
        load_settings()
    msg = str(err.value)
    assert f"diagnosis.outside_support_share: Input should be less than 1 ({cfg}:5)" in msg
    assert "retrieval.k_dense: Input should be a valid integer" in msg and f"({cfg}:7)" in msg
    assert "diagnosis.commonness_prior: Input should be greater than or equal to 0 " \
           "(environment variable RAG_DX_DIAGNOSIS__COMMONNESS_PRIOR)" in msg

def test_ui_state_dir_and_users_come_from_settings(monkeypatch, tmp_path):
    from rag_dx.settings import Settings

    monkeypatch.setenv("RAG_DX_UI_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("RAG_DX_UI_USERS", "ana:scrypt$x")
    s = Settings()
    assert s.ui_state_dir == tmp_path / "state" and s.ui_users == "ana:scrypt$x"
    assert "ui_users" not in s.model_dump() and "scrypt" not in repr(s)  # never written to a manifest or log


def test_encoder_backend_must_be_registered():
    from rag_dx.embed import BACKENDS

    assert set(BACKENDS) == {"torch", "onnx", "onnx-int8"}
    with pytest.raises(ConfigError, match="unknown encoder backend"):
        load_settings(encoder_backend="tflite")
